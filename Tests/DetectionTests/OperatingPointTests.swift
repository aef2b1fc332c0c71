import Detection
import Foundation
import Testing

/// TPR at a fixed FPR, the robust scale, label-free thresholds and the metrics at them, by hand.
@Suite struct OperatingPointTests {
    @Test func tprAtOnePercentFPRByHand() throws {
        // 200 clean pairs scored 0…199 and 4 poisoned pairs scored 500, 198.5, 197.5, −1.
        // FPR ≤ 1% allows 2 clean pairs above the cut (199 and 198), so the cut may sit just under
        // 197.5: poisoned 500, 198.5 and 197.5 are above it (TPR 3/4); −1 would need all 200.
        // At FPR ≤ 0.5% only clean 199 may pass: the cut sits under 198.5 (TPR 2/4).
        var scores = (0..<200).map(Double.init)
        scores += [500, 198.5, 197.5, -1]
        let poisoned = [200, 201, 202, 203]
        let m = DetectionMetrics(scores: scores, poisoned: poisoned)
        #expect(m.tprAt1FPR == 0.75)
        var flags = [Bool](repeating: false, count: 204)
        for i in poisoned { flags[i] = true }
        #expect(DetectionMetrics.tpr(scores: scores, positive: flags, atFPR: 0.005) == 0.5)
        // Ties move together: a clean pair tied with the best poisoned one blocks nothing at 1%,
        // but at FPR 0 it does.
        #expect(DetectionMetrics.tpr(scores: [1, 1, 0, 0], positive: [true, false, false, false], atFPR: 0) == 0)
        #expect(DetectionMetrics.tpr(scores: [2, 1, 0, 0], positive: [true, false, false, false], atFPR: 0) == 1)
        #expect(DetectionMetrics.tpr(scores: [1, 2], positive: [false, false], atFPR: 0.01) == nil)
    }

    @Test func robustScaleAndThresholds() {
        // Median 3, |deviations| 2,1,0,1,97 → MAD 1 → scale 1.4826.
        let r = RobustScale([1, 2, 3, 4, 100, .nan])
        #expect(r.median == 3 && abs(r.scale - 1.4826) < 1e-12)
        // Over half tied: MAD 0, so the mean absolute deviation (×1.2533) is the scale.
        let tied = RobustScale([0, 0, 0, 0, 8])
        #expect(tied.median == 0 && abs(tied.scale - 1.2533 * 8 / 5) < 1e-12)
        #expect(RobustScale([2, 2, 2]).scale == 0)
        let rule = ThresholdRule.robustZ(3.5)
        #expect(abs(rule.cut([1, 2, 3, 4, 100]) - (3 + 3.5 * 1.4826)) < 1e-12)
        #expect(rule.cut([2, 2, 2]) == .infinity)  // a constant column flags nothing
        // A detector suspicious when low: the cut is on its own scale, below the median.
        let low = ThresholdedColumn(values: [-100, 1, 2, 3, 4, 5], direction: .lower, rule: rule)
        #expect(low.flags == [true, false, false, false, false, false] && low.threshold.flagged == 1)
        #expect(low.threshold.value < 0 && low.threshold.direction == .lower)
    }

    @Test func precisionRecallAndF1AtTheThreshold() {
        // Flagged: rows 0, 1, 2; poisoned: 1, 2, 3, 4 → hits 2, precision 2/3, recall 1/2, F1 4/7.
        let m = DetectionMetrics(scores: [5, 4, 3, 2, 1], poisoned: [1, 2, 3, 4], flagged: [true, true, true, false, false])
        let t = try! #require(m.atThreshold)
        #expect(t.flagged == 3 && t.hits == 2)
        #expect(abs(t.precision - 2.0 / 3) < 1e-12 && t.recall == 0.5 && abs(t.f1 - 4.0 / 7) < 1e-12)
        let none = DetectionMetrics(scores: [1, 2], poisoned: [0], flagged: [false, false]).atThreshold!
        #expect(none.f1 == 0 && none.precision == 0)
    }

    @Test func dropRulesParse() throws {
        #expect(try DropRule(parsing: "threshold") == .threshold)
        #expect(try DropRule(parsing: "0.05") == .fraction(0.05))
        #expect { try DropRule(parsing: "1.5") } throws: { "\($0)".contains("--drop") }
        #expect { try DropRule(parsing: "top") } throws: { "\($0)".contains("\"top\"") }
    }
}
