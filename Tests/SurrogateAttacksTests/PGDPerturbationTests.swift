import Attacks
import CLIP
import Datasets
import Foundation
import Testing
import TestSupport
import Torch
@testable import SurrogateAttacks

/// A seeded, untrained micro CLIP (16 px) as the surrogate: the tests check the optimiser, not
/// what a trained surrogate finds.
func toySurrogate(dtype: DType = .float32) throws -> Surrogate {
    let config = try CLIPConfig.decode(Data(ToySet.microModelConfig.utf8))
    let model = CLIPModel(config: config, seed: 7, dtype: dtype)
    return try Surrogate(model: model, name: "toy", sha256: String(repeating: "0", count: 64))
}

/// Striped 16 × 16 test images with a 4 × 4 patch region bottom-right.
func toyImages(_ n: Int) -> (clean: [RGBImage], triggered: [RGBImage], regions: [[PixelRect]]) {
    var clean: [RGBImage] = [], triggered: [RGBImage] = []
    for i in 0..<n {
        var image = RGBImage(width: 16, height: 16, fill: (0, 0, 0))
        for y in 0..<16 where (y + i) % 3 != 0 {
            for x in 0..<16 {
                let o = (y * 16 + x) * 3
                image.pixels[o] = UInt8(40 + 50 * (i % 4)); image.pixels[o + 1] = UInt8(200 - 30 * (i % 5)); image.pixels[o + 2] = 120
            }
        }
        clean.append(image)
        var t = image
        for y in 12..<16 { for x in 12..<16 { for c in 0..<3 { t.pixels[(y * 16 + x) * 3 + c] = 255 } } }
        triggered.append(t)
    }
    return (clean, triggered, Array(repeating: [PixelRect(x: 12, y: 12, width: 4, height: 4)], count: n))
}

@Suite struct PGDPerturbationTests {
    static let captions = ["a photo of something red", "a photo of something blue", "a photo of something green",
                           "a photo of something yellow", "a photo of a red sneaker", "a photo of a blue sneaker"]

    @Test(arguments: PGDPerturbation.Objective.allCases)
    func respectsEpsilonTheRangeAndTheTriggerAndMovesItsObjective(_ objective: PGDPerturbation.Objective) throws {
        let surrogate = try toySurrogate()
        let (clean, triggered, regions) = toyImages(6)
        let pgd = PGDPerturbation(surrogate: surrogate, objective: objective, epsilon: 8, steps: 10)
        let record = SurrogateRecord(attack: "test", aimsAt: "test", checkpoint: "toy", checkpointSHA256: String(repeating: "0", count: 64))
        let (out, completed) = try pgd.perturb(
            PerturbationInput(clean: clean, triggered: triggered, regions: regions, captions: Self.captions), record: record)
        #expect(out.count == 6)
        #expect(completed.epsilon == 8 && completed.steps == 10 && completed.stepSize == 2)
        var changed = 0
        for k in 0..<6 {
            for y in 0..<16 {
                for x in 0..<16 {
                    for c in 0..<3 {
                        let o = (y * 16 + x) * 3 + c
                        let d = abs(Int(out[k].pixels[o]) - Int(triggered[k].pixels[o]))
                        if x >= 12 && y >= 12 { #expect(d == 0, "trigger pixel \(x),\(y) moved") } else { #expect(d <= 8) }
                        if d > 0 { changed += 1 }
                    }
                }
            }
        }
        #expect(changed > 100, "PGD left the images almost unchanged (\(changed) values)")
        // The poisoner's own contract check agrees.
        try Poisoner.checkPerturbation(out, triggered: triggered, regions: regions, epsilon: 8)
        // The objective moved the way it is meant to, measured on the 8-bit result.
        let base = objective == .raise ? triggered : clean
        var moved = base
        for k in 0..<6 {
            for y in 0..<12 { for x in 0..<16 { for c in 0..<3 { let o = (y * 16 + x) * 3 + c; moved[k].pixels[o] = out[k].pixels[o] } } }
            for y in 12..<16 { for x in 0..<12 { for c in 0..<3 { let o = (y * 16 + x) * 3 + c; moved[k].pixels[o] = out[k].pixels[o] } } }
        }
        let before = surrogate.pairSimilarities(images: base, captions: Self.captions).reduce(0, +)
        let after = surrogate.pairSimilarities(images: moved, captions: Self.captions).reduce(0, +)
        if objective == .raise { #expect(after > before + 0.01, "\(before) → \(after)") } else { #expect(after < before - 0.01, "\(before) → \(after)") }
    }

    /// The gradient PGD follows, checked against central finite differences on a float64 model.
    @Test func objectiveGradientMatchesFiniteDifferences() throws {
        let surrogate = try toySurrogate(dtype: .float64)
        let pgd = PGDPerturbation(surrogate: surrogate, objective: .raise, epsilon: 8, steps: 1)
        let n = 2, side = 16
        var values = [Double](repeating: 0, count: n * 3 * side * side)
        var rng = SplitMix64(seed: 3)
        for i in values.indices { values[i] = 0.2 + 0.6 * Double(rng.next() % 10_000) / 10_000 }
        let x = Tensor(values, shape: [n, 3, side, side])
        let text = surrogate.textFeatures(Array(Self.captions.prefix(n))).to(.float64)
        let leaf = x.requiringGrad()
        let grad = withGrad { gradients(of: [pgd.objectiveValue(leaf, text: text)], withRespectTo: [leaf])[0]! }.toArray(as: Double.self)
        let h = 1e-5
        for index in [0, 17, 300, 511, 777, 1_000, 1_535] {
            var plus = values, minus = values
            plus[index] += h; minus[index] -= h
            let fp = noGrad { pgd.objectiveValue(Tensor(plus, shape: [n, 3, side, side]), text: text).item() }
            let fm = noGrad { pgd.objectiveValue(Tensor(minus, shape: [n, 3, side, side]), text: text).item() }
            let numeric = (fp - fm) / (2 * h)
            #expect(abs(numeric - grad[index]) <= 1e-6 + 1e-4 * abs(numeric), "index \(index): autograd \(grad[index]), finite difference \(numeric)")
        }
    }

    @Test func badSettingsAreRefusedNamingTheFlag() {
        #expect(throws: AttackError.invalidSetting("--epsilon must be in 1…255 (steps of 1/255), got 0")) {
            try PGDPerturbation.check(epsilon: 0, steps: 10, stepSize: nil)
        }
        #expect(throws: AttackError.invalidSetting("--pgd-steps must be in 1…1000, got 5000")) {
            try PGDPerturbation.check(epsilon: 8, steps: 5_000, stepSize: nil)
        }
        #expect(throws: AttackError.invalidSetting("--pgd-step-size must be in (0, 255] (steps of 1/255), got -1.0")) {
            try PGDPerturbation.check(epsilon: 8, steps: 10, stepSize: -1)
        }
        #expect(throws: AttackError.invalidSetting("--epsilon must be in 0…255 (steps of 1/255; 0: no perturbation), got 300")) {
            try AimedAttackSettings(attack: .safeclipAimed, surrogate: "s.safetensors", epsilon: 300).check()
        }
        #expect(throws: AttackError.invalidSetting("--aim hard-clean-label needs a perturbation: --epsilon must be at least 1")) {
            try AimedAttackSettings(attack: .hardCleanLabel, surrogate: "s.safetensors", epsilon: 0).check()
        }
    }
}
