import Datasets
import Foundation
import Testing
@testable import Attacks

/// PAR's structured triggers (Singh, Croce & Hein), checked against straightforward
/// re-implementations of PAR's pattern definitions (`backdoor/utils.py`) and against the
/// invariants of each pattern.
@Suite struct StructuredTriggerTests {
    @Test func badNetStripesPaintsSaturatedOnePixelStripesInsideItsPatchOnly() throws {
        let image = gradientImage(width: 224, height: 224)
        let trigger = BadNetStripesTrigger(seed: 9)
        let out = trigger.apply(to: image, index: 4)
        let rects = try #require(trigger.localRegions(width: 224, height: 224, index: 4))
        #expect(rects.count == 1 && rects[0].width == 16 && rects[0].height == 16)  // 16×16 at 224, as PAR
        #expect(changedPixels(image, out).isSubset(of: pixelsOf(rects)))
        let r = rects[0]
        var colours = Set<[UInt8]>()
        for x in r.x..<(r.x + r.width) {
            let top = out[x, r.y]
            let colour = [top.0, top.1, top.2]
            #expect(colour.allSatisfy { $0 == 0 || $0 == 255 }, "each channel is 0 or 255")
            for y in r.y..<(r.y + r.height) { #expect(out[x, y] == top, "a stripe is one colour over its height") }
            colours.insert(colour)
        }
        #expect(colours.count > 2, "stripes differ from each other")
        // Per image: drawn from the seed and the index, so evaluation redraws them exactly.
        #expect(trigger.apply(to: image, index: 4) == out)
        #expect(trigger.apply(to: image, index: 5) != out)
        // 2-px stripes: columns pair up.
        let wide = BadNetStripesTrigger(position: .topLeft, stripeWidth: 2, seed: 1).apply(to: image, index: 0)
        for x in stride(from: 0, to: 16, by: 2) { #expect(wide[x, 3] == wide[x + 1, 3]) }
    }

    @Test func blendedStripesBlendsPlusOrMinusOnePerColumnAndChannel() {
        let image = gradientImage(width: 40, height: 30)
        let w = 0.03
        let out = BlendedStripesTrigger(weight: w, seed: 3).apply(to: image, index: 2)
        var signs = Set<Double>()
        for x in 0..<40 {
            for c in 0..<3 {
                // The sign of the column is the one that reproduces every row.
                let fits = [-1.0, 1.0].filter { s in
                    (0..<30).allSatisfy { y in
                        let i = (y * 40 + x) * 3 + c
                        return out.pixels[i] == UInt8(min(255, max(0, (1 - w) * Double(image.pixels[i]) + w * 255 * s)).rounded())
                    }
                }
                #expect(!fits.isEmpty, "column \(x) channel \(c) is not a ±1 stripe blended at \(w)")
                signs.formUnion(fits)
            }
        }
        #expect(signs == [-1, 1])
        #expect(BlendedStripesTrigger(weight: w, seed: 3).apply(to: image, index: 3) != out)
        #expect(BlendedStripesTrigger(weight: 0, seed: 3).apply(to: image, index: 2) == image)
    }

    /// PAR's `create_triangle_pattern(224, 14)`, written as the reference writes it.
    static func referenceTriangles(size: Int, triangle: Int) -> [Double] {
        var tensor = [Double](repeating: 0, count: size * size)
        for i in 0..<(size / triangle) {
            for j in 0..<(size / triangle) {
                for x in 0..<triangle {
                    for y in 0..<triangle { tensor[(i * triangle + x) * size + j * triangle + y] = x >= y ? 0.4 : 0.8 }
                }
            }
        }
        return tensor
    }

    @Test func blendedTrianglesMatchesPARsPatternAt224() {
        let black = RGBImage(width: 224, height: 224, fill: (0, 0, 0))
        let out = BlendedTrianglesTrigger().apply(to: black, index: 0)
        let reference = Self.referenceTriangles(size: 224, triangle: 14)
        for row in 0..<224 {
            for col in 0..<224 {
                let expected = UInt8((0.15 * 255 * reference[row * 224 + col]).rounded())
                #expect(out[col, row] == (expected, expected, expected), "(\(col), \(row))")
            }
        }
        // Fixed pattern: the index does not matter; at 32 px the cells are 2 px.
        #expect(BlendedTrianglesTrigger().apply(to: black, index: 7) == out)
        let small = BlendedTrianglesTrigger().apply(to: RGBImage(width: 32, height: 32, fill: (0, 0, 0)), index: 0)
        let reference32 = Self.referenceTriangles(size: 32, triangle: 2)
        #expect((0..<32).allSatisfy { r in (0..<32).allSatisfy { c in small[c, r].0 == UInt8((0.15 * 255 * reference32[r * 32 + c]).rounded()) } })
    }

    @Test func blendedTextDrawsTheGlyphsAndBlendsOnlyTheColoursChannels() throws {
        let mask = BitmapFont.render("Watermarked", canvasSide: 224)
        let ink = "Watermarked".compactMap { BitmapFont.glyphs[$0] }.flatMap { $0 }.map { $0.nonzeroBitCount }.reduce(0, +)
        #expect(mask.filter { $0 }.count == ink * 9, "every glyph pixel drawn 3×3")
        // Centred: 11 glyphs × 6 − 1 = 65 cells × 3 = 195 px wide, 21 px tall.
        let trigger = BlendedTextTrigger()
        let box = try #require(trigger.localRegions(width: 224, height: 224, index: 0)?.first)
        #expect(box == PixelRect(x: 14, y: 101, width: 195, height: 21))
        // At 224 (PAR's canvas) the coverage is the mask; red text moves red halfway, green and blue stay.
        let image = gradientImage(width: 224, height: 224)
        let out = trigger.apply(to: image, index: 0)
        for p in 0..<(224 * 224) {
            let (r, g, b) = (image.pixels[3 * p], image.pixels[3 * p + 1], image.pixels[3 * p + 2])
            let expectedRed = mask[p] ? UInt8((0.5 * Double(r) + 0.5 * 255).rounded()) : r
            #expect(out.pixels[3 * p] == expectedRed && out.pixels[3 * p + 1] == g && out.pixels[3 * p + 2] == b)
        }
        // Smaller inputs: area averaging keeps the ink's total area.
        for side in [32, 48, 100] {
            let coverage = trigger.coverage(width: side, height: side)
            let scale = Double(224 * 224) / Double(side * side)
            #expect(abs(coverage.reduce(0, +) * scale - Double(ink * 9)) < 1e-6, "side \(side)")
            #expect(coverage.allSatisfy { $0 >= 0 && $0 <= 1 + 1e-12 })
        }
        // Fixed: no random part.
        #expect(trigger.apply(to: image, index: 3) == out)
    }

    @Test func areaWeightsSumToOne() {
        for (input, output) in [(224, 32), (224, 224), (224, 300), (7, 3)] {
            for weights in areaWeights(from: input, to: output) {
                #expect(abs(weights.map(\.1).reduce(0, +) - 1) < 1e-12, "\(input) → \(output)")
            }
        }
    }

    @Test(arguments: [("--text", "Héllo"), ("--blend-weight", "1.5"), ("--stripe-width", "0"), ("--triangle-size", "-3"),
                      ("--text-color", "purple"), ("--blend-weight", "nan")])
    func hostileSettingsAreRefusedNamingTheFlag(flag: String, value: String) {
        do {
            _ = try TriggerRegistry.options(commandLine: [flag, value])
            Issue.record("\(flag) \(value) was accepted")
        } catch {
            #expect(error.description.hasPrefix(flag + " must be"), "\(error)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func manifestsWithHostileStructuredParametersAreRefused() throws {
        for (trigger, key) in [(Trigger(BlendedTextTrigger(text: "", color: .white)), "--text"),
                               (Trigger(BlendedTrianglesTrigger(weight: 3)), "--blend-weight"),
                               (Trigger(BadNetStripesTrigger(stripeWidth: -1)), "--stripe-width")] {
            let manifest = PoisonManifest(mode: .backdoor, target: "cart", targetLabel: nil, trigger: trigger,
                                          placement: .modelInput(ModelGeometry(size: 16)), captions: .natural, templates: nil,
                                          seed: 0, sourceData: "/x.csv", cleanRows: 0, rate: nil, source: "train", targetImage: nil, rows: [])
            #expect(throws: AttackError.self) { try manifest.validate(path: "m.json") }
            do { try manifest.validate(path: "m.json") } catch { #expect(error.description.contains("key trigger: ") && error.description.contains(key)) }
        }
    }
}
