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

/// A model input: images `[n, 3, S, S]` float32 and tokens `[n, context]` int64, on the device.
public struct ModelInput {
    public var images: Tensor
    public var tokens: Tensor

    public init(images: Tensor, tokens: Tensor) {
        self.images = images
        self.tokens = tokens
    }
}

/// Trains a CLIP model — plain or with a defence — on image–caption pairs: the one training loop
/// of ClipGuard. What it optimises comes from the configuration's ``Defense``, whose
/// ``TrainingObjective`` plans each epoch as segments (rows, views, loss); the loop, the
/// optimizer step, checkpoints, metrics, evaluation and stopping are the same for all.
///
/// The run folder holds `config.json` (resolved settings), `metrics.jsonl` (one typed record per
/// step, per epoch and per selection: ``StepRecord``, ``EpochRecord``, ``SelectionRecord``,
/// ``FilterRecord``), `checkpoint.safetensors` (model, optimizer, progress, the objective's
/// state; rewritten atomically after every epoch, after every selection and on SIGINT/SIGTERM)
/// and `model.safetensors` (final weights, loadable by `clipguard eval` and by open_clip). A
/// run resumed from its checkpoint continues exactly where it stopped — in any phase of any
/// defence — since data order, augmentation, model, optimizer and schedule are functions of the
/// seed and the step: on CPU the result equals an uninterrupted run's.
///
/// ```swift
/// var config = TrainingConfig(data: "data/fm/train.csv", model: "tiny-rn", epochs: 10)
/// config.defense = .safeclip
/// let trainer = try Trainer(config: config, runDirectory: "runs/fm-safeclip")
/// let summary = try trainer.run()
/// ```
public final class Trainer {
    public var config: TrainingConfig { core.config }
    public var runDirectory: String { core.runDirectory }
    public var model: CLIPModel { core.model }
    public var optimizer: AdamW { core.optimizer }
    public var tokenizer: CLIPTokenizer { core.tokenizer }
    public var device: Device { core.device }
    public var checkpointPath: String { core.checkpointPath }
    public var finalWeightsPath: String { core.finalWeightsPath }
    /// Rows of the training data.
    public var trainingPairs: Int { run.dataset.count }
    /// Called after every optimizer step with the progress and the step's record.
    public var onStep: ((TrainingProgress, StepRecord) -> Void)?
    /// Called when an epoch has been planned: the epoch (0-based) and each segment's name and steps.
    public var onEpochPlanned: ((Int, [(name: String, steps: Int)]) -> Void)?
    /// Called at the end of every epoch (1-based number) before its record is written; an
    /// evaluation it returns (clean accuracy and ASR of an experiment row) joins the record.
    public var onEpochEnd: ((Int) throws -> EpochEvaluation?)?
    /// Stops the run (with a checkpoint) after this many optimizer steps of this session.
    public var stopAfterSteps: Int?

    let core: TrainingCore
    let run: TrainingRun
    let objective: any TrainingObjective
    private let evaluationSet: (any ClassificationDataset)?
    // The session: from start or resume to the end or a stop.
    private var sessionStart = Date()
    private var elapsedBefore = 0.0
    private var stepsThisSession = 0
    private var lastLoss: Double?
    private var stopSignal: StopSignal?

    /// Prepares a run: model, data, optimizer, objective and — with `resume` — the saved state.
    ///
    /// - Throws: ``TrainingError`` when the run folder already holds a run and `resume` is false
    ///   (nothing there is overwritten), for unreadable data, model configs or manifests, and
    ///   the checkpoint reader's errors for a damaged checkpoint.
    public init(
        config: TrainingConfig, runDirectory: String, resume: Bool = false, collective: any Collective = LocalCollective(),
        reporter: ProgressReporter = ProgressReporter()
    ) throws {
        guard config.batchSize % collective.worldSize == 0 else {
            throw TrainingError.data("batch size \(config.batchSize) is not a multiple of the world size \(collective.worldSize)")
        }
        core = try TrainingCore(config: config, runDirectory: runDirectory, collective: collective, reporter: reporter)
        // Every input is checked before the run folder is touched.
        let dataset = try core.openTrainingData()
        guard dataset.count >= config.batchSize * config.accumulation else {
            throw TrainingError.data(
                "\(config.data): \(dataset.count) items cannot fill one step of \(config.accumulation) × \(config.batchSize) pairs")
        }
        evaluationSet = try config.evalData.map(openClassificationSet(atPath:))
        try core.open(resume: resume)
        run = try TrainingRun(core: core, dataset: dataset)
        objective = try config.defense.objectiveType.init(run: run)
        try core.recordUsedWarmup(totalSteps: objective.plannedTotalSteps)
        run.commit = { [unowned self] in try saveCheckpoint() }
    }

    // MARK: The loop

    /// Trains until the last epoch or a stop signal.
    public func run(stopSignal: StopSignal? = nil) throws -> TrainingSummary {
        self.stopSignal = stopSignal
        sessionStart = Date()
        elapsedBefore = core.progress.elapsedSeconds
        stepsThisSession = 0
        try objective.prepare()
        var lastEvaluation: ZeroShotSummary?
        while core.progress.epoch < config.epochs {
            let epoch = core.progress.epoch
            let segments = try objective.plan(epoch: epoch)
            onEpochPlanned?(epoch, segments.map { ($0.name, $0.steps) })
            let stepsInEpoch = segments.reduce(0) { $0 + $1.steps }
            var skip = core.progress.stepInEpoch
            var loaded = 0, skipped = 0
            for segment in segments {
                if skip >= segment.steps {
                    skip -= segment.steps
                    continue
                }
                let iterators = segment.loaders.map { $0.epoch(epoch, startingAtBatch: skip * config.accumulation) }
                skip = 0
                while let microBatches = try nextStep(iterators) {
                    let inputs = microBatches.map { views in views.map(core.tensors(of:)) }
                    let record = try step(inputs, loss: segment.loss, epoch: epoch, phase: segment.name, pairs: microBatches.reduce(0) { $0 + $1[0].count })
                    report(record, stepsInEpoch: stepsInEpoch)
                    if try stopIfAsked(cancelling: iterators) { return summary(interrupted: true) }
                }
                loaded += iterators.first?.report.loaded ?? 0
                skipped += iterators.first?.report.skipped ?? 0
                if let report = iterators.first?.report, report.skipped > 0 { core.reporter.log("epoch \(epoch + 1) data: \(report)") }
            }
            lastEvaluation = try endEpoch(epoch, segments: segments, loaded: loaded, skipped: skipped) ?? lastEvaluation
        }
        try core.saveFinalWeights()
        var result = summary(interrupted: false)
        result.lastEvaluation = lastEvaluation
        return result
    }

    /// One optimizer step on `microBatches` (each the views of one micro-batch) with `loss` — the
    /// whole of training, in the order nanoGPT's `train.py` writes it.
    func step(_ microBatches: [[ModelInput]], loss: SegmentLoss, epoch: Int, phase: String, pairs: Int) throws -> StepRecord {
        let started = Date()
        let lr = objective.learningRate(atStep: core.progress.globalStep)  // 1. the schedule's rate
        let multiplier = model.logLogitScale.exp().item()  //    (the loss multiplies by exp(logit_scale))
        let stepLoss =
            microBatches.count == 1
            ? try forwardBackward(microBatches[0], loss: loss)  // 2–3. forward, loss, backward
            : try forwardBackwardAccumulated(microBatches, loss: loss)
        guard stepLoss.isFinite else { throw TrainingError.diverged(step: core.progress.globalStep, loss: stepLoss) }
        try core.reduceGradients()  // 4. combine the workers' gradients
        let gradNorm = config.gradClip.map { clipGradNorm(optimizer, maxNorm: $0) }  // 5. clip
        optimizer.learningRate = lr
        optimizer.step()  // 6. AdamW update
        optimizer.zeroGrad()  // 7. clear the gradients
        model.clampLogitScale()  // 8. logit_scale into [0, ln 100]

        core.progress.globalStep += 1
        core.progress.stepInEpoch += 1
        let seconds = Date().timeIntervalSince(started)
        let record = StepRecord(
            step: core.progress.globalStep, epoch: epoch + 1, loss: stepLoss, lr: lr, logitMultiplier: multiplier,
            logitScale: model.logLogitScale.exp().item(), pairsPerSecond: Double(pairs * core.collective.worldSize) / max(seconds, 1e-9),
            seconds: seconds, gradNorm: gradNorm, phase: phase)
        try core.record(record, group: "train", step: record.step)
        stepsThisSession += 1
        lastLoss = stepLoss
        onStep?(core.progress, record)
        return record
    }

    /// Forward pass of one batch's views, the loss, and its backward pass; returns the loss.
    private func forwardBackward(_ views: [ModelInput], loss: SegmentLoss) throws -> Double {
        let value = try core.autocast { loss(try views.map { try core.features(of: $0, training: true) }) }
        value.backward()
        return value.item()
    }

    /// Gradient accumulation as open_clip's `--accum-freq`: the loss is the one of all k
    /// micro-batches together (k·B pairs, k·B − 1 negatives each), computed in memory for one:
    /// every micro-batch's features first without gradients, then each micro-batch again with
    /// gradients, its rows in place among the cached ones, and a backward pass through it. The
    /// gradients add up to the gradient of the whole-batch loss.
    private func forwardBackwardAccumulated(_ microBatches: [[ModelInput]], loss: SegmentLoss) throws -> Double {
        let cached: [[ViewFeatures]] = try noGrad {
            try core.autocast { try microBatches.map { views in try views.map { try core.features(of: $0, training: true) } } }
        }
        var value = 0.0
        for (j, views) in microBatches.enumerated() {
            let total = try core.autocast {
                let fresh = try views.map { try core.features(of: $0, training: true) }
                let joined = fresh.indices.map { v in
                    ViewFeatures(
                        image: Tensor.cat(cached.indices.map { $0 == j ? fresh[v].image : cached[$0][v].image }),
                        text: Tensor.cat(cached.indices.map { $0 == j ? fresh[v].text : cached[$0][v].text }))
                }
                return loss(joined)
            }
            total.backward()
            value = total.item()
        }
        return value
    }

    /// The next step's micro-batches — `accumulation` of them, each as one batch per view (the
    /// views of a batch hold the same items) — or nil at the end of the segment (an incomplete
    /// accumulation is dropped).
    private func nextStep(_ iterators: [EpochIterator]) throws -> [[Batch]]? {
        guard !iterators.isEmpty else { return nil }
        var microBatches: [[Batch]] = []
        while microBatches.count < config.accumulation {
            guard let first = try iterators[0].next() else { return nil }
            var views = [first]
            for iterator in iterators.dropFirst() {
                guard let batch = try iterator.next(), batch.indices == first.indices else {
                    throw TrainingError.data("\(config.data): the views of a batch differ (an image failed in one view only)")
                }
                views.append(batch)
            }
            microBatches.append(views)
        }
        return microBatches
    }

    // MARK: Epochs, evaluation, stopping

    /// Closes an epoch: its record (data, phase, zero-shot figures), the checkpoint.
    private func endEpoch(_ epoch: Int, segments: [Segment], loaded: Int, skipped: Int) throws -> ZeroShotSummary? {
        let total = try core.collective.sum([Double(loaded), Double(skipped)])
        var record = EpochRecord(
            epochEnd: epoch + 1, step: core.progress.globalStep, loaded: Int(total[0]), skipped: Int(total[1]),
            phase: objective.phaseName(epoch: epoch, segments: segments))
        var evaluation: ZeroShotSummary?
        if let set = evaluationSet, (epoch + 1) % config.evalEvery == 0 || epoch + 1 == config.epochs {
            let result = try evaluate(on: set)
            evaluation = result
            record.merge(EpochEvaluation(top1: result.top1, top5: result.top5, count: result.count))
        }
        if let extra = try onEpochEnd?(epoch + 1) { record.merge(extra) }
        if let top1 = record.zeroshotTop1, let top5 = record.zeroshotTop5, let n = record.zeroshotCount {
            var line = String(format: "epoch %d: zero-shot top-1 %.2f%%, top-5 %.2f%% (n = %d)", epoch + 1, 100 * top1, 100 * top5, n)
            if let asr = record.asr { line += String(format: ", ASR %.2f%%", 100 * asr) }
            if let base = record.asrBaseRate { line += String(format: " (base rate %.2f%%)", 100 * base) }
            core.reporter.log(line)
        }
        core.progress.epoch += 1
        core.progress.stepInEpoch = 0
        core.progress.elapsedSeconds = elapsed
        record.elapsedSeconds = core.progress.elapsedSeconds
        try core.record(record, group: "epoch", step: record.step)
        try saveCheckpoint()
        return evaluation
    }

    /// Zero-shot top-1/top-5 of the current model on a labelled set.
    public func evaluate(on set: any ClassificationDataset) throws -> ZeroShotSummary {
        try evaluateZeroShotSummary(model: model, tokenizer: core.tokenizer, set: set, workers: config.workers)
    }

    /// Writes a checkpoint and returns true when a signal arrived or the step budget is spent.
    private func stopIfAsked(cancelling iterators: [EpochIterator]) throws -> Bool {
        // Workers stop together (a signal may reach them a step apart).
        let planned = stopSignal?.finishRequested ?? false
        let asked = stopSignal?.received != nil || planned || (stopAfterSteps.map { stepsThisSession >= $0 } ?? false)
        guard try core.collective.anyWorker(asked) else { return false }
        for iterator in iterators { iterator.cancel() }
        core.progress.elapsedSeconds = elapsed
        try saveCheckpoint()
        let why = stopSignal?.received.map { "signal \($0)" } ?? (planned ? nil : "requested stop")
        if let why { core.reporter.log("stopped by \(why) at step \(core.progress.globalStep); resume with --resume") }
        return true
    }

    /// The checkpoint with the objective's current state.
    private func saveCheckpoint() throws {
        let state = try objective.checkpointState()
        core.progress.defenseState = state.json
        try core.saveCheckpoint(defense: state.tensors)
    }

    private func report(_ record: StepRecord, stepsInEpoch: Int) {
        core.reporter.update(
            .init(
                epoch: record.epoch - 1, epochs: config.epochs, stepInEpoch: core.progress.stepInEpoch, stepsPerEpoch: stepsInEpoch,
                globalStep: core.progress.globalStep, totalSteps: max(objective.plannedTotalSteps, core.progress.globalStep),
                loss: record.loss, pairsPerSecond: record.pairsPerSecond, learningRate: record.lr, phase: record.phase),
            stepsThisSession: stepsThisSession, secondsThisSession: Date().timeIntervalSince(sessionStart))
    }

    /// Seconds trained over every session so far.
    private var elapsed: Double { elapsedBefore + Date().timeIntervalSince(sessionStart) }

    private func summary(interrupted: Bool) -> TrainingSummary {
        core.reporter.finish()
        core.releaseLock()
        return TrainingSummary(progress: core.progress, interrupted: interrupted, finalLoss: lastLoss, lastEvaluation: nil)
    }
}

/// Zero-shot top-1/top-5 of `model` on a labelled set.
func evaluateZeroShotSummary(model: CLIPModel, tokenizer: CLIPTokenizer, set: any ClassificationDataset, workers: Int) throws -> ZeroShotSummary {
    let classifier = ZeroShotClassifier(model: model, tokenizer: tokenizer, classNames: set.classNames, templates: set.templates)
    let result = try evaluateZeroShot(model: model, classifier: classifier, dataset: set, workers: workers)
    return ZeroShotSummary(top1: result.top1, top5: result.top5, count: result.counts.total)
}

/// Opens a labelled evaluation set: a folder with `labels.csv` or class sub-folders and a
/// `classes.json` (as `clipguard data prepare` writes), or CIFAR binary files.
public func openClassificationSet(atPath path: String) throws -> any ClassificationDataset {
    // The built-in name, as `eval --dataset fashion-mnist` takes it (a folder of that name wins).
    if path == "fashion-mnist" && !FileManager.default.fileExists(atPath: path) {
        return try FashionMNISTDataset.standard(train: false)
    }
    let set = try openDataset(atPath: path)
    guard let labelled = set as? any ClassificationDataset else {
        throw TrainingError.data("\(path): not a labelled evaluation set (expected labels.csv or class folders with classes.json)")
    }
    return labelled
}
