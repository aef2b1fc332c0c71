import Detection
import Foundation

/// How well a suspicion score separates poisoned pairs from clean ones: the ROC curve and the
/// exact area under it.
///
/// A higher `suspicion` means more suspicious; a pair's similarity, where lower is more
/// suspicious, enters as `-similarity`. Entries whose score is not finite are left out.
///
/// ```swift
/// ROC.auroc(suspicion: [3, 2, 2, 1], positive: [true, true, false, false])  // 0.875
/// ```
public enum ROC {
    /// The area under the ROC curve by the Mann–Whitney statistic: the probability that a
    /// random positive scores above a random negative, ties counted ½. Exact (average ranks for
    /// ties), O(n log n).
    ///
    /// - Parameters:
    ///   - suspicion: one score per pair (higher = more suspicious).
    ///   - positive: one flag per pair (true = poisoned); same count as `suspicion`.
    /// - Returns: the AUROC in 0…1, or nil without at least one positive and one negative.
    public static func auroc(suspicion: [Double], positive: [Bool]) -> Double? {
        let finite = zip(suspicion, positive).filter { $0.0.isFinite }
        return DetectionMetrics.auroc(scores: finite.map(\.0), positive: finite.map(\.1))
    }

    /// The ROC curve: (false-positive rate, true-positive rate) from (0, 0) to (1, 1), stepping
    /// through the distinct scores from the most suspicious down (tied scores make one diagonal
    /// step, so the trapezoid area under the curve equals ``auroc(suspicion:positive:)``); points
    /// inside a horizontal or vertical run are dropped, so a curve has at most about four points
    /// per poisoned pair whatever the number of clean ones.
    ///
    /// - Returns: the points, or an empty array without both classes.
    public static func curve(suspicion: [Double], positive: [Bool]) -> [(Double, Double)] {
        let pairs = zip(suspicion, positive).filter { (score: Double, _: Bool) in score.isFinite }.sorted { $0.0 > $1.0 }
        let positives = Double(pairs.filter(\.1).count), negatives = Double(pairs.count) - positives
        guard positives > 0, negatives > 0 else { return [] }
        var points = [(0.0, 0.0)]
        var tp = 0.0, fp = 0.0
        var i = 0
        while i < pairs.count {
            var j = i
            while j + 1 < pairs.count && pairs[j + 1].0 == pairs[i].0 { j += 1 }
            for k in i...j { if pairs[k].1 { tp += 1 } else { fp += 1 } }
            let next = (fp / negatives, tp / positives)
            // A run of only clean (or only poisoned) pairs is one straight segment: keep its ends.
            if points.count >= 2 {
                let a = points[points.count - 2], b = points[points.count - 1]
                if (a.0 == b.0 && b.0 == next.0) || (a.1 == b.1 && b.1 == next.1) { points.removeLast() }
            }
            points.append(next)
            i = j + 1
        }
        return points
    }
}
