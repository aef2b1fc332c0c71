import Torch

/// Multi-head attention with `torch.nn.MultiheadAttention`'s parameter layout, batch-first.
///
/// Registers `in_proj_weight` `[3E, E]` (query, key and value projections stacked;
/// Xavier-uniform), `in_proj_bias` `[3E]` (zeros), `out_proj.weight` `[E, E]` (Linear's
/// initialisation) and `out_proj.bias` `[E]` (zeros), the same names and initialisation as
/// PyTorch, so open_clip's transformer weights load by name. With `bias: false` neither bias exists.
///
/// ```swift
/// let attn = MultiheadAttention(store.root / "attn", embedDim: 64, numHeads: 4)
/// let y = attn(query: x, key: x, value: x, isCausal: true)   // x, y: [N, L, 64]
/// ```
public struct MultiheadAttention {
    public let inProjWeight: Tensor
    public let inProjBias: Tensor?
    public let outProj: Linear
    public let embedDim: Int
    public let numHeads: Int

    public init(_ path: ParameterPath, embedDim: Int, numHeads: Int, bias: Bool = true) {
        precondition(embedDim % numHeads == 0, "MultiheadAttention: embedDim \(embedDim) not divisible by \(numHeads) heads")
        let bound = (6 / Double(embedDim + 3 * embedDim)).squareRoot()
        inProjWeight = path.parameter("in_proj_weight", uniform([3 * embedDim, embedDim], bound: bound, path: path))
        inProjBias = bias ? path.parameter("in_proj_bias", Tensor.zeros([3 * embedDim], dtype: path.dtype)) : nil
        outProj = Linear(path / "out_proj", inputFeatures: embedDim, outputFeatures: embedDim, bias: bias)
        if let outBias = outProj.bias { noGrad { outBias.zeroInPlace() } }
        self.embedDim = embedDim
        self.numHeads = numHeads
    }

    /// Attends from `query` to `key`/`value`.
    ///
    /// - Parameters:
    ///   - query: `[N, L, E]`.
    ///   - key, value: `[N, S, E]`. Passing the same tensor object for all three (self-attention)
    ///     uses one fused input projection.
    ///   - mask: additive float mask `[L, S]` or `[N·heads, L, S]` (−∞ blocks), or a bool mask
    ///     of those shapes where true blocks (PyTorch's `attn_mask` convention); nil for none.
    ///   - isCausal: block attention to later positions (combined with `mask` when both are given).
    ///   - training: unused (no attention dropout); kept for symmetry with ``Module``.
    /// - Returns: `[N, L, E]`.
    public func callAsFunction(
        query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil, isCausal: Bool = false, training: Bool = false
    ) -> Tensor {
        let n = query.size(0), l = query.size(1), s = key.size(1)
        let headDim = embedDim / numHeads
        let q: Tensor, k: Tensor, v: Tensor
        if query === key && key === value {
            let qkv = linear(query, weight: inProjWeight, bias: inProjBias).chunked(3, dim: -1)
            (q, k, v) = (qkv[0], qkv[1], qkv[2])
        } else {
            let w = inProjWeight.chunked(3, dim: 0)
            let b = inProjBias?.chunked(3, dim: 0)
            q = linear(query, weight: w[0], bias: b?[0])
            k = linear(key, weight: w[1], bias: b?[1])
            v = linear(value, weight: w[2], bias: b?[2])
        }
        func heads(_ x: Tensor, _ length: Int) -> Tensor {
            x.reshaped([n, length, numHeads, headDim]).transposed(1, 2)
        }
        var additive: Tensor?
        if let mask {
            var m =
                mask.dtype == .bool
                ? Tensor.zeros(mask.shape, dtype: q.dtype, device: q.device).maskedFill(mask, value: -.infinity)
                : (mask.dtype == q.dtype ? mask : mask.to(q.dtype))
            if m.rank == 3 { m = m.reshaped([n, numHeads, l, s]) }
            if isCausal {
                let blocked = Tensor.ones([l, s], dtype: .bool, device: q.device).triu(diagonal: 1)
                m = m.maskedFill(blocked, value: -.infinity)
            }
            additive = m
        }
        let attended = scaledDotProductAttention(
            query: heads(q, l), key: heads(k, s), value: heads(v, s), mask: additive,
            isCausal: isCausal && additive == nil)
        return outProj(attended.transposed(1, 2).reshaped([n, l, embedDim]))
    }
}
