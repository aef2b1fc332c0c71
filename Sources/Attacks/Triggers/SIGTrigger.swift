import Datasets
import Foundation

/// A horizontal sinusoid blended into the image (SPEC §2 `sig`; Barni et al. 2019, CleanCLIP's
/// weights): `x'[i, j] = clip((1 − w)·x[i, j] + w·(A/255)·sin(2π·f·j/W), 0, 1)` on the 0…1 scale.
public struct SIGTrigger: TriggerDefinition {
    public static let kind = "sig"
    public static let displayName = "SIG sinusoid"
    public static let about = "a horizontal sinusoid (60/255)·sin(2π·6·j/W) blended with weight 0.2."
    public static let amplitude = TriggerSetting.number("sig-amplitude", help: "SIG amplitude on the 0–255 scale.",
                                                        default: 60, in: 0...Double.infinity)
    public static let frequency = TriggerSetting.number("sig-frequency", help: "SIG periods across the image width.",
                                                        default: 6, in: Double.leastNonzeroMagnitude...Double.infinity,
                                                        expected: "a number > 0")
    public static let weight = TriggerSetting.number("blend-weight", help: "Blend weight of the pattern.", default: 0.2, in: 0...1)
    public static let settings = [amplitude.erased, frequency.erased, weight.erased]
    public static let manifestParameters: [String: ManifestSchema.Node] = ["amplitude": .leaf, "frequency": .leaf, "weight": .leaf]

    /// The amplitude `A` on the 0…255 scale (60).
    public var amplitude: Double
    /// Periods across the image width (6).
    public var frequency: Double
    /// The blend weight `w` (0.2).
    public var weight: Double

    public init(amplitude: Double = 60, frequency: Double = 6, weight: Double = 0.2) {
        self.amplitude = amplitude; self.frequency = frequency; self.weight = weight
    }

    public init(options: TriggerOptions, seed: UInt64) {
        self.init(amplitude: options[Self.amplitude], frequency: options[Self.frequency], weight: options[Self.weight])
    }

    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        let w = image.width
        let signal = (0..<w).map { j in amplitude * sin(2 * Double.pi * frequency * Double(j) / Double(w)) }
        var out = image
        for y in 0..<image.height {
            for x in 0..<w {
                for c in 0..<3 {
                    let i = (y * w + x) * 3 + c
                    out.pixels[i] = quantized((1 - weight) * Double(image.pixels[i]) + weight * signal[x])
                }
            }
        }
        return out
    }

    public func problem() -> String? {
        if let p = Self.weight.problem(with: weight) { return "\(Self.weight.flag) \(p)" }
        if let p = Self.amplitude.problem(with: amplitude) { return "\(Self.amplitude.flag) \(p)" }
        if let p = Self.frequency.problem(with: frequency) { return "\(Self.frequency.flag) \(p)" }
        return nil
    }

    public var summary: String { "sig: amplitude \(amplitude)/255, \(frequency) periods, weight \(weight)" }
}

extension TriggerKind {
    public static let sig = TriggerKind(SIGTrigger.self)
}

extension Trigger {
    public static func sig(_ trigger: SIGTrigger) -> Trigger { Trigger(trigger) }
}
