import Attacks
import CLIP
import Datasets
import Foundation
import NN
import Torch
import Training

/// The images and captions BadCLIP's patch is optimised on, drawn from the clean training set.
public struct PatchOptimizationData {
    /// Non-target training images at the model's geometry (the images the patch is pasted on).
    public var images: [RGBImage]
    /// Each image's row in the training CSV (picks random patch positions).
    public var rows: [Int]
    /// Target-class images at the model's geometry (the triplet's positives).
    public var targetImages: [RGBImage]
    /// Distinct captions naming the target (the CLIP loss pairs each patched image with one).
    public var targetCaptions: [String]
    /// Non-target rows there were to draw from.
    public var eligible: Int

    public init(images: [RGBImage], rows: [Int], targetImages: [RGBImage], targetCaptions: [String], eligible: Int) {
        self.images = images; self.rows = rows; self.targetImages = targetImages; self.targetCaptions = targetCaptions
        self.eligible = eligible
    }

    /// At most this many target-class images serve as positives.
    public static let maximumTargetImages = 2_000

    /// Reads the training CSV: `count` non-target images drawn from `seed` (rows whose caption
    /// does not name the target and whose label, where the data has labels, is not the target's:
    /// the rows `clipguard poison` draws its sources from), the target's images (rows whose
    /// caption names it, at most ``maximumTargetImages``) and its distinct captions.
    ///
    /// - Throws: ``AttackError`` when no caption names the target or no image is left.
    public static func load(
        dataPath: String, target: String, geometry: ModelGeometry, count: Int, seed: UInt64, csvOptions: CSVOptions = CSVOptions()
    ) throws(AttackError) -> PatchOptimizationData {
        let dataset: CSVDataset
        var records: [DataRecord] = []
        do {
            dataset = try CSVDataset(path: dataPath, options: csvOptions)
            records.reserveCapacity(dataset.count)
            for i in 0..<dataset.count { records.append(try dataset.record(at: i)) }
        } catch { throw .data(error) }
        let naming = records.indices.filter { CaptionMatcher.names(records[$0].caption, target: target) }
        guard !naming.isEmpty else {
            throw .insufficientData(path: dataPath, reason: "no caption names \"\(target)\"; the optimised patch needs the target's captions and images")
        }
        var votes: [Int: Int] = [:]
        for i in naming { if let l = records[i].label { votes[l, default: 0] += 1 } }
        let targetLabel = votes.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
        let namingSet = Set(naming)
        let candidates = records.indices.filter { !namingSet.contains($0) && (targetLabel == nil || records[$0].label != targetLabel) }
        guard !candidates.isEmpty else {
            throw .insufficientData(path: dataPath, reason: "every row is of \"\(target)\"; the optimised patch needs non-target images")
        }
        var rng = SplitMix64(seed: seed).derived(1)
        let chosen = Array(shuffledPrefix(candidates, count: min(count, candidates.count), rng: &rng))
        var positivesRNG = SplitMix64(seed: seed).derived(2)
        let positives = Array(shuffledPrefix(naming, count: min(maximumTargetImages, naming.count), rng: &positivesRNG)).sorted()
        func image(_ row: Int) throws(AttackError) -> RGBImage {
            do { return geometry.preprocessing.apply(try dataset.sample(at: row).image) } catch { throw .data(error) }
        }
        var images: [RGBImage] = [], targetImages: [RGBImage] = []
        for row in chosen { images.append(try image(row)) }
        for row in positives { targetImages.append(try image(row)) }
        var seen: Set<String> = []
        let captions = naming.map { records[$0].caption }.filter { seen.insert($0).inserted }
        return PatchOptimizationData(images: images, rows: chosen, targetImages: targetImages, targetCaptions: captions,
                                     eligible: candidates.count)
    }

    static func shuffledPrefix(_ items: [Int], count: Int, rng: inout SplitMix64) -> ArraySlice<Int> {
        var copy = items
        for i in 0..<min(count, copy.count) {
            copy.swapAt(i, i + Int(rng.next() % UInt64(copy.count - i)))
        }
        return copy.prefix(count)
    }
}

/// What an optimisation did: for the log, the README and tests.
public struct PatchOptimizationRecord: Sendable, Codable, Equatable {
    public var steps: Int
    public var passes: Int
    public var images: Int
    public var side: Int
    public var seconds: Double
    /// Mean terms over the first and the last pass (unweighted).
    public var firstClipLoss: Double, lastClipLoss: Double
    public var firstTripletLoss: Double, lastTripletLoss: Double

    enum CodingKeys: String, CodingKey {
        case steps, passes, images, side, seconds
        case firstClipLoss = "first_clip_loss", lastClipLoss = "last_clip_loss"
        case firstTripletLoss = "first_triplet_loss", lastTripletLoss = "last_triplet_loss"
    }

    public var description: String {
        String(format: "optimised a %d×%d patch in %d steps (%d passes over %d images) in %@: CLIP loss %.4f → %.4f, triplet loss %.4f → %.4f",
               side, side, steps, passes, images, formatDuration(seconds), firstClipLoss, lastClipLoss, firstTripletLoss, lastTripletLoss)
    }
}

/// Optimises BadCLIP's patch through a surrogate CLIP model (``BadCLIPLoss``): Adam on the
/// patch's values (`[3, s, s]`, started at ``OptimizedPatchTrigger/initialPatch(side:seed:)``),
/// clipped to [0, 1] where it is pasted; the surrogate stays fixed in evaluation mode.
///
/// Every pass visits the images in a seeded order, in batches of `batch` (a last, smaller batch
/// is dropped); each image is paired with a target caption and a target image drawn from the
/// seed. The clean features and the captions' features are computed once. Deterministic on the
/// CPU for a given seed and thread count.
public struct PatchOptimizer {
    public let model: CLIPModel
    public let tokenizer: CLIPTokenizer
    /// Where progress goes (a redrawn bar on a terminal, lines otherwise); nil: silent.
    public var reporter: ProgressReporter?

    public init(model: CLIPModel, tokenizer: CLIPTokenizer, reporter: ProgressReporter? = nil) {
        self.model = model; self.tokenizer = tokenizer; self.reporter = reporter
    }

    /// The `[B, 3, S, S]` float tensor of `images` with values in [0, 1].
    static func pixelTensor(_ images: [RGBImage]) -> Tensor {
        let side = images[0].width, plane = 3 * side * images[0].height
        var buffer = [Float](repeating: 0, count: images.count * plane)
        let unit = Normalization(mean: [0, 0, 0], std: [1, 1, 1])
        for (i, image) in images.enumerated() { image.writeCHWFloats(into: &buffer, offset: i * plane, normalization: unit) }
        return Tensor(buffer, shape: [images.count, 3, images[0].height, side])
    }

    /// Unit image features of `images` (no gradient), `[N, D]`.
    func features(_ images: [RGBImage], batch: Int) -> Tensor {
        noGrad {
            var parts: [Tensor] = []
            var start = 0
            while start < images.count {
                let end = min(images.count, start + batch)
                let x = BadCLIPLoss.normalizeForCLIP(Self.pixelTensor(Array(images[start..<end])))
                parts.append(model.encodeImage(x, training: false).normalized(dim: -1))
                start = end
            }
            return Tensor.cat(parts)
        }
    }

    /// Unit text features of `captions` (no gradient), `[M, D]`.
    func textFeatures(_ captions: [String], batch: Int) -> Tensor {
        noGrad {
            let length = model.config.text.contextLength
            var parts: [Tensor] = []
            var start = 0
            while start < captions.count {
                let end = min(captions.count, start + batch)
                let ids = tokenizer.tokenize(batch: Array(captions[start..<end]), contextLength: length).map(Int64.init)
                let tokens = Tensor(ids, shape: [end - start, length])
                parts.append(model.encodeText(tokens, training: false).normalized(dim: -1))
                start = end
            }
            return Tensor.cat(parts)
        }
    }

    /// The optimised trigger: `trigger` (its settings and seed) with the patch found on `data`.
    ///
    /// - Parameters:
    ///   - trigger: the settings (``OptimizedPatchTrigger/init(options:seed:)``).
    ///   - data: the images and captions (``PatchOptimizationData/load(dataPath:target:geometry:count:seed:csvOptions:)``),
    ///     at the surrogate's input size.
    ///   - surrogate: recorded in the trigger (the checkpoint's path).
    public func optimize(_ trigger: OptimizedPatchTrigger, data: PatchOptimizationData, surrogate: String)
        throws(AttackError) -> (trigger: OptimizedPatchTrigger, record: PatchOptimizationRecord)
    {
        let size = model.config.vision.imageSize
        guard let first = data.images.first, !data.targetImages.isEmpty, !data.targetCaptions.isEmpty else {
            throw .invalidSetting("the optimised patch needs non-target images, target images and target captions")
        }
        guard first.width == size && first.height == size else {
            throw .invalidSetting("--surrogate takes \(size)×\(size) px inputs but the images are \(first.width)×\(first.height); give --image-size \(size) or a surrogate of the poisoned images' size")
        }
        let start = Date()
        let side = trigger.size.resolved(side: size)
        let batch = min(trigger.batch, data.images.count)
        guard batch >= 2 else {
            throw .invalidSetting("\(OptimizedPatchTrigger.batch.flag): the CLIP loss needs batches of at least 2 images, and there is \(data.images.count)")
        }
        let stepsPerPass = data.images.count / batch
        let totalSteps = stepsPerPass * trigger.passes
        let parameters = model.store.stateDict()
        let wasTrainable = parameters.map { $0.tensor.requiresGrad }
        for p in parameters { p.tensor.requiresGrad = false }
        defer { for (p, flag) in zip(parameters, wasTrainable) { p.tensor.requiresGrad = flag } }

        let clean = features(data.images, batch: 256)
        let positives = features(data.targetImages, batch: 256)
        let captions = textFeatures(data.targetCaptions, batch: 256)
        let logScale = model.logLogitScale.detached()
        let patch = Tensor(OptimizedPatchTrigger.initialPatch(side: side, seed: trigger.seed), shape: [3, side, side]).requiringGrad()
        let optimizer = AdamW(groups: [ParameterGroup([("patch", patch)], weightDecay: 0)], learningRate: trigger.learningRate, fused: false)
        let squares = data.rows.map { trigger.regions(width: size, height: size, index: $0) }

        var rng = SplitMix64(seed: trigger.seed).derived(0x5e1ec7)
        var firstMeans = (0.0, 0.0), lastMeans = (0.0, 0.0)
        var step = 0
        let sessionStart = Date()
        for pass in 0..<trigger.passes {
            let order = Array(PatchOptimizationData.shuffledPrefix(Array(data.images.indices), count: data.images.count, rng: &rng))
            var sums = (0.0, 0.0)
            for b in 0..<stepsPerPass {
                let chosen = Array(order[(b * batch)..<((b + 1) * batch)])
                let captionRows = chosen.map { _ in Int64(rng.next() % UInt64(data.targetCaptions.count)) }
                let positiveRows = positiveDraw(count: batch, pool: data.targetImages.count, rng: &rng)
                let images = Self.pixelTensor(chosen.map { data.images[$0] })
                let patched = BadCLIPLoss.paste(images, patch: patch, squares: chosen.map { squares[$0] })
                let features = model.encodeImage(BadCLIPLoss.normalizeForCLIP(patched), training: false).normalized(dim: -1)
                let terms = BadCLIPLoss.terms(
                    patched: features, captions: captions.indexSelect(dim: 0, indices: Tensor(captionRows, shape: [batch])),
                    positives: positives.indexSelect(dim: 0, indices: Tensor(positiveRows, shape: [batch])),
                    clean: clean.indexSelect(dim: 0, indices: Tensor(chosen.map(Int64.init), shape: [batch])),
                    logLogitScale: logScale, clipWeight: trigger.clipWeight, tripletWeight: trigger.tripletWeight,
                    margin: trigger.tripletMargin)
                optimizer.zeroGrad()
                terms.total.backward()
                optimizer.step()
                let (clip, triplet) = (terms.clip.item(), terms.triplet.item())
                guard clip.isFinite && triplet.isFinite else {
                    throw .invalidSetting("the patch's loss is not finite at step \(step + 1); lower \(OptimizedPatchTrigger.learningRate.flag)")
                }
                sums.0 += clip; sums.1 += triplet
                step += 1
                let elapsed = Date().timeIntervalSince(sessionStart)
                reporter?.update(
                    ProgressReporter.Step(
                        epoch: pass, epochs: trigger.passes, stepInEpoch: b + 1, stepsPerEpoch: stepsPerPass, globalStep: step,
                        totalSteps: totalSteps, loss: terms.total.item(), pairsPerSecond: Double(step * batch) / max(elapsed, 1e-9),
                        learningRate: trigger.learningRate, phase: "patch"),
                    stepsThisSession: step, secondsThisSession: elapsed)
            }
            let means = (sums.0 / Double(stepsPerPass), sums.1 / Double(stepsPerPass))
            if pass == 0 { firstMeans = means }
            lastMeans = means
        }
        reporter?.finish()
        let final = noGrad { patch.clamped(min: 0, max: 1) }.toArray(as: Float.self)
        let plane = side * side
        var pixels = [UInt8](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 { pixels[3 * i + c] = UInt8((Double(final[c * plane + i]) * 255).rounded()) }
        }
        let record = PatchOptimizationRecord(
            steps: step, passes: trigger.passes, images: data.images.count, side: side, seconds: Date().timeIntervalSince(start),
            firstClipLoss: firstMeans.0, lastClipLoss: lastMeans.0, firstTripletLoss: firstMeans.1, lastTripletLoss: lastMeans.1)
        return (trigger.with(patch: pixels, side: side, surrogate: surrogate), record)
    }

    /// `count` rows of a pool of `pool`: without repetition where the pool is large enough
    /// (BadCLIP's `randperm(n)[:64]`), else with.
    func positiveDraw(count: Int, pool: Int, rng: inout SplitMix64) -> [Int64] {
        if pool >= count {
            return PatchOptimizationData.shuffledPrefix(Array(0..<pool), count: count, rng: &rng).map(Int64.init)
        }
        return (0..<count).map { _ in Int64(rng.next() % UInt64(pool)) }
    }
}
