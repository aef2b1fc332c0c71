import Testing
import TestSupport
import Torch
@testable import NN

/// A small model touching every layer type, for the leak check.
struct TinyNet {
    let conv: Conv2d, bn: BatchNorm2d, embedding: Embedding, ln: LayerNorm, attention: MultiheadAttention
    let head: Sequential

    init(_ path: ParameterPath) {
        conv = Conv2d(path / "conv1", inChannels: 3, outChannels: 8, kernelSize: 3, padding: 1, bias: false)
        bn = BatchNorm2d(path / "bn1", features: 8)
        embedding = Embedding(path / "token_embedding", count: 10, dimensions: 8)
        ln = LayerNorm(path / "ln_1", features: 8)
        attention = MultiheadAttention(path / "attn", embedDim: 8, numHeads: 2)
        head = Sequential([
            Linear(path / "head" / 0, inputFeatures: 8, outputFeatures: 8), QuickGELU(), Dropout(0.1),
            Linear(path / "head" / 3, inputFeatures: 8, outputFeatures: 2),
        ])
    }

    /// - Parameters: images `[N, 3, 4, 4]`, tokens int64 `[N, 5]`. - Returns: logits `[N, 2]`.
    func callAsFunction(images: Tensor, tokens: Tensor, training: Bool) -> Tensor {
        let pixels = bn(conv(images), training: training).relu().flattened(startDim: 2).transposed(1, 2)  // [N, 16, 8]
        let text = ln(embedding(tokens))  // [N, 5, 8]
        let attended = attention(query: text, key: pixels, value: pixels) + attention(query: text, key: text, value: text, isCausal: true)
        return head(attended.mean(dim: 1), training: training)
    }
}

@Suite struct TrainingTests {
    /// One full training step: forward, loss, backward, clipping, AdamW (fused), zeroGrad.
    func trainingStep(_ model: TinyNet, _ optimizer: AdamW, _ g: Generator) -> Double {
        let images = Tensor.randn([4, 3, 4, 4], generator: g)
        let tokens = Tensor.randint(0, 10, shape: [4, 5], generator: g)
        let labels = Tensor.randint(0, 2, shape: [4], generator: g)
        let loss = crossEntropy(model(images: images, tokens: tokens, training: true), target: labels)
        loss.backward()
        clipGradNorm(optimizer, maxNorm: 1)
        optimizer.step()
        optimizer.zeroGrad()
        return loss.item()
    }

    @Test func trainingStepLeaksNoTensors() {
        let baseline = Runtime.threadTensorBalance
        do {
            let store = ParameterStore(seed: 1)
            let model = TinyNet(store.root)
            let optimizer = AdamW(store.trainableParameters(), learningRate: 1e-3)
            let g = Generator(seed: 2)
            _ = trainingStep(model, optimizer, g)
            // In steady state (optimizer state allocated) a step creates no lasting handles.
            let steady = Runtime.threadTensorBalance
            _ = trainingStep(model, optimizer, g)
            #expect(Runtime.threadTensorBalance == steady)
            _ = optimizer.stateDict()
            _ = noGrad { model(images: Tensor.zeros([1, 3, 4, 4]), tokens: Tensor.zeros([1, 5], dtype: .int64), training: false) }
        }
        #expect(Runtime.threadTensorBalance == baseline)
    }

    @Test func mlpLearnsXOR() {
        let g = Generator(seed: 3)
        let points = Tensor.rand([256, 2], generator: g) * 2 - 1
        let labels = (points.select(dim: 1, index: 0) * points.select(dim: 1, index: 1)).gt(0).to(.int64)
        let store = ParameterStore(seed: 4)
        let model = Sequential([
            Linear(store.root / 0, inputFeatures: 2, outputFeatures: 32), ReLU(),
            Linear(store.root / 2, inputFeatures: 32, outputFeatures: 32), GELU(),
            Linear(store.root / 4, inputFeatures: 32, outputFeatures: 2),
        ])
        let optimizer = AdamW(store.trainableParameters(), learningRate: 0, weightDecay: 1e-4)
        let schedule = LRSchedule.warmupCosine(baseLR: 3e-2, warmupSteps: 10, totalSteps: 200)
        var losses: [Double] = []
        for step in 0..<200 {
            optimizer.learningRate = schedule(step)
            let loss = crossEntropy(model(points, training: true), target: labels)
            loss.backward()
            optimizer.step()
            optimizer.zeroGrad()
            losses.append(loss.item())
        }
        #expect(losses.last! < 0.3 * losses.first!, "loss \(losses.first!) → \(losses.last!)")
        let accuracy = noGrad { model(points).argmax(dim: 1).eq(labels).to(.float32).mean().item() }
        #expect(accuracy > 0.9)
    }
}
