/// The deterministic geometry an image goes through before the model sees it.
///
/// ```swift
/// let input = Preprocessing.resizeCenterCrop(size: 224).apply(image)   // 224×224
/// let floats = input.chwFloats()                                        // [3, 224, 224]
/// ```
public enum Preprocessing: Sendable, Hashable, Codable {
    /// CLIP's: bicubic resize of the shorter side to `size` (the longer side to
    /// `Int(size * long / short)`, truncated, as torchvision's `Resize(int)`), then a centred
    /// `size × size` crop (torchvision's `CenterCrop`).
    case resizeCenterCrop(size: Int)
    /// Bicubic resize to `size × size`, ignoring the aspect ratio.
    case squareResize(size: Int)

    /// The side length of the square output.
    public var size: Int {
        switch self {
        case .resizeCenterCrop(let s), .squareResize(let s): return s
        }
    }

    /// The preprocessed `size × size` image.
    public func apply(_ image: RGBImage) -> RGBImage {
        switch self {
        case .resizeCenterCrop(let size):
            let (w, h) = Self.shorterSideResize(width: image.width, height: image.height, to: size)
            // The centre crop's placement (torchvision's CenterCrop), computing only those pixels.
            let top = Int((Double(h - size) / 2).rounded(.toNearestOrEven))
            let left = Int((Double(w - size) / 2).rounded(.toNearestOrEven))
            return image.resized(
                width: w, height: h, keepingColumns: left..<(left + size), rows: top..<(top + size), filter: .bicubic)
        case .squareResize(let size):
            return image.resized(width: size, height: size, filter: .bicubic)
        }
    }

    /// The size torchvision's `Resize(size)` gives an image of `width × height`:
    /// the shorter side becomes `size`, the longer `Int(size * long / short)`.
    public static func shorterSideResize(width: Int, height: Int, to size: Int) -> (width: Int, height: Int) {
        if width <= height {
            return (size, Int(Double(size) * Double(height) / Double(width)))
        } else {
            return (Int(Double(size) * Double(width) / Double(height)), size)
        }
    }
}

/// Per-channel normalisation `(x / 255 − mean) / std`.
public struct Normalization: Sendable, Hashable, Codable {
    /// Per-channel mean (R, G, B) of pixel values scaled to [0, 1].
    public var mean: [Float]
    /// Per-channel standard deviation (R, G, B).
    public var std: [Float]

    /// Creates a normalisation; both arrays have three entries.
    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == 3 && std.count == 3, "Normalization needs 3 means and 3 stds")
        self.mean = mean
        self.std = std
    }

    /// OpenAI CLIP's image statistics (open_clip `OPENAI_DATASET_MEAN`/`OPENAI_DATASET_STD`).
    public static let clip = Normalization(
        mean: [0.48145466, 0.4578275, 0.40821073],
        std: [0.26862954, 0.26130258, 0.27577711])
}

extension RGBImage {
    /// The image as `[3, height, width]` float32, `(x / 255 − mean[c]) / std[c]`, computed in
    /// float32 in the same order as torchvision's `ToTensor` + `Normalize` (bit-identical).
    public func chwFloats(normalization: Normalization = .clip) -> [Float] {
        var out = [Float](repeating: 0, count: width * height * 3)
        writeCHWFloats(into: &out, offset: 0, normalization: normalization)
        return out
    }

    /// Writes ``chwFloats(normalization:)`` into `buffer[offset ..< offset + 3·H·W]`, e.g. one
    /// slot of a `[batch, 3, H, W]` batch buffer, without allocating.
    public func writeCHWFloats(into buffer: inout [Float], offset: Int, normalization: Normalization = .clip) {
        let plane = width * height
        precondition(offset >= 0 && offset + 3 * plane <= buffer.count, "writeCHWFloats: buffer too small")
        var table = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            for v in 0..<256 {
                table[c * 256 + v] = (Float(v) / 255 - normalization.mean[c]) / normalization.std[c]
            }
        }
        pixels.withUnsafeBufferPointer { src in
            table.withUnsafeBufferPointer { lut in
                buffer.withUnsafeMutableBufferPointer { dst in
                    for c in 0..<3 {
                        let base = offset + c * plane
                        let lutBase = c * 256
                        for i in 0..<plane { dst[base + i] = lut[lutBase + Int(src[3 * i + c])] }
                    }
                }
            }
        }
    }
}
