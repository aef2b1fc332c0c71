import Foundation

/// The caption cleaning that CLIP's tokenizer applies before byte-pair encoding.
///
/// Port of `basic_clean`, `whitespace_clean` and the `.lower()` step of
/// open_clip/src/open_clip/tokenizer.py (and OpenAI's `simple_tokenizer.py`):
///
/// 1. `ftfy.fix_text` with its default configuration, per line;
/// 2. `html.unescape` twice;
/// 3. strip, collapse runs of white space to one space;
/// 4. Python's `str.lower()` (full case mapping, with the final-sigma rule).
///
/// ## What of ftfy 6.3 is reproduced
/// Every step of `fix_text`'s default configuration, in ftfy's order and with its
/// repeat-until-unchanged loop, line by line: ftfy's own entity decoding (only `&name;` entities
/// that end in a semicolon, plus ftfy's all-caps ones such as `&EACUTE;`, switched off for the
/// rest of the text once a line contains `<`); `fix_encoding` (mojibake repair: ftfy's badness
/// heuristic, re-decoding through its ten single-byte encodings including the "sloppy" ones,
/// byte-A0 restoration, lossy sequences, CESU-8/Java-null "utf-8-variants", inconsistent UTF-8
/// and the Latin-1/C1 fallbacks, see `TextCleaning+Mojibake.swift`); C1 controls read as
/// Windows-1252; Latin ligatures; halfwidth/fullwidth forms; curly quotes; line breaks; ANSI
/// terminal escapes; control characters; NFC.
///
/// Not reproduced, or reproduced only up to Unicode versions: `fix_surrogates` has nothing to do
/// (a Swift `String` cannot hold lone surrogates, so such input never reaches us); NFC and the
/// case-ignorable/cased properties used by the final-sigma rule come from Swift/Foundation's
/// Unicode data rather than Python 3.11's (Unicode 14), so characters assigned after Unicode 14
/// could differ. Letter/number/space classes, `str.lower()`, HTML entities and ftfy's tables are
/// generated from the reference stack itself (`TokenizerTables.swift`).
///
/// The corpus (Tests/Fixtures/tokenizer/corpus.jsonl, 6,004 strings, ~700 of them mojibake that
/// ftfy repairs) pins all of this against open_clip's tokenizer.
enum TextCleaning {
    /// Which reference's whitespace rule to follow.
    enum WhitespaceRule {
        /// open_clip: `" ".join(text.split())` (Python `str.isspace`).
        case pythonSplit
        /// OpenAI: `re.sub(r'\s+', ' ', text).strip()` with the `regex` module's `\s`.
        case regexSpace
    }

    /// The full cleaning pipeline: ftfy fix_text, HTML unescape ×2, white space, lower case.
    static func clean(_ text: String, whitespace: WhitespaceRule) -> [Unicode.Scalar] {
        var s = Array(text.unicodeScalars)
        s = fixText(s)
        s = htmlUnescape(htmlUnescape(s))
        s = collapseWhitespace(s, rule: whitespace)
        return pythonLower(s)
    }

    // MARK: ftfy

    /// `ftfy.fix_text` with the default configuration.
    static func fixText(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if text.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F && $0 != "&" }) { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var unescape = true
        var start = 0
        while start < text.count {
            var end = start
            while end < text.count && text[end] != "\n" { end += 1 }
            if end < text.count { end += 1 }  // the segment keeps its "\n"
            var segment = Array(text[start..<end])
            if unescape && segment.contains("<") { unescape = false }
            while true {
                let before = segment
                segment = fixSegmentOnce(segment, unescapeHTML: unescape)
                if segment == before { break }
            }
            out.append(contentsOf: segment)
            start = end
        }
        return out
    }

    private static func fixSegmentOnce(_ input: [Unicode.Scalar], unescapeHTML: Bool) -> [Unicode.Scalar] {
        var s = unescapeHTML ? ftfyUnescapeHTML(input) : input
        s = fixEncoding(s)
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        // fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes: all are
        // one-scalar substitutions applied in sequence, so they compose per scalar.
        for c in s {
            if c.value < 0x80 {
                out.append(c)
                continue
            }
            var mapped = [c]
            if (0x80...0x9F).contains(c.value) { mapped = [windows1252(UInt8(c.value))] }
            mapped = mapped.flatMap { ligatures[$0.value].map { Array($0.unicodeScalars) } ?? [$0] }
            mapped = mapped.flatMap { TokenizerCharacterData.shared.width[$0.value] ?? [$0] }
            for m in mapped {
                switch m.value {
                case 0x02BC, 0x2018...0x201B: out.append("'")
                case 0x201C...0x201F: out.append("\"")
                default: out.append(m)
                }
            }
        }
        s = out
        // fix_line_breaks
        out.removeAll(keepingCapacity: true)
        var i = 0
        while i < s.count {
            let c = s[i]
            switch c.value {
            case 0x0D:
                out.append("\n")
                if i + 1 < s.count && s[i + 1] == "\n" { i += 1 }
            case 0x2028, 0x2029, 0x85: out.append("\n")
            default: out.append(c)
            }
            i += 1
        }
        s = out
        // remove_terminal_escapes: \x1b\[(?:\d|;)*[a-zA-Z]
        if s.contains("\u{1B}") {
            out.removeAll(keepingCapacity: true)
            i = 0
            while i < s.count {
                if s[i] == "\u{1B}" && i + 1 < s.count && s[i + 1] == "[" {
                    var j = i + 2
                    while j < s.count && (s[j] == ";" || s[j].properties.numericType == .decimal) { j += 1 }
                    if j < s.count && s[j].isASCII && s[j].properties.isAlphabetic {
                        i = j + 1
                        continue
                    }
                }
                out.append(s[i])
                i += 1
            }
            s = out
        }
        // remove_control_chars
        s.removeAll { isFtfyControl($0.value) }
        return nfc(s)
    }

    private static func isFtfyControl(_ v: UInt32) -> Bool {
        switch v {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: return true
        default: return false
        }
    }

    /// ftfy's `unescape_html`: `&#?[0-9A-Za-z]{1,24};` replaced when it names a known entity.
    static func ftfyUnescapeHTML(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("&") else { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            guard s[i] == "&" else {
                out.append(s[i])
                i += 1
                continue
            }
            var j = i + 1
            let numeric = j < s.count && s[j] == "#"
            if numeric { j += 1 }
            let bodyStart = j
            while j < s.count && j - bodyStart < 25 && isASCIIAlnum(s[j]) { j += 1 }
            let bodyLength = j - bodyStart
            guard bodyLength >= 1 && bodyLength <= 24 && j < s.count && s[j] == ";" else {
                out.append(s[i])
                i += 1
                continue
            }
            let match = Array(s[i...j])  // "&...;"
            if !numeric, let value = TokenizerCharacterData.shared.ftfyEntities[String(String.UnicodeScalarView(match[1...]))] {
                out.append(contentsOf: value)
            } else if numeric, let value = numericCharref(Array(s[bodyStart..<j])), !value.contains(";") {
                out.append(contentsOf: value)
            } else {
                out.append(contentsOf: match)
            }
            i = j + 1
        }
        return out
    }

    private static func isASCIIAlnum(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return false
        }
    }

    private static func isHexDigit(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x30...0x39, 0x41...0x46, 0x61...0x66: return true
        default: return false
        }
    }

    /// Decodes the body of `&#…;` as `html.unescape` would when the whole body is one number
    /// (`123` or `x7B`); nil when it is not.
    private static func numericCharref(_ body: [Unicode.Scalar]) -> [Unicode.Scalar]? {
        guard let first = body.first else { return nil }
        if first == "x" || first == "X" {
            let digits = body.dropFirst()
            guard !digits.isEmpty, digits.allSatisfy(isHexDigit) else { return nil }
            return charrefValue(parse(digits, radix: 16))
        }
        guard body.allSatisfy({ $0.value >= 0x30 && $0.value <= 0x39 }) else { return nil }
        return charrefValue(parse(body[...], radix: 10))
    }

    /// Parses digits, saturating at a value above U+10FFFF.
    private static func parse(_ digits: ArraySlice<Unicode.Scalar>, radix: UInt64) -> UInt64 {
        var n: UInt64 = 0
        for d in digits {
            let v = UInt64(Character(d).hexDigitValue ?? 0)
            n = min(n * radix + v, 0xFFFF_FFFF)
        }
        return n
    }

    /// Python `html._replace_charref` for a numeric reference.
    private static func charrefValue(_ n: UInt64) -> [Unicode.Scalar] {
        if n <= UInt64(UInt32.max), let s = TokenizerTables.invalidCharrefs[UInt32(n)] { return [s] }
        if (0xD800...0xDFFF).contains(n) || n > 0x10FFFF { return ["\u{FFFD}"] }
        if TokenizerTables.invalidCodepoints.contains(UInt32(n)) { return [] }
        return [Unicode.Scalar(UInt32(n))!]
    }

    /// Windows-1252 as ftfy's "sloppy" codec reads it: undefined bytes stay as Latin-1.
    static func windows1252(_ b: UInt8) -> Unicode.Scalar {
        let high: [UInt32] = [
            0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
            0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
            0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
        ]
        if b >= 0x80 && b <= 0x9F { return Unicode.Scalar(high[Int(b) - 0x80])! }
        return Unicode.Scalar(b)
    }

    private static let ligatures: [UInt32: String] = [
        0x0132: "IJ", 0x0133: "ij", 0x0149: "\u{02BC}n", 0x01F1: "DZ", 0x01F2: "Dz", 0x01F3: "dz",
        0x01C4: "D\u{017D}", 0x01C5: "D\u{017E}", 0x01C6: "d\u{017E}", 0x01C7: "LJ", 0x01C8: "Lj",
        0x01C9: "lj", 0x01CA: "NJ", 0x01CB: "Nj", 0x01CC: "nj", 0xFB00: "ff", 0xFB01: "fi",
        0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "\u{017F}t", 0xFB06: "st",
    ]

    /// Unicode canonical composition (NFC). Text below U+0300 is already in NFC.
    ///
    /// Foundation's composition misses one case that Python's `unicodedata` handles: a
    /// precomposed Hangul LV syllable followed by a trailing consonant (U+AC54 U+11AC → U+AC59),
    /// so that composition is finished here.
    static func nfc(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains(where: { $0.value >= 0x300 }) else { return s }
        let string = String(String.UnicodeScalarView(s))
        let composed = Array(string.precomposedStringWithCanonicalMapping.unicodeScalars)
        guard composed.contains(where: { (0x11A8...0x11C2).contains($0.value) }) else { return composed }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(composed.count)
        for c in composed {
            if (0x11A8...0x11C2).contains(c.value), let last = out.last,
                (0xAC00...0xD7A3).contains(last.value), (last.value - 0xAC00) % 28 == 0
            {
                out[out.count - 1] = Unicode.Scalar(last.value + (c.value - 0x11A7))!
            } else {
                out.append(c)
            }
        }
        return out
    }

    // MARK: html.unescape

    /// Python's `html.unescape`.
    static func htmlUnescape(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("&") else { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            guard s[i] == "&", i + 1 < s.count else {
                out.append(s[i])
                i += 1
                continue
            }
            var j = i + 1
            if s[j] == "#" {
                // #[0-9]+;?  |  #[xX][0-9a-fA-F]+;?
                j += 1
                var radix: UInt64 = 10
                if j < s.count && (s[j] == "x" || s[j] == "X") {
                    radix = 16
                    j += 1
                }
                let digitsStart = j
                while j < s.count && (radix == 16 ? isHexDigit(s[j]) : (s[j].value >= 0x30 && s[j].value <= 0x39)) {
                    j += 1
                }
                guard j > digitsStart else {
                    out.append(s[i])
                    i += 1
                    continue
                }
                out.append(contentsOf: charrefValue(parse(s[digitsStart..<j], radix: radix)))
                if j < s.count && s[j] == ";" { j += 1 }
                i = j
                continue
            }
            // [^\t\n\f <&#;]{1,32};?
            while j < s.count && j - (i + 1) < 32 && !isNameStop(s[j]) { j += 1 }
            guard j > i + 1 else {
                out.append(s[i])
                i += 1
                continue
            }
            if j < s.count && s[j] == ";" { j += 1 }
            let name = Array(s[(i + 1)..<j])
            out.append(contentsOf: namedCharref(name))
            i = j
        }
        return out
    }

    private static func isNameStop(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "\t", "\n", "\u{0C}", " ", "<", "&", "#", ";": return true
        default: return false
        }
    }

    private static func namedCharref(_ name: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let html5 = TokenizerCharacterData.shared.html5
        if let v = html5[String(String.UnicodeScalarView(name))] { return v }
        var x = name.count - 1
        while x > 1 {
            if let v = html5[String(String.UnicodeScalarView(name[..<x]))] { return v + name[x...] }
            x -= 1
        }
        return ["&"] + name
    }

    // MARK: white space and case

    /// Strip, collapse runs of white space to one space, strip (both references' order).
    static func collapseWhitespace(_ s: [Unicode.Scalar], rule: WhitespaceRule) -> [Unicode.Scalar] {
        let classes = TokenizerCharacterData.shared
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var lo = 0, hi = s.count
        while lo < hi && classes.isPythonSpace(s[lo]) { lo += 1 }
        while hi > lo && classes.isPythonSpace(s[hi - 1]) { hi -= 1 }
        var inRun = false
        for c in s[lo..<hi] {
            let space = rule == .pythonSplit ? classes.isPythonSpace(c) : classes.isRegexSpace(c)
            if space {
                if !inRun { out.append(" ") }
                inRun = true
            } else {
                out.append(c)
                inRun = false
            }
        }
        // After a regex-`\s` collapse the ends may again hold Python-only spaces (or a space).
        while let last = out.last, classes.isPythonSpace(last) { out.removeLast() }
        var first = 0
        while first < out.count && classes.isPythonSpace(out[first]) { first += 1 }
        return first == 0 ? out : Array(out[first...])
    }

    /// Python 3's `str.lower()`: full lower-case mapping, with capital sigma becoming final
    /// sigma (ς) at the end of a word.
    static func pythonLower(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let lower = TokenizerCharacterData.shared.lowercase
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        for (i, c) in s.enumerated() {
            if c.value < 0x80 {
                out.append(c.value >= 0x41 && c.value <= 0x5A ? Unicode.Scalar(c.value + 32)! : c)
            } else if c.value == 0x3A3 {
                out.append(isFinalSigma(s, at: i) ? "\u{3C2}" : "\u{3C3}")
            } else if let m = lower[c.value] {
                out.append(contentsOf: m)
            } else {
                out.append(c)
            }
        }
        return out
    }

    private static func isFinalSigma(_ s: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && s[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && s[j].properties.isCased else { return false }
        j = i + 1
        while j < s.count && s[j].properties.isCaseIgnorable { j += 1 }
        return j == s.count || !s[j].properties.isCased
    }
}

/// Lookup structures built once from `TokenizerTables`.
final class TokenizerCharacterData: Sendable {
    static let shared = TokenizerCharacterData()

    /// Pre-tokenizer class of each code point (`TokenizerCharacterData.letter`, …), plus `pythonSpaceBit`.
    let classes: [UInt8]
    let lowercase: [UInt32: [Unicode.Scalar]]
    let width: [UInt32: [Unicode.Scalar]]
    let html5: [String: [Unicode.Scalar]]
    /// ftfy's `HTML_ENTITIES`, keyed without the leading `&` (`"eacute;"`, `"EACUTE;"`).
    let ftfyEntities: [String: [Unicode.Scalar]]

    static let other: UInt8 = 0, letter: UInt8 = 1, number: UInt8 = 2, regexSpace: UInt8 = 3, unmatched: UInt8 = 4
    static let classMask: UInt8 = 0x0F, pythonSpaceBit: UInt8 = 0x10

    private init() {
        var classes = [UInt8](repeating: TokenizerCharacterData.other, count: 0x110000)
        func fill(_ ranges: [UInt32], _ value: UInt8, or: Bool = false) {
            for k in stride(from: 0, to: ranges.count, by: 2) {
                for cp in Int(ranges[k])...Int(ranges[k + 1]) {
                    classes[cp] = or ? classes[cp] | value : value
                }
            }
        }
        fill(TokenizerTables.letterRanges, TokenizerCharacterData.letter)
        fill(TokenizerTables.numberRanges, TokenizerCharacterData.number)
        fill(TokenizerTables.regexSpaceRanges, TokenizerCharacterData.regexSpace)
        fill(TokenizerTables.unmatchedRanges, TokenizerCharacterData.unmatched)
        fill(TokenizerTables.pythonSpaceRanges, TokenizerCharacterData.pythonSpaceBit, or: true)
        self.classes = classes
        func pairs(_ table: String) -> [(String, [Unicode.Scalar])] {
            table.split(separator: "\u{1E}", omittingEmptySubsequences: true).map { entry in
                let parts = entry.split(separator: "\u{1F}", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), Array(parts[1].unicodeScalars))
            }
        }
        lowercase = Dictionary(uniqueKeysWithValues: pairs(TokenizerTables.lowercase).map { (UInt32($0.0, radix: 16)!, $0.1) })
        width = Dictionary(uniqueKeysWithValues: pairs(TokenizerTables.width).map { (UInt32($0.0, radix: 16)!, $0.1) })
        let html5 = Dictionary(uniqueKeysWithValues: pairs(TokenizerTables.html5))
        self.html5 = html5
        var ftfy = html5.filter { $0.key.hasSuffix(";") }
        for (k, v) in pairs(TokenizerTables.upperEntities) { ftfy[k] = v }
        ftfyEntities = ftfy
    }

    @inline(__always) func pretokenClass(_ c: Unicode.Scalar) -> UInt8 { classes[Int(c.value)] & TokenizerCharacterData.classMask }
    @inline(__always) func isPythonSpace(_ c: Unicode.Scalar) -> Bool { classes[Int(c.value)] & TokenizerCharacterData.pythonSpaceBit != 0 }
    @inline(__always) func isRegexSpace(_ c: Unicode.Scalar) -> Bool { pretokenClass(c) == TokenizerCharacterData.regexSpace }
}
