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


/// `captions`: ``CaptionStatistics`` on a k-means clustering of the image features.
public struct CaptionStatisticsDetector: Detector {
    public static let name = "captions"
    public static let displayName = "caption statistics"
    public static let about = "words of the caption out of place in the pair's visual cluster (k-means of the image features)."
    /// k of the visual clustering.
    public static let clusters = DetectorOption(
        name: "clusters", help: "clusters of the image features for caption statistics", defaultValue: nil,
        automatic: "N/100 within 2…50", range: 2...100_000)
    public static let options = [clusters]
    public static let inputs: Set<DetectorInput> = [.imageFeatures, .captions]
    public static let direction = ScoreDirection.higher
    public static let threshold = ThresholdRule.robustZ(3.5)
    public static func columns(models: Int) -> [String] { ["captions"] }

    public static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> [[Double]] {
        let k = min(settings.value(clusters) ?? min(50, max(2, context.rows / 100)), context.rows)
        context.log("caption statistics: k-means of the image features into \(k) clusters")
        let visual = KMeans(context.features, k: k, seed: context.seed &+ 1)
        return [CaptionStatistics.scores(captions: context.captions, clusters: visual.assignments, clusterCount: visual.centroids.rows)]
    }
}
