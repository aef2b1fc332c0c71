import Datasets
import Foundation

/// One goal of a retrieval attack: queries about `captionClass` should retrieve images of
/// `imageClass` (or, for the one-image attack, one chosen image of it).
public struct RetrievalGoal: Codable, Sendable, Hashable, CustomStringConvertible {
    /// Class A: the class whose captions are paired with other images (or, for the caption
    /// trigger, the target class whose own captions get the trigger).
    public var captionClass: String
    /// Class B: the class of the images the attacked queries should retrieve.
    public var imageClass: String

    public init(captionClass: String, imageClass: String) {
        self.captionClass = captionClass
        self.imageClass = imageClass
    }

    /// `A:B`, as `--goal` takes it.
    public var description: String { "\(captionClass):\(imageClass)" }

    /// Reads `A:B` (spaces around the names are dropped); nil when malformed.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(captionClass: parts[0], imageClass: parts[1])
    }
}

/// Where a retrieval attack's poisoned pairs go in the set (`--pairing`).
public enum PairPlacement: String, Codable, Sendable, Hashable, CaseIterable {
    /// After the clean rows, as new rows (the set grows by the poison count); ClipGuard's default.
    case append
    /// In place of the clean row each caption came from, which gets the attack's image (mmPoison's
    /// `dirty_label_poison.py`: the images of class-A pairs are replaced); the set keeps its size.
    case replace
}

/// Which rows give a pairing goal's class-A captions (`--caption-rows`).
public enum CaptionRowChoice: String, Codable, Sendable, Hashable, CaseIterable {
    /// The rows of class A: by label where the data has labels and classes.json names them, else
    /// rows whose caption names A (the default).
    case label
    /// The rows whose caption names A as a whole word (``CaptionMatcher``), whatever their label:
    /// the word the evaluation queries use ("a photo of a trouser."), not its synonyms.
    case naming
}

/// What a retrieval attack is asked to do: its goals and its own settings.
public struct RetrievalAttackSettings: Sendable, Hashable {
    /// The goals (`A:B`); the caption trigger has one goal `T:T`.
    public var goals: [RetrievalGoal]
    /// The one-image attack's image (nil: a seeded random training image of the goal's class B).
    public var targetImage: String?
    /// The caption trigger's rare word or sentence.
    public var captionTrigger: String?
    /// Where the poisoned pairs go: appended (default) or in place of their captions' rows.
    public var placement: PairPlacement
    /// Which rows give the class-A captions of the pairing attacks (default: by label).
    public var captionRows: CaptionRowChoice

    public init(goals: [RetrievalGoal], targetImage: String? = nil, captionTrigger: String? = nil,
                placement: PairPlacement = .append, captionRows: CaptionRowChoice = .label) {
        self.goals = goals
        self.targetImage = targetImage
        self.captionTrigger = captionTrigger
        self.placement = placement
        self.captionRows = captionRows
    }
}

/// What a retrieval attack gets to choose its pairs: the clean set's captions, images and classes.
public struct RetrievalContext: Sendable {
    /// The clean set's captions, by row.
    public var captions: [String]
    /// The clean set's images (absolute paths), by row.
    public var images: [String]
    /// The class names (classes.json beside the data), empty when the data has none.
    public var classes: [String]
    /// Rows of each known class, by lower-cased class name: by the label column where the data
    /// has labels and classes.json names them, else rows whose caption names the class.
    public var rowsByClass: [String: [Int]]
    /// The clean CSV, for messages.
    public var dataPath: String
    /// Where the classes came from, for messages (`…/classes.json` or `captions naming the class`).
    public var classOrigin: String

    /// The rows of class `name`; throws naming `flag` when the class is unknown.
    public func rows(of name: String, flag: String) throws(AttackError) -> [Int] {
        if let rows = rowsByClass[name.lowercased()], !rows.isEmpty { return rows }
        if classes.isEmpty {
            throw .invalidSetting("\(flag): no training caption names \"\(name)\" (\(dataPath) has no classes.json to name its classes)")
        }
        throw .invalidSetting(
            "\(flag): \"\(name)\" is not a class of \(classOrigin)\(didYouMean(name, in: classes)) (classes: \(classes.joined(separator: ", ")))")
    }
}

/// One planned poisoned pair: a caption and the image it is paired with.
public struct PlannedPair: Sendable, Hashable {
    /// The clean row the caption came from.
    public var captionRow: Int
    public var caption: String
    /// The clean row the image came from (nil for an image given by path).
    public var imageRow: Int?
    /// The image (absolute path).
    public var image: String
}

/// One goal's plan: the goal, its target images (the one-image attack's image) and its pairs.
public struct PlannedGoal: Sendable, Hashable {
    public var goal: RetrievalGoal
    public var targetImages: [String]?
    public var pairs: [PlannedPair]
}

/// A pairing or caption-only attack on text→image retrieval, described whole in one file: its
/// name, what it needs and how it pairs captions with images. No trigger touches any image.
/// A new attack is a type conforming to this protocol plus one line in
/// ``RetrievalAttackRegistry/kinds``.
public protocol RetrievalAttackDefinition: Sendable {
    /// The name on the command line (`--attack`), in experiment files and manifests.
    static var name: String { get }
    /// The name shown in reports; no two attacks share one.
    static var displayName: String { get }
    /// One line for `--help`.
    static var about: String { get }
    /// The manifest mode of its sets.
    static var mode: PoisonManifest.Mode { get }

    /// Refuses settings the attack cannot use (goal count, same A and B, a missing trigger),
    /// before the data is read; messages name the flag.
    static func check(_ settings: RetrievalAttackSettings) throws(AttackError)

    /// Chooses `count` poisoned pairs over all goals. Random choices draw from `rng`.
    static func plan(_ settings: RetrievalAttackSettings, context: RetrievalContext, count: Int,
                     rng: inout SplitMix64) throws(AttackError) -> [PlannedGoal]
}

/// The registered retrieval attacks.
public enum RetrievalAttackRegistry {
    /// Every retrieval attack, in help order. A new attack is one line here.
    public static let kinds: [any RetrievalAttackDefinition.Type] = [
        OneImagePairing.self,
        ClassPairing.self,
        MultiGoalPairing.self,
        CaptionTriggerBackdoor.self,
    ]

    public static func definition(named name: String) -> (any RetrievalAttackDefinition.Type)? {
        kinds.first { $0.name == name }
    }

    /// The attacks as `--help` lists them.
    public static var commandLineHelp: String {
        kinds.map { "\($0.name) (\($0.about))" }.joined(separator: "; ")
    }
}

/// The name of a registered retrieval attack.
public struct RetrievalAttackKind: RawRepresentable, Codable, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    public let rawValue: String

    public init?(rawValue: String) {
        guard RetrievalAttackRegistry.definition(named: rawValue) != nil else { return nil }
        self.rawValue = rawValue
    }

    public init<T: RetrievalAttackDefinition>(_ type: T.Type) { rawValue = T.name }

    public static var allCases: [RetrievalAttackKind] { RetrievalAttackRegistry.kinds.map { RetrievalAttackKind(rawValue: $0.name)! } }

    public var definition: any RetrievalAttackDefinition.Type { RetrievalAttackRegistry.definition(named: rawValue)! }
    public var displayName: String { definition.displayName }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let kind = RetrievalAttackKind(rawValue: name) else {
            let known = RetrievalAttackKind.allCases.map(\.rawValue)
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "unknown retrieval attack '\(name)'\(didYouMean(name, in: known)) (known: \(known.joined(separator: ", ")))"))
        }
        self = kind
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

// MARK: Shared pieces of the pairing attacks

enum PairingSupport {
    /// Refuses a goal whose two classes are the same.
    static func checkDistinct(_ goal: RetrievalGoal) throws(AttackError) {
        if goal.captionClass.lowercased() == goal.imageClass.lowercased() {
            throw .invalidSetting("--goal \(goal): the caption class and the image class are the same, so the pairs would be clean; name two classes A:B")
        }
    }

    /// `count` distinct caption rows of class A, drawn without replacement: rows of A's label
    /// (``CaptionRowChoice/label``) or rows whose caption names A (``CaptionRowChoice/naming``).
    static func captionRows(of goal: RetrievalGoal, choice: CaptionRowChoice, context: RetrievalContext, count: Int,
                            rng: inout SplitMix64) throws(AttackError) -> [Int] {
        switch choice {
        case .label:
            return try draw(count, "captions", of: goal.captionClass, goal: goal, context: context, rng: &rng)
        case .naming:
            _ = try context.rows(of: goal.captionClass, flag: "--goal")  // A must be a class the evaluation can query
            let rows = context.captions.indices.filter { CaptionMatcher.names(context.captions[$0], target: goal.captionClass) }
            guard count <= rows.count else {
                throw .insufficientData(path: context.dataPath, reason:
                    "--rate/--count: goal \(goal) needs \(count) captions naming \"\(goal.captionClass)\" (--caption-rows naming) but the data has only \(rows.count); lower the rate")
            }
            return Array(rows.partiallyShuffled(count: count, using: &rng))
        }
    }

    /// `count` distinct image rows of class B, drawn without replacement.
    static func imageRows(of goal: RetrievalGoal, context: RetrievalContext, count: Int,
                          rng: inout SplitMix64) throws(AttackError) -> [Int] {
        try draw(count, "images", of: goal.imageClass, goal: goal, context: context, rng: &rng)
    }

    /// `count` distinct rows of `className`, drawn without replacement; `what` names them in the
    /// refusal when the data has too few.
    private static func draw(_ count: Int, _ what: String, of className: String, goal: RetrievalGoal, context: RetrievalContext,
                             rng: inout SplitMix64) throws(AttackError) -> [Int] {
        let rows = try context.rows(of: className, flag: "--goal")
        guard count <= rows.count else {
            throw .insufficientData(path: context.dataPath, reason:
                "--rate/--count: goal \(goal) needs \(count) \(what) of \"\(className)\" but the data has only \(rows.count); lower the rate")
        }
        return Array(rows.partiallyShuffled(count: count, using: &rng))
    }

    /// Class-A captions paired with distinct class-B images (attacks II and III).
    static func classPairs(_ goal: RetrievalGoal, choice: CaptionRowChoice, context: RetrievalContext, count: Int,
                           rng: inout SplitMix64) throws(AttackError) -> PlannedGoal {
        let captions = try captionRows(of: goal, choice: choice, context: context, count: count, rng: &rng)
        let images = try imageRows(of: goal, context: context, count: count, rng: &rng)
        let pairs = zip(captions, images).map { c, i in
            PlannedPair(captionRow: c, caption: context.captions[c], imageRow: i, image: context.images[i])
        }
        return PlannedGoal(goal: goal, targetImages: nil, pairs: pairs)
    }
}
