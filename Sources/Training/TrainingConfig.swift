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
    /// Micro-batches of `batch_size` per optimizer step, as open_clip's `--accum-freq`: the loss is
    /// that of all of them together (accumulation × batch_size pairs), in the memory of one.
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
    /// Write TensorBoard event files of every step and epoch metric to `RUN_DIR/tensorboard`.
    public var tensorboard: Bool
    /// Shuffle the training pairs each epoch (seeded). Off, batches follow the data's row order —
    /// for step-by-step comparisons with another trainer fed the same batches.
    public var shuffle: Bool

    // MARK: Defences (SPEC §3–4); see the README's "Defences".

    /// Plain CLIP (`none`) or the defence to train with. Setting another defence resets
    /// ``settings`` to the new defence's defaults.
    public var defense: Defense {
        didSet { if defense != oldValue { storedSettings = DefenseSettingsBox(value: defense.defaultSettings) } }
    }
    /// The poisoned set's `manifest.json` (ground truth for detection metrics); by default the
    /// one next to the training CSV, if any.
    public var manifest: String?
    /// Start from these weights (a checkpoint or `model.safetensors`) instead of a fresh model.
    public var initWeights: String?
    /// Batch size of the similarity passes of the defences that make them (inference only).
    public var similarityBatchSize: Int
    private var storedSettings: DefenseSettingsBox

    /// The settings of ``defense`` (always of its ``Defense/settingsType``). In config files
    /// they are the block named after the defence (`safeclip: {unimodal_epochs: 1}`), or flat
    /// keys as earlier versions wrote them.
    public var settings: any DefenseSettings {
        get { storedSettings.value }
        set {
            if let owner = Defense.owning(type(of: newValue)), owner != defense { defense = owner }
            storedSettings = DefenseSettingsBox(value: newValue)
        }
    }

    /// The settings as `S`: the configured defence's when it is `S`'s, else `S`'s defaults.
    /// Setting them selects the defence whose settings `S` are.
    ///
    /// ```swift
    /// config[settings: SafeCLIPSettings.self].unimodalEpochs = 1   // defense becomes safeclip
    /// ```
    public subscript<S: DefenseSettings>(settings type: S.Type) -> S {
        get { settings as? S ?? S() }
        set { settings = newValue }
    }

    public init(
        data: String, model: String, epochs: Int = 10, batchSize: Int = 128, lr: Double = 5e-4,
        warmupSteps: Int = 100, weightDecay: Double = 0.1, beta1: Double = 0.9, beta2: Double = 0.999,
        eps: Double = 1e-8, gradClip: Double? = nil, accumulation: Int = 1, precision: String = "fp32",
        seed: UInt64 = 0, device: String = "auto", workers: Int = 2, threads: Int? = nil, logEvery: Int = 50,
        evalData: String? = nil, evalEvery: Int = 1, maxFailureFraction: Double = 0.05,
        imageColumn: String? = nil, captionColumn: String? = nil, shuffle: Bool = true, tensorboard: Bool = false, defense: Defense = .none,
        manifest: String? = nil, initWeights: String? = nil, similarityBatchSize: Int = 512, settings: (any DefenseSettings)? = nil
    ) {
        let settings = settings ?? defense.defaultSettings
        self.defense = Defense.owning(type(of: settings)) ?? defense
        self.storedSettings = DefenseSettingsBox(value: settings)
        self.manifest = manifest
        self.initWeights = initWeights
        self.similarityBatchSize = similarityBatchSize
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
        self.shuffle = shuffle
        self.tensorboard = tensorboard
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case data, model, epochs, lr, seed, device, workers, threads, precision, accumulation, shuffle, tensorboard
        case imageColumn = "image_column", captionColumn = "caption_column"
        case batchSize = "batch_size", warmupSteps = "warmup_steps", weightDecay = "weight_decay"
        case beta1, beta2, eps, gradClip = "grad_clip", logEvery = "log_every"
        case evalData = "eval_data", evalEvery = "eval_every", maxFailureFraction = "max_failure_fraction"
        case defense, manifest, initWeights = "init_weights", similarityBatchSize = "similarity_batch_size"
    }

    /// Every key a config file may hold: the common ones, each defence's name (its nested
    /// settings block) and each defence's keys (the flat form of earlier versions).
    public static var allowedKeys: Set<String> {
        Set(CodingKeys.allCases.map(\.rawValue)).union(Defense.allCases.flatMap { [$0.name] + $0.settingsType.keys.map(\.name) })
    }

    /// Each defence's settings block is checked key by key.
    public static var nestedTypes: [String: any StrictConfig.Type] {
        Dictionary(uniqueKeysWithValues: Defense.allCases.map { ($0.name, $0.settingsType as any StrictConfig.Type) })
    }

    /// A note for flat defence keys: the file is read as before, and the note names the nested form.
    public static func notes(keys: Set<String>) -> [String] {
        let flat = Defense.allCases.compactMap { d -> String? in
            let given = d.settingsType.keys.map(\.name).filter(keys.contains)
            guard let first = given.first else { return nil }
            return "\(d.name): {\(first): …\(given.count > 1 ? ", …" : "")}"
        }
        guard !flat.isEmpty else { return [] }
        return ["defence settings at the top level are read as before; the new form nests them under the defence: " + flat.joined(separator: ", ")]
    }

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
        shuffle = try c.decodeIfPresent(Bool.self, forKey: .shuffle) ?? d.shuffle
        tensorboard = try c.decodeIfPresent(Bool.self, forKey: .tensorboard) ?? d.tensorboard
        if let name = try c.decodeIfPresent(String.self, forKey: .defense) {
            guard let defense = Defense(name: name) else {
                throw DecodingError.dataCorruptedError(forKey: .defense, in: c, debugDescription: Defense.unknown(name))
            }
            self.defense = defense
        } else {
            defense = d.defense
        }
        manifest = try c.decodeIfPresent(String.self, forKey: .manifest)
        initWeights = try c.decodeIfPresent(String.self, forKey: .initWeights)
        similarityBatchSize = try c.decodeIfPresent(Int.self, forKey: .similarityBatchSize) ?? d.similarityBatchSize
        // Every defence's block (or flat keys) is read, so a bad value is named whichever defence
        // runs; only the configured defence's settings are kept (files of earlier versions list
        // every defence's keys).
        storedSettings = DefenseSettingsBox(value: try DefenseSettingsTable(from: decoder)[defense])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(data, forKey: .data)
        try c.encode(model, forKey: .model)
        try c.encode(epochs, forKey: .epochs)
        try c.encode(batchSize, forKey: .batchSize)
        try c.encode(lr, forKey: .lr)
        try c.encode(warmupSteps, forKey: .warmupSteps)
        try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(beta1, forKey: .beta1)
        try c.encode(beta2, forKey: .beta2)
        try c.encode(eps, forKey: .eps)
        try c.encodeIfPresent(gradClip, forKey: .gradClip)
        try c.encode(accumulation, forKey: .accumulation)
        try c.encode(precision, forKey: .precision)
        try c.encode(seed, forKey: .seed)
        try c.encode(device, forKey: .device)
        try c.encode(workers, forKey: .workers)
        try c.encodeIfPresent(threads, forKey: .threads)
        try c.encode(logEvery, forKey: .logEvery)
        try c.encodeIfPresent(evalData, forKey: .evalData)
        try c.encode(evalEvery, forKey: .evalEvery)
        try c.encode(maxFailureFraction, forKey: .maxFailureFraction)
        try c.encodeIfPresent(imageColumn, forKey: .imageColumn)
        try c.encodeIfPresent(captionColumn, forKey: .captionColumn)
        try c.encode(shuffle, forKey: .shuffle)
        try c.encode(tensorboard, forKey: .tensorboard)
        try c.encode(defense, forKey: .defense)
        try c.encodeIfPresent(manifest, forKey: .manifest)
        try c.encodeIfPresent(initWeights, forKey: .initWeights)
        try c.encode(similarityBatchSize, forKey: .similarityBatchSize)
        try settings.write(to: encoder, name: defense.name)
    }

    /// Upper bounds of `validate()`: epochs (and every per-epoch count), steps, batch sizes,
    /// threads, and memory-bank/pool sizes.
    public static let maxEpochs = 1_000_000
    public static let maxSteps = 1 << 40
    public static let maxBatchSize = 1 << 20
    public static let maxThreads = 1_024
    public static let maxPoolSize = 1 << 24

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
        if similarityBatchSize > Self.maxBatchSize {
            throw fail(.similarityBatchSize, "\(similarityBatchSize) is more than \(Self.maxBatchSize)")
        }
        if !["fp32", "bf16"].contains(precision) { throw fail(.precision, "must be fp32 or bf16") }
        if workers < 0 { throw fail(.workers, "must not be negative") }
        if let threads, threads < 1 { throw fail(.threads, "must be at least 1") }
        if let gradClip, !(gradClip > 0) { throw fail(.gradClip, "must be positive") }
        if evalEvery < 1 { throw fail(.evalEvery, "must be at least 1") }
        if !(0...1).contains(maxFailureFraction) { throw fail(.maxFailureFraction, "must be within 0…1") }
        if similarityBatchSize < 1 { throw fail(.similarityBatchSize, "must be at least 1") }
        if !defense.traits.supportsAccumulation && accumulation != 1 {
            throw fail(.accumulation, "must be 1 with \(defense.name) (its losses need whole batches)")
        }
        if defense.finetunes && initWeights == nil { throw fail(.initWeights, "must name the checkpoint to fine-tune") }
        try settings.validate(file: file, in: self)
    }
}

extension TrainingConfig {
    /// Keys whose change on resume does not alter the trained weights.
    static let harmlessOnResume: Set<String> = [
        "threads", "workers", "log_every", "eval_data", "eval_every", "device", "max_failure_fraction", "manifest",
        "similarity_batch_size", "tensorboard",
    ]

    /// The settings that differ from a run's saved `config.json`, split into those that would
    /// change the result (data, batch, seed, model, schedule, defence settings, …) and the
    /// harmless ones (threads, workers, log interval, evaluation, device).
    ///
    /// - Returns: key names (config-file spelling), sorted; `savedValues` describes the saved
    ///   values of the result-changing keys.
    func resumeConflicts(saved: TrainingConfig) -> (changesResult: [String], harmless: [String], savedValues: String) {
        let mine = Self.flatValues(self), theirs = Self.flatValues(saved)
        let changed = Set(mine.keys).union(theirs.keys).filter { mine[$0] != theirs[$0] }.sorted()
        let changesResult = changed.filter { !Self.harmlessOnResume.contains($0) }
        let savedValues = changesResult.map { "\($0) = \(theirs[$0] ?? "unset")" }.joined(separator: ", ")
        return (changesResult, changed.filter { Self.harmlessOnResume.contains($0) }, savedValues)
    }
}
