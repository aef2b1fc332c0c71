import Foundation

/// What a run trains: plain CLIP (`none`) or a defence against poisoning (SPEC §3–4).
///
/// A value names one entry of the registry, ``Defense/objectives``: each entry is a
/// ``TrainingObjective`` type that describes itself — its name, display name, colour and plot
/// marker, its traits, and its settings type (config keys with defaults and validation, the
/// command-line flags and their help). Configuration files, the command line, the equivalent
/// command of a run, experiment rows and the report all loop over the registry; none of them
/// names a defence. A new defence is one file (its objective and settings) plus one line in
/// ``Defense/objectives``; `RegistryTests` runs every entry end to end.
///
/// Encoded as its name (`"safeclip"`).
public struct Defense: Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// The name in config files, on the command line, in row folders and `results.json`.
    public let name: String

    /// The registry: every objective, one line each, in the order help texts and reports list them.
    static var objectives: [any TrainingObjective.Type] {
        [
            CLIPObjective.self,
            SafeCLIPObjective.self,
            RoCLIPObjective.self,
            FilterObjective.self,
            CleanCLIPObjective.self,
            PARObjective.self,
        ]
    }

    /// Every registered defence, plain CLIP first.
    public static var allCases: [Defense] { objectives.map { Defense(checkedName: $0.name) } }

    /// The registered defence called `name`, or nil.
    public init?(name: String) {
        guard Self.objectives.contains(where: { $0.name == name }) else { return nil }
        self.name = name
    }

    /// The entry of `objective` (which must be registered).
    init(_ objective: any TrainingObjective.Type) { self.init(checkedName: objective.name) }

    private init(checkedName name: String) { self.name = name }

    public var description: String { name }

    /// The objective that trains this defence.
    var objectiveType: any TrainingObjective.Type {
        // A value can only be made from a registered name.
        Self.objectives.first { $0.name == name } ?? CLIPObjective.self
    }

    /// How reports and help texts name the defence (`SafeCLIP`, `CLIP (no defence)`).
    public var displayName: String { objectiveType.displayName }
    /// One line for `--help`: what the defence does.
    public var summary: String { objectiveType.summary }
    /// The defence's colour in every plot (`#RRGGBB`), shared with no other defence.
    public var colour: String { objectiveType.colour }
    /// The defence's point marker in plots, shared with no other defence.
    public var marker: PlotMarker { objectiveType.marker }
    /// What the defence does besides training (fine-tuning, pair selection, accumulation).
    public var traits: DefenseTraits { objectiveType.traits }
    /// Whether the defence fine-tunes `init_weights` (`clipguard finetune`) instead of training
    /// from scratch (`clipguard train`).
    public var finetunes: Bool { traits.finetunes }
    /// Whether the defence selects pairs to trust and logs how many poisoned pairs it caught
    /// (selection records in `metrics.jsonl`, `RUN_DIR/similarities/*.json`).
    public var selectsPairs: Bool { traits.pairSelection != nil }
    /// The defence's settings type (its config keys, flags, defaults and validation).
    public var settingsType: any DefenseSettings.Type { objectiveType.settingsType }
    /// The defence's settings at their defaults.
    public var defaultSettings: any DefenseSettings { settingsType.init() }

    /// The defence whose settings are of type `type`, if one is registered.
    static func owning(_ type: any DefenseSettings.Type) -> Defense? {
        allCases.first { $0.settingsType == type }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let name = try c.decode(String.self)
        guard let defense = Defense(name: name) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: Self.unknown(name))
        }
        self = defense
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }

    /// "unknown defence 'NAME' (known: none, safeclip, …)".
    static func unknown(_ name: String) -> String {
        "unknown defence '\(name)' (known: \(allCases.map(\.name).joined(separator: ", ")))"
    }
}

/// How a plot marks the points of a series; every defence has its own.
public enum PlotMarker: String, Sendable, CaseIterable, Codable {
    case circle, square, diamond, pentagon, hexagon, star, plus, cross
    case triangleUp = "triangle-up", triangleDown = "triangle-down", triangleLeft = "triangle-left", triangleRight = "triangle-right"
}

/// How a defence picks the pairs it trusts; the report's wording and plots follow it.
public enum PairSelection: String, Sendable, Equatable {
    /// Scores every pair once before training with another model and drops the lowest
    /// (`RUN_DIR/similarities/filter.json`, a `filter_kept` record).
    case onceBeforeTraining
    /// Splits the pairs into a safe and a risky set at every epoch of a phase with the model being
    /// trained (`RUN_DIR/similarities/epoch_N.json`, `selection_epoch` records).
    case everyEpoch
}

/// What a defence does besides its loss; read by validation, the CLI and the report.
public struct DefenseTraits: Sendable, Equatable {
    /// Fine-tunes `init_weights` (`clipguard finetune`) instead of training from scratch.
    public var finetunes: Bool
    /// How it selects pairs and logs the poisoned pairs it caught; nil: it trains on every pair.
    public var pairSelection: PairSelection?
    /// Runs similarity passes (so `similarity_batch_size` applies).
    public var similarityPasses: Bool
    /// Trains with `accumulation` > 1 (the defences' segment losses need whole batches).
    public var supportsAccumulation: Bool
    /// Trains in named phases that the report shades (SafeCLIP's unimodal, clip-warmup, mixed).
    public var phased: Bool

    public init(
        finetunes: Bool = false, pairSelection: PairSelection? = nil, similarityPasses: Bool = false, supportsAccumulation: Bool = false,
        phased: Bool = false
    ) {
        self.finetunes = finetunes
        self.pairSelection = pairSelection
        self.similarityPasses = similarityPasses
        self.supportsAccumulation = supportsAccumulation
        self.phased = phased
    }
}
