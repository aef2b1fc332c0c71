import Torch

/// Moves features between data-parallel workers. The single-process implementation is the
/// identity; a distributed one all-gathers features (keeping the local slice's gradient) and
/// all-reduces gradients, so the step loop below stays the same at any world size.
///
/// Every rank computes the loss over the whole gathered batch, but back-propagates only
/// through its own rows. A parameter reached through the features (the encoders) thus holds a
/// partial gradient on each rank, and the full gradient is their sum; a parameter used directly
/// by the loss (the logit scale) holds the full gradient on every rank, so it is averaged.
/// With that, W ranks with batch B/W step exactly as one process with batch B.
public protocol Collective: AnyObject {
    var rank: Int { get }
    var worldSize: Int { get }
    /// Local features → global features: each of `locals` is `[n, D_i]` (one `n` for all of
    /// them; `n` may differ between ranks when items failed to load) and becomes `[N, D_i]`, N
    /// the sum of the ranks' `n`, rows in rank order; the local rows keep their gradient.
    func gatherFeatures(_ locals: [Tensor]) throws -> [Tensor]
    /// Combines the workers' gradients in place: sums those of `partial` (parameters reached
    /// through this rank's features) and averages those of `replicated` (parameters that every
    /// rank's loss uses directly).
    func reduceGradients(partial: [Tensor], replicated: [Tensor]) throws
    /// Whether any worker passes true (every worker must call it at the same step).
    func anyWorker(_ flag: Bool) throws -> Bool
    /// The element-wise sum of every worker's `values` (all workers pass the same count); a
    /// sharded pass fills its own entries, leaves the rest 0, and gets the whole table back.
    func sum(_ values: [Double]) throws -> [Double]
    /// Overwrites `tensors` with rank 0's values on every rank (parameters after building or
    /// resuming a model).
    func broadcast(_ tensors: [Tensor]) throws
}

/// The single-process ``Collective``.
public final class LocalCollective: Collective {
    public init() {}
    public var rank: Int { 0 }
    public var worldSize: Int { 1 }
    public func gatherFeatures(_ locals: [Tensor]) -> [Tensor] { locals }
    public func reduceGradients(partial: [Tensor], replicated: [Tensor]) {}
    public func anyWorker(_ flag: Bool) -> Bool { flag }
    public func sum(_ values: [Double]) -> [Double] { values }
    public func broadcast(_ tensors: [Tensor]) {}
}
