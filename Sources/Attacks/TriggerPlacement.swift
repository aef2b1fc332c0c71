import Datasets

/// The deterministic geometry of a model's input: how an image becomes `size × size`.
///
/// JSON: `{"resize": "crop", "size": 224}`.
public struct ModelGeometry: Codable, Sendable, Hashable, CustomStringConvertible {
    /// How the image is brought to a square.
    public enum Resize: String, Codable, Sendable, CaseIterable {
        /// CLIP's: resize the shorter side to `size`, then take the centred `size × size` crop.
        case crop
        /// Resize to `size × size`, ignoring the aspect ratio.
        case square
    }

    public var resize: Resize
    /// The input side in pixels.
    public var size: Int

    public init(resize: Resize = .crop, size: Int = 224) { self.resize = resize; self.size = size }

    /// The Datasets preprocessing that performs this geometry.
    public var preprocessing: Preprocessing {
        switch resize {
        case .crop: return .resizeCenterCrop(size: size)
        case .square: return .squareResize(size: size)
        }
    }

    public var description: String {
        switch resize {
        case .crop: return "resize shorter side + centre crop to \(size)×\(size)"
        case .square: return "square resize to \(size)×\(size)"
        }
    }

    /// For a `width × height` image, the pixel columns and rows whose centres land inside the
    /// model input: pixel `(x, y)` reaches the model iff `columns.contains(x) && rows.contains(y)`.
    ///
    /// A pixel centre `x + ½` maps to `(x + ½)·W'/W` in the resized image (`W'` its width), which
    /// survives the centre crop when it lies in `[left, left + size)`, `left` placed as
    /// torchvision's `CenterCrop` places it.
    public func survivingPixels(width: Int, height: Int) -> (columns: Range<Int>, rows: Range<Int>) {
        switch resize {
        case .square:
            return (0..<width, 0..<height)
        case .crop:
            let (rw, rh) = Preprocessing.shorterSideResize(width: width, height: height, to: size)
            func survivors(original: Int, resized: Int) -> Range<Int> {
                let start = Int((Double(resized - size) / 2).rounded(.toNearestOrEven))
                let scale = Double(resized) / Double(original)
                // Smallest x with (x + ½)·scale ≥ start, and smallest with (x + ½)·scale ≥ start + size.
                func firstAtLeast(_ bound: Int) -> Int {
                    var x = max(0, Int((Double(bound) / scale - 0.5).rounded(.down)))
                    while x > 0 && (Double(x - 1) + 0.5) * scale >= Double(bound) { x -= 1 }
                    while x < original && (Double(x) + 0.5) * scale < Double(bound) { x += 1 }
                    return x
                }
                let lower = firstAtLeast(start), upper = firstAtLeast(start + size)
                return lower..<max(lower, upper)
            }
            return (survivors(original: width, resized: rw), survivors(original: height, resized: rh))
        }
    }
}

/// Where the generator applies the trigger.
public enum TriggerPlacement: Codable, Sendable, Hashable, CustomStringConvertible {
    /// After bringing the image to the model's input geometry (our default, like CleanCLIP):
    /// poisoned images are written at `size × size` with the whole trigger inside.
    case modelInput(ModelGeometry)
    /// On the original image before any preprocessing (the study's mistake, SPEC §2): the
    /// trigger may be cropped away when the model's preprocessing runs.
    case original

    private enum CodingKeys: String, CodingKey { case kind, geometry }
    private enum Kind: String, Codable { case modelInput = "model-input", original }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(Kind.self, forKey: .kind) {
        case .modelInput: self = .modelInput(try container.decode(ModelGeometry.self, forKey: .geometry))
        case .original: self = .original
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .modelInput(let geometry):
            try container.encode(Kind.modelInput, forKey: .kind)
            try container.encode(geometry, forKey: .geometry)
        case .original:
            try container.encode(Kind.original, forKey: .kind)
        }
    }

    public var description: String {
        switch self {
        case .modelInput(let geometry): return "at the model input (\(geometry))"
        case .original: return "on the original image (before preprocessing)"
        }
    }
}

/// How much of a trigger reaches the model input.
public enum TriggerSurvival {
    /// The fraction (0…1) of the pixels in the union of `regions` of a `width × height` image
    /// that land inside the model input under `geometry`; 1 when the regions are empty.
    public static func fraction(of regions: [PixelRect], width: Int, height: Int, geometry: ModelGeometry) -> Double {
        let (columns, rows) = geometry.survivingPixels(width: width, height: height)
        let clipped = regions.compactMap { clip($0, width: width, height: height) }
        guard !clipped.isEmpty else { return 1 }
        if clipped.count == 1 {
            let r = clipped[0]
            let inside = overlap(r.x..<(r.x + r.width), columns) * overlap(r.y..<(r.y + r.height), rows)
            return Double(inside) / Double(r.area)
        }
        // Union of several rectangles: count a mask over their bounding box.
        let x0 = clipped.map(\.x).min()!, y0 = clipped.map(\.y).min()!
        let x1 = clipped.map { $0.x + $0.width }.max()!, y1 = clipped.map { $0.y + $0.height }.max()!
        let bw = x1 - x0
        var mask = [Bool](repeating: false, count: bw * (y1 - y0))
        for r in clipped {
            for y in r.y..<(r.y + r.height) {
                for x in r.x..<(r.x + r.width) { mask[(y - y0) * bw + x - x0] = true }
            }
        }
        var total = 0, inside = 0
        for y in y0..<y1 {
            for x in x0..<x1 where mask[(y - y0) * bw + x - x0] {
                total += 1
                if columns.contains(x) && rows.contains(y) { inside += 1 }
            }
        }
        return Double(inside) / Double(total)
    }

    private static func clip(_ r: PixelRect, width: Int, height: Int) -> PixelRect? {
        let x0 = max(0, r.x), y0 = max(0, r.y)
        let x1 = min(width, r.x + r.width), y1 = min(height, r.y + r.height)
        return x1 > x0 && y1 > y0 ? PixelRect(x: x0, y: y0, width: x1 - x0, height: y1 - y0) : nil
    }

    private static func overlap(_ a: Range<Int>, _ b: Range<Int>) -> Int {
        max(0, min(a.upperBound, b.upperBound) - max(a.lowerBound, b.lowerBound))
    }
}
