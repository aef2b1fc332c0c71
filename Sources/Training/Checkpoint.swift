import Foundation
import CLIP
import NN
import Torch

/// Where a run stands: enough to continue it exactly.
public struct TrainingProgress: Codable, Sendable, Equatable {
    /// Epoch being trained (0-based). After a completed epoch this is the next epoch.
    public var epoch: Int
    /// Optimizer steps already taken in `epoch`.
    public var stepInEpoch: Int
    /// Optimizer steps taken since the start of the run.
    public var globalStep: Int
    /// Seconds spent training so far, over every session of the run.
    public var elapsedSeconds: Double
    /// Extra resumable state of a defence (JSON), e.g. SafeCLIP's phase and safe fraction.
    public var defenseState: String?

    public init(epoch: Int = 0, stepInEpoch: Int = 0, globalStep: Int = 0, elapsedSeconds: Double = 0, defenseState: String? = nil) {
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.globalStep = globalStep
        self.elapsedSeconds = elapsedSeconds
        self.defenseState = defenseState
    }
}

/// A training checkpoint: one safetensors file holding the model's `state_dict` under its own
/// names (so the file also loads as plain weights, in ClipGuard or in open_clip), the optimizer
/// state under `optimizer.`, a defence's extra tensors (memory banks, pools) under `defense.`, and
/// the run's progress and configuration as metadata.
public struct Checkpoint {
    /// Metadata value that marks a ClipGuard training checkpoint.
    public static let format = "clipguard-checkpoint-1"
    public static let optimizerPrefix = "optimizer."
    public static let defensePrefix = "defense."

    public var model: [String: Tensor]
    public var optimizer: [String: Tensor]
    public var progress: TrainingProgress
    /// The model configuration (open_clip JSON), when known.
    public var modelConfig: String?
    /// The resolved training configuration (JSON), when known.
    public var trainingConfig: String?
    /// A defence's resumable tensors (e.g. SafeCLIP's memory banks), keyed without the prefix.
    public var defense: [String: Tensor]

    public init(
        model: [String: Tensor], optimizer: [String: Tensor] = [:], progress: TrainingProgress = TrainingProgress(),
        modelConfig: String? = nil, trainingConfig: String? = nil, defense: [String: Tensor] = [:]
    ) {
        self.defense = defense
        self.model = model
        self.optimizer = optimizer
        self.progress = progress
        self.modelConfig = modelConfig
        self.trainingConfig = trainingConfig
    }

    /// Writes the checkpoint atomically (a reader never sees a half-written file).
    public func write(toPath path: String) throws {
        var tensors: [(String, Tensor)] = model.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        tensors += optimizer.sorted { $0.key < $1.key }.map { (Checkpoint.optimizerPrefix + $0.key, $0.value) }
        tensors += defense.sorted { $0.key < $1.key }.map { (Checkpoint.defensePrefix + $0.key, $0.value) }
        var metadata = ["format": Checkpoint.format]
        metadata["progress"] = String(decoding: try JSONEncoder().encode(progress), as: UTF8.self)
        if let modelConfig { metadata["clip_config"] = modelConfig }
        if let trainingConfig { metadata["training_config"] = trainingConfig }
        try saveSafeTensors(tensors, metadata: metadata, toPath: path)
    }

    /// Reads a checkpoint, or plain model weights (a safetensors `state_dict`, e.g. written by
    /// open_clip), which give an empty optimizer state and zero progress.
    public static func read(atPath path: String) throws -> Checkpoint {
        let tensors: [String: Tensor], metadata: [String: String]
        do {
            (tensors, metadata) = try loadSafeTensors(atPath: path)
        } catch let error as SafeTensorsError {
            // A file of another kind (CSV, JSON, PNG…) is named as such, not by its "header length".
            try WeightsFileKind.requireWeights(atPath: path)
            throw error
        }
        var model: [String: Tensor] = [:], optimizer: [String: Tensor] = [:], defense: [String: Tensor] = [:]
        for (key, value) in tensors {
            if key.hasPrefix(optimizerPrefix) {
                optimizer[String(key.dropFirst(optimizerPrefix.count))] = value
            } else if key.hasPrefix(defensePrefix) {
                defense[String(key.dropFirst(defensePrefix.count))] = value
            } else {
                model[key] = value
            }
        }
        var progress = TrainingProgress()
        if let text = metadata["progress"] {
            do {
                progress = try JSONDecoder().decode(TrainingProgress.self, from: Data(text.utf8))
            } catch {
                throw TorchError.checkpoint(file: path, key: "__metadata__.progress", reason: "unreadable progress record: \(error)")
            }
        }
        return Checkpoint(
            model: model, optimizer: optimizer, progress: progress, modelConfig: metadata["clip_config"],
            trainingConfig: metadata["training_config"], defense: defense)
    }

    /// Whether the file carries training state (as opposed to plain weights).
    public var isTrainingCheckpoint: Bool { !optimizer.isEmpty }
}

/// Builds a CLIP model from a weights file: a training checkpoint, a `model.safetensors` from a
/// run, or an open_clip `state_dict` saved as safetensors.
///
/// - Parameter model: a model name or config file; required when the file carries no config
///   (open_clip's files), otherwise it overrides the file's.
/// - Throws: when no config is known, when the weights do not fit the config (every missing,
///   unexpected or mis-shaped key is named), or the reader's errors.
public func loadCLIPModel(weightsPath: String, model: String? = nil, device: Device = .cpu) throws -> CLIPModel {
    let checkpoint = try Checkpoint.read(atPath: weightsPath)
    let config: CLIPConfig
    if let model {
        config = FileManager.default.fileExists(atPath: model)
            ? try CLIPConfig(contentsOf: URL(fileURLWithPath: model)) : try CLIPConfig.named(model)
    } else if let json = checkpoint.modelConfig {
        config = try CLIPConfig.decode(Data(json.utf8))
    } else {
        throw TrainingError.model("\(weightsPath) names no model config; pass --model NAME or a config JSON")
    }
    // A config that describes a much larger model than the file holds (a hostile or mismatched
    // `clip_config`) would allocate it before the shapes are compared; refuse it first.
    let stored = checkpoint.model.values.reduce(0.0) { $0 + Double($1.count) }
    if config.estimatedParameterCount > 1.5 * stored + 1_000_000 {
        throw TrainingError.model(
            "\(weightsPath): the model config describes about \(Int(config.estimatedParameterCount)) parameters but the file holds \(Int(stored)) values; pass the right --model")
    }
    let clip = CLIPModel(config: config, device: device)
    try clip.load(checkpoint.model, source: weightsPath)
    return clip
}
