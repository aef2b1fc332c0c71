import Foundation
import Torch

/// ln 100, the upper bound of the log logit scale.
public let maxLogitScale = Foundation.log(100.0)

/// The symmetric CLIP contrastive loss — the only one in ClipGuard; plain CLIP and every defence
/// call it.
///
/// With the multiplier `s = exp(logLogitScale)` and `logits = s · imageFeatures · textFeaturesᵀ`
/// (`[N, N]`), the loss is `½ [CE(logits, arange N) + CE(logitsᵀ, arange N)]`: each image must
/// pick its own caption among the batch's and each caption its own image.
///
/// The scale is taken as the model's *log* parameter and exponentiated here, so no caller can
/// pass the wrong convention: open_clip's model returns `logit_scale.exp()` and its `ClipLoss`
/// multiplies by exactly that.
///
/// Port of open_clip/src/open_clip/loss.py (`ClipLoss`, one worker); Radford et al. 2021.
///
/// ```swift
/// let out = model.logits(images: images, texts: tokens)
/// let loss = clipLoss(imageFeatures: out.imageFeatures, textFeatures: out.textFeatures, logLogitScale: model.logLogitScale)
/// ```
///
/// - Parameters:
///   - imageFeatures: `[N, D]` float, L2-normalised.
///   - textFeatures: `[N, D]` float, L2-normalised; row i is image i's caption.
///   - logLogitScale: the scalar `logit_scale` parameter (``CLIPModel/logLogitScale``), *not* its
///     exponential.
/// - Returns: a scalar.
public func clipLoss(imageFeatures: Tensor, textFeatures: Tensor, logLogitScale: Tensor) -> Tensor {
    precondition(
        imageFeatures.shape == textFeatures.shape && imageFeatures.rank == 2,
        "clipLoss: features must both be [N, D], got \(imageFeatures.shape) and \(textFeatures.shape)")
    let logits = logLogitScale.exp() * imageFeatures.matmul(textFeatures.t)
    let labels = Tensor.arange(0, Double(logits.size(0)), dtype: .int64, device: logits.device)
    return (crossEntropy(logits, target: labels) + crossEntropy(logits.t, target: labels)) * 0.5
}

/// One-directional InfoNCE: each row of `queries` must pick its own row of `keys` among all keys.
///
/// `CE(exp(logLogitScale) · queries · keysᵀ, arange N)`. This is the in-modal term of SafeCLIP
/// (Yang et al. 2024, "Better Safe than Sorry") and CleanCLIP (Bansal et al. 2023): the
/// reference codes multiply by the CLIP model's `exp(logit_scale)` there too.
///
/// - Parameters:
///   - queries: `[N, D]` float, L2-normalised.
///   - keys: `[M, D]` float, L2-normalised, M ≥ N; row i is the positive for query i.
///   - logLogitScale: the scalar log scale (the multiplier is its exponential).
/// - Returns: a scalar.
public func infoNCE(_ queries: Tensor, _ keys: Tensor, logLogitScale: Tensor) -> Tensor {
    precondition(
        queries.rank == 2 && keys.rank == 2 && queries.size(1) == keys.size(1) && keys.size(0) >= queries.size(0),
        "infoNCE: expected [N, D] queries and [M ≥ N, D] keys, got \(queries.shape) and \(keys.shape)")
    let logits = logLogitScale.exp() * queries.matmul(keys.t)
    let labels = Tensor.arange(0, Double(queries.size(0)), dtype: .int64, device: logits.device)
    return crossEntropy(logits, target: labels)
}

/// Clamps a log-logit-scale parameter into [0, ln 100] in place, without recording gradients
/// (open_clip and SafeCLIP do this after every optimiser step).
/// - Parameter logLogitScale: the scalar `logit_scale` parameter (not its exponential).
public func clampLogitScale(_ logLogitScale: Tensor) {
    noGrad { logLogitScale.clampInPlace(min: 0, max: maxLogitScale) }
}
