import Datasets
import Detection
import Foundation
import TestSupport
import Testing
import Torch

/// Test-time screening (`clipguard screen`): BDetCLIP-style contrast, DAO against a reference set,
/// the reference-quantile threshold and its operating point, each against a plain loop version.
@Suite struct ScreeningTests {
    static func rows(_ t: Tensor) -> [[Double]] {
        (0..<t.size(0)).map { t.select(dim: 0, index: $0).to(.float64).toArray(as: Double.self) }
    }

    static func distance(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot() }

    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).map(*).reduce(0, +) / (a.map { $0 * $0 }.reduce(0, +).squareRoot() * b.map { $0 * $0 }.reduce(0, +).squareRoot())
    }

    /// DAO written out with loops, following `dao.py`: sorted distances, LID by MLE with the 1e-4
    /// guard, the (k+1)-th distance as d_k, neighbours' LIDs and d_k from the reference without self.
    static func daoLoops(queries: [[Double]], reference: [[Double]], k: Int, leaveOneOut: Bool) -> [Double] {
        func sortedNeighbours(_ x: [Double], excluding: Int?) -> [(Double, Int)] {
            reference.enumerated().filter { $0.offset != excluding }.map { (distance(x, $0.element), $0.offset) }.sorted { $0.0 < $1.0 }
        }
        func lid(_ d: [(Double, Int)]) -> Double {
            var sum = 0.0
            for i in 0..<k { sum += Foundation.log(d[i].0 / d[k].0 + 1e-4) }
            return -Double(k) / sum
        }
        let refSorted = reference.indices.map { sortedNeighbours(reference[$0], excluding: $0) }
        return queries.enumerated().map { qi, q in
            let d = sortedNeighbours(q, excluding: leaveOneOut ? qi : nil)
            var total = 0.0
            for j in 0..<k {
                let n = d[j].1
                total += lid(refSorted[n]) * Foundation.log(d[k].0 / refSorted[n][k].0)
            }
            return total / Double(k)
        }
    }

    @Test func daoMatchesALoopImplementation() {
        let g = Generator(seed: 21)
        let reference = Tensor.randn([40, 5], generator: g)
        let queries = Tensor.cat([Tensor.randn([6, 5], generator: g), Tensor.randn([2, 5], generator: g) * 4.0 + 3.0])
        let k = 4
        let fast = TestTimeScreening.daoScores(queries: queries, reference: reference, k: k)
        let slow = Self.daoLoops(queries: Self.rows(queries), reference: Self.rows(reference), k: k, leaveOneOut: false)
        expectClose(fast, slow, rtol: 1e-6, atol: 1e-6)
        let selfScores = TestTimeScreening.daoScores(queries: reference, reference: reference, k: k, leaveOneOut: true)
        let selfSlow = Self.daoLoops(queries: Self.rows(reference), reference: Self.rows(reference), k: k, leaveOneOut: true)
        expectClose(selfScores, selfSlow, rtol: 1e-6, atol: 1e-6)
        // The two far-away queries are the most outlying.
        #expect(fast[6] > fast[0..<6].max()! && fast[7] > fast[0..<6].max()!)
    }

    @Test func bdetMatchesALoopImplementation() {
        let g = Generator(seed: 8)
        let images = Tensor.randn([5, 6], generator: g)
        let benign = Tensor.randn([7, 6], generator: g), malignant = Tensor.randn([5, 6], generator: g)
        let benignClass = [0, 0, 1, 2, 2, 2, 1], malignantClass = [2, 1, 0, 0, 2]
        let scores = TestTimeScreening.bdetScores(
            images: images, benign: benign, benignClass: benignClass, malignant: malignant, malignantClass: malignantClass, classes: 3)
        let x = Self.rows(images), b = Self.rows(benign), m = Self.rows(malignant)
        var predicted: [Double] = [], all: [Double] = []
        for image in x {
            func mean(_ texts: [[Double]], _ classOf: [Int], _ c: Int) -> Double {
                let s = texts.indices.filter { classOf[$0] == c }.map { Self.cosine(image, texts[$0]) }
                return s.reduce(0, +) / Double(s.count)
            }
            let bc = (0..<3).map { mean(b, benignClass, $0) }, mc = (0..<3).map { mean(m, malignantClass, $0) }
            let top = bc.indices.max { bc[$0] < bc[$1] }!
            predicted.append(-(bc[top] - mc[top]))
            all.append(-(0..<3).map { bc[$0] - mc[$0] }.reduce(0, +) / 3)
        }
        expectClose(scores.predicted, predicted, rtol: 1e-9, atol: 1e-9)
        expectClose(scores.allClasses, all, rtol: 1e-9, atol: 1e-9)
    }

    @Test func thresholdIsTheInterpolatedQuantile() {
        // numpy.quantile([1, 2, 3, 4, 5], 0.95) = 4.8; [3, 1, 2, 10] → 8.95 at 0.95.
        expectClose([TestTimeScreening.threshold(referenceScores: [5, 1, 4, 2, 3], quantile: 0.95)], [4.8], atol: 1e-12)
        expectClose([TestTimeScreening.threshold(referenceScores: [3, 1, 2, 10], quantile: 0.95)], [8.95], atol: 1e-12)
    }

    @Test func operatingPointCountsFlags() {
        let point = TestTimeScreening.operatingPoint(
            scores: [0.9, 0.8, 0.1, 0.7, 0.2, 0.6], positive: [true, true, true, false, false, false], threshold: 0.65)
        #expect(point.truePositives == 2 && point.falsePositives == 1 && point.falseNegatives == 1 && point.trueNegatives == 2)
        expectClose([point.precision, point.recall, point.f1, point.falsePositiveRate], [2.0 / 3, 2.0 / 3, 2.0 / 3, 1.0 / 3], atol: 1e-12)
    }

    @Test func descriptionsNameTheClassAndMalignantOnesAddUnrelatedWords() {
        let d = ScreeningDescriptions.build(
            classNames: ["sneaker", "bag"], templates: ["a photo of a {c}."], synonyms: [["sneaker", "trainer"], ["bag"]],
            adjectives: ["old"], perClass: 3, seed: 1)
        #expect(d.benign.map(\.count) == [3, 2])  // "bag" has only 2 combinations
        #expect(d.benign[0].allSatisfy { $0.contains("sneaker") || $0.contains("trainer") })
        #expect(Set(d.benign[1]) == ["a photo of a bag.", "a photo of a old bag."])
        for (b, m) in zip(d.benign.flatMap { $0 }, d.malignant.flatMap { $0 }) {
            #expect(m.hasPrefix(String(b.dropLast())))
            #expect(ScreeningDescriptions.unrelatedWords.contains { m.contains($0) })
        }
        #expect(ScreeningDescriptions.build(
            classNames: ["sneaker", "bag"], templates: ["a photo of a {c}."], synonyms: [["sneaker", "trainer"], ["bag"]],
            adjectives: ["old"], perClass: 3, seed: 1) == d)
    }
}
