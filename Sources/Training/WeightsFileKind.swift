import Foundation
import Torch

/// Names what a file that should hold weights (safetensors) holds instead, so that
/// `eval --checkpoint data.csv` says "… is a CSV file, not a checkpoint" rather than the reader's
/// "header length 7526748012608776550 is invalid".
public enum WeightsFileKind {
    /// A short description ("a CSV file", "a PNG image", …) when the first bytes of `path` are
    /// plainly another format; nil for a file that may be safetensors or cannot be read.
    public static func otherFormat(atPath path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 1024), !head.isEmpty else { return nil }
        let bytes = [UInt8](head)
        if bytes.count >= 9 {
            // A safetensors file: 8-byte little-endian header length, then the JSON header's '{'.
            let length = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            if bytes[8] == UInt8(ascii: "{"), length > 0, length <= UInt64(max(0, size - 8)) { return nil }
        }
        func starts(_ magic: [UInt8]) -> Bool { bytes.starts(with: magic) }
        if starts([0x89, 0x50, 0x4E, 0x47]) { return "a PNG image" }
        if starts([0xFF, 0xD8, 0xFF]) { return "a JPEG image" }
        if starts(Array("GIF8".utf8)) { return "a GIF image" }
        if starts(Array("RIFF".utf8)) { return "a RIFF (WebP/WAV) file" }
        if starts([0x50, 0x4B, 0x03, 0x04]) {
            return "a ZIP archive (a PyTorch .pt/.bin file? save its state_dict with safetensors first)"
        }
        if starts([0x80]) && bytes.count > 1 && bytes[1] <= 5 { return "a Python pickle (a PyTorch file? save its state_dict with safetensors first)" }
        if starts([0x1F, 0x8B]) { return "a gzip file" }
        if bytes.count > 262, Array(bytes[257..<262]) == Array("ustar".utf8) { return "a tar archive" }
        // Text: valid UTF-8 without control bytes other than tab, CR and LF.
        let text = String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        let isText = bytes.allSatisfy { $0 >= 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D } && !text.contains("\u{FFFD}")
        guard isText else { return nil }
        let trimmed = text.drop { $0.isWhitespace }
        let firstLine = trimmed.prefix { $0 != "\n" }
        if trimmed.hasPrefix("{") && trimmed.contains("}\n{") { return "a JSON Lines file" }
        if trimmed.hasPrefix("{") || trimmed.hasPrefix("[") { return "a JSON file" }
        if firstLine.contains("\t") { return "a TSV file" }
        if firstLine.contains(",") { return "a CSV file" }
        if trimmed.hasPrefix("---") || firstLine.contains(": ") || firstLine.hasSuffix(":") { return "a YAML file" }
        return "a text file"
    }

    /// Throws ``TrainingError/model(_:)`` naming the file and what it is when
    /// ``otherFormat(atPath:)`` recognises it.
    public static func requireWeights(atPath path: String) throws {
        if let kind = otherFormat(atPath: path) {
            throw TrainingError.model(
                "\(path) is \(kind), not a checkpoint: give a .safetensors weights file (a run's model.safetensors or checkpoint.safetensors)")
        }
    }
}
