import Datasets

/// `x' = clip((1 − w)·x + w·u, 0, 1)` with `u ~ U[0, 1]` per pixel and channel, drawn per image
/// from the seed and the image's index (SPEC §2 `blended`, w = 0.2; Chen et al. 2017).
public struct BlendedTrigger: TriggerDefinition {
    public static let kind = "blended"
    public static let displayName = "Blended noise"
    public static let about = "U[0, 1] noise drawn per image, blended with weight 0.2."
    public static let weight = TriggerSetting.number("blend-weight", help: "Blend weight of the pattern.", default: 0.2, in: 0...1)
    public static let settings = [weight.erased]
    public static let manifestParameters: [String: ManifestSchema.Node] = ["weight": .leaf, "seed": .leaf]

    /// The weight `w` of the noise.
    public var weight: Double
    public var seed: UInt64

    public init(weight: Double = 0.2, seed: UInt64 = 0) { self.weight = weight; self.seed = seed }

    public init(options: TriggerOptions, seed: UInt64) { self.init(weight: options[Self.weight], seed: seed) }

    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        var rng = itemStream(seed: seed, index: index)
        var out = image
        for i in 0..<image.pixels.count {
            out.pixels[i] = quantized((1 - weight) * Double(image.pixels[i]) + weight * 255 * rng.nextUnitDouble())
        }
        return out
    }

    public func problem() -> String? { Self.weight.problem(with: weight).map { "\(Self.weight.flag) \($0)" } }

    public var summary: String { "blended: weight \(weight) of U[0,1] noise" }
}

extension TriggerKind {
    public static let blended = TriggerKind(BlendedTrigger.self)
}

extension Trigger {
    public static func blended(_ trigger: BlendedTrigger) -> Trigger { Trigger(trigger) }
}
