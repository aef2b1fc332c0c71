import Foundation
import Testing
import TestSupport
import Torch
@testable import NN

/// A small named parameter set with open_clip-like names.
func makeParameters(seed: UInt64) -> [(name: String, tensor: Tensor)] {
    let g = Generator(seed: seed)
    let shapes: [(String, [Int])] = [
        ("visual.conv1.weight", [4, 3, 2, 2]), ("visual.bn1.weight", [4]), ("transformer.ln_1.weight", [6]),
        ("proj", [6, 3]), ("fc.bias", [3]), ("logit_scale", []),
    ]
    return shapes.map { (name: $0.0, tensor: Tensor.randn($0.1, generator: g).requiringGrad()) }
}

/// Sets every parameter's gradient to fresh random values.
func setRandomGrads(_ parameters: [(name: String, tensor: Tensor)], _ g: Generator) {
    for (_, tensor) in parameters { tensor.grad = Tensor.randn(tensor.shape, generator: g) }
}

func copies(_ parameters: [(name: String, tensor: Tensor)]) -> [(name: String, tensor: Tensor)] {
    parameters.map { (name: $0.name, tensor: $0.tensor.detached().copied().requiringGrad()) }
}

@Suite struct OptimizerTests {
    @Test func openCLIPDecayGroups() {
        let parameters = makeParameters(seed: 1)
        let groups = weightDecayGroups(parameters, weightDecay: 0.2)
        #expect(groups.count == 2)
        #expect(groups[0].weightDecay == 0)
        #expect(
            groups[0].parameters.map(\.name) == [
                "visual.bn1.weight", "transformer.ln_1.weight", "fc.bias", "logit_scale",
            ])
        #expect(groups[1].weightDecay == 0.2)
        #expect(groups[1].parameters.map(\.name) == ["visual.conv1.weight", "proj"])
        let adamw = AdamW(parameters, learningRate: 1e-3)
        #expect(adamw.parameterGroups.map(\.weightDecay) == [0, 0.1])
        let everything = AdamW(parameters, learningRate: 1e-3, exempt: { _, _ in false })
        #expect(everything.parameterGroups.count == 1)
    }

    @Test func fusedAndReferenceAdamWAgree() {
        let fusedParameters = makeParameters(seed: 2), referenceParameters = copies(fusedParameters)
        let fused = AdamW(fusedParameters, learningRate: 3e-2, weightDecay: 0.3, fused: true)
        let reference = AdamW(referenceParameters, learningRate: 3e-2, weightDecay: 0.3, fused: false)
        let gf = Generator(seed: 7), gr = Generator(seed: 7)
        for step in 0..<5 {
            fused.learningRate = 3e-2 / Double(step + 1)
            reference.learningRate = fused.learningRate
            setRandomGrads(fusedParameters, gf)
            setRandomGrads(referenceParameters, gr)
            fused.step()
            reference.step()
        }
        for (a, b) in zip(fusedParameters, referenceParameters) {
            expectClose(a.tensor, b.tensor, rtol: 1e-5, atol: 1e-6, a.name)
            let sa = fused.state(of: a.name)!, sb = reference.state(of: a.name)!
            expectClose(sa.expAvg, sb.expAvg, rtol: 1e-5, atol: 1e-7, a.name)
            expectClose(sa.expAvgSq, sb.expAvgSq, rtol: 1e-5, atol: 1e-8, a.name)
            #expect(sa.step.item() == 5 && sb.step.item() == 5)
        }
    }

    @Test func parametersWithoutGradientsAreSkipped() {
        let parameters = makeParameters(seed: 3)
        let before = parameters.map { $0.tensor.copied() }
        for fused in [true, false] {
            let optimizer = AdamW(parameters, learningRate: 0.1, fused: fused)
            parameters[0].tensor.grad = parameters[0].tensor.detached().onesLike()
            optimizer.step()
            #expect(!parameters[0].tensor.equals(before[0]))
            #expect(optimizer.state(of: parameters[1].name) == nil)
            for i in 1..<parameters.count { #expect(parameters[i].tensor.equals(before[i])) }
            optimizer.zeroGrad()
            #expect(parameters[0].tensor.grad == nil)
            noGrad { parameters[0].tensor.copyInPlace(from: before[0]) }
        }
    }

    @Test func sgdMatchesTheDefinition() {
        let parameters = makeParameters(seed: 4)
        let p = parameters[3].tensor, p0 = p.copied()
        let optimizer = SGD(parameters, learningRate: 0.1, momentum: 0.5, weightDecay: 0.01)
        let g1 = Tensor.randn(p.shape, generator: Generator(seed: 1))
        let g2 = Tensor.randn(p.shape, generator: Generator(seed: 2))
        p.grad = g1
        optimizer.step()
        let d1 = g1 + p0 * 0.01, p1 = p0 - d1 * 0.1
        expectClose(p, p1)
        p.grad = g2
        optimizer.learningRate = 0.05
        optimizer.step()
        let buffer = d1 * 0.5 + (g2 + p1 * 0.01)
        expectClose(p, p1 - buffer * 0.05)
        expectClose(optimizer.stateDict()["momentum_buffer.proj"]!, buffer)
    }

    /// Training A for 5 steps equals training B for 3, saving its state through a safetensors
    /// file, and resuming in a fresh optimizer C for 2: bit for bit.
    @Test(arguments: ["adamw-fused", "adamw", "sgd", "sgd-nesterov"])
    func stateRoundTripResumesBitExactly(kind: String) throws {
        func make(_ parameters: [(name: String, tensor: Tensor)]) -> any Optimizer {
            switch kind {
            case "adamw-fused": AdamW(parameters, learningRate: 1e-2, fused: true)
            case "adamw": AdamW(parameters, learningRate: 1e-2, fused: false)
            case "sgd": SGD(parameters, learningRate: 1e-2, momentum: 0.9, weightDecay: 1e-3)
            default: SGD(parameters, learningRate: 1e-2, momentum: 0.9, weightDecay: 1e-3, nesterov: true)
            }
        }
        let schedule = LRSchedule.warmupCosine(baseLR: 1e-2, warmupSteps: 2, totalSteps: 5)
        let a = makeParameters(seed: 5), b = copies(a)
        let optA = make(a), optB = make(b)
        let ga = Generator(seed: 11), gb = Generator(seed: 11)
        for step in 0..<5 {
            optA.learningRate = schedule(step)
            setRandomGrads(a, ga)
            optA.step()
        }
        for step in 0..<3 {
            optB.learningRate = schedule(step)
            setRandomGrads(b, gb)
            optB.step()
        }
        let directory = try makeTemporaryDirectory("nn-optimizer-state")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state.safetensors").path
        try saveSafeTensors(optB.stateDict(), toPath: path)
        let c = copies(b)
        let optC = make(c)
        try optC.loadStateDict(try loadSafeTensors(atPath: path).tensors)
        #expect(optC.stepCount == 3)
        for step in optC.stepCount..<5 {
            optC.learningRate = schedule(step)
            setRandomGrads(c, gb)
            optC.step()
        }
        for (x, y) in zip(a, c) { #expect(x.tensor.equals(y.tensor), "\(kind): \(x.name) differs after resuming") }
        let sa = optA.stateDict(), sc = optC.stateDict()
        #expect(Set(sa.keys) == Set(sc.keys))
        for (key, value) in sa { #expect(value.equals(sc[key]!), "\(kind): state \(key) differs") }
    }

    @Test func loadStateDictRejectsBadStates() throws {
        let parameters = makeParameters(seed: 6)
        let optimizer = AdamW(parameters, learningRate: 1e-2)
        setRandomGrads(parameters, Generator(seed: 1))
        optimizer.step()
        let good = optimizer.stateDict()
        var extra = good
        extra["exp_avg.nope"] = Tensor.zeros([1])
        #expect(throws: TorchError.unexpectedKeys(["exp_avg.nope"])) { try optimizer.loadStateDict(extra) }
        var partial = good
        partial["exp_avg_sq.proj"] = nil
        #expect(throws: TorchError.missingKeys(["exp_avg_sq.proj"])) { try optimizer.loadStateDict(partial) }
        var wrongShape = good
        wrongShape["exp_avg.proj"] = Tensor.zeros([3, 6])
        #expect(throws: TorchError.shapeMismatch(key: "exp_avg.proj", expected: [6, 3], got: [3, 6])) {
            try optimizer.loadStateDict(wrongShape)
        }
        var noStep = good
        noStep["step"] = nil
        #expect(throws: TorchError.missingKeys(["step"])) { try optimizer.loadStateDict(noStep) }
        // Nothing changed by the failed loads.
        for (key, value) in optimizer.stateDict() { #expect(value.equals(good[key]!)) }
        // A fresh state (no step taken) loads and clears per-parameter state.
        try optimizer.loadStateDict(AdamW(parameters, learningRate: 1).stateDict())
        #expect(optimizer.stepCount == 0 && optimizer.state(of: "proj") == nil)
    }

    @Test func clippingByGlobalNorm() {
        let parameters = makeParameters(seed: 7)
        for (_, tensor) in parameters { tensor.grad = tensor.detached().fullLike(0.5) }
        let count = Double(parameters.reduce(0) { $0 + $1.tensor.count })
        let optimizer = SGD(parameters, learningRate: 1)
        let norm = clipGradNorm(optimizer, maxNorm: 1)
        #expect(abs(norm - 0.5 * count.squareRoot()) < 1e-4)
        let clipped = parameters.map { $0.tensor.grad!.square().sum().item() }.reduce(0, +).squareRoot()
        #expect(abs(clipped - 1) < 1e-4)
        // Below the limit nothing changes; parameters without gradients are ignored.
        parameters[0].tensor.zeroGrad()
        let before = parameters[1].tensor.grad!.copied()
        _ = clipGradNorm(parameters: parameters, maxNorm: 100)
        #expect(parameters[1].tensor.grad!.equals(before))
    }

    /// The device-side clip computes what `torch.nn.utils.clip_grad_norm_` computes — the norm of
    /// the per-tensor norms, then `grad · min(1, maxNorm · 1/(norm + 1e-6))` in float32 — checked
    /// against that arithmetic done here in Swift on the host, element for element; it reads
    /// nothing back, and agrees with the host clip.
    @Test(arguments: [0.5, 1e6]) func clippingOnTheDeviceMatchesPyTorchsArithmetic(maxNorm: Double) {
        let parameters = makeParameters(seed: 11)
        setRandomGrads(parameters, Generator(seed: 12))
        let grads: [[Float]] = parameters.map { $0.tensor.grad!.toArray() }
        let optimizer = SGD(parameters, learningRate: 1)
        let reads = Runtime.threadHostReadCount
        let norm = clipGradNormOnDevice(optimizer, maxNorm: maxNorm)
        #expect(Runtime.threadHostReadCount == reads, "the device clip reads nothing back")
        #expect(norm.dtype == .float32 && norm.shape == [])

        let exact = grads.joined().reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let total = Float(norm.item())
        #expect(abs(Double(total) - exact) <= 1e-6 * exact, "norm \(total) vs \(exact)")
        // PyTorch: clip_coef = max_norm / (total_norm + 1e-6) is reciprocal() * max_norm, then clamp(max: 1).
        let coefficient = min((1 / (total + Float(1e-6))) * Float(maxNorm), 1)
        #expect((coefficient < 1) == (maxNorm < exact))
        for (parameter, before) in zip(parameters, grads) {
            let after: [Float] = parameter.tensor.grad!.toArray()
            #expect(after == before.map { $0 * coefficient }, "\(parameter.name)")
        }

        // The host clip (which reads the norm) agrees to float rounding.
        let again = makeParameters(seed: 11)
        setRandomGrads(again, Generator(seed: 12))
        let hostNorm = clipGradNorm(parameters: again, maxNorm: maxNorm)
        #expect(abs(hostNorm - Double(total)) <= 1e-6 * hostNorm)
        for (a, b) in zip(parameters, again) { #expect(a.tensor.grad!.allClose(b.tensor.grad!, rtol: 1e-6, atol: 0)) }
    }
}
