import Datasets
import Foundation

/// The kinds of backdoor trigger (SPEC §2).
public enum TriggerKind: String, Codable, Sendable, CaseIterable {
    /// A solid square (the study's): default white, 50×50 at 224×224, bottom-right.
    case patch
    /// A square of per-channel image mean plus N(0, 1) noise at a random position (CleanCLIP "random").
    case noisePatch = "noise-patch"
    /// `x' = clip((1 − w)·x + w·u)`, `u ~ U[0, 1]` drawn per image (w = 0.2).
    case blended
    /// A horizontal sinusoid `(60/255)·sin(2π·6·j/W)` blended with weight 0.2 (Barni et al. 2019).
    case sig
    /// A fixed smooth warp field sampled bilinearly (WaNet, Nguyen & Tran, ICLR 2021).
    case wanet
}

/// A side length in pixels, or as a fraction of the shorter side of the image it is applied to.
///
/// The study's 50×50 patch on a 224×224 input is `.fraction(50 / 224)`, which gives 7 pixels at
/// 32×32 and 50 at 224×224. In JSON: `{"pixels": 50}` or `{"fraction": 0.2232}`.
public enum TriggerLength: Codable, Sendable, Hashable, CustomStringConvertible {
    case pixels(Int)
    case fraction(Double)

    /// The length in pixels on an image whose shorter side is `side`: at least 1, at most `side`.
    /// Fractions round half away from zero.
    public func resolved(side: Int) -> Int {
        switch self {
        case .pixels(let n): return max(1, min(side, n))
        case .fraction(let f): return max(1, min(side, Int((f * Double(side)).rounded())))
        }
    }

    /// Parses `50` (pixels), `0.25` or `25%` (a fraction of the shorter side).
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix("%"), let percent = Double(trimmed.dropLast()), percent > 0, percent <= 100 {
            self = .fraction(percent / 100)
        } else if let n = Int(trimmed), n > 0 {
            self = .pixels(n)
        } else if let f = Double(trimmed), f > 0, f <= 1 {
            self = .fraction(f)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .pixels(let n): return "\(n) px"
        case .fraction(let f): return "\(Double(Int((f * 10000).rounded())) / 100)% of the shorter side"
        }
    }

    private enum CodingKeys: String, CodingKey { case pixels, fraction }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let n = try container.decodeIfPresent(Int.self, forKey: .pixels) {
            self = .pixels(n)
        } else if let f = try container.decodeIfPresent(Double.self, forKey: .fraction) {
            self = .fraction(f)
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "a size is {\"pixels\": N} or {\"fraction\": F}"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .pixels(let n): try container.encode(n, forKey: .pixels)
        case .fraction(let f): try container.encode(f, forKey: .fraction)
        }
    }

    var isValid: Bool {
        switch self {
        case .pixels(let n): return n > 0
        case .fraction(let f): return f > 0 && f <= 1
        }
    }
}

/// An 8-bit RGB colour; JSON `[r, g, b]`.
public struct TriggerColor: Codable, Sendable, Hashable, CustomStringConvertible {
    public var red: UInt8, green: UInt8, blue: UInt8

    public init(red: UInt8, green: UInt8, blue: UInt8) { self.red = red; self.green = green; self.blue = blue }

    public static let white = TriggerColor(red: 255, green: 255, blue: 255)
    public static let black = TriggerColor(red: 0, green: 0, blue: 0)

    /// Parses a name (`white`, `black`, `red`, `green`, `blue`, `yellow`, `gray`), `#RRGGBB` or `r,g,b`.
    public init?(parsing text: String) {
        let named: [String: (UInt8, UInt8, UInt8)] = [
            "white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0), "green": (0, 255, 0),
            "blue": (0, 0, 255), "yellow": (255, 255, 0), "gray": (128, 128, 128), "grey": (128, 128, 128),
        ]
        let lower = text.lowercased().trimmingCharacters(in: .whitespaces)
        if let rgb = named[lower] {
            self.init(red: rgb.0, green: rgb.1, blue: rgb.2)
        } else if lower.hasPrefix("#"), lower.count == 7, let value = UInt32(lower.dropFirst(), radix: 16) {
            self.init(red: UInt8(value >> 16), green: UInt8((value >> 8) & 0xFF), blue: UInt8(value & 0xFF))
        } else {
            let parts = lower.split(separator: ",").map { UInt8($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 3, let r = parts[0], let g = parts[1], let b = parts[2] else { return nil }
            self.init(red: r, green: g, blue: b)
        }
    }

    public init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        red = try container.decode(UInt8.self); green = try container.decode(UInt8.self); blue = try container.decode(UInt8.self)
        if !container.isAtEnd {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a colour has 3 entries [r, g, b]")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(red); try container.encode(green); try container.encode(blue)
    }

    public var description: String {
        if self == .white { return "white" }
        if self == .black { return "black" }
        return "rgb(\(red), \(green), \(blue))"
    }
}

/// Where a square patch goes.
public enum PatchPosition: String, Codable, Sendable, CaseIterable {
    case bottomRight = "bottom-right", bottomLeft = "bottom-left", topRight = "top-right", topLeft = "top-left"
    /// A position drawn per image from the trigger's seed and the image's index.
    case random
    /// One patch in each corner.
    case fourCorners = "four-corners"
}

/// A pixel rectangle `[x, x + width) × [y, y + height)` of an image.
public struct PixelRect: Codable, Sendable, Hashable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) { self.x = x; self.y = y; self.width = width; self.height = height }
    /// The number of pixels inside.
    public var area: Int { width * height }
}

/// The random stream of item `index` of a trigger with seed `seed`.
func itemStream(seed: UInt64, index: Int) -> SplitMix64 {
    SplitMix64(seed: seed).derived(UInt64(bitPattern: Int64(index)))
}

/// A standard normal deviate (Box–Muller) from two uniforms of `rng`.
func gaussian(_ rng: inout SplitMix64) -> Double {
    let u1 = 1 - rng.nextUnitDouble()  // (0, 1]
    let u2 = rng.nextUnitDouble()
    return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
}

/// A pixel value from a value on the 0…255 scale: clamped, then rounded half away from zero.
@inline(__always) func quantized(_ value: Double) -> UInt8 {
    UInt8(min(255, max(0, value)).rounded())
}

// MARK: - Patches

/// A solid square patch (SPEC §2 `patch`, the study's trigger).
///
/// ```swift
/// let patch = PatchTrigger()               // white, 50/224 of the side, bottom-right
/// let poisoned = patch.apply(to: image, index: 0)
/// ```
public struct PatchTrigger: Codable, Sendable, Hashable {
    /// The side of the square.
    public var size: TriggerLength
    public var color: TriggerColor
    public var position: PatchPosition
    /// Seeds the random positions (`position == .random`).
    public var seed: UInt64

    public init(size: TriggerLength = .fraction(50.0 / 224.0), color: TriggerColor = .white,
                position: PatchPosition = .bottomRight, seed: UInt64 = 0) {
        self.size = size; self.color = color; self.position = position; self.seed = seed
    }

    /// The rectangles the patch covers on a `width × height` image (item `index`).
    public func regions(width: Int, height: Int, index: Int) -> [PixelRect] {
        var rng = itemStream(seed: seed, index: index)
        return patchRectangles(size: size, position: position, width: width, height: height, rng: &rng)
    }

    /// The image with the patch painted over it. `image` is at the geometry the model sees.
    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        var out = image
        for rect in regions(width: image.width, height: image.height, index: index) {
            for y in rect.y..<(rect.y + rect.height) {
                for x in rect.x..<(rect.x + rect.width) {
                    let i = (y * image.width + x) * 3
                    out.pixels[i] = color.red; out.pixels[i + 1] = color.green; out.pixels[i + 2] = color.blue
                }
            }
        }
        return out
    }
}

/// A square of per-channel image mean plus N(0, 1) noise, clipped to [0, 1] (CleanCLIP's
/// "random" patch, SPEC §2 `noise-patch`). Position and noise are drawn per image from the seed
/// and the image's index, so evaluation re-creates them.
public struct NoisePatchTrigger: Codable, Sendable, Hashable {
    /// The side of the square (16 px at 224×224 by default).
    public var size: TriggerLength
    public var position: PatchPosition
    public var seed: UInt64

    public init(size: TriggerLength = .fraction(16.0 / 224.0), position: PatchPosition = .random, seed: UInt64 = 0) {
        self.size = size; self.position = position; self.seed = seed
    }

    public func regions(width: Int, height: Int, index: Int) -> [PixelRect] {
        var rng = itemStream(seed: seed, index: index)
        return patchRectangles(size: size, position: position, width: width, height: height, rng: &rng)
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
}

/// The rectangles of a square patch; random positions consume `rng`.
func patchRectangles(size: TriggerLength, position: PatchPosition, width: Int, height: Int,
                     rng: inout SplitMix64) -> [PixelRect] {
    guard width > 0 && height > 0 else { return [] }
    let s = size.resolved(side: min(width, height))
    let right = width - s, bottom = height - s
    func square(_ x: Int, _ y: Int) -> PixelRect { PixelRect(x: x, y: y, width: s, height: s) }
    switch position {
    case .bottomRight: return [square(right, bottom)]
    case .bottomLeft: return [square(0, bottom)]
    case .topRight: return [square(right, 0)]
    case .topLeft: return [square(0, 0)]
    case .fourCorners: return [square(0, 0), square(right, 0), square(0, bottom), square(right, bottom)]
    case .random:
        let x = Int(rng.next() % UInt64(right + 1))
        let y = Int(rng.next() % UInt64(bottom + 1))
        return [square(x, y)]
    }
}

// MARK: - Whole-image triggers

/// `x' = clip((1 − w)·x + w·u, 0, 1)` with `u ~ U[0, 1]` per pixel and channel, drawn per image
/// from the seed and the image's index (SPEC §2 `blended`, w = 0.2).
public struct BlendedTrigger: Codable, Sendable, Hashable {
    /// The weight `w` of the noise.
    public var weight: Double
    public var seed: UInt64

    public init(weight: Double = 0.2, seed: UInt64 = 0) { self.weight = weight; self.seed = seed }

    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        var rng = itemStream(seed: seed, index: index)
        var out = image
        for i in 0..<image.pixels.count {
            out.pixels[i] = quantized((1 - weight) * Double(image.pixels[i]) + weight * 255 * rng.nextUnitDouble())
        }
        return out
    }
}

/// A horizontal sinusoid blended into the image (SPEC §2 `sig`; CleanCLIP's weights):
/// `x'[i, j] = clip((1 − w)·x[i, j] + w·(A/255)·sin(2π·f·j/W), 0, 1)` on the 0…1 scale.
public struct SIGTrigger: Codable, Sendable, Hashable {
    /// The amplitude `A` on the 0…255 scale (60).
    public var amplitude: Double
    /// Periods across the image width (6).
    public var frequency: Double
    /// The blend weight `w` (0.2).
    public var weight: Double

    public init(amplitude: Double = 60, frequency: Double = 6, weight: Double = 0.2) {
        self.amplitude = amplitude; self.frequency = frequency; self.weight = weight
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
}

/// A fixed smooth warp (WaNet, Nguyen & Tran, ICLR 2021): a `k × k` field of offsets, upsampled
/// bicubically (align_corners) to the image size, added to the identity sampling grid scaled by
/// `strength / H`, clamped to [−1, 1] and sampled bilinearly (align_corners), as WaNet's
/// `F.grid_sample(x, grid, align_corners=True)`.
///
/// The field is drawn once from the seed (uniform in [−1, 1], divided by its mean absolute
/// value, as WaNet does) and stored, so evaluation warps with exactly the same field.
public struct WaNetTrigger: Codable, Sendable, Hashable {
    /// The field's grid side `k` (4; CleanCLIP used 224).
    public var gridSize: Int
    /// The warp strength `s` (0.5; CleanCLIP used 1).
    public var strength: Double
    /// `[k, k, 2]` row-major offsets; the last axis is (horizontal, vertical), in units of
    /// the normalised grid before the `strength / H` scale.
    public var field: [Double]

    enum CodingKeys: String, CodingKey { case gridSize = "grid_size", strength, field }

    public init(gridSize: Int, strength: Double, field: [Double]) {
        self.gridSize = gridSize; self.strength = strength; self.field = field
    }

    /// A field drawn from `seed`.
    public static func random(gridSize: Int = 4, strength: Double = 0.5, seed: UInt64) -> WaNetTrigger {
        var rng = SplitMix64(seed: seed)
        var field = (0..<(gridSize * gridSize * 2)).map { _ in rng.nextUnitDouble() * 2 - 1 }
        let meanAbs = field.reduce(0) { $0 + abs($1) } / Double(max(1, field.count))
        if meanAbs > 0 { field = field.map { $0 / meanAbs } }
        return WaNetTrigger(gridSize: gridSize, strength: strength, field: field)
    }

    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        let (w, h) = (image.width, image.height)
        guard w > 1 && h > 1 else { return image }
        let k = gridSize
        // Bicubic upsampling (align_corners) of each offset channel to [h, w], separably.
        let rowsX = cubicWeights(inputCount: k, outputCount: h)
        let colsX = cubicWeights(inputCount: k, outputCount: w)
        var out = image
        let scale = strength / Double(h)
        for y in 0..<h {
            for x in 0..<w {
                var offset = (0.0, 0.0)
                for (ri, rw) in rowsX[y] {
                    for (ci, cw) in colsX[x] {
                        let base = (ri * k + ci) * 2
                        offset.0 += rw * cw * field[base]
                        offset.1 += rw * cw * field[base + 1]
                    }
                }
                let gx = min(1, max(-1, -1 + 2 * Double(x) / Double(w - 1) + scale * offset.0))
                let gy = min(1, max(-1, -1 + 2 * Double(y) / Double(h - 1) + scale * offset.1))
                let px = (gx + 1) / 2 * Double(w - 1), py = (gy + 1) / 2 * Double(h - 1)
                let x0 = min(w - 1, Int(px.rounded(.down))), y0 = min(h - 1, Int(py.rounded(.down)))
                let x1 = min(w - 1, x0 + 1), y1 = min(h - 1, y0 + 1)
                let tx = px - Double(x0), ty = py - Double(y0)
                for c in 0..<3 {
                    func p(_ xx: Int, _ yy: Int) -> Double { Double(image.pixels[(yy * w + xx) * 3 + c]) }
                    let top = p(x0, y0) * (1 - tx) + p(x1, y0) * tx
                    let bottom = p(x0, y1) * (1 - tx) + p(x1, y1) * tx
                    out.pixels[(y * w + x) * 3 + c] = quantized(top * (1 - ty) + bottom * ty)
                }
            }
        }
        return out
    }

    /// For each output position, the (input index, weight) pairs of PyTorch's bicubic
    /// interpolation with `align_corners=True` (cubic convolution, A = −0.75, indices clamped).
    private func cubicWeights(inputCount: Int, outputCount: Int) -> [[(Int, Double)]] {
        let a = -0.75
        func near(_ t: Double) -> Double { ((a + 2) * t - (a + 3)) * t * t + 1 }
        func far(_ t: Double) -> Double { ((a * t - 5 * a) * t + 8 * a) * t - 4 * a }
        let ratio = outputCount > 1 ? Double(inputCount - 1) / Double(outputCount - 1) : 0
        return (0..<outputCount).map { o in
            let real = ratio * Double(o)
            let i = Int(real.rounded(.down))
            let t = real - Double(i)
            let weights = [far(t + 1), near(t), near(1 - t), far(2 - t)]
            return (0..<4).map { n in (min(inputCount - 1, max(0, i - 1 + n)), weights[n]) }
        }
    }
}

// MARK: - Trigger

/// A backdoor trigger with every random part resolved: what `clipguard poison` applies to
/// training images and stores in the manifest, and what evaluation applies to test images.
///
/// Triggers act on images at the geometry the model sees (after resize and crop; SPEC §2
/// "placement"). Per-image random parts (patch positions, noise) are drawn from the trigger's
/// seed and the image's `index`; the WaNet field is stored whole.
///
/// JSON: `{"kind": "patch", "parameters": {…}}`.
///
/// ```swift
/// let trigger = Trigger.patch(PatchTrigger(size: .pixels(3), position: .topLeft))
/// let triggered = trigger.apply(to: Preprocessing.resizeCenterCrop(size: 32).apply(image), index: 7)
/// ```
public enum Trigger: Sendable, Hashable {
    case patch(PatchTrigger)
    case noisePatch(NoisePatchTrigger)
    case blended(BlendedTrigger)
    case sig(SIGTrigger)
    case wanet(WaNetTrigger)

    /// The kind, as on the command line.
    public var kind: TriggerKind {
        switch self {
        case .patch: return .patch
        case .noisePatch: return .noisePatch
        case .blended: return .blended
        case .sig: return .sig
        case .wanet: return .wanet
        }
    }

    /// The image with the trigger applied. `index` picks the per-image random parts; use the
    /// row's index for training images and the evaluation item's index for test images.
    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        switch self {
        case .patch(let t): return t.apply(to: image, index: index)
        case .noisePatch(let t): return t.apply(to: image, index: index)
        case .blended(let t): return t.apply(to: image, index: index)
        case .sig(let t): return t.apply(to: image, index: index)
        case .wanet(let t): return t.apply(to: image, index: index)
        }
    }

    /// The pixels the trigger alters on a `width × height` image: the patch squares, or the whole
    /// image for blended, SIG and WaNet triggers.
    public func regions(width: Int, height: Int, index: Int) -> [PixelRect] {
        switch self {
        case .patch(let t): return t.regions(width: width, height: height, index: index)
        case .noisePatch(let t): return t.regions(width: width, height: height, index: index)
        case .blended, .sig, .wanet: return [PixelRect(x: 0, y: 0, width: width, height: height)]
        }
    }

    /// The patch squares for patch triggers, nil for whole-image triggers.
    public func localRegions(width: Int, height: Int, index: Int) -> [PixelRect]? {
        switch self {
        case .patch, .noisePatch: return regions(width: width, height: height, index: index)
        case .blended, .sig, .wanet: return nil
        }
    }

    /// Checks the parameters; the message names the bad one.
    public func validate() throws(AttackError) {
        func fail(_ message: String) -> AttackError { .invalidSetting("\(kind.rawValue) trigger: \(message)") }
        switch self {
        case .patch(let t):
            if !t.size.isValid { throw fail("size must be positive pixels or a fraction in (0, 1], got \(t.size)") }
        case .noisePatch(let t):
            if !t.size.isValid { throw fail("size must be positive pixels or a fraction in (0, 1], got \(t.size)") }
        case .blended(let t):
            if !(t.weight >= 0 && t.weight <= 1) { throw fail("blend weight must be in [0, 1], got \(t.weight)") }
        case .sig(let t):
            if !(t.weight >= 0 && t.weight <= 1) { throw fail("blend weight must be in [0, 1], got \(t.weight)") }
            if !t.amplitude.isFinite || t.amplitude < 0 { throw fail("amplitude must be ≥ 0, got \(t.amplitude)") }
            if !t.frequency.isFinite || t.frequency <= 0 { throw fail("frequency must be > 0, got \(t.frequency)") }
        case .wanet(let t):
            if t.gridSize < 2 { throw fail("grid size k must be ≥ 2, got \(t.gridSize)") }
            if !t.strength.isFinite || t.strength < 0 { throw fail("warp strength must be ≥ 0, got \(t.strength)") }
            if t.field.count != t.gridSize * t.gridSize * 2 {
                throw fail("the field has \(t.field.count) values, k×k×2 = \(t.gridSize * t.gridSize * 2) expected")
            }
            if t.field.contains(where: { !$0.isFinite }) { throw fail("the field holds a non-finite value") }
        }
    }

    /// A one-line description with the parameters, for summaries.
    public var summary: String {
        switch self {
        case .patch(let t): return "patch: \(t.color) square, side \(t.size), \(t.position.rawValue)"
        case .noisePatch(let t): return "noise-patch: image mean + N(0,1) square, side \(t.size), \(t.position.rawValue)"
        case .blended(let t): return "blended: weight \(t.weight) of U[0,1] noise"
        case .sig(let t): return "sig: amplitude \(t.amplitude)/255, \(t.frequency) periods, weight \(t.weight)"
        case .wanet(let t): return "wanet: k = \(t.gridSize), s = \(t.strength)"
        }
    }
}

extension Trigger: Codable {
    private enum CodingKeys: String, CodingKey { case kind, parameters }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(TriggerKind.self, forKey: .kind) {
        case .patch: self = .patch(try container.decode(PatchTrigger.self, forKey: .parameters))
        case .noisePatch: self = .noisePatch(try container.decode(NoisePatchTrigger.self, forKey: .parameters))
        case .blended: self = .blended(try container.decode(BlendedTrigger.self, forKey: .parameters))
        case .sig: self = .sig(try container.decode(SIGTrigger.self, forKey: .parameters))
        case .wanet: self = .wanet(try container.decode(WaNetTrigger.self, forKey: .parameters))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .patch(let t): try container.encode(t, forKey: .parameters)
        case .noisePatch(let t): try container.encode(t, forKey: .parameters)
        case .blended(let t): try container.encode(t, forKey: .parameters)
        case .sig(let t): try container.encode(t, forKey: .parameters)
        case .wanet(let t): try container.encode(t, forKey: .parameters)
        }
    }
}

/// The trigger settings of the command line, before the random parts are drawn.
public struct TriggerOptions: Sendable, Hashable {
    /// Patch side (patch: 50/224 of the shorter side; noise-patch: 16/224).
    public var patchSize: TriggerLength?
    public var patchColor: TriggerColor = .white
    /// Patch position (patch: bottom-right; noise-patch: random).
    public var patchPosition: PatchPosition?
    /// Blend weight (blended, sig).
    public var blendWeight: Double = 0.2
    public var sigAmplitude: Double = 60
    public var sigFrequency: Double = 6
    public var warpStrength: Double = 0.5
    public var warpGridSize: Int = 4

    public init() {}

    /// The trigger of `kind` with these settings; random parts are drawn from `seed`.
    public func makeTrigger(kind: TriggerKind, seed: UInt64) throws(AttackError) -> Trigger {
        let trigger: Trigger
        switch kind {
        case .patch:
            trigger = .patch(PatchTrigger(size: patchSize ?? .fraction(50.0 / 224.0), color: patchColor,
                                          position: patchPosition ?? .bottomRight, seed: seed))
        case .noisePatch:
            trigger = .noisePatch(NoisePatchTrigger(size: patchSize ?? .fraction(16.0 / 224.0),
                                                    position: patchPosition ?? .random, seed: seed))
        case .blended: trigger = .blended(BlendedTrigger(weight: blendWeight, seed: seed))
        case .sig: trigger = .sig(SIGTrigger(amplitude: sigAmplitude, frequency: sigFrequency, weight: blendWeight))
        case .wanet:
            guard warpGridSize >= 2 && warpGridSize <= 1024 else {
                throw .invalidSetting("wanet trigger: grid size k must be in 2…1024, got \(warpGridSize)")
            }
            trigger = .wanet(WaNetTrigger.random(gridSize: warpGridSize, strength: warpStrength, seed: seed))
        }
        try trigger.validate()
        return trigger
    }
}
