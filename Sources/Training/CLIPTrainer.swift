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
///
/// Every rank computes the loss over the whole gathered batch, but back-propagates only
/// through its own rows. A parameter reached through the features (the encoders) thus holds a
/// partial gradient on each rank, and the full gradient is their sum; a parameter used directly
/// by the loss (the logit scale) holds the full gradient on every rank, so it is averaged.
/// With that, W ranks with batch B/W step exactly as one process with batch B.
public protocol Collective: AnyObject {
    var rank: Int { get }
    var worldSize: Int { get }
    /// Local features → global features: each of `locals` is `[n, D_i]` (one `n` for all of
    /// them; `n` may differ between ranks when items failed to load) and becomes `[N, D_i]`, N
    /// the sum of the ranks' `n`, rows in rank order; the local rows keep their gradient.
    func gatherFeatures(_ locals: [Tensor]) throws -> [Tensor]
    /// Combines the workers' gradients in place: sums those of `partial` (parameters reached
    /// through this rank's features) and averages those of `replicated` (parameters that every
    /// rank's loss uses directly).
    func reduceGradients(partial: [Tensor], replicated: [Tensor]) throws
    /// Whether any worker passes true (every worker must call it at the same step).
    func anyWorker(_ flag: Bool) throws -> Bool
    /// The element-wise sum of every worker's `values` (all workers pass the same count); a
    /// sharded pass fills its own entries, leaves the rest 0, and gets the whole table back.
    func sum(_ values: [Double]) throws -> [Double]
    /// Overwrites `tensors` with rank 0's values on every rank (parameters after building or
    /// resuming a model).
    func broadcast(_ tensors: [Tensor]) throws
}

/// The single-process ``Collective``.
public final class LocalCollective: Collective {
    public init() {}
    public var rank: Int { 0 }
    public var worldSize: Int { 1 }
    public func gatherFeatures(_ locals: [Tensor]) -> [Tensor] { locals }
    public func reduceGradients(partial: [Tensor], replicated: [Tensor]) {}
    public func anyWorker(_ flag: Bool) -> Bool { flag }
    public func sum(_ values: [Double]) -> [Double] { values }
    public func broadcast(_ tensors: [Tensor]) {}
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
    public var config: TrainingConfig { core.config }
    public var runDirectory: String { core.runDirectory }
    public var model: CLIPModel { core.model }
    public var tokenizer: CLIPTokenizer { core.tokenizer }
    public let loader: DataLoader
    public var optimizer: AdamW { core.optimizer }
    public let schedule: LRSchedule
    public var collective: any Collective { core.collective }
    /// Called after every optimizer step with the step's metrics record (for tests and tools).
    public var onStep: ((TrainingProgress, [String: Any]) -> Void)?
    /// Stops the run (with a checkpoint) after this many optimizer steps of this session.
    public var stopAfterSteps: Int?
    /// Called at the end of every epoch (1-based number) before its metrics record is written;
    /// the returned fields are added to that record (e.g. an attack success rate per epoch).
    public var onEpochEnd: ((Int) throws -> [String: Any])?

    public var device: Device { core.device }
    let core: TrainingCore
    private let evaluationSet: (any ClassificationDataset)?

    public var checkpointPath: String { core.checkpointPath }
    public var finalWeightsPath: String { core.finalWeightsPath }

    /// Prepares a run: model, data, optimizer, and — with `resume` — the saved state.
    ///
    /// - Throws: ``TrainingError`` when the run folder already holds a run and `resume` is false
    ///   (nothing there is overwritten), for unreadable data or model configs, and the
    ///   checkpoint reader's errors for a damaged checkpoint.
    public init(
        config: TrainingConfig, runDirectory: String, resume: Bool = false, collective: any Collective = LocalCollective(),
        reporter: ProgressReporter = ProgressReporter()
    ) throws {
        core = try TrainingCore(config: config, runDirectory: runDirectory, resume: resume, collective: collective, reporter: reporter)
        let dataset = try core.openTrainingData()
        guard config.batchSize % collective.worldSize == 0 else {
            throw TrainingError.data("batch size \(config.batchSize) is not a multiple of the world size \(collective.worldSize)")
        }
        let perRank = config.batchSize / collective.worldSize
        guard perRank >= 1, dataset.count / collective.worldSize >= perRank else {
            throw TrainingError.data("\(config.data): \(dataset.count) items cannot fill one batch of \(config.batchSize)")
        }
        loader = try DataLoader(
            dataset: dataset,
            config: LoaderConfig(
                batchSize: perRank, shuffle: config.shuffle, seed: config.seed, rank: collective.rank,
                worldSize: collective.worldSize, dropLast: true, workers: config.workers,
                maxFailureFraction: config.maxFailureFraction,
                preprocessing: .resizeCenterCrop(size: core.model.config.vision.imageSize)))
        evaluationSet = try config.evalData.map(openClassificationSet(atPath:))
        // The schedule runs over the optimizer steps the run will take.
        let totalSteps = config.epochs * CLIPTrainer.stepsPerEpoch(batches: loader.plannedBatches(epoch: 0).count, accumulation: config.accumulation)
        schedule = .warmupCosine(baseLR: config.lr, warmupSteps: min(config.warmupSteps, max(0, totalSteps - 1)), totalSteps: totalSteps)
    }

    /// Optimizer steps in an epoch of `batches` micro-batches.
    static func stepsPerEpoch(batches: Int, accumulation: Int) -> Int { batches / accumulation }

    /// Trains until the last epoch or a stop signal.
    public func run(stopSignal: StopSignal? = nil) throws -> TrainingSummary {
        let stepsInEpoch = CLIPTrainer.stepsPerEpoch(batches: loader.plannedBatches(epoch: 0).count, accumulation: config.accumulation)
        let totalSteps = config.epochs * stepsInEpoch
        var session = TrainingSession(core: core, stopSignal: stopSignal, stopAfterSteps: stopAfterSteps)
        session.epochFields = onEpochEnd
        var lastEvaluation: ZeroShotSummary?

        while core.progress.epoch < config.epochs {
            let epoch = core.progress.epoch
            let iterator = loader.epoch(epoch, startingAtBatch: core.progress.stepInEpoch * config.accumulation)
            var micro = 0
            var accumulatedLoss = 0.0
            var pairs = 0
            while let batch = try iterator.next() {
                let loss = try core.autocast {
                    let f = try core.features(of: batch, training: true)
                    return clipLoss(imageFeatures: f.image, textFeatures: f.text, logLogitScale: model.logLogitScale)
                }
                (loss / Double(config.accumulation)).backward()
                accumulatedLoss += loss.item() / Double(config.accumulation)
                pairs += batch.count
                micro += 1
                guard micro == config.accumulation else { continue }
                micro = 0

                let lr = schedule(core.progress.globalStep)
                let record = try session.finishStep(
                    epoch: epoch, loss: accumulatedLoss, lr: lr, pairs: pairs, stepsPerEpoch: stepsInEpoch, totalSteps: totalSteps)
                onStep?(core.progress, record)
                accumulatedLoss = 0
                pairs = 0
                if try session.stopIfAsked(cancelling: [iterator]) {
                    return session.summary(interrupted: true)
                }
            }

            // End of epoch: micro-batches that did not complete an accumulation are dropped.
            if micro > 0 { optimizer.zeroGrad() }
            let report = iterator.report
            if report.skipped > 0 { core.reporter.log("epoch \(epoch + 1) data: \(report)") }
            var epochRecord = try session.epochRecord(epoch: epoch, loaded: report.loaded, skipped: report.skipped)
            if let set = evaluationSet, (epoch + 1) % config.evalEvery == 0 || epoch + 1 == config.epochs {
                let result = try evaluate(on: set)
                lastEvaluation = result
                epochRecord.merge(result.metricsFields) { $1 }
                core.reporter.log(String(format: "epoch %d: zero-shot top-1 %.2f%%, top-5 %.2f%% (n = %d)", epoch + 1, 100 * result.top1, 100 * result.top5, result.count))
            }
            try session.endEpoch(record: epochRecord)
        }
        try core.saveFinalWeights()
        var summary = session.summary(interrupted: false)
        summary.lastEvaluation = lastEvaluation
        return summary
    }

    /// Zero-shot top-1/top-5 of the current model on a labelled set.
    public func evaluate(on set: any ClassificationDataset) throws -> ZeroShotSummary {
        try evaluateZeroShotSummary(model: model, tokenizer: tokenizer, set: set, workers: config.workers)
    }
}

/// Zero-shot top-1/top-5 of `model` on a labelled set.
func evaluateZeroShotSummary(model: CLIPModel, tokenizer: CLIPTokenizer, set: any ClassificationDataset, workers: Int) throws -> ZeroShotSummary {
    let classifier = ZeroShotClassifier(model: model, tokenizer: tokenizer, classNames: set.classNames, templates: set.templates)
    let result = try evaluateZeroShot(model: model, classifier: classifier, dataset: set, workers: workers)
    return ZeroShotSummary(top1: result.top1, top5: result.top5, count: result.counts.total)
}

extension ZeroShotSummary {
    /// The summary's fields in an epoch's metrics record.
    var metricsFields: [String: Any] { ["zeroshot_top1": top1, "zeroshot_top5": top5, "zeroshot_n": count] }
}

/// One session of a run (from start or resume to the end or a stop): times steps, reports
/// progress, honours stop requests with a checkpoint, closes epochs. Shared by every trainer.
struct TrainingSession {
    let core: TrainingCore
    let stopSignal: StopSignal?
    let stopAfterSteps: Int?
    let start = Date()
    let elapsedBefore: Double
    var steps = 0
    var lastLoss: Double?
    var stepStart = Date()
    /// Extra tensors written with every checkpoint (a defence's banks), read when saving.
    var defenseTensors: () -> [String: Tensor] = { [:] }
    /// Extra fields for each epoch's record (the trainer's `onEpochEnd`), given the 1-based epoch.
    var epochFields: ((Int) throws -> [String: Any])?

    init(core: TrainingCore, stopSignal: StopSignal?, stopAfterSteps: Int?) {
        self.core = core
        self.stopSignal = stopSignal
        self.stopAfterSteps = stopAfterSteps
        elapsedBefore = core.progress.elapsedSeconds
    }

    /// Takes the optimizer step for a computed (backpropagated) loss and logs it.
    mutating func finishStep(
        epoch: Int, loss: Double, lr: Double, pairs: Int, stepsPerEpoch: Int, totalSteps: Int, extra: [String: Any] = [:]
    ) throws -> [String: Any] {
        let gradNorm = try core.optimizerStep(lr: lr)
        let seconds = Date().timeIntervalSince(stepStart)
        let record = try core.recordStep(epoch: epoch, loss: loss, lr: lr, gradNorm: gradNorm, pairs: pairs, seconds: seconds, extra: extra)
        steps += 1
        lastLoss = loss
        core.reporter.update(
            .init(
                epoch: epoch, epochs: core.config.epochs, stepInEpoch: core.progress.stepInEpoch, stepsPerEpoch: stepsPerEpoch,
                globalStep: core.progress.globalStep, totalSteps: totalSteps, loss: loss,
                pairsPerSecond: record["pairs_per_s"] as? Double ?? 0, learningRate: lr),
            stepsThisSession: steps, secondsThisSession: Date().timeIntervalSince(start))
        stepStart = Date()
        return record
    }

    /// Seconds trained over every session so far.
    var elapsed: Double { elapsedBefore + Date().timeIntervalSince(start) }

    /// Writes a checkpoint and returns true when a signal arrived or the step budget is spent.
    func stopIfAsked(cancelling iterators: [EpochIterator]) throws -> Bool {
        // Workers stop together (a signal may reach them a step apart).
        let asked = stopSignal?.received != nil || (stopAfterSteps.map { steps >= $0 } ?? false)
        guard try core.collective.anyWorker(asked) else { return false }
        for iterator in iterators { iterator.cancel() }
        core.progress.elapsedSeconds = elapsed
        try core.saveCheckpoint(defense: defenseTensors())
        let why = stopSignal?.received.map { "signal \($0)" } ?? "requested stop"
        core.reporter.log("stopped by \(why) at step \(core.progress.globalStep); resume with --resume")
        return true
    }

    /// The end-of-epoch record's data fields: items loaded and skipped by all workers together
    /// (each passes its own counts; one small all-reduce).
    func epochRecord(epoch: Int, loaded: Int, skipped: Int) throws -> [String: Any] {
        let total = try core.collective.sum([Double(loaded), Double(skipped)])
        return ["epoch_end": epoch + 1, "step": core.progress.globalStep, "loaded": Int(total[0]), "skipped": Int(total[1])]
    }

    /// Closes the epoch: advances the progress, logs `record` and writes the checkpoint.
    func endEpoch(record: [String: Any]) throws {
        var record = record
        if let epochFields {
            for (key, value) in try epochFields(core.progress.epoch + 1) { record[key] = value }
        }
        core.progress.epoch += 1
        core.progress.stepInEpoch = 0
        core.progress.elapsedSeconds = elapsed
        record["elapsed_s"] = core.progress.elapsedSeconds
        try core.log(record)
        try core.saveCheckpoint(defense: defenseTensors())
    }

    /// The session's summary.
    func summary(interrupted: Bool) -> TrainingSummary {
        TrainingSummary(progress: core.progress, interrupted: interrupted, finalLoss: lastLoss, lastEvaluation: nil)
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
