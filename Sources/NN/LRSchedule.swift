import Foundation

/// A learning-rate schedule: a pure function of the (0-based) optimizer step.
///
/// ```swift
/// let schedule = LRSchedule.warmupCosine(baseLR: 5e-4, warmupSteps: 100, totalSteps: 1000)
/// optimizer.learningRate = schedule(step)
/// ```
///
/// Codable, for training configurations, e.g.
/// `{"warmupCosine": {"baseLR": 0.0005, "warmupSteps": 100, "totalSteps": 1000, "minLR": 0}}`.
public enum LRSchedule: Codable, Sendable, Equatable {
    /// `baseLR` at every step.
    case constant(baseLR: Double)
    /// open_clip's `cosine_lr`: `baseLR·(step+1)/warmupSteps` during warm-up, then
    /// `minLR + ½(1 + cos(π·e/es))·(baseLR − minLR)` with `e = step − warmupSteps`,
    /// `es = totalSteps − warmupSteps`; from `totalSteps` on it stays at `minLR`.
    case warmupCosine(baseLR: Double, warmupSteps: Int, totalSteps: Int, minLR: Double = 0)
    /// open_clip's `const_lr`: linear warm-up as above, then `baseLR`.
    case warmupConstant(baseLR: Double, warmupSteps: Int)

    /// The learning rate at `step` (≥ 0).
    public func callAsFunction(_ step: Int) -> Double {
        precondition(step >= 0, "LRSchedule: negative step \(step)")
        switch self {
        case .constant(let baseLR):
            return baseLR
        case .warmupConstant(let baseLR, let warmupSteps):
            return step < warmupSteps ? Self.warmup(baseLR, warmupSteps, step) : baseLR
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
