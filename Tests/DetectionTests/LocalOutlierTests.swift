import Datasets
import Detection
import Foundation
import Testing

/// ``LocalOutlier`` (batched libtorch distances + topk) against a brute-force double loop written
/// straight from the definitions, and on planted data.
@Suite struct LocalOutlierTests {
    static func gaussian(_ rng: inout SplitMix64) -> Float {
        let u = max(rng.nextUnitDouble(), 1e-12), v = rng.nextUnitDouble()
        return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
    }

    /// The four scores by plain loops: every distance computed pair by pair, neighbours by sorting.
    static func bruteForce(features: FeatureMatrix, reference: FeatureMatrix, k: Int, referenceIndex: [Int?])
        -> (kdist: [Double], slof: [Double], lid: [Double], dao: [Double]) {
        func distance(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
            var s = 0.0
            for (x, y) in zip(a, b) { s += (Double(x) - Double(y)) * (Double(x) - Double(y)) }
            return max(s.squareRoot(), 1e-6)
        }
        func neighbours(of point: ArraySlice<Float>, excluding: Int?) -> [(Double, Int)] {
            var all: [(Double, Int)] = []
            for j in 0..<reference.rows where j != excluding { all.append((distance(point, reference.row(j)), j)) }
            return Array(all.sorted { $0.0 < $1.0 }.prefix(k))
        }
        func lid(_ d: [Double]) -> Double {
            var s = 0.0
            for x in d { s += log(x / d[k - 1]) }
            return -Double(k) / s
        }
        let refNeighbours = (0..<reference.rows).map { neighbours(of: reference.row($0), excluding: $0) }
        let refK = refNeighbours.map { $0[k - 1].0 }
        let refLID = refNeighbours.map { lid($0.map(\.0)) }
        var out: (kdist: [Double], slof: [Double], lid: [Double], dao: [Double]) = ([], [], [], [])
        for i in 0..<features.rows {
            let nb = neighbours(of: features.row(i), excluding: referenceIndex[i])
            let dk = nb[k - 1].0
            out.kdist.append(dk)
            out.slof.append(nb.map { dk / refK[$0.1] }.reduce(0, +) / Double(k))
            out.lid.append(lid(nb.map(\.0)))
            out.dao.append(nb.map { refLID[$0.1] * log(dk / refK[$0.1]) }.reduce(0, +) / Double(k))
        }
        return out
    }

    @Test func agreesWithABruteForceDoubleLoop() throws {
        var rng = SplitMix64(seed: 21)
        let n = 300, d = 12, k = 7
        let features = FeatureMatrix(dimension: d, values: (0..<(n * d)).map { _ in Self.gaussian(&rng) })
        // The reference set: 60 of the rows (each excluded as its own neighbour), as `detect` draws it.
        let chosen = LocalOutlier.referenceRows(rows: n, count: 60, seed: 4)
        #expect(chosen.count == 60 && Set(chosen).count == 60 && chosen == chosen.sorted())
        var index = [Int?](repeating: nil, count: n)
        for (j, row) in chosen.enumerated() { index[row] = j }
        let reference = features.subset(chosen)
        // Small blocks, so the blocked path and the exclusion mask across blocks are exercised.
        let fast = try LocalOutlier.scores(features: features, reference: reference, k: k, referenceIndex: index, blockRows: 37)
        let oneBlock = try LocalOutlier.scores(features: features, reference: reference, k: k, referenceIndex: index, blockRows: 1000)
        let slow = Self.bruteForce(features: features, reference: reference, k: k, referenceIndex: index)
        func close(_ a: [Double], _ b: [Double], _ what: String) {
            #expect(a.count == b.count)
            let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
            #expect(worst < 1e-9, "\(what): largest relative difference \(worst)")
        }
        close(fast.kDistance, slow.kdist, "k-distance")
        close(fast.slof, slow.slof, "SLOF")
        close(fast.lid, slow.lid, "LID")
        close(fast.dao, slow.dao, "DAO")
        close(oneBlock.dao, fast.dao, "DAO in one block and in blocks of 37")
        // Without exclusions (test-time screening against a separate reference set).
        let queries = FeatureMatrix(dimension: d, values: (0..<(40 * d)).map { _ in Self.gaussian(&rng) })
        let screen = try LocalOutlier.scores(features: queries, reference: reference, k: k)
        let screenSlow = Self.bruteForce(features: queries, reference: reference, k: k, referenceIndex: Array(repeating: nil, count: 40))
        close(screen.dao, screenSlow.dao, "DAO without exclusion")
        close(screen.lid, screenSlow.lid, "LID without exclusion")
    }

    @Test func scoresASparsePlantHighAndHandlesDuplicates() throws {
        // 500 points in a dense blob, 10 scattered far out: every score ranks the 10 on top.
        var rng = SplitMix64(seed: 8)
        let d = 8
        var values: [Float] = []
        for i in 0..<510 {
            let spread: Float = i >= 500 ? 4 : 1
            values += (0..<d).map { _ in Self.gaussian(&rng) * spread + (i >= 500 ? 6 : 0) }
        }
        let x = FeatureMatrix(dimension: d, values: values)
        let scores = try LocalOutlier.scores(features: x, reference: x, k: 16, referenceIndex: (0..<510).map { $0 })
        for (name, column) in [("k-distance", scores.kDistance), ("SLOF", scores.slof), ("LID", scores.lid), ("DAO", scores.dao)] where name != "LID" {
            let auroc = DetectionMetrics(scores: column, poisoned: Array(500..<510)).auroc!
            #expect(auroc >= 0.99, "\(name) AUROC \(auroc)")
        }
        // Exact duplicates: every score stays finite.
        let dup = FeatureMatrix(dimension: 2, values: Array(repeating: [Float(1), 2], count: 20).flatMap { $0 })
        let flat = try LocalOutlier.scores(features: dup, reference: dup, k: 4)
        #expect(flat.dao.allSatisfy { $0.isFinite } && flat.lid.allSatisfy { $0.isFinite } && flat.slof.allSatisfy { $0.isFinite })
    }

    @Test func severalReferenceSetsAverageTheOneSetScores() throws {
        // --reference-sets R: the mean of R scorings, reference set r drawn with seed + 5 + 7919·r,
        // so R = 1 is the one-set default bit for bit.
        let context = DetectorRegistryTests.context(rows: 200)
        func one(_ r: UInt64) throws -> LocalOutlier.Scores {
            let rows = LocalOutlier.referenceRows(rows: 200, count: 50, seed: context.seed &+ 5 &+ 7919 &* r)
            var index = [Int?](repeating: nil, count: 200)
            for (j, row) in rows.enumerated() { index[row] = j }
            return try LocalOutlier.scores(features: context.features, reference: context.features.subset(rows), k: 8, referenceIndex: index)
        }
        func detector(sets: Int?) throws -> [Double] {
            var values = ["neighbours": 8, "reference-size": 50]
            if let sets { values["reference-sets"] = sets }
            return try DAODetector.scores(context, settings: DetectorSettings(values))[0]
        }
        let three = try [one(0), one(1), one(2)]
        #expect(try detector(sets: nil) == three[0].dao)
        #expect(try detector(sets: 1) == three[0].dao)
        let mean = (0..<200).map { i in three.map { $0.dao[i] }.reduce(0, +) / 3 }
        let averaged = try detector(sets: 3)
        #expect(zip(averaged, mean).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
        #expect(averaged != three[0].dao, "three sets scored like one")
    }

    @Test func impossibleSizesAreOneSentence() {
        let x = FeatureMatrix(dimension: 2, values: [0, 0, 1, 1, 2, 2])
        #expect { try LocalOutlier.scores(features: x, reference: x, k: 3) } throws: { "\($0)".contains("at least 4 points") }
        #expect { try LocalOutlier.scores(features: x, reference: x, k: 1) } throws: { "\($0)".contains("k ≥ 2") }
        let other = FeatureMatrix(dimension: 3, values: [0, 0, 0])
        #expect { try LocalOutlier.scores(features: x, reference: other, k: 2) } throws: { "\($0)".contains("dimensions") }
    }
}
