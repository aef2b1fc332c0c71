import Datasets
import Foundation
import Torch

/// Settings of the encoder audit (DECREE, Feng et al., CVPR 2023; the defaults are those of the
/// reference implementation `GiantSeaweed/DECREE` for 32-pixel encoders, `main.py`).
public struct EncoderAuditOptions: Sendable, Equatable {
    /// A trigger counts as found once the mean pairwise cosine similarity of the triggered
    /// embeddings reaches this (DECREE: 0.99).
    public var successThreshold = 0.99
    /// Passes over the images at most (DECREE: 1000).
    public var maxEpochs = 1000
    /// Images per optimisation step (DECREE: 128 for 32-pixel encoders).
    public var batchSize = 128
    /// Adam's learning rate on the mask and pattern logits for the first 30 epochs; then a fifth
    /// of it until epoch 50 and a tenth after (DECREE: 0.5 → 0.1 → 0.05).
    public var learningRate = 0.5
    /// The L1 weight λ at the start and after a reset (DECREE: 1e-3).
    public var initialLambda = 1e-3
    /// λ is multiplied or divided by this after `patience` steps above or below the threshold (5).
    public var lambdaFactor = 5.0
    /// Below this λ, `2·patience` successful steps reset it to `initialLambda` (DECREE: 1e-5).
    public var lambdaMin = 1e-5
    /// Steps on one side of the threshold before λ moves (DECREE: 5).
    public var patience = 5
    /// Stop once an epoch's mean similarity is above the threshold and the smallest successful mask
    /// has not shrunk for more than this many steps (DECREE: 2·patience = 10).
    public var earlyStopPatience = 10
    /// Seeds the mask and pattern initialisation and the order of the images.
    public var seed: UInt64 = 0
    /// Invert a grey pattern (one value per pixel, the same in the three channels) instead of a
    /// colour one: for encoders trained on grey images, whose real triggers are grey too.
    public var grayPattern = false
    /// Side in pixels of the square cells the mask and pattern are made of (1: one value per pixel,
    /// DECREE's reference). With `cell = k` both are optimised on a `⌈H/k⌉ × ⌈W/k⌉` grid and
    /// nearest-upsampled to `H × W` (the last row and column of cells cropped), so the inversion cannot
    /// use a scattered pattern of single pixels; PL1 is still measured on the upsampled mask.
    public var maskCell = 1

    public init() {}
}

/// What the audit found for one encoder.
public struct EncoderAuditResult: Sendable, Codable, Equatable {
    /// The normalised mask size ‖m‖₁ / (H·W) of the smallest mask whose triggered batch reached the
    /// threshold, in [0, 1]; 1 when none did (the whole image is the trivial trigger).
    public var pl1: Double
    /// Whether any step reached the similarity threshold.
    public var reached: Bool
    /// The highest mean pairwise cosine similarity of a triggered batch seen.
    public var bestSimilarity: Double
    /// Optimisation steps taken and epochs (passes over the images) run.
    public var steps: Int
    public var epochs: Int
    /// Whether the run stopped early (threshold held and the mask stopped shrinking).
    public var stoppedEarly: Bool
    /// λ at the end.
    public var finalLambda: Double
    /// Wall-clock seconds of the optimisation.
    public var seconds: Double
    /// The mask `[H, W]` (row-major, values in [0, 1]) and pattern `[3, H, W]` (channel-major,
    /// pixel values in [0, 1]; `[1, H, W]` for a grey pattern) of the smallest successful trigger,
    /// or of the last step when none was.
    public var mask: [Float]
    public var pattern: [Float]
    public var height: Int
    public var width: Int
}

/// One step's figures, for a progress display.
public struct EncoderAuditStep: Sendable {
    public var step: Int
    public var epoch: Int
    /// The step's loss `−similarity + λ·3·Σm` (λ before its adjustment).
    public var loss: Double
    public var similarity: Double
    public var l1: Double
    public var lambda: Double
    public var learningRate: Double
    /// PL1 of the smallest successful mask so far, if any.
    public var bestPL1: Double?
}

/// DECREE's trigger inversion: find a mask `m` (`[H, W]`) and pattern `p` (`[3, H, W]`) such that
/// the encoder maps `(1 − m)·x + m·p` of every image `x` to nearly the same direction, with `m`
/// as small as possible. A backdoored encoder already has such a trigger (its own), so it needs a
/// much smaller mask than a clean one.
///
/// Both are tanh-parametrised as in the reference: `m = tanh(w)/(2 − ε) + 0.5`,
/// `p = tanh(q)/(2 − ε) + 0.5` with `ε = 1e-7`, clipped to [0, 1].
public enum EncoderAudit {
    static let epsilon = 1e-7

    /// The mask and pattern of logits `w` (`[H, W]`) and `q` (`[3, H, W]`, or `[1, H, W]` for a grey
    /// pattern), any float dtype.
    /// - Returns: `m` `[H, W]` and `p` of `q`'s shape, both in [0, 1], of the logits' dtype.
    public static func maskAndPattern(maskLogits w: Tensor, patternLogits q: Tensor) -> (mask: Tensor, pattern: Tensor) {
        let scale = 1 / (2 - epsilon)
        // tanh(±large)/(2 − ε) overshoots [0, 1] by 2.5e-8; the reference clips, so do we.
        return ((w.tanh() * scale + 0.5).clamped(min: 0, max: 1), (q.tanh() * scale + 0.5).clamped(min: 0, max: 1))
    }

    /// Nearest-neighbour upsampling of the last two dimensions by whole cells: `[..., h, w]` →
    /// `[..., height, width]` with every value repeated over a `cell × cell` block (blocks past
    /// `height` or `width` cropped). Needs `h·cell ≥ height` and `w·cell ≥ width`. Differentiable; the
    /// gradient of a cell is the sum of its pixels' gradients. Keeps the dtype.
    public static func upsampled(_ grid: Tensor, cell: Int, height: Int, width: Int) -> Tensor {
        if cell == 1 { return grid }
        let shape = grid.shape
        let lead = Array(shape.dropLast(2)), h = shape[shape.count - 2], w = shape[shape.count - 1]
        let blocks = grid.reshaped(lead + [h, 1, w, 1]).expanded(lead + [h, cell, w, cell]).reshaped(lead + [h * cell, w * cell])
        let rank = lead.count
        return blocks.narrowed(dim: rank, start: 0, length: height).narrowed(dim: rank + 1, start: 0, length: width)
    }

    /// The grid side of a mask of `cell`-pixel cells on `pixels` pixels: `⌈pixels / cell⌉`.
    public static func gridSize(_ pixels: Int, cell: Int) -> Int { (pixels + cell - 1) / cell }

    /// Mean pairwise cosine similarity of the rows of `embeddings` (`[N, D]`, N ≥ 2), the diagonal
    /// excluded (DECREE's `compute_self_cos_sim`). Returns a scalar of the input's dtype.
    public static func selfSimilarity(_ embeddings: Tensor) -> Tensor {
        let n = embeddings.size(0)
        let unit = embeddings.normalized(dim: -1)
        let total = unit.sum(dim: 0).square().sum()  // Σ_ij e_i·e_j
        let diagonal = unit.square().sum()  // Σ_i e_i·e_i
        return (total - diagonal) / Double(n * (n - 1))
    }

    /// The audit's loss `−selfSimilarity(f((1 − m)·x + m·p)) + λ·3·Σm` (the L1 norm of the mask
    /// spread over three channels, as in the reference) and its two parts.
    ///
    /// - Parameters:
    ///   - images: `[N, 3, H, W]` pixel values in [0, 1], of the logits' dtype.
    ///   - encode: the encoder on `[N, 3, H, W]` images in [0, 1] (normalisation is its business),
    ///     returning `[N, D]` embeddings.
    ///   - maskLogits: `[h, w]`, patternLogits: `[3 or 1, h, w]`; with `cell > 1` a grid of cells that
    ///     ``upsampled(_:cell:height:width:)`` brings to the images' `H × W` (`h = ⌈H/cell⌉`).
    /// - Returns: scalar tensors; `loss` is differentiable w.r.t. the logits.
    public static func loss(
        images: Tensor, maskLogits w: Tensor, patternLogits q: Tensor, lambda: Double, cell: Int = 1, encode: (Tensor) -> Tensor
    ) -> (loss: Tensor, similarity: Tensor, l1: Tensor) {
        let (mGrid, pGrid) = maskAndPattern(maskLogits: w, patternLogits: q)
        let height = images.size(2), width = images.size(3)
        let m = upsampled(mGrid, cell: cell, height: height, width: width)
        let p = upsampled(pGrid, cell: cell, height: height, width: width)
        let mask = m.unsqueezed(dim: 0).unsqueezed(dim: 0)  // [1, 1, H, W]
        let triggered = (images * (mask * -1.0 + 1.0) + mask * p.unsqueezed(dim: 0)).clamped(min: 0, max: 1)
        let similarity = selfSimilarity(encode(triggered).to(w.dtype))
        let l1 = m.sum() * 3.0
        return (similarity * -1.0 + l1 * lambda, similarity, l1)
    }

    /// Runs the inversion.
    ///
    /// - Parameters:
    ///   - images: `[N, 3, H, W]` float32 pixel values in [0, 1], N ≥ 2 (a few hundred unlabelled images).
    ///   - encode: the frozen encoder (see ``loss(images:maskLogits:patternLogits:lambda:encode:)``).
    ///   - progress: called after every step.
    /// - Throws: when fewer than two images are given.
    public static func run(
        images: Tensor, options: EncoderAuditOptions = EncoderAuditOptions(), encode: (Tensor) -> Tensor,
        progress: ((EncoderAuditStep) -> Void)? = nil
    ) throws -> EncoderAuditResult {
        let start = Date()
        guard images.rank == 4, images.size(1) == 3, images.size(0) >= 2 else {
            throw TorchError.invalidArgument("the audit needs at least 2 images of shape [N, 3, H, W], got \(images.shape)")
        }
        let count = images.size(0), height = images.size(2), width = images.size(3)
        let cell = options.maskCell
        guard cell >= 1, cell <= max(height, width) else {
            throw TorchError.invalidArgument("the mask cell must be within 1...\(max(height, width)) pixels for \(height)×\(width) images, got \(cell)")
        }
        let gridH = gridSize(height, cell: cell), gridW = gridSize(width, cell: cell)
        func full(_ pair: (mask: Tensor, pattern: Tensor)) -> (mask: Tensor, pattern: Tensor) {
            (upsampled(pair.mask, cell: cell, height: height, width: width), upsampled(pair.pattern, cell: cell, height: height, width: width))
        }
        let device = images.device
        let dtype = images.dtype
        // DECREE's 'rand' initialisation: m and p uniform in [0, 1), mapped back through the tanh.
        let generator = Generator(seed: options.seed)
        func logits(_ shape: [Int]) -> Tensor {
            let uniform = Tensor.rand(shape, dtype: .float64, generator: generator).toArray(as: Double.self)
            let values = uniform.map { Foundation.atanh(($0 - 0.5) * (2 - epsilon)) }
            return Tensor(values, shape: shape).to(dtype: dtype, device: device)
        }
        let w = logits([gridH, gridW]).requiringGrad()
        let q = logits([options.grayPattern ? 1 : 3, gridH, gridW]).requiringGrad()
        var adam = [AdamState(like: w), AdamState(like: q)]

        var lambda = options.initialLambda
        var upCount = 0, downCount = 0, lambdaSetCount = 0
        var bestL1 = Double.infinity, earlyStopBest = Double.infinity, earlyStopCount = 0
        var bestMask: [Float]?, bestPattern: [Float]?
        var bestSimilarity = -Double.infinity
        var step = 0, epochsRun = 0, stoppedEarly = false
        var rng = SplitMix64(seed: options.seed ^ 0x9E37_79B9_7F4A_7C15)
        let batch = max(2, min(options.batchSize, count))

        epochs: for epoch in 0..<options.maxEpochs {
            epochsRun = epoch + 1
            let lr = epoch < 30 ? options.learningRate : (epoch < 50 ? options.learningRate / 5 : options.learningRate / 10)
            var order = Array(0..<count)
            for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            var similarities: [Double] = []
            var offset = 0
            while offset < count {
                var end = min(offset + batch, count)
                if count - end == 1 { end = count }  // never leave a batch of one image
                let indices = Tensor(order[offset..<end].map(Int64.init), shape: [end - offset]).to(device)
                offset = end
                let x = images.indexSelect(dim: 0, indices: indices)
                let (loss, similarityTensor, l1Tensor) = withGrad {
                    EncoderAudit.loss(images: x, maskLogits: w, patternLogits: q, lambda: lambda, cell: cell, encode: encode)
                }
                let grads = gradients(of: [loss], withRespectTo: [w, q])
                guard let gw = grads[0], let gq = grads[1] else {
                    throw TorchError.invalidArgument("the encoder's output does not depend on its input images")
                }
                noGrad {
                    adam[0].step(w, grad: gw, lr: lr)
                    adam[1].step(q, grad: gq, lr: lr)
                }
                step += 1
                let similarity = similarityTensor.item(), l1 = l1Tensor.item(), lossValue = loss.item()
                similarities.append(similarity)
                bestSimilarity = max(bestSimilarity, similarity)
                let success = similarity > options.successThreshold
                if success && l1 < bestL1 {
                    // The mask and pattern this step was evaluated with (before the update).
                    bestL1 = l1
                    let (m, p) = noGrad { full(maskAndPattern(maskLogits: w - adam[0].lastUpdate, patternLogits: q - adam[1].lastUpdate)) }
                    bestMask = m.to(.float32).contiguous().toArray(as: Float.self)
                    bestPattern = p.to(.float32).contiguous().toArray(as: Float.self)
                }
                if bestL1.isFinite { earlyStopCount = bestL1 >= earlyStopBest ? earlyStopCount + 1 : 0 }
                earlyStopBest = min(bestL1, earlyStopBest)
                // DECREE's adaptive λ.
                if lambda < options.lambdaMin && success {
                    lambdaSetCount += 1
                    if lambdaSetCount > 2 * options.patience {
                        lambda = options.initialLambda
                        upCount = 0
                        downCount = 0
                    }
                } else {
                    lambdaSetCount = 0
                }
                if success {
                    upCount += 1
                    downCount = 0
                } else {
                    downCount += 1
                    upCount = 0
                }
                if upCount > options.patience {
                    if lambda < 1e5 { lambda *= options.lambdaFactor }
                    upCount = 0
                } else if downCount > options.patience {
                    if lambda >= options.lambdaMin { lambda /= options.lambdaFactor }
                    downCount = 0
                }
                progress?(EncoderAuditStep(
                    step: step, epoch: epoch, loss: lossValue, similarity: similarity, l1: l1, lambda: lambda, learningRate: lr,
                    bestPL1: bestL1.isFinite ? bestL1 / Double(3 * height * width) : nil))
            }
            let epochMean = similarities.reduce(0, +) / Double(max(1, similarities.count))
            if epochMean > options.successThreshold && earlyStopCount > options.earlyStopPatience {
                stoppedEarly = true
                break epochs
            }
        }
        let reached = bestMask != nil
        if !reached {
            let (m, p) = noGrad { full(maskAndPattern(maskLogits: w, patternLogits: q)) }
            bestMask = m.to(.float32).contiguous().toArray(as: Float.self)
            bestPattern = p.to(.float32).contiguous().toArray(as: Float.self)
        }
        return EncoderAuditResult(
            pl1: reached ? bestL1 / Double(3 * height * width) : 1, reached: reached, bestSimilarity: bestSimilarity,
            steps: step, epochs: epochsRun, stoppedEarly: stoppedEarly, finalLambda: lambda,
            seconds: Date().timeIntervalSince(start), mask: bestMask ?? [], pattern: bestPattern ?? [],
            height: height, width: width)
    }

    /// The audit's verdict: a mask smaller than `threshold` (PL1) means the encoder carries a
    /// trigger that collapses its embeddings.
    public static func isSuspicious(pl1: Double, threshold: Double) -> Bool { pl1 < threshold }
}

/// Adam with DECREE's betas (0.5, 0.9) on one tensor, updating it in place.
struct AdamState {
    var m: Tensor
    var v: Tensor
    var t = 0
    /// The last step's change (subtracted from the parameter), to recover the pre-step value.
    var lastUpdate: Tensor
    let beta1 = 0.5, beta2 = 0.9, eps = 1e-8

    init(like parameter: Tensor) {
        m = noGrad { parameter.detached().zerosLike() }
        v = noGrad { parameter.detached().zerosLike() }
        lastUpdate = m.copied()
    }

    mutating func step(_ parameter: Tensor, grad: Tensor, lr: Double) {
        t += 1
        m = m * beta1 + grad * (1 - beta1)
        v = v * beta2 + grad.square() * (1 - beta2)
        let mHat = m / (1 - Foundation.pow(beta1, Double(t)))
        let vHat = v / (1 - Foundation.pow(beta2, Double(t)))
        let update = mHat / (vHat.sqrt() + eps) * lr
        parameter.subInPlace(update)
        lastUpdate = update
    }
}

/// One square of a ``EncoderAudit/squareScan(images:side:stride:colors:encode:)``.
public struct SquareScanEntry: Sendable, Codable, Equatable {
    /// Top-left corner (row, column) in pixels and the side of the square.
    public var y: Int
    public var x: Int
    public var side: Int
    /// The square's colour, RGB in [0, 1].
    public var color: [Double]
    /// Mean pairwise cosine similarity of the embeddings of the images with the square pasted on.
    public var similarity: Double

    public init(y: Int, x: Int, side: Int, color: [Double], similarity: Double) {
        self.y = y
        self.x = x
        self.side = side
        self.color = color
        self.similarity = similarity
    }
}

extension EncoderAudit {
    /// The colours a square scan tries: five greys (0, ¼, ½, ¾, 1) and the six saturated colours.
    public static let scanColors: [[Double]] = [
        [0, 0, 0], [0.25, 0.25, 0.25], [0.5, 0.5, 0.5], [0.75, 0.75, 0.75], [1, 1, 1],
        [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 0],
    ]

    /// Pastes a uniform `side × side` square of every colour at every position on a `stride` grid
    /// (the last row and column flush with the image's edge) and measures the self-similarity of
    /// the pasted images' embeddings; no optimisation, so no adversarial scatter of pixels can
    /// answer. Returns the entries, best first.
    ///
    /// - Parameters:
    ///   - images: `[N, 3, H, W]` pixel values in [0, 1], N ≥ 2.
    ///   - encode: as in ``loss(images:maskLogits:patternLogits:lambda:cell:encode:)``; called without
    ///     gradients.
    public static func squareScan(
        images: Tensor, side: Int, stride: Int, colors: [[Double]] = scanColors, encode: (Tensor) -> Tensor
    ) throws -> [SquareScanEntry] {
        guard images.rank == 4, images.size(1) == 3, images.size(0) >= 2 else {
            throw TorchError.invalidArgument("the square scan needs at least 2 images of shape [N, 3, H, W], got \(images.shape)")
        }
        let height = images.size(2), width = images.size(3)
        guard side >= 1, side <= min(height, width), stride >= 1 else {
            throw TorchError.invalidArgument("the square's side must be within 1...\(min(height, width)) and the stride at least 1, got \(side) and \(stride)")
        }
        func starts(_ size: Int) -> [Int] {
            var s = Array(Swift.stride(from: 0, through: size - side, by: stride))
            if s.last != size - side { s.append(size - side) }
            return s
        }
        var entries: [SquareScanEntry] = []
        for y in starts(height) {
            for x in starts(width) {
                var maskValues = [Float](repeating: 0, count: height * width)
                for row in y..<(y + side) { for column in x..<(x + side) { maskValues[row * width + column] = 1 } }
                let mask = Tensor(maskValues, shape: [1, 1, height, width]).to(dtype: images.dtype, device: images.device)
                for color in colors {
                    let fill = Tensor(color, shape: [1, 3, 1, 1]).to(dtype: images.dtype, device: images.device)
                    let similarity = inferenceMode {
                        selfSimilarity(encode(images * (mask * -1.0 + 1.0) + mask * fill).to(.float64)).item()
                    }
                    entries.append(SquareScanEntry(y: y, x: x, side: side, color: color, similarity: similarity))
                }
            }
        }
        return entries.sorted { $0.similarity > $1.similarity }
    }
}

/// A square scan over several sides summarised as one label-free verdict (``EncoderAudit/scanSpike(_:)``).
public struct ScanSpike: Sendable {
    /// Per side: the best square's self-cos over the `rank`-th best's (the "spike" of the response).
    public var ratios: [(side: Int, ratio: Double)]
    /// The side whose best square reached the highest self-cos.
    public var bestSide: Int
    /// Robust z-score (``RobustScale``) of the best side's ratio against the other sides' ratios.
    public var z: Double
    /// `z` above the robust-z cut (3.5, as every label-free threshold of `detect`).
    public var backdoored: Bool
}

extension EncoderAudit {
    /// The rank of the square the best one is compared with in ``scanSpike(_:)``.
    public static let spikeRank = 5
    /// The robust-z cut of ``scanSpike(_:)``'s verdict.
    public static let spikeCut = 3.5

    /// A backdoor answers one square (its trigger's size, place and colour) far more than the next
    /// ones, where a clean encoder's best squares come in a flat run. For each side the best
    /// square's self-cos is divided by the ``spikeRank``-th best's; the verdict compares the ratio
    /// at the side with the highest self-cos with the other sides' ratios by a robust z-score,
    /// so each encoder is judged against itself, without clean reference encoders.
    ///
    /// - Parameter scans: per side, that side's entries best first (``squareScan(images:side:stride:colors:encode:)``);
    ///   at least 3 sides with ``spikeRank`` entries each.
    public static func scanSpike(_ scans: [(side: Int, entries: [SquareScanEntry])]) throws -> ScanSpike {
        guard scans.count >= 3, scans.allSatisfy({ $0.entries.count >= spikeRank }) else {
            throw TorchError.invalidArgument("the scan's verdict needs at least 3 sides with \(spikeRank) squares each, got \(scans.map { "\($0.side): \($0.entries.count)" }.joined(separator: ", "))")
        }
        let ratios = scans.map { (side: $0.side, ratio: $0.entries[0].similarity / $0.entries[spikeRank - 1].similarity) }
        let best = scans.indices.max { scans[$0].entries[0].similarity < scans[$1].entries[0].similarity }!
        let others = ratios.indices.filter { $0 != best }.map { ratios[$0].ratio }
        let z = RobustScale(others).z(ratios[best].ratio)
        return ScanSpike(ratios: ratios, bestSide: scans[best].side, z: z, backdoored: z > spikeCut)
    }
}

