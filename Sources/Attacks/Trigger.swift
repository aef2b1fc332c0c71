import Datasets
import Foundation

// The building blocks the trigger kinds share: sizes, colours, positions, rectangles and the
// per-image random streams. Each kind lives in its own file under Triggers/ and is listed in
// ``TriggerRegistry`` (TriggerKind.swift).

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

    /// The colours known by name, in the order a colour is written back (`gray` before `grey`).
    public static let names: [(name: String, color: TriggerColor)] = [
        ("white", .white), ("black", .black), ("red", TriggerColor(red: 255, green: 0, blue: 0)),
        ("green", TriggerColor(red: 0, green: 255, blue: 0)), ("blue", TriggerColor(red: 0, green: 0, blue: 255)),
        ("yellow", TriggerColor(red: 255, green: 255, blue: 0)), ("gray", TriggerColor(red: 128, green: 128, blue: 128)),
        ("grey", TriggerColor(red: 128, green: 128, blue: 128)),
    ]

    /// Parses a name (`white`, `black`, `red`, `green`, `blue`, `yellow`, `gray`), `#RRGGBB` or `r,g,b`.
    public init?(parsing text: String) {
        let lower = text.lowercased().trimmingCharacters(in: .whitespaces)
        if let named = Self.names.first(where: { $0.name == lower }) {
            self = named.color
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

/// A trigger painted into square patches of `size` at `position` (the white square, the noise
/// patch, the optimised patch): where it lands is the patches' rectangles, drawn per item from
/// `seed` when the position is random.
public protocol PatchPlacedTrigger: TriggerDefinition {
    var size: TriggerLength { get }
    var position: PatchPosition { get }
    var seed: UInt64 { get }
}

extension PatchPlacedTrigger {
    /// The rectangles the patch covers on a `width × height` image (item `index`).
    public func regions(width: Int, height: Int, index: Int) -> [PixelRect] {
        var rng = itemStream(seed: seed, index: index)
        return patchRectangles(size: size, position: position, width: width, height: height, rng: &rng)
    }

    public func localRegions(width: Int, height: Int, index: Int) -> [PixelRect]? {
        regions(width: width, height: height, index: index)
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

