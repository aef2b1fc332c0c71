import CTorch

/// A group of processes that run collectives together (`torch.distributed` with c10d's Gloo
/// backend on CPU, NCCL on GPUs when built with CUDA).
///
/// Every rank must call the same collectives in the same order, with tensors of equal shapes and
/// dtypes. Each blocking call waits at most ``timeout`` and then throws
/// ``TorchError/distributed(_:)`` naming the rank and the operation, e.g.
/// `"rank 1: allreduce timed out after 30 s (…)"`; a peer that dies makes the others fail with
/// a connection error rather than hang. After any failed collective the group is unusable: end
/// the process (``LocalLauncher`` then stops the other workers).
///
/// ```swift
/// guard let env = try LaunchEnvironment.fromEnvironment() else { … single process … }
/// let group = try ProcessGroup.initialize(env, timeout: .seconds(60))
/// try group.broadcastParameters(model.parameters)
/// loss.backward()
/// try group.allReduceGradients(model.parameters)   // averaged over ranks
/// optimizer.step()
/// ```
public final class ProcessGroup {
    /// The communication library behind a group.
    public enum Backend: Sendable, Hashable, CustomStringConvertible {
        /// Gloo over TCP: CPU tensors (in libtorch_cpu).
        case gloo
        /// NCCL: CUDA tensors (needs libtorch_cuda and nccl.h at build time).
        case nccl

        var code: Int32 { self == .gloo ? Int32(CT_BACKEND_GLOO) : Int32(CT_BACKEND_NCCL) }

        /// Whether this build can create groups of this backend.
        public var isAvailable: Bool { ct_dist_backend_available(code) != 0 }

        /// NCCL for CUDA devices, Gloo otherwise.
        public static func preferred(for device: Device) -> Backend {
            if case .cuda = device, Backend.nccl.isAvailable { return .nccl }
            return .gloo
        }

        public var description: String { self == .gloo ? "gloo" : "nccl" }
    }

    /// How ``allReduce(_:op:)`` combines the ranks' values.
    public enum ReduceOp: Sendable, Hashable {
        case sum
        /// The sum divided by the world size (integer tensors: floor division).
        case average
        case product
        case min
        case max

        var code: Int32 {
            switch self {
            case .sum: Int32(CT_REDUCE_SUM)
            case .average: Int32(CT_REDUCE_AVG)
            case .product: Int32(CT_REDUCE_PRODUCT)
            case .min: Int32(CT_REDUCE_MIN)
            case .max: Int32(CT_REDUCE_MAX)
            }
        }
    }

    let handle: OpaquePointer
    /// This process's index in the group, `0..<worldSize`.
    public let rank: Int
    /// Number of processes in the group.
    public let worldSize: Int
    public let backend: Backend
    /// The longest any one collective may block (initially also the set-up timeout).
    ///
    /// Changing it affects later calls; the backend's own transport timeout stays the one given
    /// to ``initialize(rank:worldSize:masterAddress:masterPort:backend:timeout:)``.
    public var timeout: Duration

    /// Whether this is rank 0 (the one that logs, evaluates and saves checkpoints).
    public var isMain: Bool { rank == 0 }

    private init(handle: OpaquePointer, rank: Int, worldSize: Int, backend: Backend, timeout: Duration) {
        self.handle = handle
        self.rank = rank
        self.worldSize = worldSize
        self.backend = backend
        self.timeout = timeout
    }

    deinit { ct_pg_free(handle) }

    /// Joins a group: rank 0 serves a TCP store on `masterAddress:masterPort`, every rank
    /// connects to it, then the backend connects all pairs of ranks.
    ///
    /// Returns once all `worldSize` ranks have joined; throws when they have not within
    /// `timeout`. Gloo binds to 127.0.0.1 when `masterAddress` is a loopback address, to
    /// `GLOO_SOCKET_IFNAME` when set, and to this host's name otherwise.
    public static func initialize(
        rank: Int, worldSize: Int, masterAddress: String, masterPort: Int, backend: Backend = .gloo,
        timeout: Duration = .seconds(300)
    ) throws(TorchError) -> ProcessGroup {
        let ms = try milliseconds(timeout)
        var out: OpaquePointer?
        let status = ct_pg_new(
            &out, masterAddress, Int32(clamping: masterPort), Int32(clamping: rank), Int32(clamping: worldSize),
            backend.code, ms)
        guard status == 0, let out else { throw TorchError.distributed(lastErrorMessage()) }
        return ProcessGroup(handle: out, rank: rank, worldSize: worldSize, backend: backend, timeout: timeout)
    }

    /// Joins the group that a launcher (``LocalLauncher``, torchrun, SLURM) described.
    public static func initialize(
        _ environment: LaunchEnvironment, backend: Backend = .gloo, timeout: Duration = .seconds(300)
    ) throws(TorchError) -> ProcessGroup {
        try initialize(
            rank: environment.rank, worldSize: environment.worldSize, masterAddress: environment.masterAddress,
            masterPort: environment.masterPort, backend: backend, timeout: timeout)
    }

    private static func milliseconds(_ duration: Duration) throws(TorchError) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        guard ms > 0 else { throw TorchError.invalidArgument("distributed timeout must be at least 1 ms, got \(duration)") }
        return ms
    }

    private var timeoutMilliseconds: Int64 {
        let (seconds, attoseconds) = timeout.components
        // At least 1 ms: the shim refuses nonpositive timeouts.
        return Swift.max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    private func check(_ status: Int32) throws(TorchError) {
        if status != 0 { throw TorchError.distributed(lastErrorMessage()) }
    }

    // MARK: - Collectives

    /// Reduces each tensor across ranks, in place (any shapes; each tensor one collective).
    public func allReduce(_ tensors: [Tensor], op: ReduceOp = .sum) throws(TorchError) {
        let status = withHandles(tensors) { h, n in ct_pg_allreduce(handle, h, n, op.code, timeoutMilliseconds) }
        try check(status)
    }

    /// Reduces one number across ranks (as float64), e.g. a loss to log or a count of samples.
    ///
    /// ```swift
    /// let meanLoss = try group.allReduce(loss.item(), op: .average)
    /// ```
    public func allReduce(_ value: Double, op: ReduceOp = .sum) throws(TorchError) -> Double {
        let t = Tensor([value])
        try allReduce([t], op: op)
        return t.item()
    }

    /// Every rank's copy of `tensor`, indexed by rank (each of `tensor`'s shape and dtype).
    ///
    /// The results are new tensors outside autograd; see ``allGatherKeepingLocalGradient(_:)``.
    public func allGather(_ tensor: Tensor) throws(TorchError) -> [Tensor] {
        var outs = [OpaquePointer?](repeating: nil, count: worldSize)
        let status = withExtendedLifetime(tensor) {
            ct_pg_allgather(handle, &outs, tensor.handle, timeoutMilliseconds)
        }
        try check(status)
        return outs.map { Tensor(owning: $0!) }
    }

    /// Overwrites each tensor with rank `root`'s values, in place.
    public func broadcast(_ tensors: [Tensor], root: Int) throws(TorchError) {
        let status = withHandles(tensors) { h, n in
            ct_pg_broadcast(handle, h, n, Int32(clamping: root), timeoutMilliseconds)
        }
        try check(status)
    }

    /// Returns when every rank has reached the barrier.
    public func barrier() throws(TorchError) {
        try check(ct_pg_barrier(handle, timeoutMilliseconds))
    }

    // MARK: - Data-parallel training

    /// Concatenates every rank's `features` along dimension 0 so that only this rank's slice
    /// carries a gradient: `[N, …]` per rank → `[worldSize·N, …]`, rank r's rows at `r·N..<(r+1)·N`.
    ///
    /// This is open_clip's `gather_features` with `gather_with_grad=False` (its default): the
    /// other ranks' features are constants and this rank's are `features` itself, so a loss over
    /// the gathered batch back-propagates into the local encoder only. Every rank computes the
    /// same global loss; each rank's gradient covers the terms through its own features, and
    /// averaging over ranks (``allReduceGradients(_:bucketBytes:)``) yields the full gradient
    /// divided by the world size, as in open_clip with DDP (ClipGuard's trainer sums instead, so
    /// that N ranks reproduce one process with the global batch; see `Collective` in Training).
    /// open_clip's `gather_with_grad=True`
    /// (an all-gather whose backward sends gradients to the ranks that own the rows) is not
    /// implemented. All ranks must pass the same `N`.
    public func allGatherKeepingLocalGradient(_ features: Tensor) throws(TorchError) -> Tensor {
        var parts = try allGather(features.detached())
        parts[rank] = features
        return Tensor.cat(parts, dim: 0)
    }

    /// Averages the parameters' gradients over ranks, in place (the step of DistributedDataParallel).
    ///
    /// Gradients are flattened into buckets of at most `bucketBytes` (consecutive parameters of
    /// one dtype and device; a larger gradient gets a bucket of its own), all buckets are reduced
    /// at once, and the averages are copied back. A parameter without a gradient gets a zero one
    /// first, so that every rank reduces the same buckets and ends with the same gradients.
    /// Parameters must be listed in the same order on every rank.
    public func allReduceGradients(_ parameters: [Tensor], bucketBytes: Int = 25 << 20) throws(TorchError) {
        guard bucketBytes > 0 else { throw TorchError.invalidArgument("bucketBytes must be positive, got \(bucketBytes)") }
        let grads: [Tensor] = noGrad {
            parameters.map { p in
                if let g = p.grad { return g }
                let zero = p.detached().zerosLike()
                p.grad = zero
                return zero
            }
        }
        guard worldSize > 1 else { return }
        // Buckets of indices into grads.
        var buckets: [[Int]] = []
        var current: [Int] = []
        var currentBytes = 0
        for (i, g) in grads.enumerated() {
            let bytes = g.count * g.dtype.byteSize
            if let first = current.first,
                grads[first].dtype != g.dtype || grads[first].device != g.device || currentBytes + bytes > bucketBytes
            {
                buckets.append(current)
                current = []
                currentBytes = 0
            }
            current.append(i)
            currentBytes += bytes
        }
        if !current.isEmpty { buckets.append(current) }

        try withoutGrad { () throws(TorchError) in
            // A bucket of one gradient is reduced in place; larger ones through a flat copy.
            let flats = buckets.map { bucket in
                bucket.count == 1 ? grads[bucket[0]] : Tensor.cat(bucket.map { grads[$0].reshaped([-1]) }, dim: 0)
            }
            try allReduce(flats, op: .average)
            for (bucket, flat) in zip(buckets, flats) where bucket.count > 1 {
                var offset = 0
                for i in bucket {
                    let g = grads[i]
                    let n = g.count
                    g.copyInPlace(from: flat.narrowed(dim: 0, start: offset, length: n).view(g.shape))
                    offset += n
                }
            }
        }
    }

    /// Copies rank `root`'s parameter values to every rank, in place (call once after building
    /// the model, so all ranks start from the same weights).
    public func broadcastParameters(_ parameters: [Tensor], root: Int = 0) throws(TorchError) {
        try broadcast(parameters, root: root)
    }
}

/// Runs `body`, a typed-throwing closure, with autograd disabled.
private func withoutGrad<R>(_ body: () throws(TorchError) -> R) throws(TorchError) -> R {
    let previous = ct_grad_enabled()
    ct_set_grad_enabled(0)
    defer { ct_set_grad_enabled(previous) }
    return try body()
}
