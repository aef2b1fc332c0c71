import Foundation
import TestSupport
import Testing
import Torch

@testable import CLIP

@Suite struct CLIPModelTests {
    @Test func savedStateDictLoadsBackIdentically() throws {
        let dir = try makeTemporaryDirectory("clip-roundtrip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try ClipFixtures.model("rn")
        _ = noGrad {
            original.encodeImage(Tensor.randn([2, 3, 32, 32], generator: Generator(seed: 1)), training: true)
        }
        let path = dir.appendingPathComponent("model.safetensors").path
        try original.saveSafeTensors(toPath: path)

        let reloaded = try CLIPModel.fromSafeTensors(atPath: path)
        #expect(reloaded.config == original.config)
        let a = original.store.stateDict()
        let b = reloaded.store.stateDict()
        #expect(a.map(\.name) == b.map(\.name))
        for (x, y) in zip(a, b) {
            #expect(x.tensor.dtype == y.tensor.dtype && x.tensor.equals(y.tensor), "\(x.name) differs after reload")
        }
        let file = try loadSafeTensors(atPath: path)
        #expect(Set(file.tensors.keys) == Set(try ClipFixtures.tensors("fixture-rn.safetensors").keys))
    }

    @Test func initialisationFollowsOpenClip() throws {
        let model = try CLIPModel.named("tiny-rn", seed: 3)
        let store = model.store
        func std(_ name: String) throws -> Double {
            let t = try #require(store[name], "\(name) not registered")
            return t.variance().sqrt().item()
        }
        #expect(abs(model.logLogitScale.item() - log(1 / 0.07)) < 1e-6)
        #expect(model.logLogitScale.shape == [])
        #expect(try #require(store["visual.layer1.0.bn3.weight"]).abs().max().item() == 0)
        #expect(try #require(store["visual.layer1.0.bn2.weight"]).eq(1).all().item() == 1)
        #expect(abs(try std("token_embedding.weight") - 0.02) < 0.001)
        #expect(abs(try std("positional_embedding") - 0.01) < 0.001)
        let width = 128.0
        let layers = 3.0
        let feature = 32.0 * 32
        #expect(abs(try std("transformer.resblocks.0.attn.in_proj_weight") / (1 / width.squareRoot()) - 1) < 0.05)
        #expect(
            abs(try std("transformer.resblocks.2.mlp.c_proj.weight") / (1 / (width * 2 * layers).squareRoot()) - 1)
                < 0.05)
        #expect(abs(try std("transformer.resblocks.1.mlp.c_fc.weight") / (1 / (2 * width).squareRoot()) - 1) < 0.05)
        #expect(abs(try std("text_projection") / (1 / width.squareRoot()) - 1) < 0.05)
        #expect(abs(try std("visual.attnpool.q_proj.weight") / (1 / feature.squareRoot()) - 1) < 0.05)
        #expect(abs(try std("visual.attnpool.c_proj.weight") / (1 / feature.squareRoot()) - 1) < 0.05)
        #expect(try #require(store["transformer.resblocks.0.attn.in_proj_bias"]).abs().max().item() == 0)

        let vit = try CLIPModel.named("tiny-vit", seed: 3)
        #expect(abs(try #require(vit.store["visual.proj"]).variance().sqrt().item() * width.squareRoot() - 1) < 0.05)
        #expect(vit.store["visual.class_embedding"]?.shape == [128])
        #expect(vit.store["visual.positional_embedding"]?.shape == [65, 128])
    }

    @Test func sameSeedSameModelDifferentSeedDifferentModel() throws {
        let a = try CLIPModel.named("tiny-vit", seed: 5)
        let b = try CLIPModel.named("tiny-vit", seed: 5)
        let c = try CLIPModel.named("tiny-vit", seed: 6)
        for ((name, x), (_, y)) in zip(a.store.stateDict(), b.store.stateDict()) {
            #expect(x.equals(y), "\(name) differs between equal seeds")
        }
        #expect(!(a.store["visual.proj"]!.equals(c.store["visual.proj"]!)))
    }

    @Test(arguments: ["tiny-rn", "tiny-vit"])
    func trainingStepReachesEveryParameter(name: String) throws {
        let model = try CLIPModel.named(name, seed: 1)
        // open_clip starts every bottleneck's last batch-norm gain at zero, which blocks the
        // gradient into the block's convolutions; give them a nonzero gain to check the wiring.
        for (key, tensor) in model.store.stateDict() where key.hasSuffix("bn3.weight") && key.contains(".layer") {
            noGrad { tensor.fillInPlace(1) }
        }
        let n = 4
        let context = model.config.text.contextLength
        let images = Tensor.randn([n, 3, 32, 32], generator: Generator(seed: 2))
        var ids = [Int64](repeating: 0, count: n * context)
        for i in 0..<n {
            ids[i * context] = 49406
            for j in 1...(3 + i) { ids[i * context + j] = Int64(100 * (i + 1) + j) }
            ids[i * context + 4 + i] = 49407
        }
        let tokens = Tensor(ids, shape: [n, context])
        let out = model.logits(images: images, texts: tokens, training: true)
        #expect(out.imageFeatures.shape == [n, model.config.embedDim])
        #expect(out.logitsPerImage.shape == [n, n])
        #expect(out.logitsPerText.equals(out.logitsPerImage.t.contiguous()))
        let norms: [Float] = out.textFeatures.norm(dims: [1]).toArray()
        expectClose(norms.map(Double.init), [Double](repeating: 1, count: n), atol: 1e-5)
        #expect(out.logitsPerImage.abs().max().item() <= out.logitMultiplier.item() * (1 + 1e-5))
        let loss = clipLoss(
            imageFeatures: out.imageFeatures, textFeatures: out.textFeatures, logLogitScale: model.logLogitScale)
        loss.backward()
        for (param, tensor) in model.store.trainableParameters() {
            let grad = try #require(tensor.grad, "\(param) has no gradient")
            // The token embedding only receives gradient for the ids in the batch; every other
            // parameter must receive some.
            #expect(grad.abs().sum().item() > 0, "\(param) gradient is zero")
            #expect(grad.isFinite().all().item() == 1, "\(param) gradient is not finite")
        }
    }

    @Test func textFeaturesComeFromTheEOTPositionAndIgnoreLaterTokens() throws {
        let model = try CLIPModel.named("tiny-vit", seed: 4)
        let a = Tensor([49406, 320, 1125, 49407, 0, 0] as [Int64], shape: [1, 6])
        let b = Tensor([49406, 320, 1125, 49407, 500, 600] as [Int64], shape: [1, 6])
        let c = Tensor([49406, 320, 1126, 49407, 0, 0] as [Int64], shape: [1, 6])
        noGrad {
            // Causal attention: tokens after EOT cannot change the EOT output.
            expectClose(model.encodeText(a), model.encodeText(b), rtol: 1e-5, atol: 1e-6)
            #expect(!model.encodeText(a).allClose(model.encodeText(c), rtol: 1e-3, atol: 1e-5))
        }
    }

    @Test func logitScaleClamp() {
        let p = Tensor(scalar: 7).requiringGrad()
        clampLogitScale(p)
        #expect(abs(p.item() - log(100)) < 1e-6)
        p.requiresGrad = false
        p.fillInPlace(-2)
        clampLogitScale(p)
        #expect(p.item() == 0)
    }

    @Test func clipLossIsSymmetricPermutationInvariantAndNonNegative() {
        let g = Generator(seed: 8)
        let i = Tensor.randn([6, 5], generator: g).normalized(dim: -1)
        let t = Tensor.randn([6, 5], generator: g).normalized(dim: -1)
        let s = Tensor(scalar: log(14.3))
        let loss = clipLoss(imageFeatures: i, textFeatures: t, logLogitScale: s).item()
        let perm = Tensor([3, 1, 5, 0, 2, 4] as [Int64])
        let permuted = clipLoss(
            imageFeatures: i.indexSelect(dim: 0, indices: perm), textFeatures: t.indexSelect(dim: 0, indices: perm),
            logLogitScale: s
        ).item()
        #expect(abs(loss - permuted) < 1e-5)
        #expect(abs(loss - clipLoss(imageFeatures: t, textFeatures: i, logLogitScale: s).item()) < 1e-5)
        #expect(loss >= 0)
        // Perfectly aligned, well-separated pairs give a loss near zero at a large scale.
        let eye = Tensor.eye(6)
        #expect(clipLoss(imageFeatures: eye, textFeatures: eye, logLogitScale: Tensor(scalar: log(100))).item() < 1e-6)
        #expect(abs(infoNCE(eye, eye, logLogitScale: Tensor(scalar: 0)).item() - (-log(exp(1) / (exp(1) + 5)))) < 1e-5)
    }

    @Test func wrongImageSizeIsAPreconditionFailure() async {
        await #expect(processExitsWith: .failure) {
            let model = try! CLIPModel.named("tiny-vit")
            _ = model.encodeImage(Tensor.zeros([1, 3, 64, 64]))
        }
    }
}

@Suite struct CLIPLossGradientTests {
    /// Central differences in float64 of `f` at every element of `x` (copies, no autograd).
    private func numericalGradient(_ x: [Double], shape: [Int], _ f: (Tensor) -> Double) -> [Double] {
        let h = 1e-6
        return x.indices.map { i in
            var plus = x
            var minus = x
            plus[i] += h
            minus[i] -= h
            return (f(Tensor(plus, shape: shape)) - f(Tensor(minus, shape: shape))) / (2 * h)
        }
    }

    @Test func clipLossAndInfoNCEGradientsMatchCentralDifferences() throws {
        let g = Generator(seed: 11)
        let image: [Double] = Tensor.randn([3, 4], dtype: .float64, generator: g).toArray()
        let text: [Double] = Tensor.randn([3, 4], dtype: .float64, generator: g).toArray()
        let scale = 1.7
        func loss(_ i: Tensor, _ t: Tensor, _ s: Tensor) -> Tensor {
            clipLoss(imageFeatures: i.normalized(dim: -1), textFeatures: t.normalized(dim: -1), logLogitScale: s)
        }
        let i = Tensor(image, shape: [3, 4]).requiringGrad()
        let t = Tensor(text, shape: [3, 4]).requiringGrad()
        let s = Tensor(scalar: scale, dtype: .float64).requiringGrad()
        loss(i, t, s).backward()
        let constantText = Tensor(text, shape: [3, 4])
        let constantImage = Tensor(image, shape: [3, 4])
        let constantScale = Tensor(scalar: scale, dtype: .float64)
        expectClose(
            try #require(i.grad).toArray(),
            numericalGradient(image, shape: [3, 4]) { loss($0, constantText, constantScale).item() }, rtol: 1e-5,
            atol: 1e-7, "d / d image")
        expectClose(
            try #require(t.grad).toArray(),
            numericalGradient(text, shape: [3, 4]) { loss(constantImage, $0, constantScale).item() }, rtol: 1e-5,
            atol: 1e-7, "d / d text")
        expectClose(
            try #require(s.grad).toArray(),
            numericalGradient([scale], shape: []) { loss(constantImage, constantText, $0).item() }, rtol: 1e-5,
            atol: 1e-7, "d / d logit_scale")

        let q = Tensor(image, shape: [3, 4]).requiringGrad()
        infoNCE(q.normalized(dim: -1), constantText.normalized(dim: -1), logLogitScale: constantScale).backward()
        expectClose(
            try #require(q.grad).toArray(),
            numericalGradient(image, shape: [3, 4]) {
                infoNCE($0.normalized(dim: -1), constantText.normalized(dim: -1), logLogitScale: constantScale)
                    .item()
            }, rtol: 1e-5, atol: 1e-7, "InfoNCE d / d queries")
    }
}
