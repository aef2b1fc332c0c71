import Foundation

/// The `combined` column, chosen without the manifest.
///
/// A backdoor campaign needs many poisoned pairs that carry one target concept, so a column that
/// has found the campaign has a top of the ranking crowded with one caption word — the target's —
/// far beyond that word's share of the data set (``CampaignEvidence``). Natural outliers, which is
/// what a blind column ranks first, spread over many words or follow the class structure of one
/// detector, and an inverted column crowds the word at its *other* end. Each column votes for its
/// own strongest word with that word's evidence, and the campaign's word is the one with the most
/// votes: detectors that see the campaign agree on it while class structure differs from detector
/// to detector, and a word of class structure that several columns rank second or third gets no
/// vote from them (the unsuspicious ends are left out of this vote: the pairs a model finds most
/// typical, e.g. the highest image–caption cosine, follow class structure strongly). With `S` the
/// strongest single-column evidence for that word at a suspicious end, a column is
///
/// - **trusted** when its top shows at least ``trustFraction`` · S (0.9 S) for the word and no
///   less than its bottom,
/// - **inverted** when its bottom shows at least S/2 and more than its top,
/// - **weaker** when its top shows S/2 to 0.9 S (on the measured runs summing such a column cost
///   the strong one more than it added), **blind** below S/2,
///
/// and `combined = Σ over trusted columns of max(0, robust z / own cut)`
/// (``ThresholdRule/normalised(_:)``): a trusted column adds evidence for a pair and never takes
/// any away, so a column that ranks a pair low cannot pull it down — how the earlier rank average
/// failed — and weaker, blind or inverted columns, named in a warning, are not in the sum. When `S` is
/// below ``minimumEvidence`` (a clean set, or an attack whose pairs share no caption word), every
/// column is summed but those whose bottom shows at least that much, and a warning says so.
/// Without the manifest, `combined` flags the pairs that a trusted column's own threshold flags. The rule assumes a targeted campaign: poison without a
/// shared caption word is outside what it can see.
public struct ScoreCombination: Sendable {
    /// `[N]` combined scores (NaN where every column is NaN).
    public var scores: [Double]
    /// The columns summed.
    public var used: [String]
    /// The caption word the columns agree the campaign carries ("" when none).
    public var campaignWord: String
    /// Each column's evidence for ``campaignWord`` at both ends.
    public var evidence: [String: ColumnEvidence]
    /// One sentence per column that looks inverted or blind, or about the fallback.
    public var warnings: [String]

    /// `[N]`: the pairs `combined` flags without the manifest — those a trusted column's own
    /// threshold flags (normalised score > 1).
    public var flags: [Bool]
    /// The rule of ``flags`` as `summary.json` records it.
    public static let thresholdTag = "flagged by a trusted column"

    /// The least evidence (a binomial z-score, see ``CampaignEvidence``) that counts as a campaign.
    /// Columns following class structure rather than a campaign reached 4–14 on Fashion-MNIST, but
    /// never for the word the other columns agreed on; the campaign columns 40–45.
    public static let minimumEvidence = 6.0
    /// A column is trusted when its evidence for the campaign's word is at least this fraction of the
    /// strongest column's. Summing a weaker column is a trade: on the benchmark's correlated columns
    /// it pushed the strong one's pairs down more often than it helped (docs/detection.md).
    public static let trustFraction = 0.9

    /// - Parameters:
    ///   - columns: `(name, suspicion, rule)` per column: `[N]` scores turned so that higher = more
    ///     suspicious (NaN: not scored), and the column's threshold rule.
    ///   - captions: `[N]` captions, the same rows.
    public init(columns: [(name: String, suspicion: [Double], rule: ThresholdRule)], captions: [String]) {
        let n = columns.first?.suspicion.count ?? 0
        let normalised = columns.map { $0.rule.normalised($0.suspicion) }
        let words = CampaignEvidence(captions: captions)
        let top = columns.map { words.evidence(ranking: DetectionMetrics.ranking($0.suspicion), scored: $0.suspicion) }
        let bottom = columns.map { words.evidence(ranking: DetectionMetrics.ranking($0.suspicion.map { -$0 }), scored: $0.suspicion) }
        // Each column votes for its own strongest word only, with that word's evidence: several
        // columns that each see a word of class structure second or third do not add up to it.
        // (Ties go to the lower word index, so the choice does not depend on dictionary order.)
        func strongest(_ evidence: [Int: Double]) -> (key: Int, value: Double)? {
            evidence.max { ($0.value, -$0.key) < ($1.value, -$1.key) }
        }
        var consensus: [Int: Double] = [:]
        for c in columns.indices { if let (w, e) = strongest(top[c]) { consensus[w, default: 0] += e } }
        let word = strongest(consensus)?.key
        var evidence: [String: ColumnEvidence] = [:]
        for (c, column) in columns.enumerated() {
            evidence[column.name] = ColumnEvidence(top: word.flatMap { top[c][$0] } ?? 0, bottom: word.flatMap { bottom[c][$0] } ?? 0)
        }
        let strongest = evidence.values.map(\.top).max() ?? 0
        let name = word.map { words.word($0) } ?? ""
        var trusted: [Int] = [], warnings: [String] = []
        func inverted(_ column: String, _ e: ColumnEvidence) -> String {
            String(format: "column %@ looks inverted: its least suspicious pairs carry the caption word the columns agree on \"%@\" (evidence %.1f) more than its most suspicious ones (%.1f); left out of combined",
                   column, name, e.bottom, e.top)
        }
        if strongest >= Self.minimumEvidence {
            for (c, column) in columns.enumerated() {
                let e = evidence[column.name]!
                if e.top >= strongest * Self.trustFraction && e.top >= e.bottom {
                    trusted.append(c)
                } else if e.bottom >= strongest / 2 && e.bottom > e.top {
                    warnings.append(inverted(column.name, e))
                } else if e.top >= strongest / 2 {
                    warnings.append(String(
                        format: "column %@ sees the campaign's word \"%@\" less clearly than the strongest column (evidence %.1f of %.1f, below %.0f %%); left out of combined",
                        column.name, name, e.top, strongest, Self.trustFraction * 100))
                } else {
                    warnings.append(String(
                        format: "column %@ looks blind to this attack: its most suspicious pairs do not carry the caption word the columns agree on \"%@\" (evidence %.1f of the strongest %.1f); left out of combined",
                        column.name, name, e.top, strongest))
                }
            }
        } else if !columns.isEmpty {
            for (c, column) in columns.enumerated() {
                let e = evidence[column.name]!
                if e.bottom >= Self.minimumEvidence && e.bottom > e.top { warnings.append(inverted(column.name, e)) } else { trusted.append(c) }
            }
            if trusted.isEmpty { trusted = Array(columns.indices) }
            warnings.append(String(
                format: "no caption word stands out among the most suspicious pairs of any column (strongest evidence %.1f < %.0f): combined sums %@",
                strongest, Self.minimumEvidence, trusted.count == columns.count ? "every column" : "the columns that do not look inverted"))
        }
        var combined = [Double](repeating: .nan, count: n), flags = [Bool](repeating: false, count: n)
        for i in 0..<n {
            var sum = 0.0, any = false
            for c in trusted where !normalised[c][i].isNaN {
                sum += max(0, normalised[c][i]); any = true
                if normalised[c][i] > 1 { flags[i] = true }
            }
            if any { combined[i] = sum }
        }
        self.flags = flags
        scores = combined
        used = trusted.map { columns[$0].name }
        campaignWord = evidence.values.map { max($0.top, $0.bottom) }.max() ?? 0 >= Self.minimumEvidence ? name : ""
        self.evidence = evidence
        self.warnings = warnings
    }
}

/// A column's evidence for the campaign's caption word at its suspicious end (`top`) and at its
/// other end (`bottom`).
public struct ColumnEvidence: Codable, Sendable, Equatable {
    public var top: Double
    public var bottom: Double
}

/// How strongly the first pairs of a ranking carry each caption word beyond chance.
///
/// For prefixes of m = 10, 20, 50, 100, 200, 500, … pairs (up to 3% of the scored pairs, at least
/// 10), a word w seen in `c` of the m captions has the binomial z-score
/// `(c − m·p) / √(m·p'·(1 − p'))`, with `p` the share of scored captions that contain w and
/// `p' = max(p, 0.05)` (so that a rare word seen twice is no evidence); a word's evidence is its
/// largest z over the prefixes. Words are ``CaptionStatistics/words(_:)``.
public struct CampaignEvidence: Sendable {
    private let words: [[Int]]
    private let names: [String]
    private let counts: [Int]
    /// The least base rate in the z-score's spread.
    public static let rateFloor = 0.05

    /// - Parameter captions: `[N]` captions.
    public init(captions: [String]) {
        var index: [String: Int] = [:], names: [String] = []
        words = captions.map { caption in
            CaptionStatistics.words(caption).sorted().map { w in
                if let i = index[w] { return i }
                index[w] = names.count; names.append(w)
                return names.count - 1
            }
        }
        self.names = names
        var counts = [Int](repeating: 0, count: names.count)
        for set in words { for w in set { counts[w] += 1 } }
        self.counts = counts
    }

    /// The text of word `index`.
    public func word(_ index: Int) -> String { names[index] }

    /// The index of `word`, if a caption has it.
    public func index(of word: String) -> Int? { names.firstIndex(of: word) }

    /// Each word's evidence (word index → largest z, positive ones only) in `ranking` (row indices,
    /// most suspicious first); rows whose `scored` value is NaN are skipped and not counted in the
    /// base rates.
    public func evidence(ranking: [Int], scored: [Double]) -> [Int: Double] {
        let rows = ranking.filter { $0 < words.count && !scored[$0].isNaN }
        let n = rows.count
        guard n >= 2 else { return [:] }
        var base = [Int](repeating: 0, count: counts.count)
        if n == words.count { base = counts } else { for r in rows { for w in words[r] { base[w] += 1 } } }
        let limit = min(n, max(10, n * 3 / 100))
        var scales: [Int] = []
        var m = 10
        while m <= limit { scales.append(m); m = scales.count % 3 == 2 ? m * 5 / 2 : m * 2 }
        if scales.isEmpty { scales = [n] }
        var seen = [Int](repeating: 0, count: counts.count)
        var best: [Int: Double] = [:]
        var position = 0
        for m in scales {
            while position < m { for w in words[rows[position]] { seen[w] += 1 }; position += 1 }
            for w in seen.indices where seen[w] > 0 {
                let p = Double(base[w]) / Double(n), spread = max(p, Self.rateFloor)
                let z = (Double(seen[w]) - Double(m) * p) / (Double(m) * spread * (1 - spread)).squareRoot()
                if z > (best[w] ?? 0) { best[w] = z }
            }
        }
        return best
    }
}
