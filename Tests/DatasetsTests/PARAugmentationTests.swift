import Foundation
import Testing
@testable import Datasets

/// PAR's image view: the rectified noise and the CutOut square (Sources/Datasets/Images/PARAugmentation.swift).
@Suite struct PARAugmentationTests {
    static func grey(_ side: Int, _ value: UInt8 = 100) -> RGBImage { RGBImage(width: side, height: side, fill: (value, value, value)) }

    @Test func noiseOnlyBrightensWithTheRectifiedGaussiansMean() {
        let image = Self.grey(64)
        var rng = SplitMix64(seed: 3)
        let noisy = RectifiedGaussianNoise(std: 0.2, p: 1).apply(image, rng: &rng)
        let deltas = zip(noisy.pixels, image.pixels).map { Double($0) - Double($1) }
        #expect(deltas.allSatisfy { $0 >= 0 })
        // max(0, n), n ~ N(0, 0.2²), on the 0…255 scale: mean 0.2·255/√(2π) ≈ 20.35; half the
        // values (and those under half a step) unchanged.
        let n = Double(deltas.count)
        let mean = deltas.reduce(0, +) / n
        let unchanged = Double(deltas.filter { $0 == 0 }.count) / n
        #expect(abs(mean - 0.2 * 255 / (2 * Double.pi).squareRoot()) < 1.0, "mean \(mean)")
        #expect(abs(unchanged - 0.504) < 0.03, "unchanged \(unchanged)")
        // Clipped at 255.
        var rng2 = SplitMix64(seed: 3)
        #expect(RectifiedGaussianNoise(std: 0.2, p: 1).apply(Self.grey(8, 250), rng: &rng2).pixels.allSatisfy { $0 >= 250 })
    }

    @Test func noiseProbabilityAndZeroStd() {
        let image = Self.grey(16)
        var rng = SplitMix64(seed: 1)
        #expect(RectifiedGaussianNoise(std: 0.2, p: 0).apply(image, rng: &rng) == image)
        #expect(RectifiedGaussianNoise(std: 0, p: 1).apply(image, rng: &rng) == image)
        // p = 0.5: about half the images get noise.
        var changed = 0
        for _ in 0..<400 where RectifiedGaussianNoise(std: 0.2, p: 0.5).apply(image, rng: &rng) != image { changed += 1 }
        #expect((160...240).contains(changed), "\(changed) of 400")
    }

    @Test(arguments: [(32, 2...3), (224, 16...22)])
    func cutOutIsOneSquareOfTheMeanColour(side: Int, sides: ClosedRange<Int>) {
        let image = Self.grey(side)
        var rng = SplitMix64(seed: 7)
        for _ in 0..<50 {
            let cut = CutOut(area: 0.005...0.01, p: 1).apply(image, rng: &rng)
            var changed: [(x: Int, y: Int)] = []
            for y in 0..<side {
                for x in 0..<side where cut.pixels[(y * side + x) * 3] != 100 {
                    changed.append((x, y))
                    let at = (y * side + x) * 3
                    #expect(Array(cut.pixels[at..<(at + 3)]) == CutOut.clipMeanColour)
                }
            }
            let xs = changed.map(\.x), ys = changed.map(\.y)
            let width = xs.max()! - xs.min()! + 1, height = ys.max()! - ys.min()! + 1
            #expect(width == height && width * height == changed.count && sides.contains(width), "\(width)×\(height), \(changed.count) px")
        }
        #expect(CutOut.clipMeanColour == [123, 117, 104])
        #expect(CutOut(area: 0.005...0.01, p: 0).apply(image, rng: &rng) == image)
    }

    @Test func parViewIsSeededAndSized() {
        let image = RGBImage(width: 28, height: 28, fill: (40, 80, 120))
        let view = AugmentationPipeline.parView(size: 32)
        var a = SplitMix64(seed: 5), b = SplitMix64(seed: 5)
        let first = view.apply(image, rng: &a), second = view.apply(image, rng: &b)
        #expect(first == second && first.width == 32 && first.height == 32)
    }
}
