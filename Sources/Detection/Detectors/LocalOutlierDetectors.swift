import Foundation

/// The options and the shared computation of the four local-outlier detectors (``LocalOutlier``):
/// every pair is scored in the image-embedding space of the first model (`--model`, or the
/// warm-up) against one seeded random reference set of the scored pairs.
public enum LocalOutlierOptions {
    /// k, the neighbours each score looks at (Huang et al.: 16).
    public static let neighbours = DetectorOption(
        name: "neighbours", help: "neighbours k of the local-outlier detectors (grow it with the poison rate: a dense poison cluster is not sparse)",
        defaultValue: 16, range: 2...65_536)
    /// Pairs in the random reference set (Huang et al.: batches of about 1,024).
    public static let referenceSize = DetectorOption(
        name: "reference-size", help: "pairs in the random reference set of the local-outlier detectors (at most the pairs scored)",
        defaultValue: 1024, range: 3...10_000_000)

    /// The four scores for every row, computed once per run.
    static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> LocalOutlier.Scores {
        let k = settings.value(neighbours) ?? 16
        let m = min(settings.value(referenceSize) ?? 1024, context.rows)
        guard k + 1 <= m else {
            throw DetectionError.invalidSetting(
                "--neighbours \(k) needs a reference set of at least \(k + 1) pairs; --reference-size and the \(context.rows) pairs scored allow \(m)")
        }
        return try context.memoized("local-outlier-\(k)-\(m)") {
            let reference = LocalOutlier.referenceRows(rows: context.rows, count: m, seed: context.seed &+ 5)
            var position = [Int?](repeating: nil, count: context.rows)
            for (j, row) in reference.enumerated() { position[row] = j }
            context.log("local outliers: \(context.rows) pairs against a random reference set of \(m), k = \(k)")
            return try LocalOutlier.scores(features: context.features, reference: context.features.subset(reference), k: k, referenceIndex: position)
        }
    }
}

/// `k-distance`: distance to the k-th nearest reference image embedding.
public struct KDistanceDetector: Detector {
    public static let name = "k-distance"
    public static let displayName = "k-distance"
    public static let about = "distance from the image embedding to its k-th nearest neighbour in a random reference set."
    public static let options = [LocalOutlierOptions.neighbours, LocalOutlierOptions.referenceSize]
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
    public static let options = [LocalOutlierOptions.neighbours, LocalOutlierOptions.referenceSize]
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
    public static let options = [LocalOutlierOptions.neighbours, LocalOutlierOptions.referenceSize]
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
    public static let options = [LocalOutlierOptions.neighbours, LocalOutlierOptions.referenceSize]
    public static let inputs: Set<DetectorInput> = [.imageFeatures]
    public static let direction = ScoreDirection.higher
    public static let threshold = ThresholdRule.robustZ(3.5)
    public static func columns(models: Int) -> [String] { ["dao"] }
    public static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> [[Double]] {
        [try LocalOutlierOptions.scores(context, settings: settings).dao]
    }
}
