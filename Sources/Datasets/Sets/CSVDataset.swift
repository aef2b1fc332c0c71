/// How to read a CSV/TSV file of image paths and captions.
public struct CSVOptions: Sendable, Hashable {
    /// The field separator; `nil` picks tab for `.tsv` files and for headers that contain a tab
    /// but no comma, else comma.
    public var separator: UInt8?
    /// The image-path column; `nil` takes the first of `filepath`, `path`, `image`, `image_path`,
    /// `file`, `filename` in the header.
    public var imageColumn: String?
    /// The caption column; `nil` takes the first of `title`, `caption`, `text`, `captions`.
    public var captionColumn: String?
    /// Whether a caption column is required; when `false` and none is found, captions are empty.
    public var requiresCaption: Bool
    /// The integer class-label column; `nil` takes `label` if the header has it.
    public var labelColumn: String?
    /// Where relative image paths start; `nil` means the CSV file's folder.
    public var imageRoot: String?

    public init(separator: UInt8? = nil, imageColumn: String? = nil, captionColumn: String? = nil,
                labelColumn: String? = nil, imageRoot: String? = nil, requiresCaption: Bool = true) {
        self.requiresCaption = requiresCaption
        self.separator = separator; self.imageColumn = imageColumn; self.captionColumn = captionColumn
        self.labelColumn = labelColumn; self.imageRoot = imageRoot
    }

    static let imageColumnNames = ["filepath", "path", "image", "image_path", "file", "filename"]
    static let captionColumnNames = ["title", "caption", "text", "captions"]
}

/// A CSV/TSV file with a header row, an image-path column and a caption column (and optionally a
/// label column; other columns are allowed and ignored). Fields follow RFC 4180: a quoted field
/// may hold separators, doubled quotes and newlines.
///
/// The file is read as a stream: opening it scans it once and keeps only each record's byte
/// offset and starting line (12 bytes a row), and items are parsed on demand with positioned
/// reads, so a file of millions of rows costs tens of megabytes, not the rows themselves.
/// A malformed record (too few columns, an unterminated quote, a bad label) is reported with its
/// line number when it is read.
///
/// ```swift
/// let set = try CSVDataset(path: "cc3m/train.tsv", options: CSVOptions(captionColumn: "title"))
/// ```
public struct CSVDataset: ImageTextDataset {
    public let path: String
    /// The header's column names.
    public let columnNames: [String]
    public let separator: UInt8
    /// The positions in ``columnNames`` of the image, caption and label columns.
    public let imageColumnIndex: Int
    public let captionColumnIndex: Int?
    public let labelColumnIndex: Int?
    public let imageRoot: String
    private let file: RandomAccessFile
    private let offsets: [Int]  // record starts, plus the end of the last record
    private let lines: [Int32]  // 1-based line of each record's start

    public var count: Int { lines.count }
    public var hasLabels: Bool { labelColumnIndex != nil }

    public init(path: String, options: CSVOptions = CSVOptions()) throws(DataError) {
        self.path = path
        file = try RandomAccessFile(path: path)
        let separator: UInt8
        if let given = options.separator {
            separator = given
        } else {
            let head = try file.read(offset: 0, count: min(file.size, 1 << 16))
            let firstLine = head.prefix { $0 != 10 }
            let looksTabbed = firstLine.contains(9) && !firstLine.contains(44)
            separator = (path.lowercased().hasSuffix(".tsv") || looksTabbed) ? 9 : 44
        }
        let scan = try Self.scan(file, separator: separator)
        guard let headerRange = scan.header else { throw .format(path: path, reason: "empty file (no header row)") }
        guard headerRange.end - headerRange.start <= maxRecordBytes else {
            throw .malformedRow(path: path, line: 1, reason: "header row longer than \(maxRecordBytes) bytes (an unterminated quote?)")
        }
        var headerBytes = try file.read(offset: headerRange.start, count: headerRange.end - headerRange.start)
        if headerBytes.starts(with: [0xEF, 0xBB, 0xBF]) { headerBytes.removeFirst(3) }
        if headerBytes.contains(0) {
            throw .format(path: path, reason: "binary data (NUL bytes in the first row), not a CSV/TSV text file")
        }
        self.separator = separator
        guard case let .fields(names) = Self.parseFields(headerBytes, separator: separator) else {
            throw .malformedRow(path: path, line: 1, reason: "unterminated quoted field in the header")
        }
        let columnNames = names.map { $0.trimmingSpaces() }
        self.columnNames = columnNames
        func column(_ requested: String?, defaults: [String], role: String) throws(DataError) -> Int {
            if let requested {
                guard let found = columnNames.firstIndex(of: requested) else {
                    throw .missingColumn(path: path, column: requested, header: columnNames)
                }
                return found
            }
            for name in defaults { if let found = columnNames.firstIndex(of: name) { return found } }
            throw .missingColumn(path: path, column: "\(role) (one of \(defaults.joined(separator: ", ")))", header: columnNames)
        }
        imageColumnIndex = try column(options.imageColumn, defaults: CSVOptions.imageColumnNames, role: "image path")
        if options.requiresCaption || options.captionColumn != nil {
            captionColumnIndex = try column(options.captionColumn, defaults: CSVOptions.captionColumnNames, role: "caption")
        } else {
            captionColumnIndex = CSVOptions.captionColumnNames.lazy.compactMap { columnNames.firstIndex(of: $0) }.first
        }
        if let label = options.labelColumn {
            labelColumnIndex = try column(label, defaults: [], role: "label")
        } else {
            labelColumnIndex = columnNames.firstIndex(of: "label")
        }
        imageRoot = options.imageRoot ?? parentFolder(of: path)
        offsets = scan.offsets
        lines = scan.lines
    }

    /// The 1-based line on which item `index`'s record starts.
    public func line(of index: Int) -> Int { Int(lines[index]) }

    /// All fields of item `index`'s record, in header order.
    public func fields(at index: Int) throws(DataError) -> [String] {
        precondition((0..<count).contains(index), "index \(index) out of range 0..<\(count)")
        let length = offsets[index + 1] - offsets[index]
        guard length <= maxRecordBytes else {
            throw .malformedRow(path: path, line: line(of: index),
                reason: "record of \(length) bytes, more than the \(maxRecordBytes)-byte limit (an unterminated quote?)")
        }
        let bytes = try file.read(offset: offsets[index], count: length)
        switch Self.parseFields(bytes, separator: separator) {
        case .unterminatedQuote:
            throw .malformedRow(path: path, line: line(of: index), reason: "unterminated quoted field")
        case let .fields(fields):
            guard fields.count >= columnNames.count else {
                throw .malformedRow(path: path, line: line(of: index),
                    reason: "\(fields.count) column\(fields.count == 1 ? "" : "s"), the header has \(columnNames.count)")
            }
            return fields
        }
    }

    public func record(at index: Int) throws(DataError) -> DataRecord {
        let fields = try fields(at: index)
        let relative = fields[imageColumnIndex].trimmingSpaces()
        guard !relative.isEmpty else {
            throw .malformedRow(path: path, line: line(of: index), reason: "empty image path")
        }
        var label: Int?
        if let labelColumnIndex {
            guard let value = Int(fields[labelColumnIndex].trimmingSpaces()) else {
                throw .malformedRow(path: path, line: line(of: index),
                    reason: "label \"\(fields[labelColumnIndex])\" is not an integer")
            }
            label = value
        }
        let caption = captionColumnIndex.map { fields[$0] } ?? ""
        guard caption.utf8.count <= maxCaptionBytes else {
            throw .malformedRow(path: path, line: line(of: index),
                reason: "caption of \(caption.utf8.count) bytes, more than the \(maxCaptionBytes)-byte limit")
        }
        return DataRecord(index: index, imageSource: resolvePath(relative, against: imageRoot), caption: caption, label: label)
    }

    public func sample(at index: Int) throws(DataError) -> DataSample {
        try decodeFile(record(at: index))
    }

    // MARK: Scanning and parsing

    private struct Scan {
        var header: (start: Int, end: Int)?
        var offsets: [Int] = []
        var lines: [Int32] = []
    }

    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted }

    /// Finds record boundaries in one pass over the file, 1 MiB at a time. Quote state is tracked
    /// so that newlines inside quoted fields do not end records. Blank lines are skipped.
    private static func scan(_ file: RandomAccessFile, separator: UInt8) throws(DataError) -> Scan {
        var result = Scan()
        var state = State.fieldStart
        var recordStart = 0, recordLine = 1, line = 1
        var recordHasContent = false
        let chunkSize = 1 << 20
        var position = 0
        let quote = UInt8(ascii: "\""), newline = UInt8(ascii: "\n"), carriage = UInt8(ascii: "\r")
        func endRecord(at end: Int) {
            if recordHasContent {
                if result.header == nil {
                    result.header = (recordStart, end)
                } else {
                    result.offsets.append(recordStart)
                    result.lines.append(Int32(truncatingIfNeeded: recordLine))
                }
            }
            recordStart = end + 1
            recordLine = line
            recordHasContent = false
            state = .fieldStart
        }
        while position < file.size {
            let chunk = try file.read(offset: position, count: min(chunkSize, file.size - position))
            if chunk.isEmpty { break }
            chunk.withUnsafeBufferPointer { bytes in
                for i in 0..<bytes.count {
                    let byte = bytes[i]
                    if byte == newline { line += 1 }
                    switch state {
                    case .quoted:
                        if byte == quote { state = .quoteInQuoted }
                    case .fieldStart, .unquoted, .quoteInQuoted:
                        if byte == newline {
                            endRecord(at: position + i)
                        } else if byte == quote && state == .fieldStart {
                            state = .quoted; recordHasContent = true
                        } else if byte == quote && state == .quoteInQuoted {
                            state = .quoted
                        } else if byte != carriage {
                            // Any other byte: content. A separator starts a new field.
                            recordHasContent = true
                            state = byte == separator ? .fieldStart : .unquoted
                        }
                    }
                }
            }
            position += chunk.count
        }
        endRecord(at: file.size)
        // Each record runs to the next one's start, so its bytes may end with its newline and
        // blank lines, which parsing drops.
        result.offsets.append(file.size)
        return result
    }

    enum ParsedRecord { case fields([String]), unterminatedQuote }

    /// Splits one record into fields (RFC 4180 quoting; trailing CR/LF and blank lines dropped).
    static func parseFields(_ raw: [UInt8], separator: UInt8) -> ParsedRecord {
        var end = raw.count
        var fields: [String] = []
        var current: [UInt8] = []
        var state = State.fieldStart
        let quote = UInt8(ascii: "\"")
        var i = 0
        // Drop trailing newlines and carriage returns outside quotes (checked after parsing).
        while end > 0 && (raw[end - 1] == 10 || raw[end - 1] == 13) { end -= 1 }
        while i < end {
            let byte = raw[i]
            switch state {
            case .fieldStart:
                if byte == quote { state = .quoted }
                else if byte == separator { fields.append("") }
                else { current.append(byte); state = .unquoted }
            case .unquoted:
                if byte == separator {
                    fields.append(String(decoding: current, as: UTF8.self)); current.removeAll(keepingCapacity: true)
                    state = .fieldStart
                } else { current.append(byte) }
            case .quoted:
                if byte == quote { state = .quoteInQuoted } else { current.append(byte) }
            case .quoteInQuoted:
                if byte == quote { current.append(quote); state = .quoted }
                else if byte == separator {
                    fields.append(String(decoding: current, as: UTF8.self)); current.removeAll(keepingCapacity: true)
                    state = .fieldStart
                } else { current.append(byte); state = .unquoted }
            }
            i += 1
        }
        if state == .quoted { return .unterminatedQuote }
        fields.append(String(decoding: current, as: UTF8.self))
        return .fields(fields)
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs, CRs and LFs.
    func trimmingSpaces() -> String {
        let scalars = unicodeScalars
        let isSpace: (Unicode.Scalar) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return String(scalars[first...last])
    }
}

/// Writes CSV files: a header, then rows, quoting fields that need it (RFC 4180).
public struct CSVWriter {
    private var buffer: [UInt8] = []
    public let separator: UInt8

    /// Starts a file with the given header.
    public init(header: [String], separator: UInt8 = UInt8(ascii: ",")) {
        self.separator = separator
        append(row: header)
    }

    /// Appends one row.
    public mutating func append(row: [String]) {
        for (i, field) in row.enumerated() {
            if i > 0 { buffer.append(separator) }
            let bytes = Array(field.utf8)
            let needsQuotes = bytes.contains { $0 == separator || $0 == 34 || $0 == 10 || $0 == 13 }
            if needsQuotes {
                buffer.append(34)
                for byte in bytes {
                    if byte == 34 { buffer.append(34) }
                    buffer.append(byte)
                }
                buffer.append(34)
            } else {
                buffer += bytes
            }
        }
        buffer.append(10)
    }

    /// Writes everything appended so far to `path`.
    public func write(toPath path: String) throws(DataError) {
        try writeWholeFile(path, buffer)
    }
}
