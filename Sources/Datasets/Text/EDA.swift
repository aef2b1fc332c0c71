/// Easy Data Augmentation for captions (Wei & Zou, "EDA: Easy Data Augmentation Techniques for
/// Boosting Performance on Text Classification Tasks", EMNLP 2019): synonym replacement from
/// WordNet, random insertion of a synonym, random swap, random deletion, each changing about
/// α·n of a caption's n words. SafeCLIP's text views apply one operation chosen at random.
///
/// All choices draw from the generator passed in, so a seed reproduces the augmented caption.
///
/// ```swift
/// let eda = EDA(wordNet: try WordNet())
/// var rng = SplitMix64(seed: 1)
/// let view = eda.augment("a photo of a red sweater", rng: &rng)
/// ```
public struct EDA: Sendable {
    /// The four operations.
    public enum Operation: CaseIterable, Sendable {
        case synonymReplacement, randomInsertion, randomSwap, randomDeletion
    }

    public let wordNet: WordNet
    /// The fraction of words changed (EDA's α; SafeCLIP uses 0.1).
    public var alpha: Double

    public init(wordNet: WordNet, alpha: Double = 0.1) {
        self.wordNet = wordNet
        self.alpha = alpha
    }

    /// Applies one operation chosen uniformly at random.
    public func augment(_ caption: String, rng: inout SplitMix64) -> String {
        let operation = Operation.allCases[Int(rng.next() % UInt64(Operation.allCases.count))]
        return apply(operation, to: caption, rng: &rng)
    }

    /// A caption augmentation for ``LoaderConfig/captionAugmentation``.
    public var loaderAugmentation: @Sendable (String, inout SplitMix64) -> String {
        { [self] caption, rng in augment(caption, rng: &rng) }
    }

    /// Applies `operation`. Words are split on whitespace; punctuation stays attached to its word
    /// but is ignored when looking up synonyms.
    public func apply(_ operation: Operation, to caption: String, rng: inout SplitMix64) -> String {
        var words = caption.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
        guard !words.isEmpty else { return caption }
        let changes = max(1, Int(alpha * Double(words.count)))
        switch operation {
        case .synonymReplacement:
            var candidates = words.indices.filter { !Self.stopWords.contains(Self.bare(words[$0])) }
            candidates.shuffle(using: &rng)
            var replaced = 0
            for position in candidates where replaced < changes {
                let options = wordNet.synonyms(of: Self.bare(words[position]))
                guard !options.isEmpty else { continue }
                words[position] = options[Int(rng.next() % UInt64(options.count))]
                replaced += 1
            }
        case .randomInsertion:
            for _ in 0..<changes {
                // Up to 10 tries to find a word with a synonym, as in EDA.
                for _ in 0..<10 {
                    let source = Self.bare(words[Int(rng.next() % UInt64(words.count))])
                    let options = Self.stopWords.contains(source) ? [] : wordNet.synonyms(of: source)
                    guard !options.isEmpty else { continue }
                    let synonym = options[Int(rng.next() % UInt64(options.count))]
                    words.insert(synonym, at: Int(rng.next() % UInt64(words.count + 1)))
                    break
                }
            }
        case .randomSwap:
            guard words.count > 1 else { return caption }
            for _ in 0..<changes {
                let a = Int(rng.next() % UInt64(words.count))
                var b = Int(rng.next() % UInt64(words.count))
                var tries = 0
                while b == a && tries < 3 { b = Int(rng.next() % UInt64(words.count)); tries += 1 }
                words.swapAt(a, b)
            }
        case .randomDeletion:
            guard words.count > 1 else { return caption }
            let kept = words.filter { _ in rng.nextUnitDouble() >= alpha }
            words = kept.isEmpty ? [words[Int(rng.next() % UInt64(words.count))]] : kept
        }
        return words.joined(separator: " ")
    }

    /// The word lowercased, without leading and trailing punctuation.
    static func bare(_ word: String) -> String {
        let scalars = word.lowercased().unicodeScalars
        let isLetter: (Unicode.Scalar) -> Bool = { $0.properties.isAlphabetic || ("0"..."9").contains($0) }
        guard let first = scalars.firstIndex(where: isLetter) else { return "" }
        let last = scalars.lastIndex(where: isLetter)!
        return String(scalars[first...last])
    }

    /// Function words that are never replaced by synonyms (a short English list).
    static let stopWords: Set<String> = [
        "", "a", "an", "the", "and", "or", "but", "if", "of", "at", "by", "for", "with", "about", "to",
        "from", "in", "on", "off", "over", "under", "up", "down", "out", "into", "onto", "is", "are", "was",
        "were", "be", "been", "being", "am", "has", "have", "had", "do", "does", "did", "it", "its", "this",
        "that", "these", "those", "i", "me", "my", "we", "our", "you", "your", "he", "him", "his", "she",
        "her", "they", "them", "their", "what", "which", "who", "whom", "as", "so", "than", "too", "very",
        "can", "will", "just", "not", "no", "nor", "only", "own", "same", "some", "such", "each", "few",
        "more", "most", "other", "all", "any", "both", "here", "there", "when", "where", "why", "how",
        "again", "once", "then", "s", "t", "don", "should", "now",
    ]
}
