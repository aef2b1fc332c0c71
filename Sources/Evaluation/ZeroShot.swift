import CLIP
import Datasets
import Foundation
import Torch

/// A zero-shot classifier: one normalised text embedding per class, averaged over prompt
/// templates (SPEC §1; port of open_clip's `zero_shot_classifier`).
public struct ZeroShotClassifier {
    /// `[D, C]` float32: column c is class c's averaged, renormalised text embedding.
    public let weights: Tensor
    public let classNames: [String]

    /// Encodes every class name in every template and averages per class.
    ///
    /// - Parameters:
    ///   - templates: prompts containing `{c}` where the class name goes.
    ///   - batchSize: prompts encoded per forward pass.
    public init(
        model: CLIPModel, tokenizer: CLIPTokenizer, classNames: [String], templates: [String], batchSize: Int = 512
    ) {
        precondition(!classNames.isEmpty && !templates.isEmpty, "ZeroShotClassifier: needs classes and templates")
        let context = model.config.text.contextLength
        weights = noGrad {
            var columns: [Tensor] = []
            for name in classNames {
                let prompts = templates.map { $0.replacingOccurrences(of: "{c}", with: name) }
                var features: [Tensor] = []
                for start in stride(from: 0, to: prompts.count, by: batchSize) {
                    let chunk = Array(prompts[start..<min(start + batchSize, prompts.count)])
                    let ids = tokenizer.tokenize(batch: chunk, contextLength: context).map(Int64.init)
                    let tokens = Tensor(ids, shape: [chunk.count, context]).to(model.store.device)
                    features.append(model.encodeText(tokens).to(.float32).normalized(dim: -1))
                }
                let mean = Tensor.cat(features, dim: 0).mean(dim: 0)
                columns.append(mean.normalized(dim: 0))
            }
            return Tensor.stack(columns, dim: 1)
        }
        self.classNames = classNames
    }

    /// Class scores of normalised image features `[N, D]`: `[N, C]`.
    public func scores(normalizedImageFeatures: Tensor) -> Tensor {
        normalizedImageFeatures.to(.float32).matmul(weights)
    }
}

/// The outcome of classifying a labelled set.
public struct ZeroShotResult: Sendable, Codable, Equatable {
    public var counts: TopKCounts
    /// Predicted class per evaluated item, in data-set order of evaluation.
    public var predictions: [Int]
    /// True class per evaluated item.
    public var labels: [Int]
    /// Data-set index per evaluated item.
    public var indices: [Int]
    /// Items that could not be loaded (skipped, not counted).
    public var skipped: Int

    public var top1: Double { counts.top1Accuracy }
    public var top5: Double { counts.top5Accuracy }
}

/// Classifies every image of `dataset` zero-shot.
///
/// - Parameters:
///   - imageTransform: applied to each preprocessed, model-size image with its data-set index
///     before normalisation (an attack's trigger, for ASR); nil for clean evaluation.
///   - limit: evaluate only the first `limit` items (in data-set order), for quick checks.
public func evaluateZeroShot(
    model: CLIPModel, classifier: ZeroShotClassifier, dataset: any ImageTextDataset, batchSize: Int = 256,
    workers: Int = 2, imageTransform: (@Sendable (RGBImage, Int) -> RGBImage)? = nil, limit: Int? = nil,
    precision: DType = .float32
) throws -> ZeroShotResult {
    let size = model.config.vision.imageSize
    let config = LoaderConfig(
        batchSize: batchSize, shuffle: false, dropLast: false, workers: workers, maxFailureFraction: 1,
        preprocessing: .resizeCenterCrop(size: size), afterPreprocessing: imageTransform)
    let subset: any ImageTextDataset = limit.map { PrefixDataset(base: dataset, count: min($0, dataset.count)) } ?? dataset
    let loader = try DataLoader(dataset: subset, config: config)
    let epoch = loader.epoch(0)
    var result = ZeroShotResult(counts: TopKCounts(), predictions: [], labels: [], indices: [], skipped: 0)
    try inferenceMode {
        while let batch = try epoch.next() {
            guard let labels = batch.labels else {
                throw TorchError.invalidArgument("evaluation set has no class labels")
            }
            let images = Tensor(batch.images, shape: [batch.count, 3, batch.imageHeight, batch.imageWidth])
                .to(model.store.device)
            let features = autocast(device: model.store.device, enabled: precision == .bfloat16) {
                model.encodeImage(images)
            }
            let scores = classifier.scores(normalizedImageFeatures: features.to(.float32).normalized(dim: -1))
            result.counts = result.counts + topKCounts(scores: scores, labels: labels)
            result.predictions += scores.argmax(dim: 1).toArray(as: Int64.self).map(Int.init)
            result.labels += labels
            result.indices += batch.indices
        }
    }
    result.skipped = epoch.report.skipped
    return result
}

/// The first `count` items of another data set.
struct PrefixDataset: ImageTextDataset {
    let base: any ImageTextDataset
    let count: Int
    var hasLabels: Bool { base.hasLabels }
    func record(at index: Int) throws(DataError) -> DataRecord { try base.record(at: index) }
    func sample(at index: Int) throws(DataError) -> DataSample { try base.sample(at: index) }
}

/// Image↔text retrieval recall@1/5/10 on a captioned CSV (row i's image matches row i's caption).
public func evaluateRetrieval(
    model: CLIPModel, tokenizer: CLIPTokenizer, csv: String, limit: Int? = nil, batchSize: Int = 256, workers: Int = 2
) throws -> RetrievalRecall {
    let dataset = try openDataset(atPath: csv)
    let subset: any ImageTextDataset = limit.map { PrefixDataset(base: dataset, count: min($0, dataset.count)) } ?? dataset
    let loader = try DataLoader(
        dataset: subset,
        config: LoaderConfig(
            batchSize: batchSize, shuffle: false, workers: workers, maxFailureFraction: 1,
            preprocessing: .resizeCenterCrop(size: model.config.vision.imageSize)))
    let epoch = loader.epoch(0)
    let context = model.config.text.contextLength
    var images: [Tensor] = [], texts: [Tensor] = []
    try inferenceMode {
        while let batch = try epoch.next() {
            let input = Tensor(batch.images, shape: [batch.count, 3, batch.imageHeight, batch.imageWidth]).to(model.store.device)
            images.append(model.encodeImage(input).to(.float32).normalized(dim: -1))
            let ids = tokenizer.tokenize(batch: batch.captions, contextLength: context).map(Int64.init)
            texts.append(
                model.encodeText(Tensor(ids, shape: [batch.count, context]).to(model.store.device)).to(.float32).normalized(dim: -1))
        }
    }
    guard !images.isEmpty else { throw DataError.invalidArgument("\(csv): no readable pairs for retrieval") }
    let similarity = inferenceMode { Tensor.cat(images).matmul(Tensor.cat(texts).t) }
    return retrievalRecall(similarity: similarity)
}
