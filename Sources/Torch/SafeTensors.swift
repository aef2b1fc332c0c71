// safetensors reading and writing in pure Swift (no libtorch).
//
// Format (https://github.com/huggingface/safetensors): an 8-byte little-endian unsigned header
// length N, then N bytes of UTF-8 JSON (an object mapping tensor names to
// `{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}` plus an optional
// `"__metadata__"` map of strings to strings), then the data buffer. Offsets are relative to the
// start of the data buffer, and the tensors' byte ranges must tile it exactly: no overlaps, no
// gaps, no trailing bytes. Data is little-endian and row-major (C order).

#if _endian(big)
#error("safetensors data is little-endian; this implementation copies bytes without swapping")
#endif

extension DType {
    /// The dtype's name in safetensors headers: `F32`, `F64`, `F16`, `BF16`, `I64`, `I32`, `I16`,
    /// `I8`, `U8` or `BOOL`.
    public var safeTensorsName: String {
        switch self {
        case .float32: "F32"
        case .float64: "F64"
        case .float16: "F16"
        case .bfloat16: "BF16"
        case .int64: "I64"
        case .int32: "I32"
        case .int16: "I16"
        case .int8: "I8"
        case .uint8: "U8"
        case .bool: "BOOL"
        }
    }

    /// The dtype named `safeTensorsName` in a safetensors header, or `nil` for names this library
    /// does not handle (`U16`, `U32`, `U64`, `C64`, the `F8_*` family…).
    public init?(safeTensorsName: String) {
        guard let match = DType.allCases.first(where: { $0.safeTensorsName == safeTensorsName }) else { return nil }
        self = match
    }

    /// The position of the dtype in the Rust `safetensors::Dtype` declaration order. The reference
    /// writer lays tensors out by this rank, descending, then by name, so that larger elements
    /// come first and every tensor stays aligned to its element size.
    var safeTensorsRank: Int {
        switch self {
        case .bool: 0
        case .uint8: 1
        case .int8: 2
        case .int16: 3
        case .float16: 4
        case .bfloat16: 5
        case .int32: 6
        case .float32: 7
        case .float64: 8
        case .int64: 9
        }
    }
}

/// The raw bytes of one tensor: its dtype, shape and little-endian row-major data.
///
/// A scalar has shape `[]` and one element; a shape with a zero dimension has no bytes.
public struct TensorBytes: Equatable, Sendable {
    /// The element type.
    public var dtype: DType
    /// The dimensions, outermost first.
    public var shape: [Int]
    /// `shape.product * dtype.byteSize` bytes, little-endian, row-major.
    public var bytes: [UInt8]

    /// Creates tensor bytes; consistency of `bytes.count` with `shape` is checked when written.
    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// The number of elements `shape` describes (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// The contents of a safetensors file: named tensors and a string metadata map.
///
/// ```swift
/// var file = SafeTensorsFile(metadata: ["step": "100"])
/// file.entries["logit_scale"] = TensorBytes(dtype: .float32, shape: [], bytes: [0, 0, 128, 63])
/// try file.write(toPath: "/tmp/checkpoint.safetensors")
/// let back = try SafeTensorsFile.read(atPath: "/tmp/checkpoint.safetensors")
/// ```
///
/// Files are written exactly as Python's `safetensors` 0.8 writes them: `__metadata__` first with
/// keys sorted (omitted when empty), then tensors ordered by dtype (8-byte types first, in the
/// order I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL) and then by name, compact JSON,
/// header padded with spaces to a multiple of 8 bytes.
///
/// ### See Also
/// - ``loadSafeTensors(atPath:)`` and ``saveSafeTensors(_:metadata:toPath:)`` for `Tensor`s.
public struct SafeTensorsFile: Equatable, Sendable {
    /// The `__metadata__` map (empty when the file has none).
    public var metadata: [String: String]
    /// The tensors by name.
    public var entries: [String: TensorBytes]

    /// Creates a file's contents.
    public init(metadata: [String: String] = [:], entries: [String: TensorBytes] = [:]) {
        self.metadata = metadata
        self.entries = entries
    }

    /// The tensor names, sorted.
    public var keys: [String] { entries.keys.sorted() }

    /// The tensor named `key`, if any.
    public subscript(key: String) -> TensorBytes? {
        get { entries[key] }
        set { entries[key] = newValue }
    }

    /// Reads and validates the safetensors file at `path` with one read of the whole file.
    ///
    /// - Throws: ``SafeTensorsError`` naming the file and the offending key (or `header`) when
    ///   the file cannot be read, is truncated, has a malformed header, an unknown dtype, or
    ///   byte ranges that overlap, leave gaps, exceed the data, or disagree with shape × dtype.
    public static func read(atPath path: String) throws(SafeTensorsError) -> SafeTensorsFile {
        let buffer = try SafeTensorsIO.readWholeFile(atPath: path)
        return try buffer.withUnsafeBytesTyped { (raw) throws(SafeTensorsError) in try parse(bytes: raw, name: path) }
    }

    /// Parses and validates safetensors bytes held in memory; `name` stands for the file in errors.
    public static func parse(bytes: UnsafeRawBufferPointer, name: String) throws(SafeTensorsError) -> SafeTensorsFile {
        let layout = try SafeTensorsLayout.parse(bytes, name: name)
        var entries: [String: TensorBytes] = [:]
        entries.reserveCapacity(layout.entries.count)
        for entry in layout.entries {
            entries[entry.name] = TensorBytes(dtype: entry.dtype, shape: entry.shape, bytes: Array(bytes[entry.range]))
        }
        return SafeTensorsFile(metadata: layout.metadata, entries: entries)
    }

    /// Parses and validates safetensors bytes held in memory; `name` stands for the file in errors.
    public static func parse(bytes: [UInt8], name: String) throws(SafeTensorsError) -> SafeTensorsFile {
        try bytes.withUnsafeBytesTyped { (raw) throws(SafeTensorsError) in try parse(bytes: raw, name: name) }
    }

    /// The file's bytes, exactly as ``write(toPath:)`` would write them.
    ///
    /// - Throws: ``SafeTensorsError/invalidTensor(file:key:reason:)`` (with file `<memory>`) when
    ///   a tensor's byte count disagrees with its shape or a name is `__metadata__`.
    public func serialized() throws(SafeTensorsError) -> [UInt8] {
        let plan = try SafeTensorsPlan(metadata: metadata, tensors: pendingTensors, file: "<memory>")
        var out = plan.prefixAndHeader
        out.reserveCapacity(plan.prefixAndHeader.count + plan.dataLength)
        for (tensor, byteCount) in plan.tensors {
            let bytes = entries[tensor.name]!.bytes
            guard bytes.count == byteCount else { throw plan.byteCountError(tensor, actual: bytes.count) }
            out.append(contentsOf: bytes)
        }
        return out
    }

    /// Writes the file atomically: to a temporary file in the same directory, flushed to disk,
    /// then renamed over `path`. On failure the temporary file is removed and any existing file
    /// at `path` is left as it was.
    ///
    /// - Throws: ``SafeTensorsError`` naming `path`.
    public func write(toPath path: String) throws(SafeTensorsError) {
        let plan = try SafeTensorsPlan(metadata: metadata, tensors: pendingTensors, file: path)
        try SafeTensorsIO.writeAtomically(plan, toPath: path)
    }

    private var pendingTensors: [PendingTensor] {
        entries.map { name, tensor in
            PendingTensor(name: name, dtype: tensor.dtype, shape: tensor.shape) { body in
                try tensor.bytes.withUnsafeBytes { try body($0) }
            }
        }
    }
}

/// A tensor waiting to be written: its bytes are produced on demand, so that tensors can be
/// streamed to disk without first being copied into arrays.
struct PendingTensor {
    var name: String
    var dtype: DType
    var shape: [Int]
    /// Calls `body` once with the tensor's little-endian row-major bytes.
    var withBytes: (_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
}

/// The byte count of `shape` × `dtype`, or `nil` on overflow or a negative dimension.
func safeTensorsByteCount(shape: [Int], dtype: DType) -> Int? {
    var count = dtype.byteSize
    for dimension in shape {
        guard dimension >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
        if overflow { return nil }
        count = product
    }
    return count
}

/// A validated file layout ready to be written: prefix and header bytes, tensors in data order.
struct SafeTensorsPlan {
    var prefixAndHeader: [UInt8]
    var tensors: [(tensor: PendingTensor, byteCount: Int)]
    var dataLength: Int
    var file: String

    /// The error for a tensor whose bytes do not match its shape and dtype.
    func byteCountError(_ tensor: PendingTensor, actual: Int) -> SafeTensorsError {
        let expected = safeTensorsByteCount(shape: tensor.shape, dtype: tensor.dtype) ?? -1
        return .invalidTensor(
            file: file, key: tensor.name,
            reason: "shape \(tensor.shape) of \(tensor.dtype.safeTensorsName) needs \(expected) bytes but \(actual) were given")
    }

    init(metadata: [String: String], tensors unordered: [PendingTensor], file: String) throws(SafeTensorsError) {
        var seen: Set<String> = []
        for tensor in unordered {
            guard tensor.name != "__metadata__" else {
                throw .invalidTensor(file: file, key: tensor.name, reason: "the name __metadata__ is reserved")
            }
            guard seen.insert(tensor.name).inserted else {
                throw .invalidTensor(file: file, key: tensor.name, reason: "name given more than once")
            }
        }
        let ordered = unordered.sorted { a, b in
            if a.dtype.safeTensorsRank != b.dtype.safeTensorsRank {
                return a.dtype.safeTensorsRank > b.dtype.safeTensorsRank
            }
            return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
        var header: [UInt8] = [UInt8(ascii: "{")]
        var first = true
        if !metadata.isEmpty {
            header.append(contentsOf: Array("\"__metadata__\":{".utf8))
            let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (index, key) in keys.enumerated() {
                if index > 0 { header.append(UInt8(ascii: ",")) }
                JSONWriter.appendString(key, to: &header)
                header.append(UInt8(ascii: ":"))
                JSONWriter.appendString(metadata[key]!, to: &header)
            }
            header.append(UInt8(ascii: "}"))
            first = false
        }
        var offset = 0
        var planned: [(tensor: PendingTensor, byteCount: Int)] = []
        for tensor in ordered {
            guard let byteCount = safeTensorsByteCount(shape: tensor.shape, dtype: tensor.dtype) else {
                throw .invalidTensor(file: file, key: tensor.name, reason: "invalid shape \(tensor.shape)")
            }
            if !first { header.append(UInt8(ascii: ",")) }
            first = false
            JSONWriter.appendString(tensor.name, to: &header)
            header.append(contentsOf: Array(":{\"dtype\":\"\(tensor.dtype.safeTensorsName)\",\"shape\":[".utf8))
            for (index, dimension) in tensor.shape.enumerated() {
                if index > 0 { header.append(UInt8(ascii: ",")) }
                JSONWriter.appendInt(dimension, to: &header)
            }
            header.append(contentsOf: Array("],\"data_offsets\":[".utf8))
            JSONWriter.appendInt(offset, to: &header)
            header.append(UInt8(ascii: ","))
            JSONWriter.appendInt(offset + byteCount, to: &header)
            header.append(contentsOf: Array("]}".utf8))
            planned.append((tensor, byteCount))
            offset += byteCount
        }
        header.append(UInt8(ascii: "}"))
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var prefix: [UInt8] = []
        var length = UInt64(header.count)
        for _ in 0..<8 {
            prefix.append(UInt8(truncatingIfNeeded: length))
            length >>= 8
        }
        self.prefixAndHeader = prefix + header
        self.tensors = planned
        self.dataLength = offset
        self.file = file
    }
}

/// The validated layout of a safetensors buffer: metadata and each tensor's byte range.
struct SafeTensorsLayout {
    struct Entry {
        var name: String
        var dtype: DType
        var shape: [Int]
        /// The tensor's bytes as a range of the whole buffer (prefix and header included).
        var range: Range<Int>
    }

    /// The reference implementation's limit on the header size.
    static let maximumHeaderLength = 100_000_000

    var metadata: [String: String]
    /// Entries in data order.
    var entries: [Entry]

    static func parse(_ buffer: UnsafeRawBufferPointer, name file: String) throws(SafeTensorsError) -> SafeTensorsLayout {
        guard buffer.count >= 8 else { throw .missingHeaderLength(file: file, fileSize: buffer.count) }
        var headerLength: UInt64 = 0
        for index in (0..<8).reversed() { headerLength = headerLength << 8 | UInt64(buffer[index]) }
        guard headerLength <= UInt64(maximumHeaderLength), headerLength <= UInt64(buffer.count - 8) else {
            throw .invalidHeaderLength(file: file, headerLength: headerLength, fileSize: buffer.count)
        }
        let dataStart = 8 + Int(headerLength)
        let dataLength = buffer.count - dataStart
        let json: JSONValue
        do {
            json = try JSONReader.parse(UnsafeRawBufferPointer(rebasing: buffer[8..<dataStart]))
        } catch {
            throw .invalidHeader(file: file, offset: error.offset, reason: "bad JSON: \(error.message)")
        }
        guard case .object(let members) = json else {
            throw .invalidHeader(file: file, offset: nil, reason: "expected a JSON object, found \(json.kindName)")
        }

        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        entries.reserveCapacity(members.count)
        for member in members {
            let key = member.key, value = member.value
            if key == "__metadata__" {
                guard case .object(let pairs) = value else {
                    throw .invalidMetadata(file: file, key: nil, reason: "expected an object, found \(value.kindName)")
                }
                for pair in pairs {
                    let metadataKey = pair.key, metadataValue = pair.value
                    guard case .string(let string) = metadataValue else {
                        throw .invalidMetadata(file: file, key: metadataKey, reason: "expected a string, found \(metadataValue.kindName)")
                    }
                    metadata[metadataKey] = string
                }
                continue
            }
            entries.append(try parseEntry(key: key, value: value, dataStart: dataStart, dataLength: dataLength, file: file))
        }

        // The byte ranges must tile [0, dataLength) exactly.
        entries.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        var covered = dataStart
        var previous: String?
        for entry in entries {
            if entry.range.lowerBound < covered, let previous {
                throw .overlappingData(file: file, key: entry.name, otherKey: previous)
            }
            if entry.range.lowerBound > covered {
                throw .gapInData(file: file, key: entry.name, gapStart: covered - dataStart, gapEnd: entry.range.lowerBound - dataStart)
            }
            covered = entry.range.upperBound
            previous = entry.name
        }
        if covered < buffer.count {
            throw .trailingData(file: file, unusedBytes: buffer.count - covered)
        }
        return SafeTensorsLayout(metadata: metadata, entries: entries)
    }

    private static func parseEntry(
        key: String, value: JSONValue, dataStart: Int, dataLength: Int, file: String
    ) throws(SafeTensorsError) -> Entry {
        guard case .object(let fields) = value else {
            throw .invalidEntry(file: file, key: key, reason: "expected an object, found \(value.kindName)")
        }
        func field(_ name: String) throws(SafeTensorsError) -> JSONValue {
            guard let found = fields.first(where: { $0.key == name }) else {
                throw .invalidEntry(file: file, key: key, reason: "missing \"\(name)\"")
            }
            return found.value
        }
        guard case .string(let dtypeName) = try field("dtype") else {
            throw .invalidEntry(file: file, key: key, reason: "\"dtype\" is not a string")
        }
        guard case .array(let shapeValues) = try field("shape") else {
            throw .invalidEntry(file: file, key: key, reason: "\"shape\" is not an array")
        }
        var shape: [Int] = []
        for dimension in shapeValues {
            guard let size = dimension.nonNegativeInt else {
                throw .invalidEntry(file: file, key: key, reason: "\"shape\" holds \(dimension.briefDescription), not a non-negative integer")
            }
            shape.append(size)
        }
        guard case .array(let offsetValues) = try field("data_offsets"), offsetValues.count == 2,
              let begin = offsetValues[0].nonNegativeInt, let end = offsetValues[1].nonNegativeInt
        else {
            throw .invalidEntry(file: file, key: key, reason: "\"data_offsets\" is not a pair of non-negative integers")
        }
        guard begin <= end else {
            throw .invalidEntry(file: file, key: key, reason: "data_offsets [\(begin), \(end)] end before they begin")
        }
        guard let dtype = DType(safeTensorsName: dtypeName) else {
            throw .unknownDType(file: file, key: key, dtype: dtypeName)
        }
        guard let expected = safeTensorsByteCount(shape: shape, dtype: dtype) else {
            throw .invalidEntry(file: file, key: key, reason: "shape \(shape) has too many elements")
        }
        guard expected == end - begin else {
            throw .byteLengthMismatch(file: file, key: key, shape: shape, dtype: dtypeName, expected: expected, actual: end - begin)
        }
        guard end <= dataLength else {
            throw .offsetsOutOfRange(file: file, key: key, begin: begin, end: end, dataLength: dataLength)
        }
        return Entry(name: key, dtype: dtype, shape: shape, range: (dataStart + begin)..<(dataStart + end))
    }
}
