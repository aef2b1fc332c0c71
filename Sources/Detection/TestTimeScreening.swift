import Datasets
import Foundation
import Torch

/// Class descriptions for BDetCLIP-style screening (Niu et al., ICML 2025): per class, benign
/// descriptions (what the class looks like) and malignant ones (the class name with random,
/// unrelated content). BDetCLIP asks GPT-4 for them; here they are built from ClipGuard's own
/// zero-shot prompt templates, class synonyms (the built-in caption synonyms, or WordNet's), an
/// adjective list and a fixed list of unrelated words.
public struct ScreeningDescriptions: Sendable, Equatable {
    public var classNames: [String]
    /// `benign[c]`: descriptions of class c.
    public var benign: [[String]]
    /// `malignant[c]`: class-perturbed descriptions of class c.
    public var malignant: [[String]]

    /// Words unrelated to any image class, for the malignant descriptions.
    public static let unrelatedWords = [
        "volcano", "violin", "submarine", "pineapple", "galaxy", "tractor", "honey", "glacier", "parrot",
        "cathedral", "thunderstorm", "calculator", "octopus", "lighthouse", "cactus", "satellite", "waterfall",
        "chessboard", "locomotive", "jellyfish", "telescope", "avalanche", "harpsichord", "meteor", "walrus",
        "accordion", "mushroom", "windmill", "tornado", "asteroid", "saxophone", "canyon", "typewriter",
        "flamingo", "igloo", "microscope", "pyramid", "hedgehog", "trombone", "geyser",
    ]

    /// Builds the descriptions.
    ///
    /// - Parameters:
    ///   - classNames: the zero-shot class names.
    ///   - templates: prompts with `{c}` where the class word goes.
    ///   - synonyms: per class, words for it (nil: the class name and its WordNet synonyms).
    ///   - adjectives: words that may precede the class word.
    ///   - wordNet: synonym source when `synonyms` is nil (nil: the class name alone).
    ///   - perClass: descriptions of each kind per class (a seeded sample of the combinations).
    public static func build(
        classNames: [String], templates: [String], synonyms: [[String]]? = nil, adjectives: [String],
        wordNet: WordNet? = nil, perClass: Int = 40, seed: UInt64 = 0
    ) -> ScreeningDescriptions {
        var rng = SplitMix64(seed: seed)
        var benign: [[String]] = [], malignant: [[String]] = []
        for (c, name) in classNames.enumerated() {
            var words = synonyms.map { c < $0.count ? $0[c] : [name] } ?? [name]
            if synonyms == nil, let wordNet {
                words += wordNet.synonyms(of: name).map { $0.replacingOccurrences(of: "_", with: " ") }.prefix(5)
            }
            if !words.contains(name) { words.insert(name, at: 0) }
            var combinations: [String] = []
            for template in templates {
                for word in words {
                    combinations.append(template.replacingOccurrences(of: "{c}", with: word))
                    for adjective in adjectives {
                        combinations.append(template.replacingOccurrences(of: "{c}", with: "\(adjective) \(word)"))
                    }
                }
            }
            let chosen = sample(combinations, count: perClass, rng: &rng)
            benign.append(chosen)
            malignant.append(chosen.map { description in
                let a = unrelatedWords[Int(rng.next() % UInt64(unrelatedWords.count))]
                let b = unrelatedWords[Int(rng.next() % UInt64(unrelatedWords.count))]
                let stem = description.hasSuffix(".") ? String(description.dropLast()) : description
                return "\(stem), which is a \(a) made of \(b)."
            })
        }
        return ScreeningDescriptions(classNames: classNames, benign: benign, malignant: malignant)
    }

    static func sample(_ items: [String], count: Int, rng: inout SplitMix64) -> [String] {
        guard items.count > count else { return items }
        var pool = items
        for i in 0..<count { pool.swapAt(i, i + Int(rng.next() % UInt64(pool.count - i))) }
        return Array(pool[0..<count])
    }
}

/// Scores of images presented to a trained model at test time (higher = more likely triggered).
public enum TestTimeScreening {
    /// BDetCLIP-style scores: the image's mean cosine similarity to a class's benign descriptions
    /// minus that to its malignant descriptions, negated (a triggered image is insensitive to both,
    /// so its difference is small).
    ///
    /// - Parameters:
    ///   - images: `[N, D]` image embeddings (any norm; normalised here).
    ///   - benign, malignant: `[T, D]` description embeddings with `benignClass`/`malignantClass`
    ///     (`[T]`, class indices in `0..<classes`).
    /// - Returns: per image, `predicted`: −(B − M) of the class whose benign descriptions it is
    ///   closest to; `allClasses`: −(B − M) averaged over the classes.
    public static func bdetScores(
        images: Tensor, benign: Tensor, benignClass: [Int], malignant: Tensor, malignantClass: [Int], classes: Int
    ) -> (predicted: [Double], allClasses: [Double]) {
        noGrad {
            let x = images.to(.float64).normalized(dim: -1)
            let b = classMeans(x.matmul(benign.to(.float64).normalized(dim: -1).t), classOf: benignClass, classes: classes)
            let m = classMeans(x.matmul(malignant.to(.float64).normalized(dim: -1).t), classOf: malignantClass, classes: classes)
            let difference = b - m  // [N, C]
            let predicted = b.argmax(dim: 1, keepDim: true)
            let atPredicted = difference.gather(dim: 1, indices: predicted).squeezed(dim: 1)
            return (
                (atPredicted * -1.0).toArray(as: Double.self),
                (difference.mean(dim: 1) * -1.0).toArray(as: Double.self)
            )
        }
    }

    /// `[N, T]` similarities → `[N, C]` mean per class.
    static func classMeans(_ similarities: Tensor, classOf: [Int], classes: Int) -> Tensor {
        var weights = [Double](repeating: 0, count: classOf.count * classes)
        var counts = [Int](repeating: 0, count: classes)
        for c in classOf { counts[c] += 1 }
        for (t, c) in classOf.enumerated() { weights[t * classes + c] = 1 / Double(counts[c]) }
        return similarities.matmul(Tensor(weights, shape: [classOf.count, classes]))
    }

    /// DAO (Huang et al., ICLR 2025; `backdoor_sample_detector/dao.py`): for each query, the mean
    /// over its k nearest reference embeddings n of `LID(n) · log(d_k(query) / d_k(n))`, where
    /// d_k is the Euclidean distance to the (k+1)-th nearest reference point (the reference's
    /// indexing; a reference point's own distance excluded) and LID the maximum-likelihood local
    /// intrinsic dimension over the k nearer ones. A point in a sparse neighbourhood scores high.
    ///
    /// A minimal private version for test-time screening; `detect`'s DAO detector computes the same
    /// quantity over training pairs (to be unified).
    ///
    /// - Parameters:
    ///   - queries: `[N, D]` embeddings to score.
    ///   - reference: `[R, D]` clean embeddings, R ≥ k + 2.
    ///   - leaveOneOut: the queries are the reference itself (each excludes its own row).
    /// - Returns: `[N]` scores.
    public static func daoScores(queries: Tensor, reference: Tensor, k: Int = 16, leaveOneOut: Bool = false) -> [Double] {
        noGrad {
            let r = reference.to(.float64)
            let rr = sortedDistances(r, r, excludeDiagonal: true, keep: k + 1)
            let refDk = rr.values.select(dim: 1, index: k)  // [R]
            let refLID = lid(rr.values, k: k)  // [R]
            let q = queries.to(.float64)
            let qr = sortedDistances(q, r, excludeDiagonal: leaveOneOut, keep: k + 1)
            let dk = qr.values.select(dim: 1, index: k).unsqueezed(dim: 1)  // [N, 1]
            let neighbours = qr.indices.narrowed(dim: 1, start: 0, length: k).contiguous()  // [N, k]
            let flat = neighbours.flattened()
            let n = queries.size(0)
            let neighbourDk = refDk.indexSelect(dim: 0, indices: flat).reshaped([n, k])
            let neighbourLID = refLID.indexSelect(dim: 0, indices: flat).reshaped([n, k])
            let scores = (neighbourLID * (dk / neighbourDk).log()).mean(dim: 1)
            return scores.toArray(as: Double.self).map { $0.isNaN || $0.isInfinite ? ($0 < 0 ? 0 : 1000) : $0 }
        }
    }

    /// The `keep` smallest Euclidean distances from each row of `a` to the rows of `b`, ascending.
    static func sortedDistances(_ a: Tensor, _ b: Tensor, excludeDiagonal: Bool, keep: Int) -> (values: Tensor, indices: Tensor) {
        let squared = a.square().sum(dim: 1, keepDim: true) + b.square().sum(dim: 1).unsqueezed(dim: 0) - a.matmul(b.t) * 2.0
        var distances = squared.clamped(min: 0).sqrt()
        if excludeDiagonal {
            let eye = Tensor.eye(a.size(0), dtype: .float64).gt(0.5)
            distances = distances.maskedFill(eye, value: .infinity)
        }
        let (values, indices) = distances.topk(keep, dim: 1, largest: false, sorted: true)
        return (values, indices)
    }

    /// LID by maximum likelihood from ascending distances `[N, ≥k+1]` (the reference's form, with
    /// its 1e-4 guard against a zero distance).
    static func lid(_ sorted: Tensor, k: Int) -> Tensor {
        let nearest = sorted.narrowed(dim: 1, start: 0, length: k)
        let dk = sorted.select(dim: 1, index: k).unsqueezed(dim: 1)
        return ((nearest / dk + 1e-4).log().sum(dim: 1)).reciprocal() * Double(-k)
    }

    /// The label-free threshold: the `quantile` (e.g. 0.95) of the clean reference images' scores,
    /// by linear interpolation between order statistics (numpy's default).
    public static func threshold(referenceScores: [Double], quantile: Double) -> Double {
        let sorted = referenceScores.filter { !$0.isNaN }.sorted()
        guard !sorted.isEmpty else { return .infinity }
        let position = quantile * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down)), upper = min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        return sorted[lower] + fraction * (sorted[upper] - sorted[lower])
    }

    /// Precision, recall, F1 and false-positive rate of flagging `score > threshold`.
    public static func operatingPoint(scores: [Double], positive: [Bool], threshold: Double) -> ScreeningOperatingPoint {
        var tp = 0, fp = 0, fn = 0, tn = 0
        for (score, isPositive) in zip(scores, positive) {
            let flagged = score > threshold
            switch (flagged, isPositive) {
            case (true, true): tp += 1
            case (true, false): fp += 1
            case (false, true): fn += 1
            case (false, false): tn += 1
            }
        }
        let precision = tp + fp == 0 ? 0 : Double(tp) / Double(tp + fp)
        let recall = tp + fn == 0 ? 0 : Double(tp) / Double(tp + fn)
        let f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
        return ScreeningOperatingPoint(
            threshold: threshold, truePositives: tp, falsePositives: fp, falseNegatives: fn, trueNegatives: tn,
            precision: precision, recall: recall, f1: f1, falsePositiveRate: fp + tn == 0 ? 0 : Double(fp) / Double(fp + tn))
    }
}

/// The counts and rates of one threshold.
public struct ScreeningOperatingPoint: Sendable, Codable, Equatable {
    public var threshold: Double
    public var truePositives: Int
    public var falsePositives: Int
    public var falseNegatives: Int
    public var trueNegatives: Int
    public var precision: Double
    public var recall: Double
    public var f1: Double
    public var falsePositiveRate: Double
}
