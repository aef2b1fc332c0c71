import Datasets
import Foundation
import Torch

/// Spectral signatures (Tran, Li & Madry, NeurIPS 2018) and activation clustering (Chen et al.,
/// "Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering", 2018) on image
/// features, computed separately within each group of pairs that claim the same class.
///
/// Poisoned pairs claim the target class with images that differ from the group's clean images
/// (other classes, or a trigger), which leaves a direction of large variance in the group's
/// features. **Spectral**: the score of a pair is its squared projection on the top principal
/// direction of its (centred) group. **Activation clustering**: the group's features are reduced
/// to their top 10 principal directions and split by 2-means; a pair near the smaller cluster of a
/// lopsided split scores high: `score = (d_big − d_small) / (d_big + d_small) · ½ + ½`, times
/// `1 − 2·(smaller cluster's share)`.
public enum SpectralDetectors {
    /// Scores for every pair: `(spectral, activationClustering)`, each `[N]`; pairs in group −1
    /// (no image) or in groups of fewer than 3 pairs get NaN.
    ///
    /// - Parameters:
    ///   - features: `[N, D]` image features.
    ///   - groups: each pair's group (its caption's predicted class).
    public static func scores(features: FeatureMatrix, groups: [Int], seed: UInt64) -> (spectral: [Double], clustering: [Double]) {
        var spectral = [Double](repeating: .nan, count: groups.count)
        var clustering = [Double](repeating: .nan, count: groups.count)
        var members: [Int: [Int]] = [:]
        for (i, g) in groups.enumerated() where g >= 0 { members[g, default: []].append(i) }
        for (group, rows) in members.sorted(by: { $0.key < $1.key }) where rows.count >= 3 {
            let x = features.subset(rows).tensor(rows: 0..<rows.count).to(.float64)
            let centred = x - x.mean(dim: 0, keepDim: true)
            let covariance = centred.t.matmul(centred) / Double(rows.count)
            let directions = topEigenvectors(covariance, count: min(10, features.dimension), seed: seed &+ UInt64(group))
            let projected = centred.matmul(directions)  // [n, r]
            let top = projected.select(dim: 1, index: 0).square().toArray(as: Double.self)
            for (j, i) in rows.enumerated() { spectral[i] = top[j] }
            // Activation clustering on the reduced features.
            let reduced = FeatureMatrix(dimension: directions.size(1), values: projected.to(.float32).toArray(as: Float.self))
            let split = KMeans(reduced, k: 2, seed: seed &+ 0xAC &+ UInt64(group))
            let sizes = [split.assignments.count(where: { $0 == 0 }), split.assignments.count(where: { $0 == 1 })]
            guard split.centroids.rows == 2 else { for i in rows { clustering[i] = 0 }; continue }
            let small = sizes[0] <= sizes[1] ? 0 : 1
            let share = Double(sizes[small]) / Double(rows.count)
            for (j, i) in rows.enumerated() {
                func distance(_ c: Int) -> Double {
                    sqrt(zip(reduced.row(j), split.centroids.row(c)).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) })
                }
                let toSmall = distance(small), toBig = distance(1 - small)
                let closeness = toSmall + toBig > 0 ? (toBig - toSmall) / (toSmall + toBig) * 0.5 + 0.5 : 0.5
                clustering[i] = closeness * (1 - 2 * share)
            }
        }
        return (spectral, clustering)
    }

    /// The `count` leading eigenvectors of a symmetric `[D, D]` float64 matrix as `[D, count]`, by
    /// orthogonal (subspace) iteration with Gram–Schmidt.
    static func topEigenvectors(_ matrix: Tensor, count: Int, seed: UInt64, iterations: Int = 60) -> Tensor {
        let d = matrix.size(0)
        var rng = SplitMix64(seed: seed)
        var q = (0..<(d * count)).map { _ in rng.nextUnitDouble() - 0.5 }
        let m = matrix.toArray(as: Double.self)
        for _ in 0..<iterations {
            // q ← M q, then orthonormalise the columns.
            var next = [Double](repeating: 0, count: d * count)
            for i in 0..<d {
                for k in 0..<d where m[i * d + k] != 0 {
                    let a = m[i * d + k]
                    for c in 0..<count { next[i * count + c] += a * q[k * count + c] }
                }
            }
            for c in 0..<count {
                for p in 0..<c {
                    var dot = 0.0
                    for i in 0..<d { dot += next[i * count + c] * next[i * count + p] }
                    for i in 0..<d { next[i * count + c] -= dot * next[i * count + p] }
                }
                var norm = 0.0
                for i in 0..<d { norm += next[i * count + c] * next[i * count + c] }
                norm = norm.squareRoot()
                for i in 0..<d { next[i * count + c] = norm > 1e-30 ? next[i * count + c] / norm : (i == c ? 1 : 0) }
            }
            q = next
        }
        return Tensor(q, shape: [d, count])
    }
}


/// The caption-group option that spectral signatures and activation clustering share.
public enum CaptionGrouping {
    /// Caption groups (k-means of the caption features) when no class names are known.
    public static let groups = DetectorOption(
        name: "caption-groups", help: "caption groups (k-means of the caption features) when no class names are known",
        defaultValue: 10, range: 2...100_000)

    /// Both scores of ``SpectralDetectors``, computed once per run.
    static func scores(_ context: DetectionContext) throws -> (spectral: [Double], clustering: [Double]) {
        let groups = try context.captionGroups()
        return try context.memoized("spectral") { SpectralDetectors.scores(features: context.features, groups: groups, seed: context.seed &+ 3) }
    }
}

/// `spectral`: spectral signatures within caption groups.
public struct SpectralDetector: Detector {
    public static let name = "spectral"
    public static let displayName = "spectral signature"
    public static let about = "squared projection on the top principal direction of the image features of the pair's caption group."
    public static let options = [CaptionGrouping.groups]
    public static let inputs: Set<DetectorInput> = [.imageFeatures, .captionGroups]
    public static let direction = ScoreDirection.higher
    public static let threshold = ThresholdRule.robustZ(3.5)
    public static func columns(models: Int) -> [String] { ["spectral"] }
    public static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> [[Double]] {
        [try CaptionGrouping.scores(context).spectral]
    }
}

/// `activation-clustering`: 2-means of each caption group's reduced image features.
public struct ActivationClusteringDetector: Detector {
    public static let name = "activation-clustering"
    public static let displayName = "activation clustering"
    public static let about = "closeness to the smaller cluster of a lopsided 2-means split of the pair's caption group."
    public static let options = [CaptionGrouping.groups]
    public static let inputs: Set<DetectorInput> = [.imageFeatures, .captionGroups]
    public static let direction = ScoreDirection.higher
    public static let threshold = ThresholdRule.robustZ(3.5)
    public static func columns(models: Int) -> [String] { ["activation-clustering"] }
    public static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> [[Double]] {
        [try CaptionGrouping.scores(context).clustering]
    }
}
