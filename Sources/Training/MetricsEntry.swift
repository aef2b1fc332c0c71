import Foundation

/// One line of `metrics.jsonl`, decoded as the record type the trainer wrote it with.
///
/// The kind of a line is told by the key only its type has: `epoch_end` (``EpochRecord``),
/// `selection_epoch` (``SelectionRecord``), `filter_kept` (``FilterRecord``); any other line is
/// a ``StepRecord``. Reading goes through the same `Codable` types that ``MetricsLog/append(_:)``
/// writes, so a renamed field fails to decode instead of silently reading as missing.
public enum MetricsEntry: Sendable, Equatable {
    case step(StepRecord)
    case epoch(EpochRecord)
    case selection(SelectionRecord)
    case filter(FilterRecord)

    /// The keys that tell the record types apart.
    private struct Kind: Decodable {
        var epochEnd: Int?
        var selectionEpoch: Int?
        var filterKept: Int?
        enum CodingKeys: String, CodingKey {
            case epochEnd = "epoch_end", selectionEpoch = "selection_epoch", filterKept = "filter_kept"
        }
    }

    /// Decodes one JSON line.
    ///
    /// - Throws: `DecodingError` when the line is not JSON or lacks a field its record type requires.
    public init(line: Data) throws {
        let decoder = JSONDecoder()
        let kind = try decoder.decode(Kind.self, from: line)
        if kind.epochEnd != nil {
            self = .epoch(try decoder.decode(EpochRecord.self, from: line))
        } else if kind.selectionEpoch != nil {
            self = .selection(try decoder.decode(SelectionRecord.self, from: line))
        } else if kind.filterKept != nil {
            self = .filter(try decoder.decode(FilterRecord.self, from: line))
        } else {
            self = .step(try decoder.decode(StepRecord.self, from: line))
        }
    }

    public var stepRecord: StepRecord? { if case .step(let r) = self { r } else { nil } }
    public var epochRecord: EpochRecord? { if case .epoch(let r) = self { r } else { nil } }
    public var selectionRecord: SelectionRecord? { if case .selection(let r) = self { r } else { nil } }
    public var filterRecord: FilterRecord? { if case .filter(let r) = self { r } else { nil } }
}

/// The typed records of one `metrics.jsonl`.
public struct MetricsFile: Sendable, Equatable {
    public var entries: [MetricsEntry]
    /// 1-based numbers of the non-empty lines that no record type decodes (a truncated last
    /// line of a killed run, or a field renamed by another version).
    public var unreadableLines: [Int]

    public init(entries: [MetricsEntry] = [], unreadableLines: [Int] = []) {
        self.entries = entries
        self.unreadableLines = unreadableLines
    }

    public var steps: [StepRecord] { entries.compactMap(\.stepRecord) }
    public var epochs: [EpochRecord] { entries.compactMap(\.epochRecord) }
    public var selections: [SelectionRecord] { entries.compactMap(\.selectionRecord) }
    public var filters: [FilterRecord] { entries.compactMap(\.filterRecord) }

    /// Reads a metrics file; a line that does not decode is counted in ``unreadableLines``,
    /// never guessed at.
    ///
    /// - Throws: when the file cannot be read.
    public static func read(path: String) throws -> MetricsFile {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var file = MetricsFile()
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.allSatisfy(\.isWhitespace) {
            if let entry = try? MetricsEntry(line: Data(line.utf8)) {
                file.entries.append(entry)
            } else {
                file.unreadableLines.append(i + 1)
            }
        }
        return file
    }
}
