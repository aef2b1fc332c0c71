import CTorch

extension Tensor {
    /// The same data viewed (or copied, when needed) with a new shape; one entry may be -1.
    public func reshaped(_ shape: [Int]) -> Tensor {
        Tensor.make("reshape") { out in withInt64s(shape) { ct_reshape(out, handle, $0, $1) } }
    }
    /// A view with a new shape; fails unless the memory layout allows it.
    public func view(_ shape: [Int]) -> Tensor {
        Tensor.make("view") { out in withInt64s(shape) { ct_view(out, handle, $0, $1) } }
    }
    /// Reorders dimensions (a view).
    public func permuted(_ dims: [Int]) -> Tensor {
        Tensor.make("permute") { out in withInt64s(dims) { ct_permute(out, handle, $0, $1) } }
    }
    /// Swaps two dimensions (a view).
    public func transposed(_ d0: Int, _ d1: Int) -> Tensor {
        Tensor.make("transpose") { ct_transpose($0, handle, Int64(d0), Int64(d1)) }
    }
    /// Transpose of a matrix (`[m, n]` → `[n, m]`).
    public var t: Tensor { transposed(0, 1) }

    /// `length` elements of `dim` from `start` (a view).
    public func narrowed(dim: Int, start: Int, length: Int) -> Tensor {
        Tensor.make("narrow") { ct_narrow($0, handle, Int64(dim), Int64(start), Int64(length)) }
    }
    /// Elements `start..<end` stepping by `step` along `dim` (a view).
    public func sliced(dim: Int, start: Int = 0, end: Int? = nil, step: Int = 1) -> Tensor {
        let stop = end.map(Int64.init) ?? Int64.max
        return Tensor.make("slice") { ct_slice($0, handle, Int64(dim), Int64(start), stop, Int64(step)) }
    }
    /// Index `index` of `dim`, removing that dimension (a view).
    public func select(dim: Int, index: Int) -> Tensor {
        Tensor.make("select") { ct_select($0, handle, Int64(dim), Int64(index)) }
    }
    /// Row `i` of the first dimension.
    public subscript(_ i: Int) -> Tensor { select(dim: 0, index: i) }

    /// Entries at the int64 `indices` (rank 1) of `dim`.
    public func indexSelect(dim: Int, indices: Tensor) -> Tensor {
        Tensor.make("index_select") { ct_index_select($0, handle, Int64(dim), indices.handle) }
    }
    /// The elements where the bool `mask` is true, as a rank-1 tensor (`t[mask]`).
    public func masked(_ mask: Tensor) -> Tensor {
        Tensor.make("index") { ct_index_with_mask($0, handle, mask.handle) }
    }
    /// `torch.gather` along `dim` with int64 `indices`.
    public func gather(dim: Int, indices: Tensor) -> Tensor {
        Tensor.make("gather") { ct_gather($0, handle, Int64(dim), indices.handle) }
    }
    /// `torch.scatter`: a copy with `source` written at `indices` along `dim`.
    public func scattered(dim: Int, indices: Tensor, source: Tensor) -> Tensor {
        Tensor.make("scatter") { ct_scatter($0, handle, Int64(dim), indices.handle, source.handle) }
    }
    /// `self[indices] = values` (or `+=` with `accumulate`), along the first dimension.
    public func indexPutInPlace(indices: Tensor, values: Tensor, accumulate: Bool = false) {
        mutate("index_put_") { ct_index_put_(handle, indices.handle, values.handle, accumulate ? 1 : 0) }
    }

    /// Concatenates along `dim`.
    public static func cat(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        make("cat") { out in withHandles(tensors) { ct_cat(out, $0, $1, Int64(dim)) } }
    }
    /// Stacks along a new dimension `dim`.
    public static func stack(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        make("stack") { out in withHandles(tensors) { ct_stack(out, $0, $1, Int64(dim)) } }
    }
    /// Splits `dim` into pieces of `size` (the last may be smaller).
    public func split(size: Int, dim: Int = 0) -> [Tensor] {
        let length = self.size(dim)
        let n = Swift.max(1, (length + size - 1) / size)
        var outs = [OpaquePointer?](repeating: nil, count: n)
        if ct_split(&outs, Int32(n), handle, Int64(size), Int64(dim)) != 0 {
            opFailed("split")
            return (0..<n).map { _ in Tensor.undefined() }
        }
        return outs.map { Tensor(owning: $0!) }
    }
    /// Splits `dim` into `chunks` nearly equal pieces.
    public func chunked(_ chunks: Int, dim: Int = 0) -> [Tensor] {
        split(size: (size(dim) + chunks - 1) / chunks, dim: dim)
    }

    public func squeezed(dim: Int) -> Tensor { Tensor.make("squeeze") { ct_squeeze($0, handle, Int64(dim)) } }
    public func unsqueezed(dim: Int) -> Tensor { Tensor.make("unsqueeze") { ct_unsqueeze($0, handle, Int64(dim)) } }
    /// Broadcasts to `shape` without copying (-1 keeps a dimension).
    public func expanded(_ shape: [Int]) -> Tensor {
        Tensor.make("expand") { out in withInt64s(shape) { ct_expand(out, handle, $0, $1) } }
    }
    public func flattened(startDim: Int = 0, endDim: Int = -1) -> Tensor {
        Tensor.make("flatten") { ct_flatten($0, handle, Int64(startDim), Int64(endDim)) }
    }
    /// Tiles the tensor `repeats[i]` times along dimension i.
    public func repeated(_ repeats: [Int]) -> Tensor {
        Tensor.make("repeat") { out in withInt64s(repeats) { ct_repeat(out, handle, $0, $1) } }
    }
    public func flipped(dims: [Int]) -> Tensor {
        Tensor.make("flip") { out in withInt64s(dims) { ct_flip(out, handle, $0, $1) } }
    }
    public func rolled(shift: Int, dim: Int) -> Tensor {
        Tensor.make("roll") { ct_roll($0, handle, Int64(shift), Int64(dim)) }
    }
    /// Upper triangle (elements below diagonal `diagonal` zeroed).
    public func triu(diagonal: Int = 0) -> Tensor { Tensor.make("triu") { ct_triu($0, handle, Int64(diagonal)) } }
    /// Lower triangle.
    public func tril(diagonal: Int = 0) -> Tensor { Tensor.make("tril") { ct_tril($0, handle, Int64(diagonal)) } }
    /// One-hot encoding of int64 class indices: `[...]` → `[..., numClasses]` int64.
    public func oneHot(numClasses: Int) -> Tensor {
        Tensor.make("one_hot") { ct_one_hot($0, handle, Int64(numClasses)) }
    }

    // MARK: Conversion and copies

    /// Converts to `dtype` (a no-op returning the same storage when already of that type).
    public func to(_ dtype: DType) -> Tensor { to(dtype: dtype, device: device) }
    /// Moves to `device`.
    public func to(_ device: Device, nonBlocking: Bool = false) -> Tensor {
        to(dtype: dtype, device: device, nonBlocking: nonBlocking)
    }
    public func to(dtype: DType, device: Device, nonBlocking: Bool = false) -> Tensor {
        let (d, i) = device.code
        return Tensor.make("to") { ct_to($0, handle, dtype.rawValue, d, i, nonBlocking ? 1 : 0) }
    }
    /// A contiguous (row-major) version; the same storage when already contiguous.
    public func contiguous() -> Tensor { Tensor.make("contiguous") { ct_contiguous($0, handle) } }
    /// NCHW data in channels-last memory order (faster convolutions on CPU with oneDNN).
    public func channelsLast() -> Tensor { Tensor.make("channels_last") { ct_channels_last($0, handle) } }
    /// A deep copy with its own storage (differentiable, like `clone()`).
    public func copied() -> Tensor { Tensor.make("clone") { ct_clone($0, handle) } }
    /// The same storage cut off from autograd history.
    public func detached() -> Tensor { Tensor.make("detach") { ct_detach($0, handle) } }
    /// Another reference to the same tensor (same storage and autograd identity).
    public func sharedView() -> Tensor { Tensor(sharing: self) }
}
