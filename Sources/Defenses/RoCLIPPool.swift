import CLIP
import Torch

/// RoCLIP's caption pool (Yang et al., NeurIPS 2023): a FIFO of text embeddings; in every k-th
/// epoch each image is trained against its nearest pool caption instead of its own.
///
/// Reference facts (BigML-CS-UCLA/RoCLIP model/src/parser.py, train.py): pool size 21,845,
/// `break_epoch` k = 2, matching epochs are those with `epoch % k == 0` for the 1-based epoch, and
/// the pool is only updated in matching epochs (after the look-up of each batch).
///
/// ```swift
/// let pool = RoCLIPPool(dimension: 1024, seed: 3)
/// let loss = pool.isMatchingEpoch(epoch)
///     ? DefenseLoss.roclipMatched(image: zI, text: zT, logLogitScale: s, pool: pool)
///     : clipLoss(imageFeatures: zI, textFeatures: zT, logLogitScale: s)
/// ```
public final class RoCLIPPool {
    /// The reference pool size.
    public static let referenceCapacity = 21_845
    /// The underlying FIFO.
    public let bank: NearestNeighborBank
    /// k: every k-th epoch is a matching epoch.
    public let matchingPeriod: Int

    /// A pool of `capacity` seeded random unit vectors.
    public init(capacity: Int = RoCLIPPool.referenceCapacity, dimension: Int, matchingPeriod: Int = 2, seed: UInt64, dtype: DType = .float32, device: Device = .cpu) {
        precondition(matchingPeriod >= 1, "matchingPeriod must be at least 1")
        self.bank = NearestNeighborBank(capacity: capacity, dimension: dimension, seed: seed, dtype: dtype, device: device)
        self.matchingPeriod = matchingPeriod
    }

    /// A pool around a restored bank.
    public init(bank: NearestNeighborBank, matchingPeriod: Int = 2) {
        precondition(matchingPeriod >= 1, "matchingPeriod must be at least 1")
        self.bank = bank
        self.matchingPeriod = matchingPeriod
    }

    /// Whether 1-based `epoch` uses pool matching (`epoch % k == 0`).
    public func isMatchingEpoch(_ epoch: Int) -> Bool { epoch % matchingPeriod == 0 }

    /// Nearest pool caption embedding for each image: `[B, D]` → `[B, D]`, detached.
    public func nearest(to images: Tensor) -> Tensor { bank.nearest(to: images) }

    /// Adds the batch's caption embeddings `[B, D]`.
    public func enqueue(_ texts: Tensor) { bank.enqueue(texts) }
}

extension DefenseLoss {
    /// RoCLIP's loss in a matching epoch: each image is paired with its nearest pool caption
    /// embedding instead of its own caption, then the CLIP loss is taken; the pool is then
    /// updated with the batch's own text embeddings.
    ///
    /// As BigML-CS-UCLA/RoCLIP model/src/train.py (`get_loss`): look-up uses the pool before the
    /// update; the matched captions carry no gradient, so only the image side learns from the loss
    /// in these epochs. The reference adds `0 · CE(s·I·Tᵀ)` with the batch's own texts, which
    /// keeps the text tower in the graph with zero gradients: AdamW then still applies weight
    /// decay and its momentum to the text weights (a parameter without a gradient would be
    /// skipped). The same zero-weighted term is added here, so a matching epoch steps the text
    /// tower exactly as the reference does (Tests/Fixtures/training/objective_roclip_matched).
    ///
    /// - Parameters:
    ///   - image: `[B, D]` image features.
    ///   - text: `[B, D]` the batch's own text features (enqueued; in the loss with weight 0 only).
    ///   - logLogitScale: the scalar log scale (`logit_scale`; the multiplier is its exponential).
    ///   - pool: the caption pool.
    /// - Returns: a scalar.
    public static func roclipMatched(image: Tensor, text: Tensor, logLogitScale: Tensor, pool: RoCLIPPool) -> Tensor {
        let matched = pool.nearest(to: image)
        pool.enqueue(text)
        let keepsTextInGraph = infoNCE(image, text, logLogitScale: logLogitScale) * 0
        return clipLoss(imageFeatures: image, textFeatures: matched, logLogitScale: logLogitScale) + keepsTextInGraph
    }
}
