import Foundation

/// Pixel-wise colour operations with PIL's semantics (`ImageEnhance`, `ImageOps` and the HSV
/// conversion), which torchvision applies to PIL images.
extension RGBImage {
    /// `PIL.Image.blend(degenerate, self, factor)`: `d + factor · (x − d)`, truncated to 0…255.
    func blended(withDegenerate degenerate: (Int) -> UInt8, factor: Double) -> RGBImage {
        let f = Float(factor)
        var out = pixels
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<p.count {
                let d = Float(degenerate(i))
                let v = d + f * (Float(p[i]) - d)
                p[i] = v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(v))
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// PIL's `ImageEnhance.Brightness(image).enhance(factor)`: blend with black.
    public func adjustedBrightness(_ factor: Double) -> RGBImage {
        blended(withDegenerate: { _ in 0 }, factor: factor)
    }

    /// PIL's `ImageEnhance.Contrast`: blend with the mean luma (rounded), a flat grey.
    public func adjustedContrast(_ factor: Double) -> RGBImage {
        let l = luma()
        var total = 0
        for v in l { total += Int(v) }
        let mean = l.isEmpty ? 0 : UInt8(min(255, Int(Double(total) / Double(l.count) + 0.5)))
        return blended(withDegenerate: { _ in mean }, factor: factor)
    }

    /// PIL's `ImageEnhance.Color`: blend with the image's own greyscale (ITU-R 601 luma).
    public func adjustedSaturation(_ factor: Double) -> RGBImage {
        let l = luma()
        return l.withUnsafeBufferPointer { lp in blended(withDegenerate: { lp[$0 / 3] }, factor: factor) }
    }

    /// torchvision's `adjust_hue` on PIL images: to PIL's 8-bit HSV, the hue byte shifted by
    /// `Int(shift · 255)` modulo 256, and back. `shift` ∈ [−0.5, 0.5].
    public func adjustedHue(_ shift: Double) -> RGBImage {
        precondition(abs(shift) <= 0.5, "adjustedHue: shift \(shift) outside [-0.5, 0.5]")
        let delta = Int(shift * 255)
        var out = pixels
        out.withUnsafeMutableBufferPointer { p in
            var i = 0
            while i < p.count {
                var (h, s, v) = Self.pilHSV(p[i], p[i + 1], p[i + 2])
                h = UInt8(truncatingIfNeeded: Int(h) + delta)
                (p[i], p[i + 1], p[i + 2]) = Self.pilRGB(h, s, v)
                i += 3
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// PIL's RGB → HSV conversion (`Convert.c`, `rgb2hsv`), 8 bits per channel.
    static func pilHSV(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
        let maxc = max(r, g, b), minc = min(r, g, b)
        if maxc == minc { return (0, 0, maxc) }
        let cr = Float(maxc - minc)
        let s = cr / Float(maxc)
        let rc = Float(maxc - r) / cr, gc = Float(maxc - g) / cr, bc = Float(maxc - b) / cr
        var h: Float
        if r == maxc {
            h = bc - gc
        } else if g == maxc {
            h = 2 + rc - bc
        } else {
            h = 4 + gc - rc
        }
        h = fmodf(h / 6 + 1, 1)
        return (UInt8(clamping: Int(h * 255)), UInt8(clamping: Int(s * 255)), maxc)
    }

    /// PIL's HSV → RGB conversion (`Convert.c`, `hsv2rgb`).
    static func pilRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
        if s == 0 { return (v, v, v) }
        let hh = Float(h) * 6 / 255
        let i = Int(hh.rounded(.down))
        let f = hh - Float(i)
        let fs = Float(s) / 255
        let fv = Float(v)
        let p = UInt8(clamping: Int((fv * (1 - fs)).rounded()))
        let q = UInt8(clamping: Int((fv * (1 - fs * f)).rounded()))
        let t = UInt8(clamping: Int((fv * (1 - fs * (1 - f))).rounded()))
        switch i % 6 {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }

    /// Applies a per-channel lookup table `[3][256]`.
    func mapped(_ tables: [[UInt8]]) -> RGBImage {
        var out = pixels
        let flat = tables[0] + tables[1] + tables[2]
        out.withUnsafeMutableBufferPointer { p in
            flat.withUnsafeBufferPointer { t in
                var i = 0
                while i < p.count {
                    p[i] = t[Int(p[i])]
                    p[i + 1] = t[256 + Int(p[i + 1])]
                    p[i + 2] = t[512 + Int(p[i + 2])]
                    i += 3
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Per-channel 256-bin histograms.
    func histograms() -> [[Int]] {
        var h = [[Int]](repeating: [Int](repeating: 0, count: 256), count: 3)
        for i in stride(from: 0, to: pixels.count, by: 3) {
            h[0][Int(pixels[i])] += 1
            h[1][Int(pixels[i + 1])] += 1
            h[2][Int(pixels[i + 2])] += 1
        }
        return h
    }

    /// `255 − x` per channel (`ImageOps.invert`).
    public func inverted() -> RGBImage {
        let t = (0..<256).map { UInt8(255 - $0) }
        return mapped([t, t, t])
    }

    /// Keeps the top `bits` bits of each channel (`ImageOps.posterize`).
    public func posterized(bits: Int) -> RGBImage {
        precondition((0...8).contains(bits), "posterized: bits \(bits) outside 0...8")
        let mask = UInt8(truncatingIfNeeded: ~((1 << (8 - bits)) - 1))
        let t = (0..<256).map { UInt8($0) & mask }
        return mapped([t, t, t])
    }

    /// Inverts every channel value ≥ `threshold` (`ImageOps.solarize`).
    public func solarized(threshold: Double) -> RGBImage {
        let t = (0..<256).map { Double($0) < threshold ? UInt8($0) : UInt8(255 - $0) }
        return mapped([t, t, t])
    }

    /// Stretches each channel's range to 0…255 (`ImageOps.autocontrast`, no cutoff).
    public func autocontrasted() -> RGBImage {
        let tables = histograms().map { h -> [UInt8] in
            guard let lo = h.firstIndex(where: { $0 > 0 }), let hi = h.lastIndex(where: { $0 > 0 }), hi > lo else {
                return (0..<256).map { UInt8($0) }
            }
            let scale = 255 / Double(hi - lo)
            let offset = -Double(lo) * scale
            return (0..<256).map { UInt8(clamping: Int(Double($0) * scale + offset)) }
        }
        return mapped(tables)
    }

    /// Equalises each channel's histogram (`ImageOps.equalize`).
    public func equalized() -> RGBImage {
        let tables = histograms().map { h -> [UInt8] in
            let used = h.filter { $0 > 0 }
            let identity = (0..<256).map { UInt8($0) }
            guard used.count > 1 else { return identity }
            let step = (used.reduce(0, +) - used.last!) / 255
            guard step > 0 else { return identity }
            var n = step / 2
            var t = [UInt8](repeating: 0, count: 256)
            for i in 0..<256 {
                t[i] = UInt8(clamping: n / step)
                n += h[i]
            }
            return t
        }
        return mapped(tables)
    }

    /// PIL's `ImageEnhance.Sharpness`: blend with the `SMOOTH` 3×3 filter
    /// (`[1 1 1; 1 5 1; 1 1 1] / 13`; border pixels keep their value).
    public func adjustedSharpness(_ factor: Double) -> RGBImage {
        var smooth = pixels
        if width >= 3 && height >= 3 {
            let w = width
            pixels.withUnsafeBufferPointer { src in
                smooth.withUnsafeMutableBufferPointer { dst in
                    for y in 1..<(height - 1) {
                        for x in 1..<(w - 1) {
                            for c in 0..<3 {
                                var sum = 0
                                for dy in -1...1 {
                                    for dx in -1...1 {
                                        sum += Int(src[((y + dy) * w + x + dx) * 3 + c])
                                    }
                                }
                                sum += 4 * Int(src[(y * w + x) * 3 + c])
                                dst[(y * w + x) * 3 + c] = UInt8(clamping: Int((Double(sum) / 13).rounded()))
                            }
                        }
                    }
                }
            }
        }
        return smooth.withUnsafeBufferPointer { s in blended(withDegenerate: { s[$0] }, factor: factor) }
    }

    /// Inverse-mapped affine warp with nearest-neighbour sampling and black fill, as PIL's
    /// `Image.transform(AFFINE)`: output pixel centre `(x + ½, y + ½)` samples the input at
    /// `(a·x' + b·y' + c, d·x' + e·y' + f)`.
    func affineWarped(_ a: Double, _ b: Double, _ c: Double, _ d: Double, _ e: Double, _ f: Double) -> RGBImage {
        var out = [UInt8](repeating: 0, count: pixels.count)
        let w = width, h = height
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let yc = Double(y) + 0.5
                    for x in 0..<w {
                        let xc = Double(x) + 0.5
                        let xi = a * xc + b * yc + c, yi = d * xc + e * yc + f
                        guard xi >= 0, yi >= 0 else { continue }
                        let sx = Int(xi), sy = Int(yi)
                        guard sx < w, sy < h else { continue }
                        let s = (sy * w + sx) * 3, o = (y * w + x) * 3
                        dst[o] = src[s]
                        dst[o + 1] = src[s + 1]
                        dst[o + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// Rotated counter-clockwise by `degrees` about the centre, same size, black corners
    /// (PIL's `rotate(degrees, NEAREST)`).
    public func rotated(degrees: Double) -> RGBImage {
        let t = degrees * .pi / 180
        let cx = Double(width) / 2, cy = Double(height) / 2
        let (cs, sn) = (cos(t), sin(t))
        // Input = R(θ)ᵀ-style inverse map about the centre.
        return affineWarped(cs, -sn, cx - cs * cx + sn * cy, sn, cs, cy - sn * cx - cs * cy)
    }

    /// Sheared horizontally: output `(x, y)` samples input `(x + m·y, y)`, black fill
    /// (torchvision's `ShearX` with shear angle `atan(m)` about the origin).
    public func shearedX(_ m: Double) -> RGBImage {
        affineWarped(1, m, 0, 0, 1, 0)
    }
}
