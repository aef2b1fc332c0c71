import CTorch

extension Tensor {
    /// Whether autograd records operations on this tensor.
    public var requiresGrad: Bool {
        get {
            var flag: Int32 = 0
            return ct_requires_grad(handle, &flag) == 0 && flag != 0
        }
        set { mutate("set_requires_grad") { ct_set_requires_grad(handle, newValue ? 1 : 0) } }
    }

    /// Sets ``requiresGrad`` and returns `self`, for chaining.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        requiresGrad = flag
        return self
    }

    /// The accumulated gradient, or nil when none has been computed (or it was cleared).
    public var grad: Tensor? {
        get {
            var out: OpaquePointer?
            if ct_grad(&out, handle) != 0 {
                opFailed("grad")
                return nil
            }
            return out.map { Tensor(owning: $0) }
        }
        set { mutate("set_grad") { ct_set_grad(handle, newValue?.handle) } }
    }

    /// Clears the accumulated gradient (like `optimizer.zero_grad(set_to_none=True)`).
    public func zeroGrad() { mutate("zero_grad") { ct_zero_grad(handle) } }

    /// Back-propagates from this tensor (a scalar unless `gradient` is given, of the same shape).
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false, createGraph: Bool = false) {
        withExtendedLifetime(gradient) {
            mutate("backward") {
                ct_backward(handle, gradient?.handle, retainGraph ? 1 : 0, createGraph ? 1 : 0)
            }
        }
    }
}

/// Gradients of `outputs` with respect to `inputs` without touching `.grad` (`torch.autograd.grad`).
///
/// - Parameters:
///   - outputs: differentiable tensors (scalars unless `gradOutputs` is given).
///   - inputs: tensors with `requiresGrad`.
///   - gradOutputs: one tensor per output, of the output's shape (nil: ones for scalars).
/// - Returns: one gradient per input, nil where an input does not affect the outputs.
public func gradients(
    of outputs: [Tensor], withRespectTo inputs: [Tensor], gradOutputs: [Tensor]? = nil,
    retainGraph: Bool = false, createGraph: Bool = false
) -> [Tensor?] {
    var outs = [OpaquePointer?](repeating: nil, count: inputs.count)
    let failed = withHandles(outputs) { o, no in
        withHandles(inputs) { i, ni in
            let call = { (g: UnsafePointer<OpaquePointer?>?) in
                ct_autograd_grad(&outs, o, g, no, i, ni, retainGraph ? 1 : 0, createGraph ? 1 : 0, 1)
            }
            if let gradOutputs { return withHandles(gradOutputs) { g, _ in call(g) } }
            return call(nil)
        }
    }
    if failed != 0 {
        opFailed("autograd.grad")
        return inputs.map { _ in nil }
    }
    return outs.map { $0.map { Tensor(owning: $0) } }
}

/// Whether autograd is currently recording on this thread.
public var isGradEnabled: Bool { ct_grad_enabled() != 0 }

/// Runs `body` with autograd recording disabled on this thread (`torch.no_grad()`).
///
/// ```swift
/// noGrad { weight.addInPlace(grad, alpha: -lr) }
/// ```
public func noGrad<R>(_ body: () throws -> R) rethrows -> R {
    let previous = ct_grad_enabled()
    ct_set_grad_enabled(0)
    defer { ct_set_grad_enabled(previous) }
    return try body()
}

/// Runs `body` with autograd recording enabled (`torch.enable_grad()`), e.g. inside ``noGrad(_:)``.
public func withGrad<R>(_ body: () throws -> R) rethrows -> R {
    let previous = ct_grad_enabled()
    ct_set_grad_enabled(1)
    defer { ct_set_grad_enabled(previous) }
    return try body()
}

/// Runs `body` in libtorch's inference mode (`torch.inference_mode()`): no autograd bookkeeping
/// at all; tensors created inside can never take part in autograd later.
public func inferenceMode<R>(_ body: () throws -> R) rethrows -> R {
    ct_inference_mode_enter()
    defer { ct_inference_mode_exit() }
    return try body()
}

/// Runs `body` under automatic mixed precision for `device` (`torch.autocast`): matrix
/// multiplications and convolutions run in `dtype` (bfloat16 by default), numerically
/// sensitive ops stay in float32.
public func autocast<R>(device: Device = .cpu, dtype: DType = .bfloat16, enabled: Bool = true, _ body: () throws -> R)
    rethrows -> R
{
    guard enabled else { return try body() }
    let type = device.code.0
    if ct_autocast_enter(type, dtype.rawValue) != 0 {
        opFailed("autocast")
        return try body()
    }
    defer { ct_autocast_exit(type) }
    return try body()
}
