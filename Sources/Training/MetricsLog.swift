import Foundation

/// Appends one JSON object per line to `metrics.jsonl` in a run folder.
///
/// Each record is written and flushed at once, so a killed run loses nothing already logged.
/// On resume, ``truncate(afterStep:)`` drops records from steps after the checkpoint, so that a
/// resumed run's log reads like an uninterrupted run's.
public final class MetricsLog {
    public let path: String
    private let handle: FileHandle

    public init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    /// Appends one encoded line (ending in a newline) and flushes it.
    func appendLine(_ data: Data) throws {
        try handle.write(contentsOf: data)
    }

    /// Keeps only records whose `"step"` is at most `step` (records without a step are kept).
    public func truncate(afterStep step: Int) throws {
        try handle.synchronize()
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        var kept: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let recordStep = object["step"] as? Int, recordStep > step
            {
                continue
            }
            kept.append(line)
        }
        let rewritten = kept.isEmpty ? "" : kept.joined(separator: "\n") + "\n"
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(rewritten.utf8))
    }

    /// Reads every record of a metrics file.
    public static func read(path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}
