import Attacks
import Datasets
import Foundation
import Torch

/// Projected gradient descent on the poisoned images' pixels through a ``Surrogate``
/// (Madry et al. 2018, sign steps, L∞ ball), aimed at the image–caption cosine similarity.
///
/// Each image `T` (triggered, 8-bit, model input) gets a perturbation `δ` that is zero inside the
/// trigger squares (the trigger evaluation applies stays exact) and satisfies `|δ| ≤ ε` and
/// `0 ≤ T + δ ≤ 1` elsewhere. No random start: for one surrogate, thread count and input the result
/// is the same byte for byte. The objective of image `i`, on pixels `x_i`:
/// - ``Objective/raise``: `+cos(f(x_i), g(caption_i))` with `x_i = T_i + δ_i` — the triggered
///   image made to look like its (poisoned) caption, so SafeCLIP's similarity split trusts it;
/// - ``Objective/lower``: `−cos(f(x_i), g(caption_i))` with `x_i = C_i + δ_i`, `C_i` the image
///   before the trigger — Turner et al.'s label-consistent attack: the image made hard to learn
///   from its own (consistent) caption, so that the model leans on the trigger added afterwards.
///
/// `f` and `g` are the surrogate's unit-norm image and text embeddings. Each step moves `δ` by
/// `stepSize · sign(∇δ objective)` and projects; the written image is `round(255 · (T + δ))`,
/// clipped to `±ε` steps of `255 · T`.
public struct PGDPerturbation: PoisonPerturbation {
    public enum Objective: String, Sendable, CaseIterable {
        case raise, lower

        /// The record's description.
        public var text: String {
            switch self {
            case .raise: "raise cos(image with trigger, its caption)"
            case .lower: "lower cos(image before the trigger, its own caption)"
            }
        }
    }

    public let surrogate: Surrogate
    public var objective: Objective
    /// L∞ radius in 1/255 steps (1…255).
    public var epsilon: Int
    public var steps: Int
    /// Step size in 1/255 steps (default 2.5 ε / steps).
    public var stepSize: Double
    /// Images per PGD batch (a batch's result does not depend on the others').
    public var batchSize = 64

    public init(surrogate: Surrogate, objective: Objective, epsilon: Int, steps: Int, stepSize: Double? = nil) {
        self.surrogate = surrogate; self.objective = objective; self.epsilon = epsilon; self.steps = steps
        self.stepSize = stepSize ?? 2.5 * Double(epsilon) / Double(max(1, steps))
    }

    /// Checks ε, steps and step size; the message names the flag.
    public static func check(epsilon: Int, steps: Int, stepSize: Double?) throws(AttackError) {
        guard (1...255).contains(epsilon) else { throw .invalidSetting("--epsilon must be in 1…255 (steps of 1/255), got \(epsilon)") }
        guard (1...1_000).contains(steps) else { throw .invalidSetting("--pgd-steps must be in 1…1000, got \(steps)") }
        if let stepSize, !(stepSize > 0 && stepSize <= 255) {
            throw .invalidSetting("--pgd-step-size must be in (0, 255] (steps of 1/255), got \(stepSize)")
        }
    }

    public func perturb(_ input: PerturbationInput, record: SurrogateRecord) throws(AttackError) -> ([RGBImage], SurrogateRecord) {
        try Self.check(epsilon: epsilon, steps: steps, stepSize: stepSize)
        if let side = input.triggered.first?.width { try surrogate.checkSide(side) }
        var out: [RGBImage] = []
        out.reserveCapacity(input.triggered.count)
        for start in stride(from: 0, to: input.triggered.count, by: batchSize) {
            let range = start..<min(start + batchSize, input.triggered.count)
            out += perturbBatch(triggered: Array(input.triggered[range]), clean: Array(input.clean[range]),
                                regions: Array(input.regions[range]), captions: Array(input.captions[range]))
        }
        var completed = record
        completed.objective = objective.text
        completed.epsilon = epsilon
        completed.steps = steps
        completed.stepSize = stepSize
        let after = surrogate.pairSimilarities(images: out, captions: input.captions)
        completed.similarityAfter = after.isEmpty ? nil : after.reduce(0, +) / Double(after.count)
        return (out, completed)
    }

    /// The perturbation `δ` `[B, 3, S, S]` (before rounding) of one batch, and the mask.
    public func delta(triggered: Tensor, clean: Tensor, mask: Tensor, text: Tensor) -> Tensor {
        let eps = Double(epsilon) / 255, alpha = stepSize / 255
        let base = objective == .raise ? triggered : clean
        let sign = objective == .raise ? 1.0 : -1.0
        var delta = triggered.zerosLike()
        for _ in 0..<steps {
            let d = delta.requiringGrad()
            let g: Tensor? = withGrad {
                let value = self.objectiveValue(base + d * mask, text: text)
                return gradients(of: [value], withRespectTo: [d])[0]
            }
            guard let g else { break }
            delta = (delta + g.sign() * (sign * alpha)).clamped(min: -eps, max: eps)
            // Keep T + δ in the image range.
            delta = ((triggered + delta).clamped(min: 0, max: 1) - triggered) * mask
        }
        return delta.detached()
    }

    /// `Σ_i cos(f(x_i), text_i)`: the summed similarity of pixels `x` `[B, 3, S, S]` in [0, 1]
    /// (clamped) with unit-norm text features `text` `[B, D]`; a scalar with a graph to `x`.
    public func objectiveValue(_ x: Tensor, text: Tensor) -> Tensor {
        (surrogate.imageFeatures(x.clamped(min: 0, max: 1)) * text).sum()
    }

    /// `[B, 1, S, S]`: 0 inside each image's trigger squares, 1 elsewhere.
    public static func mask(regions: [[PixelRect]], side: Int) -> [Float] {
        var m = [Float](repeating: 1, count: regions.count * side * side)
        for (i, list) in regions.enumerated() {
            for r in list {
                for y in max(0, r.y)..<min(side, r.y + r.height) {
                    for x in max(0, r.x)..<min(side, r.x + r.width) { m[i * side * side + y * side + x] = 0 }
                }
            }
        }
        return m
    }

    func perturbBatch(triggered: [RGBImage], clean: [RGBImage], regions: [[PixelRect]], captions: [String]) -> [RGBImage] {
        let side = triggered[0].width
        let t = surrogate.pixels(triggered), c = surrogate.pixels(clean)
        let mask = Tensor(Self.mask(regions: regions, side: side), shape: [triggered.count, 1, side, side]).to(t.dtype)
        let text = surrogate.textFeatures(captions).to(t.dtype)
        let d = delta(triggered: t, clean: c, mask: mask, text: text)
        let offsets = (d * 255).rounded().clamped(min: Double(-epsilon), max: Double(epsilon))
            .permuted([0, 2, 3, 1]).contiguous().to(.float32).toArray(as: Float.self)
        let plane = side * side * 3
        return triggered.enumerated().map { i, image in
            var pixels = image.pixels
            for j in 0..<plane {
                let v = Int(pixels[j]) + Int(offsets[i * plane + j])
                pixels[j] = UInt8(max(0, min(255, v)))
            }
            return RGBImage(width: side, height: side, pixels: pixels)
        }
    }
}
