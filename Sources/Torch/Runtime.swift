import CTorch

/// Process-wide libtorch settings and facts.
public enum Runtime {
    /// The libtorch releases ClipGuard is tested with: the local CPU wheel and the PyPI fallback.
    public static let testedTorchVersions = ["2.13.0", "2.15.0"]

    /// libtorch's version string, e.g. "2.13.0".
    public static var torchVersion: String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = ct_torch_version(&buffer, buffer.count)
        return string(fromCBuffer: buffer)
    }

    /// Threads of libtorch's intra-op pool (may be changed at any time).
    public static var threads: Int {
        get { Int(ct_get_num_threads()) }
        set { if ct_set_num_threads(Int32(newValue)) != 0 { opFailed("set_num_threads") } }
    }

    /// Threads of libtorch's inter-op pool.
    public static var interopThreads: Int { Int(ct_get_num_interop_threads()) }

    /// Sets the inter-op pool size; libtorch allows this once per process, before parallel work.
    public static func setInteropThreads(_ n: Int) throws(TorchError) {
        if ct_set_num_interop_threads(Int32(n)) != 0 { throw .libtorch(lastErrorMessage()) }
    }

    /// Keeps freed memory in the process's C heap for reuse instead of returning it to the
    /// system (glibc: large blocks come from the heap rather than their own mappings, and the
    /// heap is trimmed only above 2 GiB of free space).
    ///
    /// libtorch's CPU tensors are plain `malloc` blocks; a training step frees and allocates the
    /// same large activation buffers every step, and by default glibc maps each block above 32 MiB
    /// separately and unmaps it when freed, so every step faults its pages in again. Measured on
    /// the project's 2-core machine (RN50, batch 32, fp32, channels-last): 11.1 s → 9.2 s per
    /// step. The process keeps its peak memory once reached. `clipguard` and `clipguard-bench`
    /// call this at start-up unless `CLIPGUARD_MALLOC=system`.
    ///
    /// - Returns: whether the settings were applied (false on a C library without them).
    @discardableResult
    public static func retainFreedMemory() -> Bool { ct_retain_freed_memory() == 0 }

    /// Seeds libtorch's default generators (CPU and CUDA).
    public static func manualSeed(_ seed: UInt64) {
        if ct_manual_seed(seed) != 0 { opFailed("manual_seed") }
    }

    /// Number of tensor handles alive in the process (for leak checks).
    public static var liveTensorCount: Int { Int(ct_live_tensor_count()) }

    /// Tensor handles created minus those freed on the calling thread. A synchronous piece of
    /// work that leaks nothing leaves it unchanged, whatever other threads do meanwhile.
    public static var threadTensorBalance: Int { Int(ct_thread_tensor_balance()) }

    /// Device→host reads in the process so far: every ``Tensor/item()``, ``Tensor/itemInt()``,
    /// ``Tensor/toArray(as:)``, ``Tensor/bytes()``, ``Tensor/withContiguousBytes(_:)``, comparison
    /// (`allClose`, `equal`) and norm read of ``clipGradNorm(_:maxNorm:)``. On a GPU each one waits
    /// for the device to finish the work queued before it.
    public static var hostReadCount: Int { Int(ct_host_read_count()) }

    /// ``hostReadCount`` of the calling thread only: a synchronous piece of work changes it by
    /// exactly the reads it makes, whatever other threads do meanwhile.
    public static var threadHostReadCount: Int { Int(ct_thread_host_read_count()) }

    /// libtorch's build configuration and parallel settings (`torch.__config__.show()`).
    public static var configuration: String {
        var buffer = [CChar](repeating: 0, count: 16384)
        guard ct_config_string(&buffer, buffer.count) == 0 else { return lastErrorMessage() }
        return string(fromCBuffer: buffer)
    }

    /// Waits for queued CUDA work (no-op without CUDA).
    public static func synchronize() {
        if ct_cuda_synchronize() != 0 { opFailed("cuda_synchronize") }
    }
}

/// libtorch's version string (shorthand for ``Runtime/torchVersion``).
public var torchVersion: String { Runtime.torchVersion }
