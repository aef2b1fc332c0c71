import Torch

/// The contrastive losses of the defences, on embedding tensors.
///
/// All features are `[B, D]` floating-point rows, L2-normalised by the caller (the model's
/// outputs already are). `logitScale` is the model's learnable *log* scale (a scalar tensor): every
/// loss multiplies similarities by `exp(logitScale)`, as the reference codes do — SafeCLIP's
/// unimodal loss uses the CLIP temperature too, not a fixed NT-Xent temperature. Targets are
/// `arange(B)`; cross-entropy is averaged over the batch. Gradients flow into every argument
/// except memory-bank and pool entries, which are detached.
///
/// ```swift
/// let loss = DefenseLoss.unimodal(image1: i1, image2: i2, text1: t1, text2: t2, logitScale: scale)
/// loss.backward()
/// ```
///
/// ### See Also
/// - ``NearestNeighborBank``
/// - ``RoCLIPPool``
public enum DefenseLoss {
    /// `CE(exp(logitScale) · rows · columnsᵀ, arange B)`: one direction of InfoNCE.
    ///
    /// - Parameters:
    ///   - rows: `[B, D]` anchors (the logits' rows).
    ///   - columns: `[B, D]` candidates; row `i`'s positive is column `i`.
    ///   - logitScale: scalar log scale.
    /// - Returns: a scalar.
    public static func infoNCE(rows: Tensor, columns: Tensor, logitScale: Tensor) -> Tensor {
        precondition(rows.rank == 2 && rows.shape == columns.shape, "infoNCE needs equal [B, D] shapes, got \(rows.shape) and \(columns.shape)")
        let logits = logitScale.exp() * rows.matmul(columns.t)
        return crossEntropy(logits, target: targets(rows.size(0), device: rows.device))
    }

    /// The CLIP loss `½[CE(s·I·Tᵀ) + CE(s·T·Iᵀ)]` (SPEC §1).
    ///
    /// - Parameters:
    ///   - image: `[B, D]` normalised image features.
    ///   - text: `[B, D]` normalised text features; pair `i` is (`image[i]`, `text[i]`).
    ///   - logitScale: scalar log scale.
    /// - Returns: a scalar.
    public static func clip(image: Tensor, text: Tensor, logitScale: Tensor) -> Tensor {
        precondition(image.rank == 2 && image.shape == text.shape, "clip loss needs equal [B, D] shapes, got \(image.shape) and \(text.shape)")
        let logits = logitScale.exp() * image.matmul(text.t)
        let target = targets(image.size(0), device: image.device)
        return (crossEntropy(logits, target: target) + crossEntropy(logits.t, target: target)) * 0.5
    }

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
    ///   - logitScale: scalar log scale.
    /// - Returns: a scalar.
    public static func unimodal(image1: Tensor, image2: Tensor, text1: Tensor, text2: Tensor, logitScale: Tensor) -> Tensor {
        (infoNCE(rows: image2, columns: image1, logitScale: logitScale)
            + infoNCE(rows: text2, columns: text1, logitScale: logitScale)) * 0.5
    }

    /// SafeCLIP's unimodal loss with NNCLR banks: looks up the nearest entries of the first views,
    /// computes ``unimodal(image1:image2:text1:text2:logitScale:)`` against them, then enqueues
    /// the first views (the reference order: look up, then update, in one call).
    ///
    /// - Parameters:
    ///   - imageBank: bank of image embeddings, updated with `image1`.
    ///   - textBank: bank of text embeddings, updated with `text1`.
    ///   - image1, image2, text1, text2: `[B, D]` views as in the bank-free form.
    ///   - logitScale: scalar log scale.
    /// - Returns: a scalar; `image1` and `text1` receive no gradient.
    public static func unimodal(
        image1: Tensor, image2: Tensor, text1: Tensor, text2: Tensor, logitScale: Tensor,
        imageBank: NearestNeighborBank, textBank: NearestNeighborBank
    ) -> Tensor {
        let nearestImage = imageBank.nearest(to: image1)
        let nearestText = textBank.nearest(to: text1)
        imageBank.enqueue(image1)
        textBank.enqueue(text1)
        return unimodal(image1: nearestImage, image2: image2, text1: nearestText, text2: text2, logitScale: logitScale)
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
    ///   - logitScale: scalar log scale.
    /// - Returns: a scalar.
    public static func crossAugmentedCLIP(image1: Tensor, image2: Tensor, text1: Tensor, text2: Tensor, logitScale: Tensor) -> Tensor {
        (infoNCE(rows: image1, columns: text2, logitScale: logitScale)
            + infoNCE(rows: text1, columns: image2, logitScale: logitScale)) * 0.5
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
    ///   - logitScale: scalar log scale.
    ///   - lambda: in-modal weight λ.
    ///   - clipWeight: weight of the CLIP term.
    /// - Returns: a scalar.
    public static func cleanCLIP(
        image: Tensor, text: Tensor, augmentedImage: Tensor, augmentedText: Tensor, logitScale: Tensor,
        lambda: Double = 1, clipWeight: Double = 1
    ) -> Tensor {
        let inModal = (infoNCE(rows: image, columns: augmentedImage, logitScale: logitScale)
            + infoNCE(rows: text, columns: augmentedText, logitScale: logitScale)) * 0.5
        return clip(image: image, text: text, logitScale: logitScale) * clipWeight + inModal * lambda
    }

    /// RoCLIP's loss in a matching epoch: each image is paired with its nearest pool caption
    /// embedding instead of its own caption, then the CLIP loss is taken; the pool is then
    /// updated with the batch's own text embeddings.
    ///
    /// As BigML-CS-UCLA/RoCLIP model/src/train.py (`get_loss`): look-up uses the pool before the
    /// update; the matched captions carry no gradient, so only the image side learns in these epochs.
    ///
    /// - Parameters:
    ///   - image: `[B, D]` image features.
    ///   - text: `[B, D]` the batch's own text features (enqueued, not scored).
    ///   - logitScale: scalar log scale.
    ///   - pool: the caption pool.
    /// - Returns: a scalar.
    public static func roclipMatched(image: Tensor, text: Tensor, logitScale: Tensor, pool: RoCLIPPool) -> Tensor {
        let matched = pool.nearest(to: image)
        pool.enqueue(text)
        return clip(image: image, text: matched, logitScale: logitScale)
    }

    static func targets(_ count: Int, device: Device) -> Tensor {
        Tensor.arange(0, Double(count), dtype: .int64, device: device)
    }
}
