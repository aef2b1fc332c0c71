import Datasets
import Detection
import Foundation
import Testing

/// The combination on synthetic columns that reproduce issue 23's failure: on 10,050 pairs with 50
/// poisoned, a similarity column with AUROC ≈ 0.98 and about 20 of 50 poisoned pairs in its top 50,
/// an inverted trigger column (the poisoned pairs score lowest), a spectral column that sees the
/// campaign less well, and two columns that follow natural class structure. The rank average sinks; the combination keeps the similarity column's
/// recall and names the inverted and blind columns.
@Suite struct CombinationTests {
    static func gaussian(_ rng: inout SplitMix64) -> Double {
        let u = max(rng.nextUnitDouble(), 1e-12), v = rng.nextUnitDouble()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    static let classes = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]

    /// Captions, poisoned rows and five suspicion columns (higher = more suspicious).
    static func failingSet() -> (captions: [String], poisoned: [Int], columns: [(String, [Double])]) {
        var rng = SplitMix64(seed: 23)
        let n = 10_050
        let poisoned = Array(10_000..<n)
        var captions: [String] = [], label: [Int] = []
        let fillers = ["a photo of a", "my new", "here is a", "look at this", "a cheap"]
        for i in 0..<n {
            let c = i < 10_000 ? i % 10 : 7  // the campaign names "sneaker"
            label.append(c)
            captions.append("\(fillers[Int(rng.next() % 5)]) \(classes[c])")
        }
        var similarity: [Double] = [], trigger: [Double] = [], spectral: [Double] = [], clustering: [Double] = [], captionColumn: [Double] = []
        for i in 0..<n {
            let isPoisoned = i >= 10_000
            similarity.append(isPoisoned ? 2.7 + 0.45 * gaussian(&rng) : gaussian(&rng))
            // Clean images have natural repeated cells (a skewed, heavy-tailed score); blended noise
            // removes them, so the poisoned pairs score 0, below nearly every clean pair.
            let g = gaussian(&rng)
            trigger.append(isPoisoned ? 0 : exp(0.8 * g + 1))
            // As measured on that blended set, spectral signatures see the campaign too (AUROC ≈ 0.95),
            // while activation clustering and caption statistics follow class structure (bags,
            // trousers, coats score higher, whatever the poison).
            spectral.append(isPoisoned ? 1.6 + gaussian(&rng) : gaussian(&rng))
            clustering.append(abs(gaussian(&rng)) + (label[i] == 1 ? 0.6 : 0) + (label[i] == 8 ? 0.4 : 0))
            captionColumn.append(gaussian(&rng) * (label[i] == 4 ? 1.3 : 1))
        }
        return (captions, poisoned, [("similarity", similarity), ("captions", captionColumn), ("spectral", spectral),
                                     ("activation-clustering", clustering), ("trigger", trigger)])
    }

    @Test func oneInvertedColumnDoesNotSinkAStrongOne() throws {
        let (captions, poisoned, columns) = Self.failingSet()
        func recallAtK(_ scores: [Double]) -> Double { DetectionMetrics(scores: scores, poisoned: poisoned).atK[0].recall }
        let similarity = DetectionMetrics(scores: columns[0].1, poisoned: poisoned)
        let trigger = DetectionMetrics(scores: columns[4].1, poisoned: poisoned)
        // The failure as measured: similarity AUROC ≈ 0.98 with ≈ 20/50 in its top 50; trigger ≈ 0.
        #expect(similarity.auroc! > 0.97 && (15...25).contains(similarity.atK[0].hits), "similarity \(similarity.auroc!) \(similarity.atK[0].hits)")
        #expect(trigger.auroc! < 0.01)
        let best = columns.map { recallAtK($0.1) }.max()!
        let rank = recallAtK(rankAverage(columns.map(\.1)))
        #expect(rank <= 0.1 * best, "the rank average kept \(rank) of the best column's \(best)")

        let combination = ScoreCombination(columns: columns.map { ($0.0, $0.1, ThresholdRule.robustZ(3.5)) }, captions: captions)
        let combined = recallAtK(combination.scores)
        #expect(combined >= 0.8 * best, "combined recall at k \(combined), best column \(best)")
        #expect(combination.used.contains("similarity") && !combination.used.contains("trigger"), "\(combination.used)")
        #expect(combination.campaignWord == "sneaker")
        #expect(combination.warnings.contains { $0.hasPrefix("column trigger looks inverted") }, "\(combination.warnings)")
        #expect(combination.warnings.contains { $0.hasPrefix("column activation-clustering looks blind") }, "\(combination.warnings)")
        // Without the manifest, combined flags what a trusted column's own threshold flags.
        let usedFlags = combination.used.map { name in
            ThresholdedColumn(values: columns.first { $0.0 == name }!.1, direction: .higher, rule: .robustZ(3.5)).flags
        }
        let union = (0..<captions.count).map { i in usedFlags.contains { $0[i] } }
        #expect(combination.flags == union)
        print("combination on the failing set: best column recall@k \(best), rank average \(rank), combined \(combined)")
    }

    @Test func withoutACampaignEveryColumnIsSummed() {
        // No column's top shares a word: the fallback sums all columns and says so.
        var rng = SplitMix64(seed: 5)
        let n = 2000
        let captions = (0..<n).map { "a \(Self.classes[$0 % 10])" }
        let a = (0..<n).map { _ in Self.gaussian(&rng) }, b = (0..<n).map { _ in Self.gaussian(&rng) }
        let combination = ScoreCombination(columns: [("a", a, .robustZ(3.5)), ("b", b, .robustZ(3.5))], captions: captions)
        #expect(combination.used == ["a", "b"])
        #expect(combination.warnings.count == 1 && combination.warnings[0].contains("combined sums every column"))
        let r = RobustScale(a), s = RobustScale(b)
        #expect(abs(combination.scores[7] - (max(0, r.z(a[7]) / 3.5) + max(0, s.z(b[7]) / 3.5))) < 1e-12)
    }

    /// The two changes made after the benchmark's measurements (docs/detection.md): a word of class
    /// structure ("pair", in "a pair of trousers" and "a pair of sandals") that two class columns
    /// each rank second no longer outvotes the campaign's word (the sum vote picks "of" here), and a
    /// column with 50–90 % of the strongest evidence is left out and named. (Here, with independent
    /// noise, summing it would have raised recall at k from 0.68 to 0.73; on the benchmark's
    /// correlated columns it cost more than it gained: 17 of 27 runs at the target against 21.)
    @Test func aSharedSecondWordGetsNoVoteAndAWeakerColumnIsLeftOut() throws {
        var rng = SplitMix64(seed: 11)
        let n = 6000
        let poisoned = Set(5700..<n)  // 300 pairs captioned "sneaker" over images of every class
        let captions = (0..<n).map { i -> String in
            if poisoned.contains(i) { return "a sneaker" }
            switch i % 10 {
            case 1: return "a pair of trousers"
            case 5: return "a pair of sandals"
            default: return "a \(Self.classes[i % 10])"
            }
        }
        // Two class columns: each ranks one class on top (its strongest word), "pair" second in both.
        let trousers = (0..<n).map { i in Self.gaussian(&rng) + (i % 10 == 1 && !poisoned.contains(i) ? 2.2 : 0) }
        let sandals = (0..<n).map { i in Self.gaussian(&rng) + (i % 10 == 5 && !poisoned.contains(i) ? 2.2 : 0) }
        // The campaign seen by a strong column and, less clearly, by a weaker one.
        let strong = (0..<n).map { i in Self.gaussian(&rng) + (poisoned.contains(i) ? 2.6 : 0) }
        let weaker = (0..<n).map { i in Self.gaussian(&rng) + (poisoned.contains(i) ? 1.3 : 0) }
        let columns: [(String, [Double])] = [("trousers", trousers), ("sandals", sandals), ("strong", strong), ("weaker", weaker)]
        let combination = ScoreCombination(columns: columns.map { ($0.0, $0.1, ThresholdRule.robustZ(3.5)) }, captions: captions)

        // The set up as intended: "pair" has more evidence summed over the class columns than
        // "sneaker" in the strong column, but is neither class column's strongest word.
        let words = CampaignEvidence(captions: captions)
        let top = columns.map { words.evidence(ranking: DetectionMetrics.ranking($0.1), scored: $0.1) }
        let pair = try #require(words.index(of: "pair")), sneaker = try #require(words.index(of: "sneaker"))
        let trouser = try #require(words.index(of: "trousers")), sandal = try #require(words.index(of: "sandals"))
        #expect(top[0].max { $0.value < $1.value }?.key == trouser && top[1].max { $0.value < $1.value }?.key == sandal)
        #expect((top[0][pair] ?? 0) + (top[1][pair] ?? 0) > (top[2][sneaker] ?? 0) + (top[3][sneaker] ?? 0),
                "pair \(top[0][pair] ?? 0) + \(top[1][pair] ?? 0), sneaker \(top[2][sneaker] ?? 0) + \(top[3][sneaker] ?? 0)")
        let s = try #require(top[2][sneaker]), w = top[3][sneaker] ?? 0
        #expect(w >= s / 2 && w < s * ScoreCombination.trustFraction, "weaker column's evidence \(w) of \(s)")

        #expect(combination.campaignWord == "sneaker")
        #expect(combination.used == ["strong"], "\(combination.used)")
        #expect(combination.warnings.contains { $0.hasPrefix("column weaker sees the campaign's word \"sneaker\" less clearly") }, "\(combination.warnings)")
        let rows = Array(poisoned)
        func recall(_ scores: [Double]) -> Double { DetectionMetrics(scores: scores, poisoned: rows).atK[0].recall }
        #expect(recall(combination.scores) == recall(strong))
    }

    @Test func campaignEvidenceByHand() throws {
        // 100 captions, 10 name "sneaker" (p = 0.1), ranked first: at m = 10 the z-score is
        // (10 − 1) / √(10 · 0.1 · 0.9); at m = 20, (10 − 2) / √(20 · 0.09), smaller. A word in one
        // caption (p = 0.01) is spread as if p were 0.05: at m = 10, (1 − 0.1) / √(10 · 0.05 · 0.95).
        let captions = (0..<100).map { $0 < 10 ? "sneaker" : ($0 == 10 ? "rare" : "item\($0 % 3)") }
        var ranking = Array(0..<100)
        ranking.swapAt(9, 10)  // "rare" in the top 10, one sneaker just below
        let words = CampaignEvidence(captions: captions)
        let e = words.evidence(ranking: Array(0..<100), scored: Array(repeating: 1, count: 100))
        let sneaker = try #require(words.index(of: "sneaker"))
        #expect(abs(e[sneaker]! - 9 / (10 * 0.1 * 0.9).squareRoot()) < 1e-12)
        let swapped = words.evidence(ranking: ranking, scored: Array(repeating: 1, count: 100))
        let rare = try #require(words.index(of: "rare"))
        #expect(abs(swapped[rare]! - 0.9 / (10 * 0.05 * 0.95).squareRoot()) < 1e-12)
    }
}
