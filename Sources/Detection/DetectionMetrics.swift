import Foundation

/// How well a suspicion score separates poisoned pairs from clean ones: AUROC and precision and
/// recall among the top-k scored pairs, against an attack manifest's ground truth.
///
/// Scores are "higher = more suspicious". NaN scores (pairs whose image could not be read) count
/// as the least suspicious. Ties are handled exactly: AUROC gives tied pairs half credit
/// (Mann–Whitney U), and the top k of a ranking break ties by row index.
///
/// ```swift
/// let metrics = DetectionMetrics(scores: [0.9, 0.1, 0.8, 0.2], poisoned: [0, 2], ks: [2])
/// metrics.auroc               // 1.0
/// metrics.atK[0].precision    // 1.0
/// ```
public struct DetectionMetrics: Codable, Sendable, Equatable {
    /// Precision and recall of the k highest-scored pairs.
    public struct AtK: Codable, Sendable, Equatable {
        /// How many top-scored pairs are flagged.
        public var k: Int
        /// What `k` stands for: `poisoned` (k = number of poisoned pairs) or a fraction such as `1%`.
        public var label: String
        /// Poisoned pairs among the top k.
        public var hits: Int
        /// `hits / k` (0 when k = 0).
        public var precision: Double
        /// `hits / poisoned` (0 when nothing is poisoned).
        public var recall: Double
    }

    /// Precision, recall and F1 of the pairs a label-free threshold flags.
    public struct AtThreshold: Codable, Sendable, Equatable {
        /// Pairs flagged.
        public var flagged: Int
        /// Poisoned pairs among them.
        public var hits: Int
        /// `hits / flagged` (0 when nothing is flagged).
        public var precision: Double
        /// `hits / poisoned` (0 when nothing is poisoned).
        public var recall: Double
        /// The harmonic mean of precision and recall (0 when both are 0).
        public var f1: Double
    }

    /// Area under the ROC curve (probability that a random poisoned pair outscores a random clean
    /// one, ties counting ½); nil when either class is empty.
    public var auroc: Double?
    /// The true-positive rate at a false-positive rate of at most 1% (the largest over cuts
    /// between distinct scores); nil when either class is empty.
    public var tprAt1FPR: Double?
    /// At the detector's label-free threshold, when one was given.
    public var atThreshold: AtThreshold?
    /// Pairs scored (N).
    public var total: Int
    /// Poisoned pairs among them.
    public var poisoned: Int
    public var atK: [AtK]

    /// - Parameters:
    ///   - scores: one suspicion score per pair (`[N]`).
    ///   - poisoned: the poisoned pair indices (each in `0..<N`; duplicates are counted once).
    ///   - ks: `(k, label)` cut-offs; by default ``standardCuts(total:poisoned:)``.
    ///   - flagged: `[N]`, the pairs a label-free threshold flags (``atThreshold``).
    public init(scores: [Double], poisoned: [Int], ks: [(Int, String)]? = nil, flagged: [Bool]? = nil) {
        let n = scores.count
        var isPoisoned = [Bool](repeating: false, count: n)
        for i in poisoned where (0..<n).contains(i) { isPoisoned[i] = true }
        let positives = isPoisoned.count(where: { $0 })
        total = n
        self.poisoned = positives
        auroc = Self.auroc(scores: scores, positive: isPoisoned)
        tprAt1FPR = Self.tpr(scores: scores, positive: isPoisoned, atFPR: 0.01)
        if let flagged, flagged.count == n {
            let f = flagged.count(where: { $0 }), hits = (0..<n).count(where: { flagged[$0] && isPoisoned[$0] })
            let precision = f == 0 ? 0 : Double(hits) / Double(f), recall = positives == 0 ? 0 : Double(hits) / Double(positives)
            atThreshold = AtThreshold(flagged: f, hits: hits, precision: precision, recall: recall,
                                      f1: precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0)
        }
        let order = Self.ranking(scores)
        var prefixHits = [Int](repeating: 0, count: n + 1)
        for (position, index) in order.enumerated() { prefixHits[position + 1] = prefixHits[position] + (isPoisoned[index] ? 1 : 0) }
        atK = (ks ?? Self.standardCuts(total: n, poisoned: positives)).map { k, label in
            let kk = max(0, min(k, n))
            let hits = prefixHits[kk]
            return AtK(k: kk, label: label, hits: hits, precision: kk == 0 ? 0 : Double(hits) / Double(kk),
                       recall: positives == 0 ? 0 : Double(hits) / Double(positives))
        }
    }

    /// The cut-offs reported by default: k = the number of poisoned pairs, then 0.5%, 1%, 5% and
    /// 10% of N (rounded, at least 1).
    public static func standardCuts(total: Int, poisoned: Int) -> [(Int, String)] {
        var cuts: [(Int, String)] = [(poisoned, "poisoned")]
        for (fraction, label) in [(0.005, "0.5%"), (0.01, "1%"), (0.05, "5%"), (0.1, "10%")] {
            cuts.append((max(1, Int((fraction * Double(total)).rounded())), label))
        }
        return cuts
    }

    /// Row indices from most to least suspicious: descending score, NaN last, ties by ascending index.
    public static func ranking(_ scores: [Double]) -> [Int] {
        func key(_ x: Double) -> Double { x.isNaN ? -.infinity : x }
        return scores.indices.sorted { a, b in
            let sa = key(scores[a]), sb = key(scores[b])
            return sa != sb ? sa > sb : a < b
        }
    }

    /// The largest true-positive rate of a cut between distinct scores (tied pairs move together)
    /// whose false-positive rate is at most `fpr`; nil without both classes. NaN scores rank last.
    public static func tpr(scores: [Double], positive: [Bool], atFPR fpr: Double) -> Double? {
        let p = Double(positive.count(where: { $0 })), q = Double(positive.count) - p
        guard p > 0, q > 0 else { return nil }
        let order = ranking(scores)
        func key(_ x: Double) -> Double { x.isNaN ? -.infinity : x }
        var tp = 0.0, fp = 0.0, best = 0.0
        for (position, index) in order.enumerated() {
            if positive[index] { tp += 1 } else { fp += 1 }
            let last = position + 1 == order.count
            if last || key(scores[order[position + 1]]) != key(scores[index]) {
                if fp / q <= fpr + 1e-12 { best = max(best, tp / p) } else { break }
            }
        }
        return best
    }

    /// AUROC by the Mann–Whitney statistic with average ranks for ties; nil without both classes.
    public static func auroc(scores: [Double], positive: [Bool]) -> Double? {
        precondition(scores.count == positive.count, "auroc: \(scores.count) scores, \(positive.count) labels")
        let ranks = averageRanks(scores)
        let p = positive.count(where: { $0 }), q = positive.count - p
        guard p > 0, q > 0 else { return nil }
        var sum = 0.0
        for (i, isPositive) in positive.enumerated() where isPositive { sum += ranks[i] }
        return (sum - Double(p) * Double(p + 1) / 2) / (Double(p) * Double(q))
    }

    /// 1-based ranks in ascending score order (NaN lowest), tied values sharing their average rank.
    public static func averageRanks(_ scores: [Double]) -> [Double] {
        func key(_ x: Double) -> Double { x.isNaN ? -.infinity : x }
        let order = scores.indices.sorted { key(scores[$0]) < key(scores[$1]) }
        var ranks = [Double](repeating: 0, count: scores.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && key(scores[order[end + 1]]) == key(scores[order[start]]) { end += 1 }
            let average = Double(start + end) / 2 + 1
            for position in start...end { ranks[order[position]] = average }
            start = end + 1
        }
        return ranks
    }

    /// The ROC curve as (false-positive rate, true-positive rate) points from (0, 0) to (1, 1), one
    /// point per distinct score (tied pairs move together), thinned to at most `maxPoints`.
    public static func rocCurve(scores: [Double], positive: [Bool], maxPoints: Int = 200) -> [[Double]] {
        let p = Double(positive.count(where: { $0 })), q = Double(positive.count) - p
        guard p > 0, q > 0 else { return [] }
        let order = ranking(scores)
        func key(_ x: Double) -> Double { x.isNaN ? -.infinity : x }
        var points: [[Double]] = [[0, 0]]
        var tp = 0.0, fp = 0.0
        for (position, index) in order.enumerated() {
            if positive[index] { tp += 1 } else { fp += 1 }
            let last = position + 1 == order.count
            if last || key(scores[order[position + 1]]) != key(scores[index]) { points.append([fp / q, tp / p]) }
        }
        guard points.count > maxPoints, maxPoints >= 2 else { return points }
        let step = Double(points.count - 1) / Double(maxPoints - 1)
        return (0..<maxPoints).map { points[Int((Double($0) * step).rounded())] }
    }
}

/// Combines detectors by rank averaging: each detector's scores are turned into average ranks
/// scaled to [0, 1] (0 = least, 1 = most suspicious; NaN = 0), and the combined score of a pair is
/// the mean of its scaled ranks over the detectors. Rank averaging needs no calibration between
/// detectors whose scores live on different scales (cosine similarities, log-ratios, squared
/// projections), and a detector that is blind to an attack only dilutes, never dominates.
///
/// - Parameter columns: one `[N]` score column per detector (higher = more suspicious).
/// - Returns: `[N]` combined scores in [0, 1].
public func rankAverage(_ columns: [[Double]]) -> [Double] {
    guard let n = columns.first?.count else { return [] }
    var combined = [Double](repeating: 0, count: n)
    for column in columns {
        precondition(column.count == n, "rankAverage: columns of different lengths")
        let ranks = DetectionMetrics.averageRanks(column)
        for i in 0..<n {
            let scaled = column[i].isNaN ? 0 : (n > 1 ? (ranks[i] - 1) / Double(n - 1) : 0)
            combined[i] += scaled / Double(columns.count)
        }
    }
    return combined
}
