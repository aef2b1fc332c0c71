import Foundation

/// Pixel-wise colour operations with PIL's semantics (`ImageEnhance`, `ImageOps` and the HSV
/// conversion), which torchvision applies to PIL images.
extension RGBImage {
    /// The degenerate image of a PIL blend.
    enum Degenerate {
        /// One grey value everywhere.
        case constant(UInt8)
        /// One grey value per pixel, `[height, width]`.
        case grey([UInt8])
        /// A full RGB image, `[height, width, 3]`.
        case rgb([UInt8])
    }

    /// `PIL.Image.blend(degenerate, self, factor)`: `d + factor · (x − d)` in float32,
    /// truncated to 0…255 (Pillow's `Blend.c`).
    func blended(with degenerate: Degenerate, factor: Double) -> RGBImage {
        let f = Float(factor)
        @inline(__always) func mix(_ d: Float, _ x: UInt8) -> UInt8 {
            let v = d + f * (Float(x) - d)
            return v <= 0 ? 0 : (v >= 255 ? 255 : UInt8(v))
        }
        var out = pixels
        let n = pixels.count
        out.withUnsafeMutableBufferPointer { pBuffer in
            let p = pBuffer.baseAddress!
            switch degenerate {
            case .constant(let c):
                // One value per input byte: a 256-entry table of the same float arithmetic.
                let d = Float(c)
                var table = [UInt8](repeating: 0, count: 256)
                for x in 0..<256 { table[x] = mix(d, UInt8(x)) }
                table.withUnsafeBufferPointer { t in
                    for i in 0..<n { p[i] = t[Int(p[i])] }
                }
            case .grey(let grey):
                // Every (grey, value) pair: a 64 K table beats three float blends per pixel
                // once the image has more than ~20 K pixels; same arithmetic, same bytes.
                if grey.count >= 1 << 14 {
                    var table = [UInt8](repeating: 0, count: 1 << 16)
                    for d in 0..<256 {
                        for x in 0..<256 { table[d << 8 | x] = mix(Float(d), UInt8(x)) }
                    }
                    table.withUnsafeBufferPointer { t in
                        grey.withUnsafeBufferPointer { g in
                            for i in 0..<g.count {
                                let row = Int(g[i]) << 8
                                p[3 * i] = t[row | Int(p[3 * i])]
                                p[3 * i + 1] = t[row | Int(p[3 * i + 1])]
                                p[3 * i + 2] = t[row | Int(p[3 * i + 2])]
                            }
                        }
                    }
                    break
                }
                grey.withUnsafeBufferPointer { g in
                    for i in 0..<g.count {
                        let d = Float(g[i])
                        p[3 * i] = mix(d, p[3 * i])
                        p[3 * i + 1] = mix(d, p[3 * i + 1])
                        p[3 * i + 2] = mix(d, p[3 * i + 2])
                    }
                }
            case .rgb(let other):
                other.withUnsafeBufferPointer { o in
                    for i in 0..<n { p[i] = mix(Float(o[i]), p[i]) }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// PIL's `ImageEnhance.Brightness(image).enhance(factor)`: blend with black.
    public func adjustedBrightness(_ factor: Double) -> RGBImage {
        blended(with: .constant(0), factor: factor)
    }

    /// PIL's `ImageEnhance.Contrast`: blend with the mean luma (rounded), a flat grey.
    public func adjustedContrast(_ factor: Double) -> RGBImage {
        let l = luma()
        var total = 0
        for v in l { total += Int(v) }
        let mean = l.isEmpty ? 0 : UInt8(min(255, Int(Double(total) / Double(l.count) + 0.5)))
        return blended(with: .constant(mean), factor: factor)
    }

    /// PIL's `ImageEnhance.Color`: blend with the image's own greyscale (ITU-R 601 luma).
    public func adjustedSaturation(_ factor: Double) -> RGBImage {
        blended(with: .grey(luma()), factor: factor)
    }

    /// torchvision's `adjust_hue` on PIL images: to PIL's 8-bit HSV, the hue byte shifted by
    /// `Int(shift · 255)` modulo 256, and back. `shift` ∈ [−0.5, 0.5].
    public func adjustedHue(_ shift: Double) -> RGBImage {
        precondition(abs(shift) <= 0.5, "adjustedHue: shift \(shift) outside [-0.5, 0.5]")
        let delta = Int(shift * 255)
        var out = pixels
        out.withUnsafeMutableBufferPointer { p in
            hsvQuotients.withUnsafeBufferPointer { q in
                HSVToRGBTables.shared.withPointers { tables in
                    var i = 0
                    while i < p.count {
                        var (h, s, v) = Self.pilHSV(p[i], p[i + 1], p[i + 2], quotients: q)
                        h = UInt8(truncatingIfNeeded: Int(h) + delta)
                        (p[i], p[i + 1], p[i + 2]) = Self.pilRGB(h, s, v, tables: tables)
                        i += 3
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// ``pilRGB(_:_:_:)`` with its per-(h, s) and per-(s, v) terms read from ``HSVToRGBTables``
    /// (computed by the same expressions, so the bytes are identical).
    @inline(__always)
    static func pilRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8, tables: HSVToRGBTables.Pointers) -> (UInt8, UInt8, UInt8) {
        if s == 0 { return (v, v, v) }
        let hs = Int(h) << 8 | Int(s)
        let fv = Double(v)
        let p = tables.p[Int(s) << 8 | Int(v)]
        let q = roundHalfAwayFromZero(fv * tables.qFactor[hs])
        let t = roundHalfAwayFromZero(fv * tables.tFactor[hs])
        return sectorRGB(Int(tables.sector[hs]), v: v, p: p, q: q, t: t)
    }

    /// PIL's `hsv2rgb` output for hue sector `sector` (0…5) from v and the three derived bytes.
    @inline(__always)
    static func sectorRGB(_ sector: Int, v: UInt8, p: UInt8, q: UInt8, t: UInt8) -> (UInt8, UInt8, UInt8) {
        switch sector {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }

    /// ``pilHSV(_:_:_:)`` with the float divisions read from ``hsvQuotients`` (the same values).
    @inline(__always)
    static func pilHSV(_ r: UInt8, _ g: UInt8, _ b: UInt8, quotients q: UnsafeBufferPointer<Float>)
        -> (UInt8, UInt8, UInt8)
    {
        let maxc = max(r, g, b), minc = min(r, g, b)
        if maxc == minc { return (0, 0, maxc) }
        let c = Int(maxc - minc)
        let s = q[c << 8 | Int(maxc)]
        let rc = q[Int(maxc - r) << 8 | c], gc = q[Int(maxc - g) << 8 | c], bc = q[Int(maxc - b) << 8 | c]
        return packHSV(r: r, g: g, maxc: maxc, s: s, rc: rc, gc: gc, bc: bc)
    }

    /// PIL's RGB → HSV conversion (`Convert.c`, `rgb2hsv_row`), 8 bits per channel, with C's
    /// mix of float storage and double arithmetic reproduced.
    static func pilHSV(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
        let maxc = max(r, g, b), minc = min(r, g, b)
        if maxc == minc { return (0, 0, maxc) }
        let cr = Float(maxc - minc)
        let s = cr / Float(maxc)
        let rc = Float(maxc - r) / cr, gc = Float(maxc - g) / cr, bc = Float(maxc - b) / cr
        return packHSV(r: r, g: g, maxc: maxc, s: s, rc: rc, gc: gc, bc: bc)
    }

    /// The hue from PIL's per-channel quotients, and the 8-bit (h, s, v) triple.
    @inline(__always)
    static func packHSV(r: UInt8, g: UInt8, maxc: UInt8, s: Float, rc: Float, gc: Float, bc: Float)
        -> (UInt8, UInt8, UInt8)
    {
        var h: Float
        if r == maxc {
            h = bc - gc
        } else if g == maxc {
            h = Float(2.0 + Double(rc) - Double(bc))
        } else {
            h = Float(4.0 + Double(gc) - Double(rc))
        }
        // fmod(x, 1) for x = h/6 + 1 ∈ [0, 2): exact either way (Sterbenz), without the libm call.
        let x = Double(h) / 6.0 + 1.0
        h = Float(x >= 1 ? x - 1 : x)
        return (UInt8(clamping: Int(Double(h) * 255.0)), UInt8(clamping: Int(Double(s) * 255.0)), maxc)
    }

    /// PIL's HSV → RGB conversion (`Convert.c`, `hsv2rgb`), same arithmetic as C.
    static func pilRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
        if s == 0 { return (v, v, v) }
        let (i, f) = HSVToRGBTables.sectorAndFraction(h)
        let fs = HSVToRGBTables.saturation(s)
        let fv = Double(v)
        let p = roundHalfAwayFromZero(fv * (1.0 - fs))
        let q = roundHalfAwayFromZero(fv * (1.0 - fs * f))
        let t = roundHalfAwayFromZero(fv * (1.0 - fs * (1.0 - f)))
        return sectorRGB(i % 6, v: v, p: p, q: q, t: t)
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
        var flat = [Int](repeating: 0, count: 3 * 256)
        flat.withUnsafeMutableBufferPointer { hBuffer in
            pixels.withUnsafeBufferPointer { pBuffer in
                let h = hBuffer.baseAddress!, p = pBuffer.baseAddress!
                var i = 0
                while i < pBuffer.count {
                    h[Int(p[i])] += 1
                    h[256 + Int(p[i + 1])] += 1
                    h[512 + Int(p[i + 2])] += 1
                    i += 3
                }
            }
        }
        return [Array(flat[0..<256]), Array(flat[256..<512]), Array(flat[512..<768])]
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
                                // round(sum / 13): the fraction is k/13, never exactly one half.
                                dst[(y * w + x) * 3 + c] = UInt8(clamping: (sum + 6) / 13)
                            }
                        }
                    }
                }
            }
        }
        return blended(with: .rgb(smooth), factor: factor)
    }

    /// Inverse-mapped affine warp with nearest-neighbour sampling and black fill, exactly as
    /// PIL's `Image.transform(AFFINE, NEAREST)`: the input position of output pixel `(x, y)` is
    /// `(a·x' + b·y' + c, d·x' + e·y' + f)` at the pixel centre `(x', y') = (x + ½, y + ½)`,
    /// stepped in 16.16 fixed point and floored (Pillow's `affine_fixed`).
    func affineWarped(_ a: Double, _ b: Double, _ c: Double, _ d: Double, _ e: Double, _ f: Double) -> RGBImage {
        if a == 1 && b == 0 && c == 0 && d == 0 && e == 1 && f == 0 { return self }
        func fix(_ v: Double) -> Int { Int((v * 65536 + 0.5).rounded(.down)) }
        let a0 = fix(a), a1 = fix(b), a3 = fix(d), a4 = fix(e)
        var rowX = fix(c + a * 0.5 + b * 0.5), rowY = fix(f + d * 0.5 + e * 0.5)
        var out = [UInt8](repeating: 0, count: pixels.count)
        let w = width, h = height
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    var xx = rowX, yy = rowY
                    for x in 0..<w {
                        let sx = xx >> 16, sy = yy >> 16
                        if sx >= 0 && sx < w && sy >= 0 && sy < h {
                            let s = (sy * w + sx) * 3, o = (y * w + x) * 3
                            dst[o] = src[s]
                            dst[o + 1] = src[s + 1]
                            dst[o + 2] = src[s + 2]
                        }
                        xx += a0
                        yy += a3
                    }
                    rowX += a1
                    rowY += a4
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// Rotated counter-clockwise by `degrees` about the centre, same size, black corners
    /// (PIL's `rotate(degrees, NEAREST)`).
    public func rotated(degrees: Double) -> RGBImage {
        // Python's `angle % 360` (non-negative), then PIL's `-radians(angle)`.
        let t = -(degrees - 360 * (degrees / 360).rounded(.down)) * .pi / 180
        // PIL rounds the matrix entries to 15 decimals.
        func r15(_ v: Double) -> Double { (v * 1e15).rounded() / 1e15 }
        let (m0, m1, m3, m4) = (r15(cos(t)), r15(sin(t)), r15(-sin(t)), r15(cos(t)))
        let cx = Double(width) / 2, cy = Double(height) / 2
        let c = m0 * -cx + m1 * -cy + cx
        let f = m3 * -cx + m4 * -cy + cy
        return affineWarped(m0, m1, c, m3, m4, f)
    }

    /// Sheared horizontally: output `(x, y)` samples input `(x + m·y, y)`, black fill
    /// (torchvision's `ShearX` with shear angle `atan(m)` about the origin).
    public func shearedX(_ m: Double) -> RGBImage {
        affineWarped(1, m, 0, 0, 1, 0)
    }
}

/// `Float(a) / Float(b)` at index `a << 8 | b` for bytes `a`, `b` (`b > 0`): the divisions in
/// PIL's RGB → HSV conversion, looked up (IEEE division is exact-rounded, so the values match).
private let hsvQuotients: [Float] = {
    var table = [Float](repeating: 0, count: 256 * 256)
    for a in 0..<256 {
        for b in 1..<256 { table[a << 8 | b] = Float(a) / Float(b) }
    }
    return table
}()

/// C's round() (half away from zero) for the non-negative values of PIL's HSV → RGB, without libm.
@inline(__always)
private func roundHalfAwayFromZero(_ x: Double) -> UInt8 {
    let t = Int(x)
    return UInt8(clamping: x - Double(t) >= 0.5 ? t + 1 : t)
}

/// The terms of PIL's HSV → RGB conversion that depend on two of the three bytes: per (h, s)
/// the sector `i % 6` and the factors `1 − s·f` (q) and `1 − s·(1 − f)` (t); per (s, v) the
/// byte p = round(v·(1 − s)). Built once (2 MiB), the same expressions as ``RGBImage/pilRGB(_:_:_:)``.
final class HSVToRGBTables: Sendable {
    static let shared = HSVToRGBTables()

    let sector: [UInt8]
    let qFactor: [Double]
    let tFactor: [Double]
    let p: [UInt8]

    /// PIL's sector and hue fraction: `hh = h·6/255`, `i = ⌊hh⌋`, `f = Float(hh − i)`.
    static func sectorAndFraction(_ h: UInt8) -> (Int, Double) {
        let hh = Double(h) * 6.0 / 255.0
        let i = Int(hh)  // floor, hh >= 0
        return (i, Double(Float(hh - Double(i))))
    }

    /// PIL's saturation as a fraction, rounded through float32.
    static func saturation(_ s: UInt8) -> Double { Double(Float(Double(s) / 255.0)) }

    private init() {
        var sector = [UInt8](repeating: 0, count: 1 << 16)
        var qFactor = [Double](repeating: 0, count: 1 << 16)
        var tFactor = [Double](repeating: 0, count: 1 << 16)
        var p = [UInt8](repeating: 0, count: 1 << 16)
        for h in 0..<256 {
            let (i, f) = Self.sectorAndFraction(UInt8(h))
            for s in 0..<256 {
                let fs = Self.saturation(UInt8(s))
                sector[h << 8 | s] = UInt8(i % 6)
                qFactor[h << 8 | s] = 1.0 - fs * f
                tFactor[h << 8 | s] = 1.0 - fs * (1.0 - f)
            }
        }
        for s in 0..<256 {
            let fs = Self.saturation(UInt8(s))
            for v in 0..<256 { p[s << 8 | v] = roundHalfAwayFromZero(Double(v) * (1.0 - fs)) }
        }
        (self.sector, self.qFactor, self.tFactor, self.p) = (sector, qFactor, tFactor, p)
    }

    /// The tables' storage, valid inside ``withPointers(_:)``.
    struct Pointers {
        let sector: UnsafePointer<UInt8>
        let qFactor: UnsafePointer<Double>
        let tFactor: UnsafePointer<Double>
        let p: UnsafePointer<UInt8>
    }

    func withPointers<R>(_ body: (Pointers) -> R) -> R {
        sector.withUnsafeBufferPointer { a in
            qFactor.withUnsafeBufferPointer { b in
                tFactor.withUnsafeBufferPointer { c in
                    p.withUnsafeBufferPointer { d in
                        body(Pointers(sector: a.baseAddress!, qFactor: b.baseAddress!, tFactor: c.baseAddress!, p: d.baseAddress!))
                    }
                }
            }
        }
    }
}

/// Gives tests the quotient table behind ``RGBImage/adjustedHue(_:)``.
func hsvQuotientsForTesting(_ body: (UnsafeBufferPointer<Float>) -> Void) {
    hsvQuotients.withUnsafeBufferPointer(body)
}
