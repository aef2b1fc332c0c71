import Attacks
import CLIP
import Datasets
import Foundation
import Torch

// MARK: The metric

/// Where target images rank for a set of text queries (mmPoison's text→image metrics,
/// Yang et al., ICML 2023): each query ranks every gallery image by similarity, and the
/// query's MinRank is the 1-based rank of its best-ranked target image.
///
/// A query's MinRank = 1 + the number of gallery images scoring strictly higher than its best
/// target (ties go to the target). Hit@K = the share of queries with MinRank ≤ K. (mmPoison's
/// code counts ranks from 0, so its average MinRank is ours minus 1.)
public struct TargetRetrieval: Codable, Sendable, Equatable {
    /// Queries measured.
    public var queries: Int
    /// Gallery images each query ranked.
    public var gallery: Int
    /// Target images among them.
    public var targets: Int
    public var hitAt1: Double
    public var hitAt5: Double
    public var hitAt10: Double
    /// Mean and median over the queries of their MinRank.
    public var meanMinRank: Double
    public var medianMinRank: Double

    /// The figures from each query's MinRank.
    public init(minRanks: [Int], gallery: Int, targets: Int) {
        queries = minRanks.count
        self.gallery = gallery
        self.targets = targets
        func hit(_ k: Int) -> Double { minRanks.isEmpty ? 0 : Double(minRanks.filter { $0 <= k }.count) / Double(minRanks.count) }
        hitAt1 = hit(1); hitAt5 = hit(5); hitAt10 = hit(10)
        meanMinRank = minRanks.isEmpty ? 0 : Double(minRanks.reduce(0, +)) / Double(minRanks.count)
        let sorted = minRanks.sorted()
        medianMinRank = sorted.isEmpty ? 0
            : sorted.count % 2 == 1 ? Double(sorted[sorted.count / 2]) : Double(sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Hit@K for K = 1, 5, 10.
    public func hit(at k: Int) -> Double? { [1: hitAt1, 5: hitAt5, 10: hitAt10][k] }

    enum CodingKeys: String, CodingKey {
        case queries, gallery, targets
        case hitAt1 = "hit_at_1", hitAt5 = "hit_at_5", hitAt10 = "hit_at_10"
        case meanMinRank = "mean_min_rank", medianMinRank = "median_min_rank"
    }
}

/// Each query's MinRank (1-based) of the best-ranked target.
///
/// - Parameters:
///   - similarity: `[Q, G]` float: query q's similarity to gallery image g.
///   - targets: gallery indices of the target images (non-empty, each in `0..<G`).
/// - Returns: `Q` ranks in `1...G`.
public func targetMinRanks(similarity: Tensor, targets: [Int]) -> [Int] {
    precondition(similarity.rank == 2 && !targets.isEmpty, "targetMinRanks: needs [Q, G] scores and at least one target")
    let index = Tensor(targets.map(Int64.init), shape: [targets.count]).to(similarity.device)
    let best = similarity.indexSelect(dim: 1, indices: index).max(dim: 1, keepDim: true).values
    return similarity.gt(best).to(.int64).sum(dim: 1).toArray(as: Int64.self).map { Int($0) + 1 }
}

// MARK: Evaluating a poisoned model

/// One goal's figures: its attacked queries, and the control queries of the other classes.
public struct RetrievalGoalResult: Codable, Sendable, Equatable {
    /// `A:B`.
    public var goal: String
    /// Queries: the prompt templates filled with class A → the goal's target images.
    public var attacked: TargetRetrieval
    /// The label-free baseline in the same model (mmPoison's random-text row): the templates
    /// filled with every class other than A and B → the same target images.
    public var control: TargetRetrieval
    /// The goal's targeted success: most of its queries (≥ 50 %) put a target image in their
    /// top 10 (attacked Hit@10 ≥ 0.5), and more of them than of the control queries.
    public var succeeded: Bool

    public init(goal: String, attacked: TargetRetrieval, control: TargetRetrieval, succeeded: Bool) {
        self.goal = goal; self.attacked = attacked; self.control = control; self.succeeded = succeeded
    }

    enum CodingKeys: String, CodingKey { case goal, attacked, control, succeeded }
}

/// A retrieval attack's figures on an evaluation set.
public struct RetrievalAttackEvaluation: Codable, Sendable, Equatable {
    /// The attack's registry name (`pair-class`).
    public var attack: String
    /// Evaluation images ranked (with the one-image attack's image added).
    public var gallery: Int
    /// Prompt templates per class used as queries.
    public var templates: Int
    /// Per goal (pairing attacks) or the one goal `T:T` (caption trigger, where `attacked`
    /// holds the queries with the trigger and `control` the same queries without it).
    public var goals: [RetrievalGoalResult]

    public init(attack: String, gallery: Int, templates: Int, goals: [RetrievalGoalResult]) {
        self.attack = attack; self.gallery = gallery; self.templates = templates; self.goals = goals
    }

    /// The headline Hit@10: the mean of the goals' attacked Hit@10.
    public var hitAt10: Double { goals.isEmpty ? 0 : goals.map(\.attacked.hitAt10).reduce(0, +) / Double(goals.count) }
    /// The headline baseline: the mean of the goals' control Hit@10.
    public var controlHitAt10: Double { goals.isEmpty ? 0 : goals.map(\.control.hitAt10).reduce(0, +) / Double(goals.count) }

    enum CodingKeys: String, CodingKey { case attack, gallery, templates, goals }
}

/// Measures a retrieval attack (``PoisonManifest/attacksRetrieval``) on text→image retrieval
/// over a labelled evaluation set.
///
/// Gallery: the set's images (the first `limit`), plus for the one-image attack its target
/// image(s), preprocessed as evaluation images are. Queries: the set's prompt templates.
/// - Pairing goal A→B: attacked queries = templates filled with A; targets = the one image
///   (attack I) or the gallery's images of class B; control = templates filled with every
///   other class (not A, not B), same targets.
/// - Caption trigger on T: attacked = templates filled with each class other than T, the trigger
///   appended (`"a photo of a trouser. zx"`, as training appended it to captions); control = the
///   same queries without it; targets = the gallery's images of T.
///
/// - Throws: when a goal's class is not a class of the evaluation set, or images cannot be read.
public func evaluateRetrievalAttack(
    model: CLIPModel, tokenizer: CLIPTokenizer, dataset: any ClassificationDataset, manifest: PoisonManifest,
    batchSize: Int = 256, workers: Int = 2, limit: Int? = nil
) throws -> RetrievalAttackEvaluation {
    guard manifest.attacksRetrieval, let goals = manifest.goals, let attack = manifest.attack else {
        throw TorchError.invalidArgument("the manifest is a \(manifest.mode.rawValue) set, not a retrieval attack (pairing or caption trigger)")
    }
    let classes = dataset.classNames, templates = dataset.templates
    guard !templates.isEmpty else { throw TorchError.invalidArgument("the evaluation set has no prompt templates for the queries") }
    func index(_ name: String) throws -> Int {
        guard let i = classIndex(of: name, in: classes) else {
            throw TorchError.invalidArgument(
                "goal class '\(name)' is not a class of the evaluation set (classes: \(classes.joined(separator: ", ")))")
        }
        return i
    }
    var (features, labels) = try galleryFeatures(model: model, dataset: dataset, batchSize: batchSize, workers: workers, limit: limit)
    // The one-image attack's images join the gallery.
    var extra: [String: Int] = [:]
    let size = model.config.vision.imageSize
    for image in goals.flatMap({ $0.targetImages ?? [] }) where extra[image] == nil {
        let input = Preprocessing.resizeCenterCrop(size: size).apply(try decodeImage(atPath: image))
        let tensor = Tensor(input.chwFloats(), shape: [1, 3, size, size]).to(model.store.device)
        let feature = inferenceMode { model.encodeImage(tensor).to(.float32).normalized(dim: -1) }
        extra[image] = labels.count
        features = inferenceMode { Tensor.cat([features, feature], dim: 0) }
        labels.append(-1)
    }
    let gallery = labels.count
    func measure(_ queries: [String], targets: [Int]) -> TargetRetrieval {
        guard !targets.isEmpty, !queries.isEmpty else { return TargetRetrieval(minRanks: [], gallery: gallery, targets: targets.count) }
        let text = encodeTexts(queries, model: model, tokenizer: tokenizer, batchSize: batchSize)
        let similarity = inferenceMode { text.matmul(features.t) }
        return TargetRetrieval(minRanks: targetMinRanks(similarity: similarity, targets: targets), gallery: gallery, targets: targets.count)
    }
    func prompts(_ names: [String], suffix: String = "") -> [String] {
        names.flatMap { name in templates.map { PromptTemplates.fill($0, with: name) + suffix } }
    }
    var results: [RetrievalGoalResult] = []
    for goal in goals {
        let a = try index(goal.captionClass), b = try index(goal.imageClass)
        let targets = goal.targetImages.map { $0.compactMap { extra[$0] } } ?? labels.indices.filter { labels[$0] == b }
        let attacked: TargetRetrieval, control: TargetRetrieval
        if manifest.mode == .captionBackdoor {
            let others = classes.indices.filter { $0 != b }.map { classes[$0] }
            attacked = measure(prompts(others, suffix: " " + (manifest.captionTrigger ?? "")), targets: targets)
            control = measure(prompts(others), targets: targets)
        } else {
            attacked = measure(prompts([classes[a]]), targets: targets)
            control = measure(prompts(classes.indices.filter { $0 != a && $0 != b }.map { classes[$0] }), targets: targets)
        }
        results.append(RetrievalGoalResult(goal: "\(goal.captionClass):\(goal.imageClass)", attacked: attacked, control: control,
                                           succeeded: attacked.hitAt10 >= 0.5 && attacked.hitAt10 > control.hitAt10))
    }
    return RetrievalAttackEvaluation(attack: attack.rawValue, gallery: gallery, templates: templates.count, goals: results)
}

/// Normalised image features `[N, D]` float32 of the first `limit` images, with their labels.
func galleryFeatures(model: CLIPModel, dataset: any ClassificationDataset, batchSize: Int, workers: Int,
                     limit: Int?) throws -> (Tensor, [Int]) {
    let config = LoaderConfig(batchSize: batchSize, shuffle: false, dropLast: false, workers: workers, maxFailureFraction: 0,
                              preprocessing: .resizeCenterCrop(size: model.config.vision.imageSize))
    let subset: any ImageTextDataset = limit.map { PrefixDataset(base: dataset, count: min($0, dataset.count)) } ?? dataset
    let epoch = try DataLoader(dataset: subset, config: config).epoch(0)
    var features: [Tensor] = [], labels: [Int] = []
    try inferenceMode {
        while let batch = try epoch.next() {
            guard let batchLabels = batch.labels else { throw TorchError.invalidArgument("evaluation set has no class labels") }
            let images = Tensor(batch.images, shape: [batch.count, 3, batch.imageHeight, batch.imageWidth]).to(model.store.device)
            features.append(model.encodeImage(images).to(.float32).normalized(dim: -1))
            labels += batchLabels
        }
    }
    guard !features.isEmpty else { throw TorchError.invalidArgument("the evaluation set has no readable images") }
    return (inferenceMode { Tensor.cat(features, dim: 0) }, labels)
}

/// Normalised text features `[Q, D]` float32 of `texts`.
func encodeTexts(_ texts: [String], model: CLIPModel, tokenizer: CLIPTokenizer, batchSize: Int) -> Tensor {
    let context = model.config.text.contextLength
    return inferenceMode {
        var parts: [Tensor] = []
        for start in stride(from: 0, to: texts.count, by: max(batchSize, 1)) {
            let chunk = Array(texts[start..<min(start + batchSize, texts.count)])
            let ids = tokenizer.tokenize(batch: chunk, contextLength: context).map(Int64.init)
            parts.append(model.encodeText(Tensor(ids, shape: [chunk.count, context]).to(model.store.device)).to(.float32).normalized(dim: -1))
        }
        return Tensor.cat(parts, dim: 0)
    }
}
