@testable import Datasets
import Foundation
import TestSupport
import Testing

/// Hostile images, shards, CSV files and evaluation sets at the library level: each ends in an
/// error naming the file (or a counted skip), never a trap, hang or huge allocation.
@Suite struct HostileImageTests {
    @Test(arguments: [(65_500, 65_500), (20_000, 20_000), (13_378, 13_378), (65_500, 3_000)])
    func jpegBombIsRefusedFromItsHeader(width: Int, height: Int) throws {
        let bytes = try Hostile.jpeg(width: width, height: height)
        let message = thrownMessage { _ = try decodeImage(bytes: bytes, name: "bomb.jpg") }
        #expect(message.contains("bomb.jpg") && message.contains("\(width)x\(height)") && message.contains("CLIPGUARD_MAX_IMAGE_PIXELS"), "\(message)")
    }

    @Test(arguments: [(UInt32(20_000), UInt32(20_000)), (100_000, 100_000), (0x7FFF_FFFF, 2)])
    func pngBombIsRefusedFromItsHeader(width: UInt32, height: UInt32) throws {
        let bytes = try Hostile.png(width: width, height: height)
        let message = thrownMessage { _ = try decodeImage(bytes: bytes, name: "bomb.png") }
        #expect(message.contains("bomb.png"), "\(message)")
        #expect(message.contains("too large") || message.contains("corrupt"), "\(message)")
    }

    @Test func pixelLimitComesFromTheEnvironment() throws {
        #expect(try ImageLimits.limit(fromEnvironment: [:]) == 178_956_970)
        #expect(try ImageLimits.limit(fromEnvironment: ["CLIPGUARD_MAX_IMAGE_PIXELS": "1000"]) == 1000)
        #expect(try ImageLimits.limit(fromEnvironment: ["CLIPGUARD_MAX_IMAGE_PIXELS": "0"]) == 0)
        for bad in ["-5", "many", "1e9", ""] {
            let message = thrownMessage { _ = try ImageLimits.limit(fromEnvironment: ["CLIPGUARD_MAX_IMAGE_PIXELS": bad]) }
            #expect(message.contains("CLIPGUARD_MAX_IMAGE_PIXELS"), "\(message)")
        }
    }

    @Test(arguments: ["truncated-jpeg", "truncated-png", "random", "empty", "zero-size-jpeg"])
    func corruptImageNamesTheFile(kind: String) throws {
        let good = RGBImage(width: 16, height: 16, fill: (1, 2, 3))
        let bytes: [UInt8]
        switch kind {
        case "truncated-jpeg": bytes = Array(try good.jpegData().prefix(100))
        case "truncated-png": bytes = Array(try good.pngData().prefix(60))
        case "random": bytes = (0..<500).map { UInt8(truncatingIfNeeded: $0 &* 7919) }
        case "empty": bytes = []
        default: bytes = try Hostile.jpeg(width: 0, height: 0)
        }
        let message = thrownMessage { _ = try decodeImage(bytes: bytes, name: "\(kind).img") }
        #expect(message.hasPrefix("\(kind).img: "), "\(message)")
    }
}

@Suite struct HostileShardTests {
    static let badSizes: [(String, [UInt8])] = [
        ("negative octal", Array("-0002000".utf8)),
        ("negative large", Array("-7777777777".utf8)),
        ("garbage", Array("zzzzzzzzzzz".utf8)),
        ("base-256 negative", [0xFF] + [UInt8](repeating: 0xFF, count: 11)),
        ("base-256 overflow", [0x80] + [UInt8](repeating: 0xFF, count: 11)),
        ("beyond the file", Array("77777777777".utf8)),
    ]

    @Test(arguments: badSizes.map(\.0))
    func badSizeFieldIsAnErrorNotALoop(label: String) throws {
        let field = Self.badSizes.first { $0.0 == label }!.1
        let dir = try Workspace()
        defer { dir.remove() }
        let path = try dir.write("bad.tar", Hostile.tar(sizeField: field))
        let message = thrownMessage { _ = try TarShardDataset(paths: [path]) }
        #expect(message.contains(path) && message.contains("byte 0") || message.contains("truncated"), "\(message)")
    }

    @Test func badChecksumIsNamed() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        var bytes = try Hostile.shard(count: 1)
        bytes[0] ^= 0x20
        let path = try dir.write("sum.tar", bytes)
        let message = thrownMessage { _ = try TarShardDataset(paths: [path]) }
        #expect(message.contains(path) && message.contains("checksum"), "\(message)")
    }

    @Test func oversizedCaptionIsACountedSkip() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let long = String(repeating: "x", count: maxCaptionBytes + 1)
        let path = try dir.write("long.tar", Hostile.shard(count: 3) { $0 == 1 ? long : "fine" })
        let set = try TarShardDataset(paths: [path])
        let report = inspectDataset(set, sampleCount: 0)
        #expect(report.readable == 2 && report.skipped == 1)
        #expect(report.failures.first?.reason.contains("caption of \(maxCaptionBytes + 1) bytes") == true)
    }

    @Test func controlCharactersInMemberNamesAreEscaped() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        var writer = TarWriter()
        let png = try RGBImage(width: 4, height: 4, fill: (9, 9, 9)).pngData()
        writer.add(name: "evil\u{1B}[2J\u{07}.png", contents: png)
        writer.add(name: "evil\u{1B}[2J\u{07}.txt", contents: Array("red\u{1B}[31m caption\u{202E}".utf8))
        let path = try dir.write("ctl.tar", writer.finished())
        let text = inspectDataset(try TarShardDataset(paths: [path]), sampleCount: 1).text
        #expect(!text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x202E }, "\(text)")
        #expect(text.contains("\\u{1B}[2J"))
    }

    @Test func braceListsExpandLikeWebdataset() throws {
        #expect(try expandShardPattern("s/{00..02}.tar") == ["s/00.tar", "s/01.tar", "s/02.tar"])
        #expect(try expandShardPattern("s/{a,b}-{1..2}.tar") == ["s/a-1.tar", "s/a-2.tar", "s/b-1.tar", "s/b-2.tar"])
        #expect(try expandShardPattern("plain.tar") == nil)
    }

    @Test(arguments: ["s/{5..1}.tar", "s/{0..99999999}.tar", "s/{00..02.tar", "s/00..02}.tar", "s/{x..y}.tar", "s/{}.tar"])
    func badBraceListIsNamed(pattern: String) {
        let message = thrownMessage { _ = try expandShardPattern(pattern) }
        #expect(message.hasPrefix(pattern), "\(message)")
    }

    @Test func braceListOpensEveryShardAndNamesAMissingOne() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        for k in 0..<3 { try dir.write("shards/\(String(format: "%04d", k)).tar", Hostile.shard(count: 2)) }
        let set = try openDataset(atPath: dir.file("shards/{0000..0002}.tar"))
        #expect(set.count == 6)
        let message = thrownMessage { _ = try openDataset(atPath: dir.file("shards/{0000..0003}.tar")) }
        #expect(message.contains("0003.tar"), "\(message)")
    }
}

@Suite struct HostileCSVTests {
    @Test func unterminatedQuoteRunningToTheEndIsAMalformedRow() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let body = "filepath,caption\na.png,fine\nb.png,\"" + String(repeating: "y", count: maxRecordBytes + 10) + "\n"
        let path = try dir.write("q.csv", text: body)
        let set = try CSVDataset(path: path)
        let message = thrownMessage { _ = try set.record(at: set.count - 1) }
        #expect(message.hasPrefix("\(path):3: record of"), "\(message.prefix(200))")
    }

    @Test func hugeCaptionIsAMalformedRow() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let path = try dir.write("c.csv", text: "filepath,caption\na.png,\(String(repeating: "w ", count: maxCaptionBytes))\n")
        let message = thrownMessage { _ = try CSVDataset(path: path).record(at: 0) }
        #expect(message.hasPrefix("\(path):2: caption of"), "\(message.prefix(200))")
    }

    @Test func binaryFileGivenAsCSVIsNamed() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let path = try dir.write("shard.csv", Hostile.shard(count: 1))
        let message = thrownMessage { _ = try CSVDataset(path: path) }
        #expect(message.contains(path) && message.contains("binary"), "\(message)")
    }

    @Test func shortRowAndMissingColumnAreNamed() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let short = try dir.write("s.csv", text: "filepath,caption,label\na.png\n")
        #expect(thrownMessage { _ = try CSVDataset(path: short).record(at: 0) }.hasPrefix("\(short):2:"))
        let missing = try dir.write("m.csv", text: "name,words\na.png,x\n")
        #expect(thrownMessage { _ = try CSVDataset(path: missing) }.contains("no column"))
    }

    @Test func printableEscapesTerminalControls() {
        #expect(printable("a\u{1B}[2Jb\u{07}\n\u{202E}c") == "a\\u{1B}[2Jb\\u{7}\\n\\u{202E}c")
        #expect(printable("café – naïve ✓") == "café – naïve ✓")
    }
}

@Suite struct HostileEvaluationSetTests {
    @Test(arguments: [
        (#"{"classes": [], "templates": ["a photo of a {c}."]}"#, "\"classes\" is empty"),
        (#"{"classes": ["cat"], "templates": []}"#, "\"templates\" is empty"),
        (#"{"classes": "cat", "templates": []}"#, "key 'classes'"),
        (#"{"classes": ["cat"]"#, "not valid JSON"),
        (#"{"templates": ["{c}"]}"#, "'classes' is missing"),
    ])
    func badClassIndexIsNamed(json: String, expected: String) throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let path = try dir.write("eval/classes.json", text: json)
        try dir.write("eval/labels.csv", text: "image,label\na.png,0\n")
        let message = thrownMessage { _ = try ImageFolderDataset(path: dir.file("eval")) }
        #expect(message.contains(path) && message.contains(expected), "\(message)")
        #expect(!message.contains("NSCocoaErrorDomain") && !message.contains("CodingKeys"), "\(message)")
    }

    @Test func cifarTestBatchOpensWithTemplates() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        var bytes: [UInt8] = []
        for k in 0..<5 { bytes += [UInt8(k)] + [UInt8](repeating: UInt8(k * 40), count: 3072) }
        let path = try dir.write("test_batch.bin", bytes)
        let set = try #require(try openDataset(atPath: path) as? CIFARDataset)
        #expect(set.count == 5 && set.classNames.count == 10)
        #expect(!set.templates.isEmpty)
        #expect(try set.sample(at: 3).label == 3)
    }

    @Test func cifarWithBadLabelOrSizeIsNamed() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let bad = try dir.write("bad_label.bin", [200] + [UInt8](repeating: 0, count: 3072))
        #expect(thrownMessage { _ = try openDataset(atPath: bad).record(at: 0) }.contains("label 200 out of range"))
        let odd = try dir.write("odd.bin", [UInt8](repeating: 0, count: 1000))
        #expect(thrownMessage { _ = try openDataset(atPath: odd) }.hasPrefix(odd))
    }

    @Test func gzipBombIsRefusedAtTheInflateLimit() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        // 17 concatenated gzip members of 64 MiB of zeros each: 1.06 GiB inflated, about 1 MB on disk.
        let member = try zlibDeflate([UInt8](repeating: 0, count: 64 << 20), level: 9, gzip: true)
        let bomb = try dir.write("b-images-idx3-ubyte.gz", Array([[UInt8]](repeating: member, count: 17).joined()))
        try dir.write("b-labels-idx1-ubyte.gz", member)
        let message = thrownMessage { _ = try openDataset(atPath: bomb) }
        #expect(message.hasPrefix(bomb) && message.contains("1 GiB limit"), "\(message)")
    }

    @Test(arguments: [(0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF), (1, 0x7FFF_FFFF, 0x7FFF_FFFF), (10, 28, 28)])
    func idxHeaderThatOverstatesItsSizeIsNamed(count: Int, rows: Int, columns: Int) throws {
        let dir = try Workspace()
        defer { dir.remove() }
        func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        let images = try dir.write("x-images-idx3-ubyte", be32(2051) + be32(count) + be32(rows) + be32(columns) + [1, 2, 3])
        try dir.write("x-labels-idx1-ubyte", be32(2049) + be32(count) + [0])
        let message = thrownMessage { _ = try openDataset(atPath: images) }
        #expect(message.hasPrefix(images), "\(message)")
    }
}
