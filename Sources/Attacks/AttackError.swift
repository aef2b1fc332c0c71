import Datasets

/// Errors of the attacks: bad settings, unusable data, unreadable or invalid manifests.
/// Every message names the file (and key or row) it is about.
public enum AttackError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A setting that cannot be used (a rate outside [0, 1], an empty target, a bad colour).
    case invalidSetting(String)
    /// The data cannot give what the attack needs (no caption names the target, too few sources).
    case insufficientData(path: String, reason: String)
    /// A manifest that cannot be read or does not follow the format; `key` is the JSON path
    /// (`rows[3].caption`), empty for the whole file.
    case manifest(path: String, key: String, reason: String)
    /// Reading the data set failed.
    case data(DataError)
    /// Reading or writing an image failed.
    case image(path: String, reason: String)
    /// The output folder already holds a poisoned set (and overwriting was not asked for) or
    /// would overwrite the source data.
    case output(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidSetting(message): return message
        case let .insufficientData(path, reason): return "\(path): \(reason)"
        case let .manifest(path, key, reason):
            return key.isEmpty ? "\(path): \(reason)" : "\(path): key \(key): \(reason)"
        case let .data(error): return error.description
        case let .image(path, reason): return "\(path): \(reason)"
        case let .output(path, reason): return "\(path): \(reason)"
        }
    }
}
