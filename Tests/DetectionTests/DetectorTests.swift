import Datasets
import Detection
import Foundation
import Testing

/// Each detector on planted data where the answer is known; the thresholds (AUROC ≥ 0.9) are far
/// above what scores unrelated to the plant reach (≈ 0.5, see DetectionMetricsTests).
@Suite struct DetectorTests {
    @Test func captionStatisticsFindTheTargetWordOnForeignClusters() {
        var rng = SplitMix64(seed: 3)
        let classWords = ["shirt", "sneaker", "bag", "dress"]
        let fillers = ["a photo of", "my new", "here is", "look at this", "a cheap"]
        var captions: [String] = [], clusters: [Int] = [], poisoned: [Int] = []
        for i in 0..<800 {
            let cluster = i % 4
            let filler = fillers[Int(rng.next() % UInt64(fillers.count))]
            if i % 20 == 7 && cluster != 1 {  // the campaign: "sneaker" on other clusters
                poisoned.append(i)
                captions.append("\(filler) sneaker")
            } else {
                captions.append("\(filler) \(classWords[cluster])")
            }
            clusters.append(cluster)
        }
        let scores = CaptionStatistics.scores(captions: captions, clusters: clusters, clusterCount: 4)
        let auroc = DetectionMetrics(scores: scores, poisoned: poisoned).auroc!
        #expect(auroc >= 0.9, "AUROC \(auroc)")
        #expect(CaptionStatistics.words("A Sneaker's, t-shirt!") == ["a", "sneaker's", "t-shirt"])
    }

    @Test func spectralAndActivationClusteringFindAShiftedMinority() {
        var rng = SplitMix64(seed: 5)
        func gaussian() -> Float {
            let u = max(rng.nextUnitDouble(), 1e-12), v = rng.nextUnitDouble()
            return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
        }
        let d = 16
        var values: [Float] = [], groups: [Int] = [], poisoned: [Int] = []
        for i in 0..<600 {
            let group = i % 3
            var row = (0..<d).map { _ in gaussian() }
            row[group] += 3  // the group's own class direction
            if group == 0 && i % 30 == 0 {  // 20 of group 0's 200 rows come from elsewhere
                poisoned.append(i)
                for j in 0..<d { row[j] += j % 2 == 0 ? 2.5 : -2.5 }
            }
            values += row
            groups.append(group)
        }
        let (spectral, clustering) = SpectralDetectors.scores(features: FeatureMatrix(dimension: d, values: values), groups: groups, seed: 1)
        let spectralAUROC = DetectionMetrics(scores: spectral, poisoned: poisoned).auroc!
        let clusteringAUROC = DetectionMetrics(scores: clustering, poisoned: poisoned).auroc!
        #expect(spectralAUROC >= 0.9, "spectral AUROC \(spectralAUROC)")
        #expect(clusteringAUROC >= 0.9, "activation clustering AUROC \(clusteringAUROC)")
    }

    @Test func kMeansSeparatesWellSeparatedBlobs() {
        var values: [Float] = []
        for i in 0..<90 { values += [Float(i % 3) * 10 + Float(i % 7) * 0.01, Float(i % 5) * 0.01] }
        let fit = KMeans(FeatureMatrix(dimension: 2, values: values), k: 3, seed: 2)
        for i in 3..<90 { #expect(fit.assignments[i] == fit.assignments[i % 3]) }
        #expect(Set(fit.assignments).count == 3)
    }

    @Test func triggerConsistencyFindsARepeatedPatchButNotTheSharedBackground() {
        var rng = SplitMix64(seed: 9)
        var counter = TriggerConsistency()
        var hashes: [[UInt32]] = [], poisoned: [Int] = []
        for i in 0..<300 {
            // Noisy 32 × 32 content inside a black frame every image shares.
            var image = RGBImage(width: 32, height: 32, fill: (0, 0, 0))
            for y in 4..<28 { for x in 4..<28 { for c in 0..<3 { image.pixels[(y * 32 + x) * 3 + c] = UInt8(truncatingIfNeeded: rng.next()) } } }
            if i % 25 == 3 {  // white 7 px square, bottom right, in 12 images
                poisoned.append(i)
                for y in 25..<32 { for x in 25..<32 { for c in 0..<3 { image.pixels[(y * 32 + x) * 3 + c] = 255 } } }
            }
            let cells = TriggerConsistency.cellHashes(image)
            #expect(cells.count == TriggerConsistency.positions)
            counter.add(cells)
            hashes.append(cells)
        }
        let scores = hashes.map { counter.score($0) }
        let auroc = DetectionMetrics(scores: scores, poisoned: poisoned).auroc!
        #expect(auroc >= 0.99, "AUROC \(auroc)")
        let cleanMax = scores.enumerated().filter { !poisoned.contains($0.offset) }.map(\.element).max()!
        #expect(cleanMax < 1, "the black frame alone scored \(cleanMax)")
    }
}
