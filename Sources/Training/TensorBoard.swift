// TensorBoard event files without TensorFlow: TFRecord framing around hand-encoded
// `tensorflow.Event` protobufs (tensorflow/core/util/event.proto, summary.proto).

import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure to create or write a TensorBoard event file, naming the file or folder.
public struct TensorBoardError: Error, CustomStringConvertible, Equatable {
    /// The event file or the folder at fault.
    public var path: String
    /// What went wrong, in words (the system's message for I/O errors).
    public var reason: String

    public var description: String { "\(path): \(reason)" }
}

/// Writes scalar metrics as a TensorBoard event file, so that `tensorboard --logdir DIRECTORY`
/// plots them.
///
/// Each writer creates one new file, `DIRECTORY/events.out.tfevents.<unix seconds>.<hostname>`
/// (with `.1`, `.2`, … appended if a file of that name already exists — an existing file is
/// never reopened or overwritten; name order, TensorBoard's reading order, holds up to `.9`
/// writers in one second), whose first record is the `file_version: "brain.Event:2"`
/// event. TensorBoard reads every event file of a folder in name order and merges them, so a
/// resumed run opens a new writer in the same folder and calls ``markRestart(step:wallTime:)``
/// to hide what the interrupted run logged after its checkpoint.
///
/// The file is a sequence of TFRecords — `uint64` little-endian length, masked CRC-32C of the
/// length bytes, the serialized `tensorflow.Event`, masked CRC-32C of the data — the format
/// TensorFlow's `tf.summary` and PyTorch's `SummaryWriter` write. Every ``add(scalars:step:wallTime:)``
/// hands its record to the kernel at once (nothing is buffered in the process), so a run
/// killed at any point keeps every event it logged; ``flush()`` also forces the file to disk.
///
/// Values are stored as TensorBoard's `simple_value`, a 32-bit float: NaN and ±infinity are
/// written as they are (TensorBoard shows them as such), and a finite `Double` beyond
/// `Float`'s range becomes ±infinity.
///
/// ```swift
/// let board = try TensorBoardWriter(directory: "runs/fm-clip/tensorboard")
/// try board.add(scalars: ["train/loss": 3.41, "train/lr": 1e-3], step: 17)
/// try board.flush()
/// ```
///
/// ### See Also
/// - ``MetricsLog``, the JSON-lines record of the same metrics.
public final class TensorBoardWriter {
    /// The event file this writer appends to.
    public let path: String
    private let descriptor: Int32

    /// Creates `directory` (and its parents) if needed and a new event file in it, holding the
    /// file-version record.
    ///
    /// - Throws: ``TensorBoardError`` naming the folder or file when either cannot be created
    ///   or written.
    public init(directory: String) throws {
        try Self.makeFolders(directory)
        let base = "\(directory)/events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(Self.hostName())"
        var candidate = base
        var suffix = 0
        var fd: Int32 = -1
        while true {
            fd = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
            if fd >= 0 { break }
            let code = errno
            guard code == EEXIST || code == EINTR else {
                throw TensorBoardError(path: candidate, reason: "cannot create the event file (\(String(cString: strerror(code))))")
            }
            if code == EEXIST {
                suffix += 1
                candidate = "\(base).\(suffix)"
            }
        }
        path = candidate
        descriptor = fd
        do {
            try appendRecord(Self.fileVersionEvent(wallTime: Date().timeIntervalSince1970))
        } catch {
            unlink(candidate)  // no empty file left behind
            throw error
        }
    }

    deinit { close(descriptor) }

    /// Appends one event holding every scalar of `step` and hands it to the operating system.
    ///
    /// Tags are written in sorted order (the bytes do not depend on dictionary order); by
    /// TensorBoard's convention a `/` groups them into sections (`train/loss`, `epoch/zeroshot_top1`).
    ///
    /// - Parameters:
    ///   - scalars: tag → value; each value is stored as a 32-bit float (NaN and ±infinity as they are).
    ///   - step: the x coordinate in TensorBoard, usually the global optimizer step.
    ///   - wallTime: seconds since 1970, TensorBoard's "relative" and "wall" axes.
    /// - Throws: ``TensorBoardError`` naming the file if the write fails; the file is then cut
    ///   back to its last complete record.
    public func add(scalars: [String: Double], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        try appendRecord(Self.scalarEvent(scalars, step: step, wallTime: wallTime))
    }

    /// Appends a `SessionLog.START` event at `step`: TensorBoard then drops every event it read
    /// before with a step ≥ `step`, so that what an interrupted run logged after its checkpoint
    /// does not stand beside the resumed run's values.
    ///
    /// Call it once, right after creating the writer of a resumed run, with the first step the
    /// resumed run will log (the checkpoint's step + 1).
    ///
    /// - Throws: ``TensorBoardError`` naming the file if the write fails.
    public func markRestart(step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        try appendRecord(Self.sessionStartEvent(step: step, wallTime: wallTime))
    }

    /// Forces everything written so far onto the disk (`fsync`).
    ///
    /// Not needed for a killed process to keep its events (each is written at once), only to
    /// keep them through a power loss.
    ///
    /// - Throws: ``TensorBoardError`` naming the file if the system reports a failure.
    public func flush() throws {
        while fsync(descriptor) != 0 {
            let code = errno
            guard code == EINTR else {
                throw TensorBoardError(path: path, reason: "cannot flush the event file (\(String(cString: strerror(code))))")
            }
        }
    }

    // MARK: tensorflow.Event encoding
    // Event { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3;
    //   Summary summary = 5; LogMessage log_message = 6; SessionLog session_log = 7; … } }
    // Summary { repeated Value value = 1; }  Value { string tag = 1; oneof value { float simple_value = 2; … } }
    // SessionLog { SessionStatus status = 1; }  (START = 1)
    // A zero step is left out, as proto3 serializers do.

    /// The first event of every file: `file_version: "brain.Event:2"`.
    static func fileVersionEvent(wallTime: Double) -> [UInt8] {
        var event = ProtobufEncoder()
        event.appendDouble(field: 1, wallTime)
        event.appendBytes(field: 3, Array("brain.Event:2".utf8))
        return event.bytes
    }

    /// An event with one `simple_value` per tag, tags in sorted order.
    static func scalarEvent(_ scalars: [String: Double], step: Int, wallTime: Double) -> [UInt8] {
        var summary = ProtobufEncoder()
        for (tag, value) in scalars.sorted(by: { $0.key < $1.key }) {
            var entry = ProtobufEncoder()
            entry.appendBytes(field: 1, Array(tag.utf8))
            // simple_value belongs to a oneof, so it is written even when it is 0.
            entry.appendFloat(field: 2, Float(value))
            summary.appendBytes(field: 1, entry.bytes)
        }
        var event = ProtobufEncoder()
        event.appendDouble(field: 1, wallTime)
        if step != 0 { event.appendVarint(field: 2, UInt64(bitPattern: Int64(step))) }
        event.appendBytes(field: 5, summary.bytes)
        return event.bytes
    }

    /// An event with `session_log { status: START }`.
    static func sessionStartEvent(step: Int, wallTime: Double) -> [UInt8] {
        var sessionLog = ProtobufEncoder()
        sessionLog.appendVarint(field: 1, 1)
        var event = ProtobufEncoder()
        event.appendDouble(field: 1, wallTime)
        if step != 0 { event.appendVarint(field: 2, UInt64(bitPattern: Int64(step))) }
        event.appendBytes(field: 7, sessionLog.bytes)
        return event.bytes
    }

    /// Writes one framed record; on failure cuts the file back so that it ends with a whole record.
    private func appendRecord(_ data: [UInt8]) throws {
        let record = TFRecord.frame(data)
        let start = lseek(descriptor, 0, SEEK_END)
        var written = 0
        var failure: Int32 = 0
        record.withUnsafeBytes { buffer in
            while written < buffer.count {
                let count = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                written += count
            }
        }
        guard failure == 0 else {
            if start >= 0 { _ = ftruncate(descriptor, start) }
            throw TensorBoardError(path: path, reason: "cannot write an event (\(String(cString: strerror(failure))))")
        }
    }

    /// `mkdir -p`, with the system's reason (or "not a folder") for the first part that fails.
    private static func makeFolders(_ directory: String) throws {
        var prefix = directory.hasPrefix("/") ? "" : "."
        for part in directory.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o755) != 0 {
                let code = errno
                var info = stat()
                guard code == EEXIST, stat(prefix, &info) == 0 else {
                    throw TensorBoardError(path: prefix, reason: "cannot create the TensorBoard folder (\(String(cString: strerror(code))))")
                }
                guard (info.st_mode & S_IFMT) == S_IFDIR else {
                    throw TensorBoardError(path: prefix, reason: "cannot hold the TensorBoard folder: it is a file, not a folder")
                }
            }
        }
    }

    /// The host name as TensorBoard's own writers put it in file names, `/` made harmless.
    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name.replacingOccurrences(of: "/", with: "_")
    }
}

/// TFRecord framing, the container of TensorBoard event files.
enum TFRecord {
    /// `uint64` little-endian length, masked CRC-32C of those 8 bytes, `data`, masked CRC-32C of `data`.
    static func frame(_ data: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(data.count + 16)
        appendLittleEndian(&record, UInt64(data.count))
        appendLittleEndian(&record, maskedCRC32C(record))
        record += data
        appendLittleEndian(&record, maskedCRC32C(data))
        return record
    }

    /// TFRecord's masked checksum: the CRC-32C rotated right by 15 bits plus `0xa282ead8`.
    static func maskedCRC32C(_ bytes: [UInt8]) -> UInt32 {
        let crc = crc32C(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xa282_ead8
    }

    /// CRC-32C (Castagnoli; reflected polynomial `0x82F63B78`, initial value and final XOR
    /// `0xFFFFFFFF`), one table lookup per byte.
    static func crc32C(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }

    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }
}

/// The four protobuf wire types an event needs, appended field by field.
struct ProtobufEncoder {
    private(set) var bytes: [UInt8] = []

    /// Wire type 0: a base-128 varint (an `int64` field passes its two's-complement bit pattern).
    mutating func appendVarint(field: Int, _ value: UInt64) {
        appendKey(field: field, wireType: 0)
        appendRawVarint(value)
    }

    /// Wire type 1: a `double`, 8 bytes little-endian.
    mutating func appendDouble(field: Int, _ value: Double) {
        appendKey(field: field, wireType: 1)
        appendLittleEndian(&bytes, value.bitPattern)
    }

    /// Wire type 2: a string, bytes or embedded message, preceded by its length.
    mutating func appendBytes(field: Int, _ value: [UInt8]) {
        appendKey(field: field, wireType: 2)
        appendRawVarint(UInt64(value.count))
        bytes += value
    }

    /// Wire type 5: a `float`, 4 bytes little-endian.
    mutating func appendFloat(field: Int, _ value: Float) {
        appendKey(field: field, wireType: 5)
        appendLittleEndian(&bytes, value.bitPattern)
    }

    private mutating func appendKey(field: Int, wireType: UInt64) {
        appendRawVarint(UInt64(field) << 3 | wireType)
    }

    private mutating func appendRawVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }
}

private func appendLittleEndian<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
    withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
}
