/// The interpolation filter of a resize.
public enum ResampleFilter: String, Sendable, Hashable, Codable {
    /// Triangle filter, support 1 (PIL's `BILINEAR`; torchvision's default for PIL images).
    case bilinear
    /// Keys cubic with a = −0.5, support 2 (PIL's `BICUBIC`; what CLIP's preprocessing uses).
    case bicubic

    var support: Double { self == .bilinear ? 1 : 2 }

    func weight(_ t: Double) -> Double {
        let x = abs(t)
        switch self {
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// Fixed-point filter taps for one axis of a PIL-style convolution resize.
///
/// Port of the scheme in Pillow's `libImaging/Resample.c` (not its code): when downsampling
/// by `scale > 1` the filter is stretched by `scale` (this is the antialiasing), taps are
/// normalised to sum 1 in double precision and then rounded to integers with 22 fractional bits.
struct ResampleTaps {
    static let precisionBits = 22
    /// Taps per output sample (the stride of `weights`).
    let stride: Int
    /// First input index (relative to the box start) used by each output sample.
    var first: [Int]
    /// Number of taps used by each output sample.
    var count: [Int]
    /// `[outSize, stride]` fixed-point weights.
    var weights: [Int32]

    init(inputLength: Int, outputLength: Int, filter: ResampleFilter) {
        let scale = Double(inputLength) / Double(outputLength)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        stride = Int(support.rounded(.up)) * 2 + 1
        first = [Int](repeating: 0, count: outputLength)
        count = [Int](repeating: 0, count: outputLength)
        weights = [Int32](repeating: 0, count: outputLength * stride)
        var taps = [Double](repeating: 0, count: stride)
        let inverse = 1 / filterScale
        let one = Double(1 << Self.precisionBits)
        for i in 0..<outputLength {
            let center = (Double(i) + 0.5) * scale
            // Int(_:) truncates toward zero, as C's (int) cast in Pillow does.
            let lo = max(Int(center - support + 0.5), 0)
            let hi = min(Int(center + support + 0.5), inputLength)
            let n = hi - lo
            var total = 0.0
            for k in 0..<n {
                let w = filter.weight((Double(k + lo) - center + 0.5) * inverse)
                taps[k] = w
                total += w
            }
            for k in 0..<n {
                let w = total != 0 ? taps[k] / total : taps[k]
                weights[i * stride + k] = Int32(w < 0 ? (-0.5 + w * one) : (0.5 + w * one))
            }
            first[i] = lo
            count[i] = n
        }
    }
}

@inline(__always)
private func clip8(_ accumulator: Int32) -> UInt8 {
    let v = accumulator >> Int32(ResampleTaps.precisionBits)
    return v < 0 ? 0 : (v > 255 ? 255 : UInt8(truncatingIfNeeded: v))
}

extension RGBImage {
    /// The image resized to `width × height` with a separable convolution filter, matching
    /// PIL's `Image.resize` (and so torchvision's `Resize` on PIL images) bit for bit:
    /// the filter's support is widened by the scale factor when downsampling (antialiasing),
    /// arithmetic is fixed-point with 22 fractional bits, and the horizontal pass is rounded
    /// to 8 bits before the vertical pass, as in Pillow.
    ///
    /// ```swift
    /// let small = image.resized(width: 224, height: 168)
    /// ```
    /// ### See Also
    /// ``resized(cropX:cropY:cropWidth:cropHeight:width:height:filter:)``
    public func resized(width outWidth: Int, height outHeight: Int, filter: ResampleFilter = .bicubic) -> RGBImage {
        resized(cropX: 0, cropY: 0, cropWidth: width, cropHeight: height, width: outWidth, height: outHeight, filter: filter)
    }

    /// The rectangle `(cropX, cropY, cropWidth, cropHeight)` resized to `width × height`;
    /// identical to `cropped(...).resized(...)` but without the intermediate copy.
    public func resized(
        cropX: Int, cropY: Int, cropWidth: Int, cropHeight: Int,
        width outWidth: Int, height outHeight: Int, filter: ResampleFilter = .bicubic
    ) -> RGBImage {
        precondition(outWidth > 0 && outHeight > 0, "resized: empty target \(outWidth)x\(outHeight)")
        precondition(
            cropX >= 0 && cropY >= 0 && cropWidth > 0 && cropHeight > 0
                && cropX + cropWidth <= width && cropY + cropHeight <= height,
            "resized: rectangle (\(cropX), \(cropY), \(cropWidth)x\(cropHeight)) is outside a \(width)x\(height) image")
        let needHorizontal = outWidth != cropWidth
        let needVertical = outHeight != cropHeight
        if !needHorizontal && !needVertical {
            return cropped(x: cropX, y: cropY, width: cropWidth, height: cropHeight)
        }
        // Horizontal pass: rows of the crop -> [cropHeight, outWidth, 3].
        var intermediate: [UInt8]
        var interStride: Int
        var interX: Int
        var interY: Int
        if needHorizontal {
            let taps = ResampleTaps(inputLength: cropWidth, outputLength: outWidth, filter: filter)
            intermediate = [UInt8](repeating: 0, count: cropHeight * outWidth * 3)
            let srcStride = width * 3
            pixels.withUnsafeBufferPointer { src in
                intermediate.withUnsafeMutableBufferPointer { dst in
                    taps.weights.withUnsafeBufferPointer { w in
                        let half = Int32(1 << (ResampleTaps.precisionBits - 1))
                        for row in 0..<cropHeight {
                            let srcRow = (cropY + row) * srcStride + cropX * 3
                            let dstRow = row * outWidth * 3
                            for x in 0..<outWidth {
                                var r = half, g = half, b = half
                                let base = srcRow + taps.first[x] * 3
                                let wBase = x * taps.stride
                                for k in 0..<taps.count[x] {
                                    let wk = w[wBase + k]
                                    let s = base + k * 3
                                    r &+= Int32(src[s]) &* wk
                                    g &+= Int32(src[s + 1]) &* wk
                                    b &+= Int32(src[s + 2]) &* wk
                                }
                                let d = dstRow + x * 3
                                dst[d] = clip8(r)
                                dst[d + 1] = clip8(g)
                                dst[d + 2] = clip8(b)
                            }
                        }
                    }
                }
            }
            if !needVertical { return RGBImage(width: outWidth, height: outHeight, pixels: intermediate) }
            interStride = outWidth * 3
            interX = 0
            interY = 0
        } else {
            intermediate = pixels
            interStride = width * 3
            interX = cropX
            interY = cropY
        }
        // Vertical pass: [cropHeight, outWidth, 3] -> [outHeight, outWidth, 3], a row at a time.
        let taps = ResampleTaps(inputLength: cropHeight, outputLength: outHeight, filter: filter)
        let rowLength = outWidth * 3
        var out = [UInt8](repeating: 0, count: outHeight * rowLength)
        var accumulator = [Int32](repeating: 0, count: rowLength)
        intermediate.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                accumulator.withUnsafeMutableBufferPointer { acc in
                    taps.weights.withUnsafeBufferPointer { w in
                        let half = Int32(1 << (ResampleTaps.precisionBits - 1))
                        for y in 0..<outHeight {
                            for j in 0..<rowLength { acc[j] = half }
                            for k in 0..<taps.count[y] {
                                let wk = w[y * taps.stride + k]
                                let s = (interY + taps.first[y] + k) * interStride + interX * 3
                                for j in 0..<rowLength { acc[j] &+= Int32(src[s + j]) &* wk }
                            }
                            let d = y * rowLength
                            for j in 0..<rowLength { dst[d + j] = clip8(acc[j]) }
                        }
                    }
                }
            }
        }
        return RGBImage(width: outWidth, height: outHeight, pixels: out)
    }
}
