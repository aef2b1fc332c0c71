import CTorch

/// A libtorch tensor: an n-dimensional array on a ``Device`` with autograd support.
///
/// `Tensor` is a reference type whose copies share storage (like `torch.Tensor`). Every handle
/// the shim returns is owned by exactly one `Tensor` and released in `deinit`. Tensors are not
/// `Sendable`: pass plain arrays between threads and build tensors where they are used.
///
/// ```swift
/// let x = Tensor([1, 2, 3, 4] as [Float], shape: [2, 2])
/// let y = (x * 2 + 1).sum()          // 24
/// ```
public final class Tensor {
    @usableFromInline let handle: OpaquePointer

    /// Takes ownership of a +1 handle returned by the shim.
    @usableFromInline init(owning handle: OpaquePointer) { self.handle = handle }

    deinit { ct_tensor_free(handle) }

    // MARK: - Building from shim calls

    /// Calls a shim function that produces one tensor, handling failure (see ``catchingTorchErrors(_:)``).
    @inlinable
    static func make(_ op: StaticString, _ body: (UnsafeMutablePointer<OpaquePointer?>) -> Int32) -> Tensor {
        var out: OpaquePointer?
        if body(&out) != 0 || out == nil {
            opFailed(op)
            return Tensor.undefined()
        }
        return Tensor(owning: out!)
    }

    /// Calls a shim function that produces two tensors (values and indices).
    @inlinable
    static func make2(
        _ op: StaticString, _ body: (UnsafeMutablePointer<OpaquePointer?>, UnsafeMutablePointer<OpaquePointer?>) -> Int32
    ) -> (Tensor, Tensor) {
        var a: OpaquePointer?, b: OpaquePointer?
        if body(&a, &b) != 0 || a == nil || b == nil {
            opFailed(op)
            return (Tensor.undefined(), Tensor.undefined())
        }
        return (Tensor(owning: a!), Tensor(owning: b!))
    }

    /// Runs an in-place shim call, handling failure.
    @inlinable
    func mutate(_ op: StaticString, _ body: () -> Int32) {
        if body() != 0 { opFailed(op) }
    }

    /// A tensor with no storage, the result of a failed op inside ``catchingTorchErrors(_:)``.
    public static func undefined() -> Tensor {
        var out: OpaquePointer?
        guard ct_undefined(&out) == 0, let out else { fatalError("libtorch: cannot create an undefined tensor") }
        return Tensor(owning: out)
    }

    /// Whether the tensor has storage (false only after a failed op inside ``catchingTorchErrors(_:)``).
    public var isDefined: Bool { ct_is_defined(handle) != 0 }

    // MARK: - Metadata

    /// Number of dimensions.
    public var rank: Int {
        var n: Int64 = 0
        guard ct_ndim(handle, &n) == 0 else { return 0 }
        return Int(n)
    }

    /// Size of each dimension.
    public var shape: [Int] {
        let n = rank
        var dims = [Int64](repeating: 0, count: Swift.max(n, 1))
        guard ct_shape(handle, &dims, Int32(n)) == 0 else { return [] }
        return dims.prefix(n).map(Int.init)
    }

    /// Size of dimension `dim` (negative counts from the end).
    public func size(_ dim: Int) -> Int {
        let s = shape
        return s[dim < 0 ? dim + s.count : dim]
    }

    /// Number of elements.
    public var count: Int {
        var n: Int64 = 0
        guard ct_numel(handle, &n) == 0 else { return 0 }
        return Int(n)
    }

    public var dtype: DType {
        var code: Int32 = 0
        guard ct_dtype(handle, &code) == 0, let d = DType(rawValue: code) else { return .float32 }
        return d
    }

    public var device: Device {
        var type: Int32 = 0, index: Int32 = 0
        guard ct_device(handle, &type, &index) == 0 else { return .cpu }
        return type == Int32(CT_DEVICE_CUDA) ? .cuda(Int(index)) : .cpu
    }

    public var isContiguous: Bool {
        var flag: Int32 = 0
        return ct_is_contiguous(handle, &flag) == 0 && flag != 0
    }

    /// Whether this 4-d tensor is laid out channels-last (NHWC memory order; see ``channelsLast()``).
    public var isChannelsLast: Bool {
        var flag: Int32 = 0
        return ct_is_channels_last(handle, &flag) == 0 && flag != 0
    }

    // MARK: - Creation from Swift values

    /// Copies `values` into a new CPU tensor of the given shape (default: one dimension).
    public convenience init<T: TensorScalar>(_ values: [T], shape: [Int]? = nil) {
        let shape = shape ?? [values.count]
        precondition(shape.reduce(1, *) == values.count, "Tensor: \(values.count) values do not fill shape \(shape)")
        let h = values.withUnsafeBytes { raw in
            Tensor.make("from_data") { out in
                shape.map(Int64.init).withUnsafeBufferPointer { s in
                    ct_from_data(out, raw.baseAddress, raw.count, s.baseAddress, Int32(s.count), T.dtype.rawValue)
                }
            }
        }
        self.init(sharing: h)
    }

    /// Copies raw little-endian bytes into a new CPU tensor (`bytes.count == product(shape) * dtype.byteSize`).
    public convenience init(copying bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType) {
        let h = Tensor.make("from_data") { out in
            shape.map(Int64.init).withUnsafeBufferPointer { s in
                ct_from_data(out, bytes.baseAddress, bytes.count, s.baseAddress, Int32(s.count), dtype.rawValue)
            }
        }
        self.init(sharing: h)
    }

    /// A scalar (rank-0) tensor.
    public convenience init(scalar value: Double, dtype: DType = .float32, device: Device = .cpu) {
        self.init(sharing: Tensor.full([], value: value, dtype: dtype, device: device))
    }

    /// A new handle to `other`'s tensor (same storage and autograd identity).
    convenience init(sharing other: Tensor) {
        var out: OpaquePointer?
        if ct_shallow_copy(&out, other.handle) != 0 || out == nil {
            opFailed("shallow_copy")
            ct_undefined(&out)
        }
        self.init(owning: out!)
    }

    // MARK: - Reading values

    /// Calls `body` with the tensor's bytes (copied to a contiguous CPU buffer when needed).
    public func withContiguousBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var ptr: UnsafeMutableRawPointer?
        if device == .cpu, ct_data_ptr(handle, &ptr) == 0, let ptr {
            return try body(UnsafeRawBufferPointer(start: ptr, count: count * dtype.byteSize))
        }
        let bytes = self.bytes()
        return try bytes.withUnsafeBytes(body)
    }

    /// A copy of the tensor's data as raw bytes in row-major order.
    public func bytes() -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count * dtype.byteSize)
        result.withUnsafeMutableBytes { raw in
            if ct_copy_to_host(handle, raw.baseAddress, raw.count) != 0 { opFailed("copy_to_host") }
        }
        return result
    }

    /// The elements in row-major order, converted to `T`'s dtype first when needed.
    ///
    /// ```swift
    /// let values: [Float] = logits.toArray()
    /// ```
    public func toArray<T: TensorScalar>(as type: T.Type = T.self) -> [T] {
        let source = dtype == T.dtype ? self : to(T.dtype)
        let n = source.count
        return [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            if ct_copy_to_host(source.handle, raw.baseAddress, n * T.dtype.byteSize) != 0 { opFailed("copy_to_host") }
            initialized = n
        }
    }

    /// The single value of a one-element tensor as a `Double`.
    public func item() -> Double {
        var value = 0.0
        if ct_item_double(handle, &value) != 0 { opFailed("item") }
        return value
    }

    /// The single value of a one-element tensor as an `Int`.
    public func itemInt() -> Int {
        var value: Int64 = 0
        if ct_item_int64(handle, &value) != 0 { opFailed("item") }
        return Int(value)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        guard isDefined else { return "Tensor(undefined)" }
        var buffer = [CChar](repeating: 0, count: 16384)
        guard ct_to_string(handle, &buffer, buffer.count) == 0 else { return "Tensor(\(shape), \(dtype))" }
        return string(fromCBuffer: buffer)
    }
}

@inlinable
func withInt64s<R>(_ values: [Int], _ body: (UnsafePointer<Int64>?, Int32) -> R) -> R {
    let converted = values.map(Int64.init)
    return converted.withUnsafeBufferPointer { body($0.baseAddress, Int32($0.count)) }
}

@inlinable
func withHandles<R>(_ tensors: [Tensor], _ body: (UnsafePointer<OpaquePointer?>?, Int32) -> R) -> R {
    let handles: [OpaquePointer?] = tensors.map { $0.handle }
    return withExtendedLifetime(tensors) {
        handles.withUnsafeBufferPointer { body($0.baseAddress, Int32($0.count)) }
    }
}
