import Foundation

/// A learning-rate schedule: a pure function of the (0-based) optimizer step.
///
/// ```swift
/// let schedule = LRSchedule.warmupCosine(baseLR: 5e-4, warmupSteps: 100, totalSteps: 1000)
/// optimizer.learningRate = schedule(step)
/// ```
///
/// Schedules of consecutive phases (SafeCLIP's three) are joined with ``joined(_:)``, each phase
/// seeing its own local step, as mlx-swift's `joinSchedules` does.
///
/// Codable, for training configurations, e.g.
/// `{"warmupCosine": {"baseLR": 0.0005, "warmupSteps": 100, "totalSteps": 1000, "minLR": 0}}`.
public indirect enum LRSchedule: Codable, Sendable, Equatable {
    /// `baseLR` at every step.
    case constant(baseLR: Double)
    /// open_clip's `cosine_lr`: `baseLR·(step+1)/warmupSteps` during warm-up, then
    /// `minLR + ½(1 + cos(π·e/es))·(baseLR − minLR)` with `e = step − warmupSteps`,
    /// `es = totalSteps − warmupSteps`; from `totalSteps` on it stays at `minLR`.
    case warmupCosine(baseLR: Double, warmupSteps: Int, totalSteps: Int, minLR: Double = 0)
    /// open_clip's `const_lr`: linear warm-up as above, then `baseLR`.
    case warmupConstant(baseLR: Double, warmupSteps: Int)
    /// Consecutive phases: a global step in phase `k` gets phase `k`'s schedule at the step minus
    /// the steps of the phases before it. Empty phases are skipped; steps past the end get the last
    /// non-empty phase's value at its last step; with no steps at all the rate is 0.
    case joined([Phase])

    /// One phase of a ``joined(_:)`` schedule: a name for logs, a length in optimizer steps, and
    /// the schedule it follows (evaluated at the step within the phase).
    public struct Phase: Codable, Sendable, Equatable {
        public var name: String
        public var steps: Int
        public var schedule: LRSchedule
        public init(name: String, steps: Int, schedule: LRSchedule) {
            self.name = name
            self.steps = max(0, steps)
            self.schedule = schedule
        }
    }

    /// A warm-up + cosine phase of `steps` steps that reaches `minimum` exactly at its last step:
    /// open_clip's `cosine_lr` with the decay ending one step earlier, and the warm-up shortened to
    /// `steps − 1` when the phase is shorter than the warm-up. (The official SafeCLIP scheduler
    /// evaluates its cosine past the end of its phase, so its rate rises again; this cannot.)
    public static func cosinePhase(peak: Double, warmupSteps: Int, steps: Int, minimum: Double = 0) -> LRSchedule {
        let last = max(0, steps - 1)
        return .warmupCosine(baseLR: peak, warmupSteps: min(max(0, warmupSteps), last), totalSteps: last, minLR: minimum)
    }

    /// Total steps of a ``joined(_:)`` schedule (nil for the other cases, which have no end).
    public var totalSteps: Int? {
        if case .joined(let phases) = self { return phases.reduce(0) { $0 + $1.steps } }
        return nil
    }

    /// The phase of a ``joined(_:)`` schedule that holds global `step`, and the step within it;
    /// nil for other schedules or when no phase has steps.
    public func locate(step: Int) -> (phase: Int, localStep: Int)? {
        guard case .joined(let phases) = self else { return nil }
        var start = 0
        var lastNonEmpty: (Int, Int)?
        for (index, phase) in phases.enumerated() where phase.steps > 0 {
            if step < start + phase.steps { return (index, max(0, step - start)) }
            lastNonEmpty = (index, phase.steps - 1)
            start += phase.steps
        }
        return lastNonEmpty.map { (phase: $0.0, localStep: $0.1) }
    }

    /// The learning rate at `step` (≥ 0).
    public func callAsFunction(_ step: Int) -> Double {
        precondition(step >= 0, "LRSchedule: negative step \(step)")
        switch self {
        case .constant(let baseLR):
            return baseLR
        case .warmupConstant(let baseLR, let warmupSteps):
            return step < warmupSteps ? Self.warmup(baseLR, warmupSteps, step) : baseLR
        case .joined(let phases):
            guard let (index, local) = locate(step: step) else { return 0 }
            return phases[index].schedule(local)
        case .warmupCosine(let baseLR, let warmupSteps, let totalSteps, let minLR):
            if step < warmupSteps { return Self.warmup(baseLR, warmupSteps, step) }
            let decaySteps = totalSteps - warmupSteps
            guard decaySteps > 0 else { return minLR }
            let progress = Double(min(step - warmupSteps, decaySteps)) / Double(decaySteps)
            return minLR + 0.5 * (1 + cos(Double.pi * progress)) * (baseLR - minLR)
        }
    }

    private static func warmup(_ baseLR: Double, _ warmupSteps: Int, _ step: Int) -> Double {
        baseLR * Double(step + 1) / Double(warmupSteps)
    }
}
