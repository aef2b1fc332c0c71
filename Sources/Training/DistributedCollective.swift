import Torch

/// The data-parallel ``Collective`` over a ``ProcessGroup`` (one process per rank).
///
/// Features are all-gathered with only the local rows keeping their gradient (open_clip's
/// `gather_with_grad=False`); gradients of encoder parameters are summed over the ranks and
/// that of the logit scale averaged (see ``Collective``), so W ranks with per-rank batch B/W
/// take the same optimizer step as one process with batch B.
public final class DistributedCollective: Collective {
    public let group: ProcessGroup
    public var rank: Int { group.rank }
    public var worldSize: Int { group.worldSize }

    public init(group: ProcessGroup) { self.group = group }

    /// `[n, D]` → `[n · worldSize, D]`, rank r's rows at `r·n..<(r+1)·n`.
    public func gatherFeatures(_ local: Tensor) throws -> Tensor {
        try group.allGatherKeepingLocalGradient(local)
    }

    /// Sums the gradients of `partial` and averages those of `replicated` over the ranks, in place.
    public func reduceGradients(partial: [Tensor], replicated: [Tensor]) throws {
        // allReduceGradients averages (and gives missing gradients a zero one on every rank);
        // the partial gradients' sum is that average times the world size.
        try group.allReduceGradients(partial + replicated)
        let scale = Double(worldSize)
        for parameter in partial { parameter.grad?.mulInPlace(scale) }
    }

    /// Whether any rank passes true (one scalar all-reduce).
    public func anyWorker(_ flag: Bool) throws -> Bool {
        try group.allReduce(flag ? 1 : 0, op: .max) > 0
    }

    /// Copies rank 0's parameter values to every rank (after building or resuming the model).
    public func broadcast(_ parameters: [Tensor]) throws {
        try group.broadcastParameters(parameters, root: 0)
    }
}
