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
/// A step reads nothing back from the device: its loss, logit multiplier and gradient norm stay
/// there as tensors until the next read — every `log_every` steps, at the end of every epoch and
/// before every checkpoint — which fetches all of them at once (one device→host copy) and writes
/// the steps' records. A non-finite loss stops the run at that read (``TrainingError/diverged(step:loss:)``
/// names the first step that had one), before any checkpoint could save its weights.
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
    /// Called with every step's record, in step order, when it is read back from the device
    /// (every `log_every` steps, at the end of each epoch and before a checkpoint), with the
    /// progress as it was right after that step.
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
    /// A trainer of ``init(stepsOnly:)``: no data and no run folder.
    private let stepsOnly: Bool
    /// The steps taken since the last read, their figures still on the device.
    private var pending: [PendingStep] = []
    /// What the progress display shows between reads: the latest read loss and pair rate.
    private var lastRead: (loss: Double, pairsPerSecond: Double)?
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
    public convenience init(
        config: TrainingConfig, runDirectory: String, resume: Bool = false, collective: any Collective = LocalCollective(),
        reporter: ProgressReporter = ProgressReporter()
    ) throws {
        guard config.batchSize % collective.worldSize == 0 else {
            throw TrainingError.data("batch size \(config.batchSize) is not a multiple of the world size \(collective.worldSize)")
        }
        let core = try TrainingCore(config: config, runDirectory: runDirectory, collective: collective, reporter: reporter)
        // Every input is checked before the run folder is touched.
        let dataset = try core.openTrainingData()
        guard dataset.count >= config.batchSize * config.accumulation else {
            throw TrainingError.data(
                "\(config.data): \(dataset.count) items cannot fill one step of \(config.accumulation) × \(config.batchSize) pairs")
        }
        let evaluationSet = try config.evalData.map(openClassificationSet(atPath:))
        try core.open(resume: resume)
        try self.init(core: core, dataset: dataset, evaluationSet: evaluationSet, stepsOnly: false)
    }

    /// A trainer that only takes the steps it is given (``step(on:loss:beforeUpdate:)``): the
    /// model, optimizer, schedule and objective of `config` — `config.data` is not opened (it may
    /// be empty), no run
    /// folder is made and nothing is written. `clipguard-bench` and `clipguard step-check` time and
    /// check the training step with it. The schedule is planned for `config.epochs` epochs of
    /// `plannedSteps` steps each (with `warmup_steps` 0, step 0 runs at `lr`).
    ///
    /// - Throws: ``TrainingError`` for invalid settings or an unknown model.
    public convenience init(stepsOnly config: TrainingConfig, plannedSteps: Int = 10_000) throws {
        var config = config
        if config.data.isEmpty { config.data = "(no training data: steps only)" }
        let core = try TrainingCore(
            config: config, runDirectory: "", collective: LocalCollective(), reporter: ProgressReporter(quiet: true))
        let pairs = NoTrainingData(count: config.batchSize * config.accumulation * max(1, plannedSteps))
        try self.init(core: core, dataset: pairs, evaluationSet: nil, stepsOnly: true)
    }

    private init(core: TrainingCore, dataset: any ImageTextDataset, evaluationSet: (any ClassificationDataset)?, stepsOnly: Bool) throws {
        self.core = core
        self.evaluationSet = evaluationSet
        self.stepsOnly = stepsOnly
        run = try TrainingRun(core: core, dataset: dataset)
        objective = try core.config.defense.objectiveType.init(run: run)
        if !stepsOnly { try core.recordUsedWarmup(totalSteps: objective.plannedTotalSteps) }
        run.commit = { [unowned self] in try saveCheckpoint() }
    }

    // MARK: The loop

    /// Trains until the last epoch or a stop signal.
    public func run(stopSignal: StopSignal? = nil) throws -> TrainingSummary {
        guard !stepsOnly else { throw TrainingError.data("a steps-only trainer has no training data to run on") }
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
                    let lr = try step(
                        inputs, loss: segment.loss, epoch: epoch, phase: segment.name, pairs: microBatches.reduce(0) { $0 + $1[0].count })
                    // Values come back only on logging steps: every log_every steps and at the epoch's end.
                    let logging = core.progress.globalStep % logEvery == 0 || core.progress.stepInEpoch >= stepsInEpoch
                    if logging { try readSteps() }
                    report(lr: lr, phase: segment.name, stepsInEpoch: stepsInEpoch, logged: logging)
                    if try stopIfAsked(cancelling: iterators, logging: logging) { return summary(interrupted: true) }
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

    /// Reads happen every this many steps (`log_every`, at least 1).
    private var logEvery: Int { max(1, config.logEvery) }

    /// One optimizer step on `microBatches` (each the views of one micro-batch) with `loss` — the
    /// whole of training, in the order nanoGPT's `train.py` writes it. Reads nothing back to the
    /// host: the loss, the logit multiplier and the gradient norm stay on the device until
    /// ``readSteps()``. `beforeUpdate` runs after the backward pass and the gradients' reduction,
    /// before clipping (step-check reads the gradients there).
    ///
    /// - Returns: the learning rate the step used.
    @discardableResult
    func step(
        _ microBatches: [[ModelInput]], loss: SegmentLoss, epoch: Int, phase: String, pairs: Int,
        beforeUpdate: (() throws -> Void)? = nil
    ) throws -> Double {
        let started = Date()
        let index = core.progress.globalStep
        let lr = objective.learningRate(atStep: index)  // 1. the schedule's rate
        let multiplier = noGrad { model.logLogitScale.exp() }  //    (the loss multiplies by exp(logit_scale))
        let stepLoss =
            microBatches.count == 1
            ? try forwardBackward(microBatches[0], loss: loss)  // 2–3. forward, loss, backward
            : try forwardBackwardAccumulated(microBatches, loss: loss)
        try core.reduceGradients()  // 4. combine the workers' gradients
        try beforeUpdate?()
        let gradNorm = config.gradClip.map { clipGradNormOnDevice(optimizer, maxNorm: $0) }  // 5. clip (on the device)
        optimizer.learningRate = lr
        optimizer.step()  // 6. AdamW update
        optimizer.zeroGrad()  // 7. clear the gradients
        model.clampLogitScale()  // 8. logit_scale into [0, ln 100] (in place, on the device)

        core.progress.globalStep += 1
        core.progress.stepInEpoch += 1
        stepsThisSession += 1
        pending.append(
            PendingStep(
                index: index, progress: core.progress, epoch: epoch + 1, lr: lr, phase: phase, pairs: pairs,
                seconds: Date().timeIntervalSince(started), loss: stepLoss, multiplier: multiplier, gradNorm: gradNorm))
        return lr
    }

    /// Fetches the figures of the steps taken since the last read — all in one device→host copy
    /// (on a GPU: one synchronisation) — writes their records to `metrics.jsonl` (and TensorBoard)
    /// and passes them to ``onStep``.
    ///
    /// - Returns: the records, in step order (empty when no step was taken since the last read).
    /// - Throws: ``TrainingError/diverged(step:loss:)`` naming the first step whose loss is not
    ///   finite (the records of the steps before it are written first); the writer's errors.
    @discardableResult
    public func readSteps() throws -> [StepRecord] {
        guard !pending.isEmpty else { return [] }
        let window = pending
        pending = []
        let waitStarted = Date()
        // [loss, multiplier, (grad norm)] per step, then exp(logit_scale) now.
        var scalars: [Tensor] = []
        for entry in window { scalars += [entry.loss, entry.multiplier] + (entry.gradNorm.map { [$0] } ?? []) }
        let values: [Double] = noGrad {
            scalars.append(model.logLogitScale.exp())
            return Tensor.stack(scalars.map { $0.to(.float64).to(device) })
        }.toArray()
        let wait = Date().timeIntervalSince(waitStarted)

        var figures: [(loss: Double, multiplier: Double, gradNorm: Double?)] = []
        var at = 0
        for entry in window {
            let norm = entry.gradNorm == nil ? nil : values[at + 2]
            figures.append((values[at], values[at + 1], norm))
            at += entry.gradNorm == nil ? 2 : 3
        }
        // The interval's pair rate: its pairs over its steps' time and the wait for the device.
        let seconds = window.reduce(0) { $0 + $1.seconds } + wait
        let pairs = window.reduce(0) { $0 + $1.pairs } * core.collective.worldSize
        let rate = Double(pairs) / max(seconds, 1e-9)
        var records: [StepRecord] = []
        for (k, entry) in window.enumerated() {
            let (loss, multiplier, gradNorm) = figures[k]
            guard loss.isFinite else { throw TrainingError.diverged(step: entry.index, loss: loss) }
            let record = StepRecord(
                step: entry.progress.globalStep, epoch: entry.epoch, loss: loss, lr: entry.lr, logitMultiplier: multiplier,
                logitScale: k + 1 < window.count ? figures[k + 1].multiplier : values[values.count - 1], pairsPerSecond: rate,
                seconds: entry.seconds + (k == window.count - 1 ? wait : 0), gradNorm: gradNorm, phase: entry.phase)
            try core.record(record, group: "train", step: record.step)
            records.append(record)
            lastLoss = loss
            onStep?(entry.progress, record)
        }
        lastRead = records.last.map { ($0.loss, $0.pairsPerSecond) }
        return records
    }

    /// One training step — the step ``run(stopSignal:)`` takes — on the views of one batch of
    /// pairs (each view: images `[n, 3, S, S]` float32, tokens `[n, context]` int64, on the
    /// device), with `loss` (by default the CLIP loss of the first view; pass an objective's
    /// segment loss for a defence). Nothing is read back to the host; ``readSteps()`` returns
    /// the step's record. `beforeUpdate` runs after the backward pass, before clipping and the
    /// AdamW update (the gradients are on the parameters then).
    public func step(on views: [ModelInput], loss: SegmentLoss? = nil, phase: String = "clip", beforeUpdate: (() throws -> Void)? = nil) throws {
        let model = model
        let clip: SegmentLoss = { views in
            clipLoss(imageFeatures: views[0].image, textFeatures: views[0].text, logLogitScale: model.logLogitScale)
        }
        try step(
            [views], loss: loss ?? clip, epoch: core.progress.epoch, phase: phase, pairs: views.first?.images.size(0) ?? 0,
            beforeUpdate: beforeUpdate)
    }

    /// Forward pass of one batch's views, the loss, and its backward pass; returns the loss (a
    /// scalar on the device, detached).
    private func forwardBackward(_ views: [ModelInput], loss: SegmentLoss) throws -> Tensor {
        let value = try core.autocast { loss(try features(of: views)) }
        value.backward()
        return value.detached()
    }

    /// The trained model's features of each view, then — for an objective with a frozen model —
    /// the frozen model's of the same views (no gradients, inference mode). Call inside autocast.
    private func features(of views: [ModelInput]) throws -> [ViewFeatures] {
        let trained = try views.map { try core.features(of: $0, training: true) }
        guard let frozen = objective.frozenModel else { return trained }
        return trained + (try noGrad { try views.map { try core.features(of: $0, training: false, model: frozen) } })
    }

    /// Gradient accumulation as open_clip's `--accum-freq`: the loss is the one of all k
    /// micro-batches together (k·B pairs, k·B − 1 negatives each), computed in memory for one:
    /// every micro-batch's features first without gradients, then each micro-batch again with
    /// gradients, its rows in place among the cached ones, and a backward pass through it. The
    /// gradients add up to the gradient of the whole-batch loss.
    private func forwardBackwardAccumulated(_ microBatches: [[ModelInput]], loss: SegmentLoss) throws -> Tensor {
        let cached: [[ViewFeatures]] = try noGrad {
            try core.autocast { try microBatches.map { views in try features(of: views) } }
        }
        var value: Tensor?
        for (j, views) in microBatches.enumerated() {
            let total = try core.autocast {
                let fresh = try features(of: views)
                let joined = fresh.indices.map { v in
                    ViewFeatures(
                        image: Tensor.cat(cached.indices.map { $0 == j ? fresh[v].image : cached[$0][v].image }),
                        text: Tensor.cat(cached.indices.map { $0 == j ? fresh[v].text : cached[$0][v].text }))
                }
                return loss(joined)
            }
            total.backward()
            value = total.detached()
        }
        return value!  // accumulation ≥ 2 here
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
        try readSteps()
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
    ///
    /// Workers stop together: the step budget is the same on every worker; a signal (which may
    /// reach them a step apart) is agreed on with an all-reduce — a device synchronisation — so
    /// data-parallel workers compare only on logging steps and stop at the first one after it.
    /// A planned stop (``StopSignal/finish()``) is the caller's, in one process, and prints no
    /// "stopped by" line.
    private func stopIfAsked(cancelling iterators: [EpochIterator], logging: Bool) throws -> Bool {
        let budgetSpent = stopAfterSteps.map { stepsThisSession >= $0 } ?? false
        let planned = stopSignal?.finishRequested ?? false
        let signalled = stopSignal?.received != nil
        let agreed = core.collective.worldSize == 1 || logging ? try core.collective.anyWorker(signalled) : false
        guard budgetSpent || planned || agreed else { return false }
        for iterator in iterators { iterator.cancel() }
        core.progress.elapsedSeconds = elapsed
        try saveCheckpoint()
        let why = stopSignal?.received.map { "signal \($0)" } ?? (planned ? nil : "requested stop")
        if let why { core.reporter.log("stopped by \(why) at step \(core.progress.globalStep); resume with --resume") }
        return true
    }

    /// The checkpoint with the objective's current state.
    private func saveCheckpoint() throws {
        guard !stepsOnly else { return }
        // The steps since the last read are checked first: a diverged model is never saved.
        try readSteps()
        let state = try objective.checkpointState()
        core.progress.defenseState = state.json
        try core.saveCheckpoint(defense: state.tensors)
    }

    /// The progress display after a step: its position and rate, with the loss and pair rate of
    /// the latest read (fresh on logging steps, the only steps printed off a terminal).
    private func report(lr: Double, phase: String, stepsInEpoch: Int, logged: Bool) {
        core.reporter.update(
            .init(
                epoch: core.progress.epoch, epochs: config.epochs, stepInEpoch: core.progress.stepInEpoch, stepsPerEpoch: stepsInEpoch,
                globalStep: core.progress.globalStep, totalSteps: max(objective.plannedTotalSteps, core.progress.globalStep),
                loss: lastRead?.loss, pairsPerSecond: lastRead?.pairsPerSecond ?? 0, learningRate: lr, phase: phase),
            stepsThisSession: stepsThisSession, secondsThisSession: Date().timeIntervalSince(sessionStart), logged: logged)
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

/// A step's figures that stay on the device until ``Trainer/readSteps()``.
struct PendingStep {
    /// The 0-based global step (the one a divergence names).
    var index: Int
    /// The progress right after the step.
    var progress: TrainingProgress
    /// 1-based epoch.
    var epoch: Int
    var lr: Double
    var phase: String
    var pairs: Int
    /// Host time of the step (on a GPU: the time to queue its work).
    var seconds: Double
    /// Scalar loss, float32, detached.
    var loss: Tensor
    /// `exp(logit_scale)` the loss used, scalar float32.
    var multiplier: Tensor
    /// Global gradient norm before clipping, scalar float32 (with `grad_clip`).
    var gradNorm: Tensor?
}

/// The training data of a steps-only trainer: `count` pairs that are never read.
struct NoTrainingData: ImageTextDataset {
    let count: Int
    var hasLabels: Bool { false }
    func record(at index: Int) throws(DataError) -> DataRecord { throw Self.error }
    func sample(at index: Int) throws(DataError) -> DataSample { throw Self.error }
    private static var error: DataError { .io(path: "(none)", reason: "a steps-only trainer has no training data") }
}
