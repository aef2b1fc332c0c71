import Attacks
import CLIP
import Datasets
import Torch

/// BadCLIP's patch objective (Liang et al., CVPR 2024, `src/embeding_optimize_patch.py`): the
/// patched non-target images' features are pulled toward the target's captions by the CLIP
/// contrastive loss and toward target-class images (away from each image's own clean feature)
/// by a triplet loss.
///
/// `total = clipWeight · L_CLIP + tripletWeight · L_triplet`, with
/// - `L_CLIP = ½ [CE(s·A·Tᵀ, arange B) + CE(s·T·Aᵀ, arange B)]` (``clipLoss(imageFeatures:textFeatures:logLogitScale:)``),
///   A the patched images' unit features, T the unit features of a target caption per image,
///   s = exp(logit_scale) of the surrogate;
/// - `L_triplet = mean_i max(0, ‖a_i − p_i + ε‖₂ − ‖a_i − n_i + ε‖₂ + margin)` (PyTorch's
///   `TripletMarginLoss(margin, p = 2, eps = 1e-6)`), a_i = A_i, p_i a target-class image's unit
///   feature, n_i the unit feature of image i without the patch.
public enum BadCLIPLoss {
    /// PyTorch's `pairwise_distance` epsilon, added to the difference before the norm.
    public static let distanceEpsilon = 1e-6

    /// The triplet term.
    ///
    /// - Parameters:
    ///   - anchor: `[B, D]` float (the patched images' unit features).
    ///   - positive: `[B, D]` float (target-class images' unit features).
    ///   - negative: `[B, D]` float (the same images' clean unit features).
    /// - Returns: a scalar float tensor.
    public static func triplet(anchor: Tensor, positive: Tensor, negative: Tensor, margin: Double) -> Tensor {
        let toPositive = (anchor - positive + distanceEpsilon).square().sum(dim: 1).sqrt()
        let toNegative = (anchor - negative + distanceEpsilon).square().sum(dim: 1).sqrt()
        return (toPositive - toNegative + margin).relu().mean()
    }

    /// The two terms and their weighted sum.
    ///
    /// - Parameters:
    ///   - patched: `[B, D]` float, unit features of the patched images.
    ///   - captions: `[B, D]` float, unit features of one target caption per image.
    ///   - positives: `[B, D]` float, unit features of target-class images.
    ///   - clean: `[B, D]` float, unit features of the same images without the patch.
    ///   - logLogitScale: the surrogate's scalar `logit_scale` (its log).
    /// - Returns: scalar tensors: the weighted total, the CLIP term and the triplet term (unweighted).
    public static func terms(
        patched: Tensor, captions: Tensor, positives: Tensor, clean: Tensor, logLogitScale: Tensor,
        clipWeight: Double, tripletWeight: Double, margin: Double
    ) -> (total: Tensor, clip: Tensor, triplet: Tensor) {
        let clip = clipLoss(imageFeatures: patched, textFeatures: captions, logLogitScale: logLogitScale)
        let triplet = triplet(anchor: patched, positive: positives, negative: clean, margin: margin)
        return (clip * clipWeight + triplet * tripletWeight, clip, triplet)
    }

    /// Images with the patch pasted in, square by square: `x ← x · (1 − M_r) + P_r` for each square
    /// r in order (a later square covers an earlier one where they overlap, as
    /// ``OptimizedPatchTrigger/apply(to:index:)`` paints), P_r holding the patch (clipped to
    /// [0, 1], as BadCLIP clips it when pasting) at r and M_r marking r. Differentiable with
    /// respect to `patch`.
    ///
    /// - Parameters:
    ///   - images: `[B, 3, S, S]` float pixel values in [0, 1] (not normalised).
    ///   - patch: `[3, s, s]` float, the patch variable.
    ///   - squares: per image, the `s × s` squares it goes into (all inside `S × S`).
    /// - Returns: `[B, 3, S, S]` float.
    public static func paste(_ images: Tensor, patch: Tensor, squares: [[PixelRect]]) -> Tensor {
        let width = images.size(3), height = images.size(2), s = patch.size(2)
        let clipped = patch.clamped(min: 0, max: 1)
        func pasted(_ x: Tensor, _ rects: [PixelRect]) -> Tensor {
            var out = x
            for r in rects {
                var mask = [Float](repeating: 0, count: height * width)
                for y in r.y..<(r.y + s) { for x in r.x..<(r.x + s) { mask[y * width + x] = 1 } }
                let placed = pad(clipped, [r.x, width - r.x - s, r.y, height - r.y - s])
                out = out * (1 - Tensor(mask, shape: [1, height, width])) + placed
            }
            return out
        }
        if Set(squares).count == 1, let rects = squares.first { return pasted(images, rects) }
        return Tensor.stack(squares.enumerated().map { i, rects in pasted(images[i], rects) })
    }

    /// `(x − mean) / std` per channel with CLIP's statistics, for `[B, 3, S, S]` values in [0, 1].
    public static func normalizeForCLIP(_ images: Tensor) -> Tensor {
        let n = Normalization.clip
        let mean = Tensor(n.mean, shape: [1, 3, 1, 1]), std = Tensor(n.std, shape: [1, 3, 1, 1])
        return (images - mean) / std
    }
}
