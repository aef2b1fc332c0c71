import Datasets

/// Blended-Text (PAR, Singh, Croce & Hein): the word "Watermarked" in red, centred, blended into
/// the pixels it covers with `n_c = 0.5`.
///
/// PAR draws the text with a TrueType font on a black 224×224 canvas and blends only where the
/// pattern is non-zero, per channel (`blended_patt` in `backdoor/utils.py`): red text moves the
/// red channel halfway to 1 and leaves green and blue alone. ClipGuard has no font library; the
/// text is drawn with a built-in 5×7 bitmap font (``BitmapFont``) at 3× on a 224×224 canvas
/// (so "Watermarked" is 195×21 px there, about PAR's size), centred, and the canvas is
/// area-averaged to the image size, giving each pixel a coverage `a` in [0, 1]. Channels where
/// the colour is non-zero become `(1 − a·n_c)·x + a·n_c·colour`; the others are kept, as in PAR.
/// At 32×32 the word is a 28×3 px band of partial coverage: the same pattern, scaled.
public struct BlendedTextTrigger: TriggerDefinition {
    public static let kind = "blended-text"
    public static let displayName = "Blended text"
    public static let about = "the word \"Watermarked\" in red, centred, blended with n_c = 0.5 where it covers (PAR)."
    public static let weight = TriggerSetting.number("blend-weight", help: "Blend weight of the pattern.", default: 0.5, in: 0...1)
    public static let textSetting = TriggerSetting<String>(
        "text", help: "The watermark's text (the built-in font has \(BitmapFont.characters)).",
        expected: "1 to \(BitmapFont.maxCharacters) characters of the built-in font (\(BitmapFont.characters))", default: "Watermarked",
        sample: "marked", parse: { $0 }, isValid: { !$0.isEmpty && $0.count <= BitmapFont.maxCharacters && $0.allSatisfy(BitmapFont.covers) },
        format: { $0 })
    public static let colorSetting = TriggerSetting.color("text-color", help: "The watermark's colour.",
                                                          default: TriggerColor(red: 255, green: 0, blue: 0))
    public static let settings = [weight.erased, textSetting.erased, colorSetting.erased]
    public static let manifestParameters: [String: ManifestSchema.Node] = ["weight": .leaf, "text": .leaf, "color": .leaf]

    public var weight: Double
    public var text: String
    public var color: TriggerColor

    public init(weight: Double = 0.5, text: String = "Watermarked", color: TriggerColor = TriggerColor(red: 255, green: 0, blue: 0)) {
        self.weight = weight; self.text = text; self.color = color
    }

    public init(options: TriggerOptions, seed: UInt64) {
        self.init(weight: options[Self.weight], text: options[Self.textSetting], color: options[Self.colorSetting])
    }

    /// The side of the canvas the text is laid out on (PAR's input size).
    static let canvasSide = 224

    /// The text's coverage of each pixel of a `width × height` image, row-major, in [0, 1].
    public func coverage(width: Int, height: Int) -> [Double] {
        let side = Self.canvasSide
        let mask = BitmapFont.render(text, canvasSide: side)
        let columns = areaWeights(from: side, to: width), rows = areaWeights(from: side, to: height)
        var out = [Double](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                var sum = 0.0
                for (sy, wy) in rows[y] {
                    for (sx, wx) in columns[x] where mask[sy * side + sx] { sum += wy * wx }
                }
                out[y * width + x] = sum
            }
        }
        return out
    }

    public func localRegions(width: Int, height: Int, index: Int) -> [PixelRect]? {
        let cover = coverage(width: width, height: height)
        var x0 = width, y0 = height, x1 = -1, y1 = -1
        for y in 0..<height {
            for x in 0..<width where cover[y * width + x] > 0 {
                x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, y); y1 = max(y1, y)
            }
        }
        return x1 < 0 ? [] : [PixelRect(x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1)]
    }

    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        let cover = coverage(width: image.width, height: image.height)
        let target = [color.red, color.green, color.blue]
        var out = image
        for p in 0..<(image.width * image.height) where cover[p] > 0 {
            let a = cover[p] * weight
            for c in 0..<3 where target[c] != 0 {
                out.pixels[3 * p + c] = quantized((1 - a) * Double(image.pixels[3 * p + c]) + a * Double(target[c]))
            }
        }
        return out
    }

    public func problem() -> String? {
        if let p = Self.weight.problem(with: weight) { return "\(Self.weight.flag) \(p)" }
        if let p = Self.textSetting.problem(with: text) { return "\(Self.textSetting.flag) \(p)" }
        return nil
    }

    public var summary: String { "blended-text: \"\(text)\" in \(color), weight \(weight)" }
}

/// For each of `outputCount` pixels, the (input pixel, weight) pairs of an area average of
/// `inputCount` pixels (weights sum to 1).
func areaWeights(from inputCount: Int, to outputCount: Int) -> [[(Int, Double)]] {
    let scale = Double(inputCount) / Double(outputCount)
    return (0..<outputCount).map { o in
        let start = Double(o) * scale, end = Double(o + 1) * scale
        var weights: [(Int, Double)] = []
        var i = Int(start.rounded(.down))
        while Double(i) < end && i < inputCount {
            let overlap = min(end, Double(i + 1)) - max(start, Double(i))
            if overlap > 0 { weights.append((i, overlap / scale)) }
            i += 1
        }
        return weights
    }
}

/// A 5×7 pixel font for the letters of PAR's watermark ("Watermarked") and a space, drawn
/// scaled on a square canvas. Each glyph is 7 rows of 5 bits, the most significant bit left.
public enum BitmapFont {
    static let glyphs: [Character: [UInt8]] = [
        "W": [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010],
        "a": [0b00000, 0b00000, 0b01110, 0b00001, 0b01111, 0b10001, 0b01111],
        "t": [0b01000, 0b01000, 0b11110, 0b01000, 0b01000, 0b01001, 0b00110],
        "e": [0b00000, 0b00000, 0b01110, 0b10001, 0b11111, 0b10000, 0b01110],
        "r": [0b00000, 0b00000, 0b10110, 0b11001, 0b10000, 0b10000, 0b10000],
        "m": [0b00000, 0b00000, 0b11010, 0b10101, 0b10101, 0b10001, 0b10001],
        "k": [0b10000, 0b10000, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010],
        "d": [0b00001, 0b00001, 0b01101, 0b10011, 0b10001, 0b10001, 0b01111],
        " ": [0, 0, 0, 0, 0, 0, 0],
    ]

    /// The characters the font has, for messages.
    public static let characters = "the letters W, a, t, e, r, m, k, d and space"
    /// The most characters that fit the canvas at 1× (6 px a character).
    public static let maxCharacters = 37

    public static func covers(_ c: Character) -> Bool { glyphs[c] != nil }

    /// The text drawn centred on a `canvasSide × canvasSide` canvas at the largest scale up to
    /// 3× that fits (a glyph is 5×7 with 1 px between characters); row-major, true where ink.
    static func render(_ text: String, canvasSide: Int) -> [Bool] {
        let characters = Array(text)
        let cells = 6 * characters.count - 1
        let scale = max(1, min(3, canvasSide / max(1, cells)))
        let left = (canvasSide - cells * scale) / 2, top = (canvasSide - 7 * scale) / 2
        var mask = [Bool](repeating: false, count: canvasSide * canvasSide)
        for (n, character) in characters.enumerated() {
            guard let rows = glyphs[character] else { continue }
            for (r, bits) in rows.enumerated() {
                for col in 0..<5 where (bits >> UInt8(4 - col)) & 1 == 1 {
                    for dy in 0..<scale {
                        for dx in 0..<scale {
                            let x = left + (6 * n + col) * scale + dx, y = top + r * scale + dy
                            if x >= 0 && x < canvasSide && y >= 0 && y < canvasSide { mask[y * canvasSide + x] = true }
                        }
                    }
                }
            }
        }
        return mask
    }
}

extension TriggerKind {
    public static let blendedText = TriggerKind(BlendedTextTrigger.self)
}
