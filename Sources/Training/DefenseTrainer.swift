import Attacks
import CLIP
import Datasets
import Defenses
import Evaluation
import Foundation
import NN
import Torch

/// Trains or fine-tunes a CLIP model with a defence against poisoning (SPEC §3–4):
/// `safeclip`, `roclip`, `filter` (similarity filtering) or `cleanclip` (fine-tuning).
///
/// Each epoch is planned as a list of *segments* — a loss over some rows of the training set,
/// seen through one or two views (image augmentation + caption table) — and the segments'
/// optimizer steps are taken in order. A segment's batches are a function of the seed, the
/// epoch and the segment, so a run stopped anywhere (inside SafeCLIP's phase 3 too) resumes
/// exactly: the state that cannot be recomputed cheaply — SafeCLIP's current split and
/// safe-set schedule, the filter's kept rows — is saved as JSON in the checkpoint's
/// ``TrainingProgress/defenseState``, memory banks and pools as `defense.*` tensors.
///
/// Files besides the plain trainer's (see ``CLIPTrainer``): `RUN_DIR/similarities/epoch_N.json`
/// for each SafeCLIP selection (N = 1-based epoch) and `RUN_DIR/similarities/filter.json` for the
/// filter, in the ``SimilarityFile`` format.
public final class DefenseTrainer {
    public var config: TrainingConfig { core.config }
    public var runDirectory: String { core.runDirectory }
    public var model: CLIPModel { core.model }
    public var checkpointPath: String { core.checkpointPath }
    public var finalWeightsPath: String { core.finalWeightsPath }
    /// Called after every optimizer step with the step's metrics record.
    public var onStep: ((TrainingProgress, [String: Any]) -> Void)?
    /// Called when an epoch has been planned: the epoch (0-based) and each segment's name and step count.
    public var onEpochPlanned: ((Int, [(name: String, steps: Int)]) -> Void)?
    /// Stops the run (with a checkpoint) after this many optimizer steps of this session.
    public var stopAfterSteps: Int?
    /// Called at the end of every epoch (1-based number) before its metrics record is written;
    /// the returned fields are added to that record (e.g. an attack success rate per epoch).
    public var onEpochEnd: ((Int) throws -> [String: Any])?

    let core: TrainingCore
    let dataset: any ImageTextDataset
    /// Poisoned rows of the training set (from the manifest), when known.
    public let poisonedRows: [Int]?
    /// Two EDA caption tables over all rows (views 1 and 2), for the defences that augment text.
    let captionViews: [[String]]
    var state: DefenseState
    var imageBank: NearestNeighborBank?
    var textBank: NearestNeighborBank?
    var pool: RoCLIPPool?
    private let evaluationSet: (any ClassificationDataset)?

    /// Prepares a defended run; see ``CLIPTrainer/init(config:runDirectory:resume:collective:reporter:)``.
    ///
    /// - Throws: ``TrainingError`` for a bad run folder, data, model or manifest; the similarity
    ///   filter also reads its model here.
    public init(
        config: TrainingConfig, runDirectory: String, resume: Bool = false, collective: any Collective = LocalCollective(),
        reporter: ProgressReporter = ProgressReporter()
    ) throws {
        guard config.defense != "none" else { throw TrainingError.data("DefenseTrainer needs a defence; use CLIPTrainer for plain CLIP") }
        guard config.batchSize % collective.worldSize == 0 else {
            throw TrainingError.data("batch size \(config.batchSize) is not a multiple of the world size \(collective.worldSize)")
        }
        core = try TrainingCore(config: config, runDirectory: runDirectory, resume: resume, collective: collective, reporter: reporter)
        dataset = try core.openTrainingData()
        guard dataset.count >= config.batchSize else {
            throw TrainingError.data("\(config.data): \(dataset.count) items cannot fill one batch of \(config.batchSize)")
        }
        poisonedRows = try DefenseTrainer.poisonedRows(config: config, count: dataset.count)
        evaluationSet = try config.evalData.map(openClassificationSet(atPath:))
        if ["safeclip", "roclip", "cleanclip"].contains(config.defense) {
            captionViews = try DefenseTrainer.edaViews(of: dataset, seed: config.seed)
        } else {
            captionViews = []
        }
        state = try core.progress.defenseState.map { try JSONDecoder().decode(DefenseState.self, from: Data($0.utf8)) } ?? DefenseState()
        try makeBanks()
    }

    // MARK: Running

    /// Trains until the last epoch or a stop signal.
    public func run(stopSignal: StopSignal? = nil) throws -> TrainingSummary {
        var session = TrainingSession(core: core, stopSignal: stopSignal, stopAfterSteps: stopAfterSteps)
        session.epochFields = onEpochEnd
        session.defenseTensors = { [unowned self] in bankTensors() }
        var lastEvaluation: ZeroShotSummary?
        if config.defense == "filter", state.kept == nil { try selectFilteredRows() }

        while core.progress.epoch < config.epochs {
            let epoch = core.progress.epoch
            let segments = try plan(epoch: epoch)
            onEpochPlanned?(epoch, segments.map { ($0.name, $0.steps) })
            let stepsInEpoch = segments.reduce(0) { $0 + $1.steps }
            var skip = core.progress.stepInEpoch
            var loaded = 0, skipped = 0
            for segment in segments {
                if skip >= segment.steps {
                    skip -= segment.steps
                    continue
                }
                let iterators = segment.loaders.map { $0.epoch(epoch, startingAtBatch: skip) }
                skip = 0
                while let first = try iterators[0].next() {
                    var views = [first]
                    for iterator in iterators.dropFirst() {
                        guard let batch = try iterator.next(), batch.indices == first.indices else {
                            throw TrainingError.data("\(config.data): the views of a batch differ (an image failed in one view only)")
                        }
                        views.append(batch)
                    }
                    let loss = try core.autocast { try segmentLoss(segment.loss, views: views, epoch: epoch) }
                    loss.backward()
                    let lr = learningRate(atStep: core.progress.globalStep)
                    let record = try session.finishStep(
                        epoch: epoch, loss: loss.item(), lr: lr, pairs: first.count, stepsPerEpoch: stepsInEpoch,
                        totalSteps: plannedTotalSteps, extra: ["phase": segment.name])
                    onStep?(core.progress, record)
                    if try session.stopIfAsked(cancelling: iterators) { return session.summary(interrupted: true) }
                }
                loaded += iterators[0].report.loaded
                skipped += iterators[0].report.skipped
            }
            var record = try session.epochRecord(epoch: epoch, loaded: loaded, skipped: skipped)
            record["phase"] = segments.first.map { phaseName($0.name) } ?? ""
            if let set = evaluationSet, (epoch + 1) % config.evalEvery == 0 || epoch + 1 == config.epochs {
                let result = try evaluateZeroShotSummary(model: model, tokenizer: core.tokenizer, set: set, workers: config.workers)
                lastEvaluation = result
                record.merge(result.metricsFields) { $1 }
            }
            try session.endEpoch(record: record)
        }
        try core.saveFinalWeights()
        var summary = session.summary(interrupted: false)
        summary.lastEvaluation = lastEvaluation
        return summary
    }

    private func phaseName(_ segment: String) -> String { segment.hasPrefix("mixed") ? "mixed" : segment }

    /// The loss of one segment's batch views.
    private func segmentLoss(_ kind: Segment.Loss, views: [Batch], epoch: Int) throws -> Tensor {
        let scale = model.logLogitScale
        let first = try core.features(of: views[0], training: true)
        switch kind {
        case .clip:
            return clipLoss(imageFeatures: first.image, textFeatures: first.text, logLogitScale: scale)
        case .unimodal:
            let second = try core.features(of: views[1], training: true)
            if let imageBank, let textBank {
                return DefenseLoss.unimodal(
                    image1: first.image, image2: second.image, text1: first.text, text2: second.text, logLogitScale: scale,
                    imageBank: imageBank, textBank: textBank)
            }
            return DefenseLoss.unimodal(image1: first.image, image2: second.image, text1: first.text, text2: second.text, logLogitScale: scale)
        case .crossAugmentedCLIP:
            let second = try core.features(of: views[1], training: true)
            return DefenseLoss.crossAugmentedCLIP(image1: first.image, image2: second.image, text1: first.text, text2: second.text, logLogitScale: scale)
        case .cleanCLIP:
            let augmented = try core.features(of: views[1], training: true)
            return DefenseLoss.cleanCLIP(
                image: first.image, text: first.text, augmentedImage: augmented.image, augmentedText: augmented.text,
                logLogitScale: scale, lambda: config.inmodalWeight)
        case .roclip:
            guard let pool, pool.isMatchingEpoch(epoch + 1) else {
                return clipLoss(imageFeatures: first.image, textFeatures: first.text, logLogitScale: scale)
            }
            return DefenseLoss.roclipMatched(image: first.image, text: first.text, logLogitScale: scale, pool: pool)
        }
    }

    // MARK: Planning

    /// One part of an epoch: a loss over some rows through one or two views.
    struct Segment {
        enum Loss { case clip, unimodal, crossAugmentedCLIP, cleanCLIP, roclip }
        var name: String
        var loss: Loss
        var loaders: [DataLoader]
        var steps: Int
    }

    /// How a view sees an item: image augmentation and caption table.
    struct View {
        enum Images { case plain, safeCLIP, cleanCLIP }
        var images: Images
        /// Index into the EDA caption tables, or nil for the original captions.
        var captions: Int?
        var salt: UInt64
        static let plain = View(images: .plain, captions: nil, salt: 0)
    }

    var allRows: [Int] { Array(0..<dataset.count) }

    /// This rank's loader over `rows` seen through `view`; `segmentSalt` separates the shuffles
    /// of different segments of an epoch. Training loaders shuffle, drop the last partial global
    /// batch and give each rank its `1/worldSize` slice of every global batch of
    /// `config.batchSize`; other loaders keep every row, `batchSize` rows per rank and batch.
    func loader(rows: [Int], view: View, segmentSalt: UInt64, batchSize: Int? = nil, training: Bool = true) throws -> DataLoader {
        let size = model.config.vision.imageSize
        let augmentation: (any ImageAugmentation)? = switch view.images {
        case .plain: nil
        case .safeCLIP: SaltedAugmentation(base: AugmentationPipeline.safeCLIPView(size: size), salt: view.salt)
        case .cleanCLIP: SaltedAugmentation(base: AugmentationPipeline.cleanCLIPView(size: size), salt: view.salt)
        }
        let subset = SubsetDataset(base: dataset, rows: rows, captions: view.captions.map { captionViews[$0] })
        var seeds = SplitMix64(seed: config.seed).derived(segmentSalt)
        return try DataLoader(
            dataset: subset,
            config: LoaderConfig(
                batchSize: batchSize ?? config.batchSize / core.collective.worldSize, shuffle: training && config.shuffle,
                seed: seeds.next(), rank: core.collective.rank, worldSize: core.collective.worldSize, dropLast: training,
                workers: config.workers, maxFailureFraction: config.maxFailureFraction,
                preprocessing: .resizeCenterCrop(size: size), imageAugmentation: augmentation))
    }

    /// A segment over `rows` (no steps, and no loaders, when the rows cannot fill one batch).
    func segment(_ name: String, loss: Segment.Loss, rows: [Int], views: [View], salt: UInt64) throws -> Segment {
        let steps = rows.count / config.batchSize
        let loaders = steps == 0 ? [] : try views.map { try loader(rows: rows, view: $0, segmentSalt: salt) }
        return Segment(name: name, loss: loss, loaders: loaders, steps: steps)
    }

    /// The segments of `epoch`; for SafeCLIP's mixed epochs this selects the safe set first
    /// (unless the checkpoint holds this epoch's selection).
    func plan(epoch: Int) throws -> [Segment] {
        let twoSafeCLIPViews = [View(images: .safeCLIP, captions: 0, salt: 1), View(images: .safeCLIP, captions: 1, salt: 2)]
        switch config.defense {
        case "safeclip":
            switch SafeCLIPPhase(epoch: epoch, config: config) {
            case .unimodal:
                return [try segment("unimodal", loss: .unimodal, rows: allRows, views: twoSafeCLIPViews, salt: 1)]
            case .clipWarmup:
                return [try segment("clip-warmup", loss: .clip, rows: allRows, views: [.plain], salt: 2)]
            case .mixed:
                let split = try safeSplit(epoch: epoch)
                let safe = config.crossAugmented
                    ? try segment("mixed-safe", loss: .crossAugmentedCLIP, rows: split.safe, views: twoSafeCLIPViews, salt: 4)
                    : try segment("mixed-safe", loss: .clip, rows: split.safe, views: [.plain], salt: 4)
                return [try segment("mixed-risky", loss: .unimodal, rows: split.risky(total: dataset.count), views: twoSafeCLIPViews, salt: 3), safe]
            }
        case "roclip":
            return [try segment("roclip", loss: .roclip, rows: allRows, views: [View(images: .cleanCLIP, captions: 0, salt: 1)], salt: 5)]
        case "cleanclip":
            return [try segment("cleanclip", loss: .cleanCLIP, rows: allRows, views: [.plain, View(images: .cleanCLIP, captions: 0, salt: 1)], salt: 6)]
        default:  // filter
            return [try segment("filtered-clip", loss: .clip, rows: state.kept ?? allRows, views: [.plain], salt: 7)]
        }
    }

    /// Optimizer steps of the whole run as far as known now (SafeCLIP's phase 3 is known after
    /// its first selection).
    var plannedTotalSteps: Int {
        switch config.defense {
        case "safeclip": return safeCLIPSchedule.totalSteps
        case "filter": return config.epochs * ((state.kept?.count ?? dataset.count) / config.batchSize)
        default: return config.epochs * (dataset.count / config.batchSize)
        }
    }

    /// The learning rate at a global step.
    func learningRate(atStep step: Int) -> Double {
        if config.defense == "safeclip" { return safeCLIPSchedule.learningRate(atStep: step) }
        let total = plannedTotalSteps
        return LRSchedule.warmupCosine(baseLR: config.lr, warmupSteps: min(config.warmupSteps, max(0, total - 1)), totalSteps: total)(step)
    }

    // MARK: Banks

    private func makeBanks() throws {
        let dimension = model.config.embedDim
        let saved = core.resumedDefenseTensors
        func restore(_ name: String, capacity: Int, seed: UInt64) throws -> NearestNeighborBank {
            if let storage = saved[name], let position = saved[name + "_position"] {
                guard storage.shape == [capacity, dimension] else {
                    throw TrainingError.data("\(core.checkpointPath): defense.\(name) is \(storage.shape), expected [\(capacity), \(dimension)]")
                }
                // The restoring initialiser normalises the rows again, which changes their last
                // bits; copying the saved rows back keeps a resumed run exact.
                let bank = NearestNeighborBank(storage: storage.to(core.device), writePosition: position.itemInt())
                noGrad { bank.storage.copyInPlace(from: storage.to(core.device)) }
                return bank
            }
            return NearestNeighborBank(capacity: capacity, dimension: dimension, seed: seed, device: core.device)
        }
        if config.defense == "safeclip" && config.memoryBank {
            imageBank = try restore("image_bank", capacity: config.bankSize, seed: config.seed &+ 101)
            textBank = try restore("text_bank", capacity: config.bankSize, seed: config.seed &+ 102)
        }
        if config.defense == "roclip" {
            pool = RoCLIPPool(bank: try restore("roclip_pool", capacity: config.poolSize, seed: config.seed &+ 103), matchingPeriod: config.matchEvery)
        }
    }

    /// The banks' tensors for the checkpoint.
    func bankTensors() -> [String: Tensor] {
        var tensors: [String: Tensor] = [:]
        let banks: [(String, NearestNeighborBank?)] = [("image_bank", imageBank), ("text_bank", textBank), ("roclip_pool", pool?.bank)]
        for case let (name, bank?) in banks {
            tensors[name] = bank.storage.to(.cpu)
            tensors[name + "_position"] = Tensor(scalar: Double(bank.writePosition), dtype: .int64)
        }
        return tensors
    }

    /// Writes the defence state into the progress record and saves a checkpoint, so that a
    /// selection is never recomputed (or logged twice) after a resume.
    func commitState() throws {
        core.progress.defenseState = String(decoding: try JSONEncoder().encode(state), as: UTF8.self)
        try core.saveCheckpoint(defense: bankTensors())
    }

    // MARK: Data helpers

    /// The manifest's poisoned rows: from `config.manifest`, else `manifest.json` beside the
    /// training CSV (or inside the data folder), else nil.
    static func poisonedRows(config: TrainingConfig, count: Int) throws -> [Int]? {
        var path = config.manifest
        if path == nil {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: config.data, isDirectory: &isDirectory)
            let folder = exists && isDirectory.boolValue ? config.data : (config.data as NSString).deletingLastPathComponent
            let candidate = (folder.isEmpty ? "." : folder) + "/manifest.json"
            if FileManager.default.fileExists(atPath: candidate) { path = candidate }
        }
        guard let path else { return nil }
        let manifest = try PoisonManifest.load(path: path)
        let rows = Set(manifest.rows.map(\.index)).sorted()
        if let bad = rows.first(where: { !(0..<count).contains($0) }) {
            throw TrainingError.data("\(path): poisoned row \(bad) is not a row of \(config.data) (\(count) rows)")
        }
        return rows
    }

    /// Two EDA caption tables (views 1 and 2) over every row, computed once: row `i` of view `v`
    /// draws from `SplitMix64(seed).derived(0xEDA0 + v).derived(i)`.
    static func edaViews(of dataset: any ImageTextDataset, seed: UInt64) throws -> [[String]] {
        let eda = EDA(wordNet: try WordNet())
        let captions = try (0..<dataset.count).map { try dataset.record(at: $0).caption }
        return (0..<2).map { view in
            let base = SplitMix64(seed: seed).derived(0xEDA0 + UInt64(view))
            return captions.enumerated().map { i, caption in
                var rng = base.derived(UInt64(i))
                return eda.augment(caption, rng: &rng)
            }
        }
    }

    /// Cosine similarity of every pair under `model` in inference mode, through `view` of epoch
    /// `epoch`. Items that fail to load get −1 (lowest: risky, or dropped by the filter).
    ///
    /// With several ranks the pass is sharded (each rank scores its share of the rows, in
    /// batches of `similarity_batch_size`) and the table is summed over the ranks, so every rank
    /// holds the same values and makes the same selection.
    func similarities(model scorer: CLIPModel, view: View, epoch: Int) throws -> [Double] {
        let loader = try loader(rows: allRows, view: view, segmentSalt: 8, batchSize: config.similarityBatchSize, training: false)
        // Own rows start at −1 (a failed item keeps it), the others' at 0 for the sum.
        var values = [Double](repeating: 0, count: dataset.count)
        for index in loader.order(epoch: epoch) { values[index] = -1 }
        let iterator = loader.epoch(epoch)
        while let batch = try iterator.next() {
            let (images, tokens) = core.tensors(of: batch)
            let cosine: [Float] = noGrad {
                core.autocast {
                    let image = scorer.encodeImage(images, training: false).to(.float32).normalized(dim: -1)
                    let text = scorer.encodeText(tokens, training: false).to(.float32).normalized(dim: -1)
                    return (image * text).sum(dim: 1).to(.cpu).toArray()
                }
            }
            for (position, index) in batch.indices.enumerated() { values[index] = Double(cosine[position]) }
        }
        if iterator.report.skipped > 0 { core.reporter.log("similarity pass: \(iterator.report)") }
        return try core.collective.sum(values)
    }

    /// Writes `RUN_DIR/similarities/NAME.json`.
    func writeSimilarities(_ file: SimilarityFile, name: String) throws {
        guard core.collective.rank == 0 else { return }
        let folder = runDirectory + "/similarities"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try encoder.encode(file).write(to: URL(fileURLWithPath: folder + "/\(name).json"), options: .atomic)
    }

    /// Per-row poisoned flags, or nil without a manifest.
    var poisonedFlags: [Bool]? {
        poisonedRows.map { rows in
            var flags = [Bool](repeating: false, count: dataset.count)
            for row in rows { flags[row] = true }
            return flags
        }
    }
}

/// The resumable state of a defence, saved as JSON in ``TrainingProgress/defenseState``.
struct DefenseState: Codable, Equatable {
    /// SafeCLIP's safe-set schedule after the latest selection.
    var schedule: SafeSetSchedule?
    /// SafeCLIP's latest selection.
    var split: StoredSplit?
    /// SafeCLIP's phase-3 step count (known after the first selection).
    var mixedSteps: Int?
    /// The similarity filter's kept rows.
    var kept: [Int]?

    /// One epoch's safe rows (the risky rows are the rest).
    struct StoredSplit: Codable, Equatable {
        var epoch: Int
        var safe: [Int]

        func risky(total: Int) -> [Int] {
            var isSafe = [Bool](repeating: false, count: total)
            for i in safe { isSafe[i] = true }
            return (0..<total).filter { !isSafe[$0] }
        }
    }
}

/// A similarity pass saved for the report: `RUN_DIR/similarities/epoch_N.json` (SafeCLIP, one per
/// phase-3 epoch, N = 1-based epoch) or `RUN_DIR/similarities/filter.json` (similarity filter).
///
/// JSON object, keys sorted: `format` ("clipguard-similarities-1"), `defense`, `epoch` (1-based;
/// 0 for the filter), `step` (global optimizer steps before the pass), `similarity` (`[N]`
/// cosine similarity of every training row, row order of the training CSV), `poisoned` (`[N]`
/// booleans from the manifest, or null without one), `selected` (`[N]` booleans: safe for
/// SafeCLIP, kept for the filter), `posterior` (`[N]` SafeCLIP's clean-component posterior, null
/// for the filter), `gmm` (SafeCLIP's fit: means, variances, weights, logLikelihood,
/// iterations, converged, degenerate; null for the filter).
public struct SimilarityFile: Codable, Sendable {
    public var format = "clipguard-similarities-1"
    public var defense: String
    public var epoch: Int
    public var step: Int
    public var similarity: [Double]
    public var poisoned: [Bool]?
    public var selected: [Bool]
    public var posterior: [Double]?
    public var gmm: GaussianMixture1D.FitResult?

    /// Reads a similarity file.
    public static func read(path: String) throws -> SimilarityFile {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(SimilarityFile.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
