import Foundation
import Testing
import TestSupport

@testable import Defenses

@Suite("SafeSetSchedule")
struct SafeSetScheduleTests {
    /// Posteriors 0.00, 0.01, …, 0.99 for pairs 0…99 (pair i has p = i/100).
    let ramp = (0..<100).map { Double($0) / 100 }

    @Test("first epoch keeps p ≥ 0.9; later epochs take the top ⌊r·N⌋ with r += 0.01 after each selection")
    func stepByStep() {
        var schedule = SafeSetSchedule()
        #expect(schedule.nextFraction == nil)

        // Epoch 1 of phase 3: threshold rule. p ≥ 0.9 → pairs 90…99, r = 0.10.
        let first = schedule.select(posteriors: ramp)
        #expect(first.rule == .threshold && first.mixedEpoch == 0)
        #expect(first.safe == Array(90..<100))
        #expect(first.risky == Array(0..<90))
        #expect(first.fraction == 0.10)
        // The increment applies right after the selection (official main.py), before epoch 2.
        #expect(abs(schedule.nextFraction! - 0.11) < 1e-12)

        // Epoch 2: top ⌊0.11·100⌋ = 11 by p → pairs 89…99.
        let second = schedule.select(posteriors: ramp)
        #expect(second.rule == .topFraction && second.mixedEpoch == 1)
        #expect(second.safe == Array(89..<100))
        #expect(second.risky == Array(0..<89))

        // Epoch 3: 12 pairs, even if the posteriors changed (top-r ignores the threshold).
        let third = schedule.select(posteriors: ramp.map { $0 * 0.5 })
        #expect(third.safe == Array(88..<100))
        #expect(schedule.selectionsMade == 3)
    }

    @Test("r stops at the cap 0.85; a first fraction above the cap drops to the cap (as the official code)")
    func cap() {
        var schedule = SafeSetSchedule()
        let high = (0..<100).map { $0 < 5 ? 0.2 : 0.95 }  // 95% above 0.9
        #expect(schedule.select(posteriors: high).safe.count == 95)
        #expect(schedule.select(posteriors: high).safe.count == 85)
        var s2 = SafeSetSchedule()
        _ = s2.select(posteriors: ramp)  // r = 0.10
        let counts = (0..<80).map { _ in s2.select(posteriors: ramp).safe.count }
        #expect(counts.first == 11)
        #expect(counts.max() == 85)
        #expect(counts.last == 85)
        #expect(zip(counts, counts.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(counts[73] == 84 && counts[74] == 85)
    }

    @Test("repeated 0.01 increments do not lose a pair to rounding")
    func noDrift() {
        var schedule = SafeSetSchedule()
        let p = (0..<1000).map { Double($0) / 1000 }
        _ = schedule.select(posteriors: p)  // p ≥ 0.9: 100 pairs, r = 0.1
        for epoch in 1..<60 {
            let expected = min(100 + 10 * epoch, 850)
            #expect(schedule.select(posteriors: p).safe.count == expected, "epoch \(epoch)")
        }
    }

    @Test("ties in p are broken by larger similarity, then by smaller index")
    func ties() {
        var schedule = SafeSetSchedule()
        _ = schedule.select(posteriors: [Double](repeating: 0.95, count: 3) + [Double](repeating: 0, count: 7))  // r = 0.3
        let p = [Double](repeating: 1, count: 10)
        let s = [0.1, 0.5, 0.5, 0.2, 0.9, 0.0, 0.3, 0.5, 0.1, 0.4]
        // r = 0.31 → 3 pairs: similarity 0.9 (4), then 0.5 ties at 1 and 2 (index order).
        #expect(schedule.select(posteriors: p, similarities: s).safe == [1, 2, 4])
        // r = 0.32 → 3 pairs with no similarities: the smallest indices.
        #expect(schedule.select(posteriors: p).safe == [0, 1, 2])
    }

    @Test("safe and risky partition the indices", arguments: [1, 7, 50])
    func partition(n: Int) {
        var schedule = SafeSetSchedule()
        var rng = SplitMix(seed: UInt64(n))
        for _ in 0..<4 {
            let p = (0..<n).map { _ in Double(rng.next() >> 11) * 0x1p-53 }
            let split = schedule.select(posteriors: p)
            #expect((split.safe + split.risky).sorted() == Array(0..<n))
            #expect(Set(split.safe).isDisjoint(with: split.risky))
            // Every safe pair has p at least every risky pair's p.
            if let minSafe = split.safe.map({ p[$0] }).min(), let maxRisky = split.risky.map({ p[$0] }).max() {
                #expect(minSafe >= maxRisky)
            }
        }
    }

    @Test("a schedule saved mid-run resumes with the same selections")
    func resume() throws {
        var a = SafeSetSchedule()
        _ = a.select(posteriors: ramp)
        _ = a.select(posteriors: ramp)
        let restored = try JSONDecoder().decode(SafeSetSchedule.self, from: JSONEncoder().encode(a))
        var b = restored
        #expect(b == a)
        #expect(a.select(posteriors: ramp) == b.select(posteriors: ramp))
        #expect(a.nextFraction == b.nextFraction)
    }

    @Test("projected counts equal the selections that follow")
    func projection() {
        var schedule = SafeSetSchedule()
        _ = schedule.select(posteriors: ramp)
        let projected = schedule.projectedSafeCounts(epochs: 80, total: 100)
        let actual = (0..<80).map { _ in schedule.select(posteriors: ramp).safe.count }
        #expect(projected == actual)
    }

    @Test("selecting from similarities fits the mixture and keeps the clearly high group")
    func fromSimilarities() throws {
        let c = try #require(try loadGMMFixture().cases["bimodal"])  // 300 near 0.30, 60 near 0.05
        var schedule = SafeSetSchedule()
        let (split, fit) = schedule.select(similarities: c.values)
        #expect(fit.degenerate == nil)
        let p = fit.posteriorOfLargestMean(c.values)
        #expect(split.safe == c.values.indices.filter { p[$0] >= 0.9 })
        #expect(split.safe.filter { $0 >= 300 }.count <= 3)  // few of the low group are safe
        #expect(split.safe.count > 250)
        // A degenerate first epoch selects nothing.
        var other = SafeSetSchedule()
        #expect(other.select(similarities: [0.2, 0.2, 0.2]).selection.safe.isEmpty)
    }

    @Test("the empty data set selects nothing")
    func empty() {
        var schedule = SafeSetSchedule()
        let split = schedule.select(posteriors: [])
        #expect(split.safe.isEmpty && split.risky.isEmpty && split.fraction == 0)
    }
}
