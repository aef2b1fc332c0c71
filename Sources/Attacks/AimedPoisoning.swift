import Datasets

/// A poisoned set built with a surrogate model's help (`clipguard poison --aim …`): the sources
/// and captions chosen by the caller instead of drawn at random, and/or every poisoned image
/// perturbed before it is written. The computation that needs a model lives in the
/// `SurrogateAttacks` target; this type only carries its results into ``Poisoner``, so Attacks
/// stays free of torch.
public struct AimedPoisoning: Sendable {
    /// Source rows (0-based rows of the clean CSV) and, optionally, one caption per row, in the
    /// order the poisoned rows are written. nil: the seeded random draw and the caption mode.
    public var plan: PoisonPlan?
    /// Applied to all poisoned images at once, before they are written (model-input placement only).
    public var perturbation: (any PoisonPerturbation)?
    /// What was done, written to the manifest's `surrogate` key (the perturbation may complete it).
    public var record: SurrogateRecord

    public init(plan: PoisonPlan?, perturbation: (any PoisonPerturbation)?, record: SurrogateRecord) {
        self.plan = plan; self.perturbation = perturbation; self.record = record
    }
}

/// Source rows and captions chosen by the caller.
public struct PoisonPlan: Sendable, Hashable {
    /// Rows of the clean CSV, distinct, each one the poisoner would have drawn from.
    public var sourceRows: [Int]
    /// One caption per source row, or nil for the caption mode's.
    public var captions: [String]?

    public init(sourceRows: [Int], captions: [String]?) { self.sourceRows = sourceRows; self.captions = captions }
}

/// The poisoned images a ``PoisonPerturbation`` receives, all at the model's input geometry.
public struct PerturbationInput: Sendable {
    /// The sources brought to the model's geometry, before the trigger.
    public var clean: [RGBImage]
    /// The same images with the trigger applied (what would be written without a perturbation).
    public var triggered: [RGBImage]
    /// Each image's trigger squares (patch triggers); empty where the trigger covers the whole image.
    public var regions: [[PixelRect]]
    /// Each poisoned row's caption.
    public var captions: [String]

    public init(clean: [RGBImage], triggered: [RGBImage], regions: [[PixelRect]], captions: [String]) {
        self.clean = clean; self.triggered = triggered; self.regions = regions; self.captions = captions
    }
}

/// A per-image perturbation of the poisoned images (PGD through a surrogate, in `SurrogateAttacks`).
///
/// Contract, checked by ``Poisoner``: one image per input, each of the triggered image's size,
/// equal to it inside the trigger squares (so the trigger that evaluation applies is the one the
/// poisons carry) and within `record.epsilon` (in 1/255 steps) of it elsewhere.
public protocol PoisonPerturbation: Sendable {
    /// The perturbed images and the completed record (measured similarities filled in).
    func perturb(_ input: PerturbationInput, record: SurrogateRecord) throws(AttackError) -> ([RGBImage], SurrogateRecord)
}

/// The manifest's `surrogate` key: which surrogate-guided attack made the set, the defence it
/// aims at, the surrogate checkpoint (path and SHA-256) and the perturbation's settings.
public struct SurrogateRecord: Codable, Sendable, Hashable {
    /// The attack's name (`safeclip-aimed`, `hard-clean-label`).
    public var attack: String
    /// The defence or model the attack is aimed at, in words.
    public var aimsAt: String
    /// The surrogate checkpoint (absolute path) and the SHA-256 of its bytes (lower-case hex).
    public var checkpoint: String
    public var checkpointSHA256: String
    /// How the sources and captions were chosen (nil: at random, as without a surrogate).
    public var selection: String?
    /// Eligible source images the selection ranked.
    public var candidates: Int?
    /// What the perturbation optimised (nil: no perturbation).
    public var objective: String?
    /// L∞ radius in 1/255 steps of the 8-bit pixel values, PGD steps and step size (1/255 steps).
    public var epsilon: Int?
    public var steps: Int?
    public var stepSize: Double?
    /// Mean surrogate cosine similarity of the written poisoned images and their captions before
    /// any selection or perturbation (random sources, the caption mode's captions) and after.
    public var similarityBefore: Double?
    public var similarityAfter: Double?

    public init(attack: String, aimsAt: String, checkpoint: String, checkpointSHA256: String, selection: String? = nil,
                candidates: Int? = nil, objective: String? = nil, epsilon: Int? = nil, steps: Int? = nil, stepSize: Double? = nil,
                similarityBefore: Double? = nil, similarityAfter: Double? = nil) {
        self.attack = attack; self.aimsAt = aimsAt; self.checkpoint = checkpoint; self.checkpointSHA256 = checkpointSHA256
        self.selection = selection; self.candidates = candidates; self.objective = objective; self.epsilon = epsilon
        self.steps = steps; self.stepSize = stepSize; self.similarityBefore = similarityBefore; self.similarityAfter = similarityAfter
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case attack, checkpoint, selection, candidates, objective, epsilon, steps
        case aimsAt = "aims_at", checkpointSHA256 = "checkpoint_sha256", stepSize = "step_size"
        case similarityBefore = "similarity_before", similarityAfter = "similarity_after"
    }

    /// One line for the poisoner's summary.
    public var summary: String {
        var parts = ["\(attack) (aimed at \(aimsAt)), surrogate \(checkpoint) (sha256 \(checkpointSHA256.prefix(12))…)"]
        if let selection { parts.append(selection) }
        if let objective, let epsilon, let steps {
            parts.append("PGD \(objective), ε = \(epsilon)/255, \(steps) steps")
        }
        if let b = similarityBefore, let a = similarityAfter {
            parts.append(String(format: "mean surrogate similarity %.3f → %.3f", b, a))
        }
        return parts.joined(separator: "; ")
    }

    /// Checks the values; errors name `path` and the key.
    func validate(path: String) throws(AttackError) {
        func fail(_ key: String, _ reason: String) -> AttackError { .manifest(path: path, key: "surrogate.\(key)", reason: reason) }
        if attack.isEmpty { throw fail("attack", "empty") }
        if checkpointSHA256.count != 64 || !checkpointSHA256.allSatisfy({ $0.isHexDigit }) {
            throw fail("checkpoint_sha256", "must be 64 hexadecimal digits")
        }
        if let epsilon, !(1...255).contains(epsilon) { throw fail("epsilon", "must be in 1…255 (1/255 steps), got \(epsilon)") }
        if let steps, !(1...10_000).contains(steps) { throw fail("steps", "must be in 1…10000, got \(steps)") }
        if let stepSize, !(stepSize > 0 && stepSize <= 255) { throw fail("step_size", "must be in (0, 255], got \(stepSize)") }
    }
}
