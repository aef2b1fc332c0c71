/// Errors of the data sets, the loader, the built-in sets and EDA. Every message names the file
/// (and line, key or member) it is about.
public enum DataError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A file or folder could not be opened or read.
    case io(path: String, reason: String)
    /// A file's content does not follow its format (header, magic number, sizes).
    case format(path: String, reason: String)
    /// A CSV/TSV record that cannot be used; `line` is the 1-based line it starts on.
    case malformedRow(path: String, line: Int, reason: String)
    /// A required column is not in the header.
    case missingColumn(path: String, column: String, header: [String])
    /// An image that is missing or cannot be decoded.
    case image(path: String, reason: String)
    /// A system package or asset the program needs is not installed.
    case missingResource(what: String, hint: String)
    /// More than the allowed fraction of an epoch's items failed.
    case tooManyFailures(EpochDataReport, allowedFraction: Double)
    /// A caller passed an invalid setting.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .io(path, reason): return "\(path): \(reason)"
        case let .format(path, reason): return "\(path): \(reason)"
        case let .malformedRow(path, line, reason): return "\(path):\(line): \(reason)"
        case let .missingColumn(path, column, header):
            return "\(path): no column \"\(column)\" in the header (columns: \(header.joined(separator: ", ")))"
        case let .image(path, reason): return "\(path): \(reason)"
        case let .missingResource(what, hint): return "\(what) not found; \(hint)"
        case let .tooManyFailures(report, allowed):
            let percent = (report.failureFraction * 1000).rounded() / 10
            return "\(report.skipped) of \(report.attempted) items failed (\(percent)%), more than the allowed "
                + "\((allowed * 1000).rounded() / 10)%\n" + report.description
        case let .invalidArgument(message): return message
        }
    }
}
