import CTorch

extension Tensor {
    /// Sum over `dims` (all dimensions when empty).
    public func sum(dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        Tensor.make("sum") { out in withInt64s(dims) { ct_sum(out, handle, $0, $1, keepDim ? 1 : 0) } }
    }
    public func sum(dim: Int, keepDim: Bool = false) -> Tensor { sum(dims: [dim], keepDim: keepDim) }

    /// Mean over `dims` (all dimensions when empty).
    public func mean(dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        Tensor.make("mean") { out in withInt64s(dims) { ct_mean(out, handle, $0, $1, keepDim ? 1 : 0) } }
    }
    public func mean(dim: Int, keepDim: Bool = false) -> Tensor { mean(dims: [dim], keepDim: keepDim) }

    /// Variance over `dims` (all when empty); unbiased (n − 1) by default as in PyTorch.
    public func variance(dims: [Int] = [], unbiased: Bool = true, keepDim: Bool = false) -> Tensor {
        Tensor.make("var") { out in
            withInt64s(dims) { ct_var(out, handle, $0, $1, unbiased ? 1 : 0, keepDim ? 1 : 0) }
        }
    }

    /// p-norm over `dims` (all when empty).
    public func norm(_ p: Double = 2, dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        Tensor.make("norm") { out in withInt64s(dims) { ct_norm(out, handle, p, $0, $1, keepDim ? 1 : 0) } }
    }

    public func logSumExp(dim: Int, keepDim: Bool = false) -> Tensor {
        Tensor.make("logsumexp") { ct_logsumexp($0, handle, Int64(dim), keepDim ? 1 : 0) }
    }

    /// Largest element (rank 0).
    public func max() -> Tensor { Tensor.make("max") { ct_max_all($0, handle) } }
    /// Smallest element (rank 0).
    public func min() -> Tensor { Tensor.make("min") { ct_min_all($0, handle) } }

    /// Largest values along `dim` and their int64 indices.
    public func max(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        Tensor.make2("max") { ct_max_dim($0, $1, handle, Int64(dim), keepDim ? 1 : 0) }
    }
    /// Smallest values along `dim` and their int64 indices.
    public func min(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        Tensor.make2("min") { ct_min_dim($0, $1, handle, Int64(dim), keepDim ? 1 : 0) }
    }

    /// Index of the largest element along `dim` (over the flattened tensor when `dim` is nil), int64.
    public func argmax(dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        Tensor.make("argmax") { ct_argmax($0, handle, Int64(dim ?? 0), dim == nil ? 0 : 1, keepDim ? 1 : 0) }
    }
    public func argmin(dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        Tensor.make("argmin") { ct_argmin($0, handle, Int64(dim ?? 0), dim == nil ? 0 : 1, keepDim ? 1 : 0) }
    }

    /// The `k` largest (or smallest) values along `dim` and their int64 indices.
    public func topk(_ k: Int, dim: Int = -1, largest: Bool = true, sorted: Bool = true) -> (
        values: Tensor, indices: Tensor
    ) {
        Tensor.make2("topk") { ct_topk($0, $1, handle, Int64(k), Int64(dim), largest ? 1 : 0, sorted ? 1 : 0) }
    }

    /// Stable sort along `dim`.
    public func sorted(dim: Int = -1, descending: Bool = false) -> (values: Tensor, indices: Tensor) {
        Tensor.make2("sort") { ct_sort($0, $1, handle, Int64(dim), descending ? 1 : 0) }
    }

    public func cumsum(dim: Int) -> Tensor { Tensor.make("cumsum") { ct_cumsum($0, handle, Int64(dim)) } }
    /// Whether every element is nonzero (rank-0 bool).
    public func all() -> Tensor { Tensor.make("all") { ct_all($0, handle) } }
    /// Whether any element is nonzero (rank-0 bool).
    public func any() -> Tensor { Tensor.make("any") { ct_any($0, handle) } }

    /// `|self − other| ≤ atol + rtol · |other|` everywhere (`torch.allclose`).
    public func allClose(_ other: Tensor, rtol: Double = 1e-5, atol: Double = 1e-8) -> Bool {
        var flag: Int32 = 0
        if ct_allclose(handle, other.handle, rtol, atol, &flag) != 0 { opFailed("allclose") }
        return flag != 0
    }

    /// Same shape and identical elements (`torch.equal`).
    public func equals(_ other: Tensor) -> Bool {
        var flag: Int32 = 0
        if ct_equal(handle, other.handle, &flag) != 0 { opFailed("equal") }
        return flag != 0
    }

    /// Matrix product with PyTorch's broadcasting rules (`torch.matmul`).
    public func matmul(_ other: Tensor) -> Tensor { Tensor.make("matmul") { ct_matmul($0, handle, other.handle) } }
}
