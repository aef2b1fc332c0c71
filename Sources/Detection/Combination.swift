import Foundation

/// The `combined` column: each detector column's robust z-score in units of its own label-free cut
/// (``ThresholdRule/normalised(_:)``: above 1 = that column flags the pair), and a pair's combined
/// score is the largest of them over the columns the combination trusts. A pair is flagged by
/// `combined` (score > 1) when a trusted column flags it.
///
/// A maximum, unlike a rank average, never lowers a pair that one column ranks near the top because
/// another column ranks it low, so a blind or inverted column cannot pull a strong one down; what it
/// can add is its own false alarms. Columns that look inverted or blind without the manifest
/// (``ColumnDiagnosis``) are left out and named in a warning; when every column looks so, all are used.
public struct ScoreCombination: Sendable {
    /// `[N]` combined scores (NaN where every column is NaN).
    public var scores: [Double]
    /// The columns the combination used.
    public var used: [String]
    /// One sentence per column that looks inverted or blind.
    public var warnings: [String]

    /// The rule by which `combined` flags pairs, as `summary.json` records it.
    public static let thresholdTag = "a used column flags the pair (max of robust z / own cut > 1)"

    /// - Parameter columns: `(name, suspicion, rule)` per column: `[N]` scores turned so that higher
    ///   = more suspicious, and the column's threshold rule.
    public init(columns: [(name: String, suspicion: [Double], rule: ThresholdRule)]) {
        let n = columns.first?.suspicion.count ?? 0
        let normalised = columns.map { $0.rule.normalised($0.suspicion) }
        var trusted: [Int] = [], warnings: [String] = []
        for (c, column) in columns.enumerated() {
            let diagnosis = ColumnDiagnosis(normalised: normalised[c])
            if let problem = diagnosis.problem {
                warnings.append("column \(column.name) \(problem); left out of combined")
            } else {
                trusted.append(c)
            }
        }
        if trusted.isEmpty && !columns.isEmpty {
            trusted = Array(columns.indices)
            warnings.append("every column looks inverted or blind: combined uses them all")
        }
        var combined = [Double](repeating: .nan, count: n)
        for i in 0..<n {
            var best = -Double.infinity, any = false
            for c in trusted where !normalised[c][i].isNaN {
                best = max(best, normalised[c][i]); any = true
            }
            if any { combined[i] = best }
        }
        scores = combined
        used = trusted.map { columns[$0].name }
        self.warnings = warnings
    }
}

/// A label-free check of one column: does it look inverted (more pairs stand out at its
/// *unsuspicious* end than at its suspicious end) or blind (no pair beyond its cut at either end)?
public struct ColumnDiagnosis: Sendable, Equatable {
    /// Pairs beyond the cut at the suspicious end (normalised score > 1).
    public var high: Int
    /// Pairs beyond the cut at the other end (normalised score < −1).
    public var low: Int

    /// - Parameter normalised: `[N]` robust z-scores in units of the column's cut.
    public init(normalised: [Double]) {
        high = normalised.count(where: { $0 > 1 })
        low = normalised.count(where: { $0 < -1 })
    }

    /// Why the column should not be trusted, or nil.
    public var problem: String? {
        if high == 0 && low == 0 { return "flags no pair at its label-free threshold (blind to this data?)" }
        if low > high { return "has more outliers at its unsuspicious end (\(low)) than at its suspicious end (\(high)): it looks inverted for this attack" }
        return nil
    }
}
