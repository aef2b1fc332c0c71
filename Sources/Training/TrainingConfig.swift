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

    public init(
        data: String, model: String, epochs: Int = 10, batchSize: Int = 128, lr: Double = 5e-4,
        warmupSteps: Int = 100, weightDecay: Double = 0.1, beta1: Double = 0.9, beta2: Double = 0.999,
        eps: Double = 1e-8, gradClip: Double? = nil, accumulation: Int = 1, precision: String = "fp32",
        seed: UInt64 = 0, device: String = "auto", workers: Int = 2, threads: Int? = nil, logEvery: Int = 50,
        evalData: String? = nil, evalEvery: Int = 1, maxFailureFraction: Double = 0.05,
        imageColumn: String? = nil, captionColumn: String? = nil
    ) {
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
    }

    /// Checks ranges and enumerations; the message names the key.
    public func validate(file: String = "configuration") throws(ConfigError) {
        func fail(_ key: CodingKeys, _ reason: String) -> ConfigError { ConfigError(file: file, key: key.rawValue, reason: reason) }
        if data.isEmpty { throw fail(.data, "must name a training CSV") }
        if model.isEmpty { throw fail(.model, "must name a model") }
        if epochs < 1 { throw fail(.epochs, "must be at least 1") }
        if batchSize < 2 { throw fail(.batchSize, "must be at least 2 (contrastive loss needs negatives)") }
        if !(lr > 0) { throw fail(.lr, "must be positive") }
        if warmupSteps < 0 { throw fail(.warmupSteps, "must not be negative") }
        if accumulation < 1 { throw fail(.accumulation, "must be at least 1") }
        if !["fp32", "bf16"].contains(precision) { throw fail(.precision, "must be fp32 or bf16") }
        if workers < 0 { throw fail(.workers, "must not be negative") }
        if let threads, threads < 1 { throw fail(.threads, "must be at least 1") }
        if let gradClip, !(gradClip > 0) { throw fail(.gradClip, "must be positive") }
        if evalEvery < 1 { throw fail(.evalEvery, "must be at least 1") }
        if !(0...1).contains(maxFailureFraction) { throw fail(.maxFailureFraction, "must be within 0…1") }
    }
}
