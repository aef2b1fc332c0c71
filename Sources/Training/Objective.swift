import Attacks
import CLIP
import Datasets
import Defenses
import Foundation
import Torch

/// What a run optimises: plain CLIP or a defence (one type per ``Defense``).
///
/// The ``Trainer`` owns the loop; an objective says, for each epoch, what to train on and with
/// which loss, and keeps the state that a resumed run needs. An epoch is a list of
/// ``Segment``s — a loss over some rows of the training set seen through one or two ``View``s
/// — trained in order.
///
/// Modelled on open_clip's `task/` classes: one class per objective, the trainer generic.
///
/// The type also describes its defence for the registry (``Defense``): name, display name,
/// colour, marker, traits and settings type, all in the objective's own file.
public protocol TrainingObjective: AnyObject {
    /// The defence's name in config files, on the command line and in results (`safeclip`).
    static var name: String { get }
    /// How reports and help texts name it (`SafeCLIP`).
    static var displayName: String { get }
    /// One line for `--help`: what it does.
    static var summary: String { get }
    /// Its colour in every plot (`#RRGGBB`); no other defence has it.
    static var colour: String { get }
    /// Its point marker in plots; no other defence has it.
    static var marker: PlotMarker { get }
    /// What it does besides its loss.
    static var traits: DefenseTraits { get }
    /// Its settings (config keys, flags, defaults, validation); ``NoDefenseSettings`` for none.
    static var settingsType: any DefenseSettings.Type { get }
    /// Sets the common training keys that the defence's reference uses where `clipguard finetune`
    /// starts from (``TrainingConfig/finetuneDefaults(for:)``; PAR: 2 epochs, lr 3e-5, …); default:
    /// none (CleanCLIP's schedule is the command's own).
    static func referenceTraining(_ config: inout TrainingConfig)

    /// Builds the objective for `run`; on resume, `run.savedState` and `run.savedTensors` hold
    /// what ``checkpointState()`` returned when the checkpoint was written.
    init(run: TrainingRun) throws
    /// Work before the first epoch of a session (the filter's scoring pass); default none.
    func prepare() throws
    /// The segments of 0-based `epoch`, in training order (selects SafeCLIP's safe set first).
    func plan(epoch: Int) throws -> [Segment]
    /// The learning rate at a global optimizer step (0-based).
    func learningRate(atStep step: Int) -> Double
    /// Optimizer steps of the whole run, as far as known now (for the progress bar and schedules).
    var plannedTotalSteps: Int { get }
    /// The name of `epoch`'s phase in its metrics record (SafeCLIP: unimodal, clip-warmup, mixed).
    func phaseName(epoch: Int, segments: [Segment]) -> String?
    /// The resumable state: JSON kept in the checkpoint's progress record, and tensors (banks,
    /// pools) saved under `defense.` in the checkpoint.
    func checkpointState() throws -> (json: String?, tensors: [String: Tensor])
    /// A frozen model whose features a segment loss compares with the trained model's (PAR's
    /// copy of the starting checkpoint), or nil (the default). With one, the trainer computes
    /// its features of every view of a batch without gradients, in inference mode, and appends
    /// them to the loss's array after the trained model's: `[view 0, …, view k−1, frozen view 0,
    /// …, frozen view k−1]`.
    var frozenModel: CLIPModel? { get }
}

extension TrainingObjective {
    public static var traits: DefenseTraits { DefenseTraits() }
    public static var settingsType: any DefenseSettings.Type { NoDefenseSettings.self }
    public static func referenceTraining(_ config: inout TrainingConfig) {}
    public func prepare() throws {}
    public func phaseName(epoch: Int, segments: [Segment]) -> String? { segments.first?.name }
    public func checkpointState() throws -> (json: String?, tensors: [String: Tensor]) { (nil, [:]) }
    public var frozenModel: CLIPModel? { nil }
}

/// L2-normalised float32 features of one view of a batch, gathered over the workers.
public struct ViewFeatures {
    /// `[N, D]`.
    public var image: Tensor
    /// `[N, D]`; row i is the caption of image i.
    public var text: Tensor
}

/// The loss of one segment: the features of its views (in the segment's view order, then — for
/// an objective with a ``TrainingObjective/frozenModel`` — the frozen model's of the same views)
/// → a scalar.
public typealias SegmentLoss = ([ViewFeatures]) -> Tensor

/// How a view sees an item: image augmentation and caption table.
public struct View: Sendable, Equatable {
    public enum Images: Sendable, Equatable {
        /// Resize + centre crop only.
        case plain
        /// SafeCLIP's augmentation (flip, resized crop, colour jitter, grey, blur).
        case safeCLIP
        /// AutoAugment (ImageNet policy), then resize + centre crop: CleanCLIP's and RoCLIP's view.
        case autoAugment
        /// Resize + centre crop, then PAR's rectified Gaussian noise (σ on the [0, 1] scale, applied
        /// with probability `noiseProbability`) and a CutOut square of up to `cutoutArea` of the image
        /// (with probability `cutoutProbability`): ``AugmentationPipeline/parView(size:noiseStd:noiseProbability:cutoutArea:cutoutProbability:)``.
        case noiseCutOut(noiseStd: Double, noiseProbability: Double, cutoutArea: Double, cutoutProbability: Double)
    }
    public var images: Images
    /// Index into the run's two EDA caption tables, or nil for the original captions.
    public var captions: Int?
    /// Separates the random streams of two views of the same item.
    public var salt: UInt64
    /// The data as it is.
    public static let plain = View(images: .plain, captions: nil, salt: 0)

    public init(images: Images, captions: Int?, salt: UInt64) {
        self.images = images
        self.captions = captions
        self.salt = salt
    }
}

/// One part of an epoch: a loss over some rows through one or two views.
public struct Segment {
    /// For logs and step records (`clip`, `unimodal`, `mixed-risky`, …).
    public var name: String
    /// One loader per view (empty when the rows cannot fill a batch).
    var loaders: [DataLoader]
    /// Optimizer steps of the segment.
    public var steps: Int
    public var loss: SegmentLoss
}

/// A run as its objective sees it: settings, model, data, and the services an objective needs —
/// loaders over rows and views, similarity passes, the metrics log, checkpoints.
public final class TrainingRun {
    let core: TrainingCore
    /// The training pairs.
    public let dataset: any ImageTextDataset
    /// Poisoned rows of the training set (from the manifest), when known.
    public let poisonedRows: [Int]?
    /// The objective's JSON state from the checkpoint, on resume.
    public let savedState: String?
    /// The objective's tensors from the checkpoint (without the `defense.` prefix), on resume.
    public var savedTensors: [String: Tensor] { core.resumedDefenseTensors }
    private var edaTables: [[String]]?
    /// Set by the trainer: writes a checkpoint with the objective's current state.
    var commit: () throws -> Void = {}

    init(core: TrainingCore, dataset: any ImageTextDataset) throws {
        self.core = core
        self.dataset = dataset
        poisonedRows = try TrainingRun.poisonedRows(config: core.config, count: dataset.count)
        savedState = core.progress.defenseState
    }

    public var config: TrainingConfig { core.config }
    public var model: CLIPModel { core.model }
    public var device: Device { core.device }
    public var collective: any Collective { core.collective }
    /// Optimizer steps taken so far.
    public var globalStep: Int { core.progress.globalStep }
    public var runDirectory: String { core.runDirectory }
    public var checkpointPath: String { core.checkpointPath }
    /// All rows of the training set.
    public var allRows: [Int] { Array(0..<dataset.count) }

    /// Prints a line above the progress bar.
    public func log(_ line: String) { core.reporter.log(line) }
    /// Appends a record to `metrics.jsonl` (rank 0 only) and, with `--tensorboard`, its numbers
    /// to the event file as `GROUP/key` at the current step.
    public func record(_ record: some Encodable, group: String) throws { try core.record(record, group: group, step: globalStep) }
    /// Writes a checkpoint holding the objective's current state, so that a selection is never
    /// recomputed (or logged twice) after a resume.
    public func commitState() throws { try commit() }

    /// A segment over `rows` seen through `views`, with `loss`; no steps (and no loaders) when
    /// the rows cannot fill one batch. `salt` separates the shuffles of an epoch's segments; a
    /// nil salt shuffles with the run's seed itself (plain CLIP).
    public func segment(_ name: String, rows: [Int], views: [View], salt: UInt64?, loss: @escaping SegmentLoss) throws -> Segment {
        let batches = rows.count / config.batchSize
        let steps = batches / config.accumulation
        let loaders = steps == 0 ? [] : try views.map { try loader(rows: rows, view: $0, segmentSalt: salt) }
        return Segment(name: name, loaders: loaders, steps: steps, loss: loss)
    }

    /// This rank's loader over `rows` seen through `view`. Training loaders shuffle (unless the
    /// configuration says not to), drop the last partial global batch and give each rank its
    /// `1/worldSize` slice of every global batch of `batch_size`; other loaders keep every row,
    /// `batchSize` rows per rank and batch, in order.
    func loader(rows: [Int], view: View, segmentSalt: UInt64?, batchSize: Int? = nil, training: Bool = true) throws -> DataLoader {
        let size = model.config.vision.imageSize
        let augmentation: (any ImageAugmentation)? = switch view.images {
        case .plain: nil
        case .safeCLIP: SaltedAugmentation(base: AugmentationPipeline.safeCLIPView(size: size), salt: view.salt)
        case .autoAugment: SaltedAugmentation(base: AugmentationPipeline.autoAugmentView(size: size), salt: view.salt)
        case .noiseCutOut(let std, let noiseP, let area, let cutP):
            SaltedAugmentation(
                base: AugmentationPipeline.parView(
                    size: size, noiseStd: std, noiseProbability: noiseP, cutoutArea: area, cutoutProbability: cutP),
                salt: view.salt)
        }
        let captions = try view.captions.map { try captionViews()[$0] }
        let subset: any ImageTextDataset =
            rows.count == dataset.count && captions == nil ? dataset : SubsetDataset(base: dataset, rows: rows, captions: captions)
        let seed: UInt64
        if let segmentSalt {
            var seeds = SplitMix64(seed: config.seed).derived(segmentSalt)
            seed = seeds.next()
        } else {
            seed = config.seed
        }
        return try DataLoader(
            dataset: subset,
            config: LoaderConfig(
                batchSize: batchSize ?? config.batchSize / collective.worldSize, shuffle: training && config.shuffle,
                seed: seed, rank: collective.rank, worldSize: collective.worldSize, dropLast: training,
                workers: config.workers, maxFailureFraction: config.maxFailureFraction,
                preprocessing: .resizeCenterCrop(size: size), imageAugmentation: augmentation))
    }

    /// Two EDA caption tables (views 0 and 1) over every row, computed on first use: row `i` of
    /// view `v` draws from `SplitMix64(seed).derived(0xEDA0 + v).derived(i)`.
    func captionViews() throws -> [[String]] {
        if let edaTables { return edaTables }
        let eda = EDA(wordNet: try WordNet())
        let captions = try (0..<dataset.count).map { try dataset.record(at: $0).caption }
        let tables = (0..<2).map { view in
            let base = SplitMix64(seed: config.seed).derived(0xEDA0 + UInt64(view))
            return captions.enumerated().map { i, caption in
                var rng = base.derived(UInt64(i))
                return eda.augment(caption, rng: &rng)
            }
        }
        edaTables = tables
        return tables
    }

    /// Cosine similarity of every pair under `scorer` in inference mode, through `view` of epoch
    /// `epoch`. Items that fail to load get −1 (lowest: risky, or dropped by the filter).
    ///
    /// With several ranks the pass is sharded (each rank scores its share of the rows, in
    /// batches of `similarity_batch_size`) and the table is summed over the ranks, so every rank
    /// holds the same values and makes the same selection.
    public func similarities(model scorer: CLIPModel, view: View, epoch: Int) throws -> [Double] {
        let loader = try loader(rows: allRows, view: view, segmentSalt: 8, batchSize: config.similarityBatchSize, training: false)
        // Own rows start at −1 (a failed item keeps it), the others' at 0 for the sum.
        var values = [Double](repeating: 0, count: dataset.count)
        for index in loader.order(epoch: epoch) { values[index] = -1 }
        let iterator = loader.epoch(epoch)
        while let batch = try iterator.next() {
            let input = core.tensors(of: batch)
            let cosine: [Float] = noGrad {
                core.autocast {
                    let image = scorer.encodeImage(input.images, training: false).to(.float32).normalized(dim: -1)
                    let text = scorer.encodeText(input.tokens, training: false).to(.float32).normalized(dim: -1)
                    return (image * text).sum(dim: 1).to(.cpu).toArray()
                }
            }
            for (position, index) in batch.indices.enumerated() { values[index] = Double(cosine[position]) }
        }
        if iterator.report.skipped > 0 { log("similarity pass: \(iterator.report)") }
        return try collective.sum(values)
    }

    /// Writes `RUN_DIR/similarities/NAME.json` (rank 0 only).
    public func writeSimilarities(_ file: SimilarityFile, name: String) throws {
        guard collective.rank == 0 else { return }
        let folder = runDirectory + "/similarities"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try encoder.encode(file).write(to: URL(fileURLWithPath: folder + "/\(name).json"), options: .atomic)
    }

    /// Per-row poisoned flags, or nil without a manifest.
    public var poisonedFlags: [Bool]? {
        poisonedRows.map { rows in
            var flags = [Bool](repeating: false, count: dataset.count)
            for row in rows { flags[row] = true }
            return flags
        }
    }

    /// How many poisoned pairs a selection of `trusted` rows caught, or nil without a manifest.
    public func detection(trusted: [Int]) -> DetectionFields? {
        guard let poisonedRows else { return nil }
        let report = PoisonDetectionReport(safe: trusted, total: dataset.count, poisoned: poisonedRows)
        return DetectionFields(
            poisonedTotal: report.poisonedCount, poisonedInSafe: report.poisonedInSafe, poisonedInRisky: report.poisonedInRisky,
            riskyPrecision: report.precision, riskyRecall: report.recall)
    }

    /// A memory bank restored from the checkpoint's `defense.NAME` tensors, or a new one.
    public func bank(named name: String, capacity: Int, seed: UInt64) throws -> NearestNeighborBank {
        let dimension = model.config.embedDim
        let saved = savedTensors
        if let storage = saved[name], let position = saved[name + "_position"] {
            guard storage.shape == [capacity, dimension] else {
                throw TrainingError.data("\(checkpointPath): defense.\(name) is \(storage.shape), expected [\(capacity), \(dimension)]")
            }
            // The restoring initialiser normalises the rows again, which changes their last
            // bits; copying the saved rows back keeps a resumed run exact.
            let bank = NearestNeighborBank(storage: storage.to(device), writePosition: position.itemInt())
            noGrad { bank.storage.copyInPlace(from: storage.to(device)) }
            return bank
        }
        return NearestNeighborBank(capacity: capacity, dimension: dimension, seed: seed, device: device)
    }

    /// A bank's tensors for the checkpoint: `NAME` and `NAME_position`.
    public static func tensors(of bank: NearestNeighborBank, named name: String) -> [String: Tensor] {
        [name: bank.storage.to(.cpu), name + "_position": Tensor(scalar: Double(bank.writePosition), dtype: .int64)]
    }

    /// The manifest's poisoned rows: from `config.manifest`, else `manifest.json` beside the
    /// training CSV (or inside the data folder), else nil.
    static func poisonedRows(config: TrainingConfig, count: Int) throws -> [Int]? {
        guard let path = config.manifest ?? fileBesideData(config.data, named: "manifest.json") else { return nil }
        let manifest = try PoisonManifest.load(path: path)
        let rows = Set(manifest.rows.map(\.index)).sorted()
        if let bad = rows.first(where: { !(0..<count).contains($0) }) {
            throw TrainingError.data("\(path): poisoned row \(bad) is not a row of \(config.data) (\(count) rows)")
        }
        return rows
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
