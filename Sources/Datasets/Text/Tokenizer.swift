import Dispatch
import Foundation
import Synchronization

/// Errors of the CLIP tokenizer: missing or malformed vocabulary files.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// The vocabulary file could not be read or inflated.
    case unreadableVocabulary(path: String, reason: String)
    /// A line of the vocabulary file is not what a BPE merges file holds.
    case malformedVocabulary(path: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .unreadableVocabulary(let path, let reason):
            return "cannot read the BPE vocabulary \(path): \(reason)"
        case .malformedVocabulary(let path, let line, let reason):
            return "\(path):\(line): \(reason)"
        }
    }
}

/// CLIP's byte-level BPE tokenizer, with ids identical to open_clip's `SimpleTokenizer`.
///
/// Port of open_clip/src/open_clip/tokenizer.py (`SimpleTokenizer`, itself OpenAI's
/// `simple_tokenizer.py`). A caption is cleaned (see ``TextCleaning``: an ftfy fix_text, HTML
/// unescaping, white-space collapse, lower case), split by the reference's pre-tokenizer pattern
/// `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// (case-insensitive), mapped to bytes through GPT-2's byte-to-character table and merged with the
/// 48,894 merges of `bpe_simple_vocab_16e6.txt.gz`. The vocabulary has 49,408 ids;
/// `<start_of_text>` is 49406 and `<end_of_text>` is 49407.
///
/// Parity: ids equal the reference on the committed corpus of 6,004 strings (captions, accents,
/// CJK, emoji, entities, control characters, mojibake, very long captions), including ftfy's
/// mojibake repair (`"cafÃ©"` → `"café"`); see ``TextCleaning`` for the few Unicode-version caveats.
///
/// The value is `Sendable` and can be used from many threads: merged words are cached in a pool
/// of caches that each call borrows without holding a lock, and
/// ``tokenize(batch:contextLength:truncation:)`` encodes on all cores with one cache per worker.
///
/// ```swift
/// let tokenizer = try CLIPTokenizer.load()
/// let row = tokenizer.tokenize("a photo of a dog.")       // 77 ids: 49406, 320, 1125, …, 49407, 0, …
/// let ids = tokenizer.tokenize(batch: captions)            // [captions.count * 77], row-major
/// ```
///
/// ### See Also
/// - ``Truncation``, ``Dialect``
public struct CLIPTokenizer: Sendable {
    /// What to do with captions longer than the context.
    public enum Truncation: String, Sendable, CaseIterable {
        /// open_clip: keep the first `contextLength` ids and overwrite the last with `<end_of_text>`.
        case eot
        /// OpenAI CLIP / CyCLIP-family research code: keep the first `contextLength` ids as they are.
        case plain
    }

    /// Which reference's small differences in cleaning to follow.
    public enum Dialect: String, Sendable, CaseIterable {
        /// open_clip 3.x: literal `<start_of_text>`/`<end_of_text>` in a caption become the special
        /// ids; white space is Python's `str.split()`.
        case openCLIP = "open_clip"
        /// OpenAI's `simple_tokenizer.py` (used by CyCLIP/CleanCLIP): the literals are
        /// `<|startoftext|>`/`<|endoftext|>`; white space is the `regex` module's `\s`.
        case openAI = "openai"
    }

    /// The context length of every CLIP model: 77 ids per caption.
    public static let defaultContextLength = 77
    /// Number of ids: 256 bytes, 256 word-final bytes, 48,894 merges, 2 special tokens.
    public static let vocabularySize = 49408
    /// Number of merges read from the vocabulary file (its lines 1…48894).
    public static let mergeCount = 49152 - 256 - 2
    /// The `<start_of_text>` id.
    public static let startOfText: Int32 = 49406
    /// The `<end_of_text>` id.
    public static let endOfText: Int32 = 49407
    /// The vocabulary file's name in the assets folder.
    public static let vocabularyFileName = "bpe_simple_vocab_16e6.txt.gz"

    /// The cleaning and special-token conventions in use.
    public let dialect: Dialect
    let model: BPEModel
    private let cache: WordCachePool

    /// Loads the vocabulary from the assets folder.
    ///
    /// The folder is `$CLIPGUARD_ASSETS` if set (and then only that), else the first
    /// `.deps/assets` found walking up from the executable's folder, then from the current directory.
    /// - Throws: ``DataError/missingResource(what:hint:)`` (with a hint to run `make setup`) when
    ///   no assets folder holds the vocabulary, or the errors of ``init(vocabularyGzipAt:dialect:)``.
    public static func load(dialect: Dialect = .openCLIP) throws -> CLIPTokenizer {
        try CLIPTokenizer(vocabularyGzipAt: AssetLocator.path(of: vocabularyFileName), dialect: dialect)
    }

    /// Reads a BPE merges file (`bpe_simple_vocab_16e6.txt.gz`, gzip-compressed or plain).
    /// - Throws: ``TokenizerError/unreadableVocabulary(path:reason:)`` or
    ///   ``TokenizerError/malformedVocabulary(path:line:reason:)``.
    public init(vocabularyGzipAt path: String, dialect: Dialect = .openCLIP) throws {
        guard let compressed = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.unreadableVocabulary(path: path, reason: "cannot read the file")
        }
        // Like gzread, accept an uncompressed merges file too.
        var bytes = [UInt8](compressed)
        if bytes.starts(with: [0x1F, 0x8B]) {
            do { bytes = try gunzip(bytes) } catch {
                throw TokenizerError.unreadableVocabulary(path: path, reason: error.reason)
            }
        }
        let text = String(decoding: bytes, as: UTF8.self)
        self.model = try BPEModel(mergesFile: text, path: path, dialect: dialect)
        self.dialect = dialect
        self.cache = WordCachePool()
    }

    /// The BPE ids of a caption, without `<start_of_text>`/`<end_of_text>` and without truncation.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        var words = cache.take()
        model.encode(text, into: &ids, cache: &words)
        cache.give(words)
        return ids
    }

    /// One caption as a padded row: `<start_of_text>`, ids, `<end_of_text>`, zeros.
    ///
    /// - Returns: `[contextLength]` Int32 ids. Longer captions are cut as `truncation` says.
    /// - Precondition: `contextLength >= 1`.
    public func tokenize(_ text: String, contextLength: Int = defaultContextLength, truncation: Truncation = .eot) -> [Int32] {
        precondition(contextLength >= 1, "contextLength must be at least 1")
        var row = [Int32](repeating: 0, count: contextLength)
        row.withUnsafeMutableBufferPointer { CLIPTokenizer.fill($0, with: encode(text), truncation: truncation) }
        return row
    }

    /// Many captions at once, encoded in parallel on all cores.
    ///
    /// - Returns: `[batch.count, contextLength]` Int32 ids, flattened row-major
    ///   (`result[i * contextLength + j]`), each row as ``tokenize(_:contextLength:truncation:)``.
    public func tokenize(batch: [String], contextLength: Int = defaultContextLength, truncation: Truncation = .eot) -> [Int32] {
        precondition(contextLength >= 1, "contextLength must be at least 1")
        var result = [Int32](repeating: 0, count: batch.count * contextLength)
        guard !batch.isEmpty else { return result }
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, batch.count / 64))
        let model = self.model, cache = self.cache
        result.withUnsafeMutableBufferPointer { out in
            let target = SendableBuffer(buffer: out)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var words = cache.take()
                var ids: [Int32] = []
                var i = worker * batch.count / workers
                let end = (worker + 1) * batch.count / workers
                defer { cache.give(words) }
                while i < end {
                    ids.removeAll(keepingCapacity: true)
                    model.encode(batch[i], into: &ids, cache: &words)
                    let row = UnsafeMutableBufferPointer(rebasing: target.buffer[(i * contextLength)..<((i + 1) * contextLength)])
                    CLIPTokenizer.fill(row, with: ids, truncation: truncation)
                    i += 1
                }
            }
        }
        return result
    }

    /// Text for ids, as the reference's `decode`: word ends become spaces, invalid UTF-8 becomes
    /// U+FFFD. Padding zeros decode to `!`; strip them first.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            precondition(id >= 0 && Int(id) < model.tokenBytes.count, "token id \(id) out of range")
            bytes.append(contentsOf: model.tokenBytes[Int(id)])
        }
        return String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "</w>", with: " ")
    }

    /// Writes `[SOT] + ids + [EOT]` into a zeroed row, truncated as asked.
    private static func fill(_ row: UnsafeMutableBufferPointer<Int32>, with ids: [Int32], truncation: Truncation) {
        let n = row.count
        row[0] = startOfText
        let kept = min(ids.count, n - 1)
        for k in 0..<kept { row[k + 1] = ids[k] }
        if ids.count + 2 <= n {
            row[ids.count + 1] = endOfText
        } else if truncation == .eot {
            row[n - 1] = endOfText
        }
    }
}

/// A buffer pointer handed to parallel workers that write disjoint rows.
private struct SendableBuffer: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Int32>
}

/// A pre-token's UTF-8 bytes as a cache key, hashed once with FNV-1a.
struct WordKey: Hashable, Sendable {
    let bytes: [UInt8]
    let fingerprint: UInt64

    init(_ bytes: [UInt8]) {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        self.bytes = bytes
        self.fingerprint = h
    }

    static func == (a: WordKey, b: WordKey) -> Bool { a.fingerprint == b.fingerprint && a.bytes == b.bytes }
    func hash(into hasher: inout Hasher) { hasher.combine(fingerprint) }
}

/// Caches of merged words, lent to one caller at a time: a call takes one (or a new one), uses
/// it without locking and gives it back, so that concurrent calls never contend on a cache.
private final class WordCachePool: Sendable {
    static let wordLimit = 100_000
    private static let poolLimit = 2 * ProcessInfo.processInfo.activeProcessorCount
    private let caches = Mutex<[[WordKey: [Int32]]]>([])

    func take() -> [WordKey: [Int32]] { caches.withLock { $0.popLast() } ?? [:] }

    func give(_ words: consuming [WordKey: [Int32]]) {
        var words = words
        if words.count > WordCachePool.wordLimit { words.removeAll(keepingCapacity: true) }
        caches.withLock { pool in
            if pool.count < WordCachePool.poolLimit { pool.append(words) }
        }
    }
}

/// The immutable BPE tables: merge ranks, byte ids, id → bytes.
final class BPEModel: Sendable {
    /// Byte value → id of its character (ids 0…255); +256 gives the word-final form.
    let byteIDs: [Int32]
    /// UTF-8 bytes of each id, with `</w>` spelled out for word-final ids (for `decode`).
    let tokenBytes: [[UInt8]]
    let ranks: PairTable
    let dialect: CLIPTokenizer.Dialect
    private let specials: [([Unicode.Scalar], Int32)]

    init(mergesFile text: String, path: String, dialect: CLIPTokenizer.Dialect) throws {
        // GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to 256+n.
        var order: [UInt8] = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        var chars: [Unicode.Scalar] = order.map { Unicode.Scalar($0) }
        var n: UInt32 = 0
        for b in 0...255 where !order.contains(UInt8(b)) {
            order.append(UInt8(b))
            chars.append(Unicode.Scalar(256 + n)!)
            n += 1
        }
        var byteIDs = [Int32](repeating: 0, count: 256)
        var encoder: [String: Int32] = [:]
        var tokenBytes: [[UInt8]] = []
        let endOfWord = Array("</w>".utf8)
        for (i, b) in order.enumerated() {
            byteIDs[Int(b)] = Int32(i)
            encoder[String(chars[i])] = Int32(i)
            tokenBytes.append([b])
        }
        for (i, b) in order.enumerated() {
            encoder[String(chars[i]) + "</w>"] = Int32(256 + i)
            tokenBytes.append([b] + endOfWord)
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > CLIPTokenizer.mergeCount else {
            throw TokenizerError.malformedVocabulary(
                path: path, line: lines.count, reason: "expected \(CLIPTokenizer.mergeCount) merges after the header")
        }
        lines = Array(lines[1...CLIPTokenizer.mergeCount])
        var ranks = PairTable(capacityLog2: 17)
        for (rank, line) in lines.enumerated() {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard parts.count == 2, let left = encoder[String(parts[0])], let right = encoder[String(parts[1])] else {
                throw TokenizerError.malformedVocabulary(
                    path: path, line: rank + 2, reason: "expected two known symbols, found \"\(line)\"")
            }
            let id = Int32(512 + rank)
            ranks.insert(left: left, right: right, rank: Int32(rank))
            encoder[String(parts[0]) + String(parts[1])] = id
            tokenBytes.append(tokenBytes[Int(left)] + tokenBytes[Int(right)])
        }
        let names = dialect == .openCLIP ? ["<start_of_text>", "<end_of_text>"] : ["<|startoftext|>", "<|endoftext|>"]
        for name in names { tokenBytes.append(Array(name.utf8)) }
        precondition(tokenBytes.count == CLIPTokenizer.vocabularySize)
        self.byteIDs = byteIDs
        self.tokenBytes = tokenBytes
        self.ranks = ranks
        self.dialect = dialect
        self.specials = [
            (Array(names[0].unicodeScalars), CLIPTokenizer.startOfText),
            (Array(names[1].unicodeScalars), CLIPTokenizer.endOfText),
        ]
    }

    /// Cleans, pre-tokenizes and encodes `text`, appending ids; merged words go through `cache`.
    func encode(_ text: String, into ids: inout [Int32], cache: inout [WordKey: [Int32]]) {
        let s = asciiFastClean(text)
            ?? TextCleaning.clean(text, whitespace: dialect == .openCLIP ? .pythonSplit : .regexSpace)
        pretokenize(s, into: &ids, cache: &cache)
    }

    /// Cleaning of plain ASCII text without `&` or control characters (most captions), where
    /// ftfy and HTML unescaping change nothing: collapse white space, lower-case. Nil otherwise.
    func asciiFastClean(_ text: String) -> [Unicode.Scalar]? {
        var text = text
        return text.withUTF8 { utf8 -> [Unicode.Scalar]? in
            var out: [Unicode.Scalar] = []
            out.reserveCapacity(utf8.count)
            var pendingSpace = false
            for b in utf8 {
                switch b {
                case 0x09, 0x0A, 0x0C, 0x0D, 0x20:
                    pendingSpace = !out.isEmpty
                case 0x26:  // "&"
                    return nil
                case 0x21...0x7E:
                    if pendingSpace {
                        out.append(" ")
                        pendingSpace = false
                    }
                    out.append(Unicode.Scalar(b >= 0x41 && b <= 0x5A ? b + 32 : b))
                default:
                    return nil
                }
            }
            return out
        }
    }

    /// Appends the UTF-8 bytes of `s[range]` to `bytes`.
    @inline(__always) private func appendUTF8(_ s: [Unicode.Scalar], _ range: Range<Int>, to bytes: inout [UInt8]) {
        for k in range {
            let v = s[k].value
            if v < 0x80 {
                bytes.append(UInt8(v))
            } else if v < 0x800 {
                bytes.append(UInt8(0xC0 | v >> 6))
                bytes.append(UInt8(0x80 | v & 0x3F))
            } else if v < 0x10000 {
                bytes.append(UInt8(0xE0 | v >> 12))
                bytes.append(UInt8(0x80 | v >> 6 & 0x3F))
                bytes.append(UInt8(0x80 | v & 0x3F))
            } else {
                bytes.append(UInt8(0xF0 | v >> 18))
                bytes.append(UInt8(0x80 | v >> 12 & 0x3F))
                bytes.append(UInt8(0x80 | v >> 6 & 0x3F))
                bytes.append(UInt8(0x80 | v & 0x3F))
            }
        }
    }

    /// Byte-pair encodes one pre-token `s[range]`, through the cache.
    @inline(__always) private func emit(
        _ s: [Unicode.Scalar], _ range: Range<Int>, _ ids: inout [Int32], _ cache: inout [WordKey: [Int32]]
    ) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(range.count)
        appendUTF8(s, range, to: &bytes)
        let key = WordKey(bytes)
        if let hit = cache[key] {
            ids.append(contentsOf: hit)
            return
        }
        let merged = bpe(bytes)
        cache[key] = merged
        ids.append(contentsOf: merged)
    }

    /// The reference's pre-tokenizer pattern over cleaned text, each piece byte-pair encoded.
    func pretokenize(_ s: [Unicode.Scalar], into ids: inout [Int32], cache: inout [WordKey: [Int32]]) {
        let data = TokenizerCharacterData.shared
        var i = 0
        let count = s.count
        scan: while i < count {
            let c = s[i]
            if c == "<" {
                for (name, id) in specials where i + name.count <= count {
                    // Case-insensitive literal: after lower-casing, only "ſ" still folds to "s".
                    var exact = true, folded = true
                    for (a, b) in zip(s[i..<(i + name.count)], name) where a != b {
                        exact = false
                        if !(b == "s" && a == "\u{17F}") {
                            folded = false
                            break
                        }
                    }
                    guard folded else { continue }
                    if exact {
                        ids.append(id)  // the reference's cache maps the special token to itself
                    } else {
                        emit(s, i..<(i + name.count), &ids, &cache)  // matched the pattern, but is BPE-encoded as a word
                    }
                    i += name.count
                    continue scan
                }
            }
            if c == "'" && i + 1 < count {
                // 's|'t|'re|'ve|'m|'ll|'d, case-insensitive: after lower-casing only "ſ" folds to "s".
                let next = s[i + 1]
                var length = 0
                switch next {
                case "s", "\u{17F}", "t", "m", "d": length = 2
                case "r", "v": length = (i + 2 < count && s[i + 2] == "e") ? 3 : 0
                case "l": length = (i + 2 < count && s[i + 2] == "l") ? 3 : 0
                default: length = 0
                }
                if length > 0 {
                    emit(s, i..<(i + length), &ids, &cache)
                    i += length
                    continue
                }
            }
            let kind = data.pretokenClass(c)
            switch kind {
            case TokenizerCharacterData.letter:
                var j = i + 1
                while j < count && data.pretokenClass(s[j]) == TokenizerCharacterData.letter { j += 1 }
                emit(s, i..<j, &ids, &cache)
                i = j
            case TokenizerCharacterData.number:
                emit(s, i..<(i + 1), &ids, &cache)
                i += 1
            case TokenizerCharacterData.other:
                var j = i + 1
                while j < count && data.pretokenClass(s[j]) == TokenizerCharacterData.other { j += 1 }
                emit(s, i..<j, &ids, &cache)
                i = j
            default:
                i += 1  // white space, or a scalar no alternative matches
            }
        }
    }

    /// Byte-pair merges of one pre-token's UTF-8 bytes (the last byte is word-final).
    func bpe(_ bytes: [UInt8]) -> [Int32] {
        var word = bytes.map { byteIDs[Int($0)] }
        word[word.count - 1] += 256
        while word.count > 1 {
            var best = Int32.max, at = -1
            for k in 0..<(word.count - 1) {
                let r = ranks.rank(left: word[k], right: word[k + 1])
                if r < best {
                    best = r
                    at = k
                }
            }
            if at < 0 { break }
            let first = word[at], second = word[at + 1], merged = Int32(512) + best
            var out: [Int32] = []
            out.reserveCapacity(word.count - 1)
            var k = 0
            while k < word.count {
                if k + 1 < word.count && word[k] == first && word[k + 1] == second {
                    out.append(merged)
                    k += 2
                } else {
                    out.append(word[k])
                    k += 1
                }
            }
            word = out
        }
        return word
    }
}

/// An open-addressing hash table from an id pair to its merge rank.
struct PairTable: Sendable {
    private var keys: [UInt64]
    private var values: [Int32]
    private let shift: UInt64
    private let mask: Int

    init(capacityLog2: Int) {
        keys = [UInt64](repeating: .max, count: 1 << capacityLog2)
        values = [Int32](repeating: .max, count: 1 << capacityLog2)
        shift = UInt64(64 - capacityLog2)
        mask = (1 << capacityLog2) - 1
    }

    @inline(__always) private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    mutating func insert(left: Int32, right: Int32, rank: Int32) {
        let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
        var s = slot(key)
        while keys[s] != .max && keys[s] != key { s = (s + 1) & mask }
        keys[s] = key  // a repeated pair takes the later rank, as Python's dict(zip(merges, ranks))
        values[s] = rank
    }

    /// The rank of merging `left` then `right`, or `Int32.max` if they never merge.
    @inline(__always) func rank(left: Int32, right: Int32) -> Int32 {
        let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
        var s = slot(key)
        while true {
            let k = keys[s]
            if k == key { return values[s] }
            if k == .max { return .max }
            s = (s + 1) & mask
        }
    }
}
