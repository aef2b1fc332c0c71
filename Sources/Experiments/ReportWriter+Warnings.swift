import Foundation

extension ReportModel {
    /// Warnings the runner recorded (issue 25) that the report's own checks do not make: a row
    /// with too few poisoned pairs for its length, a warm-up longer than the run, and a defence
    /// compared with plain CLIP where either is near chance — each once, prefixed with its row.
    /// (Accuracy near chance and empty or total selections the report finds itself.) A poison-amount
    /// warning is left out for a row whose own ASR shows the backdoor took, as
    /// ``ResultWarnings/poisonAmount(poisoned:pairs:epochs:asr:)`` now leaves it out when the row
    /// runs (results written before recorded it).
    var recordedWarnings: [String] {
        let amount = ["too few poisoned pairs", "the backdoor may take only partly"]
        let own = amount + ["the warm-up ("]
        var out: [String] = []
        var seen = Set<String>()
        for row in results.rows {
            let took = row.evaluations.values.contains { ($0.asr ?? 0) >= BackdoorVerdict.takesAt }
            for warning in row.warnings ?? [] where own.contains(where: { warning.hasPrefix($0) }) {
                if took && amount.contains(where: { warning.hasPrefix($0) }) { continue }
                // The same poison amount warns every row trained on it: say it once per set.
                let key = warning.hasPrefix("the warm-up") ? row.id + warning : row.amount + (row.variant ?? "") + warning
                if seen.insert(key).inserted { out.append("Row \(row.id)\(warning.hasPrefix("the warm-up") ? "" : " (and the rows on the same poisoned set)"): \(warning)") }
            }
        }
        out += results.warnings ?? []
        return out
    }
}

extension ReportWriter {
    /// The report's warnings (its own checks and the runner's), as `experiment run` prints them.
    public func warnings() -> [String] { model.warnings }
}
