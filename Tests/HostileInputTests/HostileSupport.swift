import Datasets
import Foundation
import TestSupport
import Testing

/// A folder of files whose bytes are recorded before a hostile case runs, so that the case can
/// check that nothing already written changed or disappeared.
struct Workspace {
    let url: URL
    var path: String { url.path }

    init() throws { url = try makeTemporaryDirectory("hostile") }

    func remove() { try? FileManager.default.removeItem(at: url) }

    func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = file(name)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @discardableResult
    func write(_ name: String, text: String) throws -> String { try write(name, Array(text.utf8)) }

    /// Every regular file below the folder with its bytes.
    func snapshot() -> [String: Data] {
        var result: [String: Data] = [:]
        guard let walker = FileManager.default.enumerator(atPath: path) else { return result }
        for case let name as String in walker {
            let full = file(name)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                result[name] = FileManager.default.contents(atPath: full)
            }
        }
        return result
    }
}

/// Runs the built `clipguard` with a time limit; a hang is terminated and reported instead of
/// blocking the suite.
func runClipGuard(_ arguments: [String], environment: [String: String] = [:], seconds: Double = 60) throws -> CommandResult {
    try runCommand(try builtExecutable(named: "clipguard"), arguments, environment: environment, timeout: seconds)
}

/// Expects a clean refusal: exit status 1 (runtime error) or 64 (usage error), no signal, no
/// hang, no Swift runtime trap text, one short message that contains every `mentions` string.
func expectRefusal(
    _ result: CommandResult, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(!result.timedOut, "hung", sourceLocation: sourceLocation)
    #expect(!result.crashed, "crashed with signal \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.status == 1 || result.status == 64, "status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
    #expect(!result.stderr.contains("Fatal error"), "\(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.stderr.utf8.count < 2_000, "message of \(result.stderr.utf8.count) bytes", sourceLocation: sourceLocation)
    for text in mentions {
        #expect(result.stderr.contains(text), "'\(text)' not in: \(result.stderr)", sourceLocation: sourceLocation)
    }
}

/// The description of the error `body` throws, or nil (recorded as an issue) if it does not throw.
func thrownMessage(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> String {
    do {
        try body()
        Issue.record("expected an error", sourceLocation: sourceLocation)
        return ""
    } catch {
        return "\(error)"
    }
}

// MARK: - Hostile files

enum Hostile {
    /// A valid 16×16 JPEG whose SOF header is rewritten to declare `width` × `height`.
    static func jpeg(width: Int, height: Int) throws -> [UInt8] {
        var bytes = try RGBImage(width: 16, height: 16, pixels: [UInt8](repeating: 90, count: 16 * 16 * 3)).jpegData()
        var i = 2
        while i + 9 < bytes.count {
            let marker = bytes[i + 1]
            let length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            if marker == 0xC0 || marker == 0xC2 {
                bytes[i + 5] = UInt8(height >> 8); bytes[i + 6] = UInt8(height & 0xFF)
                bytes[i + 7] = UInt8(width >> 8); bytes[i + 8] = UInt8(width & 0xFF)
                return bytes
            }
            i += 2 + length
        }
        Issue.record("no SOF marker")
        return bytes
    }

    /// A valid 8×8 PNG whose IHDR declares `width` × `height` (CRC recomputed).
    static func png(width: UInt32, height: UInt32) throws -> [UInt8] {
        var bytes = try RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 200, count: 8 * 8 * 3)).pngData()
        // Signature (8), IHDR length (4), "IHDR" (4), width at 16, height at 20, CRC at 29.
        for (k, v) in [(16, width), (20, height)] {
            for b in 0..<4 { bytes[k + b] = UInt8((v >> (24 - 8 * UInt32(b))) & 0xFF) }
        }
        let crc = crc32(Array(bytes[12..<29]))
        for b in 0..<4 { bytes[29 + b] = UInt8((crc >> (24 - 8 * UInt32(b))) & 0xFF) }
        return bytes
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }

    /// A tar file with one member whose 12-byte size field is replaced by `sizeField`
    /// (checksum recomputed), followed by `trailing` bytes.
    static func tar(name: String = "00000.txt", sizeField: [UInt8], trailing: Int = 2048) -> [UInt8] {
        var writer = TarWriter()
        writer.add(name: name, contents: Array("a caption".utf8))
        var bytes = writer.finished()
        for i in 0..<12 { bytes[124 + i] = i < sizeField.count ? sizeField[i] : 0 }
        for i in 148..<156 { bytes[i] = 32 }
        let sum = bytes[0..<512].reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        let padded = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits
        for i in 0..<6 { bytes[148 + i] = padded[i] }
        bytes[154] = 0; bytes[155] = 32
        return bytes + [UInt8](repeating: 0, count: trailing)
    }

    /// A webdataset shard with `count` items (`0000k.png` + `0000k.txt`).
    static func shard(count: Int, caption: (Int) -> String = { "a photo number \($0)" }) throws -> [UInt8] {
        var writer = TarWriter()
        let png = try RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 100, count: 192)).pngData()
        for k in 0..<count {
            let key = String(format: "%05d", k)
            writer.add(name: "\(key).png", contents: png)
            writer.add(name: "\(key).txt", contents: Array(caption(k).utf8))
        }
        return writer.finished()
    }
}
