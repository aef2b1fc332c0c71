import Datasets
import Foundation
import Testing
@testable import Attacks

/// A small image whose every pixel differs: channel c of (x, y) is `(x * 7 + y * 13 + c * 50 + seed) % 256`.
func gradientImage(width: Int, height: Int, seed: Int = 0) -> RGBImage {
    var pixels: [UInt8] = []
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<3 { pixels.append(UInt8((x * 7 + y * 13 + c * 50 + seed) % 256)) }
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// The pixels at which two images differ, as (x, y).
func changedPixels(_ a: RGBImage, _ b: RGBImage) -> Set<[Int]> {
    var out = Set<[Int]>()
    for y in 0..<a.height {
        for x in 0..<a.width where a[x, y] != b[x, y] { out.insert([x, y]) }
    }
    return out
}

func pixelsOf(_ rects: [PixelRect]) -> Set<[Int]> {
    var out = Set<[Int]>()
    for r in rects {
        for y in r.y..<(r.y + r.height) { for x in r.x..<(r.x + r.width) { out.insert([x, y]) } }
    }
    return out
}

@Suite struct TriggerTests {
    @Test func patchPaintsExactlyTheBottomRightSquare() {
        let image = gradientImage(width: 6, height: 5)
        let patch = PatchTrigger(size: .pixels(2), color: TriggerColor(red: 1, green: 2, blue: 3), position: .bottomRight)
        let out = patch.apply(to: image, index: 0)
        for y in 0..<5 {
            for x in 0..<6 {
                if x >= 4 && y >= 3 {
                    #expect(out[x, y] == (1, 2, 3), "(\(x), \(y))")
                } else {
                    #expect(out[x, y] == image[x, y], "(\(x), \(y)) changed")
                }
            }
        }
    }

    @Test(arguments: [
        (PatchPosition.topLeft, [[0, 0], [1, 0], [0, 1], [1, 1]]),
        (.topRight, [[5, 0], [6, 0], [5, 1], [6, 1]]),
        (.bottomLeft, [[0, 3], [1, 3], [0, 4], [1, 4]]),
        (.fourCorners, [[0, 0], [1, 0], [0, 1], [1, 1], [5, 0], [6, 0], [5, 1], [6, 1],
                        [0, 3], [1, 3], [0, 4], [1, 4], [5, 3], [6, 3], [5, 4], [6, 4]]),
    ])
    func patchPositions(position: PatchPosition, expected: [[Int]]) {
        let image = RGBImage(width: 7, height: 5, fill: (10, 20, 30))
        let out = PatchTrigger(size: .pixels(2), position: position).apply(to: image, index: 0)
        #expect(changedPixels(image, out) == Set(expected))
        for p in expected { #expect(out[p[0], p[1]] == (255, 255, 255)) }
    }

    @Test func patchSizeScalesWithTheImage() {
        let study = TriggerLength.fraction(50.0 / 224.0)
        #expect(study.resolved(side: 224) == 50)
        #expect(study.resolved(side: 32) == 7)     // 7.14
        #expect(study.resolved(side: 28) == 6)     // 6.25
        #expect(study.resolved(side: 2) == 1)      // never empty
        #expect(TriggerLength.pixels(50).resolved(side: 32) == 32)  // never larger than the image
        // On a landscape image the side follows the shorter side.
        let rects = PatchTrigger().regions(width: 448, height: 224, index: 0)
        #expect(rects == [PixelRect(x: 398, y: 174, width: 50, height: 50)])
        #expect(TriggerLength(parsing: "50") == .pixels(50))
        #expect(TriggerLength(parsing: "0.25") == .fraction(0.25))
        #expect(TriggerLength(parsing: "25%") == .fraction(0.25))
        #expect(TriggerLength(parsing: "-3") == nil && TriggerLength(parsing: "1.5") == nil)
    }

    @Test func colourParsing() {
        #expect(TriggerColor(parsing: "white") == .white)
        #expect(TriggerColor(parsing: "#FF8000") == TriggerColor(red: 255, green: 128, blue: 0))
        #expect(TriggerColor(parsing: "1, 2,3") == TriggerColor(red: 1, green: 2, blue: 3))
        #expect(TriggerColor(parsing: "#12345") == nil && TriggerColor(parsing: "1,2,300") == nil)
    }

    @Test func randomPatchPositionsComeFromSeedAndIndex() {
        let image = RGBImage(width: 20, height: 16, fill: (0, 0, 0))
        let patch = PatchTrigger(size: .pixels(3), position: .random, seed: 9)
        var positions = Set<PixelRect>()
        for index in 0..<40 {
            let rects = patch.regions(width: 20, height: 16, index: index)
            #expect(rects.count == 1)
            let r = rects[0]
            #expect(r.x >= 0 && r.y >= 0 && r.x + 3 <= 20 && r.y + 3 <= 16)
            #expect(changedPixels(image, patch.apply(to: image, index: index)) == pixelsOf(rects))
            #expect(patch.regions(width: 20, height: 16, index: index) == rects, "not reproducible")
            positions.insert(r)
        }
        #expect(positions.count > 10, "positions do not vary with the index")
        var other = patch
        other.seed = 10
        #expect((0..<10).contains { other.regions(width: 20, height: 16, index: $0) != patch.regions(width: 20, height: 16, index: $0) })
    }

    @Test func noisePatchChangesOnlyItsSquareAndIsReproducible() {
        let image = RGBImage(width: 12, height: 10, fill: (128, 64, 200))
        let trigger = NoisePatchTrigger(size: .pixels(4), position: .random, seed: 3)
        for index in 0..<8 {
            let out = trigger.apply(to: image, index: index)
            let region = pixelsOf(trigger.regions(width: 12, height: 10, index: index))
            #expect(region.count == 16)
            #expect(changedPixels(image, out).isSubset(of: region))
            #expect(changedPixels(image, out).count >= 12, "noise barely changes the patch")
            #expect(out == trigger.apply(to: image, index: index))
            #expect(out != trigger.apply(to: image, index: index + 100))
        }
        // Mean + N(0,1) on the 0…1 scale: on mid-grey, P(|Z| > 0.5) ≈ 62% of values clip to 0 or 255.
        let grey = RGBImage(width: 64, height: 64, fill: (128, 128, 128))
        let big = NoisePatchTrigger(size: .pixels(64), position: .topLeft, seed: 1).apply(to: grey, index: 0)
        let clipped = big.pixels.filter { $0 == 0 || $0 == 255 }.count
        let share = Double(clipped) / Double(big.pixels.count)
        #expect(share > 0.57 && share < 0.67, "clipped share \(share)")
    }

    @Test func blendedStaysWithinTheBlendBounds() {
        let image = gradientImage(width: 9, height: 7)
        let trigger = BlendedTrigger(weight: 0.2, seed: 5)
        let out = trigger.apply(to: image, index: 2)
        for i in 0..<image.pixels.count {
            let base = 0.8 * Double(image.pixels[i])
            #expect(Double(out.pixels[i]) >= base.rounded(.down) && Double(out.pixels[i]) <= (base + 51).rounded(.up))
        }
        #expect(out == trigger.apply(to: image, index: 2))
        #expect(out != trigger.apply(to: image, index: 3), "noise is not fresh per image")
        #expect(BlendedTrigger(weight: 0, seed: 5).apply(to: image, index: 2) == image)
        // White noise at weight 1 averages 127.5.
        let noise = BlendedTrigger(weight: 1, seed: 5).apply(to: RGBImage(width: 50, height: 50, fill: (0, 0, 0)), index: 0)
        let mean = Double(noise.pixels.reduce(0) { $0 + Int($1) }) / Double(noise.pixels.count)
        #expect(abs(mean - 127.5) < 4)
    }

    @Test func sigIsTheHorizontalSinusoid() {
        // W = 24, f = 6: sin(2π·6·j/24) = sin(πj/2) = 0, 1, 0, −1, …; 0.8·100 + 0.2·60·s = 80, 92, 80, 68.
        let image = RGBImage(width: 24, height: 3, fill: (100, 100, 100))
        let out = SIGTrigger().apply(to: image, index: 0)
        let expected: [UInt8] = [80, 92, 80, 68]
        for y in 0..<3 {
            for x in 0..<24 {
                let v = expected[x % 4]
                #expect(out[x, y] == (v, v, v), "(\(x), \(y))")
            }
        }
        // Clipping at 0: 0.8·0 − 12 → 0.
        #expect(SIGTrigger().apply(to: RGBImage(width: 24, height: 1, fill: (0, 0, 0)), index: 0)[3, 0] == (0, 0, 0))
    }

    @Test func wanetWithAZeroFieldIsTheIdentity() {
        let image = gradientImage(width: 9, height: 7)
        let trigger = WaNetTrigger(gridSize: 4, strength: 0.5, field: Array(repeating: 0, count: 32))
        #expect(trigger.apply(to: image, index: 0) == image)
    }

    @Test func wanetConstantFieldShiftsByExactPixels() {
        // H = W = 5: offset s·c/H in normalised units = s·c/5·(W−1)/2 px = 1 px for s·c = 2.5.
        let image = gradientImage(width: 5, height: 5)
        let trigger = WaNetTrigger(gridSize: 3, strength: 2.5, field: Array(repeating: 1, count: 18))
        let out = trigger.apply(to: image, index: 0)
        for y in 0..<5 {
            for x in 0..<5 {
                #expect(out[x, y] == image[min(4, x + 1), min(4, y + 1)], "(\(x), \(y))")
            }
        }
        // Half a pixel to the left only: the mean of two neighbours (which differ by an even
        // amount, so the mean is a whole number).
        var evenPixels: [UInt8] = []
        for y in 0..<5 { for x in 0..<5 { evenPixels += [UInt8(x * 20 + y * 2), UInt8(200 - x * 40), UInt8(y * 30)] } }
        let even = RGBImage(width: 5, height: 5, pixels: evenPixels)
        var field = [Double](repeating: 0, count: 18)
        for i in stride(from: 0, to: 18, by: 2) { field[i] = -1 }
        let half = WaNetTrigger(gridSize: 3, strength: 1.25, field: field).apply(to: even, index: 0)
        for y in 0..<5 {
            for x in 1..<5 {
                let a = even[x - 1, y], b = even[x, y]
                #expect(half[x, y] == ((a.0 + b.0) / 2, (a.1 / 2 + b.1 / 2), b.2), "(\(x), \(y))")
            }
            #expect(half[0, y] == even[0, y], "the grid is clamped at the border")
        }
    }

    @Test func wanetRandomFieldIsSmoothSeededAndNormalised() {
        let a = WaNetTrigger.random(gridSize: 4, strength: 0.5, seed: 11)
        #expect(a.field.count == 32)
        let meanAbs = a.field.reduce(0) { $0 + abs($1) } / 32
        #expect(abs(meanAbs - 1) < 1e-12)
        #expect(a == WaNetTrigger.random(gridSize: 4, strength: 0.5, seed: 11))
        #expect(a != WaNetTrigger.random(gridSize: 4, strength: 0.5, seed: 12))
        // At s = 0.5 on 32×32 the displacement is under a pixel or so: the image changes a little.
        let image = gradientImage(width: 32, height: 32)
        let out = a.apply(to: image, index: 0)
        #expect(out != image)
        let meanDiff = zip(out.pixels, image.pixels).map { abs(Int($0) - Int($1)) }.reduce(0, +) / out.pixels.count
        #expect(meanDiff < 20)
        #expect(out == a.apply(to: image, index: 99), "the warp is the same for every image")
    }

    @Test func triggersRoundTripThroughJSONAndValidate() throws {
        let triggers: [Trigger] = [
            .patch(PatchTrigger(size: .pixels(3), color: TriggerColor(red: 9, green: 8, blue: 7), position: .fourCorners, seed: 4)),
            .noisePatch(NoisePatchTrigger(size: .fraction(0.1), position: .random, seed: 8)),
            .blended(BlendedTrigger(weight: 0.3, seed: 2)),
            .sig(SIGTrigger(amplitude: 40, frequency: 3, weight: 0.25)),
            .wanet(.random(gridSize: 3, strength: 1, seed: 1)),
        ]
        for trigger in triggers {
            let data = try JSONEncoder().encode(trigger)
            #expect(try JSONDecoder().decode(Trigger.self, from: data) == trigger)
            try trigger.validate()
        }
        #expect(throws: AttackError.self) { try Trigger.blended(BlendedTrigger(weight: 1.5)).validate() }
        #expect(throws: AttackError.self) { try Trigger.wanet(WaNetTrigger(gridSize: 3, strength: 1, field: [1])).validate() }
        #expect(throws: AttackError.self) { try Trigger.patch(PatchTrigger(size: .pixels(0))).validate() }
    }
}
