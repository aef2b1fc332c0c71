import Foundation

/// The shape of the learning rate within one phase, as a pure function of the step in that phase.
public enum LRCurve: Sendable, Codable, Equatable {
    /// The same rate at every step.
    case constant(Double)
    /// Linear warm-up `peak·(t+1)/W` for `t < W`, then a half cosine from `peak` down to `minimum`
    /// that reaches `minimum` exactly at the phase's last step and stays there afterwards.
    ///
    /// The warm-up is shortened to `steps − 1` if the phase is shorter than `W + 1` steps, so that
    /// the last step is always the minimum. The official SafeCLIP scheduler
    /// (SafeCLIP/src/scheduler.py, `cosine_scheduler`) evaluates `cos(π·n/d)` with `n` able to
    /// exceed `d`, so its rate climbs back up; this curve cannot.
    case warmupCosine(peak: Double, warmupSteps: Int, minimum: Double)

    /// The rate at `step` (0-based) of a phase that lasts `steps` steps. Steps past the end give the
    /// final value; negative steps give the first.
    public func value(atStep step: Int, steps: Int) -> Double {
        switch self {
        case .constant(let lr):
            return lr
        case .warmupCosine(let peak, let warmupSteps, let minimum):
            let last = max(0, steps - 1)
            let t = min(max(step, 0), last)
            let warmup = min(max(warmupSteps, 0), last)
            if t < warmup { return peak * Double(t + 1) / Double(warmup) }
            let span = last - warmup
            let progress = span == 0 ? 1 : Double(t - warmup) / Double(span)
            return minimum + 0.5 * (peak - minimum) * (1 + cos(Double.pi * progress))
        }
    }
}

/// A learning-rate schedule made of consecutive phases, each a number of steps and an ``LRCurve``;
/// a pure function of the global optimiser step.
///
/// ```swift
/// let schedule = PhasedSchedule(phases: [
///     .init(name: "unimodal", steps: 500, curve: .warmupCosine(peak: 5e-4, warmupSteps: 50, minimum: 0)),
///     .init(name: "clip-warmup", steps: 100, curve: .constant(5e-6)),
/// ])
/// let lr = schedule.learningRate(atStep: 42)
/// ```
///
/// Steps past the last phase keep the last phase's final rate.
///
/// ### See Also
/// - ``SafeCLIPLearningRate``
public struct PhasedSchedule: Sendable, Codable, Equatable {
    /// One phase: a name for logs, a length in optimiser steps and a curve.
    public struct Phase: Sendable, Codable, Equatable {
        public var name: String
        public var steps: Int
        public var curve: LRCurve
        public init(name: String, steps: Int, curve: LRCurve) {
            precondition(steps >= 0, "phase \(name): negative step count \(steps)")
            self.name = name
            self.steps = steps
            self.curve = curve
        }
    }

    /// The phases, in order.
    public var phases: [Phase]

    public init(phases: [Phase]) { self.phases = phases }

    /// Total number of steps of all phases.
    public var totalSteps: Int { phases.reduce(0) { $0 + $1.steps } }

    /// The phase that contains global `step`, and the step within it; nil when there are no
    /// non-empty phases. Steps past the end map to the last non-empty phase (local step clamped).
    public func locate(step: Int) -> (phase: Int, localStep: Int)? {
        var start = 0
        var lastNonEmpty: (Int, Int)?
        for (index, phase) in phases.enumerated() where phase.steps > 0 {
            if step < start + phase.steps { return (index, max(0, step - start)) }
            lastNonEmpty = (index, phase.steps - 1)
            start += phase.steps
        }
        return lastNonEmpty.map { (phase: $0.0, localStep: $0.1) }
    }

    /// The learning rate at global optimiser `step` (0-based); 0 for a schedule with no steps.
    public func learningRate(atStep step: Int) -> Double {
        guard let (index, local) = locate(step: step) else { return 0 }
        return phases[index].curve.value(atStep: local, steps: phases[index].steps)
    }
}

/// Builds SafeCLIP's three-phase learning-rate schedule (SPEC §3).
///
/// What the official code does (SafeCLIP/src/main.py, train.py, scheduler.py):
/// - Phase 1 (unimodal, `inmodal_warmup` = 5 epochs): `cosine_scheduler(in_lr 5e-4, warm-up
///   10,000, total = 6 epochs of batches)` evaluated at `step = num_batches·epoch + index` with the
///   1-based epoch, so phase 1 starts one epoch into the warm-up and the cosine reaches 0 at the
///   end of epoch 5.
/// - Phase 2 (CLIP warm-up, 1 epoch): constant `filter_lr` 5e-6 (`lr_adjust`).
/// - Phase 3: two cosine schedulers (unimodal on the risky set with `in_lr`, CLIP on the safe set
///   with `cross_lr`, both 5e-4, warm-up 10,000) over `calcualte_num_batches`, which counts only
///   the safe-set steps; both are evaluated at `loader_batches·epoch + index` with the absolute
///   epoch, so the cosine argument runs past π and the rate rises again.
///
/// What we do: phase 1 is warm-up + cosine to `minimum` over exactly its steps (starting at step
/// 0); phase 2 is constant; phase 3 is one warm-up + cosine over **every** optimiser step phase 3
/// takes — the unimodal steps on the risky set and the CLIP steps on the safe set of each epoch,
/// counted with drop-last batching as the official loaders do — so the rate decreases monotonically
/// through the interleaved sub-epochs and ends at `minimum`. Phase 3's length is known once the
/// first mixed epoch has fixed `r`; build the full schedule then with ``phase3StepCount(_:total:batchSize:epochs:)``.
public struct SafeCLIPLearningRate: Sendable, Codable, Equatable {
    /// Peak rate of phase 1 (official `in_lr` 5e-4).
    public var unimodalPeak: Double = 5e-4
    /// Constant rate of phase 2 (official `filter_lr` 5e-6 = 0.01 × base).
    public var clipWarmupRate: Double = 5e-6
    /// Peak rate of phase 3 (official `in_lr` = `cross_lr` = 5e-4).
    public var mixedPeak: Double = 5e-4
    /// Warm-up steps of phases 1 and 3 (official `num_warmup_steps` 10,000).
    public var warmupSteps: Int = 10_000
    /// Final rate of the cosine phases (official 0).
    public var minimum: Double = 0

    public init(
        unimodalPeak: Double = 5e-4, clipWarmupRate: Double = 5e-6, mixedPeak: Double = 5e-4,
        warmupSteps: Int = 10_000, minimum: Double = 0
    ) {
        self.unimodalPeak = unimodalPeak
        self.clipWarmupRate = clipWarmupRate
        self.mixedPeak = mixedPeak
        self.warmupSteps = warmupSteps
        self.minimum = minimum
    }

    /// Batches of a drop-last loader over `count` items.
    public static func batches(_ count: Int, batchSize: Int) -> Int {
        precondition(batchSize > 0)
        return count / batchSize
    }

    /// Optimiser steps of all remaining mixed epochs: for each epoch, the unimodal batches of the
    /// risky set plus the CLIP batches of the safe set (drop-last).
    ///
    /// - Parameters:
    ///   - schedule: the safe-set schedule *after* the first selection (so `r` is known).
    ///   - firstSafeCount: the first mixed epoch's safe-set size (already selected).
    ///   - total: N.
    ///   - batchSize: global batch size.
    ///   - epochs: number of mixed epochs in all, the first included (official 32 − 5 − 1 = 26).
    ///   - unimodalOnRisky: whether the risky set is trained with the unimodal loss (official
    ///     `cross_inmodal`, default true).
    public static func phase3StepCount(
        _ schedule: SafeSetSchedule, firstSafeCount: Int, total: Int, batchSize: Int, epochs: Int,
        unimodalOnRisky: Bool = true
    ) -> Int {
        guard epochs > 0 else { return 0 }
        let counts = [firstSafeCount] + schedule.projectedSafeCounts(epochs: epochs - 1, total: total)
        return counts.reduce(0) { sum, safe in
            sum + batches(safe, batchSize: batchSize) + (unimodalOnRisky ? batches(total - safe, batchSize: batchSize) : 0)
        }
    }

    /// The schedule of phases 1 and 2 only (phase 3 not yet known).
    public func warmupPhases(unimodalSteps: Int, clipWarmupSteps: Int) -> PhasedSchedule {
        PhasedSchedule(phases: [
            .init(name: "unimodal", steps: unimodalSteps, curve: .warmupCosine(peak: unimodalPeak, warmupSteps: warmupSteps, minimum: minimum)),
            .init(name: "clip-warmup", steps: clipWarmupSteps, curve: .constant(clipWarmupRate)),
        ])
    }

    /// The full three-phase schedule.
    public func schedule(unimodalSteps: Int, clipWarmupSteps: Int, mixedSteps: Int) -> PhasedSchedule {
        var s = warmupPhases(unimodalSteps: unimodalSteps, clipWarmupSteps: clipWarmupSteps)
        s.phases.append(.init(name: "mixed", steps: mixedSteps, curve: .warmupCosine(peak: mixedPeak, warmupSteps: warmupSteps, minimum: minimum)))
        return s
    }
}
