import Datasets
import Detection
import Foundation
import Training

/// The `detect` defence row: "detect, drop, train". `clipguard detect` scores the row's poisoned
/// data (its SafeCLIP-style warm-up uses the row's model, `unimodal_epochs`, `clip_warmup_epochs`,
/// `lr` and `batch_size`), the top `filter_fraction` of the pairs by combined score are dropped,
/// and plain CLIP trains on the rest.
enum DetectDefense {
    /// Runs the detection in `runDirectory-detect` (cached, so a resumed row repeats it in
    /// seconds) and returns the cleaned CSV's path.
    static func cleanedData(config: TrainingConfig, runDirectory: String, manifestPath: String, reporter: ProgressReporter) throws -> String {
        let folder = runDirectory + "-detect"
        var request = DetectionRequest(data: config.data, output: folder)
        request.manifest = manifestPath
        request.csvOptions = CSVOptions(imageColumn: config.imageColumn, captionColumn: config.captionColumn)
        request.warmup.model = config.model
        request.warmup.unimodalEpochs = config.safeCLIP.unimodalEpochs
        request.warmup.clipEpochs = config.safeCLIP.clipWarmupEpochs
        request.warmup.lr = config.lr
        request.warmup.clipLR = config.lr
        request.warmup.batchSize = config.batchSize
        request.dropTop = config.filter.fraction
        request.cleanOutput = folder + "/clean"
        request.workers = config.workers
        request.device = config.device
        request.seed = config.seed
        request.quiet = true
        let summary = try PoisonDetector.run(request)
        guard let clean = summary.clean else { throw ExperimentError.config("detect wrote no cleaned set") }
        reporter.log("detect: dropped \(clean.dropped) of \(summary.rows) pairs"
                     + (clean.poisonedDropped.map { ", \($0) of them poisoned" } ?? "") + "; training on \(clean.path)")
        return clean.path
    }
}
