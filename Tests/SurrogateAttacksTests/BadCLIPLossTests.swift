import Attacks
import CLIP
import Datasets
import Foundation
import NN
import TestSupport
import Testing
import Torch
@testable import SurrogateAttacks

/// BadCLIP's patch objective against PyTorch (Tests/Fixtures/attacks/badclip_margin<m>.safetensors,
/// written by Scripts/make_badclip_fixtures.py from the reference's `embed_patch` and `get_loss`):
/// the CLIP and triplet terms, their weighted sum, the gradient with respect to the patch (values
/// outside [0, 1] included, where the paste's clip stops it) and one Adam step.
@Suite struct BadCLIPLossTests {
    struct Fixture {
        let tensors: [String: Tensor]
        let model: CLIPModel
        subscript(_ key: String) -> Tensor { tensors[key]! }

        init(margin: String) throws {
            let folder = fixturesDirectory.appendingPathComponent("attacks")
            let (tensors, metadata) = try loadSafeTensors(atPath: folder.appendingPathComponent("badclip_margin\(margin).safetensors").path)
            #expect(metadata["version"] == "1")
            self.tensors = tensors
            model = CLIPModel(config: try CLIPConfig(contentsOf: folder.appendingPathComponent("badclip-model.json")))
            var weights: [String: Tensor] = [:]
            for (key, value) in tensors where key.hasPrefix("model.") { weights[String(key.dropFirst(6))] = value }
            try model.load(weights, source: margin)
        }

        func features(_ images: Tensor) -> Tensor {
            model.encodeImage(BadCLIPLoss.normalizeForCLIP(images), training: false).normalized(dim: -1)
        }

        /// The terms as ``PatchOptimizer`` computes them, with `patch` as the variable.
        func terms(patch: Tensor) -> (total: Tensor, clip: Tensor, triplet: Tensor) {
            let square: [Int64] = self["square"].toArray()
            let side = patch.size(2)
            let rect = PixelRect(x: Int(square[0]), y: Int(square[1]), width: side, height: side)
            let images = self["images"]
            let patched = BadCLIPLoss.paste(images, patch: patch, squares: Array(repeating: [rect], count: images.size(0)))
            let (clean, positives, captions) = noGrad {
                (features(images), features(self["target_images"]), model.encodeText(self["tokens"]).normalized(dim: -1))
            }
            return BadCLIPLoss.terms(
                patched: features(patched), captions: captions, positives: positives, clean: clean,
                logLogitScale: model.logLogitScale.detached(), clipWeight: self["hp.clip_weight"].item(),
                tripletWeight: self["hp.triplet_weight"].item(), margin: self["hp.margin"].item())
        }
    }

    @Test(arguments: ["1", "0.01"])
    func termsGradientAndAdamStepMatchPyTorch(margin: String) throws {
        let f = try Fixture(margin: margin)
        for p in f.model.store.stateDict() { p.tensor.requiresGrad = false }
        let patch = f["patch"].copied().requiringGrad()
        let terms = f.terms(patch: patch)
        expectClose(terms.clip, f["loss.clip"], rtol: 1e-5, atol: 1e-6, "CLIP term")
        expectClose(terms.triplet, f["loss.triplet"], rtol: 1e-5, atol: 1e-6, "triplet term")
        expectClose(terms.total, f["loss.total"], rtol: 1e-5, atol: 1e-5, "weighted total")
        let optimizer = AdamW(groups: [ParameterGroup([("patch", patch)], weightDecay: 0)], learningRate: f["hp.lr"].item(), fused: false)
        optimizer.zeroGrad()
        terms.total.backward()
        let grad = try #require(patch.grad)
        let scale = grad.abs().max().item()
        expectClose(grad, f["grad.patch"], rtol: 1e-4, atol: 1e-5 * scale, "d total / d patch")
        // Values the paste clips get no gradient.
        let outside: [Float] = f["patch"].toArray(), g: [Float] = grad.toArray()
        #expect(outside.contains { $0 < 0 || $0 > 1 })
        for (v, d) in zip(outside, g) where v < 0 || v > 1 { #expect(d == 0) }
        optimizer.step()
        expectClose(patch, f["after.patch"], rtol: 0, atol: 1e-6, "patch after one Adam step")
    }

    /// The margin-0.01 fixture has inactive triplets (its first positive is the patched image itself).
    @Test func inactiveTripletsContributeNothing() throws {
        let f = try Fixture(margin: "0.01")
        let anchor = Tensor([Float](repeating: 0, count: 8) + [Float](repeating: 0, count: 8), shape: [2, 8])
        let positive = Tensor([Float](repeating: 0, count: 8) + [Float](repeating: 1, count: 8), shape: [2, 8])
        let negative = Tensor([Float](repeating: 1, count: 8) + [Float](repeating: 0, count: 8), shape: [2, 8])
        // Row 0: d(a,p) ≈ 0, d(a,n) = √8 → inactive; row 1: √8 − 0 + m.
        let m = f["hp.margin"].item()
        let value = BadCLIPLoss.triplet(anchor: anchor, positive: positive, negative: negative, margin: m).item()
        let eps = BadCLIPLoss.distanceEpsilon
        let row1 = (8 * (1 - eps) * (1 - eps)).squareRoot() - (8 * eps * eps).squareRoot() + m
        #expect(abs(value - row1 / 2) < 1e-5)
    }

    /// Pasting against a straightforward per-pixel loop, with squares that differ per image and
    /// overlap (four corners on an image smaller than two patches).
    @Test func pasteMatchesAPerPixelLoop() {
        let (b, s, side) = (3, 6, 4)
        var rng = SplitMix64(seed: 11)
        let images = (0..<(b * 3 * s * s)).map { _ in Float(rng.nextUnitDouble()) }
        let patch = (0..<(3 * side * side)).map { _ in Float(rng.nextUnitDouble() * 1.6 - 0.3) }
        let squares: [[PixelRect]] = [
            [PixelRect(x: 2, y: 2, width: side, height: side)],
            [PixelRect(x: 0, y: 1, width: side, height: side)],
            [0, s - side].flatMap { y in [0, s - side].map { x in PixelRect(x: x, y: y, width: side, height: side) } },
        ]
        let out: [Float] = BadCLIPLoss.paste(Tensor(images, shape: [b, 3, s, s]), patch: Tensor(patch, shape: [3, side, side]),
                                             squares: squares).toArray()
        var expected = images
        for i in 0..<b {
            for r in squares[i] {
                for c in 0..<3 {
                    for y in 0..<side {
                        for x in 0..<side {
                            expected[((i * 3 + c) * s + r.y + y) * s + r.x + x] = min(1, max(0, patch[(c * side + y) * side + x]))
                        }
                    }
                }
            }
        }
        expectClose(out.map(Double.init), expected.map(Double.init), rtol: 0, atol: 1e-6)
    }

    /// The paste's gradient against central finite differences of the objective in double
    /// precision (an independent check of the backward pass through the clip and the mask).
    @Test func patchGradientMatchesFiniteDifferences() throws {
        let f = try Fixture(margin: "1")
        let (clean, positives) = noGrad { (f.features(f["images"]), f.features(f["target_images"])) }
        let rect = PixelRect(x: 11, y: 11, width: 5, height: 5)
        // A smooth scalar of the patched images: the triplet term on the model's features.
        func objective(_ patch: Tensor) -> Tensor {
            let patched = BadCLIPLoss.paste(f["images"], patch: patch, squares: Array(repeating: [rect], count: 4))
            return BadCLIPLoss.triplet(anchor: f.features(patched), positive: positives, negative: clean, margin: 1)
        }
        let base: [Float] = f["patch"].toArray()
        let patch = Tensor(base, shape: [3, 5, 5]).requiringGrad()
        objective(patch).backward()
        let grad: [Float] = try #require(patch.grad).toArray()
        let h: Float = 1e-2
        for index in [0, 7, 12, 33, 61] where base[index] > h && base[index] < 1 - h {
            var plus = base, minus = base
            plus[index] += h; minus[index] -= h
            let numeric = noGrad {
                (objective(Tensor(plus, shape: [3, 5, 5])).item() - objective(Tensor(minus, shape: [3, 5, 5])).item()) / (2 * Double(h))
            }
            #expect(abs(numeric - Double(grad[index])) <= 2e-3 + 0.05 * abs(numeric), "index \(index): \(numeric) vs \(grad[index])")
        }
    }
}
