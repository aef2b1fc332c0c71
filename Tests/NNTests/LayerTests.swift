import Testing
import TestSupport
import Torch
@testable import NN

@Suite struct LayerTests {
    @Test func conv2dShapesNamesAndInit() {
        let store = ParameterStore(seed: 2)
        let conv = Conv2d(store.root / "visual" / "conv1", inChannels: 4, outChannels: 6, kernelSize: 3, stride: 2, padding: 1)
        let depthwise = Conv2d(store.root / "dw", inChannels: 6, outChannels: 6, kernelSize: 3, groups: 6, bias: false)
        #expect(store.names == ["visual.conv1.weight", "visual.conv1.bias", "dw.weight"])
        #expect(conv.weight.shape == [6, 4, 3, 3])
        #expect(depthwise.weight.shape == [6, 1, 3, 3])
        #expect(depthwise.bias == nil)
        #expect(conv.weight.abs().max().item() <= 1 / Double(36).squareRoot())
        #expect(depthwise.weight.abs().max().item() <= 1 / Double(9).squareRoot())
        let x = Tensor.randn([2, 4, 9, 9], generator: Generator(seed: 1))
        #expect(conv(x).shape == [2, 6, 5, 5])
        #expect(depthwise(conv(x)).shape == [2, 6, 3, 3])
    }

    @Test func batchNormTrainingUpdatesRunningStatistics() throws {
        let store = ParameterStore()
        let bn = BatchNorm2d(store.root / "bn1", features: 3, momentum: 0.1)
        #expect(store.names == ["bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"])
        #expect(store.trainableParameters().map(\.name) == ["bn1.weight", "bn1.bias"])
        #expect(bn.numBatchesTracked.dtype == .int64 && bn.numBatchesTracked.shape == [])
        let x = Tensor.randn([4, 3, 5, 5], generator: Generator(seed: 5)) * 2 + 3
        let y = bn(x, training: true)
        // Batch statistics normalise each channel.
        let channelMean: [Double] = y.mean(dims: [0, 2, 3]).toArray()
        expectClose(channelMean, [0, 0, 0], atol: 1e-5)
        let batchMean = x.mean(dims: [0, 2, 3]), batchVar = x.variance(dims: [0, 2, 3], unbiased: true)
        expectClose(bn.runningMean, batchMean * 0.1, rtol: 1e-5, atol: 1e-6)
        expectClose(bn.runningVar, batchVar * 0.1 + 0.9, rtol: 1e-5, atol: 1e-6)
        #expect(bn.numBatchesTracked.itemInt() == 1)
        _ = bn(x, training: true)
        #expect(bn.numBatchesTracked.itemInt() == 2)
        // Eval uses the running statistics and changes nothing.
        let before = bn.runningMean.copied()
        let z = bn(x, training: false)
        #expect(bn.runningMean.equals(before))
        #expect(bn.numBatchesTracked.itemInt() == 2)
        let expected = (x - bn.runningMean.view([1, 3, 1, 1])) / (bn.runningVar.view([1, 3, 1, 1]) + 1e-5).sqrt()
        expectClose(z, expected, rtol: 1e-5, atol: 1e-5)
    }

    @Test func layerNormComputesInFloat32ForHalfInputs() {
        let store = ParameterStore()
        let ln = LayerNorm(store.root / "ln_final", features: 8)
        #expect(store.names == ["ln_final.weight", "ln_final.bias"])
        let x = Tensor.randn([2, 3, 8], generator: Generator(seed: 3)) * 5 + 1
        let y = ln(x)
        #expect(y.shape == [2, 3, 8])
        let mean = x.mean(dim: -1, keepDim: true)
        let variance = x.variance(dims: [-1], unbiased: false, keepDim: true)
        expectClose(y, (x - mean) / (variance + 1e-5).sqrt(), rtol: 1e-4, atol: 1e-5)
        let half = ln(x.to(.bfloat16))
        #expect(half.dtype == .bfloat16)
        expectClose(half.to(.float32), y, rtol: 2e-2, atol: 2e-2)
        let double = ln(x.to(.float64))
        #expect(double.dtype == .float64)
    }

    @Test func embeddingLooksUpRows() {
        let store = ParameterStore(seed: 9)
        let emb = Embedding(store.root / "token_embedding", count: 10, dimensions: 4)
        #expect(store.names == ["token_embedding.weight"])
        let ids = Tensor([3, 0, 9, 3] as [Int64], shape: [2, 2])
        let rows = emb(ids)
        #expect(rows.shape == [2, 2, 4])
        #expect(rows[0][0].equals(emb.weight[3]))
        #expect(rows[1][1].equals(emb.weight[3]))
        #expect(rows[1][0].equals(emb.weight[9]))
        // N(0, 1) initialisation: a large table has roughly unit variance.
        let big = Embedding(ParameterStore(seed: 1).root / "e", count: 1000, dimensions: 64)
        #expect(abs(big.weight.variance().item() - 1) < 0.05)
    }

    @Test func multiheadAttentionLayoutAndMath() {
        let store = ParameterStore(seed: 4)
        let e = 8, h = 2
        let attn = MultiheadAttention(store.root / "attn", embedDim: e, numHeads: h)
        #expect(store.names == ["attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias"])
        #expect(attn.inProjWeight.shape == [3 * e, e])
        #expect(attn.inProjBias?.abs().max().item() == 0)
        #expect(attn.outProj.bias?.abs().max().item() == 0)
        #expect(attn.inProjWeight.abs().max().item() <= (6.0 / Double(4 * e)).squareRoot())
        let noBias = ParameterStore()
        _ = MultiheadAttention(noBias.root / "a", embedDim: e, numHeads: h, bias: false)
        #expect(noBias.names == ["a.in_proj_weight", "a.out_proj.weight"])

        // Non-zero biases so that every term of the reference computation matters.
        noGrad {
            attn.inProjBias!.copyInPlace(from: Tensor.randn([3 * e], generator: Generator(seed: 8)))
            attn.outProj.bias!.copyInPlace(from: Tensor.randn([e], generator: Generator(seed: 9)))
        }
        let g = Generator(seed: 6)
        let x = Tensor.randn([2, 5, e], generator: g), kv = Tensor.randn([2, 3, e], generator: g)
        let mask = Tensor.randn([5, 3], generator: g)
        let y = attn(query: x, key: kv, value: kv, mask: mask)
        #expect(y.shape == [2, 5, e])
        expectClose(y, referenceAttention(attn, x, kv, kv, mask: mask), rtol: 1e-4, atol: 1e-5)

        // Self-attention (fused projection) with a causal mask, and the equivalent explicit mask.
        let causal = Tensor.zeros([5, 5]).maskedFill(Tensor.ones([5, 5], dtype: .bool).triu(diagonal: 1), value: -.infinity)
        let selfCausal = attn(query: x, key: x, value: x, isCausal: true)
        expectClose(selfCausal, referenceAttention(attn, x, x, x, mask: causal), rtol: 1e-4, atol: 1e-5)
        expectClose(attn(query: x, key: x, value: x, mask: causal), selfCausal, rtol: 1e-5, atol: 1e-6)
        // A bool mask blocks where true, as in PyTorch; per-head masks [N·heads, L, S] are accepted.
        let boolMask = Tensor.ones([5, 5], dtype: .bool).triu(diagonal: 1)
        expectClose(attn(query: x, key: x, value: x, mask: boolMask), selfCausal, rtol: 1e-5, atol: 1e-6)
        let perHead = causal.unsqueezed(dim: 0).expanded([2 * h, 5, 5]).contiguous()
        expectClose(attn(query: x, key: x, value: x, mask: perHead), selfCausal, rtol: 1e-5, atol: 1e-6)
        // Both a mask and isCausal: the union of the two.
        let zeroMask = Tensor.zeros([5, 5])
        expectClose(attn(query: x, key: x, value: x, mask: zeroMask, isCausal: true), selfCausal, rtol: 1e-5, atol: 1e-6)
    }

    @Test func sequentialAndActivations() {
        let store = ParameterStore(seed: 1)
        let mlp = Sequential([
            Linear(store.root / "mlp" / 0, inputFeatures: 4, outputFeatures: 8), GELU(),
            Linear(store.root / "mlp" / 2, inputFeatures: 8, outputFeatures: 2), Identity(),
        ])
        #expect(store.names == ["mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias"])
        let x = Tensor.randn([3, 4], generator: Generator(seed: 2))
        let l0 = mlp.layers[0] as! Linear, l2 = mlp.layers[2] as! Linear
        expectClose(mlp(x), l2(l0(x).gelu()))

        let v = Tensor([-2, -0.5, 0, 1, 3] as [Float])
        let erfGelu = v * ((v / 2.0.squareRoot()).erf() + 1) * 0.5
        expectClose(GELU()(v), erfGelu)
        expectClose(QuickGELU()(v), v * (v * 1.702).sigmoid())
        expectClose(ReLU()(v), Tensor([0, 0, 0, 1, 3] as [Float]))
        #expect(GELU(approximate: true)(v).shape == [5])
    }

    @Test func dropoutOnlyInTraining() {
        let x = Tensor.ones([1000])
        let drop = Dropout(0.25, generator: Generator(seed: 3))
        #expect(drop(x, training: false).equals(x))
        let y = drop(x, training: true)
        let kept = y.ne(0).to(.float32).sum().item()
        #expect(kept > 650 && kept < 850)
        expectClose(y.masked(y.ne(0)), Tensor.full([Int(kept)], value: 1 / 0.75))
        // The same seed gives the same mask.
        #expect(Dropout(0.25, generator: Generator(seed: 3))(x, training: true).equals(y))
    }
}

/// Attention computed from the definition, for comparison with ``MultiheadAttention``.
func referenceAttention(_ attn: MultiheadAttention, _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor?) -> Tensor {
    let e = attn.embedDim, h = attn.numHeads, d = e / h
    let w = attn.inProjWeight.chunked(3, dim: 0), b = attn.inProjBias!.chunked(3, dim: 0)
    let n = q.size(0), l = q.size(1), s = k.size(1)
    let qh = linear(q, weight: w[0], bias: b[0]).reshaped([n, l, h, d]).transposed(1, 2)
    let kh = linear(k, weight: w[1], bias: b[1]).reshaped([n, s, h, d]).transposed(1, 2)
    let vh = linear(v, weight: w[2], bias: b[2]).reshaped([n, s, h, d]).transposed(1, 2)
    var scores = qh.matmul(kh.transposed(-2, -1)) / Double(d).squareRoot()
    if let mask { scores = scores + mask }
    let out = scores.softmax(dim: -1).matmul(vh).transposed(1, 2).reshaped([n, l, e])
    return attn.outProj(out)
}
