import Foundation
import NN
import Testing
import TestSupport
import Torch

@testable import CLIP

@Suite struct CLIPTrainingTests {
    /// Eight random image–caption pairs for the small fixture ViT (32 px, context 16, vocabulary 500).
    private func batch() -> (images: Tensor, tokens: Tensor) {
        let g = Generator(seed: 21)
        let images = Tensor.randn([8, 3, 32, 32], generator: g)
        var ids = [Int64](repeating: 0, count: 8 * 16)
        for i in 0..<8 {
            ids[i * 16] = 498
            for j in 1...4 { ids[i * 16 + j] = Int64(1 + (37 * i + 11 * j) % 490) }
            ids[i * 16 + 5] = 499
        }
        return (images, Tensor(ids, shape: [8, 16]))
    }

    private func step(_ model: CLIPModel, _ optimizer: AdamW, _ data: (images: Tensor, tokens: Tensor)) -> Double {
        optimizer.zeroGrad()
        let out = model.logits(images: data.images, texts: data.tokens, training: true)
        let loss = clipLoss(imageFeatures: out.imageFeatures, textFeatures: out.textFeatures, logLogitScale: model.logLogitScale)
        loss.backward()
        optimizer.step()
        model.clampLogitScale()
        return loss.item()
    }

    @Test func tinyModelOverfitsABatch() throws {
        let model = try CLIPModel(configFile: ClipFixtures.path("fixture-vit.json"), seed: 3)
        let optimizer = AdamW(model.store.trainableParameters(), learningRate: 2e-3, weightDecay: 0.1)
        let data = batch()
        let first = step(model, optimizer, data)
        var last = first
        for _ in 0..<40 { last = step(model, optimizer, data) }
        #expect(abs(first - log(8)) < 0.5, "initial loss \(first) should be near ln 8")
        #expect(last < 0.25 * first, "loss went from \(first) to \(last)")
        #expect(model.logLogitScale.item() <= log(100) + 1e-6 && model.logLogitScale.item() >= 0)
    }

    @Test func trainingStepLeaksNoTensors() throws {
        let model = try CLIPModel(configFile: ClipFixtures.path("fixture-rn.json"), seed: 3)
        let optimizer = AdamW(model.store.trainableParameters(), learningRate: 1e-3)
        var data: (images: Tensor, tokens: Tensor)? = batch()
        _ = step(model, optimizer, data!)  // creates the optimizer state
        let baseline = Runtime.threadTensorBalance
        for _ in 0..<2 { _ = step(model, optimizer, data!) }
        #expect(Runtime.threadTensorBalance == baseline)
        data = nil
    }
}
