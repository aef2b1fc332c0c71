import Attacks
import Datasets
import Foundation
import Torch

/// The surrogate-guided attacks of `clipguard poison --aim NAME --surrogate CHECKPOINT`, each aimed
/// at a defence (issue #22, item 4).
public enum AimedAttack: String, Sendable, CaseIterable, Codable {
    /// Aimed at SafeCLIP's similarity split (SPEC §3): dirty-label poison whose image–caption
    /// similarity under a clean surrogate is as high as it can be made, so that the poisons land
    /// in the safe set (CLIP loss) rather than the risky set (unimodal loss only). Among the
    /// eligible non-target images, each triggered image is paired with the target caption the
    /// surrogate finds most similar to it, the images with the highest such similarity are kept,
    /// and PGD then raises each poison's similarity to its caption within ε.
    case safeclipAimed = "safeclip-aimed"
    /// Aimed at a clean-label poison being ignored (Turner et al. 2019, "Label-consistent backdoor
    /// attacks"): the target's own images, captions unchanged, are first made hard to learn — PGD
    /// lowers each image's surrogate similarity to its own caption within ε — and then get the
    /// trigger, so the model has to lean on the trigger to match them with their captions.
    case hardCleanLabel = "hard-clean-label"

    /// The defence or model the attack is aimed at, in words (the manifest's `aims_at`).
    public var aimsAt: String {
        switch self {
        case .safeclipAimed: "SafeCLIP's similarity split (poisons in the safe set)"
        case .hardCleanLabel: "plain CLIP training on label-consistent poison (Turner et al. 2019)"
        }
    }

    /// The caption mode the attack needs.
    public var captions: CaptionStrategy { self == .safeclipAimed ? .natural : .labelConsistent }

    /// The default L∞ radius (1/255 steps): 8 for the SafeCLIP-aimed attack, 16 for the
    /// clean-label one (Turner et al. find larger radii make the images harder to learn).
    public var defaultEpsilon: Int { self == .safeclipAimed ? 8 : 16 }
}

/// How the SafeCLIP-aimed attack chooses its sources and captions.
public enum AimSelection: String, Sendable, CaseIterable, Codable {
    /// The eligible images with the highest similarity to their best target caption.
    case top
    /// The same, taken in turn from each label of the data (equal shares per class), so the
    /// poisons are not all of the classes that already look like the target.
    case perClass = "per-class"
    /// The seeded random draw and the caption mode's captions (perturbation only).
    case random
}

/// Settings of an aimed attack.
public struct AimedAttackSettings: Sendable, Equatable {
    public var attack: AimedAttack
    /// The surrogate checkpoint.
    public var surrogate: String
    /// L∞ radius (1/255 steps; 0: no perturbation), PGD steps and step size (default 2.5 ε / steps).
    public var epsilon: Int
    public var steps: Int
    public var stepSize: Double?
    /// SafeCLIP-aimed only: how the sources and captions are chosen (``AimSelection``).
    public var selection: AimSelection

    public init(attack: AimedAttack, surrogate: String, epsilon: Int? = nil, steps: Int = 10, stepSize: Double? = nil,
                selection: AimSelection? = nil) {
        self.attack = attack; self.surrogate = surrogate; self.epsilon = epsilon ?? attack.defaultEpsilon
        self.steps = steps; self.stepSize = stepSize; self.selection = selection ?? (attack == .safeclipAimed ? .top : .random)
    }

    /// Checks the settings that need no data; messages name the flag.
    public func check() throws(AttackError) {
        if surrogate.trimmingCharacters(in: .whitespaces).isEmpty { throw .invalidSetting("--surrogate is empty") }
        guard (0...255).contains(epsilon) else { throw .invalidSetting("--epsilon must be in 0…255 (steps of 1/255; 0: no perturbation), got \(epsilon)") }
        if epsilon > 0 { try PGDPerturbation.check(epsilon: epsilon, steps: steps, stepSize: stepSize) }
        if attack == .hardCleanLabel && epsilon == 0 {
            throw .invalidSetting("--aim hard-clean-label needs a perturbation: --epsilon must be at least 1")
        }
        if attack == .hardCleanLabel && selection != .random {
            throw .invalidSetting("--aim-selection applies to --aim safeclip-aimed only (hard-clean-label poisons the target's own images)")
        }
    }
}

extension AimedAttack {
    /// The ``AimedPoisoning`` for `request` (its `aim` is ignored): the surrogate's choice of
    /// sources and captions and/or its PGD perturbation, with the record the manifest keeps.
    ///
    /// - Throws: ``AttackError`` naming the flag for bad settings, a caption mode other than the
    ///   attack's, placement other than model-input, a surrogate of another input size; the
    ///   poisoner's errors for the data.
    public static func prepare(_ request: PoisonRequest, settings: AimedAttackSettings, log: (String) -> Void = { _ in }) throws(AttackError) -> AimedPoisoning {
        try settings.check()
        let attack = settings.attack
        guard request.captions == attack.captions else {
            throw .invalidSetting("--aim \(attack.rawValue) needs --captions \(attack.captions.rawValue), got \(request.captions.rawValue)")
        }
        guard case .modelInput(let geometry) = request.placement else {
            throw .invalidSetting("--aim works on model-input images; drop --placement original")
        }
        let surrogate = try Surrogate(path: settings.surrogate)
        try surrogate.checkSide(geometry.size)
        let candidates = try Poisoner.candidates(request)
        var record = SurrogateRecord(attack: attack.rawValue, aimsAt: attack.aimsAt, checkpoint: surrogate.path,
                                     checkpointSHA256: surrogate.sha256, candidates: candidates.rows.count)
        // The similarity of the set the poisoner would write without the surrogate.
        let drawn = try triggeredImages(candidates.drawnRows.map { candidates.images[candidates.rows.firstIndex(of: $0)!] },
                                        trigger: candidates.trigger, geometry: geometry, indices: nil)
        let before = surrogate.pairSimilarities(images: drawn, captions: candidates.drawnCaptions)
        record.similarityBefore = mean(before)
        record.similarityAfter = record.similarityBefore
        var plan: PoisonPlan?
        if attack == .safeclipAimed && settings.selection != .random && candidates.count > 0 {
            log("ranking \(candidates.rows.count) candidate images against \(candidates.targetCaptions.count) captions naming \"\(request.target)\"")
            let chosen = try choose(candidates, surrogate: surrogate, geometry: geometry, perClass: settings.selection == .perClass)
            plan = PoisonPlan(sourceRows: chosen.rows, captions: chosen.captions)
            record.selection = "the \(candidates.count) of \(candidates.rows.count) eligible images most similar to a caption naming the target "
                + "(triggered, surrogate cosine)\(settings.selection == .perClass ? ", taken in turn from each label" : ""), "
                + "each with its most similar caption of \(candidates.targetCaptions.count)"
            record.similarityAfter = mean(chosen.similarities)
        }
        var perturbation: (any PoisonPerturbation)?
        if settings.epsilon > 0 {
            perturbation = PGDPerturbation(surrogate: surrogate, objective: attack == .safeclipAimed ? .raise : .lower,
                                           epsilon: settings.epsilon, steps: settings.steps, stepSize: settings.stepSize)
        }
        return AimedPoisoning(plan: plan, perturbation: perturbation, record: record)
    }

    /// Each candidate's best caption and similarity; the top `count` by similarity (ties: lower
    /// row), or with `perClass` the top of each label in turn (labels in order of their best
    /// candidate), so the labels get equal shares.
    static func choose(_ c: Poisoner.Candidates, surrogate: Surrogate, geometry: ModelGeometry, perClass: Bool = false) throws(AttackError)
        -> (rows: [Int], captions: [String], similarities: [Double])
    {
        let text = surrogate.textFeatures(c.targetCaptions)
        var best: [(similarity: Double, caption: Int)] = []
        best.reserveCapacity(c.rows.count)
        for start in stride(from: 0, to: c.rows.count, by: 512) {
            let end = min(start + 512, c.rows.count)
            let images = try triggeredImages(Array(c.images[start..<end]), trigger: c.trigger, geometry: geometry, indices: nil)
            let scores = noGrad { surrogate.imageFeatures(surrogate.pixels(images)).matmul(text.t) }
            let (values, indices) = scores.max(dim: 1)
            let v = values.to(.float64).toArray(as: Double.self), i = indices.toArray(as: Int64.self)
            for k in 0..<v.count { best.append((v[k], Int(i[k]))) }
        }
        let order = best.indices.sorted { best[$0].similarity != best[$1].similarity ? best[$0].similarity > best[$1].similarity : $0 < $1 }
        var top = Array(order.prefix(c.count))
        if perClass {
            var groups: [Int?: [Int]] = [:], labelOrder: [Int?] = []
            for i in order {
                if groups[c.labels[i]] == nil { labelOrder.append(c.labels[i]) }
                groups[c.labels[i], default: []].append(i)
            }
            top = []
            var rank = 0
            while top.count < c.count {
                for label in labelOrder where top.count < c.count {
                    if let list = groups[label], rank < list.count { top.append(list[rank]) }
                }
                rank += 1
            }
        }
        return (top.map { c.rows[$0] }, top.map { c.targetCaptions[best[$0].caption] }, top.map { best[$0].similarity })
    }

    /// The images decoded, brought to `geometry` and triggered (trigger index `k`, or 0 for ranking).
    static func triggeredImages(_ paths: [String], trigger: Trigger, geometry: ModelGeometry, indices: [Int]?) throws(AttackError) -> [RGBImage] {
        try paths.enumerated().map { k, path throws(AttackError) in
            let image: RGBImage
            do { image = try decodeImage(atPath: path) } catch { throw .image(path: path, reason: "\(error)") }
            return trigger.apply(to: geometry.preprocessing.apply(image), index: indices?[k] ?? k)
        }
    }

    static func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
}
