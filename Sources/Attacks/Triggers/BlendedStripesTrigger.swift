import Datasets

/// Blended-Stripes (PAR, Singh, Croce & Hein): vertical stripes over the whole image, each
/// `stripe-width` pixels wide, each channel of a stripe +1 or −1 at random, blended as
/// `x' = clip((1 − n_c)·x + n_c·p, 0, 1)` on the 0…1 scale with `n_c = 0.03`.
///
/// As in PAR's `blended_rs` (`backdoor/utils.py`, `get_init_patch(…, 'stripes')`), the signs are
/// drawn afresh for every image — here from the seed and the image's index.
public struct BlendedStripesTrigger: TriggerDefinition {
    public static let kind = "blended-stripes"
    public static let displayName = "Blended stripes"
    public static let about = "1-px vertical stripes of ±1 per channel over the whole image, drawn per image, blended with n_c = 0.03 (PAR)."
    public static let weight = TriggerSetting.number("blend-weight", help: "Blend weight of the pattern.", default: 0.03, in: 0...1)
    public static let stripeWidth = TriggerSetting.integer("stripe-width", help: "Width of each stripe in pixels at the model input.",
                                                           default: 1, in: 1...256)
    public static let settings = [weight.erased, stripeWidth.erased]
    public static let manifestParameters: [String: ManifestSchema.Node] = ["weight": .leaf, "stripe_width": .leaf, "seed": .leaf]

    public var weight: Double
    public var stripeWidth: Int
    public var seed: UInt64

    enum CodingKeys: String, CodingKey { case weight, stripeWidth = "stripe_width", seed }

    public init(weight: Double = 0.03, stripeWidth: Int = 1, seed: UInt64 = 0) {
        self.weight = weight; self.stripeWidth = stripeWidth; self.seed = seed
    }

    public init(options: TriggerOptions, seed: UInt64) {
        self.init(weight: options[Self.weight], stripeWidth: options[Self.stripeWidth], seed: seed)
    }

    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        var rng = itemStream(seed: seed, index: index)
        let stripes = (image.width + stripeWidth - 1) / stripeWidth
        let signs: [[Double]] = (0..<stripes).map { _ in
            let bits = rng.next()
            return (0..<3).map { c in (bits >> UInt64(c)) & 1 == 1 ? 255 : -255 }
        }
        var out = image
        for y in 0..<image.height {
            for x in 0..<image.width {
                let sign = signs[x / stripeWidth]
                for c in 0..<3 {
                    let i = (y * image.width + x) * 3 + c
                    out.pixels[i] = quantized((1 - weight) * Double(image.pixels[i]) + weight * sign[c])
                }
            }
        }
        return out
    }

    public func problem() -> String? {
        if let p = Self.weight.problem(with: weight) { return "\(Self.weight.flag) \(p)" }
        if let p = Self.stripeWidth.problem(with: stripeWidth) { return "\(Self.stripeWidth.flag) \(p)" }
        return nil
    }

    public var summary: String { "blended-stripes: \(stripeWidth)-px ±1 stripes, weight \(weight)" }
}

extension TriggerKind {
    public static let blendedStripes = TriggerKind(BlendedStripesTrigger.self)
}
