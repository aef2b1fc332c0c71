import Foundation

/// The options and the shared computation of the four local-outlier detectors (``LocalOutlier``):
/// every pair is scored in the image-embedding space of the first model (`--model`, or the
/// warm-up) against a seeded random reference set of the scored pairs — or against several, each
/// score the mean over them (`--reference-sets`).
public enum LocalOutlierOptions {
    /// k, the neighbours each score looks at (Huang et al.: 16).
    public static let neighbours = DetectorOption(
        name: "neighbours", help: "neighbours k of the local-outlier detectors (a dense poison cluster is not sparse: with more than a few poisoned pairs in the reference set, k near 1/16 of --reference-size measured best)",
        defaultValue: 16, range: 2...65_536)
    /// Pairs in the random reference set (Huang et al.: batches of about 1,024).
    public static let referenceSize = DetectorOption(
        name: "reference-size", help: "pairs in the random reference set of the local-outlier detectors (at most the pairs scored)",
        defaultValue: 1024, range: 3...10_000_000)
    /// Independent random reference sets whose scores are averaged (1: Huang et al.'s one batch).
    ///
    /// How many poisoned pairs fall into a reference set varies from draw to draw, and with them
    /// the scores: on one model DAO's AUROC ranged 0.91–0.99 over 8 draws (docs/detection.md).
    public static let referenceSets = DetectorOption(
        name: "reference-sets", help: "independent random reference sets of the local-outlier detectors; each score is the mean over them",
        defaultValue: 1, range: 1...1024)

    /// The options every local-outlier detector takes.
    static let all = [neighbours, referenceSize, referenceSets]

    /// The four scores for every row, computed once per run: against reference set r (seed
    /// `seed + 5 + 7919·r`, so the first is the one-set default's), the mean over the sets.
    static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> LocalOutlier.Scores {
        let k = settings.value(neighbours) ?? 16
        let m = min(settings.value(referenceSize) ?? 1024, context.rows)
        let sets = max(1, settings.value(referenceSets) ?? 1)  // validated to 1…1024 where parsed
        guard k + 1 <= m else {
            throw DetectionError.invalidSetting(
                "--neighbours \(k) needs a reference set of at least \(k + 1) pairs; --reference-size and the \(context.rows) pairs scored allow \(m)")
        }
        return try context.memoized("local-outlier-\(k)-\(m)-\(sets)") {
            context.log("local outliers: \(context.rows) pairs against \(sets == 1 ? "a random reference set" : "\(sets) random reference sets") of \(m), k = \(k)")
            func scored(_ r: Int) throws -> LocalOutlier.Scores {
                let reference = LocalOutlier.referenceRows(rows: context.rows, count: m, seed: context.seed &+ 5 &+ 7919 &* UInt64(r))
                var position = [Int?](repeating: nil, count: context.rows)
                for (j, row) in reference.enumerated() { position[row] = j }
                return try LocalOutlier.scores(features: context.features, reference: context.features.subset(reference), k: k, referenceIndex: position)
            }
            var sum = try scored(0)
            for r in 1..<sets { sum = sum.adding(try scored(r)) }
            return sets == 1 ? sum : sum.scaled(by: 1 / Double(sets))
        }
    }
}

/// `k-distance`: distance to the k-th nearest reference image embedding.
public struct KDistanceDetector: Detector {
    public static let name = "k-distance"
    public static let displayName = "k-distance"
    public static let about = "distance from the image embedding to its k-th nearest neighbour in a random reference set."
    public static let options = LocalOutlierOptions.all
    public static let inputs: Set<DetectorInput> = [.imageFeatures]
    public static let direction = ScoreDirection.higher
    public static let threshold = ThresholdRule.robustZ(3.5)
    public static func columns(models: Int) -> [String] { ["k-distance"] }
    public static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> [[Double]] {
        [try LocalOutlierOptions.scores(context, settings: settings).kDistance]
    }
}

/// `slof`: simplified local outlier factor.
public struct SLOFDetector: Detector {
    public static let name = "slof"
    public static let displayName = "SLOF"
    public static let about = "simplified local outlier factor: mean of the pair's k-distance over its neighbours' k-distances."
    public static let options = LocalOutlierOptions.all
    public static let inputs: Set<DetectorInput> = [.imageFeatures]
    public static let direction = ScoreDirection.higher
    public static let threshold = ThresholdRule.robustZ(3.5)
    public static func columns(models: Int) -> [String] { ["slof"] }
    public static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> [[Double]] {
        [try LocalOutlierOptions.scores(context, settings: settings).slof]
    }
}

/// `lid`: local intrinsic dimensionality (maximum likelihood).
public struct LIDDetector: Detector {
    public static let name = "lid"
    public static let displayName = "LID"
    public static let about = "local intrinsic dimensionality (maximum-likelihood estimate from the k nearest reference distances)."
    public static let options = LocalOutlierOptions.all
    public static let inputs: Set<DetectorInput> = [.imageFeatures]
    public static let direction = ScoreDirection.higher
    public static let threshold = ThresholdRule.robustZ(3.5)
    public static func columns(models: Int) -> [String] { ["lid"] }
    public static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> [[Double]] {
        [try LocalOutlierOptions.scores(context, settings: settings).lid]
    }
}

/// `dao`: the dimensionality-aware outlier score of Huang et al. (ICLR 2025).
public struct DAODetector: Detector {
    public static let name = "dao"
    public static let displayName = "DAO"
    public static let about = "dimensionality-aware outlier score: mean over the k neighbours of LID(neighbour)·log(k-distance ratio) (Huang et al., ICLR 2025)."
    public static let options = LocalOutlierOptions.all
    public static let inputs: Set<DetectorInput> = [.imageFeatures]
    public static let direction = ScoreDirection.higher
    public static let threshold = ThresholdRule.robustZ(3.5)
    public static func columns(models: Int) -> [String] { ["dao"] }
    public static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> [[Double]] {
        [try LocalOutlierOptions.scores(context, settings: settings).dao]
    }
}
