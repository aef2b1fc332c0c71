import Foundation
import Torch

/// Parameters that share an optimizer's hyper-parameters (PyTorch's `param_groups` entry).
public struct ParameterGroup {
    /// `(state_dict name, tensor)` pairs; names key the optimizer state.
    public var parameters: [(name: String, tensor: Tensor)]
    /// Weight-decay coefficient of these parameters.
    public var weightDecay: Double

    public init(_ parameters: [(name: String, tensor: Tensor)], weightDecay: Double) {
        self.parameters = parameters
        self.weightDecay = weightDecay
    }
}

/// open_clip's rule for parameters trained without weight decay: tensors of rank < 2 and names
/// containing "bn", "ln", "bias" or "logit_scale" (substring match, as open_clip's `exclude`).
public func isExemptFromWeightDecay(name: String, tensor: Tensor) -> Bool {
    tensor.rank < 2 || name.contains("bn") || name.contains("ln") || name.contains("bias")
        || name.contains("logit_scale")
}

/// Splits `parameters` into open_clip's two groups: exempt ones with weight decay 0 first,
/// then the rest with `weightDecay`. Empty groups are left out.
public func weightDecayGroups(
    _ parameters: [(name: String, tensor: Tensor)], weightDecay: Double,
    exempt: (String, Tensor) -> Bool = isExemptFromWeightDecay
) -> [ParameterGroup] {
    let noDecay = parameters.filter { exempt($0.name, $0.tensor) }
    let decay = parameters.filter { !exempt($0.name, $0.tensor) }
    return [ParameterGroup(noDecay, weightDecay: 0), ParameterGroup(decay, weightDecay: weightDecay)]
        .filter { !$0.parameters.isEmpty }
}

/// A first-order optimizer over named parameters.
///
/// Each step reads every parameter's `.grad` (parameters without one are skipped, as in
/// PyTorch) and updates the parameter in place under ``noGrad(_:)``. The state is a flat
/// dictionary of named tensors, so a checkpoint can resume bit-exactly.
public protocol Optimizer: AnyObject {
    /// The learning rate of the next ``step()``; set it from an ``LRSchedule`` before each step.
    var learningRate: Double { get set }
    /// The parameters and their weight decay.
    var parameterGroups: [ParameterGroup] { get }
    /// Number of completed ``step()`` calls (restored by ``loadStateDict(_:)``).
    var stepCount: Int { get }
    /// Applies one update to every parameter that has a gradient.
    func step()
    /// The optimizer state as named tensors (copies; see each optimizer for the keys).
    func stateDict() -> [String: Tensor]
    /// Restores a state written by ``stateDict()``.
    /// - Throws: ``TorchError/unexpectedKeys(_:)`` for keys naming no parameter,
    ///   ``TorchError/missingKeys(_:)`` for a parameter with incomplete state,
    ///   ``TorchError/shapeMismatch(key:expected:got:)``; nothing changes when it throws.
    func loadStateDict(_ state: [String: Tensor]) throws(TorchError)
}

extension Optimizer {
    /// Clears the gradient of every parameter (`zero_grad(set_to_none=True)`).
    public func zeroGrad() {
        for group in parameterGroups {
            for parameter in group.parameters { parameter.tensor.zeroGrad() }
        }
    }

    /// All parameters of all groups, in order.
    public var parameters: [(name: String, tensor: Tensor)] { parameterGroups.flatMap(\.parameters) }
}

/// Scales the gradients of `parameters` in place so that their global L2 norm is at most
/// `maxNorm` (`torch.nn.utils.clip_grad_norm_`); parameters without a gradient are ignored.
/// - Returns: the global norm before clipping.
@discardableResult
public func clipGradNorm(parameters: [(name: String, tensor: Tensor)], maxNorm: Double) -> Double {
    clipGradNorm(parameters.compactMap { $0.tensor.grad }, maxNorm: maxNorm)
}

/// ``clipGradNorm(parameters:maxNorm:)`` over an optimizer's parameters, without reading back:
/// the gradients are scaled on the device (`torch.nn.utils.clip_grad_norm_`'s arithmetic).
/// - Returns: the global norm before clipping, a float32 scalar tensor on the device.
@discardableResult
public func clipGradNormOnDevice(_ optimizer: any Optimizer, maxNorm: Double) -> Tensor {
    clipGradNormOnDevice(optimizer.parameters.compactMap { $0.tensor.grad }, maxNorm: maxNorm)
}

/// ``clipGradNorm(parameters:maxNorm:)`` over an optimizer's parameters.
@discardableResult
public func clipGradNorm(_ optimizer: any Optimizer, maxNorm: Double) -> Double {
    clipGradNorm(parameters: optimizer.parameters, maxNorm: maxNorm)
}

// MARK: - AdamW

/// Adam with decoupled weight decay (`torch.optim.AdamW`, Loshchilov & Hutter).
///
/// Per parameter, with gradient g and step t:
/// `p ← p·(1 − lr·wd)`, `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)`.
///
/// With `fused` (the default) each group is updated by libtorch's fused kernel
/// (``fusedAdamWStep(parameters:grads:expAvgs:expAvgSqs:steps:lr:beta1:beta2:weightDecay:eps:)``);
/// otherwise by ``update(_:grad:state:learningRate:beta1:beta2:eps:weightDecay:)``, one tensor
/// at a time. Both give the same result up to float rounding.
///
/// State keys: `exp_avg.<name>`, `exp_avg_sq.<name>` (parameter shape and dtype), `step.<name>`
/// (float32 scalar), and `step` (int64 scalar, ``stepCount``).
///
/// ```swift
/// let opt = AdamW(store.trainableParameters(), learningRate: 5e-4)   // open_clip's decay groups
/// loss.backward(); opt.step(); opt.zeroGrad()
/// ```
public final class AdamW: Optimizer {
    /// Moments and step count of one parameter.
    public struct State {
        /// First moment m, like the parameter.
        public var expAvg: Tensor
        /// Second moment v, like the parameter.
        public var expAvgSq: Tensor
        /// Steps taken by this parameter, float32 scalar (the fused kernel's layout).
        public var step: Tensor
    }

    public var learningRate: Double
    /// Decay rate of the first moment.
    public let beta1: Double
    /// Decay rate of the second moment.
    public let beta2: Double
    /// Added to √v̂ in the denominator.
    public let eps: Double
    /// Whether ``step()`` uses libtorch's fused kernel.
    public let fused: Bool
    public let parameterGroups: [ParameterGroup]
    public private(set) var stepCount = 0
    private var states: [String: State] = [:]

    /// Creates an optimizer over explicit groups.
    public init(
        groups: [ParameterGroup], learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
        fused: Bool = true
    ) {
        let names = groups.flatMap { $0.parameters.map(\.name) }
        precondition(Set(names).count == names.count, "AdamW: a parameter name appears twice")
        self.parameterGroups = groups
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.fused = fused
    }

    /// Creates an optimizer whose parameters are decayed by `weightDecay` unless `exempt`
    /// (by default open_clip's rule, ``isExemptFromWeightDecay(name:tensor:)``).
    public convenience init(
        _ parameters: [(name: String, tensor: Tensor)], learningRate: Double, beta1: Double = 0.9,
        beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0.1,
        exempt: (String, Tensor) -> Bool = isExemptFromWeightDecay, fused: Bool = true
    ) {
        self.init(
            groups: weightDecayGroups(parameters, weightDecay: weightDecay, exempt: exempt), learningRate: learningRate,
            beta1: beta1, beta2: beta2, eps: eps, fused: fused)
    }

    /// The state of parameter `name`, nil before its first update.
    public func state(of name: String) -> State? { states[name] }

    /// One AdamW update of `parameter` in place (call under ``noGrad(_:)``); increments `state.step`.
    public static func update(
        _ parameter: Tensor, grad: Tensor, state: inout State, learningRate lr: Double, beta1: Double, beta2: Double,
        eps: Double, weightDecay: Double
    ) {
        state.step.addInPlace(1)
        let t = state.step.item()
        if weightDecay != 0 { parameter.mulInPlace(1 - lr * weightDecay) }
        state.expAvg.lerpInPlace(grad, weight: 1 - beta1)
        state.expAvgSq.mulInPlace(beta2)
        state.expAvgSq.addcmulInPlace(grad, grad, value: 1 - beta2)
        let biasCorrection1 = 1 - pow(beta1, t)
        let biasCorrection2Sqrt = (1 - pow(beta2, t)).squareRoot()
        let denominator = state.expAvgSq.sqrt() / biasCorrection2Sqrt + eps
        parameter.addcdivInPlace(state.expAvg, denominator, value: -lr / biasCorrection1)
    }

    public func step() {
        noGrad {
            for group in parameterGroups {
                var params: [Tensor] = [], grads: [Tensor] = [], expAvgs: [Tensor] = [], expAvgSqs: [Tensor] = []
                var steps: [Tensor] = []
                for (name, parameter) in group.parameters {
                    guard let grad = parameter.grad else { continue }
                    var state =
                        states[name]
                        ?? State(
                            expAvg: parameter.zerosLike(), expAvgSq: parameter.zerosLike(),
                            step: Tensor.zeros([], dtype: .float32, device: parameter.device))
                    if fused {
                        params.append(parameter)
                        grads.append(grad)
                        expAvgs.append(state.expAvg)
                        expAvgSqs.append(state.expAvgSq)
                        steps.append(state.step)
                    } else {
                        Self.update(
                            parameter, grad: grad, state: &state, learningRate: learningRate, beta1: beta1, beta2: beta2,
                            eps: eps, weightDecay: group.weightDecay)
                    }
                    states[name] = state
                }
                if fused && !params.isEmpty {
                    fusedAdamWStep(
                        parameters: params, grads: grads, expAvgs: expAvgs, expAvgSqs: expAvgSqs, steps: steps,
                        lr: learningRate, beta1: beta1, beta2: beta2, weightDecay: group.weightDecay, eps: eps)
                }
            }
        }
        stepCount += 1
    }

    public func stateDict() -> [String: Tensor] {
        var result: [String: Tensor] = ["step": Tensor(scalar: Double(stepCount), dtype: .int64)]
        for (name, state) in states {
            result["exp_avg.\(name)"] = state.expAvg.copied()
            result["exp_avg_sq.\(name)"] = state.expAvgSq.copied()
            result["step.\(name)"] = state.step.copied()
        }
        return result
    }

    public func loadStateDict(_ state: [String: Tensor]) throws(TorchError) {
        let loaded = try loadNamedState(
            state, parameters: parameters, fields: ["exp_avg", "exp_avg_sq", "step"], scalarFields: ["step"])
        var newStates: [String: State] = [:]
        for (name, fields) in loaded.perParameter {
            newStates[name] = State(expAvg: fields["exp_avg"]!, expAvgSq: fields["exp_avg_sq"]!, step: fields["step"]!)
        }
        states = newStates
        stepCount = loaded.stepCount
    }
}

// MARK: - SGD

/// Stochastic gradient descent with momentum (`torch.optim.SGD`, dampening 0).
///
/// Per parameter: `d ← g + wd·p` (coupled L2 decay), `b ← d` on the first step and
/// `b ← μb + d` afterwards, `d ← d + μb` (Nesterov) or `d ← b`, `p ← p − lr·d`.
///
/// State keys: `momentum_buffer.<name>` (when momentum ≠ 0) and `step` (int64 scalar).
public final class SGD: Optimizer {
    /// Momentum buffer of one parameter.
    public struct State {
        /// The buffer b, like the parameter; nil without momentum.
        public var momentumBuffer: Tensor?
    }

    public var learningRate: Double
    /// Momentum factor μ (0: plain SGD).
    public let momentum: Double
    /// Whether the Nesterov form is used.
    public let nesterov: Bool
    public let parameterGroups: [ParameterGroup]
    public private(set) var stepCount = 0
    private var states: [String: State] = [:]

    /// Creates an optimizer over explicit groups.
    public init(groups: [ParameterGroup], learningRate: Double, momentum: Double = 0, nesterov: Bool = false) {
        precondition(!nesterov || momentum > 0, "SGD: Nesterov momentum needs momentum > 0")
        let names = groups.flatMap { $0.parameters.map(\.name) }
        precondition(Set(names).count == names.count, "SGD: a parameter name appears twice")
        self.parameterGroups = groups
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
    }

    /// Creates an optimizer applying `weightDecay` to every parameter, as PyTorch's SGD.
    public convenience init(
        _ parameters: [(name: String, tensor: Tensor)], learningRate: Double, momentum: Double = 0,
        weightDecay: Double = 0, nesterov: Bool = false
    ) {
        self.init(
            groups: [ParameterGroup(parameters, weightDecay: weightDecay)], learningRate: learningRate,
            momentum: momentum, nesterov: nesterov)
    }

    /// The state of parameter `name`, nil before its first update.
    public func state(of name: String) -> State? { states[name] }

    /// One SGD update of `parameter` in place (call under ``noGrad(_:)``).
    public static func update(
        _ parameter: Tensor, grad: Tensor, state: inout State, learningRate lr: Double, momentum: Double,
        nesterov: Bool, weightDecay: Double
    ) {
        var direction = weightDecay != 0 ? grad + parameter * weightDecay : grad
        if momentum != 0 {
            if let buffer = state.momentumBuffer {
                buffer.mulInPlace(momentum)
                buffer.addInPlace(direction)
            } else {
                state.momentumBuffer = direction.copied()
            }
            let buffer = state.momentumBuffer!
            direction = nesterov ? direction + buffer * momentum : buffer
        }
        parameter.addInPlace(direction, alpha: -lr)
    }

    public func step() {
        noGrad {
            for group in parameterGroups {
                for (name, parameter) in group.parameters {
                    guard let grad = parameter.grad else { continue }
                    var state = states[name] ?? State()
                    Self.update(
                        parameter, grad: grad, state: &state, learningRate: learningRate, momentum: momentum,
                        nesterov: nesterov, weightDecay: group.weightDecay)
                    states[name] = state
                }
            }
        }
        stepCount += 1
    }

    public func stateDict() -> [String: Tensor] {
        var result: [String: Tensor] = ["step": Tensor(scalar: Double(stepCount), dtype: .int64)]
        for (name, state) in states {
            if let buffer = state.momentumBuffer { result["momentum_buffer.\(name)"] = buffer.copied() }
        }
        return result
    }

    public func loadStateDict(_ state: [String: Tensor]) throws(TorchError) {
        let loaded = try loadNamedState(state, parameters: parameters, fields: ["momentum_buffer"], scalarFields: [])
        var newStates: [String: State] = [:]
        for (name, fields) in loaded.perParameter { newStates[name] = State(momentumBuffer: fields["momentum_buffer"]) }
        states = newStates
        stepCount = loaded.stepCount
    }
}

// MARK: - State loading

/// Validates and copies a flat optimizer state `"<field>.<parameter name>"` plus `"step"`.
///
/// A parameter has either all `fields` or none (then it has no state yet). Non-scalar fields
/// must have the parameter's shape and are converted to its dtype, device and memory layout;
/// `scalarFields` are rank-0 float32 tensors.
private func loadNamedState(
    _ state: [String: Tensor], parameters: [(name: String, tensor: Tensor)], fields: [String], scalarFields: Set<String>
) throws(TorchError) -> (perParameter: [String: [String: Tensor]], stepCount: Int) {
    var used: Set<String> = []
    var perParameter: [String: [String: Tensor]] = [:]
    var missing: [String] = []
    for (name, parameter) in parameters {
        var found: [String: Tensor] = [:]
        for field in fields {
            let key = "\(field).\(name)"
            guard let source = state[key] else { continue }
            used.insert(key)
            let expected = scalarFields.contains(field) ? [] : parameter.shape
            if source.shape != expected { throw .shapeMismatch(key: key, expected: expected, got: source.shape) }
            found[field] = source
        }
        if found.isEmpty { continue }
        if found.count != fields.count {
            missing += fields.filter { found[$0] == nil }.map { "\($0).\(name)" }
            continue
        }
        perParameter[name] = found
    }
    if !missing.isEmpty { throw .missingKeys(missing) }
    guard let step = state["step"] else { throw .missingKeys(["step"]) }
    if step.shape != [] { throw .shapeMismatch(key: "step", expected: [], got: step.shape) }
    used.insert("step")
    let unexpected = state.keys.filter { !used.contains($0) }.sorted()
    if !unexpected.isEmpty { throw .unexpectedKeys(unexpected) }

    let byName = Dictionary(parameters.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    var copies: [String: [String: Tensor]] = [:]
    noGrad {
        for (name, found) in perParameter {
            let parameter = byName[name]!
            var converted: [String: Tensor] = [:]
            for (field, source) in found {
                if scalarFields.contains(field) {
                    converted[field] = source.to(dtype: .float32, device: parameter.device).copied()
                } else {
                    // In the parameter's memory layout (channels-last weights): the fused AdamW
                    // kernel walks parameter, gradient and moments as one flat buffer.
                    let copy = parameter.detached().zerosLike()
                    copy.copyInPlace(from: source.to(dtype: parameter.dtype, device: parameter.device))
                    converted[field] = copy
                }
            }
            copies[name] = converted
        }
    }
    return (copies, step.itemInt())
}
