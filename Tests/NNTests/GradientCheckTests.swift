import Testing
import TestSupport
import Torch
@testable import NN

/// Central differences of `f` with respect to each element of `tensor` (modified in place and restored).
func numericalGradient(of f: () -> Double, at tensor: Tensor, step h: Double = 1e-6) -> Tensor {
    let base: [Double] = tensor.toArray()
    func set(_ values: [Double]) { noGrad { tensor.copyInPlace(from: Tensor(values, shape: tensor.shape)) } }
    var result = [Double](repeating: 0, count: base.count)
    for i in base.indices {
        var values = base
        values[i] = base[i] + h
        set(values)
        let plus = f()
        values[i] = base[i] - h
        set(values)
        let minus = f()
        result[i] = (plus - minus) / (2 * h)
    }
    set(base)
    return Tensor(result, shape: tensor.shape)
}

/// Compares autograd's gradients of `sum(forward() · R)` (R fixed random) with respect to
/// `tensors` against central differences, in float64.
func checkGradients(
    _ label: String, wrt tensors: [Tensor], rtol: Double = 1e-6, atol: Double = 1e-8,
    sourceLocation: SourceLocation = #_sourceLocation, forward: () -> Tensor
) {
    let output = forward()
    #expect(output.dtype == .float64, "\(label): output is \(output.dtype)", sourceLocation: sourceLocation)
    let r = Tensor.randn(output.shape, dtype: .float64, generator: Generator(seed: 99))
    let analytic = gradients(of: [(output * r).sum()], withRespectTo: tensors)
    for (index, (tensor, grad)) in zip(tensors, analytic).enumerated() {
        guard let grad else {
            Issue.record("\(label): no gradient for tensor \(index)", sourceLocation: sourceLocation)
            continue
        }
        let numeric = numericalGradient(of: { noGrad { (forward() * r).sum().item() } }, at: tensor)
        expectClose(grad, numeric, rtol: rtol, atol: atol, "\(label) tensor \(index)", sourceLocation: sourceLocation)
    }
}

func input64(_ shape: [Int], seed: UInt64) -> Tensor {
    Tensor.randn(shape, dtype: .float64, generator: Generator(seed: seed)).requiringGrad()
}

@Suite struct GradientCheckTests {
    @Test func linear() {
        let store = ParameterStore(seed: 1, dtype: .float64)
        let layer = Linear(store.root, inputFeatures: 3, outputFeatures: 2)
        let x = input64([2, 3], seed: 1)
        checkGradients("Linear", wrt: [x, layer.weight, layer.bias!]) { layer(x) }
    }

    @Test func conv2d() {
        let store = ParameterStore(seed: 2, dtype: .float64)
        let layer = Conv2d(store.root, inChannels: 2, outChannels: 4, kernelSize: 2, stride: 2, padding: 1, groups: 2)
        let x = input64([2, 2, 3, 3], seed: 2)
        checkGradients("Conv2d", wrt: [x, layer.weight, layer.bias!]) { layer(x) }
    }

    @Test func batchNorm() {
        let store = ParameterStore(seed: 3, dtype: .float64)
        let layer = BatchNorm2d(store.root, features: 2)
        noGrad {
            layer.weight.copyInPlace(from: Tensor([1.5, -0.5] as [Double]))
            layer.bias.copyInPlace(from: Tensor([0.2, 0.3] as [Double]))
        }
        let x = input64([3, 2, 2, 2], seed: 3)
        checkGradients("BatchNorm2d train", wrt: [x, layer.weight, layer.bias]) { layer(x, training: true) }
        checkGradients("BatchNorm2d eval", wrt: [x, layer.weight]) { layer(x, training: false) }
    }

    @Test func layerNorm() {
        let store = ParameterStore(seed: 4, dtype: .float64)
        let layer = LayerNorm(store.root, features: 4)
        noGrad { layer.weight.copyInPlace(from: Tensor([1, 2, -1, 0.5] as [Double])) }
        let x = input64([2, 4], seed: 4)
        checkGradients("LayerNorm", wrt: [x, layer.weight, layer.bias]) { layer(x) }
    }

    @Test func embedding() {
        let store = ParameterStore(seed: 5, dtype: .float64)
        let layer = Embedding(store.root, count: 4, dimensions: 3)
        let ids = Tensor([1, 3, 1] as [Int64])
        checkGradients("Embedding", wrt: [layer.weight]) { layer(ids) }
    }

    @Test func multiheadAttention() {
        let store = ParameterStore(seed: 6, dtype: .float64)
        let layer = MultiheadAttention(store.root, embedDim: 4, numHeads: 2)
        noGrad { layer.inProjBias!.copyInPlace(from: Tensor.randn([12], dtype: .float64, generator: Generator(seed: 1))) }
        let q = input64([2, 3, 4], seed: 6), k = input64([2, 2, 4], seed: 7), v = input64([2, 2, 4], seed: 8)
        let mask = Tensor.randn([3, 2], dtype: .float64, generator: Generator(seed: 9))
        checkGradients("MHA cross", wrt: [q, k, v, layer.inProjWeight, layer.inProjBias!, layer.outProj.weight]) {
            layer(query: q, key: k, value: v, mask: mask)
        }
        let x = input64([2, 3, 4], seed: 10)
        checkGradients("MHA causal self", wrt: [x, layer.inProjWeight]) {
            layer(query: x, key: x, value: x, isCausal: true)
        }
    }

    @Test func activationsAndSequential() {
        // Values away from ReLU's kink at 0.
        let x = Tensor([-1.5, -0.7, 0.3, 0.9, 2.1, -2.5] as [Double], shape: [2, 3]).requiringGrad()
        checkGradients("GELU", wrt: [x]) { GELU()(x) }
        checkGradients("QuickGELU", wrt: [x]) { QuickGELU()(x) }
        checkGradients("ReLU", wrt: [x]) { ReLU()(x) }
        let store = ParameterStore(seed: 11, dtype: .float64)
        let first = Linear(store.root / 0, inputFeatures: 3, outputFeatures: 4)
        let model = Sequential([first, GELU(), Linear(store.root / 2, inputFeatures: 4, outputFeatures: 2)])
        checkGradients("Sequential", wrt: [x, first.weight]) { model(x) }
    }
}
