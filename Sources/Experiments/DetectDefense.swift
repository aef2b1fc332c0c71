import Datasets
import Detection
import Foundation
import Training

/// The `detect` defence row: "detect, drop, train". `clipguard detect` scores the row's poisoned
/// data (its SafeCLIP-style warm-up uses the row's model, `unimodal_epochs`, `clip_warmup_epochs`,
/// `lr` and `batch_size`), the top `filter_fraction` of the pairs by combined score are dropped,
/// and plain CLIP trains on the rest.
enum DetectDefense {
    /// The detection a row runs, in `runDirectory-detect`: a SafeCLIP-style warm-up with the row's
    /// model and settings, then the top `filter_fraction` dropped into `…-detect/clean/train.csv`.
    /// `settings`: the experiment's defence settings (the warm-up takes SafeCLIP's phase
    /// lengths, the drop the filter's fraction).
    static func request(config: TrainingConfig, settings: DefenseSettingsTable, runDirectory: String, manifestPath: String) -> DetectionRequest {
        let safeCLIP = settings[SafeCLIPSettings.self]
        let folder = runDirectory + "-detect"
        var request = DetectionRequest(data: config.data, output: folder)
        request.manifest = manifestPath
        request.csvOptions = CSVOptions(imageColumn: config.imageColumn, captionColumn: config.captionColumn)
        request.warmup.model = config.model
        request.warmup.unimodalEpochs = safeCLIP.unimodalEpochs
        request.warmup.clipEpochs = safeCLIP.clipWarmupEpochs
        request.warmup.lr = config.lr
        request.warmup.clipLR = config.lr
        request.warmup.batchSize = config.batchSize
        request.dropTop = settings[FilterSettings.self].fraction
        request.cleanOutput = folder + "/clean"
        request.workers = config.workers
        request.device = config.device
        request.seed = config.seed
        request.quiet = true
        return request
    }

    /// The `clipguard detect` command that runs `request` (the settings a row's request sets).
    static func commandLine(_ request: DetectionRequest) -> [String] {
        var words = [
            "clipguard", "detect", "--data", request.data, "--out", request.output, "--warmup-model", request.warmup.model,
            "--warmup-epochs", "\(request.warmup.unimodalEpochs)", "--warmup-clip-epochs", "\(request.warmup.clipEpochs)",
            "--warmup-lr", "\(request.warmup.lr)", "--warmup-batch-size", "\(request.warmup.batchSize)",
            "--workers", "\(request.workers)", "--device", request.device, "--seed", "\(request.seed)",
        ]
        if let manifest = request.manifest { words += ["--manifest", manifest] }
        if let dropTop = request.dropTop, let clean = request.cleanOutput { words += ["--drop-top", "\(dropTop)", "--write-clean", clean] }
        if let column = request.csvOptions.imageColumn { words += ["--image-column", column] }
        if let column = request.csvOptions.captionColumn { words += ["--caption-column", column] }
        return words
    }

    /// Runs the row's detection (cached, so a resumed row repeats it in seconds) and returns the
    /// cleaned CSV's path.
    static func cleanedData(
        config: TrainingConfig, settings: DefenseSettingsTable, runDirectory: String, manifestPath: String, reporter: ProgressReporter
    ) throws -> String {
        let summary = try PoisonDetector.run(request(config: config, settings: settings, runDirectory: runDirectory, manifestPath: manifestPath))
        guard let clean = summary.clean else { throw ExperimentError.config("detect wrote no cleaned set") }
        reporter.log("detect: dropped \(clean.dropped) of \(summary.rows) pairs"
                     + (clean.poisonedDropped.map { ", \($0) of them poisoned" } ?? "") + "; training on \(clean.path)")
        return clean.path
    }
}
