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

    /// Reads `data.{noun,verb,adj,adv}` from `folder`; files that are absent are skipped, but at
    /// least one must be present.
    public init(folder: String = WordNet.debianFolder) throws(DataError) {
        var synsets: [[String]] = []
        var synsetsOfWord: [String: [Int32]] = [:]
        var found = 0
        for part in ["noun", "verb", "adj", "adv"] {
            let path = resolvePath("data.\(part)", against: folder)
            guard pathKind(path) == .file else { continue }
            found += 1
            let bytes = try readWholeFile(path)
            var lineNumber = 0
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != 10 { end += 1 }
                lineNumber += 1
                defer { start = end + 1 }
                // Licence header lines start with two spaces.
                if end - start < 2 || bytes[start] == 32 { continue }
                let fields = bytes[start..<end].split(separator: 32, maxSplits: 60, omittingEmptySubsequences: true)
                guard fields.count >= 4, let wordCount = Int(String(decoding: fields[3], as: UTF8.self), radix: 16),
                      fields.count >= 4 + 2 * wordCount else {
                    throw .malformedRow(path: path, line: lineNumber, reason: "not a WNDB synset line")
                }
                var lemmas: [String] = []
                for k in 0..<wordCount {
                    var word = String(decoding: fields[4 + 2 * k], as: UTF8.self).lowercased()
                    if let paren = word.firstIndex(of: "(") { word = String(word[..<paren]) }
                    word = word.replacingUnderscores()
                    if !word.isEmpty && !lemmas.contains(word) { lemmas.append(word) }
                }
                let id = Int32(synsets.count)
                synsets.append(lemmas)
                for lemma in lemmas { synsetsOfWord[lemma, default: []].append(id) }
            }
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

extension String {
    fileprivate func replacingUnderscores() -> String {
        String(unicodeScalars.map { $0 == "_" ? " " : Character($0) })
    }
}
