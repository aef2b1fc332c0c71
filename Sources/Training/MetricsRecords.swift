import Foundation

/// One optimizer step's line in `metrics.jsonl`. Every step has one, with its own figures; the
/// trainer reads them back from the device and writes them in groups, every `log_every` steps, at
/// the end of each epoch and before a checkpoint (see ``Trainer/readSteps()``).
public struct StepRecord: Codable, Sendable, Equatable {
    /// Optimizer steps taken so far (1-based: the first step's record says 1).
    public var step: Int
    /// 1-based epoch.
    public var epoch: Int
    /// The step's own loss (with accumulation: the loss of its whole batch).
    public var loss: Double
    /// The learning rate the step used.
    public var lr: Double
    /// The multiplier `exp(logit_scale)` that this step's loss used (read before the update).
    public var logitMultiplier: Double
    /// `exp(logit_scale)` after the update and the clamp (the next step's multiplier).
    public var logitScale: Double
    /// Training pairs per second over all workers, over the steps of the read interval that
    /// holds this step (their pairs over their wall time and the wait for the device).
    public var pairsPerSecond: Double
    /// Wall time of the step on the host. On a GPU, where the step only queues its work, the last
    /// step of a read interval also holds the wait for the device to finish the interval.
    public var seconds: Double
    /// Global gradient norm before clipping (only when `grad_clip` is set).
    public var gradNorm: Double?
    /// The part of the epoch that took the step (a defence's segment: `unimodal`, `mixed-safe`, …;
    /// `clip` for plain CLIP).
    public var phase: String?

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, lr, seconds, phase
        case logitMultiplier = "logit_multiplier", logitScale = "logit_scale", pairsPerSecond = "pairs_per_s"
        case gradNorm = "grad_norm"
    }
}

/// Zero-shot figures of one evaluation, as an epoch record carries them.
public struct EpochEvaluation: Codable, Sendable, Equatable {
    public var top1: Double
    public var top5: Double
    public var count: Int
    /// Attack success rate on the triggered evaluation images, when measured.
    public var asr: Double?
    /// The ASR's base rate: non-target images classified as the target without the trigger.
    public var asrBaseRate: Double?

    public init(top1: Double, top5: Double, count: Int, asr: Double? = nil, asrBaseRate: Double? = nil) {
        self.top1 = top1
        self.top5 = top5
        self.count = count
        self.asr = asr
        self.asrBaseRate = asrBaseRate
    }
}

/// The end of an epoch's line in `metrics.jsonl`.
public struct EpochRecord: Codable, Sendable, Equatable {
    /// The 1-based epoch that ended.
    public var epochEnd: Int
    /// Optimizer steps taken so far.
    public var step: Int
    /// Items loaded and skipped (unreadable) by all workers together.
    public var loaded: Int
    public var skipped: Int
    /// Training seconds over every session so far.
    public var elapsedSeconds: Double?
    /// The epoch's phase (`unimodal`, `clip-warmup`, `mixed` for SafeCLIP; the segment otherwise).
    public var phase: String?
    public var zeroshotTop1: Double?
    public var zeroshotTop5: Double?
    public var zeroshotCount: Int?
    public var asr: Double?
    public var asrBaseRate: Double?

    enum CodingKeys: String, CodingKey {
        case step, loaded, skipped, phase, asr
        case asrBaseRate = "asr_base_rate"
        case epochEnd = "epoch_end", elapsedSeconds = "elapsed_s", zeroshotTop1 = "zeroshot_top1"
        case zeroshotTop5 = "zeroshot_top5", zeroshotCount = "zeroshot_n"
    }

    /// Sets the zero-shot fields (and the ASR, when given) from an evaluation.
    public mutating func merge(_ evaluation: EpochEvaluation) {
        zeroshotTop1 = evaluation.top1
        zeroshotTop5 = evaluation.top5
        zeroshotCount = evaluation.count
        if let asr = evaluation.asr { self.asr = asr }
        if let base = evaluation.asrBaseRate { asrBaseRate = base }
    }
}

/// How many poisoned pairs a selection caught, against the attack manifest.
public struct DetectionFields: Codable, Sendable, Equatable {
    public var poisonedTotal: Int
    public var poisonedInSafe: Int
    public var poisonedInRisky: Int
    /// Fraction of the risky (distrusted) pairs that are poisoned; nil when none is risky.
    public var riskyPrecision: Double?
    /// Fraction of the poisoned pairs that landed in the risky set; nil without poisoned pairs.
    public var riskyRecall: Double?

    enum CodingKeys: String, CodingKey {
        case poisonedTotal = "poisoned_total", poisonedInSafe = "poisoned_in_safe", poisonedInRisky = "poisoned_in_risky"
        case riskyPrecision = "risky_precision", riskyRecall = "risky_recall"
    }
}

/// A SafeCLIP selection's line in `metrics.jsonl` (one per mixed epoch, before its training).
public struct SelectionRecord: Codable, Sendable, Equatable {
    public var selectionEpoch: Int
    public var step: Int
    public var phase = "mixed"
    /// `threshold` (first mixed epoch) or `topFraction`.
    public var selectionRule: String
    public var safeFraction: Double
    /// The safe-set fraction `r` this selection used (for the threshold rule: the measured one).
    public var r: Double
    /// What ranked the pairs: `threshold` (first selection: posterior ≥ gmm_threshold),
    /// `posterior` or `similarity` (top r·N).
    public var ranking: String?
    public var safeCount: Int
    public var riskyCount: Int
    /// The mixture fit (non-finite values written as null).
    public var gmmMeans: [Double?]
    public var gmmVariances: [Double?]
    public var gmmWeights: [Double?]
    public var gmmLogLikelihood: Double?
    public var gmmIterations: Int
    public var gmmConverged: Bool
    /// Why the fit was degenerate, or nil.
    public var gmmDegenerate: String?
    /// Optimizer steps of the whole phase 3.
    public var mixedSteps: Int
    /// The similarity file of this pass, relative to the run folder.
    public var similaritiesFile: String
    /// Poisoned pairs caught, with a manifest.
    public var detection: DetectionFields?

    enum CodingKeys: String, CodingKey {
        case step, phase, r, ranking
        case selectionEpoch = "selection_epoch", selectionRule = "selection_rule", safeFraction = "safe_fraction"
        case safeCount = "safe_count", riskyCount = "risky_count", gmmMeans = "gmm_means", gmmVariances = "gmm_variances"
        case gmmWeights = "gmm_weights", gmmLogLikelihood = "gmm_log_likelihood", gmmIterations = "gmm_iterations"
        case gmmConverged = "gmm_converged", gmmDegenerate = "gmm_degenerate", mixedSteps = "mixed_steps"
        case similaritiesFile = "similarities_file"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        selectionEpoch = try c.decode(Int.self, forKey: .selectionEpoch)
        step = try c.decode(Int.self, forKey: .step)
        phase = try c.decodeIfPresent(String.self, forKey: .phase) ?? "mixed"
        selectionRule = try c.decode(String.self, forKey: .selectionRule)
        safeFraction = try c.decode(Double.self, forKey: .safeFraction)
        r = try c.decode(Double.self, forKey: .r)
        ranking = try c.decodeIfPresent(String.self, forKey: .ranking)
        safeCount = try c.decode(Int.self, forKey: .safeCount)
        riskyCount = try c.decode(Int.self, forKey: .riskyCount)
        gmmMeans = try c.decode([Double?].self, forKey: .gmmMeans)
        gmmVariances = try c.decode([Double?].self, forKey: .gmmVariances)
        gmmWeights = try c.decode([Double?].self, forKey: .gmmWeights)
        gmmLogLikelihood = try c.decodeIfPresent(Double.self, forKey: .gmmLogLikelihood)
        gmmIterations = try c.decode(Int.self, forKey: .gmmIterations)
        gmmConverged = try c.decode(Bool.self, forKey: .gmmConverged)
        gmmDegenerate = try c.decodeIfPresent(String.self, forKey: .gmmDegenerate)
        mixedSteps = try c.decode(Int.self, forKey: .mixedSteps)
        similaritiesFile = try c.decode(String.self, forKey: .similaritiesFile)
        detection = try? DetectionFields(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(selectionEpoch, forKey: .selectionEpoch)
        try c.encode(step, forKey: .step)
        try c.encode(phase, forKey: .phase)
        try c.encode(selectionRule, forKey: .selectionRule)
        try c.encode(safeFraction, forKey: .safeFraction)
        try c.encode(r, forKey: .r)
        try c.encodeIfPresent(ranking, forKey: .ranking)
        try c.encode(safeCount, forKey: .safeCount)
        try c.encode(riskyCount, forKey: .riskyCount)
        try c.encode(gmmMeans, forKey: .gmmMeans)
        try c.encode(gmmVariances, forKey: .gmmVariances)
        try c.encode(gmmWeights, forKey: .gmmWeights)
        try c.encode(gmmLogLikelihood, forKey: .gmmLogLikelihood)
        try c.encode(gmmIterations, forKey: .gmmIterations)
        try c.encode(gmmConverged, forKey: .gmmConverged)
        try c.encode(gmmDegenerate, forKey: .gmmDegenerate)
        try c.encode(mixedSteps, forKey: .mixedSteps)
        try c.encode(similaritiesFile, forKey: .similaritiesFile)
        try detection?.encode(to: encoder)
    }

    init(
        selectionEpoch: Int, step: Int, selectionRule: String, safeFraction: Double, r: Double, ranking: String?, safeCount: Int,
        riskyCount: Int,
        gmmMeans: [Double], gmmVariances: [Double], gmmWeights: [Double], gmmLogLikelihood: Double, gmmIterations: Int,
        gmmConverged: Bool, gmmDegenerate: String?, mixedSteps: Int, similaritiesFile: String, detection: DetectionFields?
    ) {
        func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }
        self.selectionEpoch = selectionEpoch
        self.step = step
        self.selectionRule = selectionRule
        self.safeFraction = safeFraction
        self.r = r
        self.ranking = ranking
        self.safeCount = safeCount
        self.riskyCount = riskyCount
        self.gmmMeans = gmmMeans.map(finite)
        self.gmmVariances = gmmVariances.map(finite)
        self.gmmWeights = gmmWeights.map(finite)
        self.gmmLogLikelihood = finite(gmmLogLikelihood)
        self.gmmIterations = gmmIterations
        self.gmmConverged = gmmConverged
        self.gmmDegenerate = gmmDegenerate
        self.mixedSteps = mixedSteps
        self.similaritiesFile = similaritiesFile
        self.detection = detection
    }
}

/// The similarity filter's line in `metrics.jsonl` (once, before training).
public struct FilterRecord: Codable, Sendable, Equatable {
    public var filterKept: Int
    public var filterDropped: Int
    public var step: Int
    public var similaritiesFile: String
    /// With a manifest: poisoned pairs in all, dropped and kept.
    public var poisonedTotal: Int?
    public var poisonedDropped: Int?
    public var poisonedKept: Int?

    enum CodingKeys: String, CodingKey {
        case step
        case filterKept = "filter_kept", filterDropped = "filter_dropped", similaritiesFile = "similarities_file"
        case poisonedTotal = "poisoned_total", poisonedDropped = "poisoned_dropped", poisonedKept = "poisoned_kept"
    }
}

extension MetricsLog {
    /// Appends a typed record as one JSON line (keys sorted); returns the line without its newline.
    @discardableResult
    public func append(_ record: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(record)
        try appendLine(data + [0x0A])
        return data
    }
}
