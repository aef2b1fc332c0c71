/// An error reading, validating or writing a safetensors file.
///
/// Every message names the file (or the in-memory name given to
/// ``SafeTensorsFile/parse(bytes:name:)``) and either the tensor key at fault or `header`.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A system call failed: `operation` is what was being done (`open`, `read`, `rename`…).
    case io(file: String, operation: String, message: String)
    /// The file is shorter than the 8-byte little-endian header-length prefix.
    case missingHeaderLength(file: String, fileSize: Int)
    /// The header-length prefix is larger than the format allows or than the file holds.
    case invalidHeaderLength(file: String, headerLength: UInt64, fileSize: Int)
    /// The header is not valid JSON (`offset` is a byte offset inside the header), or not an object.
    case invalidHeader(file: String, offset: Int?, reason: String)
    /// The `__metadata__` entry is not a map of strings to strings.
    case invalidMetadata(file: String, key: String?, reason: String)
    /// A tensor entry is malformed (missing or ill-typed `dtype`, `shape` or `data_offsets`).
    case invalidEntry(file: String, key: String, reason: String)
    /// A tensor's dtype string is not one this library handles.
    case unknownDType(file: String, key: String, dtype: String)
    /// A tensor's byte range does not match its shape and dtype.
    case byteLengthMismatch(file: String, key: String, shape: [Int], dtype: String, expected: Int, actual: Int)
    /// A tensor's byte range lies (partly) beyond the data buffer: the file is truncated or the header lies.
    case offsetsOutOfRange(file: String, key: String, begin: Int, end: Int, dataLength: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingData(file: String, key: String, otherKey: String)
    /// Bytes between two tensors (or before the first) belong to no tensor.
    case gapInData(file: String, key: String, gapStart: Int, gapEnd: Int)
    /// Bytes after the last tensor belong to no tensor.
    case trailingData(file: String, unusedBytes: Int)
    /// A tensor given to a writer is inconsistent or has a reserved name.
    case invalidTensor(file: String, key: String, reason: String)

    public var description: String {
        switch self {
        case let .io(file, operation, message):
            return "\(file): \(operation) failed: \(message)"
        case let .missingHeaderLength(file, fileSize):
            return "\(file): header: file is \(fileSize) bytes, too short for the 8-byte header-length prefix (truncated?)"
        case let .invalidHeaderLength(file, headerLength, fileSize):
            return "\(file): header: header length \(headerLength) is invalid for a file of \(fileSize) bytes"
                + (headerLength > UInt64(max(fileSize - 8, 0)) ? " (truncated?)" : "")
        case let .invalidHeader(file, offset, reason):
            return "\(file): header: \(reason)" + (offset.map { " at header byte \($0)" } ?? "")
        case let .invalidMetadata(file, key, reason):
            return "\(file): __metadata__" + (key.map { " key \"\($0)\"" } ?? "") + ": \(reason)"
        case let .invalidEntry(file, key, reason):
            return "\(file): tensor \"\(key)\": \(reason)"
        case let .unknownDType(file, key, dtype):
            return "\(file): tensor \"\(key)\": unknown or unsupported dtype \"\(dtype)\""
        case let .byteLengthMismatch(file, key, shape, dtype, expected, actual):
            return "\(file): tensor \"\(key)\": shape \(shape) of \(dtype) needs \(expected) bytes but data_offsets span \(actual)"
        case let .offsetsOutOfRange(file, key, begin, end, dataLength):
            return "\(file): tensor \"\(key)\": data_offsets [\(begin), \(end)] exceed the \(dataLength)-byte data buffer (truncated file or bad header)"
        case let .overlappingData(file, key, otherKey):
            return "\(file): tensor \"\(key)\": data overlaps tensor \"\(otherKey)\""
        case let .gapInData(file, key, gapStart, gapEnd):
            return "\(file): tensor \"\(key)\": data bytes [\(gapStart), \(gapEnd)) before it belong to no tensor"
        case let .trailingData(file, unusedBytes):
            return "\(file): header: \(unusedBytes) bytes after the last tensor belong to no tensor"
        case let .invalidTensor(file, key, reason):
            return "\(file): tensor \"\(key)\": \(reason)"
        }
    }
}

extension SafeTensorsError {
    /// The file (or in-memory name) the error is about.
    public var file: String {
        switch self {
        case let .io(file, _, _), let .missingHeaderLength(file, _), let .invalidHeaderLength(file, _, _),
             let .invalidHeader(file, _, _), let .invalidMetadata(file, _, _), let .invalidEntry(file, _, _),
             let .unknownDType(file, _, _), let .byteLengthMismatch(file, _, _, _, _, _),
             let .offsetsOutOfRange(file, _, _, _, _), let .overlappingData(file, _, _), let .gapInData(file, _, _, _),
             let .trailingData(file, _), let .invalidTensor(file, _, _):
            file
        }
    }

    /// The tensor key the error is about, when it concerns one tensor.
    public var key: String? {
        switch self {
        case let .invalidEntry(_, key, _), let .unknownDType(_, key, _), let .byteLengthMismatch(_, key, _, _, _, _),
             let .offsetsOutOfRange(_, key, _, _, _), let .overlappingData(_, key, _), let .gapInData(_, key, _, _),
             let .invalidTensor(_, key, _):
            key
        case .io, .missingHeaderLength, .invalidHeaderLength, .invalidHeader, .invalidMetadata, .trailingData:
            nil
        }
    }
}
