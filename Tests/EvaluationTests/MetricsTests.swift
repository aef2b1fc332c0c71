import Testing
import Torch
@testable import Evaluation

@Suite struct MetricsTests {
    @Test func topKCountsHandCase() {
        // 3 rows, 6 classes.
        let scores = Tensor(
            [
                0.9, 0.1, 0, 0, 0, 0,  // top1 = 0
                0, 0.2, 0.3, 0.4, 0.5, 0.6,  // ranks: 5,4,3,2,1,0
                1, 0, 0, 0, 0, 0.5,
            ] as [Float], shape: [3, 6])
        let counts = topKCounts(scores: scores, labels: [0, 0, 5], k: 5)
        #expect(counts.total == 3)
        #expect(counts.top1 == 1)  // only row 0
        #expect(counts.top5 == 2)  // row 0 and row 2 (class 5 is 2nd); row 1's class 0 ranks 6th
    }

    @Test func accuracyIndependentOfClassOrder() {
        let g = Generator(seed: 1)
        let scores = Tensor.randn([20, 7], generator: g)
        let labels = (0..<20).map { ($0 * 3) % 7 }
        let base = topKCounts(scores: scores, labels: labels)
        let perm = [3, 6, 0, 2, 5, 1, 4]  // new column j holds old class perm[j]
        let permuted = scores.indexSelect(dim: 1, indices: Tensor(perm.map(Int64.init)))
        let inverse = Dictionary(uniqueKeysWithValues: perm.enumerated().map { ($1, $0) })
        let moved = topKCounts(scores: permuted, labels: labels.map { inverse[$0]! })
        #expect(base == moved)
    }

    @Test func retrievalRecallPerfectAndShifted() {
        let eye = Tensor.eye(4)
        let perfect = retrievalRecall(similarity: eye)
        #expect(perfect.imageToText[1] == 1)
        #expect(perfect.textToImage[1] == 1)
        // Each image's best text is the next one: recall@1 = 0, recall@5 = 1.
        let shifted = eye.rolled(shift: 1, dim: 1) * 2 + eye
        let r = retrievalRecall(similarity: shifted)
        #expect(r.imageToText[1] == 0)
        #expect(r.imageToText[5] == 1)
    }
}
