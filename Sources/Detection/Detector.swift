import Foundation

/// A detector of `clipguard detect`: one type that says everything the command, `summary.json`,
/// the experiment rows and the report need to know about it.
///
/// Adding a detector is one file with a type conforming to this protocol plus one line in
/// ``DetectorRegistry/all``. The command line (`--detectors NAME`, its option flags and their help),
/// `scores.csv`, `summary.json`, the operating points, the combination, `--drop-by`, experiment rows
/// (`detect: {detectors: [NAME]}`) and the registry test then cover it without further edits.
///
/// Scores are per pair, `[N]` float64 over the rows whose image was read (the context's row order);
/// the runner writes NaN for the others.
public protocol Detector: Sendable {
    /// The name on the command line (`--detectors NAME`), in experiment files and in `summary.json`.
    static var name: String { get }
    /// The name in tables, plots and reports.
    static var displayName: String { get }
    /// One sentence for `clipguard detect --help`.
    static var about: String { get }
    /// The options it reads (flags `--NAME VALUE`); detectors that share an option declare the same
    /// ``DetectorOption`` value, and one flag then sets it for all of them.
    static var options: [DetectorOption] { get }
    /// What it reads from the feature pass; the runner prepares only what the chosen detectors need.
    static var inputs: Set<DetectorInput> { get }
    /// Which end of its score is suspicious.
    static var direction: ScoreDirection { get }
    /// How it flags pairs without the manifest (see ``ThresholdRule``).
    static var threshold: ThresholdRule { get }
    /// Its columns in `scores.csv`, given how many models scored the pairs (one column for most
    /// detectors; one per model for image–caption similarity). Unique across the registry.
    static func columns(models: Int) -> [String]
    /// Its scores: one `[rows]` array per column of ``columns(models:)``, in the context's row order
    /// (the rows whose image was read), with ``direction`` telling which end is suspicious.
    static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> [[Double]]
}

/// The detectors `clipguard detect` knows, in the order of their columns.
public enum DetectorRegistry {
    /// Every registered detector. A new detector is one line here.
    public static let all: [any Detector.Type] = [
        SimilarityDetector.self,
        CaptionStatisticsDetector.self,
        SpectralDetector.self,
        ActivationClusteringDetector.self,
        TriggerDetector.self,
        KDistanceDetector.self,
        SLOFDetector.self,
        LIDDetector.self,
        DAODetector.self,
    ]

    /// Names of every registered detector.
    public static var names: [String] { all.map { $0.name } }

    /// The detector called `name`, if any.
    public static func detector(named name: String) -> (any Detector.Type)? { all.first { $0.name == name } }

    /// The detectors called `names`, in the registry's order; an unknown name is one sentence that
    /// names `source` (a flag or a key) and lists the known names.
    public static func detectors(named names: [String], source: String = "--detectors") throws -> [any Detector.Type] {
        if names.isEmpty { throw DetectionError.invalidSetting("\(source) names no detector") }
        for name in names where detector(named: name) == nil {
            throw DetectionError.invalidSetting("\(source): unknown detector \"\(name)\" (known: \(self.names.joined(separator: ", ")))")
        }
        if let twice = names.first(where: { n in names.count(where: { $0 == n }) > 1 }) {
            throw DetectionError.invalidSetting("\(source) names \"\(twice)\" twice")
        }
        return all.filter { names.contains($0.name) }
    }

    /// Every option of the registered detectors, once per name, in registry order.
    public static var options: [DetectorOption] {
        var out: [DetectorOption] = []
        for d in all { for o in d.options where !out.contains(where: { $0.name == o.name }) { out.append(o) } }
        return out
    }

    /// The option called `name` (without dashes), if a detector declares it.
    public static func option(named name: String) -> DetectorOption? { options.first { $0.name == name } }

    /// The detectors that read option `name`.
    public static func users(of name: String) -> [String] { all.filter { $0.options.contains { $0.name == name } }.map { $0.name } }

    /// The detector that writes column `column` (for `models` scoring models), if any.
    public static func detector(ofColumn column: String, models: Int) -> (any Detector.Type)? {
        all.first { $0.columns(models: models).contains(column) }
    }

    /// The `--help` paragraph listing every detector and every option.
    public static var helpText: String {
        var lines = ["Detectors (--detectors, comma-separated):"]
        for d in all {
            lines.append("  \(d.name): \(d.about) Suspicious when \(d.direction == .higher ? "high" : "low"); label-free threshold: \(d.threshold.description).")
        }
        lines.append("Detector options:")
        for o in options {
            lines.append("  --\(o.name) N: \(o.help) (\(o.defaultDescription); used by \(users(of: o.name).joined(separator: ", "))).")
        }
        return lines.joined(separator: "\n")
    }
}

/// What a detector reads from the feature pass.
public enum DetectorInput: String, Sendable, CaseIterable, Codable {
    /// `[rows, D]` normalised image features of the first model (``DetectionContext/features``).
    case imageFeatures
    /// Image–caption cosine similarity under every model (``DetectionContext/similarity``).
    case similarity
    /// The caption text (``DetectionContext/captions``).
    case captions
    /// Each pair's caption group: the zero-shot class of its caption, or a k-means group of the
    /// caption features (``DetectionContext/captionGroups()``).
    case captionGroups
    /// The trigger cell hashes of every image (``DetectionContext/cells``).
    case cells
}

/// Which end of a detector's score is suspicious.
public enum ScoreDirection: String, Sendable, Codable {
    /// High scores are suspicious.
    case higher
    /// Low scores are suspicious (the runner negates them to rank).
    case lower

    /// `values` turned so that higher = more suspicious (NaN stays NaN).
    public func suspicion(_ values: [Double]) -> [Double] { self == .higher ? values : values.map { -$0 } }
}

/// A detector's option: a whole number with a default (or an automatic value), a valid range, the
/// flag `--NAME`, the experiment key `NAME` and one line of help.
public struct DetectorOption: Sendable, Equatable {
    public var name: String
    public var help: String
    /// nil: chosen by the detector from the data (``automatic`` says how).
    public var defaultValue: Int?
    public var automatic: String?
    public var range: ClosedRange<Int>

    public init(name: String, help: String, defaultValue: Int?, automatic: String? = nil, range: ClosedRange<Int>) {
        self.name = name; self.help = help; self.defaultValue = defaultValue; self.automatic = automatic; self.range = range
    }

    var defaultDescription: String { defaultValue.map { "default \($0)" } ?? "default: \(automatic ?? "automatic")" }

    /// Checks a value, naming `source` (e.g. `--neighbours` or `detect.options.neighbours`).
    public func validate(_ value: Int, source: String) throws {
        guard range.contains(value) else {
            throw DetectionError.invalidSetting("\(source) must be in \(range.lowerBound)…\(range.upperBound), got \(value)")
        }
    }
}

/// The values of detector options given by the user; an option not given has its default.
public struct DetectorSettings: Sendable, Equatable, Codable {
    /// Given values by option name.
    public var values: [String: Int]

    public init(_ values: [String: Int] = [:]) { self.values = values }

    /// The value of `option`: the given one, else its default (nil: automatic).
    public func value(_ option: DetectorOption) -> Int? { values[option.name] ?? option.defaultValue }

    /// Checks every given value against the registry: a known option, in range.
    public func validate(source: (String) -> String = { "--" + $0 }) throws {
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            guard let option = DetectorRegistry.option(named: name) else {
                throw DetectionError.invalidSetting("\(source(name)) is not a detector option (known: \(DetectorRegistry.options.map { source($0.name) }.joined(separator: ", ")))")
            }
            try option.validate(value, source: source(name))
        }
    }

    /// Parses `--NAME VALUE` and `--NAME=VALUE` words (the command line's detector options).
    public static func parse(arguments: [String]) throws -> DetectorSettings {
        var values: [String: Int] = [:]
        var i = 0
        while i < arguments.count {
            let word = arguments[i]
            guard word.hasPrefix("--"), word.count > 2 else {
                throw DetectionError.invalidSetting("unexpected argument \"\(word)\" (detector options are --NAME VALUE: \(DetectorRegistry.options.map { "--" + $0.name }.joined(separator: ", ")))")
            }
            var name = String(word.dropFirst(2)), text: String?
            if let eq = name.firstIndex(of: "=") { text = String(name[name.index(after: eq)...]); name = String(name[..<eq]) }
            guard DetectorRegistry.option(named: name) != nil else {
                throw DetectionError.invalidSetting("unknown option --\(name) (detector options: \(DetectorRegistry.options.map { "--" + $0.name }.joined(separator: ", ")))")
            }
            if text == nil {
                guard i + 1 < arguments.count else { throw DetectionError.invalidSetting("--\(name) needs a value") }
                i += 1
                text = arguments[i]
            }
            guard let value = Int(text!) else { throw DetectionError.invalidSetting("--\(name) needs a whole number, got \"\(text!)\"") }
            if values[name] != nil { throw DetectionError.invalidSetting("--\(name) is given twice") }
            values[name] = value
            i += 1
        }
        let settings = DetectorSettings(values)
        try settings.validate()
        return settings
    }

    /// The command-line words that give these values (sorted by name).
    public var arguments: [String] { values.sorted { $0.key < $1.key }.flatMap { ["--" + $0.key, String($0.value)] } }
}
