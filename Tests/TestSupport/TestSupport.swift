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

/// An executable that SwiftPM built next to the running test bundle (e.g. `clipguard`).
public func builtExecutable(named name: String) throws -> URL {
    var candidates: [URL] = []
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name))
    }
    if let bundle = Bundle.main.executableURL {
        candidates.append(bundle.deletingLastPathComponent().appendingPathComponent(name))
    }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    candidates.append(root.appendingPathComponent(".build/debug/\(name)"))
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "\(name) not found in \(candidates.map(\.path))"])
    }
    return found
}

/// The result of running a command.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// The command ran past its time limit and was terminated.
    public var timedOut = false
    /// The command ended by a signal (a trap, segfault or kill); `status` is the signal then.
    public var crashed = false
}

/// Runs `executable` with `arguments` to completion, capturing its output; with `timeout`, a
/// command still running after that many seconds is terminated (`timedOut`).
public func runCommand(
    _ executable: URL, _ arguments: [String], environment: [String: String] = [:], timeout: Double? = nil
) throws -> CommandResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes while the process runs so that neither fills up.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
    var timedOut = false
    if let timeout {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && !timedOut {
            if Date() > deadline {
                timedOut = true
                process.terminate()
            } else {
                usleep(20_000)
            }
        }
    }
    process.waitUntilExit()
    group.wait()
    return CommandResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self), timedOut: timedOut,
        crashed: !timedOut && process.terminationReason == .uncaughtSignal)
}
