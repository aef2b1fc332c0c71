import Foundation
import Testing
@testable import Datasets

@Suite struct ImagesCodecTests {
    /// A deterministic, textured test image.
    static func pattern(width: Int, height: Int, seed: UInt64 = 1) -> RGBImage {
        var rng = SplitMix64(seed: seed)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                pixels[i] = UInt8((x * 255) / max(width - 1, 1))
                pixels[i + 1] = UInt8((y * 255) / max(height - 1, 1))
                pixels[i + 2] = UInt8(truncatingIfNeeded: 96 + Int(rng.next() % 64))
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test func decodesEachPNGKindAndJPEG() throws {
        for name in ["rgb.png", "grey.png", "rgba.png", "palette.png", "grey16.png", "greyalpha.png", "photo.jpg", "grey.jpg", "cmyk.jpg"] {
            let image = try decodeImage(atPath: ImageFixtures.path(name))
            #expect(image.pixels.count == image.width * image.height * 3)
        }
        let grey = try decodeImage(atPath: ImageFixtures.path("grey.png"))
        var equalChannels = true
        for i in stride(from: 0, to: grey.pixels.count, by: 3) {
            let (r, g, b) = (grey.pixels[i], grey.pixels[i + 1], grey.pixels[i + 2])
            if r != g || g != b { equalChannels = false }
        }
        #expect(equalChannels)
    }

    @Test func alphaIsCompositedOnWhite() throws {
        // rgba.png has a fully transparent first row and a fully opaque second row.
        let image = try decodeImage(atPath: ImageFixtures.path("rgba.png"))
        #expect(image.pixels[0..<(image.width * 3)].allSatisfy { $0 == 255 })
        let raw = try ImageFixtures.bytes("decode_rgba.png.u8")
        #expect(image.pixels == raw)
    }

    @Test(arguments: ["photo.jpg", "rgb.png"])
    func truncatedFileThrowsNamingTheFile(name: String) throws {
        let bytes = try ImageFixtures.bytes(name)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/cut-\(name)"
        try Data(bytes[0..<(bytes.count * 2 / 3)]).write(to: URL(fileURLWithPath: path))
        do {
            _ = try decodeImage(atPath: path)
            Issue.record("truncated \(name) decoded without error")
        } catch {
            #expect(error.path == path)
            #expect(error.description.contains(path))
        }
    }

    @Test(arguments: ["photo.jpg", "rgb.png"])
    func corruptHeaderThrowsNamingTheFile(name: String) throws {
        var bytes = try ImageFixtures.bytes(name)
        // Keep the magic bytes, garble the headers after them.
        for i in 8..<min(64, bytes.count) { bytes[i] = UInt8(truncatingIfNeeded: i &* 37) }
        #expect(throws: ImageError.self) { try decodeImage(bytes: bytes, name: "archive/\(name)") }
        do {
            _ = try decodeImage(bytes: bytes, name: "archive/\(name)")
        } catch {
            #expect(error.description.hasPrefix("archive/\(name):"))
        }
    }

    @Test func unknownFormatAndMissingFileThrow() throws {
        #expect(throws: ImageError.unknownFormat(path: "x.bin")) {
            try decodeImage(bytes: [1, 2, 3, 4, 5, 6, 7, 8, 9], name: "x.bin")
        }
        do {
            _ = try decodeImage(atPath: "/nonexistent/dir/img.png")
            Issue.record("missing file decoded")
        } catch {
            #expect(error.description.contains("/nonexistent/dir/img.png"))
        }
    }

    @Test func pngRoundTripIsExact() throws {
        let image = Self.pattern(width: 37, height: 23)
        let decoded = try decodeImage(bytes: try image.pngData(), name: "mem.png")
        #expect(decoded == image)
    }

    @Test func jpegRoundTripIsClose() throws {
        let image = Self.pattern(width: 64, height: 48)
        for quality in [75, 95] {
            let bytes = try image.jpegData(quality: quality)
            let decoded = try decodeImage(bytes: bytes, name: "mem.jpg")
            #expect(decoded.width == 64 && decoded.height == 48)
            var sum = 0.0
            for i in 0..<image.pixels.count { sum += abs(Double(decoded.pixels[i]) - Double(image.pixels[i])) }
            let mae = sum / Double(image.pixels.count)
            #expect(mae < (quality == 95 ? 6 : 12), "quality \(quality): mean |Δ| \(mae)")
        }
        #expect(try image.jpegData(quality: 30).count < image.jpegData(quality: 95).count)
    }

    @Test func writeChoosesFormatByExtensionAtomically() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = Self.pattern(width: 20, height: 10)
        try image.write(toPath: "\(dir)/a.png")
        try image.write(toPath: "\(dir)/b.JPEG", jpegQuality: 90)
        #expect(try decodeImage(atPath: "\(dir)/a.png") == image)
        let jpegBytes = try ImageFixtures.bytesAt("\(dir)/b.JPEG")
        #expect(ImageFormat.sniff(jpegBytes) == .jpeg)
        // Overwriting works and leaves no temporary files behind.
        try RGBImage(width: 3, height: 2, fill: (1, 2, 3)).write(toPath: "\(dir)/a.png")
        #expect(try decodeImage(atPath: "\(dir)/a.png") == RGBImage(width: 3, height: 2, fill: (1, 2, 3)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["a.png", "b.JPEG"])
        #expect(throws: ImageError.unsupportedExtension(path: "\(dir)/c.gif")) {
            try image.write(toPath: "\(dir)/c.gif")
        }
    }

    @Test func dctDownscaleKeepsTheRequestedMinimumSide() throws {
        let image = Self.pattern(width: 400, height: 300)
        let bytes = try image.jpegData(quality: 90)
        let full = try decodeImage(bytes: bytes, name: "m.jpg")
        #expect(full.width == 400 && full.height == 300)
        for (minimum, expectedShort) in [(30, 38), (37, 38), (38, 38), (39, 75), (75, 75), (76, 150), (150, 150), (151, 300), (500, 300)] {
            let scaled = try decodeImage(bytes: bytes, name: "m.jpg", minimumSide: minimum)
            let short = min(scaled.width, scaled.height)
            #expect(short == expectedShort, "minimumSide \(minimum)")
            #expect(short >= min(minimum, 300))
        }
        // Eighths: the smallest M/8 whose shorter side ⌈300·M/8⌉ keeps the minimum (libjpeg
        // rounds both sides up).
        for (minimum, m) in [(30, 1), (38, 1), (39, 2), (100, 3), (200, 6), (224, 6), (226, 7), (263, 7), (264, 8)] {
            let scaled = try decodeImage(bytes: bytes, name: "m.jpg", minimumSide: minimum, scaling: .eighths)
            #expect(scaled.width == (400 * m + 7) / 8 && scaled.height == (300 * m + 7) / 8, "eighths, minimumSide \(minimum)")
        }
        // PNG ignores minimumSide.
        let png = try decodeImage(bytes: try image.pngData(), name: "m.png", minimumSide: 30)
        #expect(png.width == 400)
    }
}

extension ImageFixtures {
    static func bytesAt(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
