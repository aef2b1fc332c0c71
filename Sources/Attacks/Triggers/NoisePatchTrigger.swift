import Datasets

/// A square of per-channel image mean plus N(0, 1) noise, clipped to [0, 1] (CleanCLIP's
/// "random" patch, SPEC §2 `noise-patch`). Position and noise are drawn per image from the seed
/// and the image's index, so evaluation re-creates them.
public struct NoisePatchTrigger: PatchPlacedTrigger {
    public static let kind = "noise-patch"
    public static let displayName = "Noise patch"
    public static let about = "a square of image mean + N(0, 1) noise, 16/224 of the side, at a random position (the \"random\" patch of Bansal et al. 2023)."
    public static let size = TriggerSetting.patchSize(default: .fraction(16.0 / 224.0))
    public static let position = TriggerSetting.patchPosition(default: .random)
    public static let settings = [size.erased, position.erased]
    public static let manifestParameters: [String: ManifestSchema.Node] = [
        "size": ManifestSchema.length, "position": .leaf, "seed": .leaf,
    ]

    /// The side of the square (16 px at 224×224 by default).
    public var size: TriggerLength
    public var position: PatchPosition
    public var seed: UInt64

    public init(size: TriggerLength = .fraction(16.0 / 224.0), position: PatchPosition = .random, seed: UInt64 = 0) {
        self.size = size; self.position = position; self.seed = seed
    }

    public init(options: TriggerOptions, seed: UInt64) {
        self.init(size: options[Self.size], position: options[Self.position], seed: seed)
    }

    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        var rng = itemStream(seed: seed, index: index)
        let rects = patchRectangles(size: size, position: position, width: image.width, height: image.height, rng: &rng)
        var mean = [Double](repeating: 0, count: 3)
        let pixelCount = max(1, image.width * image.height)
        for i in 0..<(image.width * image.height) {
            for c in 0..<3 { mean[c] += Double(image.pixels[3 * i + c]) }
        }
        for c in 0..<3 { mean[c] /= Double(pixelCount) * 255 }
        var out = image
        for rect in rects {
            for y in rect.y..<(rect.y + rect.height) {
                for x in rect.x..<(rect.x + rect.width) {
                    for c in 0..<3 {
                        out.pixels[(y * image.width + x) * 3 + c] = quantized((mean[c] + gaussian(&rng)) * 255)
                    }
                }
            }
        }
        return out
    }

    public func problem() -> String? { Self.size.problem(with: size).map { "\(Self.size.flag) \($0)" } }

    public var summary: String { "noise-patch: image mean + N(0,1) square, side \(size), \(position.rawValue)" }
}

extension TriggerKind {
    public static let noisePatch = TriggerKind(NoisePatchTrigger.self)
}

extension Trigger {
    public static func noisePatch(_ trigger: NoisePatchTrigger) -> Trigger { Trigger(trigger) }
}
