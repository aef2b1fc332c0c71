import Datasets
import Detection
import Foundation
import Training

/// The settings of an experiment's `detect` rows (the file's `detect:` block, or a variant's):
/// which detectors score the poisoned data, in which model's features, and which pairs are dropped
/// before plain CLIP trains on the rest.
///
/// ```yaml
/// detect:
///   detectors: [dao]        # default: every registered detector
///   model: poisoned         # warmup (default): a SafeCLIP-style warm-up of the row's model;
///                           # poisoned: the plain CLIP (`none`) row's model of the same seed and amount
///   drop: threshold         # a fraction in [0, 1), or threshold (the column's label-free threshold);
///                           # default: training.filter_fraction
///   drop_by: dao            # the column: combined (default) or a detector column
///   options: {neighbours: 16, reference-size: 1024}   # detector options (`clipguard detect --help`)
/// ```
public struct DetectSpec: StrictConfig, Equatable, Sendable {
    /// Whose image features the detectors use.
    public enum Model: String, Codable, Sendable {
        /// A SafeCLIP-style warm-up trained by `detect` with the row's model and settings.
        case warmup
        /// The model the row's plain CLIP (`none`) row trained on the same poisoned data.
        case poisoned
    }

    /// Detector names (nil: every registered detector).
    public var detectors: [String]?
    public var model: Model
    /// The cut (nil: the fraction `training.filter_fraction`).
    public var drop: ConfigValue?
    public var dropBy: String
    /// Detector options by name.
    public var options: [String: Int]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case detectors, model, drop, options
        case dropBy = "drop_by"
    }

    public static var allowedKeys: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

    public init() {
        detectors = nil; model = .warmup; drop = nil; dropBy = "combined"; options = [:]
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        detectors = try c.decodeIfPresent([String].self, forKey: .detectors)
        model = try c.decodeIfPresent(Model.self, forKey: .model) ?? .warmup
        drop = try c.decodeIfPresent(ConfigValue.self, forKey: .drop)
        dropBy = try c.decodeIfPresent(String.self, forKey: .dropBy) ?? "combined"
        options = try c.decodeIfPresent([String: Int].self, forKey: .options) ?? [:]
    }

    /// The cut, with `fallback` (the row's `filter_fraction`) when the file gives none.
    public func dropRule(fallback: Double) throws(ConfigError) -> DropRule {
        guard let drop else { return .fraction(fallback) }
        let text: String
        switch drop {
        case .int(let i): text = String(i)
        case .double(let d): text = String(d)
        case .string(let s): text = s
        default: text = drop.text
        }
        do { return try DropRule(parsing: text, source: "detect.drop") } catch {
            throw ConfigError(file: "", key: "detect.drop", reason: "must be a fraction in [0, 1) or 'threshold', got '\(text)'")
        }
    }

    func validate(file: String) throws(ConfigError) {
        func fail(_ key: String, _ reason: String) -> ConfigError { ConfigError(file: file, key: "detect." + key, reason: reason) }
        if let detectors {
            do { _ = try DetectorRegistry.detectors(named: detectors, source: "detect.detectors") } catch {
                throw fail("detectors", "\(error)".replacingOccurrences(of: "detect.detectors: ", with: ""))
            }
        }
        do { _ = try dropRule(fallback: 0.1) } catch { throw ConfigError(file: file, key: error.key, reason: error.reason) }
        do { try DetectorSettings(options).validate(source: { "detect.options." + $0 }) } catch {
            throw fail("options", "\(error)")
        }
        let chosen = (try? DetectorRegistry.detectors(named: detectors ?? DetectorRegistry.names)) ?? []
        // Column names with one model (the row's): cosine, captions, dao, …
        let columns = chosen.flatMap { $0.columns(models: 1) } + ["combined"]
        if !columns.contains(dropBy) {
            throw fail("drop_by", "'\(dropBy)' is not a column of the chosen detectors (columns: \(columns.joined(separator: ", ")))")
        }
    }
}

/// The `detect` defence row: "detect, drop, train". `clipguard detect` scores the row's poisoned
/// data with the file's ``DetectSpec`` — in the features of a SafeCLIP-style warm-up (which uses
/// the row's model, `unimodal_epochs`, `clip_warmup_epochs`, `lr` and `batch_size`) or of the
/// plain CLIP row's poisoned model — drops the pairs its cut names (a fraction of the top of
/// `drop_by`, or those over its label-free threshold), and plain CLIP trains on the rest.
enum DetectDefense {
    /// The detection a row runs, in `runDirectory-detect`, dropping into `…-detect/clean/train.csv`.
    ///
    /// - Parameters:
    ///   - settings: the row's defence settings (the warm-up takes SafeCLIP's phase lengths, a
    ///     `drop` the spec leaves out the filter's fraction).
    ///   - model: the weights file of the plain CLIP row when `spec.model` is `poisoned`.
    static func request(config: TrainingConfig, settings: DefenseSettingsTable, runDirectory: String, manifestPath: String,
                        spec: DetectSpec, model: String?) throws -> DetectionRequest {
        let safeCLIP = settings[SafeCLIPSettings.self]
        let folder = runDirectory + "-detect"
        var request = DetectionRequest(data: config.data, output: folder)
        request.manifest = manifestPath
        request.csvOptions = CSVOptions(imageColumn: config.imageColumn, captionColumn: config.captionColumn)
        if spec.model == .poisoned, let model { request.models = [model] }
        request.detectors = spec.detectors ?? DetectorRegistry.names
        request.settings = DetectorSettings(spec.options)
        request.warmup.model = config.model
        request.warmup.unimodalEpochs = safeCLIP.unimodalEpochs
        request.warmup.clipEpochs = safeCLIP.clipWarmupEpochs
        request.warmup.lr = config.lr
        request.warmup.clipLR = config.lr
        request.warmup.batchSize = config.batchSize
        request.drop = try spec.dropRule(fallback: settings[FilterSettings.self].fraction)
        request.dropBy = spec.dropBy
        request.cleanOutput = folder + "/clean"
        request.workers = config.workers
        request.device = config.device
        request.seed = config.seed
        request.quiet = true
        return request
    }

    /// The `clipguard detect` command that runs `request` (the settings a row's request sets).
    static func commandLine(_ request: DetectionRequest) -> [String] {
        var words = ["clipguard", "detect", "--data", request.data, "--out", request.output]
        for model in request.models { words += ["--model", model] }
        if request.models.isEmpty {
            words += [
                "--warmup-model", request.warmup.model, "--warmup-epochs", "\(request.warmup.unimodalEpochs)",
                "--warmup-clip-epochs", "\(request.warmup.clipEpochs)", "--warmup-lr", "\(request.warmup.lr)",
                "--warmup-batch-size", "\(request.warmup.batchSize)",
            ]
        }
        if request.detectors != DetectorRegistry.names { words += ["--detectors", request.detectors.joined(separator: ",")] }
        words += request.settings.arguments
        words += ["--workers", "\(request.workers)", "--device", request.device, "--seed", "\(request.seed)"]
        if let manifest = request.manifest { words += ["--manifest", manifest] }
        if let drop = request.drop, let clean = request.cleanOutput {
            words += ["--drop", drop.description]
            if request.dropBy != "combined" { words += ["--drop-by", request.dropBy] }
            words += ["--write-clean", clean]
        }
        if let column = request.csvOptions.imageColumn { words += ["--image-column", column] }
        if let column = request.csvOptions.captionColumn { words += ["--caption-column", column] }
        return words
    }

    /// Runs the row's detection (cached, so a resumed row repeats it in seconds) and returns the
    /// cleaned CSV's path.
    static func cleanedData(request: DetectionRequest, reporter: ProgressReporter) throws -> String {
        let summary = try PoisonDetector.run(request)
        guard let clean = summary.clean else { throw ExperimentError.config("detect wrote no cleaned set") }
        reporter.log("detect: dropped \(clean.dropped) of \(summary.rows) pairs (--drop \(clean.cut ?? "") by \(clean.by ?? "combined"))"
                     + (clean.poisonedDropped.map { ", \($0) of them poisoned" } ?? "") + "; training on \(clean.path)")
        return clean.path
    }
}
