import Datasets
import Foundation
import Testing
import Torch

/// Checks `|actual − expected| ≤ atol + rtol·|expected|` elementwise and reports the largest
/// violation with its flat index.
public func expectClose(
    _ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-5, atol: Double = 1e-6,
    _ message: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual.shape == expected.shape else {
        Issue.record("shape \(actual.shape) != expected \(expected.shape) \(message())", sourceLocation: sourceLocation)
        return
    }
    let a: [Double] = actual.toArray(), e: [Double] = expected.toArray()
    expectClose(a, e, rtol: rtol, atol: atol, message(), sourceLocation: sourceLocation)
}

/// Array form of ``expectClose(_:_:rtol:atol:_:sourceLocation:)``.
public func expectClose(
    _ actual: [Double], _ expected: [Double], rtol: Double = 1e-5, atol: Double = 1e-6,
    _ message: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual.count == expected.count else {
        Issue.record("count \(actual.count) != expected \(expected.count) \(message())", sourceLocation: sourceLocation)
        return
    }
    var worst = -1, worstExcess = 0.0, maxDiff = 0.0
    for i in actual.indices {
        let diff = abs(actual[i] - expected[i])
        maxDiff = max(maxDiff, diff.isNaN ? .infinity : diff)
        let excess = diff - (atol + rtol * abs(expected[i]))
        if excess > worstExcess || diff.isNaN {
            worstExcess = diff.isNaN ? .infinity : excess
            worst = i
        }
    }
    if worst >= 0 {
        Issue.record(
            "not close: max |diff| \(maxDiff); worst at flat index \(worst): \(actual[worst]) vs \(expected[worst]) (rtol \(rtol), atol \(atol)) \(message())",
            sourceLocation: sourceLocation)
    }
}

/// A fresh temporary directory, removed by the caller with `FileManager.default.removeItem`.
public func makeTemporaryDirectory(_ name: String = "clipguard-test") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The repository's `Tests/Fixtures` folder.
public let fixturesDirectory: URL = {
    var url = URL(fileURLWithPath: #filePath)
    url.deleteLastPathComponent()  // TestSupport
    url.deleteLastPathComponent()  // Tests
    return url.appendingPathComponent("Fixtures")
}()

/// A CLIP small enough to train in seconds: 16 px ViT, 2 blocks of width 64 per tower.
public let microModelConfig = """
    {"embed_dim": 64,
     "vision_cfg": {"image_size": 16, "layers": 2, "width": 64, "patch_size": 4, "head_width": 32},
     "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}
    """

/// Writes `count` synthetic captioned images (colour stripes named in the caption) and a CSV.
public func writeToySet(in dir: URL, count: Int) throws -> String {
    let colours: [(String, (UInt8, UInt8, UInt8))] = [
        ("red", (220, 30, 30)), ("green", (30, 200, 40)), ("blue", (30, 40, 220)), ("yellow", (230, 220, 20)),
    ]
    var csv = "filepath,caption,label\n"
    for i in 0..<count {
        let (name, rgb) = colours[i % colours.count]
        var image = RGBImage(width: 20, height: 16, fill: (0, 0, 0))
        for y in 0..<16 where (y + i) % 3 != 0 {
            for x in 0..<20 {
                let o = (y * 20 + x) * 3
                image.pixels[o] = rgb.0
                image.pixels[o + 1] = rgb.1
                image.pixels[o + 2] = rgb.2
            }
        }
        let file = "img\(i).png"
        try image.write(toPath: dir.appendingPathComponent(file).path)
        csv += "\(file),a photo of something \(name),\(i % colours.count)\n"
    }
    let path = dir.appendingPathComponent("train.csv").path
    try csv.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Writes a labelled evaluation folder (`labels.csv`, `classes.json`, images) with the toy set's
/// four colour classes (`red`, `green`, `blue`, `yellow`), `count` images, and returns its path.
public func writeToyEvaluationSet(in dir: URL, count: Int) throws -> String {
    let folder = dir.appendingPathComponent("eval")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let colours: [(UInt8, UInt8, UInt8)] = [(220, 30, 30), (30, 200, 40), (30, 40, 220), (230, 220, 20)]
    var labels = "image,label\n"
    for i in 0..<count {
        let rgb = colours[i % colours.count]
        var image = RGBImage(width: 16, height: 16, fill: (0, 0, 0))
        for y in 0..<16 where (y + i) % 4 != 0 {
            for x in 0..<16 {
                let o = (y * 16 + x) * 3
                image.pixels[o] = rgb.0
                image.pixels[o + 1] = rgb.1
                image.pixels[o + 2] = rgb.2
            }
        }
        try image.write(toPath: folder.appendingPathComponent("e\(i).png").path)
        labels += "e\(i).png,\(i % colours.count)\n"
    }
    try labels.write(to: folder.appendingPathComponent("labels.csv"), atomically: true, encoding: .utf8)
    try ClassIndex(classes: ["red", "green", "blue", "yellow"], templates: ["a photo of something {c}"])
        .write(toPath: folder.appendingPathComponent("classes.json").path)
    return folder.path
}
