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
            "metrics": ["trigger": ["auroc": 0.875], "combined": ["auroc": 0.5]],
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
        #expect(html.components(separatedBy: "<svg").count - 1 == 2)  // the ROC plot and one histogram
    }
}
