import Foundation
import TestSupport
import Testing
@testable import Experiments

/// Issue 25: a defence compared with plain CLIP where either model is near chance is named, and
/// the report shows the experiment's and the rows' warnings.
@Suite struct ExperimentWarningsTests {
    @Test func aComparisonAtChanceIsNamedAndReported() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        var results = s.results
        // The synthetic rows are well above chance (10 classes here): no warning.
        #expect(results.comparisonWarnings(classes: ["test": 10]).isEmpty)
        let index = try #require(results.rows.firstIndex { $0.defense == .train(.safeclip) })
        results.rows[index].evaluations["test"]?.top1 = 0.12
        let warnings = results.comparisonWarnings(classes: ["test": 10])
        #expect(warnings.count == 1)
        let warning = try #require(warnings.first)
        #expect(warning.contains("row \(results.rows[index].id)") && warning.contains("the defended model is near chance"), "\(warning)")
        #expect(warning.contains("12.0 %") && warning.contains("chance 10.0 %"))

        results.warnings = warnings
        results.rows[index].warnings = [
            "too few poisoned pairs for a backdoor to take: 1 poisoned of 101 pairs", "the warm-up (100 steps, --warmup-steps) is not shorter than the run (12 steps)",
        ]
        let report = ReportWriter(directory: s.dir.path, results: results)
        let markdown = report.markdown()
        #expect(markdown.contains("Warnings") && markdown.contains(warning))
        #expect(markdown.contains("Row \(results.rows[index].id) (and the rows on the same poisoned set): too few poisoned pairs"))
        #expect(markdown.contains("Row \(results.rows[index].id): the warm-up (100 steps"))
        #expect(report.warnings().contains(warning))
        #expect(report.html().contains(warning.replacingOccurrences(of: "'", with: "&#39;")) || report.html().contains("near chance"))
        // Without recorded warnings the report says none of these.
        #expect(!ReportWriter(directory: s.dir.path, results: s.results).markdown().contains("too few poisoned pairs"))
    }

    @Test func aPoisonAmountWarningIsLeftOutForARowWhoseBackdoorTook() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        var results = s.results
        let index = try #require(results.rows.firstIndex { $0.defense == .train(.safeclip) })
        results.rows[index].warnings = ["too few poisoned pairs for a backdoor to take: 180 poisoned of 60180 pairs"]
        for (asr, shown) in [(0.3, true), (0.98, false)] {
            results.rows[index].evaluations["test"]?.asr = asr
            let markdown = ReportWriter(directory: s.dir.path, results: results).markdown()
            #expect(markdown.contains("too few poisoned pairs") == shown, "ASR \(asr)")
        }
    }
}
