import CLIP
import Datasets
import Foundation
import Torch
import Training

/// The short SafeCLIP-style warm-up that `clipguard detect` trains when no model is given.
public struct WarmupOptions: Sendable, Equatable {
    /// Model name or config JSON of the warm-up model.
    public var model = "micro-vit"
    /// Unimodal (image–image, text–text) contrastive epochs (SafeCLIP phase 1).
    public var unimodalEpochs = 5
    /// CLIP epochs on all pairs after it (SafeCLIP phase 2).
    public var clipEpochs = 2
    /// Peak learning rate of the unimodal phase.
    public var lr = 1e-3
    /// Constant learning rate of the CLIP epochs.
    public var clipLR = 1e-3
    public var batchSize = 64

    public init() {}
}

/// Trains the warm-up model in `folder` (a SafeCLIP run stopped after its CLIP warm-up, before any
/// selection) and returns it; a finished warm-up is read back from `folder/detector.safetensors`,
/// a stopped one continues from its checkpoint.
///
/// This is the only place `Detection` drives the trainer; it uses the public trainer entry point
/// (`Trainer(config:runDirectory:resume:reporter:)` with `defense = .safeclip`).
func warmupModel(data: String, csvOptions: CSVOptions, folder: String, options: WarmupOptions, seed: UInt64,
                 device: String, workers: Int, rows: Int) throws -> CLIPModel {
    let finished = folder + "/detector.safetensors"
    if FileManager.default.fileExists(atPath: finished) {
        return try CLIPModel.fromSafeTensors(atPath: finished, device: try Device(parsing: device))
    }
    let perEpoch = rows / options.batchSize
    guard perEpoch >= 1 else {
        throw DetectionError.invalidSetting("the warm-up needs at least one batch of \(options.batchSize) pairs; the data has \(rows)")
    }
    let config = TrainingConfig(
        data: data, model: options.model, epochs: options.unimodalEpochs + options.clipEpochs + 1,
        batchSize: options.batchSize, lr: options.lr, warmupSteps: 10, seed: seed, device: device, workers: workers,
        maxFailureFraction: 1, imageColumn: csvOptions.imageColumn, captionColumn: csvOptions.captionColumn,
        settings: SafeCLIPSettings(unimodalEpochs: options.unimodalEpochs, clipWarmupEpochs: options.clipEpochs, clipWarmupLR: options.clipLR))
    try config.validate(file: "warm-up settings")
    let resume = FileManager.default.fileExists(atPath: folder + "/checkpoint.safetensors")
    if !resume && FileManager.default.fileExists(atPath: folder) {
        try FileManager.default.removeItem(atPath: folder)  // stopped before its first checkpoint
    }
    let trainer = try Trainer(config: config, runDirectory: folder, resume: resume, reporter: ProgressReporter(logEvery: 20))
    // Stop once phases 1 and 2 are done: before SafeCLIP's first selection.
    let target = (options.unimodalEpochs + options.clipEpochs) * perEpoch
    let stop = StopSignal(signals: [])
    trainer.onStep = { progress, _ in if progress.globalStep >= target { stop.finish() } }
    _ = try trainer.run(stopSignal: stop)
    try trainer.model.saveSafeTensors(toPath: finished)
    return trainer.model
}
