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
