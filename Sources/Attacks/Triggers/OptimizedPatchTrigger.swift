import Datasets

/// A patch optimised through a surrogate CLIP model (BadCLIP, Liang et al., CVPR 2024): the
/// pixels are found by `clipguard poison --trigger optimized --surrogate CHECKPOINT`
/// (`SurrogateAttacks.PatchOptimizer`, which needs libtorch); this type only stores them and
/// pastes them, so that the manifest carries the trigger whole and `eval --trigger-from`,
/// `poison check` and `detect` apply exactly the optimised patch.
///
/// The optimisation's settings (passes, images, batch, learning rate, the two loss weights and
/// the triplet margin) are settings of the kind, so that experiment files and the manifest record
/// them. A trigger made from settings alone (``init(options:seed:)``) holds no pixels yet and
/// pastes BadCLIP's starting patch: N(0.5, 0.25) per value, clipped to [0, 1], drawn from the seed.
///
/// The patch goes where a `patch` square would go (`--patch-size`, `--patch-position`); a
/// square of another side than the stored one (original placement on larger images) gets the
/// stored pixels resampled by the nearest pixel.
public struct OptimizedPatchTrigger: PatchPlacedTrigger {
    public static let kind = "optimized"
    public static let displayName = "Optimised patch (BadCLIP)"
    public static let about = "a patch optimised through a surrogate CLIP (BadCLIP: CLIP loss toward the target's captions + triplet loss toward its images); needs --surrogate CHECKPOINT."
    public static let optimizedThroughSurrogate = true
    public static let size = TriggerSetting.patchSize(default: .fraction(50.0 / 224.0))
    public static let position = TriggerSetting.patchPosition(default: .bottomRight)
    public static let passes = TriggerSetting.integer(
        "optimize-passes", help: "Optimised patch: passes over the non-target images (BadCLIP: 50).", default: 50, in: 1...10_000)
    public static let images = TriggerSetting.integer(
        "optimize-images", help: "Optimised patch: non-target training images it is optimised on (BadCLIP: about 10,000).",
        default: 2_000, in: 1...10_000_000)
    public static let batch = TriggerSetting.integer(
        "optimize-batch", help: "Optimised patch: images per step (BadCLIP: 64).", default: 64, in: 2...4_096)
    public static let learningRate = TriggerSetting.number(
        "optimize-lr", help: "Optimised patch: Adam's learning rate on pixel values in [0, 1] (BadCLIP: 1e-3).", default: 0.001,
        in: 1e-9...1)
    public static let clipWeight = TriggerSetting.number(
        "optimize-clip-weight", help: "Optimised patch: weight of the CLIP loss toward the target's captions (BadCLIP: 1).",
        default: 1, in: 0...1e6)
    public static let tripletWeight = TriggerSetting.number(
        "optimize-triplet-weight", help: "Optimised patch: weight of the triplet loss toward target images, away from the clean image (BadCLIP: 500).",
        default: 500, in: 0...1e6)
    public static let margin = TriggerSetting.number(
        "optimize-triplet-margin", help: "Optimised patch: the triplet loss's margin on L2 distances of unit features (BadCLIP: 1).",
        default: 1, in: 1e-6...4)
    public static let settings = [
        size.erased, position.erased, passes.erased, images.erased, batch.erased, learningRate.erased, clipWeight.erased,
        tripletWeight.erased, margin.erased,
    ]
    public static let manifestParameters: [String: ManifestSchema.Node] = [
        "size": ManifestSchema.length, "position": .leaf, "seed": .leaf, "passes": .leaf, "images": .leaf, "batch": .leaf,
        "learning_rate": .leaf, "clip_weight": .leaf, "triplet_weight": .leaf, "triplet_margin": .leaf, "side": .leaf,
        "pixels": .leaf, "surrogate": .leaf,
    ]

    /// The side of the square where the patch goes.
    public var size: TriggerLength
    public var position: PatchPosition
    /// Seeds the starting patch, the optimisation's draws and random positions.
    public var seed: UInt64
    public var passes: Int
    public var images: Int
    public var batch: Int
    public var learningRate: Double
    public var clipWeight: Double
    public var tripletWeight: Double
    public var tripletMargin: Double
    /// The stored patch's side in pixels; 0 before optimisation.
    public var side: Int
    /// The optimised patch, `side × side` RGB, row-major and interleaved (an ``RGBImage``'s
    /// order); empty before optimisation.
    public var pixels: [UInt8]
    /// The surrogate checkpoint the patch was optimised through (nil before optimisation).
    public var surrogate: String?

    enum CodingKeys: String, CodingKey {
        case size, position, seed, passes, images, batch, side, pixels, surrogate
        case learningRate = "learning_rate", clipWeight = "clip_weight", tripletWeight = "triplet_weight"
        case tripletMargin = "triplet_margin"
    }

    public init(options: TriggerOptions, seed: UInt64) {
        size = options[Self.size]; position = options[Self.position]; self.seed = seed
        passes = options[Self.passes]; images = options[Self.images]; batch = options[Self.batch]
        learningRate = options[Self.learningRate]; clipWeight = options[Self.clipWeight]
        tripletWeight = options[Self.tripletWeight]; tripletMargin = options[Self.margin]
        side = 0; pixels = []; surrogate = nil
    }

    /// This trigger with the optimised patch in place.
    ///
    /// - Parameters:
    ///   - patch: `side × side` RGB pixels, row-major and interleaved.
    ///   - surrogate: the checkpoint it was optimised through.
    public func with(patch: [UInt8], side: Int, surrogate: String) -> OptimizedPatchTrigger {
        var out = self
        out.side = side; out.pixels = patch; out.surrogate = surrogate
        return out
    }

    /// Whether the patch has been optimised (pixels are stored).
    public var isOptimized: Bool { side > 0 }

    /// BadCLIP's starting patch: `[3, side, side]` channel-planar values, each N(0.5, 0.25)
    /// clipped to [0, 1], drawn in that order from `seed`.
    public static func initialPatch(side: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed).derived(0x0b7)
        return (0..<(3 * side * side)).map { _ in Float(min(1, max(0, 0.5 + 0.25 * gaussian(&rng)))) }
    }

    /// The stored patch (or the starting patch at `side`) as an `side × side` image.
    public func patchImage(side requested: Int) -> RGBImage {
        if isOptimized {
            return RGBImage(width: side, height: side, pixels: pixels)
        }
        let planar = Self.initialPatch(side: requested, seed: seed)
        let plane = requested * requested
        var out = [UInt8](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 { out[3 * i + c] = quantized(Double(planar[c * plane + i]) * 255) }
        }
        return RGBImage(width: requested, height: requested, pixels: out)
    }

    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        var out = image
        for rect in regions(width: image.width, height: image.height, index: index) {
            let patch = patchImage(side: rect.width)
            for y in 0..<rect.height {
                let sy = y * patch.height / rect.height
                for x in 0..<rect.width {
                    let sx = x * patch.width / rect.width
                    let o = ((rect.y + y) * image.width + rect.x + x) * 3, s = (sy * patch.width + sx) * 3
                    out.pixels[o] = patch.pixels[s]; out.pixels[o + 1] = patch.pixels[s + 1]; out.pixels[o + 2] = patch.pixels[s + 2]
                }
            }
        }
        return out
    }

    public func problem() -> String? {
        if let p = Self.size.problem(with: size) { return "\(Self.size.flag) \(p)" }
        let numbers: [(AnyTriggerSetting, String?)] = [
            (Self.passes.erased, Self.passes.problem(with: passes)), (Self.images.erased, Self.images.problem(with: images)),
            (Self.batch.erased, Self.batch.problem(with: batch)), (Self.learningRate.erased, Self.learningRate.problem(with: learningRate)),
            (Self.clipWeight.erased, Self.clipWeight.problem(with: clipWeight)),
            (Self.tripletWeight.erased, Self.tripletWeight.problem(with: tripletWeight)),
            (Self.margin.erased, Self.margin.problem(with: tripletMargin)),
        ]
        for (setting, problem) in numbers { if let problem { return "\(setting.flag) \(problem)" } }
        if side < 0 || side > 4_096 { return "the stored patch's side must be within 0…4096, got \(side)" }
        if pixels.count != 3 * side * side {
            return "the stored patch has \(pixels.count) values, side × side × 3 = \(3 * side * side) expected"
        }
        return nil
    }

    public var summary: String {
        let state = isOptimized ? "optimised through \(surrogate ?? "a surrogate"), \(side)×\(side) px stored" : "not optimised (starting patch)"
        return "optimized: BadCLIP patch, side \(size), \(position.rawValue); \(state)"
    }
}

extension TriggerKind {
    public static let optimized = TriggerKind(OptimizedPatchTrigger.self)
}

extension Trigger {
    public static func optimized(_ trigger: OptimizedPatchTrigger) -> Trigger { Trigger(trigger) }
}
