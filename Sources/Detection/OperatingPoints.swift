import Foundation

/// The median and a robust scale of a score column (NaN ignored): 1.4826 × the median absolute
/// deviation (MAD; the standard deviation for normal data), or — when more than half the scores
/// tie so that the MAD is 0 — 1.2533 × the mean absolute deviation from the median (likewise
/// calibrated); 0 only for a constant column.
public struct RobustScale: Sendable, Equatable {
    public var median: Double
    public var scale: Double

    /// - Parameter values: `[N]` scores; NaN ignored.
    public init(_ values: [Double]) {
        let finite = values.filter { !$0.isNaN }.sorted()
        guard !finite.isEmpty else { median = 0; scale = 0; return }
        let m = Self.median(sorted: finite)
        let deviations = finite.map { abs($0 - m) }.sorted()
        var s = 1.4826 * Self.median(sorted: deviations)
        if !(s > 0) { s = 1.2533 * deviations.reduce(0, +) / Double(deviations.count) }
        median = m
        scale = s.isFinite ? s : 0
    }

    static func median(sorted x: [Double]) -> Double {
        let n = x.count
        return n % 2 == 1 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2
    }

    /// `(x − median) / scale`; a constant column gives 0 (NaN stays NaN).
    public func z(_ x: Double) -> Double { x.isNaN ? .nan : (scale > 0 ? (x - median) / scale : 0) }
}

/// How a detector flags pairs without the manifest: a cut on its suspicion (its score turned so
/// that higher = more suspicious, see ``ScoreDirection``).
public enum ThresholdRule: Sendable, Equatable, CustomStringConvertible {
    /// Flag pairs whose robust z-score (``RobustScale``) exceeds `z` — the modified z-score outlier
    /// rule of Iglewicz & Hoaglin (1993), who recommend 3.5. A constant column flags nothing.
    case robustZ(Double)

    public var description: String {
        switch self {
        case .robustZ(let z): "robust z-score > \(formatted(z)) (median + \(formatted(z)) × 1.4826 × MAD)"
        }
    }

    /// The short form stored in `summary.json` (`robust-z>3.5`).
    public var tag: String {
        switch self {
        case .robustZ(let z): "robust-z>\(formatted(z))"
        }
    }

    /// The cut on the suspicion: a pair is flagged when its suspicion is strictly above it (+∞:
    /// nothing flagged).
    ///
    /// - Parameter suspicion: `[N]` scores, higher = more suspicious; NaN ignored.
    public func cut(_ suspicion: [Double]) -> Double {
        switch self {
        case .robustZ(let z):
            let r = RobustScale(suspicion)
            return r.scale > 0 ? r.median + z * r.scale : .infinity
        }
    }

    /// The robust z-score of every pair in units of this rule's cut (> 1: flagged); NaN stays NaN.
    public func normalised(_ suspicion: [Double]) -> [Double] {
        switch self {
        case .robustZ(let z):
            let r = RobustScale(suspicion)
            return suspicion.map { r.z($0) / z }
        }
    }

    private func formatted(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
}

/// One column's label-free threshold as `summary.json` records it.
public struct ColumnThreshold: Codable, Sendable, Equatable {
    /// The rule (``ThresholdRule/tag``).
    public var rule: String
    /// The cut on the column's own scale: flagged above it (suspicious when high) or below it
    /// (suspicious when low); `inf`/`-inf` when nothing can be flagged; `nan` for `combined`, whose
    /// flags are its trusted columns' (``ScoreCombination/flags``).
    public var value: Double
    /// Which side of ``value`` is flagged: `higher` or `lower`.
    public var direction: ScoreDirection
    /// Pairs flagged.
    public var flagged: Int

    /// The pairs flagged among `values` (`[N]`, the column's own scale; NaN never flagged).
    public func flags(_ values: [Double]) -> [Bool] {
        values.map { !$0.isNaN && (direction == .higher ? $0 > value : $0 < value) }
    }
}

/// A score column after the detector's threshold rule: its suspicion, its cut and the flagged pairs.
public struct ThresholdedColumn: Sendable {
    public var threshold: ColumnThreshold
    public var flags: [Bool]

    /// - Parameters:
    ///   - values: `[N]` scores on the column's own scale.
    ///   - direction: which end is suspicious.
    ///   - rule: the detector's rule.
    public init(values: [Double], direction: ScoreDirection, rule: ThresholdRule) {
        let cut = rule.cut(direction.suspicion(values))
        let value = direction == .higher ? cut : -cut
        let t = ColumnThreshold(rule: rule.tag, value: value, direction: direction, flagged: 0)
        flags = t.flags(values)
        threshold = t
        threshold.flagged = flags.count(where: { $0 })
    }
}
