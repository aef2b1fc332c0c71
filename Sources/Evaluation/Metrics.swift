import Torch

/// Top-k accuracy counts from classification scores.
public struct TopKCounts: Sendable, Equatable, Codable {
    /// Examples whose true class is the top-scoring class.
    public var top1: Int
    /// Examples whose true class is among the `k` highest scores (k = 5 by default).
    public var top5: Int
    /// Examples counted.
    public var total: Int

    public init(top1: Int = 0, top5: Int = 0, total: Int = 0) {
        self.top1 = top1
        self.top5 = top5
        self.total = total
    }

    public var top1Accuracy: Double { total == 0 ? 0 : Double(top1) / Double(total) }
    public var top5Accuracy: Double { total == 0 ? 0 : Double(top5) / Double(total) }

    public static func + (a: TopKCounts, b: TopKCounts) -> TopKCounts {
        TopKCounts(top1: a.top1 + b.top1, top5: a.top5 + b.top5, total: a.total + b.total)
    }
}

/// Counts top-1 and top-k hits.
///
/// - Parameters:
///   - scores: `[N, C]` float scores (logits or similarities).
///   - labels: the true class of each row, `N` values in `0..<C`.
///   - k: the wider cut (clamped to C).
/// - Returns: the counts over the `N` rows.
public func topKCounts(scores: Tensor, labels: [Int], k: Int = 5) -> TopKCounts {
    precondition(scores.rank == 2 && scores.size(0) == labels.count, "topKCounts: scores \(scores.shape) vs \(labels.count) labels")
    let classes = scores.size(1)
    let kk = min(k, classes)
    let top = scores.topk(kk, dim: 1).indices.toArray(as: Int64.self)
    var counts = TopKCounts(total: labels.count)
    for (row, label) in labels.enumerated() {
        let ranked = top[(row * kk)..<((row + 1) * kk)]
        if ranked.first == Int64(label) { counts.top1 += 1 }
        if ranked.contains(Int64(label)) { counts.top5 += 1 }
    }
    return counts
}

/// Image↔text retrieval recall at 1, 5 and 10, for paired embeddings where row i of images
/// matches row i of texts.
public struct RetrievalRecall: Sendable, Equatable, Codable {
    public var imageToText: [Int: Double]
    public var textToImage: [Int: Double]
    public var count: Int
}

/// Computes retrieval recall@K for `ks` from a similarity matrix.
///
/// - Parameter similarity: `[N, N]`, entry (i, j) = similarity of image i and text j.
public func retrievalRecall(similarity: Tensor, ks: [Int] = [1, 5, 10]) -> RetrievalRecall {
    precondition(similarity.rank == 2 && similarity.size(0) == similarity.size(1), "retrievalRecall: needs [N, N]")
    let n = similarity.size(0)
    func recall(_ sim: Tensor) -> [Int: Double] {
        // Rank of the true match = number of candidates scoring strictly higher.
        let diagonal = sim.gather(dim: 1, indices: Tensor.arange(0, Double(n)).reshaped([n, 1]))
        let ranks = sim.gt(diagonal).to(.int64).sum(dim: 1).toArray(as: Int64.self)
        var out: [Int: Double] = [:]
        for k in ks { out[k] = Double(ranks.filter { $0 < Int64(k) }.count) / Double(max(n, 1)) }
        return out
    }
    return RetrievalRecall(imageToText: recall(similarity), textToImage: recall(similarity.t.contiguous()), count: n)
}
