import Testing
import Torch
@testable import Evaluation

/// Hit@K and MinRank of a retrieval attack's targets, against a hand example and against a
/// straightforward sort-based implementation.
@Suite struct RetrievalMetricTests {
    /// The independent reference: sort the gallery by score, high first, a target before a
    /// non-target of the same score (ties go to the target), and take the 1-based position of
    /// the first target.
    static func referenceMinRank(_ scores: [Float], targets: Set<Int>) -> Int {
        let order = scores.indices.sorted { a, b in
            scores[a] != scores[b] ? scores[a] > scores[b] : (targets.contains(a) && !targets.contains(b))
        }
        return order.firstIndex { targets.contains($0) }! + 1
    }

    @Test func handExampleWithKnownRanks() {
        // Gallery of 4 images; targets 1 and 3.
        let similarity = Tensor([
            0.9, 0.1, 0.5, 0.2,   // best target 3 (0.2): 0.9 and 0.5 above → rank 3
            0.1, 0.8, 0.3, 0.0,   // target 1 first → rank 1
            0.7, 0.6, 0.65, 0.1,  // target 1 (0.6): 0.7 and 0.65 above → rank 3
            0.3, 0.2, 0.4, 0.3,   // target 3 ties 0.3 with image 0: the tie goes to the target; 0.4 above → rank 2
        ] as [Float], shape: [4, 4])
        let ranks = targetMinRanks(similarity: similarity, targets: [1, 3])
        #expect(ranks == [3, 1, 3, 2])
        let r = TargetRetrieval(minRanks: ranks, gallery: 4, targets: 2)
        #expect(r.queries == 4 && r.gallery == 4 && r.targets == 2)
        #expect(r.hitAt1 == 0.25)
        #expect(r.hitAt5 == 1 && r.hitAt10 == 1)
        #expect(r.meanMinRank == 2.25)
        #expect(r.medianMinRank == 2.5)  // (2 + 3) / 2
    }

    @Test func hitAtKCountsRanksUpToK() {
        let r = TargetRetrieval(minRanks: [1, 5, 6, 10, 11, 300, 2], gallery: 500, targets: 50)
        #expect(r.hitAt1 == 1.0 / 7)
        #expect(r.hitAt5 == 3.0 / 7)
        #expect(r.hitAt10 == 5.0 / 7)
        #expect(r.medianMinRank == 6)
        #expect(abs(r.meanMinRank - 335.0 / 7) < 1e-12)
        #expect(r.hit(at: 5) == r.hitAt5 && r.hit(at: 3) == nil)
        let empty = TargetRetrieval(minRanks: [], gallery: 3, targets: 0)
        #expect(empty.hitAt10 == 0 && empty.meanMinRank == 0)
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func matchesTheSortBasedReference(seed: UInt64) {
        let queries = 7, gallery = 40
        var rng = SplitMix(seed)
        // Scores on a coarse grid so ties happen.
        let grid = (0..<(queries * gallery)).map { _ in Float(Int(rng.next() % 9) - 4) / 4 }
        let similarity = Tensor(grid, shape: [queries, gallery])
        let targets = Array(Set((0..<(1 + Int(rng.next() % 6))).map { _ in Int(rng.next() % UInt64(gallery)) })).sorted()
        let ranks = targetMinRanks(similarity: similarity, targets: targets)
        let values = similarity.toArray(as: Float.self)
        for q in 0..<queries {
            let row = Array(values[(q * gallery)..<((q + 1) * gallery)])
            #expect(ranks[q] == Self.referenceMinRank(row, targets: Set(targets)), "seed \(seed), query \(q)")
        }
    }

    @Test func everyTargetFirstGivesRankOneAndALastTargetRanksLast() {
        let similarity = Tensor([3, 2, 1, 0] as [Float], shape: [1, 4])
        #expect(targetMinRanks(similarity: similarity, targets: [0]) == [1])
        #expect(targetMinRanks(similarity: similarity, targets: [3]) == [4])
        #expect(targetMinRanks(similarity: similarity, targets: [3, 2]) == [3])
    }

    /// A small seeded generator for the targets (the test needs no dependency for it).
    struct SplitMix {
        var state: UInt64
        init(_ seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
