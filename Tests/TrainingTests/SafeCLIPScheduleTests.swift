import Defenses
import Foundation
import NN
import Testing
import TestSupport

@testable import Training

@Suite("Joined schedules and SafeCLIP's learning rate")
struct SafeCLIPScheduleTests {
    @Test("a cosine phase warms up linearly (t+1)/W, then falls to the minimum exactly at its last step")
    func cosinePhase() {
        let phase = LRSchedule.cosinePhase(peak: 1, warmupSteps: 4, steps: 10, minimum: 0.1)
        let values = (0..<14).map { phase($0) }
        expectClose(Array(values[0..<4]), [0.25, 0.5, 0.75, 1.0], atol: 1e-15)
        #expect(values[4] == 1)  // cosine start
        expectClose([values[9]], [0.1], atol: 1e-15)  // last step: minimum
        expectClose([values[6]], [0.1 + 0.45 * (1 + cos(Double.pi * 2 / 5))], atol: 1e-15)
        #expect(values[10...].allSatisfy { $0 == values[9] })  // past the end: held
    }

    @Test("a cosine phase never rises after warm-up and ends at its minimum, for any length", arguments: [1, 2, 3, 5, 11, 100, 1234])
    func monotone(steps: Int) {
        for warmup in [0, 1, 3, 10, 10_000] {
            let phase = LRSchedule.cosinePhase(peak: 5e-4, warmupSteps: warmup, steps: steps)
            let v = (0..<(steps + 5)).map { phase($0) }
            let top = v.indices.max { v[$0] < v[$1] }!
            #expect(zip(v[top...], v[top...].dropFirst()).allSatisfy { $0 >= $1 }, "steps \(steps) warmup \(warmup)")
            #expect(v[steps - 1] == 0, "steps \(steps) warmup \(warmup): last value \(v[steps - 1])")
            #expect(v.allSatisfy { $0 >= 0 && $0 <= 5e-4 })
        }
    }

    @Test("joined phases follow each other, each at its local step; steps past the end keep the last rate")
    func joined() throws {
        let schedule = LRSchedule.joined([
            .init(name: "a", steps: 3, schedule: .constant(baseLR: 1)),
            .init(name: "empty", steps: 0, schedule: .constant(baseLR: 99)),
            .init(name: "b", steps: 2, schedule: .warmupConstant(baseLR: 2, warmupSteps: 2)),
        ])
        #expect(schedule.totalSteps == 5)
        #expect((0..<8).map { schedule($0) } == [1, 1, 1, 1, 2, 2, 2, 2])
        let located = schedule.locate(step: 3)
        #expect(located?.phase == 2 && located?.localStep == 0)
        #expect(LRSchedule.joined([])(3) == 0)
        let decoded = try JSONDecoder().decode(LRSchedule.self, from: JSONEncoder().encode(schedule))
        #expect(decoded == schedule)
    }

    @Test("SafeCLIP: phase 1 cosine to 0, phase 2 constant 5e-6, phase 3 warm-up + cosine to 0; warm-up ≤ 10 % of a phase")
    func safeCLIP() {
        let schedule = SafeCLIPLearningRate.schedule(
            lr: 5e-4, clipWarmupLR: 5e-6, warmupSteps: 20, unimodalSteps: 100, clipWarmupSteps: 20, mixedSteps: 300)
        #expect(schedule.totalSteps == 420)
        // Phase 1 warms up for min(20, 100/10) = 10 steps, phase 3 for min(20, 300/10) = 20.
        #expect(schedule(0) == 5e-4 / 10)
        #expect(schedule(9) == 5e-4)
        #expect(schedule(99) == 0)
        #expect((100..<120).allSatisfy { schedule($0) == 5e-6 })
        #expect(schedule(120) == 5e-4 / 20)
        #expect(schedule(139) == 5e-4)
        #expect(schedule(419) == 0)
        let tail = (139..<500).map { schedule($0) }
        #expect(zip(tail, tail.dropFirst()).allSatisfy { $0 >= $1 })
    }

    @Test("phase-3 step count follows the safe-set schedule (drop-last batches of risky and safe sets)")
    func phase3Steps() {
        var safeSets = SafeSetSchedule()
        let n = 1000, batch = 64, epochs = 26
        let first = safeSets.select(posteriors: (0..<n).map { Double($0) / Double(n) })  // 100 safe
        let total = SafeCLIPLearningRate.phase3StepCount(safeSets, firstSafeCount: first.safe.count, total: n, batchSize: batch, epochs: epochs)
        var expected = 0
        var replay = SafeSetSchedule()
        for _ in 0..<epochs {
            let split = replay.select(posteriors: (0..<n).map { Double($0) / Double(n) })
            expected += split.safe.count / batch + split.risky.count / batch
        }
        #expect(total == expected)
    }

    /// The official `cosine_scheduler` as SafeCLIP's main.py/train.py drive it in phase 3: the
    /// cross-modal scheduler is built over `total_train_steps` (the safe-set batches of all mixed
    /// epochs) but evaluated at `train_num_batches · epoch + index` with the absolute epoch.
    func officialCrossModalRate(epoch: Int, index: Int, totalSteps: Double, batchesPerEpoch: Int, warmup: Int, base: Double) -> Double {
        let step = batchesPerEpoch * epoch + index
        if step < warmup { return base * Double(step + 1) / Double(warmup) }
        let n = Double(step - warmup), d = totalSteps - Double(warmup)
        return 0.5 * (1 + cos(Double.pi * n / d)) * base
    }

    @Test("the official phase-3 schedule rises again near the end; ours does not")
    func officialOverrun() {
        // 32 epochs, 5 + 1 warm-up epochs, 26 mixed epochs of 40 safe-set batches each.
        let batches = 40, mixedEpochs = 26, warmup = 100
        let total = Double(batches * mixedEpochs)
        let official = (7...32).flatMap { epoch in
            (0..<batches).map { officialCrossModalRate(epoch: epoch, index: $0, totalSteps: total, batchesPerEpoch: batches, warmup: warmup, base: 5e-4) }
        }
        let officialMinimum = official.min()!
        #expect(official.last! > officialMinimum + 5e-5, "official schedule should overrun: last \(official.last!) vs min \(officialMinimum)")

        let phase = LRSchedule.cosinePhase(peak: 5e-4, warmupSteps: warmup, steps: Int(total))
        let ours = (0..<Int(total)).map { phase($0) }
        #expect(ours.last! == 0 && ours.min()! == 0)
        #expect(zip(ours[warmup...], ours[warmup...].dropFirst()).allSatisfy { $0 >= $1 })
    }
}
