import CLIP
import Foundation
import Training

/// Trains the clean surrogate an aimed attack uses when an experiment says `surrogate: clean`:
/// SafeCLIP's own warm-up (its unimodal and CLIP warm-up epochs, SPEC §3 phases 1–2) on the clean
/// data, stopped before the first selection — the model whose similarities SafeCLIP's first split
/// uses, but trained by the attacker without the poison and with its own seed.
public enum SurrogateTraining {
    /// Trains (or reads back) the surrogate in `folder` and returns `folder/surrogate.safetensors`.
    ///
    /// - Parameters:
    ///   - config: training settings with SafeCLIP's settings (`data` the clean CSV); the run stops
    ///     after `unimodal_epochs + clip_warmup_epochs` epochs of `rows / batch_size` steps.
    ///   - rows: pairs in `config.data`.
    /// - Throws: the trainer's errors; ``TrainingError``-style configuration errors for bad settings.
    public static func train(config: TrainingConfig, rows: Int, folder: String, reporter: ProgressReporter) throws -> String {
        let finished = folder + "/surrogate.safetensors"
        if FileManager.default.fileExists(atPath: finished) { return finished }
        var config = config
        config.defense = .safeclip
        let settings = config[settings: SafeCLIPSettings.self]
        let warmupEpochs = settings.unimodalEpochs + settings.clipWarmupEpochs
        config.epochs = max(config.epochs, warmupEpochs + 1)
        config.manifest = nil
        config.evalData = nil
        try config.validate(file: "surrogate settings")
        let perEpoch = rows / config.batchSize
        let resume = FileManager.default.fileExists(atPath: folder + "/checkpoint.safetensors")
        if !resume && FileManager.default.fileExists(atPath: folder) { try FileManager.default.removeItem(atPath: folder) }
        let trainer = try Trainer(config: config, runDirectory: folder, resume: resume, reporter: reporter)
        let target = warmupEpochs * perEpoch
        let stop = StopSignal(signals: [])
        trainer.onStep = { progress, _ in if progress.globalStep >= target { stop.finish() } }
        _ = try trainer.run(stopSignal: stop)
        try trainer.model.saveSafeTensors(toPath: finished)
        return finished
    }
}
