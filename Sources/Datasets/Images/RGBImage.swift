/// An 8-bit RGB image: interleaved HWC, row-major, no row padding.
///
/// Pixel `(x, y)` channel `c` is `pixels[(y * width + x) * 3 + c]`. This is the value type that
/// the decoders return, the preprocessing and augmentations transform, and the encoders write.
///
/// ```swift
/// let red = RGBImage(width: 4, height: 2, fill: (255, 0, 0))
/// let bytes = try red.pngData()
/// ```
public struct RGBImage: Sendable, Hashable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// `[height, width, 3]` UInt8, interleaved RGB; `count == width * height * 3`.
    public var pixels: [UInt8]

    /// Wraps interleaved RGB pixels; traps unless `pixels.count == width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "RGBImage: negative size \(width)x\(height)")
        precondition(
            pixels.count == width * height * 3,
            "RGBImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image of one colour.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8)) {
        precondition(width >= 0 && height >= 0, "RGBImage: negative size \(width)x\(height)")
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeMutableBufferPointer { p in
            var i = 0
            while i < p.count {
                p[i] = fill.0
                p[i + 1] = fill.1
                p[i + 2] = fill.2
                i += 3
            }
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// The pixel at column `x`, row `y`.
    @inlinable
    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }
}

extension RGBImage {
    /// The sub-image with top-left corner `(x, y)`; the rectangle must lie inside the image.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RGBImage {
        precondition(
            x >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= width && y + h <= height,
            "cropped: rectangle (\(x), \(y), \(w)x\(h)) is outside a \(width)x\(height) image")
        if x == 0 && y == 0 && w == width && h == height { return self }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for row in 0..<h {
                    let from = ((y + row) * width + x) * 3
                    let to = row * w * 3
                    for i in 0..<(w * 3) { dst[to + i] = src[from + i] }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// A centred `width × height` crop, placed as torchvision's `CenterCrop` places it
    /// (`top = round((H - h) / 2)`, rounding half to even as Python does).
    ///
    /// The crop must fit inside the image (torchvision would pad; CLIP's preprocessing never needs to).
    public func centerCropped(width w: Int, height h: Int) -> RGBImage {
        let top = Int((Double(height - h) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(width - w) / 2).rounded(.toNearestOrEven))
        return cropped(x: left, y: top, width: w, height: h)
    }

    /// The image mirrored left to right.
    public func horizontallyFlipped() -> RGBImage {
        var out = [UInt8](repeating: 0, count: pixels.count)
        let w = width
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let row = y * w * 3
                    for x in 0..<w {
                        let s = row + x * 3, d = row + (w - 1 - x) * 3
                        dst[d] = src[s]
                        dst[d + 1] = src[s + 1]
                        dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// ITU-R 601-2 luma per pixel, computed exactly as PIL's `convert("L")`:
    /// `(19595 R + 38470 G + 7471 B + 0x8000) >> 16`. Returns `[height, width]` UInt8.
    public func luma() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<dst.count {
                    let r = UInt32(src[3 * i]), g = UInt32(src[3 * i + 1]), b = UInt32(src[3 * i + 2])
                    dst[i] = UInt8(truncatingIfNeeded: (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
                }
            }
        }
        return out
    }

    /// The image converted to grey (PIL's `convert("L").convert("RGB")`): each channel is the luma.
    public func grayscaled() -> RGBImage {
        let l = luma()
        var out = [UInt8](repeating: 0, count: pixels.count)
        out.withUnsafeMutableBufferPointer { dst in
            for i in 0..<l.count {
                dst[3 * i] = l[i]
                dst[3 * i + 1] = l[i]
                dst[3 * i + 2] = l[i]
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}
