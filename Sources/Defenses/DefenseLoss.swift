import CLIP
import Torch

/// The contrastive losses of the defences, on embedding tensors.
///
/// All features are `[B, D]` floating-point rows, L2-normalised by the caller (the model's
/// outputs already are). `logLogitScale` is the model's learnable *log* scale (a scalar tensor): every
/// loss multiplies similarities by `exp(logLogitScale)`, as the reference codes do — SafeCLIP's
/// unimodal loss uses the CLIP temperature too, not a fixed NT-Xent temperature. The CLIP term
/// and the one-direction InfoNCE are CLIP's ``CLIP/clipLoss(imageFeatures:textFeatures:logLogitScale:)``
/// and ``CLIP/infoNCE(_:_:logLogitScale:)``, the same functions plain training uses. Targets are
/// `arange(B)`; cross-entropy is averaged over the batch. Gradients flow into every argument
/// except memory-bank and pool entries, which are detached.
///
/// ```swift
/// let loss = DefenseLoss.unimodal(image1: i1, image2: i2, text1: t1, text2: t2, logLogitScale: scale)
/// loss.backward()
/// ```
///
/// ### See Also
/// - ``NearestNeighborBank``
/// - ``RoCLIPPool``
public enum DefenseLoss {
    /// SafeCLIP's unimodal loss: `½[CE(s·I₂·I₁ᵀ) + CE(s·T₂·T₁ᵀ)]`.
    ///
    /// As in SafeCLIP/src/train.py (`get_loss`, `inmodal`): the rows are the second augmented view,
    /// the columns the first; one direction per modality; both modalities averaged. With a memory
    /// bank, pass each first view's nearest bank entries as `image1`/`text1`
    /// (``NearestNeighborBank/nearest(to:)``), which carry no gradient.
    ///
    /// - Parameters:
    ///   - image1: `[B, D]` first image view (or its nearest-neighbour substitutes).
    ///   - image2: `[B, D]` second image view.
    ///   - text1: `[B, D]` first text view (or substitutes).
    ///   - text2: `[B, D]` second text view.
    ///   - logLogitScale: the scalar log scale (`logit_scale`; the multiplier is its exponential).
    /// - Returns: a scalar.
    public static func unimodal(image1: Tensor, image2: Tensor, text1: Tensor, text2: Tensor, logLogitScale: Tensor) -> Tensor {
        (infoNCE(image2, image1, logLogitScale: logLogitScale)
            + infoNCE(text2, text1, logLogitScale: logLogitScale)) * 0.5
    }

    /// SafeCLIP's unimodal loss with NNCLR banks: looks up the nearest entries of the first views,
    /// computes ``unimodal(image1:image2:text1:text2:logLogitScale:)`` against them, then enqueues
    /// the first views (the reference order: look up, then update, in one call).
    ///
    /// - Parameters:
    ///   - imageBank: bank of image embeddings, updated with `image1`.
    ///   - textBank: bank of text embeddings, updated with `text1`.
    ///   - image1, image2, text1, text2: `[B, D]` views as in the bank-free form.
    ///   - logLogitScale: the scalar log scale (`logit_scale`; the multiplier is its exponential).
    /// - Returns: a scalar; `image1` and `text1` receive no gradient.
    public static func unimodal(
        image1: Tensor, image2: Tensor, text1: Tensor, text2: Tensor, logLogitScale: Tensor,
        imageBank: NearestNeighborBank, textBank: NearestNeighborBank
    ) -> Tensor {
        let nearestImage = imageBank.nearest(to: image1)
        let nearestText = textBank.nearest(to: text1)
        imageBank.enqueue(image1)
        textBank.enqueue(text1)
        return unimodal(image1: nearestImage, image2: image2, text1: nearestText, text2: text2, logLogitScale: logLogitScale)
    }

    /// SafeCLIP's cross-augmented CLIP loss: `½[CE(s·I₁·T₂ᵀ) + CE(s·T₁·I₂ᵀ)]`.
    ///
    /// With `cross_aug` (the official default) each pair comes with two augmented views of both
    /// the image and the caption; SafeCLIP/src/train.py scores view-1 images against view-2 texts
    /// and view-1 texts against view-2 images. The two logit matrices are not transposes of each other.
    ///
    /// - Parameters:
    ///   - image1, image2: `[B, D]` two image views.
    ///   - text1, text2: `[B, D]` two text views.
    ///   - logLogitScale: the scalar log scale (`logit_scale`; the multiplier is its exponential).
    /// - Returns: a scalar.
    public static func crossAugmentedCLIP(image1: Tensor, image2: Tensor, text1: Tensor, text2: Tensor, logLogitScale: Tensor) -> Tensor {
        (infoNCE(image1, text2, logLogitScale: logLogitScale)
            + infoNCE(text1, image2, logLogitScale: logLogitScale)) * 0.5
    }

    /// CleanCLIP's loss: `clipWeight·L_CLIP(I, T) + λ·½[CE(s·I·I'ᵀ) + CE(s·T·T'ᵀ)]`.
    ///
    /// As nishadsinghi/CleanCLIP src/train.py (`get_loss`, `inmodal`): the CLIP term is on the
    /// original pairs; the in-modal terms have the originals as rows and the augmented views as
    /// columns, one direction each. Reference weights: `clip_weight` = `inmodal_weight` = 1.
    ///
    /// - Parameters:
    ///   - image, text: `[B, D]` original pair features.
    ///   - augmentedImage, augmentedText: `[B, D]` augmented views (AutoAugment, EDA).
    ///   - logLogitScale: the scalar log scale (`logit_scale`; the multiplier is its exponential).
    ///   - lambda: in-modal weight λ.
    ///   - clipWeight: weight of the CLIP term.
    /// - Returns: a scalar.
    public static func cleanCLIP(
        image: Tensor, text: Tensor, augmentedImage: Tensor, augmentedText: Tensor, logLogitScale: Tensor,
        lambda: Double = 1, clipWeight: Double = 1
    ) -> Tensor {
        let inModal = (infoNCE(image, augmentedImage, logLogitScale: logLogitScale)
            + infoNCE(text, augmentedText, logLogitScale: logLogitScale)) * 0.5
        return clipLoss(imageFeatures: image, textFeatures: text, logLogitScale: logLogitScale) * clipWeight + inModal * lambda
    }

    /// PAR's feature distance `S`: the batch mean of the squared L2 distance between two sets of
    /// rows, `mean_i ‖a_i − b_i‖²` (the squared error summed over the feature dimension, then
    /// averaged over the batch, as `l2(…, reduction='mean')` in nmndeep/PerturbAndRecover
    /// `losses.py`). For unit rows it lies in `[0, 4]`.
    ///
    /// - Parameters:
    ///   - a: `[B, D]` floating-point rows.
    ///   - b: `[B, D]` floating-point rows, same dtype.
    /// - Returns: a scalar of the rows' dtype.
    public static func parDistance(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape && a.rank == 2, "parDistance: features must both be [B, D], got \(a.shape) and \(b.shape)")
        return (a - b).square().sum(dim: 1).mean()
    }

    /// PAR's loss (Singh, Croce & Hein, "Perturb and Recover", CVPR 2026):
    /// `L_CLIP(I, T) − ½(1[S_img ≤ τ]·S_img + 1[S_txt ≤ τ]·S_txt)`, where
    /// `S_img = mean_i ‖I_i − I⁰_i‖²` and `S_txt = mean_i ‖T_i − T⁰_i‖²`
    /// (``parDistance(_:_:)``) compare the features of the model being cleaned with those of the
    /// frozen starting (poisoned) model on the same augmented batch.
    ///
    /// Port of nmndeep/PerturbAndRecover `losses.py` (`CLIPLoss.forward`): the distance is the
    /// batch mean (over the gathered batch), and the indicator applies to that mean, not per
    /// sample: once a modality's mean distance exceeds τ its term is zero (and so is its
    /// gradient), so the loss pushes the features away from the poisoned model's only up to τ
    /// and CLIP's loss recovers the clean behaviour. The frozen features carry no gradient (pass
    /// them from a no-grad pass; they are detached here too).
    ///
    /// - Parameters:
    ///   - image, text: `[B, D]` L2-normalised features of the model being trained (row i is
    ///     the caption of image i).
    ///   - frozenImage, frozenText: `[B, D]` L2-normalised features of the frozen initial model
    ///     of the same inputs.
    ///   - logLogitScale: the scalar log scale (PAR's reference passes `logit_scale.exp().item()`,
    ///     a constant; pass a detached tensor to train as it does).
    ///   - tau: the threshold τ (reference 2.15; squared distances of unit rows are ≤ 4).
    /// - Returns: a scalar.
    public static func par(
        image: Tensor, text: Tensor, frozenImage: Tensor, frozenText: Tensor, logLogitScale: Tensor, tau: Double = 2.15
    ) -> Tensor {
        let imageDistance = parDistance(image, frozenImage.detached())
        let textDistance = parDistance(text, frozenText.detached())
        // The indicator as a 0/1 factor on the device (no read-back); it carries no gradient.
        let kept = imageDistance * imageDistance.le(tau).to(imageDistance.dtype) + textDistance * textDistance.le(tau).to(textDistance.dtype)
        return clipLoss(imageFeatures: image, textFeatures: text, logLogitScale: logLogitScale) - kept * 0.5
    }
}
