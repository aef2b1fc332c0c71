import Foundation

// The image view of PAR (Singh, Croce & Hein, "Perturb and Recover", CVPR 2026): CLIP's
// resize + centre crop, then light Gaussian noise and a small CutOut. Port of the transform
// `utils.load_clip_model` builds in nmndeep/PerturbAndRecover.

/// Additive noise as PAR's reference applies it (`AddGaussianNoise(0, σ)` inside
/// `RandomApply(p)`): with probability `p`, every channel of every pixel, on the [0, 1] scale,
/// becomes `clip(x + clip(n, 0, 1), 0, 1)` with `n ~ N(0, σ²)` drawn per value.
///
/// The reference clips the noise itself to [0, 1] before adding it, so the noise only ever
/// brightens (a rectified Gaussian: half the values unchanged, the others raised by |n|); this
/// stage does the same. Values are rounded back to whole 0…255 steps.
public struct RectifiedGaussianNoise: ImageAugmentation, Hashable {
    /// Standard deviation σ on the [0, 1] scale (PAR: 0.2).
    public var std: Double
    /// Probability that an image gets noise at all (PAR: 0.5).
    public var p: Double

    public init(std: Double, p: Double) {
        self.std = std
        self.p = p
    }

    public func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        guard rng.chance(p), std > 0 else { return image }
        var out = image
        for k in out.pixels.indices {
            let u1 = 1 - rng.nextUnitDouble()  // (0, 1]
            let u2 = rng.nextUnitDouble()
            let n = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2) * std
            let added = min(1, max(0, n)) * 255
            out.pixels[k] = UInt8(min(255, (Double(image.pixels[k]) + added).rounded()))
        }
        return out
    }
}

/// PAR's CutOut (the reference's `RandomErasing(p, scale=(0.005, 0.01), ratio=(1, 1), value=0)`
/// after CLIP's normalisation): with probability `p`, a square covering a fraction of the image
/// drawn uniformly from `area` (side `round(√(fraction · W · H))`) at a uniform position is
/// filled with `fill`. A value of 0 after normalisation is the normalisation mean, so the default
/// fill is CLIP's mean colour (123, 117, 104). As in the reference, a square whose side is not
/// below the image's side minus 4 is redrawn, up to 10 times, then the image is left as is.
public struct CutOut: ImageAugmentation, Hashable {
    /// Range of the square's area as a fraction of the image (PAR: 0.005…0.01).
    public var area: ClosedRange<Double>
    /// Probability of a cut (PAR: 0.5).
    public var p: Double
    /// Fill colour (R, G, B).
    public var fill: [UInt8]

    /// CLIP's normalisation mean as 0…255 values: what PAR's `value=0` after normalising is.
    public static let clipMeanColour: [UInt8] = Normalization.clip.mean.map { UInt8((Double($0) * 255).rounded()) }

    public init(area: ClosedRange<Double>, p: Double, fill: [UInt8] = CutOut.clipMeanColour) {
        precondition(fill.count == 3, "CutOut: fill needs 3 channels")
        self.area = area
        self.p = p
        self.fill = fill
    }

    /// The square `(x, y, side)` for an image of `width × height`, or nil when none fits.
    public func square(width: Int, height: Int, rng: inout SplitMix64) -> (x: Int, y: Int, side: Int)? {
        let total = Double(width * height)
        for _ in 0..<10 {
            let side = Int((total * rng.uniform(area.lowerBound, area.upperBound)).squareRoot().rounded(.toNearestOrEven))
            guard side < height - 4 && side < width - 4 else { continue }
            let top = rng.index(below: height - side + 1)
            let left = rng.index(below: width - side + 1)
            return (left, top, side)
        }
        return nil
    }

    public func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        guard rng.chance(p), let cut = square(width: image.width, height: image.height, rng: &rng), cut.side > 0 else { return image }
        var out = image
        for y in cut.y..<(cut.y + cut.side) {
            for x in cut.x..<(cut.x + cut.side) {
                let at = (y * image.width + x) * 3
                out.pixels[at] = fill[0]
                out.pixels[at + 1] = fill[1]
                out.pixels[at + 2] = fill[2]
            }
        }
        return out
    }
}

extension AugmentationPipeline {
    /// PAR's image view: CLIP's `resizeCenterCrop(size)`, then ``RectifiedGaussianNoise`` (σ
    /// `noiseStd`, probability `noiseProbability`), then ``CutOut`` of `cutoutArea / 2 …
    /// cutoutArea` of the image with probability `cutoutProbability` — the reference order
    /// (noise before normalising, erasing after). PAR's defaults: σ 0.2, p 0.5, area 0.01, p 0.5.
    public static func parView(
        size: Int, noiseStd: Double = 0.2, noiseProbability: Double = 0.5, cutoutArea: Double = 0.01, cutoutProbability: Double = 0.5
    ) -> AugmentationPipeline {
        AugmentationPipeline([
            Preprocessing.resizeCenterCrop(size: size),
            RectifiedGaussianNoise(std: noiseStd, p: noiseProbability),
            CutOut(area: (cutoutArea / 2)...cutoutArea, p: cutoutProbability),
        ])
    }
}
