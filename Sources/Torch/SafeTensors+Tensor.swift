// Loading and saving `Tensor`s as safetensors files.

/// Loads every tensor of a safetensors file onto the CPU, keyed by name, with the file's metadata.
///
/// The file is read with one read into memory and validated in full (see
/// ``SafeTensorsFile/read(atPath:)``) before any tensor is made; each tensor is then copied once,
/// straight from that buffer into libtorch memory. Peak memory is about twice the file size.
///
/// ```swift
/// let (tensors, metadata) = try loadSafeTensors(atPath: "RN50.safetensors")
/// let conv1 = tensors["visual.conv1.weight"]   // [64, 3, 3, 3] float32
/// let config = metadata["config"]
/// ```
///
/// - Parameter path: The file to read.
/// - Returns: The tensors (CPU, contiguous, in the file's dtype and shape) and the `__metadata__` map.
/// - Throws: ``SafeTensorsError`` naming the file and key for unreadable or malformed files;
///   ``TorchError/libtorch(_:)`` if libtorch cannot allocate a tensor.
///
/// ### See Also
/// - ``saveSafeTensors(_:metadata:toPath:)``
public func loadSafeTensors(atPath path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
    let buffer = try SafeTensorsIO.readWholeFile(atPath: path)
    return try buffer.withUnsafeBytes { raw in
        let layout = try SafeTensorsLayout.parse(raw, name: path)
        var tensors: [String: Tensor] = [:]
        tensors.reserveCapacity(layout.entries.count)
        try catchingTorchErrors {
            for entry in layout.entries {
                tensors[entry.name] = Tensor(
                    copying: UnsafeRawBufferPointer(rebasing: raw[entry.range]), shape: entry.shape, dtype: entry.dtype)
            }
        }
        return (tensors, layout.metadata)
    }
}

/// Saves named tensors and a metadata map as a safetensors file, atomically.
///
/// Tensors may live on any device and need not be contiguous: each is written from a contiguous
/// CPU view of its data (copied only when it is on another device or not contiguous). Tensors are
/// laid out as Python's `safetensors` does (by dtype size, then by name), so the file is
/// byte-identical to `safetensors.torch.save_file` for the same content when the metadata has at
/// most one key. The file appears at `path` only once complete; on failure any existing file is
/// left untouched.
///
/// ```swift
/// try saveSafeTensors(store.namedParameters(), metadata: ["step": "1000"], toPath: "ckpt.safetensors")
/// ```
///
/// - Parameters:
///   - tensors: `(name, tensor)` pairs; names must be distinct and not `__metadata__`.
///   - metadata: Strings to store under `__metadata__` (omitted from the file when empty).
///   - path: The file to write.
/// - Throws: ``SafeTensorsError`` naming the file (and the key for a bad name).
public func saveSafeTensors(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], toPath path: String) throws {
    let pending = tensors.map { name, tensor in
        PendingTensor(name: name, dtype: tensor.dtype, shape: tensor.shape) { body in
            try tensor.withContiguousBytes { try body($0) }
        }
    }
    let plan = try SafeTensorsPlan(metadata: metadata, tensors: pending, file: path)
    try SafeTensorsIO.writeAtomically(plan, toPath: path)
}

/// Saves named tensors and a metadata map as a safetensors file, atomically.
///
/// The dictionary form of ``saveSafeTensors(_:metadata:toPath:)``;
/// the file does not depend on the dictionary's order.
public func saveSafeTensors(_ tensors: [String: Tensor], metadata: [String: String] = [:], toPath path: String) throws {
    try saveSafeTensors(tensors.map { ($0.key, $0.value) }, metadata: metadata, toPath: path)
}
