import Testing
@testable import Datasets

@Suite struct ImagesAugmentationTests {
    static let image = ImagesCodecTests.pattern(width: 53, height: 41, seed: 3)

    static let augmentations: [(String, any ImageAugmentation)] = [
        ("RandomResizedCrop", RandomResizedCrop(size: 24)),
        ("HorizontalFlip", HorizontalFlip(p: 0.5)),
        ("ColorJitter", ColorJitter(brightness: 0.5, contrast: 0.5, saturation: 0.5, hue: 0.1, p: 0.8)),
        ("RandomGrayscale", RandomGrayscale(p: 0.5)),
        ("GaussianBlur", GaussianBlur(kernelSize: 5, sigma: 0.1...2.0)),
        ("AutoAugmentImageNet", AutoAugmentImageNet()),
        ("safeCLIPView", AugmentationPipeline.safeCLIPView(size: 32)),
        ("autoAugmentView", AugmentationPipeline.autoAugmentView(size: 32)),
    ]

    @Test func eachAugmentationIsDeterministicGivenTheSeed() {
        for (name, augmentation) in Self.augmentations {
            var outputs = Set<RGBImage>()
            for seed in UInt64(0)..<12 {
                var a = SplitMix64(seed: seed), b = SplitMix64(seed: seed)
                let x = augmentation.apply(Self.image, rng: &a)
                let y = augmentation.apply(Self.image, rng: &b)
                #expect(x == y, "\(name) seed \(seed)")
                #expect(a == b, "\(name) consumed different amounts of randomness")
                outputs.insert(x)
            }
            #expect(outputs.count > 1, "\(name) ignores its seed")
        }
    }

    @Test func pipelinesGiveTheRequestedSize() {
        var rng = SplitMix64(seed: 1)
        for _ in 0..<10 {
            let s = AugmentationPipeline.safeCLIPView(size: 32).apply(Self.image, rng: &rng)
            let c = AugmentationPipeline.autoAugmentView(size: 32).apply(Self.image, rng: &rng)
            #expect(s.width == 32 && s.height == 32 && c.width == 32 && c.height == 32)
        }
    }

    @Test func flipIsExact() {
        let flipped = Self.image.horizontallyFlipped()
        for y in 0..<Self.image.height {
            for x in 0..<Self.image.width {
                #expect(flipped[x, y] == Self.image[Self.image.width - 1 - x, y])
            }
        }
        #expect(flipped.horizontallyFlipped() == Self.image)
        var rng = SplitMix64(seed: 0)
        #expect(HorizontalFlip(p: 1).apply(Self.image, rng: &rng) == flipped)
        #expect(HorizontalFlip(p: 0).apply(Self.image, rng: &rng) == Self.image)
    }

    @Test func grayscaleHasEqualChannels() {
        var rng = SplitMix64(seed: 0)
        let g = RandomGrayscale(p: 1).apply(Self.image, rng: &rng)
        let l = Self.image.luma()
        for i in 0..<l.count {
            #expect(g.pixels[3 * i] == l[i] && g.pixels[3 * i + 1] == l[i] && g.pixels[3 * i + 2] == l[i])
        }
        // PIL's integer ITU-R 601 weights: 0.299, 0.587, 0.114.
        #expect(RGBImage(width: 1, height: 1, pixels: [255, 0, 0]).luma() == [76])
        #expect(RGBImage(width: 1, height: 1, pixels: [0, 255, 0]).luma() == [150])
        #expect(RGBImage(width: 1, height: 1, pixels: [0, 0, 255]).luma() == [29])
    }

    @Test(arguments: [1, 3, 7, 23])
    func blurOfAConstantImageIsConstant(kernelSize: Int) {
        let flat = RGBImage(width: 9, height: 6, fill: (200, 17, 93))
        for sigma in [0.1, 0.7, 2.0, 5.0] {
            #expect(flat.gaussianBlurred(kernelSize: kernelSize, sigma: sigma) == flat)
        }
    }

    @Test func blurSmoothsAndKeepsTheMean() {
        let noisy = ImagesCodecTests.pattern(width: 30, height: 30, seed: 8)
        let blurred = noisy.gaussianBlurred(kernelSize: 9, sigma: 2)
        func meanAndRoughness(_ im: RGBImage) -> (Double, Double) {
            var sum = 0.0, rough = 0.0
            for i in stride(from: 2, to: im.pixels.count, by: 3) {
                sum += Double(im.pixels[i])
                if i >= 5 { rough += abs(Double(im.pixels[i]) - Double(im.pixels[i - 3])) }
            }
            return (sum / Double(im.pixels.count / 3), rough)
        }
        let (m0, r0) = meanAndRoughness(noisy), (m1, r1) = meanAndRoughness(blurred)
        #expect(abs(m0 - m1) < 1.5)
        #expect(r1 < r0 / 3)
    }

    @Test func cropsStayInsideTheImage() {
        let crop = RandomResizedCrop(size: 16)
        var rng = SplitMix64(seed: 42)
        for (w, h) in [(53, 41), (10, 200), (200, 10), (1, 1), (5, 3)] {
            for _ in 0..<200 {
                let r = crop.cropRectangle(width: w, height: h, rng: &rng)
                #expect(r.x >= 0 && r.y >= 0 && r.width > 0 && r.height > 0)
                #expect(r.x + r.width <= w && r.y + r.height <= h, "\(r) in \(w)x\(h)")
            }
        }
        // The fallback (extreme aspect) is the centred crop clamped to the ratio range.
        var never = SplitMix64(seed: 0)
        let narrow = RandomResizedCrop(size: 8, scale: 1.0...1.0, ratio: 1.0...1.0)
        let r = narrow.cropRectangle(width: 10, height: 200, rng: &never)
        #expect(r.x == 0 && r.width == 10 && r.height == 10 && r.y == 95)
    }

    @Test func resizingOnlyTheKeptRegionEqualsResizeThenCrop() {
        var rng = SplitMix64(seed: 11)
        for (w, h) in [(53, 41), (30, 60), (60, 30), (17, 17)] {
            let image = ImagesCodecTests.pattern(width: w, height: h, seed: 5)
            for _ in 0..<25 {
                let ow = 1 + rng.index(below: 2 * w), oh = 1 + rng.index(below: 2 * h)
                let kw = 1 + rng.index(below: ow), kh = 1 + rng.index(below: oh)
                let kx = rng.index(below: ow - kw + 1), ky = rng.index(below: oh - kh + 1)
                let filter: ResampleFilter = rng.chance(0.5) ? .bicubic : .bilinear
                let fused = image.resized(
                    width: ow, height: oh, keepingColumns: kx..<(kx + kw), rows: ky..<(ky + kh), filter: filter)
                let reference = image.resized(width: ow, height: oh, filter: filter)
                    .cropped(x: kx, y: ky, width: kw, height: kh)
                #expect(fused == reference, "\(w)x\(h) -> \(ow)x\(oh) keep \(kx),\(ky) \(kw)x\(kh)")
            }
        }
    }

    @Test func colorOpsMatchPILOnKnownValues() {
        let px = RGBImage(width: 2, height: 1, pixels: [200, 100, 50, 10, 20, 30])
        #expect(px.adjustedBrightness(0.5).pixels == [100, 50, 25, 5, 10, 15])
        #expect(px.adjustedBrightness(2).pixels == [255, 200, 100, 20, 40, 60])
        #expect(px.adjustedSaturation(0).pixels == px.grayscaled().pixels)
        #expect(px.adjustedContrast(1) == px && px.adjustedSaturation(1) == px)
        #expect(px.adjustedHue(0) == px)
        #expect(px.inverted().pixels == [55, 155, 205, 245, 235, 225])
        #expect(px.posterized(bits: 2).pixels == [192, 64, 0, 0, 0, 0])
        #expect(px.solarized(threshold: 128).pixels == [55, 100, 50, 10, 20, 30])
        // HSV round trip through PIL's 8-bit conversion stays within one level for saturated colours.
        let (h, s, v) = RGBImage.pilHSV(200, 100, 50)
        let back = RGBImage.pilRGB(h, s, v)
        #expect(abs(Int(back.0) - 200) <= 1 && abs(Int(back.1) - 100) <= 2 && abs(Int(back.2) - 50) <= 1)
    }

    @Test func hueConversionFastPathsAgreeWithPlainArithmetic() {
        var rng = SplitMix64(seed: 99)
        hsvQuotientsForTesting { q in
            for _ in 0..<50_000 {
                let x = rng.next()
                let (r, g, b) = (UInt8(x & 255), UInt8(x >> 8 & 255), UInt8(x >> 16 & 255))
                let fast = RGBImage.pilHSV(r, g, b, quotients: q)
                let plain = RGBImage.pilHSV(r, g, b)
                #expect(fast == plain, "\(r) \(g) \(b)")
                let (h, s, v) = (UInt8(x >> 24 & 255), UInt8(x >> 32 & 255), UInt8(x >> 40 & 255))
                // Reference: C's round() is Foundation's rounded() (half away from zero).
                let back = RGBImage.pilRGB(h, s, v)
                #expect(HSVToRGBTables.shared.withPointers { RGBImage.pilRGB(h, s, v, tables: $0) } == back, "\(h) \(s) \(v)")
                if s != 0 {
                    let hh = Double(h) * 6.0 / 255.0
                    let i = Int(hh.rounded(.down))
                    let f = Double(Float(hh - Double(i)))
                    let fs = Double(Float(Double(s) / 255.0))
                    let vals = [1.0 - fs, 1.0 - fs * f, 1.0 - fs * (1.0 - f)].map { UInt8((Double(v) * $0).rounded()) }
                    let expected: (UInt8, UInt8, UInt8) = [
                        (v, vals[2], vals[0]), (vals[1], v, vals[0]), (vals[0], v, vals[2]),
                        (vals[0], vals[1], v), (vals[2], vals[0], v), (v, vals[0], vals[1]),
                    ][i % 6]
                    #expect(back == expected, "\(h) \(s) \(v)")
                }
            }
        }
    }

    @Test func autoAugmentOperationsKeepSizeAndEqualizeSpreadsValues() {
        for op in AutoAugmentImageNet.Operation.allCases {
            for bin in [0, 5, 9] {
                let (m, _) = AutoAugmentImageNet.magnitude(op, bin: bin)
                let out = AutoAugmentImageNet.apply(op, magnitude: m, to: Self.image)
                #expect(out.width == Self.image.width && out.height == Self.image.height, "\(op)")
            }
        }
        #expect(AutoAugmentImageNet.magnitude(.posterize, bin: 0).value == 8)
        #expect(AutoAugmentImageNet.magnitude(.posterize, bin: 9).value == 4)
        #expect(AutoAugmentImageNet.magnitude(.rotate, bin: 9).value == 30)
        let dull = RGBImage(width: 4, height: 1, pixels: [100, 100, 100, 101, 101, 101, 102, 102, 102, 103, 103, 103])
        let stretched = dull.autocontrasted()
        #expect(stretched.pixels.first == 0 && stretched.pixels.last == 255)
        #expect(Self.image.rotated(degrees: 0) == Self.image && Self.image.shearedX(0) == Self.image)
        let quarter = RGBImage(width: 4, height: 4, pixels: (0..<48).map { UInt8($0) }).rotated(degrees: 90)
        #expect(Set(quarter.pixels) == Set((0..<48).map { UInt8($0) }), "a 90° turn of a square permutes pixels")
    }
}
