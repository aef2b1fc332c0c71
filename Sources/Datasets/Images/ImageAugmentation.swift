import Foundation

/// A random image transform that is a pure function of `(image, rng)`: the same image and
/// generator state give the same output, and the generator advances by a fixed rule.
///
/// ```swift
/// var rng = SplitMix64(seed: 7)
/// let view = AugmentationPipeline.safeCLIPView(size: 224).apply(image, rng: &rng)
/// ```
public protocol ImageAugmentation: Sendable {
    /// The transformed image; draws its random choices from `rng`.
    func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage
}

extension SplitMix64 {
    /// Uniform in `[low, high)`.
    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * nextUnitDouble()
    }

    /// Uniform integer in `0..<bound` (multiply-high; bias below 2⁻⁶⁴·bound).
    mutating func index(below bound: Int) -> Int {
        precondition(bound > 0)
        return Int(next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { nextUnitDouble() < p }
}

/// Applies stages in order.
public struct AugmentationPipeline: ImageAugmentation {
    /// The stages, first applied first.
    public var stages: [any ImageAugmentation]

    /// A pipeline of `stages`.
    public init(_ stages: [any ImageAugmentation]) { self.stages = stages }

    public func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        var out = image
        for stage in stages { out = stage.apply(out, rng: &rng) }
        return out
    }

    /// SafeCLIP's image view (SPEC §3), the SimCLR recipe: `RandomResizedCrop(size)`
    /// (scale 0.08–1, bilinear), horizontal flip p = 0.5, `ColorJitter(0.5, 0.5, 0.5, 0.1)`
    /// with p = 0.8, grayscale p = 0.2, and Gaussian blur with SimCLR's kernel (≈ 10 % of
    /// `size`, odd; σ ∈ [0.1, 2]) applied with p = 0.5.
    public static func safeCLIPView(size: Int) -> AugmentationPipeline {
        AugmentationPipeline([
            RandomResizedCrop(size: size),
            HorizontalFlip(p: 0.5),
            ColorJitter(brightness: 0.5, contrast: 0.5, saturation: 0.5, hue: 0.1, p: 0.8),
            RandomGrayscale(p: 0.2),
            GaussianBlur(kernelSize: (size / 10) | 1, sigma: 0.1...2.0, p: 0.5),
        ])
    }

    /// The AutoAugment image view of CleanCLIP and RoCLIP: AutoAugment (ImageNet policy) on the
    /// image as given, then CLIP's `resizeCenterCrop(size)` (CleanCLIP applies `AutoAugment()`
    /// before its CLIP transform).
    public static func autoAugmentView(size: Int) -> AugmentationPipeline {
        AugmentationPipeline([AutoAugmentImageNet(), Preprocessing.resizeCenterCrop(size: size)])
    }
}

extension Preprocessing: ImageAugmentation {
    /// The deterministic preprocessing as a pipeline stage (`rng` is not used).
    public func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage { apply(image) }
}

/// torchvision's `RandomResizedCrop`: a random rectangle covering `scale` of the area with
/// aspect ratio in `ratio` (log-uniform), resized to `size × size`.
///
/// Up to 10 draws are tried (area fraction, then log aspect, then top, then left); if none
/// fits, the centred crop of the whole image clamped to `ratio` is used, as torchvision does.
public struct RandomResizedCrop: ImageAugmentation, Hashable {
    /// Output side length.
    public var size: Int
    /// Range of the crop's area as a fraction of the image area.
    public var scale: ClosedRange<Double>
    /// Range of the crop's width / height.
    public var ratio: ClosedRange<Double>
    /// Resampling filter; torchvision's default for PIL images is bilinear.
    public var filter: ResampleFilter

    /// torchvision's defaults: scale 0.08–1, ratio 3/4–4/3, bilinear.
    public init(
        size: Int, scale: ClosedRange<Double> = 0.08...1.0, ratio: ClosedRange<Double> = (3.0 / 4.0)...(4.0 / 3.0),
        filter: ResampleFilter = .bilinear
    ) {
        precondition(size > 0, "RandomResizedCrop: size must be positive")
        self.size = size
        self.scale = scale
        self.ratio = ratio
        self.filter = filter
    }

    /// The crop rectangle `(x, y, width, height)` for an image of `width × height`.
    public func cropRectangle(width: Int, height: Int, rng: inout SplitMix64)
        -> (x: Int, y: Int, width: Int, height: Int)
    {
        let area = Double(width * height)
        let logRatio = (log(ratio.lowerBound), log(ratio.upperBound))
        for _ in 0..<10 {
            let target = area * rng.uniform(scale.lowerBound, scale.upperBound)
            let aspect = exp(rng.uniform(logRatio.0, logRatio.1))
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = rng.index(below: height - h + 1)
                let left = rng.index(below: width - w + 1)
                return (left, top, w, h)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound {
            h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return ((width - w) / 2, (height - h) / 2, w, h)
    }

    public func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        let r = cropRectangle(width: image.width, height: image.height, rng: &rng)
        return image.resized(
            cropX: r.x, cropY: r.y, cropWidth: r.width, cropHeight: r.height,
            width: size, height: size, filter: filter)
    }
}

/// Mirrors the image left to right with probability `p`.
public struct HorizontalFlip: ImageAugmentation, Hashable {
    /// Probability of flipping.
    public var p: Double
    /// torchvision's default p = 0.5.
    public init(p: Double = 0.5) { self.p = p }

    public func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        rng.chance(p) ? image.horizontallyFlipped() : image
    }
}

/// torchvision's `ColorJitter` wrapped in `RandomApply(p)`: brightness, contrast and
/// saturation factors uniform in `[max(0, 1 − v), 1 + v]`, hue shift uniform in `[−hue, hue]`,
/// applied in a random order (PIL semantics, see ``RGBImage/adjustedHue(_:)``).
/// A parameter of 0 disables that adjustment.
public struct ColorJitter: ImageAugmentation, Hashable {
    /// Brightness strength: factor uniform in `[max(0, 1 − brightness), 1 + brightness]`.
    public var brightness: Double
    /// Contrast strength: factor uniform in `[max(0, 1 − contrast), 1 + contrast]`.
    public var contrast: Double
    /// Saturation strength: factor uniform in `[max(0, 1 − saturation), 1 + saturation]`.
    public var saturation: Double
    /// Maximum hue shift, in [0, 0.5].
    public var hue: Double
    /// Probability of applying the jitter at all.
    public var p: Double

    /// A jitter applied with probability `p`; each strength 0 disables its adjustment.
    public init(brightness: Double = 0, contrast: Double = 0, saturation: Double = 0, hue: Double = 0, p: Double = 1) {
        precondition(brightness >= 0 && contrast >= 0 && saturation >= 0, "ColorJitter: negative strength")
        precondition((0...0.5).contains(hue), "ColorJitter: hue \(hue) outside [0, 0.5]")
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.p = p
    }

    public func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        guard rng.chance(p) else { return image }
        var order = [0, 1, 2, 3]
        for i in stride(from: 3, to: 0, by: -1) { order.swapAt(i, rng.index(below: i + 1)) }
        let b = rng.uniform(max(0, 1 - brightness), 1 + brightness)
        let c = rng.uniform(max(0, 1 - contrast), 1 + contrast)
        let s = rng.uniform(max(0, 1 - saturation), 1 + saturation)
        let h = rng.uniform(-hue, hue)
        var out = image
        for op in order {
            switch op {
            case 0 where brightness > 0: out = out.adjustedBrightness(b)
            case 1 where contrast > 0: out = out.adjustedContrast(c)
            case 2 where saturation > 0: out = out.adjustedSaturation(s)
            case 3 where hue > 0: out = out.adjustedHue(h)
            default: break
            }
        }
        return out
    }
}

/// Converts to grey (ITU-R 601 luma, PIL's formula) with probability `p`; the output stays RGB.
public struct RandomGrayscale: ImageAugmentation, Hashable {
    /// Probability of converting.
    public var p: Double
    /// torchvision's default p = 0.1.
    public init(p: Double = 0.1) { self.p = p }

    public func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        rng.chance(p) ? image.grayscaled() : image
    }
}

/// torchvision's `GaussianBlur` (optionally in `RandomApply(p)`): σ uniform in `sigma`, a
/// separable `kernelSize`-tap kernel `exp(−x²/2σ²)` normalised to 1, reflect padding, the
/// result rounded to 8 bits.
public struct GaussianBlur: ImageAugmentation, Hashable {
    /// Odd number of taps.
    public var kernelSize: Int
    /// Range σ is drawn from.
    public var sigma: ClosedRange<Double>
    /// Probability of blurring.
    public var p: Double

    /// A blur with `kernelSize` taps (odd), σ drawn from `sigma` (torchvision's default 0.1–2),
    /// applied with probability `p`.
    public init(kernelSize: Int, sigma: ClosedRange<Double> = 0.1...2.0, p: Double = 1) {
        precondition(kernelSize > 0 && kernelSize % 2 == 1, "GaussianBlur: kernelSize \(kernelSize) must be odd")
        precondition(sigma.lowerBound > 0, "GaussianBlur: sigma must be positive")
        self.kernelSize = kernelSize
        self.sigma = sigma
        self.p = p
    }

    public func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        guard rng.chance(p) else { return image }
        return image.gaussianBlurred(kernelSize: kernelSize, sigma: rng.uniform(sigma.lowerBound, sigma.upperBound))
    }
}

extension RGBImage {
    /// Separable Gaussian blur with `kernelSize` taps (odd) and standard deviation `sigma`,
    /// reflect padding (`dcb|abcd|cba`), rounded to nearest (ties to even) as torchvision.
    public func gaussianBlurred(kernelSize: Int, sigma: Double) -> RGBImage {
        precondition(kernelSize > 0 && kernelSize % 2 == 1 && sigma > 0)
        let half = kernelSize / 2
        var kernel = (0..<kernelSize).map { i -> Float in
            let x = Double(i - half) / sigma
            return Float(exp(-0.5 * x * x))
        }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        let w = width, h = height
        if w == 0 || h == 0 { return self }
        func reflect(_ i: Int, _ n: Int) -> Int {
            if n == 1 { return 0 }
            let period = 2 * (n - 1)
            var j = abs(i) % period
            if j >= n { j = period - j }
            return j
        }
        let rows = (-half..<(h + half)).map { reflect($0, h) }
        let rowLength = w * 3
        // Horizontal pass: each row is reflect-padded into a float buffer, then every tap is a
        // contiguous multiply-add over the whole row (vectorisable).
        var horizontal = [Float](repeating: 0, count: h * rowLength)
        var padded = [Float](repeating: 0, count: (w + 2 * half) * 3)
        let padIndex = (-half..<(w + half)).map { reflect($0, w) }
        pixels.withUnsafeBufferPointer { srcBuffer in
            horizontal.withUnsafeMutableBufferPointer { tmpBuffer in
                padded.withUnsafeMutableBufferPointer { padBuffer in
                    kernel.withUnsafeBufferPointer { k in
                        let src = srcBuffer.baseAddress!, tmp = tmpBuffer.baseAddress!, pad = padBuffer.baseAddress!
                        for y in 0..<h {
                            let row = src + y * rowLength
                            for (i, x) in padIndex.enumerated() {
                                pad[3 * i] = Float(row[3 * x])
                                pad[3 * i + 1] = Float(row[3 * x + 1])
                                pad[3 * i + 2] = Float(row[3 * x + 2])
                            }
                            let out = tmp + y * rowLength
                            for t in 0..<kernelSize {
                                let kt = k[t]
                                let shifted = pad + 3 * t
                                for j in 0..<rowLength { out[j] += kt * shifted[j] }
                            }
                        }
                    }
                }
            }
        }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        var accumulator = [Float](repeating: 0, count: rowLength)
        horizontal.withUnsafeBufferPointer { tmpBuffer in
            out.withUnsafeMutableBufferPointer { dst in
                accumulator.withUnsafeMutableBufferPointer { accBuffer in
                    kernel.withUnsafeBufferPointer { k in
                        let tmp = tmpBuffer.baseAddress!, acc = accBuffer.baseAddress!
                        for y in 0..<h {
                            for j in 0..<rowLength { acc[j] = 0 }
                            for t in 0..<kernelSize {
                                let s = tmp + rows[y + t] * rowLength
                                let kt = k[t]
                                for j in 0..<rowLength { acc[j] += kt * s[j] }
                            }
                            let d = y * rowLength
                            for j in 0..<rowLength {
                                let v = acc[j].rounded(.toNearestOrEven)
                                dst[d + j] = v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(v))
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
