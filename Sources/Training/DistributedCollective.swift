import Torch

/// The data-parallel ``Collective`` over a ``ProcessGroup`` (one process per rank).
///
/// Features are all-gathered with only the local rows keeping their gradient (open_clip's
/// `gather_with_grad=False`); gradients of encoder parameters are summed over the ranks and
/// that of the logit scale averaged (see ``Collective``), so W ranks with per-rank batch B/W
/// take the same optimizer step as one process with batch B.
public final class DistributedCollective: Collective {
    public let group: ProcessGroup
    /// Where the collectives' small helper tensors (row counts, sums) live: the training device
    /// (NCCL reduces CUDA tensors only).
    public let device: Device
    public var rank: Int { group.rank }
    public var worldSize: Int { group.worldSize }

    public init(group: ProcessGroup, device: Device = .cpu) {
        self.group = group
        self.device = device
    }

    /// `[n_r, D_i]` on rank r → `[Σ n_r, D_i]`, rank r's rows after those of ranks 0..<r.
    ///
    /// One all-gather of the row counts, then one of all `locals` side by side (`[n, Σ D_i]`,
    /// padded with zero rows to the largest `n` when a rank lost items to load failures).
    public func gatherFeatures(_ locals: [Tensor]) throws -> [Tensor] {
        guard let first = locals.first else { return [] }
        let n = first.shape[0]
        let counts = try group.allGather(Tensor([Double(n)]).to(device)).map { Int($0.item()) }
        let most = counts.max() ?? n
        let widths = locals.map { $0.shape[1] }
        // One message for all tensors; the local rows re-enter each output separately, so that
        // each tensor's gradient reaches only its own graph (an unused output sends none).
        var sent = locals.count == 1 ? first.detached() : Tensor.cat(locals.map { $0.detached() }, dim: 1)
        if n < most {
            sent = Tensor.cat([sent, Tensor.zeros([most - n, sent.shape[1]], dtype: sent.dtype, device: sent.device)], dim: 0)
        }
        let received = try group.allGather(sent)
        var offset = 0
        return zip(locals, widths).map { local, width in
            defer { offset += width }
            let parts = received.indices.map { r -> Tensor in
                if r == rank { return local }
                var part = received[r]
                if counts[r] < most { part = part.narrowed(dim: 0, start: 0, length: counts[r]) }
                return locals.count == 1 ? part : part.narrowed(dim: 1, start: offset, length: width)
            }
            return Tensor.cat(parts, dim: 0)
        }
    }

    /// Sums the gradients of `partial` and averages those of `replicated` over the ranks, in place.
    ///
    /// A parameter that no rank's loss reached (e.g. a frozen or unused tower) keeps
    /// no gradient, as in one process, so that AdamW leaves it alone; one that some rank reached
    /// gets a zero gradient where it has none before the reduction.
    public func reduceGradients(partial: [Tensor], replicated: [Tensor]) throws {
        let parameters = partial + replicated
        let reached = try sum(parameters.map { $0.grad == nil ? 0 : 1 })
        let used = parameters.indices.filter { reached[$0] > 0 }
        // allReduceGradients averages (and gives missing gradients a zero one on every rank);
        // the partial gradients' sum is that average times the world size.
        try group.allReduceGradients(used.map { parameters[$0] })
        let scale = Double(worldSize)
        for i in used where i < partial.count { partial[i].grad?.mulInPlace(scale) }
    }

    /// Whether any rank passes true (one scalar all-reduce).
    public func anyWorker(_ flag: Bool) throws -> Bool {
        let t = Tensor([flag ? 1.0 : 0.0]).to(device)
        try group.allReduce([t], op: .max)
        return t.item() > 0
    }

    /// The element-wise sum over the ranks (one float64 all-reduce).
    public func sum(_ values: [Double]) throws -> [Double] {
        guard !values.isEmpty else { return [] }
        let t = Tensor(values).to(device)
        try group.allReduce([t], op: .sum)
        return t.to(.cpu).toArray()
    }

    /// Copies rank 0's values to every rank, in place.
    public func broadcast(_ tensors: [Tensor]) throws {
        try group.broadcastParameters(tensors, root: 0)
    }
}
