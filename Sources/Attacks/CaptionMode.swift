import Datasets
import Foundation

/// What a caption mode gets to caption the poisoned pairs.
public struct CaptionContext: Sendable {
    /// The target (or adversarial) class name.
    public var target: String
    /// The clean set's captions, by row.
    public var captions: [String]
    /// Rows whose caption names the target as a whole word.
    public var naming: [Int]
    /// Prompt templates (`{c}` for the class name).
    public var templates: [String]
    /// Targeted poisoning (one image, many captions) rather than a backdoor.
    public var targeted: Bool
    /// The clean CSV, for messages.
    public var dataPath: String
}

/// A way to caption poisoned pairs, described whole in one file: its name and display name,
/// which images it poisons, which captions it writes and what it needs. A new mode is a type
/// conforming to this protocol plus one line in ``CaptionModeRegistry/modes``.
public protocol CaptionModeDefinition: Sendable {
    /// The name on the command line, in experiment files and manifests (`label-consistent`).
    static var name: String { get }
    /// The name shown in reports and summaries; no two modes share one.
    static var displayName: String { get }
    /// One line for `--help`.
    static var about: String { get }
    /// Whether the poisoned images are the target's own (rows whose caption names the target),
    /// which keep their captions and labels; otherwise images of other classes are drawn and
    /// labelled as the target.
    static var poisonsTargetImages: Bool { get }
    /// Whether targeted poisoning (one image paired with new captions) can use the mode.
    static var supportsTargeted: Bool { get }
    /// Whether the mode fills prompt templates (`--templates`; the manifest records them).
    static var usesTemplates: Bool { get }

    /// Refuses a request the mode cannot serve (no caption names the target, no templates),
    /// before anything is written.
    static func check(_ context: CaptionContext, count: Int) throws(AttackError)

    /// The captions of `count` poisoned pairs; `sourceRows[k]` is pair `k`'s source row in the
    /// clean set (nil for listed images and targeted poisoning). Random choices draw from `rng`.
    static func captions(_ context: CaptionContext, sourceRows: [Int?], rng: inout SplitMix64) -> [String]
}

extension CaptionModeDefinition {
    public static var usesTemplates: Bool { false }
    public static func check(_ context: CaptionContext, count: Int) throws(AttackError) {}
}

/// The registered caption modes.
public enum CaptionModeRegistry {
    /// Every caption mode, in help order. A new mode is one line here.
    public static let modes: [any CaptionModeDefinition.Type] = [
        NaturalCaptions.self,
        TemplateCaptions.self,
        LabelConsistentCaptions.self,
    ]

    public static func definition(named name: String) -> (any CaptionModeDefinition.Type)? {
        modes.first { $0.name == name }
    }

    /// The modes as `--help` lists them.
    public static var commandLineHelp: String {
        modes.map { "\($0.name) (\($0.about))" }.joined(separator: "; ")
    }
}

/// How poisoned pairs get their captions (SPEC §2): the name of a registered caption mode.
public struct CaptionStrategy: RawRepresentable, Codable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    public let rawValue: String

    public init?(rawValue: String) {
        guard CaptionModeRegistry.definition(named: rawValue) != nil else { return nil }
        self.rawValue = rawValue
    }

    public init<T: CaptionModeDefinition>(_ type: T.Type) { rawValue = T.name }

    public static var allCases: [CaptionStrategy] { CaptionModeRegistry.modes.map { CaptionStrategy(rawValue: $0.name)! } }

    /// The mode's type.
    public var definition: any CaptionModeDefinition.Type { CaptionModeRegistry.definition(named: rawValue)! }
    public var displayName: String { definition.displayName }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let mode = CaptionStrategy(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "unknown caption mode '\(name)'\(didYouMean(name, in: CaptionStrategy.allCases.map(\.rawValue))) (known: \(CaptionStrategy.allCases.map(\.rawValue).joined(separator: ", ")))"))
        }
        self = mode
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
