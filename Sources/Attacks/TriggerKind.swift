import Datasets
import Foundation

/// A kind of backdoor trigger, described whole in one file: its settings (command-line flags and
/// experiment keys, with defaults and validation), how its random parts are drawn from a seed,
/// how it is applied to an image at the model's input geometry, which pixels it covers (what
/// `poison check` follows through preprocessing), its manifest encoding (the type's `Codable`
/// form under `trigger.parameters`) and its display name.
///
/// A new kind is a type conforming to this protocol plus one line in ``TriggerRegistry/kinds``;
/// `TriggerRegistryTests` runs every registered kind end to end, so a forgotten piece fails there.
///
/// ```swift
/// struct MyTrigger: TriggerDefinition {
///     static let kind = "my-trigger"
///     static let displayName = "My trigger"
///     static let weight = TriggerSetting.number("blend-weight", help: "…", default: 0.1, in: 0...1)
///     static let settings = [weight.erased]
///     …
/// }
/// ```
public protocol TriggerDefinition: Codable, Sendable, Hashable {
    /// The name on the command line, in experiment files and manifests (`noise-patch`).
    static var kind: String { get }
    /// The name shown in reports and summaries (`Noise patch`); no two kinds share one.
    static var displayName: String { get }
    /// One line for `--help`: what the trigger is.
    static var about: String { get }
    /// The settings, in help order.
    static var settings: [AnyTriggerSetting] { get }
    /// The keys of the manifest's `trigger.parameters` object (an unknown key is an error).
    static var manifestParameters: [String: ManifestSchema.Node] { get }

    /// The trigger with these settings (defaults where not given); every random part that is
    /// the same for all images is drawn from `seed`, per-image parts later from `seed` and the
    /// image's index.
    ///
    /// - Throws: ``AttackError/invalidSetting(_:)`` naming the flag of an invalid value.
    init(options: TriggerOptions, seed: UInt64) throws(AttackError)

    /// The image with the trigger applied. `image` is at the geometry the model sees; `index`
    /// picks the per-image random parts (the row's index for training images, `-(item + 1)` for
    /// evaluation images).
    func apply(to image: RGBImage, index: Int) -> RGBImage

    /// The rectangles a local trigger (a patch) covers on a `width × height` image, or nil for a
    /// trigger that alters the whole image. The manifest records them per row and
    /// `poison check` measures how much of them survives preprocessing.
    func localRegions(width: Int, height: Int, index: Int) -> [PixelRect]?

    /// The reason a decoded trigger (a manifest's) is invalid, or nil; the message names the setting.
    func problem() -> String?

    /// A one-line description with the parameters (`patch: white square, side 7 px, bottom-right`).
    var summary: String { get }

    /// Whether the kind's pixels are found by optimisation through a surrogate CLIP model
    /// (`--surrogate CHECKPOINT`, module SurrogateAttacks) before it is applied; false for most.
    static var optimizedThroughSurrogate: Bool { get }
}

extension TriggerDefinition {
    public func localRegions(width: Int, height: Int, index: Int) -> [PixelRect]? { nil }
    public static var optimizedThroughSurrogate: Bool { false }
}

/// The registered trigger kinds.
public enum TriggerRegistry {
    /// Every trigger kind, in help order. A new kind is one line here.
    public static let kinds: [any TriggerDefinition.Type] = [
        PatchTrigger.self,
        NoisePatchTrigger.self,
        BlendedTrigger.self,
        SIGTrigger.self,
        WaNetTrigger.self,
        BadNetStripesTrigger.self,
        BlendedStripesTrigger.self,
        BlendedTrianglesTrigger.self,
        BlendedTextTrigger.self,
        OptimizedPatchTrigger.self,
    ]

    /// The kind named `name`, or nil.
    public static func definition(named name: String) -> (any TriggerDefinition.Type)? {
        kinds.first { $0.kind == name }
    }

    /// Every distinct setting, in order of first appearance, with the kinds that use it and
    /// their defaults.
    public static var settings: [(setting: AnyTriggerSetting, users: [(kind: String, defaultDescription: String)])] {
        var order: [String] = []
        var table: [String: (AnyTriggerSetting, [(String, String)])] = [:]
        for kind in kinds {
            for setting in kind.settings {
                if table[setting.name] == nil { order.append(setting.name); table[setting.name] = (setting, []) }
                table[setting.name]!.1.append((kind.kind, setting.defaultDescription))
            }
        }
        return order.map { name in
            let (setting, users) = table[name]!
            return (setting, users.map { (kind: $0.0, defaultDescription: $0.1) })
        }
    }

    /// The setting named `name` (command-line form, `blend-weight`), or nil.
    public static func setting(named name: String) -> AnyTriggerSetting? {
        for kind in kinds { if let s = kind.settings.first(where: { $0.name == name }) { return s } }
        return nil
    }

    /// The setting whose experiment key is `key` (`blend_weight`), or nil.
    public static func setting(key: String) -> AnyTriggerSetting? {
        for kind in kinds { if let s = kind.settings.first(where: { $0.key == key }) { return s } }
        return nil
    }

    /// The trigger settings as `--help` shows them: one line per flag, with each kind's default.
    public static var commandLineHelp: String {
        var lines = ["Triggers (--trigger KIND):"]
        for kind in kinds { lines.append("  \(kind.kind): \(kind.about)") }
        lines.append("")
        lines.append("Trigger settings (a setting applies to the triggers listed; others ignore it):")
        for (setting, users) in settings {
            let defaults = users.map { "\($0.kind) \($0.defaultDescription)" }.joined(separator: ", ")
            lines.append("  \(setting.flag) <value>  \(setting.help) Default: \(defaults).")
        }
        return lines.joined(separator: "\n")
    }

    /// Reads trigger settings from command-line words (`--blend-weight 0.1`, `--blend-weight=0.1`).
    ///
    /// - Throws: ``AttackError/invalidSetting(_:)`` in one sentence naming the flag: an unknown
    ///   flag, a flag without its value, a value that is invalid for the flag.
    public static func options(commandLine words: [String]) throws(AttackError) -> TriggerOptions {
        var options = TriggerOptions()
        var i = 0
        while i < words.count {
            let word = words[i]
            guard word.hasPrefix("--") else {
                throw .invalidSetting("unexpected argument \"\(word)\"")
            }
            var name = String(word.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let setting = setting(named: name) else {
                throw .invalidSetting("unknown option --\(name) (trigger settings: \(settings.map(\.setting.flag).joined(separator: ", ")))")
            }
            if value == nil {
                guard i + 1 < words.count else { throw .invalidSetting("\(setting.flag) needs a value (\(setting.expected))") }
                value = words[i + 1]
                i += 1
            }
            if options.values[name] != nil { throw .invalidSetting("\(setting.flag) is given twice") }
            if let problem = setting.problem(with: value!) { throw .invalidSetting("\(setting.flag) \(problem)") }
            options.values[name] = value!
            i += 1
        }
        return options
    }
}

/// The name of a registered trigger kind (`patch`, `noise-patch`, …); JSON and the command line
/// hold the name.
public struct TriggerKind: RawRepresentable, Codable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    public let rawValue: String

    /// The registered kind named `rawValue`, or nil.
    public init?(rawValue: String) {
        guard TriggerRegistry.definition(named: rawValue) != nil else { return nil }
        self.rawValue = rawValue
    }

    /// The kind of a trigger type.
    public init<T: TriggerDefinition>(_ type: T.Type) { rawValue = T.kind }

    public static var allCases: [TriggerKind] { TriggerRegistry.kinds.map { TriggerKind(rawValue: $0.kind)! } }

    /// The kind's type.
    public var definition: any TriggerDefinition.Type { TriggerRegistry.definition(named: rawValue)! }
    public var displayName: String { definition.displayName }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let kind = TriggerKind(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "unknown trigger '\(name)'\(didYouMean(name, in: TriggerKind.allCases.map(\.rawValue))) (known: \(TriggerKind.allCases.map(\.rawValue).joined(separator: ", ")))"))
        }
        self = kind
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Trigger settings as given (command line, experiment file), by setting name, before a kind
/// reads them; a setting not given takes the kind's default.
///
/// ```swift
/// var options = TriggerOptions()
/// options[BlendedTrigger.weight] = 0.1
/// let trigger = try options.makeTrigger(kind: .blended, seed: 7)
/// ```
public struct TriggerOptions: Sendable, Hashable {
    /// The text of each given setting, by name (`blend-weight`: `0.1`).
    public var values: [String: String] = [:]

    public init(values: [String: String] = [:]) { self.values = values }

    /// The value of `setting`: the given one, else its default. An invalid given value reads as
    /// the default; ``validate(for:)`` reports it.
    public subscript<V>(setting: TriggerSetting<V>) -> V {
        get {
            guard let text = values[setting.name], case .success(let v) = setting.parse(text) else { return setting.defaultValue }
            return v
        }
        set { values[setting.name] = setting.format(newValue) }
    }

    /// The settings `kind` uses, checked; the message names the flag.
    public func validate(for kind: TriggerKind) throws(AttackError) {
        for setting in kind.definition.settings {
            if let text = values[setting.name], let problem = setting.problem(with: text) {
                throw .invalidSetting("\(kind.rawValue) trigger: \(setting.flag) \(problem)")
            }
        }
    }

    /// The settings `kind` uses whose values differ from its defaults, each as its exact text:
    /// option sets that make the same trigger of `kind` have the same canonical form (an invalid
    /// value is kept as written).
    public func canonical(for kind: TriggerKind) -> [String: String] {
        var out: [String: String] = [:]
        for setting in kind.definition.settings {
            guard let text = values[setting.name] else { continue }
            let exact = setting.canonical(text) ?? text
            if exact != setting.defaultText { out[setting.name] = exact }
        }
        return out
    }

    /// The settings given that `kind` does not use.
    public func unused(by kind: TriggerKind) -> [String] {
        let used = Set(kind.definition.settings.map(\.name))
        return values.keys.filter { !used.contains($0) }.sorted()
    }

    /// The trigger of `kind` with these settings; random parts are drawn from `seed`.
    public func makeTrigger(kind: TriggerKind, seed: UInt64) throws(AttackError) -> Trigger {
        try validate(for: kind)
        let trigger = Trigger(try kind.definition.init(options: self, seed: seed))
        try trigger.validate()
        return trigger
    }

    /// The command-line words of the given settings, in registry order (`--blend-weight 0.1`).
    public var commandLine: [String] {
        TriggerRegistry.settings.compactMap { entry in values[entry.setting.name].map { [entry.setting.flag, $0] } }.flatMap { $0 }
    }
}

/// A backdoor trigger with every random part resolved: what `clipguard poison` applies to
/// training images and stores in the manifest, and what evaluation applies to test images.
///
/// Triggers act on images at the geometry the model sees (after resize and crop; SPEC §2
/// "placement"). Per-image random parts (patch positions, noise) are drawn from the trigger's
/// seed and the image's `index`; fixed parts (the WaNet field) are stored whole.
///
/// JSON: `{"kind": "patch", "parameters": {…}}`, the parameters being the kind's `Codable` form.
///
/// ```swift
/// let trigger = Trigger.patch(PatchTrigger(size: .pixels(3), position: .topLeft))
/// let triggered = trigger.apply(to: Preprocessing.resizeCenterCrop(size: 32).apply(image), index: 7)
/// ```
public struct Trigger: Sendable, Hashable {
    /// The kind's value.
    public let definition: any TriggerDefinition

    public init(_ definition: any TriggerDefinition) { self.definition = definition }

    public var kind: TriggerKind { TriggerKind(rawValue: type(of: definition).kind)! }

    /// The image with the trigger applied. `index` picks the per-image random parts; use the
    /// row's index for training images and the evaluation item's index for test images.
    public func apply(to image: RGBImage, index: Int) -> RGBImage { definition.apply(to: image, index: index) }

    /// The pixels the trigger alters on a `width × height` image: the patch squares, or the whole
    /// image for triggers that alter all of it.
    public func regions(width: Int, height: Int, index: Int) -> [PixelRect] {
        localRegions(width: width, height: height, index: index) ?? [PixelRect(x: 0, y: 0, width: width, height: height)]
    }

    /// The patch squares for local triggers, nil for whole-image triggers.
    public func localRegions(width: Int, height: Int, index: Int) -> [PixelRect]? {
        definition.localRegions(width: width, height: height, index: index)
    }

    /// Checks the parameters; the message names the bad one.
    public func validate() throws(AttackError) {
        if let problem = definition.problem() { throw .invalidSetting("\(kind.rawValue) trigger: \(problem)") }
    }

    /// A one-line description with the parameters, for summaries.
    public var summary: String { definition.summary }

    public static func == (a: Trigger, b: Trigger) -> Bool { AnyHashable(a.definition) == AnyHashable(b.definition) }
    public func hash(into hasher: inout Hasher) { hasher.combine(AnyHashable(definition)) }
}

extension Trigger: Codable {
    private enum CodingKeys: String, CodingKey { case kind, parameters }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(TriggerKind.self, forKey: .kind)
        func decode<T: TriggerDefinition>(_ type: T.Type) throws -> T { try container.decode(T.self, forKey: .parameters) }
        self.init(try decode(kind.definition))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        func encode<T: TriggerDefinition>(_ value: T) throws { try container.encode(value, forKey: .parameters) }
        try encode(definition)
    }
}
