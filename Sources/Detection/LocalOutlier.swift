import Foundation
import Datasets
import Torch

/// Local-outlier scores in a feature space against a reference set: k-distance, simplified LOF,
/// local intrinsic dimensionality and DAO (Huang et al., "Detecting Backdoor Samples in Contrastive
/// Language Image Pretraining", ICLR 2025).
///
/// A backdoored CLIP model maps its poisoned training images to a region of its embedding space
/// where few other images lie: their neighbourhood is *sparse* compared with their neighbours'
/// neighbourhoods. With `d_1 ≤ … ≤ d_k` the Euclidean distances from a point `x` to its `k` nearest
/// reference points (the point itself excluded when it is in the reference set), `kdist(x) = d_k`,
/// and for a reference point `o` the same quantities among the other reference points:
///
/// - **k-distance**: `kdist(x)`.
/// - **SLOF** (simplified local outlier factor, Schubert, Zimek & Kriegel 2014): the mean over the k
///   neighbours `o` of `kdist(x) / kdist(o)`.
/// - **LID** (maximum-likelihood estimate, Amsaleg et al. 2015): `−k / Σ_{i=1..k} log(d_i / d_k)`.
/// - **DAO** (dimensionality-aware outlier score, Anderberg et al. 2024, used by Huang et al.): the
///   mean over the k neighbours `o` of `LID(o) · log(kdist(x) / kdist(o))`.
///
/// Higher = more suspicious for all four. Distances below ``minimumDistance`` (exact duplicates)
/// count as that distance, and LID is at most ``maximumLID`` (all k neighbours equally far), so
/// every score is finite. The reference code (`HanxunH/Detect-CLIP-Backdoor-Samples`) scores each
/// random batch of about 1,024 against itself; here one seeded random reference set of that size
/// serves every pair, so scores of different pairs are comparable.
public enum LocalOutlier {
    /// Distances below this count as this (identical features).
    public static let minimumDistance = 1e-6
    /// The most LID can be (k neighbours at one distance).
    public static let maximumLID = 1e6

    /// The four scores of every query point, each `[N]`.
    public struct Scores: Sendable, Equatable {
        public var kDistance: [Double]
        public var slof: [Double]
        public var lid: [Double]
        public var dao: [Double]

        /// The element-wise sum of two scorings of the same rows.
        func adding(_ other: Scores) -> Scores {
            func add(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 + $1 } }
            return Scores(kDistance: add(kDistance, other.kDistance), slof: add(slof, other.slof),
                          lid: add(lid, other.lid), dao: add(dao, other.dao))
        }

        /// Every score times `factor`.
        func scaled(by factor: Double) -> Scores {
            Scores(kDistance: kDistance.map { $0 * factor }, slof: slof.map { $0 * factor },
                   lid: lid.map { $0 * factor }, dao: dao.map { $0 * factor })
        }
    }

    /// Scores `features` against `reference`.
    ///
    /// Distances are computed in blocks of `blockRows` query rows (fewer when `M` is large: at most
    /// 2^25 distances per block) as float64 matrix products on libtorch (`|a|² + |b|² − 2a·b`), the
    /// k nearest by `topk`; memory is one block of distances, never `M × M` or `N × M`.
    ///
    /// - Parameters:
    ///   - features: `[N, D]` float32 query features (e.g. normalised image embeddings).
    ///   - reference: `[M, D]` float32 reference features, `M ≥ k + 1`.
    ///   - k: neighbours (≥ 2).
    ///   - referenceIndex: for each query row, the index of the same point in `reference` (which is
    ///     then not its own neighbour), or nil; nil for all when `nil` (e.g. test-time screening
    ///     against a clean reference set).
    /// - Throws: ``DetectionError/invalidSetting(_:)`` when the sizes do not fit.
    public static func scores(features: FeatureMatrix, reference: FeatureMatrix, k: Int, referenceIndex: [Int?]? = nil,
                              blockRows: Int = 4096) throws -> Scores {
        let m = reference.rows, n = features.rows
        guard features.dimension == reference.dimension else {
            throw DetectionError.invalidSetting("local-outlier scores: features have \(features.dimension) dimensions, the reference \(reference.dimension)")
        }
        guard k >= 2 else { throw DetectionError.invalidSetting("local-outlier scores need k ≥ 2 neighbours, got \(k)") }
        guard m >= k + 1 else {
            throw DetectionError.invalidSetting("local-outlier scores with k = \(k) need a reference set of at least \(k + 1) points, got \(m)")
        }
        if let referenceIndex {
            guard referenceIndex.count == n else {
                throw DetectionError.invalidSetting("local-outlier scores: \(referenceIndex.count) reference indices for \(n) rows")
            }
            if let bad = referenceIndex.compactMap({ $0 }).first(where: { !(0..<m).contains($0) }) {
                throw DetectionError.invalidSetting("local-outlier scores: reference index \(bad) outside 0..<\(m)")
            }
        }
        let ref = reference.tensor(rows: 0..<m).to(.float64)
        let refNorm = ref.square().sum(dim: 1)  // [M]
        // At most 2^25 distances (256 MB of doubles) per block, whatever the reference size.
        let block = max(1, min(blockRows, (1 << 25) / m))
        // The reference points among themselves (each excluding itself), in blocks.
        var refK: [Double] = [], refLID: [Double] = []
        for start in stride(from: 0, to: m, by: block) {
            let end = min(m, start + block)
            let rows = ref.narrowed(dim: 0, start: start, length: end - start)
            let (distances, _) = nearest(rows, queryNorm: rows.square().sum(dim: 1), reference: ref, referenceNorm: refNorm, k: k,
                                         exclude: (start..<end).map { Optional($0) })
            refK += distances.map { $0[k - 1] }
            refLID += distances.map { lid($0) }
        }

        var out = Scores(kDistance: [], slof: [], lid: [], dao: [])
        out.kDistance.reserveCapacity(n); out.slof.reserveCapacity(n); out.lid.reserveCapacity(n); out.dao.reserveCapacity(n)
        for start in stride(from: 0, to: n, by: block) {
            let end = min(n, start + block)
            let q = features.tensor(rows: start..<end).to(.float64)
            let exclude = (start..<end).map { referenceIndex?[$0] ?? nil }
            let (distances, indices) = nearest(q, queryNorm: q.square().sum(dim: 1), reference: ref, referenceNorm: refNorm, k: k, exclude: exclude)
            for (d, idx) in zip(distances, indices) {
                let dk = d[k - 1]
                var slof = 0.0, dao = 0.0
                for o in idx {
                    slof += dk / refK[o]
                    dao += refLID[o] * log(dk / refK[o])
                }
                out.kDistance.append(dk)
                out.slof.append(slof / Double(k))
                out.lid.append(lid(d))
                out.dao.append(dao / Double(k))
            }
        }
        return out
    }

    /// The k smallest distances (ascending, floored at ``minimumDistance``) and their reference
    /// indices for every query row; `exclude[i]` is left out of row i's candidates.
    static func nearest(_ query: Tensor, queryNorm: Tensor, reference: Tensor, referenceNorm: Tensor, k: Int,
                        exclude: [Int?]) -> (distances: [[Double]], indices: [[Int]]) {
        let b = query.size(0), m = reference.size(0)
        var squared = queryNorm.reshaped([b, 1]) + referenceNorm.reshaped([1, m]) - query.matmul(reference.t) * 2
        if exclude.contains(where: { $0 != nil }) {
            var mask = [Double](repeating: 0, count: b * m)
            for (i, j) in exclude.enumerated() { if let j { mask[i * m + j] = .infinity } }
            squared = squared + Tensor(mask, shape: [b, m])
        }
        let (values, indices) = squared.topk(k, dim: 1, largest: false, sorted: true)
        let v = values.clamped(min: minimumDistance * minimumDistance).sqrt().toArray(as: Double.self)
        let ix = indices.toArray(as: Int64.self)
        var distances: [[Double]] = [], neighbours: [[Int]] = []
        distances.reserveCapacity(b); neighbours.reserveCapacity(b)
        for i in 0..<b {
            distances.append(Array(v[(i * k)..<((i + 1) * k)]))
            neighbours.append(ix[(i * k)..<((i + 1) * k)].map(Int.init))
        }
        return (distances, neighbours)
    }

    /// The MLE of local intrinsic dimensionality from ascending distances `d` (k = `d.count`).
    static func lid(_ d: [Double]) -> Double {
        let dk = d[d.count - 1]
        var sum = 0.0
        for x in d { sum += log(x / dk) }
        let value = -Double(d.count) / sum
        return sum < 0 ? min(value, maximumLID) : maximumLID
    }

    /// A seeded random choice of `min(count, rows)` distinct indices in `0..<rows`, ascending.
    public static func referenceRows(rows: Int, count: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed)
        var all = Array(0..<rows)
        let m = min(count, rows)
        for i in 0..<m {  // partial Fisher–Yates
            let j = i + Int(rng.next() % UInt64(rows - i))
            all.swapAt(i, j)
        }
        return Array(all.prefix(m)).sorted()
    }
}
