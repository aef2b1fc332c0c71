import CTorch

/// Reduction applied by loss functions.
public enum Reduction: Int32, Sendable {
    case none = 0, mean = 1, sum = 2
}

/// Interpolation used by ``interpolate(_:height:width:mode:alignCorners:antialias:)``.
public enum InterpolationMode: Int32, Sendable {
    case nearest = 0, bilinear = 1, bicubic = 2
}

extension Tensor {
    /// Softmax along `dim`.
    public func softmax(dim: Int) -> Tensor { Tensor.make("softmax") { ct_softmax($0, handle, Int64(dim)) } }
    /// Log-softmax along `dim`.
    public func logSoftmax(dim: Int) -> Tensor { Tensor.make("log_softmax") { ct_log_softmax($0, handle, Int64(dim)) } }
    /// `x / max(‖x‖_p, eps)` along `dim` (`F.normalize`).
    public func normalized(p: Double = 2, dim: Int = -1, eps: Double = 1e-12) -> Tensor {
        Tensor.make("normalize") { ct_normalize($0, handle, p, Int64(dim), eps) }
    }
}

/// `x · Wᵀ + b`.
/// - Parameters:
///   - input: `[..., in]`.
///   - weight: `[out, in]`.
///   - bias: `[out]` or nil.
/// - Returns: `[..., out]`.
public func linear(_ input: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    withExtendedLifetime(bias) { Tensor.make("linear") { ct_linear($0, input.handle, weight.handle, bias?.handle) } }
}

/// 2-D convolution.
/// - Parameters:
///   - input: `[N, C_in, H, W]`.
///   - weight: `[C_out, C_in / groups, kH, kW]`.
///   - bias: `[C_out]` or nil.
/// - Returns: `[N, C_out, H', W']`.
public func conv2d(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1), groups: Int = 1
) -> Tensor {
    let s = [Int64(stride.0), Int64(stride.1)], p = [Int64(padding.0), Int64(padding.1)]
    let d = [Int64(dilation.0), Int64(dilation.1)]
    return withExtendedLifetime(bias) {
        Tensor.make("conv2d") { ct_conv2d($0, input.handle, weight.handle, bias?.handle, s, p, d, Int64(groups)) }
    }
}

/// Average pooling over `[N, C, H, W]`; `stride` defaults to the kernel size.
public func avgPool2d(
    _ input: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
    ceilMode: Bool = false, countIncludePad: Bool = true
) -> Tensor {
    let k = [Int64(kernel.0), Int64(kernel.1)]
    let st = stride ?? kernel
    let s = [Int64(st.0), Int64(st.1)], p = [Int64(padding.0), Int64(padding.1)]
    return Tensor.make("avg_pool2d") {
        ct_avg_pool2d($0, input.handle, k, s, p, ceilMode ? 1 : 0, countIncludePad ? 1 : 0)
    }
}

/// Max pooling over `[N, C, H, W]`; `stride` defaults to the kernel size.
public func maxPool2d(
    _ input: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), ceilMode: Bool = false
) -> Tensor {
    let k = [Int64(kernel.0), Int64(kernel.1)]
    let st = stride ?? kernel
    let s = [Int64(st.0), Int64(st.1)], p = [Int64(padding.0), Int64(padding.1)]
    return Tensor.make("max_pool2d") { ct_max_pool2d($0, input.handle, k, s, p, ceilMode ? 1 : 0) }
}

/// Adaptive average pooling of `[N, C, H, W]` to `[N, C, height, width]`.
public func adaptiveAvgPool2d(_ input: Tensor, height: Int, width: Int) -> Tensor {
    let size = [Int64(height), Int64(width)]
    return Tensor.make("adaptive_avg_pool2d") { ct_adaptive_avg_pool2d($0, input.handle, size) }
}

/// Batch normalisation of `[N, C, ...]` over all but the channel dimension.
///
/// In training mode batch statistics are used and `runningMean`/`runningVar` (`[C]`) are
/// updated in place with `momentum`; in eval mode the running statistics are used.
public func batchNorm(
    _ input: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVar: Tensor?, training: Bool,
    momentum: Double = 0.1, eps: Double = 1e-5
) -> Tensor {
    withExtendedLifetime((weight, bias, runningMean, runningVar)) {
        Tensor.make("batch_norm") {
            ct_batch_norm(
                $0, input.handle, weight?.handle, bias?.handle, runningMean?.handle, runningVar?.handle,
                training ? 1 : 0, momentum, eps)
        }
    }
}

/// Layer normalisation over the trailing `normalizedShape` dimensions.
/// - Parameters:
///   - input: `[..., *normalizedShape]`.
///   - weight, bias: `normalizedShape` or nil.
public func layerNorm(
    _ input: Tensor, normalizedShape: [Int], weight: Tensor?, bias: Tensor?, eps: Double = 1e-5
) -> Tensor {
    withExtendedLifetime((weight, bias)) {
        Tensor.make("layer_norm") { out in
            withInt64s(normalizedShape) { ct_layer_norm(out, input.handle, $0, $1, weight?.handle, bias?.handle, eps) }
        }
    }
}

/// Rows of `weight` (`[vocab, dim]`) at int64 `indices` (`[...]`), giving `[..., dim]`.
public func embedding(_ indices: Tensor, weight: Tensor) -> Tensor {
    Tensor.make("embedding") { ct_embedding($0, weight.handle, indices.handle) }
}

/// Cross-entropy of `logits` (`[N, C]`) against int64 class indices `[N]` (or class
/// probabilities `[N, C]`), as `F.cross_entropy`.
public func crossEntropy(
    _ logits: Tensor, target: Tensor, reduction: Reduction = .mean, labelSmoothing: Double = 0
) -> Tensor {
    Tensor.make("cross_entropy") { ct_cross_entropy($0, logits.handle, target.handle, reduction.rawValue, labelSmoothing) }
}

/// Mean squared error between tensors of the same shape.
public func mseLoss(_ a: Tensor, _ b: Tensor, reduction: Reduction = .mean) -> Tensor {
    Tensor.make("mse_loss") { ct_mse_loss($0, a.handle, b.handle, reduction.rawValue) }
}

/// Inverted dropout: in training, zeroes each element with probability `p` and scales the rest by `1/(1-p)`.
public func dropout(_ input: Tensor, p: Double, training: Bool, generator: Generator? = nil) -> Tensor {
    withExtendedLifetime(generator) {
        Tensor.make("dropout") { ct_dropout($0, input.handle, p, training ? 1 : 0, generator?.handle) }
    }
}

/// Scaled dot-product attention `softmax(q kᵀ · scale + mask) v`.
/// - Parameters:
///   - query: `[N, heads, L, headDim]`.
///   - key, value: `[N, heads, S, headDim]`.
///   - mask: additive float mask broadcastable to `[N, heads, L, S]`, or a bool mask (true = attend).
///   - isCausal: apply a causal (lower-triangular) mask.
///   - scale: defaults to `1/√headDim`.
/// - Returns: `[N, heads, L, headDim]`.
public func scaledDotProductAttention(
    query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil, dropout: Double = 0, isCausal: Bool = false,
    scale: Double? = nil
) -> Tensor {
    withExtendedLifetime(mask) {
        Tensor.make("scaled_dot_product_attention") {
            ct_scaled_dot_product_attention(
                $0, query.handle, key.handle, value.handle, mask?.handle, dropout, isCausal ? 1 : 0, scale ?? 0,
                scale == nil ? 0 : 1)
        }
    }
}

/// Resizes `[N, C, H, W]` to `[N, C, height, width]` (`F.interpolate`).
public func interpolate(
    _ input: Tensor, height: Int, width: Int, mode: InterpolationMode = .bilinear, alignCorners: Bool = false,
    antialias: Bool = false
) -> Tensor {
    Tensor.make("interpolate") {
        ct_interpolate(
            $0, input.handle, Int64(height), Int64(width), mode.rawValue, alignCorners ? 1 : 0, antialias ? 1 : 0)
    }
}

/// Samples `[N, C, H, W]` at the normalised coordinates of `grid` (`[N, H', W', 2]`, x then y in
/// [-1, 1]), giving `[N, C, H', W']` (`F.grid_sample`).
public func gridSample(
    _ input: Tensor, grid: Tensor, mode: GridSampleMode = .bilinear, padding: GridSamplePadding = .zeros,
    alignCorners: Bool = false
) -> Tensor {
    Tensor.make("grid_sample") {
        ct_grid_sample($0, input.handle, grid.handle, mode.rawValue, padding.rawValue, alignCorners ? 1 : 0)
    }
}

/// Sampling kernel of ``gridSample(_:grid:mode:padding:alignCorners:)``.
public enum GridSampleMode: Int32, Sendable { case bilinear = 0, nearest = 1, bicubic = 2 }
/// Out-of-range handling of ``gridSample(_:grid:mode:padding:alignCorners:)``.
public enum GridSamplePadding: Int32, Sendable { case zeros = 0, border = 1, reflection = 2 }

/// Constant padding (`F.pad`): `pad` lists (before, after) pairs starting from the last dimension.
public func pad(_ input: Tensor, _ pad: [Int], value: Double = 0) -> Tensor {
    Tensor.make("pad") { out in withInt64s(pad) { ct_pad(out, input.handle, $0, $1, value) } }
}

/// One fused AdamW step over parameter lists in place (`torch.optim.AdamW(fused=True)` semantics).
///
/// Every list has one entry per parameter; `steps` are float32 scalar tensors incremented in place.
public func fusedAdamWStep(
    parameters: [Tensor], grads: [Tensor], expAvgs: [Tensor], expAvgSqs: [Tensor], steps: [Tensor], lr: Double,
    beta1: Double, beta2: Double, weightDecay: Double, eps: Double
) {
    precondition(
        Set([parameters.count, grads.count, expAvgs.count, expAvgSqs.count, steps.count]).count == 1,
        "fusedAdamWStep: lists differ in length")
    guard !parameters.isEmpty else { return }
    let rc = withHandles(parameters) { p, n in
        withHandles(grads) { g, _ in
            withHandles(expAvgs) { m, _ in
                withHandles(expAvgSqs) { v, _ in
                    withHandles(steps) { s, _ in
                        ct_fused_adamw_(p, g, m, v, s, n, lr, beta1, beta2, weightDecay, eps)
                    }
                }
            }
        }
    }
    if rc != 0 { opFailed("fused_adamw_") }
}

/// Scales `grads` in place so that their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` does, without reading anything back to the host: every
/// gradient is multiplied by `clamp(maxNorm / (norm + 1e-6), max: 1)` computed on the device.
/// - Returns: the global norm before clipping, a float32 scalar tensor on the gradients' device
///   (a CPU zero without gradients).
@discardableResult
public func clipGradNormOnDevice(_ grads: [Tensor], maxNorm: Double) -> Tensor {
    var out: OpaquePointer?
    let rc = withHandles(grads) { ct_clip_grad_norm_tensor_($0, $1, maxNorm, &out) }
    if rc != 0 || out == nil {
        opFailed("clip_grad_norm_")
        ct_undefined(&out)
    }
    return Tensor(owning: out!)
}

/// Scales `grads` in place so that their global L2 norm is at most `maxNorm`
/// (`torch.nn.utils.clip_grad_norm_`). Returns the norm before clipping, read back to the host
/// (one device synchronisation; ``clipGradNormOnDevice(_:maxNorm:)`` makes none).
@discardableResult
public func clipGradNorm(_ grads: [Tensor], maxNorm: Double) -> Double {
    var total = 0.0
    let rc = withHandles(grads) { ct_clip_grad_norm_($0, $1, maxNorm, &total) }
    if rc != 0 { opFailed("clip_grad_norm_") }
    return total
}
