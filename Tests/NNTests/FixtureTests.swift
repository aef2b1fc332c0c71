import Foundation
import Testing
import TestSupport
import Torch
@testable import NN

/// One file written by Scripts/make_nn_fixtures.py.
struct NNFixture {
    let name: String
    let tensors: [String: Tensor]

    init(_ name: String) throws {
        self.name = name
        let path = fixturesDirectory.appendingPathComponent("nn/\(name).safetensors").path
        tensors = try loadSafeTensors(atPath: path).tensors
    }

    func callAsFunction(_ key: String) throws -> Tensor {
        try #require(tensors[key], "\(name): no tensor '\(key)'")
    }

    /// The tensors whose keys start with `prefix`, keyed by the rest of the key.
    func prefixed(_ prefix: String) -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for (key, value) in tensors where key.hasPrefix(prefix) { result[String(key.dropFirst(prefix.count))] = value }
        return result
    }
}

/// Loads the fixture's state into `store`, runs `forward` on the fixture inputs `args` ("" for
/// the single input) and compares the output and the gradients of sum(output · cotangent) with
/// respect to floating inputs and trainable parameters.
func checkLayer(
    _ fixture: NNFixture, store: ParameterStore, args: [String] = [""], rtol: Double = 1e-5, atol: Double = 1e-5,
    forward: ([String: Tensor]) -> Tensor
) throws {
    try store.load(fixture.prefixed("state."))
    var inputs: [String: Tensor] = [:]
    for arg in args {
        let x = try fixture(arg.isEmpty ? "input" : "input.\(arg)")
        inputs[arg] = x.dtype.isFloatingPoint && arg != "mask" ? x.copied().requiringGrad() : x
    }
    let output = forward(inputs)
    expectClose(output, try fixture("output"), rtol: rtol, atol: atol, "\(fixture.name) output")
    let differentiable = args.filter { inputs[$0]!.requiresGrad }
    let parameters = store.trainableParameters()
    let cotangent = try fixture("cotangent")
    let grads = gradients(
        of: [(output * cotangent).sum()],
        withRespectTo: differentiable.map { inputs[$0]! } + parameters.map(\.tensor))
    for (arg, grad) in zip(differentiable, grads) {
        let key = arg.isEmpty ? "grad_input" : "grad_input.\(arg)"
        expectClose(try #require(grad), try fixture(key), rtol: rtol, atol: atol, "\(fixture.name) \(key)")
    }
    for (parameter, grad) in zip(parameters, grads.dropFirst(differentiable.count)) {
        let key = "grad.\(parameter.name)"
        expectClose(try #require(grad), try fixture(key), rtol: rtol, atol: atol, "\(fixture.name) \(key)")
    }
}

@Suite struct LayerFixtureTests {
    @Test func linear() throws {
        let store = ParameterStore()
        let layer = Linear(store.root, inputFeatures: 5, outputFeatures: 3)
        try checkLayer(NNFixture("linear"), store: store) { layer($0[""]!) }
    }

    @Test func conv2d() throws {
        let store = ParameterStore()
        let layer = Conv2d(store.root, inChannels: 4, outChannels: 6, kernelSize: 3, stride: 2, padding: 1)
        try checkLayer(NNFixture("conv2d"), store: store) { layer($0[""]!) }
    }

    @Test func groupedConv2d() throws {
        let store = ParameterStore()
        let layer = Conv2d(store.root, inChannels: 4, outChannels: 6, kernelSize: 3, groups: 2, bias: false)
        try checkLayer(NNFixture("conv2d_grouped"), store: store) { layer($0[""]!) }
    }

    @Test func batchNormTraining() throws {
        let store = ParameterStore()
        let layer = BatchNorm2d(store.root, features: 3)
        let fixture = try NNFixture("batchnorm2d_train")
        try checkLayer(fixture, store: store) { layer($0[""]!, training: true) }
        expectClose(layer.runningMean, try fixture("after.running_mean"), rtol: 1e-5, atol: 1e-6)
        expectClose(layer.runningVar, try fixture("after.running_var"), rtol: 1e-5, atol: 1e-6)
        #expect(layer.numBatchesTracked.itemInt() == (try fixture("after.num_batches_tracked")).itemInt())
        #expect(layer.numBatchesTracked.itemInt() == 8)
    }

    @Test func batchNormEval() throws {
        let store = ParameterStore()
        let layer = BatchNorm2d(store.root, features: 3)
        let fixture = try NNFixture("batchnorm2d_eval")
        try checkLayer(fixture, store: store) { layer($0[""]!, training: false) }
        #expect(layer.runningMean.equals(try fixture("state.running_mean")))
    }

    @Test func layerNorm() throws {
        let store = ParameterStore()
        let layer = LayerNorm(store.root, features: 6)
        try checkLayer(NNFixture("layernorm"), store: store) { layer($0[""]!) }
    }

    @Test func embedding() throws {
        let store = ParameterStore()
        let layer = Embedding(store.root, count: 10, dimensions: 4)
        try checkLayer(NNFixture("embedding"), store: store) { layer($0[""]!) }
    }

    @Test func crossAttentionWithMask() throws {
        let store = ParameterStore()
        let layer = MultiheadAttention(store.root, embedDim: 8, numHeads: 2)
        try checkLayer(NNFixture("mha_cross"), store: store, args: ["query", "key", "value", "mask"]) {
            layer(query: $0["query"]!, key: $0["key"]!, value: $0["value"]!, mask: $0["mask"]!)
        }
    }

    @Test func causalSelfAttention() throws {
        let store = ParameterStore()
        let layer = MultiheadAttention(store.root, embedDim: 8, numHeads: 2)
        try checkLayer(NNFixture("mha_self_causal"), store: store) {
            layer(query: $0[""]!, key: $0[""]!, value: $0[""]!, isCausal: true)
        }
    }

    @Test func activations() throws {
        try checkLayer(NNFixture("gelu"), store: ParameterStore()) { GELU()($0[""]!) }
        try checkLayer(NNFixture("quick_gelu"), store: ParameterStore()) { QuickGELU()($0[""]!) }
        try checkLayer(NNFixture("relu"), store: ParameterStore()) { ReLU()($0[""]!) }
    }

    @Test func sequential() throws {
        let store = ParameterStore()
        let model = Sequential([
            Linear(store.root / 0, inputFeatures: 4, outputFeatures: 6), GELU(),
            Linear(store.root / 2, inputFeatures: 6, outputFeatures: 2),
        ])
        try checkLayer(NNFixture("sequential"), store: store) { model($0[""]!) }
    }
}

@Suite struct OptimizerFixtureTests {
    static let names = ["fc.weight", "fc.bias", "ln_1.weight", "proj", "logit_scale"]

    /// Two steps with the fixture's gradients; parameters after each step and the final state
    /// must match PyTorch's.
    func check(_ file: String, stateFields: [String], make: ([(name: String, tensor: Tensor)]) -> any Optimizer) throws {
        let fixture = try NNFixture(file)
        let parameters = try Self.names.map { (name: $0, tensor: try fixture("state.\($0)").copied().requiringGrad()) }
        let optimizer = make(parameters)
        for step in 1...2 {
            for (name, tensor) in parameters { tensor.grad = try fixture("grad\(step).\(name)") }
            optimizer.step()
            for (name, tensor) in parameters {
                expectClose(tensor, try fixture("after\(step).\(name)"), rtol: 1e-5, atol: 1e-6, "\(file) step \(step) \(name)")
            }
        }
        #expect(optimizer.stepCount == 2)
        let state = optimizer.stateDict()
        for name in Self.names {
            for field in stateFields {
                let key = "\(field).\(name)"
                expectClose(try #require(state[key]), try fixture(key), rtol: 1e-5, atol: 1e-7, "\(file) \(key)")
            }
        }
    }

    @Test(arguments: [true, false]) func adamW(fused: Bool) throws {
        try check("adamw", stateFields: ["exp_avg", "exp_avg_sq", "step"]) {
            AdamW($0, learningRate: 1e-2, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.2, fused: fused)
        }
    }

    @Test func sgd() throws {
        try check("sgd", stateFields: ["momentum_buffer"]) {
            SGD($0, learningRate: 0.05, momentum: 0.9, weightDecay: 0.01)
        }
    }

    @Test func sgdNesterov() throws {
        try check("sgd_nesterov", stateFields: ["momentum_buffer"]) {
            SGD($0, learningRate: 0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true)
        }
    }

    @Test func openCLIPSchedules() throws {
        let fixture = try NNFixture("schedule")
        let cosine = LRSchedule.warmupCosine(baseLR: 5e-4, warmupSteps: 10, totalSteps: 100)
        let constant = LRSchedule.warmupConstant(baseLR: 5e-4, warmupSteps: 10)
        expectClose((0...100).map { cosine($0) }, try fixture("cosine").toArray(), rtol: 1e-12, atol: 1e-18)
        expectClose((0...100).map { constant($0) }, try fixture("constant").toArray(), rtol: 1e-12, atol: 1e-18)
    }
}
