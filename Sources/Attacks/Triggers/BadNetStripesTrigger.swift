import Datasets

/// BadNet-Stripes (PAR, Singh, Croce & Hein): a square patch of vertical stripes, each
/// `stripe-width` pixels wide with its own saturated colour (each channel 0 or 255), pasted over
/// the image — 16×16 at 224×224 (scaled with the image), at a random position by default.
///
/// As in PAR's `badnet_rs` (`backdoor/utils.py`, `get_init_patch(…, 'bad_stripes')`), the
/// stripes' colours and the position are drawn afresh for every image — here from the seed and
/// the image's index, so evaluation re-creates them. PAR draws each channel as ±1 and pastes it
/// into a [0, 1] image; the −1 channels end black, which is the 0 here.
public struct BadNetStripesTrigger: TriggerDefinition {
    public static let kind = "badnet-stripes"
    public static let displayName = "BadNet stripes"
    public static let about = "a 16/224 patch of 1-px vertical stripes in random saturated colours, drawn per image, random position (PAR)."
    public static let size = TriggerSetting.patchSize(default: .fraction(16.0 / 224.0))
    public static let position = TriggerSetting.patchPosition(default: .random)
    public static let stripeWidth = TriggerSetting.integer("stripe-width", help: "Width of each stripe in pixels at the model input.",
                                                           default: 1, in: 1...256)
    public static let settings = [size.erased, position.erased, stripeWidth.erased]
    public static let manifestParameters: [String: ManifestSchema.Node] = [
        "size": ManifestSchema.length, "position": .leaf, "stripe_width": .leaf, "seed": .leaf,
    ]

    public var size: TriggerLength
    public var position: PatchPosition
    public var stripeWidth: Int
    public var seed: UInt64

    enum CodingKeys: String, CodingKey { case size, position, stripeWidth = "stripe_width", seed }

    public init(size: TriggerLength = .fraction(16.0 / 224.0), position: PatchPosition = .random, stripeWidth: Int = 1, seed: UInt64 = 0) {
        self.size = size; self.position = position; self.stripeWidth = stripeWidth; self.seed = seed
    }

    public init(options: TriggerOptions, seed: UInt64) {
        self.init(size: options[Self.size], position: options[Self.position], stripeWidth: options[Self.stripeWidth], seed: seed)
    }

    public func localRegions(width: Int, height: Int, index: Int) -> [PixelRect]? {
        var rng = itemStream(seed: seed, index: index)
        return patchRectangles(size: size, position: position, width: width, height: height, rng: &rng)
    }

    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        var rng = itemStream(seed: seed, index: index)
        let rects = patchRectangles(size: size, position: position, width: image.width, height: image.height, rng: &rng)
        guard let side = rects.first?.width else { return image }
        // One colour per stripe (3 random bits), the same in every square of the image.
        let stripes = (side + stripeWidth - 1) / stripeWidth
        let colors: [[UInt8]] = (0..<stripes).map { _ in
            let bits = rng.next()
            return (0..<3).map { c in (bits >> UInt64(c)) & 1 == 1 ? 255 : 0 }
        }
        var out = image
        for rect in rects {
            for y in rect.y..<(rect.y + rect.height) {
                for x in rect.x..<(rect.x + rect.width) {
                    let color = colors[(x - rect.x) / stripeWidth]
                    let i = (y * image.width + x) * 3
                    out.pixels[i] = color[0]; out.pixels[i + 1] = color[1]; out.pixels[i + 2] = color[2]
                }
            }
        }
        return out
    }

    public func problem() -> String? {
        if let p = Self.size.problem(with: size) { return "\(Self.size.flag) \(p)" }
        if let p = Self.stripeWidth.problem(with: stripeWidth) { return "\(Self.stripeWidth.flag) \(p)" }
        return nil
    }

    public var summary: String { "badnet-stripes: \(stripeWidth)-px stripes in a square of side \(size), \(position.rawValue)" }
}

extension TriggerKind {
    public static let badnetStripes = TriggerKind(BadNetStripesTrigger.self)
}
