import Foundation
import Testing
import TestSupport

@testable import Defenses

@Suite("Poison detection and similarity filtering")
struct PoisonDetectionTests {
    @Test("counts, precision and recall of the risky set as a poison detector")
    func report() {
        // 10 pairs; safe = 0…5, risky = 6…9; poisoned = 2, 7, 8 (listed twice: counted once).
        let r = PoisonDetectionReport(safe: [5, 4, 3, 2, 1, 0], total: 10, poisoned: [7, 2, 8, 8])
        #expect(r.poisonedCount == 3)
        #expect(r.poisonedInSafe == 1)
        #expect(r.poisonedInRisky == 2)
        #expect(r.riskyCount == 4)
        #expect(r.precision == 0.5)
        #expect(r.recall == 2.0 / 3.0)
    }

    @Test("precision and recall are nil where undefined")
    func undefined() {
        let allSafe = PoisonDetectionReport(safe: Array(0..<4), total: 4, poisoned: [1])
        #expect(allSafe.precision == nil && allSafe.recall == 0)
        let clean = PoisonDetectionReport(safe: [0], total: 4, poisoned: [])
        #expect(clean.recall == nil && clean.precision == 0)
    }

    @Test("histogram bins clean and poisoned similarities separately")
    func histogram() {
        let s = [-1.0, -0.5, 0.0, 0.49, 0.5, 1.0, 1.5, .nan]
        let h = SimilarityHistogram(similarities: s, poisoned: [3, 5], binCount: 4)
        #expect(h.edges == [-1, -0.5, 0, 0.5, 1])
        #expect(h.clean.reduce(0, +) + h.poisoned.reduce(0, +) + h.outOfRange == s.count)
        #expect(h.outOfRange == 2)
        #expect(h.poisoned == [0, 0, 1, 1])  // 0.49 in [0, 0.5); 1.0 in the last bin
        #expect(h.clean == [1, 1, 1, 1])  // -1, -0.5, 0.0, 0.5
    }

    @Test("similarity filter drops the lowest round(f·N), ties by index, NaN first")
    func filter() {
        let s = [0.3, 0.1, 0.5, 0.1, .nan, 0.9]
        #expect(SimilarityFilter.keptIndices(similarities: s, dropFraction: 0) == [0, 1, 2, 3, 4, 5])
        #expect(SimilarityFilter.keptIndices(similarities: s, dropFraction: 1.0 / 6) == [0, 1, 2, 3, 5])  // NaN dropped
        #expect(SimilarityFilter.keptIndices(similarities: s, dropFraction: 2.0 / 6) == [0, 2, 3, 5])  // tie: index 1 first
        #expect(SimilarityFilter.keptIndices(similarities: s, dropFraction: 0.5) == [0, 2, 5])
        #expect(SimilarityFilter.keptIndices(similarities: s, dropFraction: 1).isEmpty)
    }

    @Test("filter keeps N − round(f·N) pairs, all at least as similar as any dropped pair", arguments: [0.0, 0.05, 0.33, 0.5, 0.9])
    func filterProperty(f: Double) {
        var rng = SplitMix(seed: 9)
        let s = (0..<101).map { _ in Double(rng.next() % 20) / 20 }  // many ties
        let kept = SimilarityFilter.keptIndices(similarities: s, dropFraction: f)
        #expect(kept.count == 101 - Int((f * 101).rounded()))
        let dropped = Set(0..<101).subtracting(kept)
        if let minKept = kept.map({ s[$0] }).min(), let maxDropped = dropped.map({ s[$0] }).max() {
            #expect(minKept >= maxDropped)
        }
        #expect(kept == kept.sorted())
    }
}
