import Foundation
import Testing
import TestSupport
@testable import NN

@Suite struct LRScheduleTests {
    @Test func warmupThenCosine() {
        let s = LRSchedule.warmupCosine(baseLR: 1, warmupSteps: 10, totalSteps: 110)
        expectClose([s(0), s(4), s(9)], [0.1, 0.5, 1.0], rtol: 1e-12, atol: 0)
        expectClose([s(10), s(60), s(110)], [1, 0.5, 0], rtol: 1e-12, atol: 1e-15)
        expectClose([s(35)], [0.5 * (1 + cos(Double.pi / 4))], rtol: 1e-12, atol: 0)
    }

    @Test func endsAtTheMinimumAndNeverRises() {
        let s = LRSchedule.warmupCosine(baseLR: 5e-4, warmupSteps: 3, totalSteps: 20, minLR: 1e-5)
        #expect(abs(s(20) - 1e-5) < 1e-15)
        for step in 3..<60 { #expect(s(step + 1) <= s(step), "rises at step \(step)") }
        for step in 20..<60 { #expect(s(step) == s(20)) }
        for step in 3...60 { #expect(s(step) >= 1e-5 - 1e-15) }
        // No decay phase at all: the minimum right after warm-up.
        #expect(LRSchedule.warmupCosine(baseLR: 1, warmupSteps: 5, totalSteps: 5, minLR: 0.1)(5) == 0.1)
    }

    @Test func constantSchedules() {
        #expect(LRSchedule.constant(baseLR: 0.3)(0) == 0.3)
        #expect(LRSchedule.constant(baseLR: 0.3)(1000) == 0.3)
        let w = LRSchedule.warmupConstant(baseLR: 2, warmupSteps: 4)
        #expect([0, 1, 2, 3, 4, 100].map { w($0) } == [0.5, 1, 1.5, 2, 2, 2])
    }

    @Test func codableRoundTrip() throws {
        let schedules: [LRSchedule] = [
            .constant(baseLR: 0.1), .warmupConstant(baseLR: 0.2, warmupSteps: 3),
            .warmupCosine(baseLR: 5e-4, warmupSteps: 10, totalSteps: 100, minLR: 1e-6),
        ]
        let data = try JSONEncoder().encode(schedules)
        #expect(try JSONDecoder().decode([LRSchedule].self, from: data) == schedules)
    }
}
