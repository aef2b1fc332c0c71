import Datasets
import Foundation
import Torch

/// Row-major float features: `rows × dimension` values, one row per pair.
///
/// ```swift
/// let x = FeatureMatrix(dimension: 2, values: [0, 0, 1, 1])   // two rows
/// x.row(1)   // [1, 1]
/// ```
public struct FeatureMatrix: Sendable, Equatable {
    public var dimension: Int
    public var values: [Float]

    public init(dimension: Int, values: [Float] = []) {
        precondition(dimension > 0 && values.count % dimension == 0, "FeatureMatrix: \(values.count) values, dimension \(dimension)")
        self.dimension = dimension
        self.values = values
    }

    public var rows: Int { values.count / dimension }

    public func row(_ i: Int) -> ArraySlice<Float> { values[(i * dimension)..<((i + 1) * dimension)] }

    /// The rows at `indices`, in that order.
    public func subset(_ indices: [Int]) -> FeatureMatrix {
        var out: [Float] = []
        out.reserveCapacity(indices.count * dimension)
        for i in indices { out += row(i) }
        return FeatureMatrix(dimension: dimension, values: out)
    }

    /// Rows `start..<end` as a `[end - start, dimension]` float32 tensor.
    func tensor(rows range: Range<Int>) -> Tensor {
        Tensor(Array(values[(range.lowerBound * dimension)..<(range.upperBound * dimension)]), shape: [range.count, dimension])
    }
}

/// Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii, 2007), squared Euclidean
/// distance. Distances are computed in blocks of rows with libtorch matrix products, so a set of
/// millions of rows costs its features and `k` centroids, nothing `N × k`.
public struct KMeans: Sendable {
    /// `[k, dimension]` centroids.
    public var centroids: FeatureMatrix
    /// The centroid of each row.
    public var assignments: [Int]

    /// Clusters the rows of `x` into `min(k, rows)` clusters.
    ///
    /// - Parameters:
    ///   - x: `[N, D]` features (N ≥ 1).
    ///   - k: clusters wanted (≥ 1).
    ///   - iterations: the most Lloyd iterations (stops earlier when no assignment changes).
    ///   - seed: seeds the k-means++ draws (from a sample of at most 20,000 rows).
    public init(_ x: FeatureMatrix, k: Int, iterations: Int = 25, seed: UInt64) {
        precondition(x.rows >= 1 && k >= 1, "KMeans: needs rows and k ≥ 1")
        let k = min(k, x.rows)
        var rng = SplitMix64(seed: seed)
        // k-means++ on a sample.
        var sampleRows = Array(0..<x.rows)
        if sampleRows.count > 20_000 { sampleRows.shuffle(using: &rng); sampleRows = Array(sampleRows.prefix(20_000)) }
        let sample = x.subset(sampleRows)
        var chosen = [Int(rng.next() % UInt64(sample.rows))]
        var nearest = [Double](repeating: .infinity, count: sample.rows)
        while chosen.count < k {
            let c = sample.row(chosen.last!)
            var total = 0.0
            for i in 0..<sample.rows {
                var d = 0.0
                for (a, b) in zip(sample.row(i), c) { d += Double((a - b) * (a - b)) }
                nearest[i] = min(nearest[i], d)
                total += nearest[i]
            }
            guard total > 0 else { break }  // fewer distinct points than k
            var target = rng.nextUnitDouble() * total
            var pick = sample.rows - 1
            for i in 0..<sample.rows { target -= nearest[i]; if target <= 0 { pick = i; break } }
            chosen.append(pick)
        }
        centroids = sample.subset(chosen)
        assignments = [Int](repeating: -1, count: x.rows)
        for _ in 0..<max(1, iterations) {
            let next = Self.assign(x, to: centroids)
            let changed = next != assignments
            assignments = next
            centroids = Self.means(x, assignments: next, previous: centroids)
            if !changed { break }
        }
    }

    /// The nearest centroid of every row.
    public static func assign(_ x: FeatureMatrix, to centroids: FeatureMatrix) -> [Int] {
        let c = centroids.tensor(rows: 0..<centroids.rows)
        let cNorm = c.square().sum(dim: 1).reshaped([1, centroids.rows])
        var out: [Int] = []
        out.reserveCapacity(x.rows)
        let block = 65_536
        for start in stride(from: 0, to: x.rows, by: block) {
            let rows = x.tensor(rows: start..<min(x.rows, start + block))
            let distance = cNorm - rows.matmul(c.t) * 2  // |x|² is the same for every centroid
            out += distance.argmin(dim: 1).toArray(as: Int64.self).map(Int.init)
        }
        return out
    }

    /// Cluster means; an empty cluster keeps its previous centroid.
    static func means(_ x: FeatureMatrix, assignments: [Int], previous: FeatureMatrix) -> FeatureMatrix {
        let d = x.dimension, k = previous.rows
        var sums = [Double](repeating: 0, count: k * d)
        var counts = [Int](repeating: 0, count: k)
        for (i, a) in assignments.enumerated() {
            counts[a] += 1
            for (j, v) in x.row(i).enumerated() { sums[a * d + j] += Double(v) }
        }
        var values = previous.values
        for a in 0..<k where counts[a] > 0 {
            for j in 0..<d { values[a * d + j] = Float(sums[a * d + j] / Double(counts[a])) }
        }
        return FeatureMatrix(dimension: d, values: values)
    }
}
