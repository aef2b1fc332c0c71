import Foundation

/// How well a safe/risky split separates the poisoned pairs of an attack manifest, with "risky"
/// read as "flagged as poison".
///
/// ```swift
/// let report = PoisonDetectionReport(safe: split.safe, total: n, poisoned: manifest.poisonedIndices)
/// print(report.poisonedInSafe, report.precision ?? .nan, report.recall ?? .nan)
/// ```
public struct PoisonDetectionReport: Sendable, Codable, Equatable {
    /// N, the number of pairs.
    public var total: Int
    /// Size of the safe set.
    public var safeCount: Int
    /// Number of distinct poisoned pairs.
    public var poisonedCount: Int
    /// Poisoned pairs that landed in the safe set (trained with the CLIP loss): the number that matters.
    public var poisonedInSafe: Int
    /// Poisoned pairs in the risky set (true positives of the detector).
    public var poisonedInRisky: Int

    /// Size of the risky set.
    public var riskyCount: Int { total - safeCount }
    /// `poisonedInRisky / riskyCount`; nil when the risky set is empty.
    public var precision: Double? { riskyCount == 0 ? nil : Double(poisonedInRisky) / Double(riskyCount) }
    /// `poisonedInRisky / poisonedCount`; nil when nothing is poisoned.
    public var recall: Double? { poisonedCount == 0 ? nil : Double(poisonedInRisky) / Double(poisonedCount) }

    /// Counts the overlap of `safe` with `poisoned` among pairs `0..<total`.
    ///
    /// - Parameters:
    ///   - safe: safe pair indices (any order, no duplicates, each in `0..<total`).
    ///   - total: N.
    ///   - poisoned: the manifest's poisoned pair indices (duplicates are counted once).
    public init(safe: [Int], total: Int, poisoned: [Int]) {
        var isSafe = [Bool](repeating: false, count: total)
        for i in safe {
            precondition((0..<total).contains(i), "safe index \(i) out of range 0..<\(total)")
            precondition(!isSafe[i], "safe index \(i) listed twice")
            isSafe[i] = true
        }
        let poisonedSet = Set(poisoned)
        for i in poisonedSet { precondition((0..<total).contains(i), "poisoned index \(i) out of range 0..<\(total)") }
        self.total = total
        self.safeCount = safe.count
        self.poisonedCount = poisonedSet.count
        self.poisonedInSafe = poisonedSet.count(where: { isSafe[$0] })
        self.poisonedInRisky = poisonedSet.count - poisonedInSafe
    }
}

/// Bin counts of pair similarities, separately for clean and poisoned pairs, for the report's
/// histogram figure.
///
/// Bins are `binCount` equal intervals of `[lower, upper]`; bin `b` holds `lower + b·w ≤ s < lower + (b+1)·w`
/// and the last bin also holds `s = upper`. Values outside the range (and NaN) are counted in
/// ``outOfRange`` and not binned.
public struct SimilarityHistogram: Sendable, Codable, Equatable {
    /// The `binCount + 1` bin edges, ascending.
    public var edges: [Double]
    /// Clean pairs per bin.
    public var clean: [Int]
    /// Poisoned pairs per bin.
    public var poisoned: [Int]
    /// Values that were NaN or outside `[lower, upper]`.
    public var outOfRange: Int

    /// Bins `similarities` (one per pair, index = pair index).
    ///
    /// - Parameters:
    ///   - similarities: cosine similarity of each pair.
    ///   - poisoned: poisoned pair indices.
    ///   - binCount: number of bins (≥ 1).
    ///   - lower: left edge (cosine similarities: −1).
    ///   - upper: right edge (1).
    public init(similarities: [Double], poisoned: [Int], binCount: Int = 50, lower: Double = -1, upper: Double = 1) {
        precondition(binCount >= 1 && upper > lower, "need binCount ≥ 1 and upper > lower")
        let width = (upper - lower) / Double(binCount)
        edges = (0...binCount).map { $0 == binCount ? upper : lower + Double($0) * width }
        clean = Array(repeating: 0, count: binCount)
        self.poisoned = Array(repeating: 0, count: binCount)
        outOfRange = 0
        let poisonedSet = Set(poisoned)
        for (i, s) in similarities.enumerated() {
            guard s >= lower, s <= upper else { outOfRange += 1; continue }
            let bin = min(binCount - 1, Int(((s - lower) / width).rounded(.down)))
            if poisonedSet.contains(i) { self.poisoned[bin] += 1 } else { clean[bin] += 1 }
        }
    }
}

/// The similarity-filtering baseline (SPEC §4): drop the lowest-similarity fraction of pairs.
public enum SimilarityFilter {
    /// Indices kept after dropping the `round(f·N)` pairs with the lowest similarity.
    ///
    /// Ordering is total and deterministic: NaN similarities count as lowest, and among equal
    /// similarities the smaller index is dropped first.
    ///
    /// - Parameters:
    ///   - similarities: one similarity per pair.
    ///   - dropFraction: f in [0, 1].
    /// - Returns: kept indices, ascending.
    public static func keptIndices(similarities: [Double], dropFraction: Double) -> [Int] {
        precondition((0...1).contains(dropFraction), "dropFraction \(dropFraction) not in [0, 1]")
        let n = similarities.count
        let dropCount = min(n, Int((dropFraction * Double(n)).rounded()))
        func key(_ x: Double) -> Double { x.isNaN ? -.infinity : x }
        let ascending = similarities.indices.sorted { a, b in
            let sa = key(similarities[a]), sb = key(similarities[b])
            return sa != sb ? sa < sb : a < b
        }
        return ascending.dropFirst(dropCount).sorted()
    }
}
