import CLIP
import Datasets
import Evaluation
import Foundation
import NN
import Torch

/// Errors of a training run, naming the file or setting at fault.
public enum TrainingError: Error, CustomStringConvertible {
    case runFolder(path: String, reason: String)
    case data(String)
    case model(String)
    case diverged(step: Int, loss: Double)

    public var description: String {
        switch self {
        case .runFolder(let path, let reason): "\(path): \(reason)"
        case .data(let message): message
        case .model(let message): message
        case .diverged(let step, let loss): "training diverged at step \(step) (loss \(loss)); lower the learning rate"
        }
    }
}

/// How a run ended.
public struct TrainingSummary: Sendable {
    public var progress: TrainingProgress
    /// True when the run stopped early on a signal (a checkpoint was written).
    public var interrupted: Bool
    public var finalLoss: Double?
    public var lastEvaluation: ZeroShotSummary?
}

/// Zero-shot figures of one evaluation.
public struct ZeroShotSummary: Sendable, Codable, Equatable {
    public var top1: Double
    public var top5: Double
    public var count: Int
}

/// Moves features between data-parallel workers. The single-process implementation is the
/// identity; a distributed one all-gathers features (keeping the local slice's gradient) and
/// all-reduces gradients, so the step loop below stays the same at any world size.
public protocol Collective: AnyObject {
    var rank: Int { get }
    var worldSize: Int { get }
    /// `[n, D]` local features → `[n · worldSize, D]` global features, local rows keeping their gradient.
    func gatherFeatures(_ local: Tensor) -> Tensor
    /// Averages every parameter's gradient over the workers.
    func averageGradients(_ parameters: [Tensor])
}

/// The single-process ``Collective``.
public final class LocalCollective: Collective {
    public init() {}
    public var rank: Int { 0 }
    public var worldSize: Int { 1 }
    public func gatherFeatures(_ local: Tensor) -> Tensor { local }
    public func averageGradients(_ parameters: [Tensor]) {}
}

/// Trains a CLIP model on image–caption pairs with the CLIP loss (SPEC §1).
///
/// The run folder holds `config.json` (resolved settings), `metrics.jsonl` (one record per
/// step and per epoch), `checkpoint.safetensors` (model, optimizer, progress; rewritten
/// atomically after every epoch and on SIGINT/SIGTERM) and `model.safetensors` (final weights,
/// loadable by `clipguard eval` and by open_clip). A run resumed from its checkpoint continues
/// exactly where it stopped: data order, model, optimizer and schedule are functions of the
/// seed and the step, so on CPU the result equals an uninterrupted run's.
public final class CLIPTrainer {
    public let config: TrainingConfig
    public let runDirectory: String
    public let model: CLIPModel
    public let tokenizer: CLIPTokenizer
    public let loader: DataLoader
    public let optimizer: AdamW
    public let schedule: LRSchedule
    public let collective: any Collective
    /// Called after every optimizer step with the step's metrics record (for tests and tools).
    public var onStep: ((TrainingProgress, [String: Any]) -> Void)?
    /// Stops the run (with a checkpoint) after this many optimizer steps of this session.
    public var stopAfterSteps: Int?
    /// Called at the end of every epoch (1-based number) before its metrics record is written;
    /// the returned fields are added to that record (e.g. an attack success rate per epoch).
    public var onEpochEnd: ((Int) throws -> [String: Any])?

    public let device: Device
    private var progress = TrainingProgress()
    private let metrics: MetricsLog
    private let reporter: ProgressReporter
    private let evaluationSet: (any ClassificationDataset)?

    public var checkpointPath: String { runDirectory + "/checkpoint.safetensors" }
    public var finalWeightsPath: String { runDirectory + "/model.safetensors" }

    /// Prepares a run: model, data, optimizer, and — with `resume` — the saved state.
    ///
    /// - Throws: ``TrainingError`` when the run folder already holds a run and `resume` is false
    ///   (nothing there is overwritten), for unreadable data or model configs, and the
    ///   checkpoint reader's errors for a damaged checkpoint.
    public init(
        config: TrainingConfig, runDirectory: String, resume: Bool = false, collective: any Collective = LocalCollective(),
        reporter: ProgressReporter = ProgressReporter()
    ) throws {
        try config.validate()
        self.config = config
        self.runDirectory = runDirectory
        self.collective = collective
        self.reporter = reporter
        let fm = FileManager.default
        try fm.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let checkpointFile = runDirectory + "/checkpoint.safetensors"
        let hasCheckpoint = fm.fileExists(atPath: checkpointFile)
        if !resume && (hasCheckpoint || fm.fileExists(atPath: runDirectory + "/metrics.jsonl")) {
            throw TrainingError.runFolder(
                path: runDirectory, reason: "already holds a run; pass --resume to continue it or choose a new --out")
        }
        if resume && !hasCheckpoint {
            throw TrainingError.runFolder(path: runDirectory, reason: "no checkpoint.safetensors to resume from")
        }
        if let threads = config.threads { Runtime.threads = threads }
        device = try Device(parsing: config.device)

        // Model.
        do {
            if fm.fileExists(atPath: config.model) {
                model = try CLIPModel(configFile: config.model, seed: config.seed, device: device)
            } else {
                model = try CLIPModel.named(config.model, seed: config.seed, device: device)
            }
        } catch {
            throw TrainingError.model("model '\(config.model)': \(error)")
        }
        tokenizer = try CLIPTokenizer.load()

        // Data.
        let dataset = try openDataset(
            atPath: config.data, csvOptions: CSVOptions(imageColumn: config.imageColumn, captionColumn: config.captionColumn))
        let perRank = config.batchSize / collective.worldSize
        guard perRank >= 1, dataset.count / collective.worldSize >= perRank else {
            throw TrainingError.data("\(config.data): \(dataset.count) items cannot fill one batch of \(config.batchSize)")
        }
        loader = try DataLoader(
            dataset: dataset,
            config: LoaderConfig(
                batchSize: perRank, shuffle: true, seed: config.seed, rank: collective.rank,
                worldSize: collective.worldSize, dropLast: true, workers: config.workers,
                maxFailureFraction: config.maxFailureFraction,
                preprocessing: .resizeCenterCrop(size: model.config.vision.imageSize)))
        if let evalData = config.evalData {
            evaluationSet = try openClassificationSet(atPath: evalData)
        } else {
            evaluationSet = nil
        }

        // Optimizer and schedule over the optimizer steps the run will take.
        optimizer = AdamW(
            groups: weightDecayGroups(model.store.trainableParameters(), weightDecay: config.weightDecay),
            learningRate: config.lr, beta1: config.beta1, beta2: config.beta2, eps: config.eps, fused: true)
        let totalSteps = config.epochs * CLIPTrainer.stepsPerEpoch(batches: loader.plannedBatches(epoch: 0).count, accumulation: config.accumulation)
        schedule = .warmupCosine(baseLR: config.lr, warmupSteps: min(config.warmupSteps, max(0, totalSteps - 1)), totalSteps: totalSteps)

        // Run folder.
        metrics = try MetricsLog(path: runDirectory + "/metrics.jsonl")
        if resume {
            let checkpoint = try Checkpoint.read(atPath: checkpointFile)
            try model.load(checkpoint.model, source: checkpointFile)
            try optimizer.loadStateDict(checkpoint.optimizer)
            progress = checkpoint.progress
            try metrics.truncate(afterStep: progress.globalStep)
            reporter.log("resuming \(runDirectory) at epoch \(progress.epoch + 1), step \(progress.globalStep)")
        }
        try ConfigFile.jsonData(config).write(to: URL(fileURLWithPath: runDirectory + "/config.json"), options: .atomic)
    }

    /// Optimizer steps in an epoch of `batches` micro-batches.
    static func stepsPerEpoch(batches: Int, accumulation: Int) -> Int { batches / accumulation }

    /// Trains until the last epoch or a stop signal.
    public func run(stopSignal: StopSignal? = nil) throws -> TrainingSummary {
        let stepsInEpoch = CLIPTrainer.stepsPerEpoch(batches: loader.plannedBatches(epoch: 0).count, accumulation: config.accumulation)
        let totalSteps = config.epochs * stepsInEpoch
        let sessionStart = Date()
        let elapsedBefore = progress.elapsedSeconds
        var sessionSteps = 0
        var lastLoss: Double?
        var lastEvaluation: ZeroShotSummary?
        let parameters = model.store.trainableParameters().map(\.tensor)
        let imageSize = model.config.vision.imageSize
        let context = model.config.text.contextLength

        while progress.epoch < config.epochs {
            let epoch = progress.epoch
            let iterator = loader.epoch(epoch, startingAtBatch: progress.stepInEpoch * config.accumulation)
            var micro = 0
            var accumulatedLoss = 0.0
            var stepStart = Date()
            var pairs = 0
            while let batch = try iterator.next() {
                let n = batch.count
                let images = Tensor(batch.images, shape: [n, 3, imageSize, imageSize]).to(device)
                let ids = tokenizer.tokenize(batch: batch.captions, contextLength: context).map(Int64.init)
                let tokens = Tensor(ids, shape: [n, context]).to(device)
                let loss = autocast(device: device, enabled: config.precision == "bf16") {
                    let imageFeatures = model.encodeImage(images, training: true).to(.float32).normalized(dim: -1)
                    let textFeatures = model.encodeText(tokens, training: true).to(.float32).normalized(dim: -1)
                    return clipLoss(
                        imageFeatures: collective.gatherFeatures(imageFeatures),
                        textFeatures: collective.gatherFeatures(textFeatures), logitScale: model.logitScale)
                }
                (loss / Double(config.accumulation)).backward()
                accumulatedLoss += loss.item() / Double(config.accumulation)
                pairs += n
                micro += 1
                guard micro == config.accumulation else { continue }
                micro = 0

                // One optimizer step.
                collective.averageGradients(parameters)
                var gradNorm: Double?
                if let clip = config.gradClip { gradNorm = clipGradNorm(optimizer, maxNorm: clip) }
                let lr = schedule(progress.globalStep)
                optimizer.learningRate = lr
                optimizer.step()
                optimizer.zeroGrad()
                model.clampLogitScale()
                guard accumulatedLoss.isFinite else { throw TrainingError.diverged(step: progress.globalStep, loss: accumulatedLoss) }

                progress.globalStep += 1
                progress.stepInEpoch += 1
                sessionSteps += 1
                let seconds = Date().timeIntervalSince(stepStart)
                let rate = Double(pairs * collective.worldSize) / max(seconds, 1e-9)
                lastLoss = accumulatedLoss
                var record: [String: Any] = [
                    "step": progress.globalStep, "epoch": epoch + 1, "loss": accumulatedLoss, "lr": lr,
                    "logit_scale": model.logitScale.exp().item(), "pairs_per_s": rate, "seconds": seconds,
                ]
                if let gradNorm { record["grad_norm"] = gradNorm }
                if collective.rank == 0 { try metrics.append(record) }
                onStep?(progress, record)
                reporter.update(
                    .init(
                        epoch: epoch, epochs: config.epochs, stepInEpoch: progress.stepInEpoch, stepsPerEpoch: stepsInEpoch,
                        globalStep: progress.globalStep, totalSteps: totalSteps, loss: accumulatedLoss,
                        pairsPerSecond: rate, learningRate: lr),
                    stepsThisSession: sessionSteps, secondsThisSession: Date().timeIntervalSince(sessionStart))
                accumulatedLoss = 0
                pairs = 0
                stepStart = Date()

                if stopSignal?.received != nil || (stopAfterSteps.map { sessionSteps >= $0 } ?? false) {
                    iterator.cancel()
                    progress.elapsedSeconds = elapsedBefore + Date().timeIntervalSince(sessionStart)
                    try saveCheckpoint()
                    let why = stopSignal?.received.map { "signal \($0)" } ?? "requested stop"
                    reporter.log("stopped by \(why) at step \(progress.globalStep); resume with --resume")
                    return TrainingSummary(progress: progress, interrupted: true, finalLoss: lastLoss, lastEvaluation: nil)
                }
            }

            // End of epoch: micro-batches that did not complete an accumulation are dropped.
            if micro > 0 { optimizer.zeroGrad() }
            let report = iterator.report
            if report.skipped > 0 { reporter.log("epoch \(epoch + 1) data: \(report)") }
            var epochRecord: [String: Any] = [
                "epoch_end": epoch + 1, "step": progress.globalStep, "loaded": report.loaded, "skipped": report.skipped,
            ]
            if let set = evaluationSet, (epoch + 1) % config.evalEvery == 0 || epoch + 1 == config.epochs {
                let result = try evaluate(on: set)
                lastEvaluation = result
                epochRecord["zeroshot_top1"] = result.top1
                epochRecord["zeroshot_top5"] = result.top5
                epochRecord["zeroshot_n"] = result.count
                reporter.log(String(format: "epoch %d: zero-shot top-1 %.2f%%, top-5 %.2f%% (n = %d)", epoch + 1, 100 * result.top1, 100 * result.top5, result.count))
            }
            if let onEpochEnd {
                for (key, value) in try onEpochEnd(epoch + 1) { epochRecord[key] = value }
            }
            progress.epoch += 1
            progress.stepInEpoch = 0
            progress.elapsedSeconds = elapsedBefore + Date().timeIntervalSince(sessionStart)
            epochRecord["elapsed_s"] = progress.elapsedSeconds
            if collective.rank == 0 { try metrics.append(epochRecord) }
            try saveCheckpoint()
        }
        if collective.rank == 0 { try model.saveSafeTensors(toPath: finalWeightsPath) }
        return TrainingSummary(progress: progress, interrupted: false, finalLoss: lastLoss, lastEvaluation: lastEvaluation)
    }

    /// Zero-shot top-1/top-5 of the current model on a labelled set.
    public func evaluate(on set: any ClassificationDataset) throws -> ZeroShotSummary {
        let classifier = ZeroShotClassifier(model: model, tokenizer: tokenizer, classNames: set.classNames, templates: set.templates)
        let result = try evaluateZeroShot(model: model, classifier: classifier, dataset: set, workers: config.workers)
        return ZeroShotSummary(top1: result.top1, top5: result.top5, count: result.counts.total)
    }

    private func saveCheckpoint() throws {
        guard collective.rank == 0 else { return }
        let modelConfig = String(decoding: try model.config.jsonData(), as: UTF8.self)
        let trainingConfig = String(decoding: try ConfigFile.jsonData(config), as: UTF8.self)
        try Checkpoint(
            model: Dictionary(uniqueKeysWithValues: model.store.stateDict().map { ($0.name, $0.tensor) }),
            optimizer: optimizer.stateDict(), progress: progress, modelConfig: modelConfig, trainingConfig: trainingConfig
        ).write(toPath: checkpointPath)
    }
}

/// Opens a labelled evaluation set: a folder with `labels.csv` or class sub-folders and a
/// `classes.json` (as `clipguard data prepare` writes), or CIFAR binary files.
public func openClassificationSet(atPath path: String) throws -> any ClassificationDataset {
    let set = try openDataset(atPath: path)
    guard let labelled = set as? any ClassificationDataset else {
        throw TrainingError.data("\(path): not a labelled evaluation set (expected labels.csv or class folders with classes.json)")
    }
    return labelled
}
