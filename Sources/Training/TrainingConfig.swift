import Foundation

/// Everything that defines a training run. Read from a YAML/JSON file (every key checked) and/or
/// command-line flags, and saved resolved as `RUN_DIR/config.json`.
///
/// Defaults follow the reference runs of SPEC §1 where they make sense at small scale
/// (AdamW β 0.9/0.999, eps 1e-8, weight decay 0.1, warm-up then cosine).
public struct TrainingConfig: StrictConfig, Equatable, Sendable {
    /// Training CSV/TSV (image path + caption columns) or a webdataset shard folder.
    public var data: String
    /// Column holding image paths (default: found by name: filepath, image, path, …).
    public var imageColumn: String?
    /// Column holding captions (default: found by name: caption, title, text, …).
    public var captionColumn: String?
    /// Model name (`tiny-rn`, `RN50`, …) or path to an open_clip-style model config JSON.
    public var model: String
    public var epochs: Int
    public var batchSize: Int
    /// Peak learning rate.
    public var lr: Double
    /// Linear warm-up steps before the cosine decay.
    public var warmupSteps: Int
    public var weightDecay: Double
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    /// Clip gradients to this global L2 norm (none when nil).
    public var gradClip: Double?
    /// Micro-batches per optimizer step; each contributes its own CLIP loss, averaged.
    public var accumulation: Int
    /// `fp32` or `bf16` (autocast: matmuls and convolutions in bfloat16).
    public var precision: String
    public var seed: UInt64
    /// `cpu`, `cuda`, `cuda:N` or `auto`.
    public var device: String
    /// Background threads decoding and augmenting images.
    public var workers: Int
    /// libtorch intra-op threads (default: all cores).
    public var threads: Int?
    /// Print a progress line every this many steps when not on a terminal.
    public var logEvery: Int
    /// Zero-shot evaluation folder (labels.csv + classes.json) run every `evalEvery` epochs.
    public var evalData: String?
    public var evalEvery: Int
    /// Largest fraction of unreadable training items tolerated per epoch before the run stops.
    public var maxFailureFraction: Double

    // MARK: Defences (SPEC §3–4); see docs/DEFENSES.md.

    /// `none` (plain CLIP), `safeclip`, `roclip`, `filter` (similarity filtering) or `cleanclip`
    /// (fine-tuning, `clipguard finetune`).
    public var defense: String
    /// The poisoned set's `manifest.json` (ground truth for detection metrics); by default the
    /// one next to the training CSV, if any.
    public var manifest: String?
    /// Start from these weights (a checkpoint or `model.safetensors`) instead of a fresh model.
    public var initWeights: String?
    /// SafeCLIP phase 1: unimodal warm-up epochs (reference 5).
    public var unimodalEpochs: Int
    /// SafeCLIP phase 2: CLIP warm-up epochs (reference 1).
    public var clipWarmupEpochs: Int
    /// SafeCLIP phase 2's constant learning rate (reference 5e-6); phases 1 and 3 peak at `lr`.
    public var clipWarmupLR: Double
    /// SafeCLIP: posterior threshold of the first mixed epoch (reference 0.9).
    public var gmmThreshold: Double
    /// SafeCLIP: safe fraction increment per mixed epoch (reference 0.01).
    public var safeIncrement: Double
    /// SafeCLIP: cap of the safe fraction (reference 0.85).
    public var safeCap: Double
    /// SafeCLIP: NNCLR memory bank in the unimodal loss.
    public var memoryBank: Bool
    /// SafeCLIP: memory bank size (reference 256).
    public var bankSize: Int
    /// SafeCLIP: cross-augmented CLIP loss on the safe set (reference on).
    public var crossAugmented: Bool
    /// Batch size of the similarity passes (inference only).
    public var similarityBatchSize: Int
    /// RoCLIP: caption pool size (reference 21,845).
    public var poolSize: Int
    /// RoCLIP: every k-th epoch matches images to pool captions (reference 2).
    public var matchEvery: Int
    /// Similarity filter: the model (weights file) that scores the pairs.
    public var filterModel: String?
    /// Similarity filter: fraction of lowest-similarity pairs dropped.
    public var filterFraction: Double
    /// CleanCLIP: weight λ of the in-modal terms (reference 1).
    public var inmodalWeight: Double

    public init(
        data: String, model: String, epochs: Int = 10, batchSize: Int = 128, lr: Double = 5e-4,
        warmupSteps: Int = 100, weightDecay: Double = 0.1, beta1: Double = 0.9, beta2: Double = 0.999,
        eps: Double = 1e-8, gradClip: Double? = nil, accumulation: Int = 1, precision: String = "fp32",
        seed: UInt64 = 0, device: String = "auto", workers: Int = 2, threads: Int? = nil, logEvery: Int = 50,
        evalData: String? = nil, evalEvery: Int = 1, maxFailureFraction: Double = 0.05,
        imageColumn: String? = nil, captionColumn: String? = nil, defense: String = "none", manifest: String? = nil,
        initWeights: String? = nil, unimodalEpochs: Int = 5, clipWarmupEpochs: Int = 1, clipWarmupLR: Double = 5e-6,
        gmmThreshold: Double = 0.9, safeIncrement: Double = 0.01, safeCap: Double = 0.85, memoryBank: Bool = false,
        bankSize: Int = 256, crossAugmented: Bool = true, similarityBatchSize: Int = 512, poolSize: Int = 21_845,
        matchEvery: Int = 2, filterModel: String? = nil, filterFraction: Double = 0.1, inmodalWeight: Double = 1
    ) {
        self.defense = defense
        self.manifest = manifest
        self.initWeights = initWeights
        self.unimodalEpochs = unimodalEpochs
        self.clipWarmupEpochs = clipWarmupEpochs
        self.clipWarmupLR = clipWarmupLR
        self.gmmThreshold = gmmThreshold
        self.safeIncrement = safeIncrement
        self.safeCap = safeCap
        self.memoryBank = memoryBank
        self.bankSize = bankSize
        self.crossAugmented = crossAugmented
        self.similarityBatchSize = similarityBatchSize
        self.poolSize = poolSize
        self.matchEvery = matchEvery
        self.filterModel = filterModel
        self.filterFraction = filterFraction
        self.inmodalWeight = inmodalWeight
        self.data = data
        self.model = model
        self.epochs = epochs
        self.batchSize = batchSize
        self.lr = lr
        self.warmupSteps = warmupSteps
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.gradClip = gradClip
        self.accumulation = accumulation
        self.precision = precision
        self.seed = seed
        self.device = device
        self.workers = workers
        self.threads = threads
        self.logEvery = logEvery
        self.evalData = evalData
        self.evalEvery = evalEvery
        self.maxFailureFraction = maxFailureFraction
        self.imageColumn = imageColumn
        self.captionColumn = captionColumn
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case data, model, epochs, lr, seed, device, workers, threads, precision, accumulation
        case imageColumn = "image_column", captionColumn = "caption_column"
        case batchSize = "batch_size", warmupSteps = "warmup_steps", weightDecay = "weight_decay"
        case beta1, beta2, eps, gradClip = "grad_clip", logEvery = "log_every"
        case evalData = "eval_data", evalEvery = "eval_every", maxFailureFraction = "max_failure_fraction"
        case defense, manifest, initWeights = "init_weights", unimodalEpochs = "unimodal_epochs"
        case clipWarmupEpochs = "clip_warmup_epochs", clipWarmupLR = "clip_warmup_lr", gmmThreshold = "gmm_threshold"
        case safeIncrement = "safe_increment", safeCap = "safe_cap", memoryBank = "memory_bank", bankSize = "bank_size"
        case crossAugmented = "cross_augmented", similarityBatchSize = "similarity_batch_size", poolSize = "pool_size"
        case matchEvery = "match_every", filterModel = "filter_model", filterFraction = "filter_fraction"
        case inmodalWeight = "inmodal_weight"
    }

    public static var allowedKeys: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainingConfig(data: "", model: "")
        // `data` and `model` may come from command-line flags instead; validate() requires them.
        data = try c.decodeIfPresent(String.self, forKey: .data) ?? ""
        model = try c.decodeIfPresent(String.self, forKey: .model) ?? ""
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        lr = try c.decodeIfPresent(Double.self, forKey: .lr) ?? d.lr
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? d.weightDecay
        beta1 = try c.decodeIfPresent(Double.self, forKey: .beta1) ?? d.beta1
        beta2 = try c.decodeIfPresent(Double.self, forKey: .beta2) ?? d.beta2
        eps = try c.decodeIfPresent(Double.self, forKey: .eps) ?? d.eps
        gradClip = try c.decodeIfPresent(Double.self, forKey: .gradClip)
        accumulation = try c.decodeIfPresent(Int.self, forKey: .accumulation) ?? d.accumulation
        precision = try c.decodeIfPresent(String.self, forKey: .precision) ?? d.precision
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        device = try c.decodeIfPresent(String.self, forKey: .device) ?? d.device
        workers = try c.decodeIfPresent(Int.self, forKey: .workers) ?? d.workers
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        logEvery = try c.decodeIfPresent(Int.self, forKey: .logEvery) ?? d.logEvery
        evalData = try c.decodeIfPresent(String.self, forKey: .evalData)
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? d.evalEvery
        maxFailureFraction = try c.decodeIfPresent(Double.self, forKey: .maxFailureFraction) ?? d.maxFailureFraction
        imageColumn = try c.decodeIfPresent(String.self, forKey: .imageColumn)
        captionColumn = try c.decodeIfPresent(String.self, forKey: .captionColumn)
        defense = try c.decodeIfPresent(String.self, forKey: .defense) ?? d.defense
        manifest = try c.decodeIfPresent(String.self, forKey: .manifest)
        initWeights = try c.decodeIfPresent(String.self, forKey: .initWeights)
        unimodalEpochs = try c.decodeIfPresent(Int.self, forKey: .unimodalEpochs) ?? d.unimodalEpochs
        clipWarmupEpochs = try c.decodeIfPresent(Int.self, forKey: .clipWarmupEpochs) ?? d.clipWarmupEpochs
        clipWarmupLR = try c.decodeIfPresent(Double.self, forKey: .clipWarmupLR) ?? d.clipWarmupLR
        gmmThreshold = try c.decodeIfPresent(Double.self, forKey: .gmmThreshold) ?? d.gmmThreshold
        safeIncrement = try c.decodeIfPresent(Double.self, forKey: .safeIncrement) ?? d.safeIncrement
        safeCap = try c.decodeIfPresent(Double.self, forKey: .safeCap) ?? d.safeCap
        memoryBank = try c.decodeIfPresent(Bool.self, forKey: .memoryBank) ?? d.memoryBank
        bankSize = try c.decodeIfPresent(Int.self, forKey: .bankSize) ?? d.bankSize
        crossAugmented = try c.decodeIfPresent(Bool.self, forKey: .crossAugmented) ?? d.crossAugmented
        similarityBatchSize = try c.decodeIfPresent(Int.self, forKey: .similarityBatchSize) ?? d.similarityBatchSize
        poolSize = try c.decodeIfPresent(Int.self, forKey: .poolSize) ?? d.poolSize
        matchEvery = try c.decodeIfPresent(Int.self, forKey: .matchEvery) ?? d.matchEvery
        filterModel = try c.decodeIfPresent(String.self, forKey: .filterModel)
        filterFraction = try c.decodeIfPresent(Double.self, forKey: .filterFraction) ?? d.filterFraction
        inmodalWeight = try c.decodeIfPresent(Double.self, forKey: .inmodalWeight) ?? d.inmodalWeight
    }

    /// Upper bounds of `validate()`: epochs (and every per-epoch count), steps, batch sizes,
    /// threads, and memory-bank/pool sizes.
    public static let maxEpochs = 1_000_000
    public static let maxSteps = 1 << 40
    public static let maxBatchSize = 1 << 20
    public static let maxThreads = 1_024
    public static let maxPoolSize = 1 << 24

    /// The defences `defense` accepts.
    public static let defenses = ["none", "safeclip", "roclip", "filter", "cleanclip"]

    /// Checks ranges and enumerations; the message names the key.
    public func validate(file: String = "configuration") throws(ConfigError) {
        func fail(_ key: CodingKeys, _ reason: String) -> ConfigError { ConfigError(file: file, key: key.rawValue, reason: reason) }
        if data.isEmpty { throw fail(.data, "must name a training CSV") }
        if model.isEmpty && initWeights == nil { throw fail(.model, "must name a model") }
        if epochs < 1 { throw fail(.epochs, "must be at least 1") }
        // Upper bounds keep step and sample arithmetic (epochs × steps × batch) far from overflow.
        if epochs > Self.maxEpochs { throw fail(.epochs, "\(epochs) is more than \(Self.maxEpochs)") }
        if batchSize < 2 { throw fail(.batchSize, "must be at least 2 (contrastive loss needs negatives)") }
        if batchSize > Self.maxBatchSize { throw fail(.batchSize, "\(batchSize) is more than \(Self.maxBatchSize)") }
        if !(lr > 0) || !lr.isFinite { throw fail(.lr, "must be a positive finite number") }
        if warmupSteps < 0 { throw fail(.warmupSteps, "must not be negative") }
        if warmupSteps > Self.maxSteps { throw fail(.warmupSteps, "\(warmupSteps) is more than \(Self.maxSteps)") }
        if accumulation < 1 { throw fail(.accumulation, "must be at least 1") }
        if accumulation > Self.maxBatchSize { throw fail(.accumulation, "\(accumulation) is more than \(Self.maxBatchSize)") }
        if workers > Self.maxThreads { throw fail(.workers, "\(workers) is more than \(Self.maxThreads)") }
        if let threads, threads > Self.maxThreads { throw fail(.threads, "\(threads) is more than \(Self.maxThreads)") }
        if evalEvery > Self.maxEpochs { throw fail(.evalEvery, "\(evalEvery) is more than \(Self.maxEpochs)") }
        if unimodalEpochs > Self.maxEpochs { throw fail(.unimodalEpochs, "\(unimodalEpochs) is more than \(Self.maxEpochs)") }
        if clipWarmupEpochs > Self.maxEpochs { throw fail(.clipWarmupEpochs, "\(clipWarmupEpochs) is more than \(Self.maxEpochs)") }
        if bankSize > Self.maxPoolSize { throw fail(.bankSize, "\(bankSize) is more than \(Self.maxPoolSize)") }
        if poolSize > Self.maxPoolSize { throw fail(.poolSize, "\(poolSize) is more than \(Self.maxPoolSize)") }
        if similarityBatchSize > Self.maxBatchSize {
            throw fail(.similarityBatchSize, "\(similarityBatchSize) is more than \(Self.maxBatchSize)")
        }
        if matchEvery > Self.maxEpochs { throw fail(.matchEvery, "\(matchEvery) is more than \(Self.maxEpochs)") }
        if !clipWarmupLR.isFinite { throw fail(.clipWarmupLR, "must be a finite number") }
        if !inmodalWeight.isFinite { throw fail(.inmodalWeight, "must be a finite number") }
        if !["fp32", "bf16"].contains(precision) { throw fail(.precision, "must be fp32 or bf16") }
        if workers < 0 { throw fail(.workers, "must not be negative") }
        if let threads, threads < 1 { throw fail(.threads, "must be at least 1") }
        if let gradClip, !(gradClip > 0) { throw fail(.gradClip, "must be positive") }
        if evalEvery < 1 { throw fail(.evalEvery, "must be at least 1") }
        if !(0...1).contains(maxFailureFraction) { throw fail(.maxFailureFraction, "must be within 0…1") }
        if !Self.defenses.contains(defense) { throw fail(.defense, "must be one of \(Self.defenses.joined(separator: ", "))") }
        if unimodalEpochs < 0 { throw fail(.unimodalEpochs, "must not be negative") }
        if clipWarmupEpochs < 0 { throw fail(.clipWarmupEpochs, "must not be negative") }
        if defense == "safeclip" && unimodalEpochs + clipWarmupEpochs >= epochs {
            throw fail(.epochs, "must exceed unimodal_epochs + clip_warmup_epochs (\(unimodalEpochs + clipWarmupEpochs)) for safeclip")
        }
        if !(clipWarmupLR > 0) { throw fail(.clipWarmupLR, "must be positive") }
        if !(0...1).contains(gmmThreshold) { throw fail(.gmmThreshold, "must be within 0…1") }
        if !(safeIncrement >= 0) { throw fail(.safeIncrement, "must not be negative") }
        if !(0...1).contains(safeCap) { throw fail(.safeCap, "must be within 0…1") }
        if bankSize < 1 { throw fail(.bankSize, "must be at least 1") }
        if similarityBatchSize < 1 { throw fail(.similarityBatchSize, "must be at least 1") }
        if poolSize < 1 { throw fail(.poolSize, "must be at least 1") }
        if matchEvery < 1 { throw fail(.matchEvery, "must be at least 1") }
        if defense == "filter" && filterModel == nil { throw fail(.filterModel, "must name a weights file for the filter defence") }
        if !(0..<1).contains(filterFraction) { throw fail(.filterFraction, "must be within 0…1 (1 excluded)") }
        if defense == "cleanclip" && initWeights == nil { throw fail(.initWeights, "must name the checkpoint to fine-tune") }
        if !(inmodalWeight >= 0) { throw fail(.inmodalWeight, "must not be negative") }
        if defense != "none" && accumulation != 1 { throw fail(.accumulation, "must be 1 with a defence") }
    }
}
