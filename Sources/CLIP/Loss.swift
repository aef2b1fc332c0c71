import Foundation
import Torch

/// ln 100, the upper bound of the log logit scale.
public let maxLogitScale = Foundation.log(100.0)

/// The symmetric CLIP contrastive loss.
///
/// With `logits = logitScale · imageFeatures · textFeaturesᵀ` (`[N, N]`), the loss is
/// `½ [CE(logits, arange N) + CE(logitsᵀ, arange N)]`: each image must pick its own caption
/// among the batch's and each caption its own image.
///
/// Port of open_clip/src/open_clip/loss.py (`ClipLoss`, one worker); Radford et al. 2021.
///
/// ```swift
/// let out = model.logits(images: images, texts: tokens)
/// let loss = clipLoss(imageFeatures: out.imageFeatures, textFeatures: out.textFeatures, logitScale: out.logitScale)
/// ```
///
/// - Parameters:
///   - imageFeatures: `[N, D]` float, L2-normalised.
///   - textFeatures: `[N, D]` float, L2-normalised; row i is image i's caption.
///   - logitScale: the multiplier `exp(logit_scale)` as a scalar tensor (``CLIPOutput/logitScale``),
///     as open_clip's `ClipLoss` takes it.
/// - Returns: a scalar.
public func clipLoss(imageFeatures: Tensor, textFeatures: Tensor, logitScale: Tensor) -> Tensor {
    precondition(
        imageFeatures.shape == textFeatures.shape && imageFeatures.rank == 2,
        "clipLoss: features must both be [N, D], got \(imageFeatures.shape) and \(textFeatures.shape)")
    let logits = logitScale * imageFeatures.matmul(textFeatures.t)
    let labels = Tensor.arange(0, Double(logits.size(0)), dtype: .int64, device: logits.device)
    return (crossEntropy(logits, target: labels) + crossEntropy(logits.t, target: labels)) * 0.5
}

/// One-directional InfoNCE: each row of `queries` must pick its own row of `keys` among all keys.
///
/// `CE(logitScale · queries · keysᵀ, arange N)`. This is the unimodal term of SafeCLIP
/// (Yang et al. 2024, "Better Safe than Sorry"): there `queries` are the embeddings of the
/// augmented views, `keys` those of the originals (or their nearest neighbours from a memory
/// bank), `logitScale` the model's `exp(logit_scale)`, and the image and text terms are averaged.
///
/// - Parameters:
///   - queries: `[N, D]` float, L2-normalised.
///   - keys: `[M, D]` float, L2-normalised, M ≥ N; row i is the positive for query i.
///   - logitScale: a scalar tensor multiplying the similarities (1/temperature).
/// - Returns: a scalar.
public func infoNCE(_ queries: Tensor, _ keys: Tensor, logitScale: Tensor) -> Tensor {
    precondition(
        queries.rank == 2 && keys.rank == 2 && queries.size(1) == keys.size(1) && keys.size(0) >= queries.size(0),
        "infoNCE: expected [N, D] queries and [M ≥ N, D] keys, got \(queries.shape) and \(keys.shape)")
    let logits = logitScale * queries.matmul(keys.t)
    let labels = Tensor.arange(0, Double(queries.size(0)), dtype: .int64, device: logits.device)
    return crossEntropy(logits, target: labels)
}

/// ``infoNCE(_:_:logitScale:)`` with a fixed temperature τ (logits divided by τ).
public func infoNCE(_ queries: Tensor, _ keys: Tensor, temperature: Double) -> Tensor {
    precondition(temperature > 0, "infoNCE: temperature must be positive")
    return infoNCE(
        queries, keys, logitScale: Tensor(scalar: 1 / temperature, dtype: queries.dtype, device: queries.device))
}

/// Clamps a log-logit-scale parameter into [0, ln 100] in place, without recording gradients
/// (open_clip and SafeCLIP do this after every optimiser step).
/// - Parameter logitScale: the scalar `logit_scale` parameter (not its exponential).
public func clampLogitScale(_ logitScale: Tensor) {
    noGrad { logitScale.clampInPlace(min: 0, max: maxLogitScale) }
}
