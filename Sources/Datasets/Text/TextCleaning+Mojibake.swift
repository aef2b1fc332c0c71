// Port of ftfy 6.3 `fix_encoding` (ftfy/__init__.py `_fix_encoding_one_step_and_explain`,
// ftfy/fixes.py `restore_byte_a0`, `replace_lossy_sequences`, `decode_inconsistent_utf8`,
// ftfy/bad_codecs/utf8_variants.py), with ftfy's heuristic tables generated into
// TokenizerTables.swift by Scripts/make_tokenizer_fixtures.py.

extension TextCleaning {
    /// `ftfy.fix_encoding`: repairs mojibake (UTF-8 read as a single-byte encoding) until stable.
    static func fixEncoding(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var current = text
        while true {
            let next = fixEncodingOneStep(current)
            if next == current { return current }
            current = next
        }
    }

    private static func fixEncodingOneStep(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let data = MojibakeData.shared
        if text.isEmpty || text.allSatisfy({ $0.value < 0x80 }) || !data.isBad(text[...]) { return text }
        var latin1Possible = false
        for encoding in data.encodings {
            guard var bytes = encoding.encode(text) else { continue }
            if encoding.name == "latin-1" { latin1Possible = true }
            if encoding.name != "macroman" && BytePatterns.alteredUTF8.firstMatch(in: bytes) != nil {
                bytes = restoreByteA0(bytes)
            }
            if encoding.name.hasPrefix("sloppy") {
                bytes = BytePatterns.lossyUTF8.replaceAll(in: bytes, with: [0xEF, 0xBF, 0xBD])
            }
            let variants = bytes.contains(0xED) || bytes.contains(0xC0)
            if let fixed = decodeUTF8(bytes, variants: variants) { return fixed }
        }
        if text.indices.contains(where: { data.utf8DetectorMatch(text, from: $0) != nil }) {
            let fixed = decodeInconsistentUTF8(text)
            if fixed != text { return fixed }
        }
        if latin1Possible {
            // ftfy checks for "windows-1252" among the possible encodings, but its list holds only
            // "sloppy-windows-1252", so it always tries Latin-1 → strict Windows-1252 here.
            if let fixed = latin1AsStrictWindows1252(text), fixed != text { return fixed }
        }
        if text.contains(where: { (0x80...0x9F).contains($0.value) }) {
            return text.map { (0x80...0x9F).contains($0.value) ? windows1252(UInt8($0.value)) : $0 }
        }
        return text
    }

    /// ftfy's `restore_byte_a0`: puts back byte A0 where a space broke a UTF-8 sequence.
    private static func restoreByteA0(_ input: [UInt8]) -> [UInt8] {
        // A_GRAVE_WORD_RE = b"\xc3 (?! |quele|quela|quilo|s )" → b"\xc3\xa0 "
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.count + 4)
        var i = 0
        let exceptions: [[UInt8]] = [[0x20], Array("quele".utf8), Array("quela".utf8), Array("quilo".utf8), Array("s ".utf8)]
        while i < input.count {
            if input[i] == 0xC3 && i + 1 < input.count && input[i + 1] == 0x20 {
                let rest = input[(i + 2)...]
                if !exceptions.contains(where: { rest.starts(with: $0) }) {
                    bytes.append(contentsOf: [0xC3, 0xA0, 0x20])
                    i += 2
                    continue
                }
            }
            bytes.append(input[i])
            i += 1
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var start = 0
        while let (lo, hi) = BytePatterns.alteredUTF8.firstMatch(in: bytes, from: start) {
            out.append(contentsOf: bytes[start..<lo])
            out.append(contentsOf: bytes[lo..<hi].map { $0 == 0x20 ? 0xA0 : $0 })
            start = hi
        }
        out.append(contentsOf: bytes[start...])
        return out
    }

    /// Strict UTF-8 (Python's decoder); with `variants`, also ftfy's "utf-8-variants": CESU-8
    /// surrogate pairs and Java's `C0 80` for U+0000. Nil where Python raises.
    static func decodeUTF8(_ b: [UInt8], variants: Bool) -> [Unicode.Scalar]? {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(b.count)
        var i = 0
        func cont(_ k: Int) -> UInt32? {
            guard k < b.count, b[k] & 0xC0 == 0x80 else { return nil }
            return UInt32(b[k] & 0x3F)
        }
        while i < b.count {
            let c = b[i]
            if c < 0x80 {
                out.append(Unicode.Scalar(c))
                i += 1
                continue
            }
            if variants && c == 0xC0 && i + 1 < b.count && b[i + 1] == 0x80 {
                out.append("\u{0}")
                i += 2
                continue
            }
            if variants && c == 0xED && i + 5 < b.count && (0xA0...0xAF).contains(b[i + 1]) && b[i + 2] & 0xC0 == 0x80
                && b[i + 3] == 0xED && (0xB0...0xBF).contains(b[i + 4]) && b[i + 5] & 0xC0 == 0x80
            {
                let high = 0xD000 | UInt32(b[i + 1] & 0x3F) << 6 | UInt32(b[i + 2] & 0x3F)
                let low = 0xD000 | UInt32(b[i + 4] & 0x3F) << 6 | UInt32(b[i + 5] & 0x3F)
                out.append(Unicode.Scalar(0x10000 + (high - 0xD800) * 0x400 + (low - 0xDC00))!)
                i += 6
                continue
            }
            switch c {
            case 0xC2...0xDF:
                guard let c1 = cont(i + 1) else { return nil }
                out.append(Unicode.Scalar(UInt32(c & 0x1F) << 6 | c1)!)
                i += 2
            case 0xE0...0xEF:
                guard let c1 = cont(i + 1), let c2 = cont(i + 2) else { return nil }
                let v = UInt32(c & 0x0F) << 12 | c1 << 6 | c2
                guard v >= 0x800, !(0xD800...0xDFFF).contains(v) else { return nil }
                out.append(Unicode.Scalar(v)!)
                i += 3
            case 0xF0...0xF4:
                guard let c1 = cont(i + 1), let c2 = cont(i + 2), let c3 = cont(i + 3) else { return nil }
                let v = UInt32(c & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
                guard v >= 0x10000, v <= 0x10FFFF else { return nil }
                out.append(Unicode.Scalar(v)!)
                i += 4
            default:
                return nil
            }
        }
        return out
    }

    /// ftfy's `decode_inconsistent_utf8`: fixes runs that look like UTF-8 mojibake in isolation.
    private static func decodeInconsistentUTF8(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let data = MojibakeData.shared
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < text.count {
            if let end = data.utf8DetectorMatch(text, from: i) {
                let piece = Array(text[i..<end])
                if piece.count < text.count && data.isBad(piece[...]) {
                    out.append(contentsOf: fixEncoding(piece))
                } else {
                    out.append(contentsOf: piece)
                }
                i = end
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }

    private static func latin1AsStrictWindows1252(_ text: [Unicode.Scalar]) -> [Unicode.Scalar]? {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for c in text {
            guard c.value <= 0xFF else { return nil }
            switch c.value {
            case 0x81, 0x8D, 0x8F, 0x90, 0x9D: return nil  // undefined in strict Windows-1252
            case 0x80...0x9F: out.append(windows1252(UInt8(c.value)))
            default: out.append(c)
            }
        }
        return out
    }
}

/// A leftmost-first alternation of fixed-length byte patterns (for ftfy's byte regexes).
struct BytePattern: Sendable {
    /// Each alternative is a sequence of byte sets, each set a 256-entry membership table.
    let alternatives: [[[Bool]]]

    init(_ alternatives: [[[ClosedRange<UInt8>]]]) {
        self.alternatives = alternatives.map { alt in
            alt.map { ranges in (0...255).map { b in ranges.contains { $0.contains(UInt8(b)) } } }
        }
    }

    /// The first match at or after `from`: (start, end).
    func firstMatch(in bytes: [UInt8], from: Int = 0) -> (Int, Int)? {
        var p = from
        while p < bytes.count {
            if let n = matchLength(bytes, at: p) { return (p, p + n) }
            p += 1
        }
        return nil
    }

    private func matchLength(_ bytes: [UInt8], at p: Int) -> Int? {
        for alt in alternatives where p + alt.count <= bytes.count {
            var ok = true
            for (k, set) in alt.enumerated() where !set[Int(bytes[p + k])] {
                ok = false
                break
            }
            if ok { return alt.count }
        }
        return nil
    }

    /// `re.sub(pattern, replacement, bytes)`.
    func replaceAll(in bytes: [UInt8], with replacement: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        while let (lo, hi) = firstMatch(in: bytes, from: start) {
            out.append(contentsOf: bytes[start..<lo])
            out.append(contentsOf: replacement)
            start = hi
        }
        out.append(contentsOf: bytes[start...])
        return out
    }
}

enum BytePatterns {
    private static let cont: [ClosedRange<UInt8>] = [0x80...0x84, 0x86...0x9F, 0xA1...0xBF]
    private static let any80: [ClosedRange<UInt8>] = [0x80...0xBF]
    private static let space: [ClosedRange<UInt8>] = [0x20...0x20]

    /// ftfy's `ALTERED_UTF8_RE`.
    static let alteredUTF8 = BytePattern([
        [[0xC2...0xC3, 0xC5...0xC5, 0xCE...0xCE, 0xD0...0xD0, 0xD9...0xD9], space],
        [[0xE2...0xE3], space, cont],
        [[0xE0...0xE3], cont, space],
        [[0xF0...0xF0], space, any80, any80],
        [[0xF0...0xF0], any80, space, any80],
        [[0xF0...0xF0], any80, any80, space],
    ])

    /// ftfy's `LOSSY_UTF8_RE`.
    static let lossyUTF8: BytePattern = {
        let sub: [ClosedRange<UInt8>] = [0x1A...0x1A]
        let subQ: [ClosedRange<UInt8>] = [0x1A...0x1A, 0x3F...0x3F]
        let subC: [ClosedRange<UInt8>] = [0x1A...0x1A, 0x80...0xBF]
        let subQC: [ClosedRange<UInt8>] = [0x1A...0x1A, 0x3F...0x3F, 0x80...0xBF]
        let ed: [ClosedRange<UInt8>] = [0xED...0xED]
        return BytePattern([
            [[0xC2...0xDF], sub],
            [[0xC2...0xC3], [0x3F...0x3F]],
            [ed, [0xA0...0xAF], subQ, ed, [0xB0...0xBF], subQC],
            [ed, [0xA0...0xAF], subQC, ed, [0xB0...0xBF], subQ],
            [[0xE0...0xEF], subQ, subC],
            [[0xE0...0xEF], subC, subQ],
            [[0xF0...0xF4], subQ, subC, subC],
            [[0xF0...0xF4], subC, subQ, subC],
            [[0xF0...0xF4], subC, subC, subQ],
            [sub],
        ])
    }()
}

/// ftfy's mojibake heuristic (`BADNESS_RE`), detectors and single-byte encodings, from
/// `TokenizerTables`.
final class MojibakeData: Sendable {
    static let shared = MojibakeData()

    struct CharSet: Sendable {
        let ranges: [ClosedRange<UInt32>]
        let negated: Bool

        init(_ text: Substring, negated: Bool = false) {
            ranges = text.split(separator: ",").map { r in
                let ends = r.split(separator: "-")
                return UInt32(ends[0], radix: 16)!...UInt32(ends[1], radix: 16)!
            }
            self.negated = negated
        }

        func contains(_ c: Unicode.Scalar) -> Bool {
            var found = false
            for r in ranges where r.contains(c.value) {
                found = true
                break
            }
            return found != negated
        }
    }

    struct Encoding: Sendable {
        let name: String
        let toByte: [UInt32: UInt8]

        /// `text.encode(name)` when `possible_encoding(text, name)`, else nil.
        func encode(_ text: [Unicode.Scalar]) -> [UInt8]? {
            var out: [UInt8] = []
            out.reserveCapacity(text.count)
            for c in text {
                guard let b = toByte[c.value] else { return nil }
                out.append(b)
            }
            return out
        }
    }

    static let smallLimit: UInt32 = 0x3000
    static let words = 2

    /// One atom of a badness alternative: a character set (by index), any character but a
    /// newline, or the start of the text; repeated `min...max` times.
    struct Atom: Sendable {
        static let set: UInt8 = 0, any: UInt8 = 1, start: UInt8 = 2
        let kind: UInt8
        let set: Int
        let min: Int
        let max: Int
    }

    /// All alternatives' atoms, back to back; alternative `a` is `atoms[altStart[a]..<altStart[a + 1]]`.
    let atoms: [Atom]
    let altStart: [Int]
    /// For each scalar below `smallLimit`, a bit per set: is it in the set's (non-negated) ranges.
    let smallMembership: [UInt64]
    /// Scalars one of which every badness match needs (below `smallLimit`, then larger ones);
    /// empty when there is no such prefilter.
    let witness: [Bool]
    let witnessLarge: [ClosedRange<UInt32>]
    let setNegated: [Bool]
    /// Set `i` is `rangeLow[k]...rangeHigh[k]` for `k` in `setRangeStart[i]..<setRangeStart[i + 1]`.
    let setRangeStart: [Int]
    let rangeLow: [UInt32]
    let rangeHigh: [UInt32]
    let encodings: [Encoding]
    let continuationStrict: CharSet, continuation: CharSet
    let firstOf2: CharSet, firstOf3: CharSet, firstOf4: CharSet

    private init() {
        var atoms: [Atom] = [], altStart: [Int] = []
        var negated: [Bool] = [], setRangeStart: [Int] = [], low: [UInt32] = [], high: [UInt32] = []
        for alt in TokenizerTables.badness.split(separator: "\n") {
            altStart.append(atoms.count)
            for atom in alt.split(separator: " ") {
                let kind = atom.first!
                if kind == "^" {
                    atoms.append(Atom(kind: Atom.start, set: -1, min: 1, max: 1))
                    continue
                }
                let close = atom.firstIndex(of: "}")!
                let bounds = atom[atom.index(after: atom.startIndex)...close].dropFirst().dropLast().split(separator: ",")
                let lo = Int(bounds[0])!, hi = Int(bounds[1])!
                if kind == "." {
                    atoms.append(Atom(kind: Atom.any, set: -1, min: lo, max: hi))
                    continue
                }
                let set = CharSet(atom[atom.index(after: close)...], negated: kind == "N")
                atoms.append(Atom(kind: Atom.set, set: negated.count, min: lo, max: hi))
                negated.append(set.negated)
                setRangeStart.append(low.count)
                for r in set.ranges {
                    low.append(r.lowerBound)
                    high.append(r.upperBound)
                }
            }
        }
        altStart.append(atoms.count)
        setRangeStart.append(low.count)
        precondition(negated.count <= 64 * MojibakeData.words, "too many badness sets")
        var membership = [UInt64](repeating: 0, count: Int(MojibakeData.smallLimit) * MojibakeData.words)
        for i in negated.indices {
            for k in setRangeStart[i]..<setRangeStart[i + 1] where low[k] < MojibakeData.smallLimit {
                for v in low[k]...min(high[k], MojibakeData.smallLimit - 1) {
                    membership[Int(v) * MojibakeData.words + i >> 6] |= 1 << UInt64(i & 63)
                }
            }
        }
        self.atoms = atoms
        self.altStart = altStart
        self.setNegated = negated
        self.setRangeStart = setRangeStart
        self.rangeLow = low
        self.rangeHigh = high
        self.smallMembership = membership
        // Prefilter: if every alternative needs some scalar from a non-ASCII set (its "witness"),
        // text without any witness scalar cannot match.
        var witness = [Bool](repeating: false, count: Int(MojibakeData.smallLimit))
        var witnessLarge: [ClosedRange<UInt32>] = []
        var everyAlternativeHasWitness = true
        for a in 0..<(altStart.count - 1) {
            let candidates = atoms[altStart[a]..<altStart[a + 1]].filter { atom in
                atom.kind == Atom.set && atom.min > 0 && !negated[atom.set]
                    && (setRangeStart[atom.set]..<setRangeStart[atom.set + 1]).allSatisfy { low[$0] >= 0x80 }
            }
            guard let w = candidates.first else {
                everyAlternativeHasWitness = false
                break
            }
            for k in setRangeStart[w.set]..<setRangeStart[w.set + 1] {
                if low[k] < MojibakeData.smallLimit {
                    for v in low[k]...min(high[k], MojibakeData.smallLimit - 1) { witness[Int(v)] = true }
                }
                if high[k] >= MojibakeData.smallLimit { witnessLarge.append(max(low[k], MojibakeData.smallLimit)...high[k]) }
            }
        }
        self.witness = everyAlternativeHasWitness ? witness : []
        self.witnessLarge = witnessLarge
        encodings = TokenizerTables.charmapEncodings.map { entry in
            let parts = entry.split(separator: "\u{1F}", maxSplits: 1)
            let table = Array(parts[1].unicodeScalars)
            var toByte: [UInt32: UInt8] = [:]
            // possible_encoding: ASCII except 0x1A, plus what bytes 0x80…0xFF and 0x1A decode to.
            for b in 0..<0x80 where b != 0x1A { toByte[UInt32(b)] = UInt8(b) }
            for b in [0x1A] + Array(0x80...0xFF) where toByte[table[b].value] == nil { toByte[table[b].value] = UInt8(b) }
            return Encoding(name: String(parts[0]), toByte: toByte)
        }
        continuationStrict = CharSet(Substring(TokenizerTables.utf8ContinuationStrict))
        continuation = CharSet(Substring(TokenizerTables.utf8Continuation))
        firstOf2 = CharSet(Substring(TokenizerTables.utf8FirstOf2))
        firstOf3 = CharSet(Substring(TokenizerTables.utf8FirstOf3))
        firstOf4 = CharSet(Substring(TokenizerTables.utf8FirstOf4))
    }

    @inline(__always) private func setContains(_ i: Int, _ v: UInt32) -> Bool {
        if v < MojibakeData.smallLimit {
            return (smallMembership[Int(v) * MojibakeData.words + i >> 6] >> UInt64(i & 63) & 1 == 1) != setNegated[i]
        }
        var found = false
        for k in setRangeStart[i]..<setRangeStart[i + 1] where rangeLow[k] <= v && v <= rangeHigh[k] {
            found = true
            break
        }
        return found != setNegated[i]
    }

    /// ftfy's `is_bad`: `BADNESS_RE.search(text)` is not None.
    func isBad(_ text: ArraySlice<Unicode.Scalar>) -> Bool {
        let s = text.map(\.value)
        if !witness.isEmpty
            && !s.contains(where: { v in
                v < MojibakeData.smallLimit ? witness[Int(v)] : witnessLarge.contains { $0.contains(v) }
            })
        {
            return false
        }
        for p in s.indices {
            for a in 0..<(altStart.count - 1) {
                let first = atoms[altStart[a]]
                // Cheap rejection on the first atom before the backtracking matcher.
                if first.kind == Atom.set && first.min > 0 && !setContains(first.set, s[p]) { continue }
                if matches(altStart[a], altStart[a + 1], s, p) { return true }
            }
        }
        return false
    }

    private func matches(_ a: Int, _ end: Int, _ s: [UInt32], _ p: Int) -> Bool {
        if a == end { return true }
        let atom = atoms[a]
        if atom.kind == Atom.start { return p == 0 && matches(a + 1, end, s, p) }
        var n = 0
        while n < atom.max && p + n < s.count
            && (atom.kind == Atom.any ? s[p + n] != 0x0A : setContains(atom.set, s[p + n]))
        {
            n += 1
        }
        guard n >= atom.min else { return false }
        for k in stride(from: n, through: atom.min, by: -1) where matches(a + 1, end, s, p + k) { return true }
        return false
    }

    /// ftfy's `UTF8_DETECTOR_RE` matched at `p`: the end of the match, or nil.
    func utf8DetectorMatch(_ s: [Unicode.Scalar], from p: Int) -> Int? {
        if p > 0 && continuationStrict.contains(s[p - 1]) { return nil }
        var q = p
        while q < s.count {
            var step = 0
            if firstOf2.contains(s[q]) && q + 1 < s.count && continuation.contains(s[q + 1]) {
                step = 2
            } else if firstOf3.contains(s[q]) && q + 2 < s.count && s[(q + 1)...(q + 2)].allSatisfy(continuation.contains) {
                step = 3
            } else if firstOf4.contains(s[q]) && q + 3 < s.count && s[(q + 1)...(q + 3)].allSatisfy(continuation.contains) {
                step = 4
            }
            if step == 0 { break }
            q += step
        }
        return q > p ? q : nil
    }
}
