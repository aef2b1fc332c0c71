import Dispatch
import Foundation

/// Opens a data set by looking at its path:
/// - `.csv`/`.tsv` file → ``CSVDataset``;
/// - `.tar` file, or a folder of `.tar` files, or a brace list (`shards/{0000..0099}.tar`, see
///   ``expandShardPattern(_:)``) → ``TarShardDataset``;
/// - a prepared folder with `train.csv` → that CSV;
/// - a folder with `labels.csv` or class sub-folders → ``ImageFolderDataset``;
/// - `*.bin` → ``CIFARDataset`` (CIFAR-10 if the size is a multiple of 3,073 bytes, else CIFAR-100);
/// - `*-images-idx3-ubyte[.gz]` (labels beside it) → ``FashionMNISTDataset``.
public func openDataset(atPath path: String, csvOptions: CSVOptions = CSVOptions()) throws(DataError) -> any ImageTextDataset {
    let lower = path.lowercased()
    if pathKind(path) == .missing, let shards = try expandShardPattern(path) {
        guard let other = shards.first(where: { !$0.lowercased().hasSuffix(".tar") }) else {
            return try TarShardDataset(paths: shards)
        }
        throw .invalidArgument("\(path): a brace list must name .tar shards, not \(other)")
    }
    switch pathKind(path) {
    case .missing: throw .io(path: path, reason: "no such file or folder")
    case .directory:
        let names = try directoryEntries(path)
        if names.contains("train.csv") { return try CSVDataset(path: resolvePath("train.csv", against: path), options: csvOptions) }
        if names.contains(where: { $0.hasSuffix(".tar") }) { return try TarShardDataset(paths: [path]) }
        return try ImageFolderDataset(path: path)
    default:
        if lower.hasSuffix(".csv") || lower.hasSuffix(".tsv") { return try CSVDataset(path: path, options: csvOptions) }
        if lower.hasSuffix(".tar") { return try TarShardDataset(paths: [path]) }
        if lower.hasSuffix(".bin") {
            let size = try RandomAccessFile(path: path).size
            let kind: CIFARDataset.Kind = size % 3073 == 0 ? .cifar10 : .cifar100
            // The prompt templates come from the assets; without them the set still opens for
            // inspection, and zero-shot evaluation refuses it for lack of templates.
            let templates = (try? ZeroShotMetadata.templates(for: kind == .cifar10 ? "cifar10" : "cifar100")) ?? []
            return try CIFARDataset(kind: kind, paths: [path], templates: templates)
        }
        if lower.contains("-images-idx3-ubyte") {
            return try FashionMNISTDataset(imagesPath: path, labelsPath: path.replacingOccurrences(of: "-images-idx3-ubyte", with: "-labels-idx1-ubyte"))
        }
        throw .invalidArgument("\(path): unknown data set format (expected .csv, .tsv, .tar, .bin, an IDX file or a folder)")
    }
}

/// Summary statistics of caption lengths.
public struct LengthStatistics: Sendable, Codable, Hashable {
    public var minimum: Int
    public var maximum: Int
    public var mean: Double
    public var median: Double

    init(_ values: [Int]) {
        let sorted = values.sorted()
        minimum = sorted.first ?? 0
        maximum = sorted.last ?? 0
        mean = sorted.isEmpty ? 0 : Double(sorted.reduce(0, +)) / Double(sorted.count)
        if sorted.isEmpty { median = 0 } else if sorted.count % 2 == 1 { median = Double(sorted[sorted.count / 2]) } else {
            median = Double(sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
    }
}

/// What ``inspectDataset(_:sampleCount:maxRows:)`` found.
public struct DatasetInspection: Sendable, Codable {
    /// One example row.
    public struct Sample: Sendable, Codable, Hashable {
        public var index: Int
        public var image: String
        public var caption: String
        public var label: Int?
        /// `width x height` of the decoded image, or nil if it failed.
        public var size: String?
    }
    /// One failure.
    public struct Failure: Sendable, Codable, Hashable {
        public var index: Int
        public var source: String
        public var reason: String
    }

    /// Rows (items) in the set, and how many were checked.
    public var rows: Int
    public var checked: Int
    /// Rows whose image decoded.
    public var readable: Int
    /// Rows skipped: malformed, missing or corrupt.
    public var skipped: Int
    public var failures: [Failure]
    /// Caption lengths in words and in characters (over rows whose record could be read).
    public var captionWords: LengthStatistics
    public var captionCharacters: LengthStatistics
    public var distinctCaptions: Int
    /// Rows per label, if the set has labels.
    public var labelCounts: [String: Int]?
    public var samples: [Sample]

    /// A few lines of text for people.
    public var text: String {
        var lines = ["rows: \(rows)" + (checked < rows ? " (checked \(checked))" : ""),
                     "readable images: \(readable)", "skipped: \(skipped)"]
        for failure in failures { lines.append("  #\(failure.index) \(printable(failure.source)): \(printable(failure.reason))") }
        if skipped > failures.count { lines.append("  … and \(skipped - failures.count) more") }
        lines.append(String(format: "caption words: min %d, median %.1f, mean %.1f, max %d", captionWords.minimum,
                            captionWords.median, captionWords.mean, captionWords.maximum))
        lines.append(String(format: "caption characters: min %d, median %.1f, mean %.1f, max %d", captionCharacters.minimum,
                            captionCharacters.median, captionCharacters.mean, captionCharacters.maximum))
        lines.append("distinct captions: \(distinctCaptions)")
        if let labelCounts {
            let ordered = labelCounts.sorted { (Int($0.key) ?? 0) < (Int($1.key) ?? 0) }
            lines.append("labels: " + ordered.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
        }
        lines.append("samples:")
        for sample in samples {
            lines.append("  #\(sample.index) \(printable(sample.image)) [\(sample.size ?? "unreadable")]"
                + (sample.label.map { " label \($0)" } ?? "") + ": \(printable(sample.caption))")
        }
        return lines.joined(separator: "\n")
    }
}

/// Reads every item of `dataset` (the first `maxRows` if given), decoding images on all cores,
/// and reports counts, failures, caption statistics and `sampleCount` evenly spaced samples.
public func inspectDataset(_ dataset: any ImageTextDataset, sampleCount: Int = 5, maxRows: Int? = nil,
                           reportedFailures: Int = 10) -> DatasetInspection {
    let checked = max(0, min(dataset.count, maxRows ?? dataset.count))
    let results = InspectionSlots(count: checked)
    let chunk = 512
    DispatchQueue.concurrentPerform(iterations: (checked + chunk - 1) / chunk) { c in
        for index in (c * chunk)..<min(checked, (c + 1) * chunk) {
            var outcome = InspectionSlots.Outcome()
            do throws(DataError) {
                let record = try dataset.record(at: index)
                outcome.record = record
                let sample = try dataset.sample(at: index)
                outcome.size = "\(sample.image.width)x\(sample.image.height)"
            } catch {
                outcome.failure = error
            }
            results.set(index, outcome)
        }
    }
    var failures: [DatasetInspection.Failure] = []
    var words: [Int] = [], characters: [Int] = []
    var captions = Set<String>()
    var labelCounts: [String: Int] = [:]
    var readable = 0, skipped = 0
    let outcomes = results.all
    for (index, outcome) in outcomes.enumerated() {
        if let record = outcome.record {
            words.append(record.caption.split(whereSeparator: { $0.isWhitespace }).count)
            characters.append(record.caption.count)
            captions.insert(record.caption)
            if let label = record.label { labelCounts[String(label), default: 0] += 1 }
        }
        if let failure = outcome.failure {
            skipped += 1
            if failures.count < reportedFailures {
                let source: String
                switch failure {
                case let .image(path, _), let .io(path, _), let .format(path, _): source = path
                case let .malformedRow(path, line, _): source = "\(path):\(line)"
                default: source = outcome.record?.imageSource ?? "#\(index)"
                }
                let reason: String
                switch failure {
                case let .image(_, why), let .io(_, why), let .format(_, why), let .malformedRow(_, _, why): reason = why
                default: reason = failure.description
                }
                failures.append(.init(index: index, source: source, reason: reason))
            }
        } else {
            readable += 1
        }
    }
    var samples: [DatasetInspection.Sample] = []
    if checked > 0 {
        let step = max(1, checked / max(1, sampleCount))
        for index in Swift.stride(from: 0, to: checked, by: step).prefix(sampleCount) {
            let outcome = outcomes[index]
            samples.append(.init(index: index, image: outcome.record?.imageSource ?? "?", caption: outcome.record?.caption ?? "",
                                 label: outcome.record?.label, size: outcome.size))
        }
    }
    return DatasetInspection(
        rows: dataset.count, checked: checked, readable: readable, skipped: skipped, failures: failures,
        captionWords: LengthStatistics(words), captionCharacters: LengthStatistics(characters),
        distinctCaptions: captions.count, labelCounts: dataset.hasLabels ? labelCounts : nil, samples: samples)
}

/// Per-item results written by concurrent workers.
private final class InspectionSlots: @unchecked Sendable {
    struct Outcome { var record: DataRecord?; var size: String?; var failure: DataError? }
    private let lock = NSLock()
    private var slots: [Outcome]
    init(count: Int) { slots = Array(repeating: Outcome(), count: count) }
    func set(_ index: Int, _ outcome: Outcome) { lock.lock(); slots[index] = outcome; lock.unlock() }
    var all: [Outcome] { lock.lock(); defer { lock.unlock() }; return slots }
}
