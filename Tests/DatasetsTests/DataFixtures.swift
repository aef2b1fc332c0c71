import Foundation
@testable import Datasets

/// A fresh temporary folder, removed when the value is released.
final class TemporaryFolder {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "clipguard-datasets-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    /// Writes text to `name` (creating folders).
    @discardableResult
    func write(_ name: String, text: String) -> String {
        write(name, bytes: Array(text.utf8))
    }

    @discardableResult
    func write(_ name: String, bytes: [UInt8]) -> String {
        let full = file(name)
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        precondition(FileManager.default.createFile(atPath: full, contents: Data(bytes)), "cannot write \(full)")
        return full
    }

    /// Writes a small PNG whose pixels encode `seed`, returns its path.
    @discardableResult
    func writePNG(_ name: String, seed: Int, width: Int = 6, height: Int = 5) -> String {
        let full = file(name)
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try! testImage(seed: seed, width: width, height: height).write(toPath: full)
        return full
    }
}

/// A deterministic little image: pixel values depend on `seed`.
func testImage(seed: Int, width: Int = 6, height: Int = 5) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: seed &* 31 &+ i &* 7) }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// The first bytes of a JPEG file (SOI, APP0/JFIF, the start of a quantisation table) and
/// nothing more: a truncated JPEG that no decoder can read.
let truncatedJPEG: [UInt8] = [
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xFF, 0xDB, 0x00, 0x43, 0x00, 0x08, 0x06, 0x06,
]

/// All batches of one epoch, and its report.
func collect(_ loader: DataLoader, epoch: Int) throws -> (batches: [Batch], report: EpochDataReport) {
    let iterator = loader.epoch(epoch)
    var batches: [Batch] = []
    while let batch = try iterator.next() { batches.append(batch) }
    return (batches, iterator.report)
}

/// A data set of `count` generated items whose caption is "item <index>"; the items in `failing`
/// throw as missing files.
struct SyntheticDataset: ImageTextDataset {
    var count: Int
    var failing: Set<Int> = []
    var hasLabels: Bool { true }
    func record(at index: Int) throws(DataError) -> DataRecord {
        DataRecord(index: index, imageSource: "synthetic/\(index).png", caption: "item \(index)", label: index % 3)
    }
    func sample(at index: Int) throws(DataError) -> DataSample {
        if failing.contains(index) { throw .image(path: "synthetic/\(index).png", reason: "file not found") }
        return DataSample(index: index, image: testImage(seed: index, width: 4, height: 4), caption: "item \(index)", label: index % 3)
    }
}
