import Detection
import Foundation
import Training

/// `detect`'s warnings (``ResultWarnings``): a detector column whose AUROC is well below chance.
/// Printed at the end of the command and added to `summary.json` as `warnings`.
enum DetectWarnings {
    static func warnings(_ summary: DetectionSummary) -> [String] {
        (summary.metrics ?? [:]).sorted { $0.key < $1.key }.compactMap { name, metrics in
            metrics.auroc.flatMap { ResultWarnings.invertedDetector(name, auroc: $0) }
        }
    }

    /// Adds `warnings` to the `"warnings"` list of the JSON object in `path` (kept as it is when there is none).
    static func record(_ warnings: [String], inSummary path: String) throws {
        guard !warnings.isEmpty, let data = FileManager.default.contents(atPath: path),
            var object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return }
        let existing = object["warnings"] as? [String] ?? []  // the detectors' own (label-free) warnings stay
        object["warnings"] = existing + warnings.filter { !existing.contains($0) }
        let updated = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try updated.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
