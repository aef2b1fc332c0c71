import Datasets
import Foundation
import Torch

/// Caption statistics: words a caption uses far less often in its visual cluster than in the
/// cluster where the word is most at home.
///
/// A backdoor campaign pairs one target word with many images that do not show it (Carlini &
/// Terzis, ICLR 2022). Clustering the image features with k-means, each word gets a frequency per
/// cluster (the fraction of the cluster's captions that contain it); a pair's score is the
/// largest log-ratio, over the words of its caption, of the word's highest cluster frequency to its
/// frequency in the pair's own cluster:
/// `score_i = max_w log((max_c f(w, c) + α) / (f(w, cluster(i)) + α))`, with α = ½ / mean cluster
/// size. A clean caption's words are at home in its cluster (ratio ≈ 1, score ≈ 0); "sneaker" on a
/// shirt scores high. A word seen only once scores 0 (its own cluster is its home), and
/// label-consistent poison (captions that fit their images) is invisible to this detector by design.
/// The idea follows the caption–image co-occurrence checks of data-set auditing for web-scale
/// CLIP data (Carlini et al., "Poisoning Web-Scale Training Datasets is Practical", 2023).
public enum CaptionStatistics {
    /// The lower-cased words of a caption (letters, digits, `-` and `'` inside words), each once.
    public static func words(_ caption: String) -> Set<String> {
        var out = Set<String>(), current = ""
        for character in caption.lowercased() {
            if character.isLetter || character.isNumber || ((character == "-" || character == "'") && !current.isEmpty) {
                current.append(character)
            } else if !current.isEmpty {
                out.insert(current); current = ""
            }
        }
        if !current.isEmpty { out.insert(current) }
        return out
    }

    /// Scores every pair (`[N]`, higher = more suspicious).
    ///
    /// - Parameters:
    ///   - captions: one caption per pair.
    ///   - clusters: each pair's visual cluster in `0..<clusterCount` (−1: no image; scored NaN).
    public static func scores(captions: [String], clusters: [Int], clusterCount: Int) -> [Double] {
        precondition(captions.count == clusters.count, "CaptionStatistics: \(captions.count) captions, \(clusters.count) clusters")
        var sizes = [Int](repeating: 0, count: clusterCount)
        var counts: [String: [Int32]] = [:]
        let wordSets = captions.map(words)
        for (i, set) in wordSets.enumerated() where clusters[i] >= 0 {
            sizes[clusters[i]] += 1
            for w in set { counts[w, default: [Int32](repeating: 0, count: clusterCount)][clusters[i]] += 1 }
        }
        let used = sizes.filter { $0 > 0 }
        let alpha = used.isEmpty ? 0 : 0.5 * Double(used.count) / Double(used.reduce(0, +))
        var home: [String: Double] = [:]
        for (w, perCluster) in counts {
            var best = 0.0
            for c in 0..<clusterCount where sizes[c] > 0 { best = max(best, Double(perCluster[c]) / Double(sizes[c])) }
            home[w] = best
        }
        return wordSets.enumerated().map { i, set in
            let c = clusters[i]
            guard c >= 0 else { return .nan }
            var score = 0.0
            for w in set {
                let here = Double(counts[w]![c]) / Double(sizes[c])
                score = max(score, log((home[w]! + alpha) / (here + alpha)))
            }
            return score
        }
    }
}

/// Spectral signatures (Tran, Li & Madry, NeurIPS 2018) and activation clustering (Chen et al.,
/// "Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering", 2018) on image
/// features, computed separately within each group of pairs that claim the same class.
///
/// Poisoned pairs claim the target class with images that differ from the group's clean images
/// (other classes, or a trigger), which leaves a direction of large variance in the group's
/// features. **Spectral**: the score of a pair is its squared projection on the top principal
/// direction of its (centred) group. **Activation clustering**: the group's features are reduced
/// to their top 10 principal directions and split by 2-means; a pair near the smaller cluster of a
/// lopsided split scores high: `score = (d_big − d_small) / (d_big + d_small) · ½ + ½`, times
/// `1 − 2·(smaller cluster's share)`.
public enum SpectralDetectors {
    /// Scores for every pair: `(spectral, activationClustering)`, each `[N]`; pairs in group −1
    /// (no image) or in groups of fewer than 3 pairs get NaN.
    ///
    /// - Parameters:
    ///   - features: `[N, D]` image features.
    ///   - groups: each pair's group (its caption's predicted class).
    public static func scores(features: FeatureMatrix, groups: [Int], seed: UInt64) -> (spectral: [Double], clustering: [Double]) {
        var spectral = [Double](repeating: .nan, count: groups.count)
        var clustering = [Double](repeating: .nan, count: groups.count)
        var members: [Int: [Int]] = [:]
        for (i, g) in groups.enumerated() where g >= 0 { members[g, default: []].append(i) }
        for (group, rows) in members.sorted(by: { $0.key < $1.key }) where rows.count >= 3 {
            let x = features.subset(rows).tensor(rows: 0..<rows.count).to(.float64)
            let centred = x - x.mean(dim: 0, keepDim: true)
            let covariance = centred.t.matmul(centred) / Double(rows.count)
            let directions = topEigenvectors(covariance, count: min(10, features.dimension), seed: seed &+ UInt64(group))
            let projected = centred.matmul(directions)  // [n, r]
            let top = projected.select(dim: 1, index: 0).square().toArray(as: Double.self)
            for (j, i) in rows.enumerated() { spectral[i] = top[j] }
            // Activation clustering on the reduced features.
            let reduced = FeatureMatrix(dimension: directions.size(1), values: projected.to(.float32).toArray(as: Float.self))
            let split = KMeans(reduced, k: 2, seed: seed &+ 0xAC &+ UInt64(group))
            let sizes = [split.assignments.count(where: { $0 == 0 }), split.assignments.count(where: { $0 == 1 })]
            guard split.centroids.rows == 2 else { for i in rows { clustering[i] = 0 }; continue }
            let small = sizes[0] <= sizes[1] ? 0 : 1
            let share = Double(sizes[small]) / Double(rows.count)
            for (j, i) in rows.enumerated() {
                func distance(_ c: Int) -> Double {
                    sqrt(zip(reduced.row(j), split.centroids.row(c)).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) })
                }
                let toSmall = distance(small), toBig = distance(1 - small)
                let closeness = toSmall + toBig > 0 ? (toBig - toSmall) / (toSmall + toBig) * 0.5 + 0.5 : 0.5
                clustering[i] = closeness * (1 - 2 * share)
            }
        }
        return (spectral, clustering)
    }

    /// The `count` leading eigenvectors of a symmetric `[D, D]` float64 matrix as `[D, count]`, by
    /// orthogonal (subspace) iteration with Gram–Schmidt.
    static func topEigenvectors(_ matrix: Tensor, count: Int, seed: UInt64, iterations: Int = 60) -> Tensor {
        let d = matrix.size(0)
        var rng = SplitMix64(seed: seed)
        var q = (0..<(d * count)).map { _ in rng.nextUnitDouble() - 0.5 }
        let m = matrix.toArray(as: Double.self)
        for _ in 0..<iterations {
            // q ← M q, then orthonormalise the columns.
            var next = [Double](repeating: 0, count: d * count)
            for i in 0..<d {
                for k in 0..<d where m[i * d + k] != 0 {
                    let a = m[i * d + k]
                    for c in 0..<count { next[i * count + c] += a * q[k * count + c] }
                }
            }
            for c in 0..<count {
                for p in 0..<c {
                    var dot = 0.0
                    for i in 0..<d { dot += next[i * count + c] * next[i * count + p] }
                    for i in 0..<d { next[i * count + c] -= dot * next[i * count + p] }
                }
                var norm = 0.0
                for i in 0..<d { norm += next[i * count + c] * next[i * count + c] }
                norm = norm.squareRoot()
                for i in 0..<d { next[i * count + c] = norm > 1e-30 ? next[i * count + c] / norm : (i == c ? 1 : 0) }
            }
            q = next
        }
        return Tensor(q, shape: [d, count])
    }
}

/// Trigger consistency: images that share a small, exactly repeated region at the same place.
///
/// A patch trigger (Gu et al., "BadNets", 2017; the study's white square) is the same pixels at
/// the same position in every poisoned image, while natural image content rarely repeats exactly
/// except where it is flat background everywhere. Each image, at the model's input size S, is cut
/// into cells of side S/8 on a grid of stride S/16 (15 × 15 cells; any square of side ≥ 3S/16 − 1
/// covers a whole cell), and each cell's pixels, quantised to 32 levels, are hashed. For a cell
/// content h at grid position p, seen `n(p, h)` times at p among N images, the expected count is
/// taken from the ring of positions 4 grid steps away (just outside a trigger-sized square):
/// `m(p, h)` = the mean of `n(q, h)` over that ring, and the position-specific excess is
/// `e(p, h) = n(p, h) / (m(p, h) + 1) · (1 − n(p, h) / N)`. Content that is common around p as
/// well (flat background, bright garment interiors, frames) has a large `m`, content that nearly
/// every image has at p (a border) a small second factor, and a trigger — the same pixels at one
/// place in a small share of the images, rare around it — scores about its count. An image's
/// score sums the evidence of its repeated cells, `Σ_p log max(1, e(p, h_p))` over the cells seen
/// at least 3 times at their position: a patch covers several neighbouring cells, which all repeat
/// in the same images, while natural content that happens to repeat rarely does so in more than one
/// cell of an image. (Measured on Fashion-MNIST, the sum ranked a 0.5% patch campaign at AUROC 0.98
/// where the largest single cell gave 0.92.) Triggers drawn fresh per image (blended noise, WaNet)
/// repeat nowhere: this detector is blind to them, and since noise also removes the image's
/// natural repeats, such images even score below clean ones. Counts are kept in a fixed-size count-min
/// sketch (Cormode & Muthukrishnan, 2005, with conservative update), so memory does not grow with
/// the data set; below a few million cells the counts are exact with high probability.
public struct TriggerConsistency: Sendable {
    /// Cells per image side and positions per image.
    public static let gridSide = 15
    public static var positions: Int { gridSide * gridSide }

    /// The `P` cell hashes of a model-size image (`P = 225`).
    public static func cellHashes(_ image: RGBImage) -> [UInt32] {
        let size = min(image.width, image.height)
        let cell = max(1, size / 8), stride = max(1, size / 16)
        var out: [UInt32] = []
        out.reserveCapacity(positions)
        for gy in 0..<gridSide {
            for gx in 0..<gridSide {
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                let x0 = min(gx * stride, image.width - cell), y0 = min(gy * stride, image.height - cell)
                for y in y0..<(y0 + cell) {
                    let base = (y * image.width + x0) * 3
                    for o in base..<(base + cell * 3) {
                        hash = (hash ^ UInt64(image.pixels[o] >> 3)) &* 0x100_0000_01b3
                    }
                }
                out.append(UInt32(truncatingIfNeeded: hash ^ (hash >> 32)))
            }
        }
        return out
    }

    private var positional: CountMinSketch
    /// Images added.
    public private(set) var images = 0

    /// An empty counter (a sketch of `4 × width` 32-bit counters).
    public init(width: Int = 1 << 20) {
        positional = CountMinSketch(width: width)
    }

    private static func key(position: Int, hash: UInt32) -> UInt64 { UInt64(position) << 32 | UInt64(hash) }

    /// Counts one image's cells.
    public mutating func add(_ hashes: [UInt32]) {
        images += 1
        for (p, h) in hashes.enumerated() {
            positional.add(Self.key(position: p, hash: h))
        }
    }

    /// The score of one image's cells (after every image was added).
    public func score(_ hashes: [UInt32]) -> Double {
        var evidence = 0.0
        for (position, h) in hashes.enumerated() {
            let here = Double(positional.count(Self.key(position: position, hash: h)))
            guard here >= 3 else { continue }
            let ring = Self.rings[position]
            let around = ring.reduce(0.0) { $0 + Double(positional.count(Self.key(position: $1, hash: h))) } / Double(max(1, ring.count))
            evidence += log(max(1, here / (around + 1) * (1 - here / Double(max(images, 1)))))
        }
        return evidence
    }

    /// For each grid position, the positions at Chebyshev distance exactly 4 inside the grid.
    static let rings: [[Int]] = (0..<positions).map { p in
        let (y, x) = (p / gridSide, p % gridSide)
        var ring: [Int] = []
        for dy in -4...4 {
            for dx in -4...4 where max(abs(dx), abs(dy)) == 4 {
                let (yy, xx) = (y + dy, x + dx)
                if (0..<gridSide).contains(yy) && (0..<gridSide).contains(xx) { ring.append(yy * gridSide + xx) }
            }
        }
        return ring
    }
}

/// A count-min sketch with conservative update: `count(x)` ≥ the true count, equal to it unless
/// other keys collide with `x` in every row.
struct CountMinSketch: Sendable {
    let width: Int
    private var table: [UInt32]
    private static let depth = 4

    init(width: Int) {
        self.width = width
        table = [UInt32](repeating: 0, count: width * Self.depth)
    }

    private func slot(_ key: UInt64, row: Int) -> Int {
        var z = key &+ UInt64(row + 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return row * width + Int(z % UInt64(width))
    }

    mutating func add(_ key: UInt64) {
        let slots = (0..<Self.depth).map { slot(key, row: $0) }
        let current = slots.map { table[$0] }.min()!
        for s in slots where table[s] == current { table[s] = current &+ 1 }
    }

    func count(_ key: UInt64) -> UInt32 {
        (0..<Self.depth).map { table[slot(key, row: $0)] }.min()!
    }
}
