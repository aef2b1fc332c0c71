/// Synonyms from WordNet 3.0's database files (`data.noun`, `data.verb`, `data.adj`, `data.adv`
/// in WNDB format, as the Debian package `wordnet-base` installs them in `/usr/share/wordnet`).
///
/// Two words are synonyms when they share a synset. Multi-word lemmas keep their spaces
/// (`ankle_boot` → "ankle boot"); adjective markers such as `(a)` are dropped.
///
/// ```swift
/// let wordNet = try WordNet()
/// wordNet.synonyms(of: "jumper")   // ["pullover", "sweater", …]
/// ```
public struct WordNet: Sendable {
    /// The Debian package that installs the files.
    public static let debianPackage = "wordnet-base"
    /// Where the Debian package puts them.
    public static let debianFolder = "/usr/share/wordnet"

    /// Lemmas of each synset, lowercased, underscores as spaces.
    private let synsets: [[String]]
    /// For each lemma, the synsets it belongs to.
    private let synsetsOfWord: [String: [Int32]]

    /// Reads `data.<part>` for each of `parts` from `folder`; files that are absent are skipped,
    /// but at least one must be present.
    public init(folder: String = WordNet.debianFolder, parts: [String] = ["noun", "verb", "adj", "adv"]) throws(DataError) {
        var synsets: [[String]] = []
        var synsetsOfWord: [String: [Int32]] = [:]
        var found = 0
        for part in parts {
            let path = resolvePath("data.\(part)", against: folder)
            guard pathKind(path) == .file else { continue }
            found += 1
            let bytes = try readWholeFile(path)
            var badLine: Int?
            bytes.withUnsafeBufferPointer { buffer in
                var lineNumber = 0
                var start = 0
                let count = buffer.count
                while start < count {
                    var end = start
                    while end < count && buffer[end] != 10 { end += 1 }
                    lineNumber += 1
                    defer { start = end + 1 }
                    // Licence header lines start with two spaces.
                    if end - start < 2 || buffer[start] == 32 { continue }
                    // Tokens: offset, lex_filenum, ss_type, w_cnt (hex), then w_cnt × (word, lex_id).
                    var position = start
                    func nextToken() -> Range<Int>? {
                        while position < end && buffer[position] == 32 { position += 1 }
                        let tokenStart = position
                        while position < end && buffer[position] != 32 { position += 1 }
                        return tokenStart < position ? tokenStart..<position : nil
                    }
                    _ = nextToken(); _ = nextToken(); _ = nextToken()
                    guard let countToken = nextToken(),
                          let wordCount = Int(String(decoding: UnsafeBufferPointer(rebasing: buffer[countToken]), as: UTF8.self), radix: 16)
                    else { badLine = badLine ?? lineNumber; continue }
                    var lemmas: [String] = []
                    for _ in 0..<wordCount {
                        guard let wordToken = nextToken(), nextToken() != nil else { badLine = badLine ?? lineNumber; break }
                        var word = [UInt8]()
                        word.reserveCapacity(wordToken.count)
                        for i in wordToken {
                            var byte = buffer[i]
                            if byte == 40 { break }  // "(a)" adjective marker
                            if byte == 95 { byte = 32 }  // "_" → " "
                            if byte >= 65 && byte <= 90 { byte += 32 }  // ASCII lowercase
                            word.append(byte)
                        }
                        let lemma = String(decoding: word, as: UTF8.self)
                        if !lemma.isEmpty && !lemmas.contains(lemma) { lemmas.append(lemma) }
                    }
                    let id = Int32(synsets.count)
                    synsets.append(lemmas)
                    for lemma in lemmas { synsetsOfWord[lemma, default: []].append(id) }
                }
            }
            if let badLine { throw .malformedRow(path: path, line: badLine, reason: "not a WNDB synset line") }
        }
        guard found > 0 else {
            throw .missingResource(what: "WordNet data files (data.noun …) in \(folder)",
                                   hint: "install the Debian package \(WordNet.debianPackage) (`make setup` does)")
        }
        self.synsets = synsets
        self.synsetsOfWord = synsetsOfWord
    }

    /// The number of synsets read.
    public var synsetCount: Int { synsets.count }

    /// Synonyms of `word` (lowercased lookup), without the word itself, in first-seen order.
    public func synonyms(of word: String) -> [String] {
        let key = word.lowercased()
        guard let ids = synsetsOfWord[key] else { return [] }
        var result: [String] = []
        for id in ids {
            for lemma in synsets[Int(id)] where lemma != key && !result.contains(lemma) { result.append(lemma) }
        }
        return result
    }
}
