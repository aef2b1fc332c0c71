import Foundation
import Testing
@testable import Datasets

/// Reads Tests/Fixtures/images (written by Scripts/make_image_fixtures.py).
enum ImageFixtures {
    static let directory: String = {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        return here.deletingLastPathComponent().appendingPathComponent("Fixtures/images").path
    }()

    struct Case: Decodable {
        var kind: String
        var input: String
        var width: Int?
        var height: Int?
        var size: Int?
        var filter: String?
        var minimumSide: Int?
        var crop: [Int]?
        var op: String?
        var value: Double?
        var expected: String
        var expectedFloats: String?
    }

    struct Index: Decodable {
        var version: Int
        var cases: [Case]
    }

    static func index() throws -> Index {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/index.json"))
        return try JSONDecoder().decode(Index.self, from: data)
    }

    static func cases(_ kind: String) throws -> [Case] {
        try index().cases.filter { $0.kind == kind }
    }

    static func path(_ name: String) -> String { "\(directory)/\(name)" }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name))))
    }

    static func floats(_ name: String) throws -> [Float] {
        let raw = try bytes(name)
        return raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    static func image(_ name: String) throws -> RGBImage {
        try decodeImage(atPath: path(name))
    }
}

/// Largest absolute difference and number of differing elements between two byte arrays.
func byteDifference(_ a: [UInt8], _ b: [UInt8]) -> (max: Int, count: Int) {
    precondition(a.count == b.count)
    var m = 0, n = 0
    for i in 0..<a.count where a[i] != b[i] {
        m = max(m, abs(Int(a[i]) - Int(b[i])))
        n += 1
    }
    return (m, n)
}

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "images-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
