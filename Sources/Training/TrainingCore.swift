import CLIP
import Datasets
import Foundation
import NN
import Torch

/// The machinery every trainer shares (plain CLIP and the defences): the run folder and its
/// refusal to overwrite, the model, tokenizer and optimizer, the metrics log, one optimizer step,
/// and checkpoints with the progress record.
final class TrainingCore {
    let config: TrainingConfig
    let runDirectory: String
    let model: CLIPModel
    let tokenizer: CLIPTokenizer
    let optimizer: AdamW
    let collective: any Collective
    let device: Device
    /// The metrics log (rank 0 only; the other ranks write nothing into the run folder).
    private(set) var metrics: MetricsLog?
    let reporter: ProgressReporter
    var progress = TrainingProgress()
    /// Defence tensors read from the checkpoint on resume (banks, pools), keyed without prefix.
    private(set) var resumedDefenseTensors: [String: Tensor] = [:]
    /// TensorBoard event file of the run (rank 0, with `--tensorboard`).
    private(set) var tensorboard: TensorBoardWriter?
    /// The run folder's lock (rank 0), held while this run lives.
    private var lock: RunFolderLock?

    var checkpointPath: String { runDirectory + "/checkpoint.safetensors" }
    var finalWeightsPath: String { runDirectory + "/model.safetensors" }

    /// Checks the settings and builds the model (fresh from `config.model` and `config.seed`, or
    /// from `config.initWeights`) and the optimizer. Touches no file: the run folder is prepared
    /// by ``open(resume:)`` once every input has been checked.
    init(config: TrainingConfig, runDirectory: String, collective: any Collective, reporter: ProgressReporter) throws {
        try config.validate()
        self.config = config
        self.runDirectory = runDirectory
        self.collective = collective
        self.reporter = reporter
        if let threads = config.threads { Runtime.threads = threads }
        // A rank of a distributed job trains on the device its collective was made for (its GPU).
        device = try (collective as? DistributedCollective)?.device ?? Device(parsing: config.device)

        do {
            if let initial = config.initWeights {
                model = try loadCLIPModel(weightsPath: initial, model: config.model.isEmpty ? nil : config.model, device: device)
            } else if FileManager.default.fileExists(atPath: config.model) {
                model = try CLIPModel(configFile: config.model, seed: config.seed, device: device)
            } else {
                model = try CLIPModel.named(config.model, seed: config.seed, device: device)
            }
        } catch {
            throw TrainingError.model("model '\(config.initWeights ?? config.model)': \(error)")
        }
        // A ResNet tower trains faster channels-last on the CPU (oneDNN; measured with
        // clipguard-bench: RN50 fp32 step 16.6 → 12.5 s, bf16 14.6 → 13.6 s; tiny-rn fp32 0.62 → 0.52 s).
        if case .resnet = model.visual, case .cpu = device { model.useChannelsLast() }
        tokenizer = try CLIPTokenizer.load()
        optimizer = AdamW(
            groups: weightDecayGroups(model.store.trainableParameters(), weightDecay: config.weightDecay),
            learningRate: config.lr, beta1: config.beta1, beta2: config.beta2, eps: config.eps, fused: true)
    }

    /// Prepares the run folder and — with `resume` — loads the saved state.
    ///
    /// Rank 0 owns the folder: it takes an exclusive lock (a second run into the same folder is
    /// refused; a lock left by a killed process is released by the kernel), removes temporary
    /// files of interrupted writes, refuses to overwrite a run that has a checkpoint unless
    /// resuming, restarts a folder whose run never wrote a checkpoint, and — on resume — refuses
    /// settings that would change the result (see ``TrainingConfig/resumeConflicts(saved:)``).
    func open(resume: Bool) throws {
        let fm = FileManager.default
        let checkpointFile = checkpointPath
        if collective.rank == 0 {
            // Nothing that is not this run's own is ever written (RunFolderGuard); the lock then
            // keeps a second process out, and the guard's answer is checked again under it. (A
            // finished run resumed here — an experiment row whose evaluation was interrupted —
            // ends at once with its weights; `train --resume` stops before, saying it is finished.)
            _ = try RunFolderGuard.check(runDirectory, kind: .training, resume: resume)
            try fm.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
            lock = try RunFolderLock(folder: runDirectory)
            RunFolderLock.removeTemporaryFiles(in: runDirectory, reporter: reporter)
            let decision = try RunFolderGuard.check(runDirectory, kind: .training, resume: resume)
            if decision == .restart && fm.fileExists(atPath: runDirectory + "/metrics.jsonl") {
                reporter.log("\(runDirectory): the earlier run stopped before its first checkpoint; starting it again")
                try fm.removeItem(atPath: runDirectory + "/metrics.jsonl")
            }
            if resume, let saved = try? ConfigFile.load(TrainingConfig.self, path: runDirectory + "/config.json", notes: { _ in }) {
                let conflicts = config.resumeConflicts(saved: saved)
                if !conflicts.changesResult.isEmpty {
                    throw TrainingError.runFolder(
                        path: runDirectory,
                        reason: "--resume with changed settings that alter the result: \(conflicts.changesResult.joined(separator: ", ")) (as saved in config.json: \(conflicts.savedValues)); resume with the saved settings or start a new run with --out")
                }
                if !conflicts.harmless.isEmpty {
                    reporter.log("resuming with changed settings that do not alter the result: \(conflicts.harmless.joined(separator: ", "))")
                }
            }
            metrics = try MetricsLog(path: runDirectory + "/metrics.jsonl")
            if config.tensorboard { tensorboard = try TensorBoardWriter(directory: runDirectory + "/tensorboard") }
        } else if resume && !fm.fileExists(atPath: checkpointFile) {
            throw TrainingError.runFolder(path: runDirectory, reason: "no checkpoint.safetensors to resume from")
        }
        if resume {
            let checkpoint = try Checkpoint.read(atPath: checkpointFile)
            try model.load(checkpoint.model, source: checkpointFile)
            try optimizer.loadStateDict(checkpoint.optimizer)
            progress = checkpoint.progress
            resumedDefenseTensors = checkpoint.defense
            try metrics?.truncate(afterStep: progress.globalStep)
            // TensorBoard hides what the interrupted session logged after the checkpoint.
            try tensorboard?.markRestart(step: progress.globalStep + 1)
            reporter.log("resuming \(runDirectory) at epoch \(progress.epoch + 1), step \(progress.globalStep)")
        }
        // All ranks start from rank 0's (fresh or resumed) weights.
        if collective.worldSize > 1 { try collective.broadcast(model.store.stateDict().map(\.tensor)) }
        if collective.rank == 0 {
            try ConfigFile.jsonData(config).write(to: URL(fileURLWithPath: runDirectory + "/config.json"), options: .atomic)
        }
    }

    /// Appends `record` to `metrics.jsonl` and, with `--tensorboard`, its numbers (but counters
    /// such as `step` and `epoch`) to the event file as `GROUP/key` at `step`.
    func record(_ record: some Encodable, group: String, step: Int) throws {
        guard let line = try metrics?.append(record), let tensorboard else { return }
        guard let object = try JSONSerialization.jsonObject(with: line) as? [String: Any] else { return }
        let counters: Set<String> = ["step", "epoch", "epoch_end", "selection_epoch"]
        var scalars: [String: Double] = [:]
        for (key, value) in object where !counters.contains(key) {
            // A JSON boolean reads back as an NSNumber of type `c`: a flag, not a metric.
            if let number = value as? NSNumber, String(cString: number.objCType) != "c" {
                scalars["\(group)/\(key)"] = number.doubleValue
            }
        }
        if !scalars.isEmpty { try tensorboard.add(scalars: scalars, step: step) }
    }

    /// Releases the run folder's lock (the run is over: finished or stopped with a checkpoint).
    func releaseLock() { lock = nil }

    /// Opens the training data named by the configuration.
    func openTrainingData() throws -> any ImageTextDataset {
        try openDataset(
            atPath: config.data, csvOptions: CSVOptions(imageColumn: config.imageColumn, captionColumn: config.captionColumn))
    }

    /// A batch's images `[n, 3, S, S]` float32 and tokens `[n, context]` int64 on the device.
    func tensors(of batch: Batch) -> ModelInput {
        let n = batch.count
        let size = model.config.vision.imageSize
        let context = model.config.text.contextLength
        let images = Tensor(batch.images, shape: [n, 3, size, size]).to(device)
        let ids = tokenizer.tokenize(batch: batch.captions, contextLength: context).map(Int64.init)
        return ModelInput(images: images, tokens: Tensor(ids, shape: [n, context]).to(device))
    }

    /// L2-normalised float32 features of a model input under the trained model (or `other`),
    /// gathered over the workers. Call inside ``autocast(_:)``.
    func features(of input: ModelInput, training: Bool, model other: CLIPModel? = nil) throws -> ViewFeatures {
        let model = other ?? model
        let image = model.encodeImage(input.images, training: training).to(.float32).normalized(dim: -1)
        let text = model.encodeText(input.tokens, training: training).to(.float32).normalized(dim: -1)
        let gathered = try collective.gatherFeatures([image, text])
        return ViewFeatures(image: gathered[0], text: gathered[1])
    }

    /// Runs `body` under bf16 autocast when the configuration asks for it.
    func autocast<R>(_ body: () throws -> R) rethrows -> R {
        try Torch.autocast(device: device, enabled: config.precision == "bf16", body)
    }

    /// Combines the workers' gradients (a no-op in one process): sums those of the parameters
    /// reached through each rank's features, averages the logit scale's (see ``Collective``).
    func reduceGradients() throws {
        guard collective.worldSize > 1 else { return }
        let parameters = model.store.trainableParameters()
        let replicated = parameters.filter { $0.name == "logit_scale" }.map(\.tensor)
        let partial = parameters.filter { $0.name != "logit_scale" }.map(\.tensor)
        try collective.reduceGradients(partial: partial, replicated: replicated)
    }

    /// Writes the checkpoint (rank 0 only) with the current progress and `defense` tensors.
    func saveCheckpoint(defense: [String: Tensor] = [:]) throws {
        guard collective.rank == 0 else { return }
        let modelConfig = String(decoding: try model.config.jsonData(), as: UTF8.self)
        let trainingConfig = String(decoding: try ConfigFile.jsonData(config), as: UTF8.self)
        try Checkpoint(
            model: Dictionary(uniqueKeysWithValues: model.store.stateDict().map { ($0.name, $0.tensor) }),
            optimizer: optimizer.stateDict(), progress: progress, modelConfig: modelConfig, trainingConfig: trainingConfig,
            defense: defense
        ).write(toPath: checkpointPath)
    }

    /// Writes the final weights (rank 0 only).
    func saveFinalWeights() throws {
        if collective.rank == 0 { try model.saveSafeTensors(toPath: finalWeightsPath) }
    }
}
