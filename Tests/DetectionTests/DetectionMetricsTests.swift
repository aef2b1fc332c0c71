import Detection
import Foundation
import Testing

@Suite struct DetectionMetricsTests {
    @Test func aurocOfHandMadeScores() throws {
        // Poisoned 0 and 2 outscore every clean pair: AUROC 1; reversed: 0.
        #expect(DetectionMetrics(scores: [0.9, 0.1, 0.8, 0.2], poisoned: [0, 2]).auroc == 1)
        #expect(DetectionMetrics(scores: [0.1, 0.9, 0.2, 0.8], poisoned: [0, 2]).auroc == 0)
        // One poisoned (0.5) against clean 0.9, 0.5, 0.1: beats 1, ties 1, loses 1 → (1 + 0.5) / 3.
        let tied = try #require(DetectionMetrics(scores: [0.5, 0.9, 0.5, 0.1], poisoned: [0]).auroc)
        #expect(abs(tied - 0.5) < 1e-12)
        // Poisoned {0, 3} with scores 3 and 1; clean 4, 2, 0: pairs won 1+2 of 6.
        let mixed = try #require(DetectionMetrics(scores: [3, 4, 2, 1, 0], poisoned: [0, 3]).auroc)
        #expect(abs(mixed - 3.0 / 6.0) < 1e-12)
        // All equal: 0.5; no poisoned pair: undefined.
        #expect(DetectionMetrics(scores: [1, 1, 1, 1], poisoned: [1]).auroc == 0.5)
        #expect(DetectionMetrics(scores: [1, 2], poisoned: []).auroc == nil)
    }

    @Test func precisionAndRecallAtK() {
        // Ranking (descending, ties by index): 1, 3, 0, 2, 4. Poisoned: 1, 2.
        let metrics = DetectionMetrics(scores: [0.5, 0.9, 0.3, 0.7, 0.1], poisoned: [1, 2], ks: [(2, "poisoned"), (4, "80%"), (9, "all")])
        #expect(metrics.atK.map(\.hits) == [1, 2, 2])
        #expect(metrics.atK[0].precision == 0.5 && metrics.atK[0].recall == 0.5)
        #expect(metrics.atK[1].precision == 0.5 && metrics.atK[1].recall == 1)
        #expect(metrics.atK[2].k == 5)  // clamped to N
        #expect(DetectionMetrics.ranking([0.5, 0.9, 0.3, 0.7, .nan, 0.9]) == [1, 5, 3, 0, 2, 4])
    }

    @Test func standardCutsStartAtThePoisonCount() {
        let cuts = DetectionMetrics.standardCuts(total: 2000, poisoned: 100)
        #expect(cuts.map(\.0) == [100, 10, 20, 100, 200])
    }

    @Test func rankAverageAndROC() {
        // Ranks scaled to [0, 1]; NaN counts as least suspicious.
        let combined = rankAverage([[1, 2, 3], [3, 2, .nan]])
        #expect(combined == [0.5, 0.5, 0.5])
        let roc = DetectionMetrics.rocCurve(scores: [0.9, 0.8, 0.1, 0.2], positive: [true, false, true, false])
        #expect(roc == [[0, 0], [0, 0.5], [0.5, 0.5], [1, 0.5], [1, 1]])
    }

    @Test func randomScoresFailTheThresholdsTheDetectorTestsUse() {
        // The detector tests demand AUROC ≥ 0.9; scores that ignore the data stay near 0.5.
        var state: UInt64 = 7
        let scores = (0..<1000).map { _ -> Double in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        let auroc = DetectionMetrics(scores: scores, poisoned: Array(stride(from: 0, to: 1000, by: 10))).auroc!
        #expect(abs(auroc - 0.5) < 0.1)
    }
}
