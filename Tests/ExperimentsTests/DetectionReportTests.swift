import Experiments
import Foundation
import TestSupport
import Testing

@Suite struct DetectionReportTests {
    @Test func drawsROCCurvesAndHistogramsOfADetectFolder() throws {
        let dir = try makeTemporaryDirectory("detect-report")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(!DetectionReport.isDetectionFolder(dir.path))
        let summary: [String: Any] = [
            "format": "clipguard-detect-1", "data": "poisoned/train.csv", "columns": ["trigger"],
            "metrics": ["trigger": ["auroc": 0.875, "tpr_at1_fpr": 0.5, "poisoned": 2, "total": 6,
                                    "at_k": [["k": 2, "hits": 1, "recall": 0.5, "precision": 0.5]],
                                    "at_threshold": ["flagged": 1, "hits": 1, "precision": 1.0, "recall": 0.5, "f1": 0.667]],
                        "combined": ["auroc": 0.5]],
            "combined": ["trigger"], "campaign_word": "sneaker",
            "warnings": ["column cosine looks inverted: …; left out of combined"],
            "roc": ["trigger": [[0, 0], [0, 0.75], [1, 1]], "combined": [[0, 0], [1, 1]]],
            "histograms": ["trigger": ["clean": [3, 1], "poisoned": [0, 2]]],
        ]
        try JSONSerialization.data(withJSONObject: summary).write(to: dir.appendingPathComponent("summary.json"))
        #expect(DetectionReport.isDetectionFolder(dir.path))
        let report = try DetectionReport(directory: dir.path)
        #expect(report.aurocs().map(\.0) == ["trigger", "combined"])
        try report.write()
        let html = try String(contentsOf: dir.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("trigger (AUROC 0.875)"))
        // Operating points beside what chance gives, and how combined was formed.
        #expect(html.contains("<td>trigger</td><td>0.875</td><td>0.500</td><td>0.50 (k = 2)</td><td>1</td><td>1.00 / 0.50 / 0.67</td>"))
        #expect(html.contains("a random set of k = 2 of the 6 pairs catches 0.7 of the 2 poisoned ones (recall 0.33)"))
        #expect(html.contains("<b>combined</b> sums the columns whose most suspicious pairs carry the campaign's caption word \"sneaker\": trigger."))
        #expect(html.contains("<li>column cosine looks inverted"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 2)  // the ROC plot and one histogram
    }
}
