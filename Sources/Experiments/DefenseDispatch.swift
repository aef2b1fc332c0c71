import Attacks
import CLIP
import Foundation
import Training

/// What a row's training needs besides its defence.
public struct RowTrainingContext {
    /// Resolved training settings (data = the poisoned CSV, seed = the row's).
    public var config: TrainingConfig
    /// The run folder (config.json, metrics.jsonl, checkpoint.safetensors, model.safetensors).
    public var runDirectory: String
    /// The poisoning manifest (defences that report how many poisoned pairs they caught use it).
    public var manifest: PoisonManifest
    public var manifestPath: String
    public var reporter: ProgressReporter
    public var stopSignal: StopSignal?
    public var stopAfterSteps: Int?
    /// Figures added to each epoch's metrics record (clean accuracy and ASR per epoch).
    public var epochEvaluation: (CLIPModel) throws -> [String: Any]
}

/// How a row's training ended.
public struct RowTrainingOutcome {
    /// The trained model, or nil when training stopped early (a checkpoint was written).
    public var model: CLIPModel?
    public var steps: Int
    public var finalLoss: Double?
    /// Training seconds over every session of the run.
    public var seconds: Double
}

/// Trains a row with its defence: the one place that maps a defence name to its trainer.
///
/// `none` trains plain CLIP (``CLIPTrainer``); `safeclip`, `roclip` and `filter` train from
/// scratch with ``DefenseTrainer`` on the poisoned data (with the manifest, so that SafeCLIP logs
/// how many poisoned pairs land in its safe set); `cleanclip` fine-tunes the row's plain-CLIP
/// model (the `none` row of the same seed and poison amount) on the clean data.
public enum DefenseDispatch {
    /// Why `defense` cannot run in this build, or nil when it can.
    public static func unavailableReason(_ defense: Defense) -> String? {
        defense == .detect || TrainingConfig.defenses.contains(defense.rawValue) ? nil : "not available in this build"
    }

    /// Trains (or resumes, when the run folder holds a checkpoint) one row.
    public static func train(defense: Defense, context: RowTrainingContext) throws -> RowTrainingOutcome {
        if let reason = unavailableReason(defense) {
            throw ExperimentError.defenseUnavailable(defense: defense.rawValue, reason: reason)
        }
        let resume = prepareRunFolder(context.runDirectory)
        var config = context.config
        config.defense = defense.rawValue
        let summary: TrainingSummary
        let model: CLIPModel
        switch defense {
        case .none, .detect:
            if defense == .detect {  // detect, drop, train (DetectDefense.swift)
                config.data = try DetectDefense.cleanedData(
                    config: config, runDirectory: context.runDirectory, manifestPath: context.manifestPath, reporter: context.reporter)
                config.defense = "none"
            }
            let trainer = try CLIPTrainer(config: config, runDirectory: context.runDirectory, resume: resume, reporter: context.reporter)
            trainer.stopAfterSteps = context.stopAfterSteps
            model = trainer.model
            trainer.onEpochEnd = { _ in try context.epochEvaluation(model) }
            summary = try trainer.run(stopSignal: context.stopSignal)
        case .safeclip, .roclip, .filter, .cleanclip:
            if defense != .cleanclip { config.manifest = context.manifestPath }
            let trainer = try DefenseTrainer(config: config, runDirectory: context.runDirectory, resume: resume, reporter: context.reporter)
            trainer.stopAfterSteps = context.stopAfterSteps
            model = trainer.model
            trainer.onEpochEnd = { _ in try context.epochEvaluation(model) }
            summary = try trainer.run(stopSignal: context.stopSignal)
        }
        return RowTrainingOutcome(
            model: summary.interrupted ? nil : model, steps: summary.progress.globalStep, finalLoss: summary.finalLoss,
            seconds: summary.progress.elapsedSeconds)
    }

    /// Whether the run folder holds a checkpoint to resume from. A folder with a log but no
    /// checkpoint (killed before its first epoch ended) is cleared, since nothing can resume it.
    static func prepareRunFolder(_ path: String) -> Bool {
        let fm = FileManager.default
        if fm.fileExists(atPath: path + "/checkpoint.safetensors") { return true }
        if fm.fileExists(atPath: path) { try? fm.removeItem(atPath: path) }
        return false
    }
}
