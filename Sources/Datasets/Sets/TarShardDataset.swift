import Foundation

/// webdataset shards: `.tar` files whose members are grouped by key, as img2dataset writes them
/// (`00001.jpg` + `00001.txt`, optionally `00001.cls` with an integer label). The key is the
/// member's path up to the first dot of its file name; images may be `.jpg`, `.jpeg` or `.png`.
///
/// Opening the shards reads only their 512-byte headers and keeps, per item, where its image
/// and text members lie; items are read with positioned reads when needed. A key without an
/// image or without a caption is kept as an item that fails with a reason, so it is counted.
///
/// ```swift
/// let set = try TarShardDataset(paths: ["shards/00000.tar", "shards/00001.tar"])
/// ```
public struct TarShardDataset: ImageTextDataset {
    /// One member's place inside its shard.
    struct Member: Sendable { var offset: Int; var size: Int; var name: String }
    struct Entry: Sendable {
        var shard: Int
        var key: String
        var image: Member?
        var text: Member?
        var label: Member?
    }

    public let paths: [String]
    private let files: [RandomAccessFile]
    private let entries: [Entry]

    public var count: Int { entries.count }
    public let hasLabels: Bool

    /// Opens shards; `paths` may name `.tar` files or folders, whose `.tar` files are taken in name order.
    public init(paths: [String]) throws(DataError) {
        var shardPaths: [String] = []
        for path in paths {
            switch pathKind(path) {
            case .directory:
                shardPaths += try directoryEntries(path).filter { $0.hasSuffix(".tar") }.map { resolvePath($0, against: path) }
            case .missing: throw .io(path: path, reason: "no such file or folder")
            default: shardPaths.append(path)
            }
        }
        guard !shardPaths.isEmpty else { throw .invalidArgument("no .tar shards in \(paths.joined(separator: ", "))") }
        self.paths = shardPaths
        var files: [RandomAccessFile] = []
        var entries: [Entry] = []
        for (shardIndex, path) in shardPaths.enumerated() {
            let file = try RandomAccessFile(path: path)
            files.append(file)
            var byKey: [String: Int] = [:]
            for member in try Self.members(of: file) {
                let (key, ext) = Self.splitKey(member.name)
                guard !ext.isEmpty else { continue }
                let slot: Int
                if let existing = byKey[key] {
                    slot = existing
                } else {
                    slot = entries.count
                    byKey[key] = slot
                    entries.append(Entry(shard: shardIndex, key: key))
                }
                switch ext {
                case "jpg", "jpeg", "png": entries[slot].image = member
                case "txt": entries[slot].text = member
                case "cls": entries[slot].label = member
                default: continue
                }
            }
        }
        // Keys with only unrelated members (e.g. .json alone) are not items.
        entries.removeAll { $0.image == nil && $0.text == nil }
        self.files = files
        self.entries = entries
        hasLabels = entries.contains { $0.label != nil }
    }

    /// `dir/00001.seg.jpg` → (`dir/00001`, `seg.jpg` lowercased).
    static func splitKey(_ name: String) -> (key: String, ext: String) {
        let folderEnd = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let dot = name[folderEnd...].firstIndex(of: ".") else { return (name, "") }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]).lowercased())
    }

    /// The regular-file members of a tar file (ustar, GNU long names, pax path records).
    static func members(of file: RandomAccessFile) throws(DataError) -> [Member] {
        var members: [Member] = []
        var offset = 0
        var pendingName: String?
        while offset + 512 <= file.size {
            let header = try file.read(offset: offset, count: 512)
            if header.allSatisfy({ $0 == 0 }) { break }
            func text(_ range: Range<Int>) -> String {
                String(decoding: header[range].prefix { $0 != 0 }, as: UTF8.self)
            }
            let storedSum = Int(text(148..<156).trimmingSpaces(), radix: 8)
            let actualSum = header.enumerated().reduce(0) { $0 + ((148..<156).contains($1.offset) ? 32 : Int($1.element)) }
            guard storedSum == actualSum else {
                throw .format(path: file.path, reason: "bad tar header checksum at byte \(offset)")
            }
            let type = header[156]
            var name = text(0..<100)
            if text(257..<262) == "ustar" {
                let prefix = text(345..<500)
                if !prefix.isEmpty { name = prefix + "/" + name }
            }
            guard let size = memberSize(header) else {
                throw .format(path: file.path, reason: "tar member \(printable(name)) at byte \(offset) has an invalid size field (negative or not a number)")
            }
            let dataOffset = offset + 512
            guard size <= file.size - dataOffset else {
                throw .format(path: file.path, reason: "tar member \(name) is truncated (needs \(size) bytes at \(dataOffset))")
            }
            switch type {
            case UInt8(ascii: "L"), UInt8(ascii: "x"):
                guard size <= Self.maxMetadataMemberBytes else {
                    throw .format(path: file.path, reason: "tar metadata record at byte \(offset) holds \(size) bytes, more than \(Self.maxMetadataMemberBytes)")
                }
                fallthrough
            default: break
            }
            switch type {
            case UInt8(ascii: "L"):
                let bytes = try file.read(offset: dataOffset, count: size)
                pendingName = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            case UInt8(ascii: "x"):
                let bytes = try file.read(offset: dataOffset, count: size)
                for record in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                    if let equals = record.firstIndex(of: "="), record[..<equals].hasSuffix(" path") {
                        pendingName = String(record[record.index(after: equals)...])
                    }
                }
            case UInt8(ascii: "0"), 0, UInt8(ascii: "7"):
                let memberName = pendingName ?? name
                pendingName = nil
                members.append(Member(offset: dataOffset, size: size, name: memberName.hasPrefix("./") ? String(memberName.dropFirst(2)) : memberName))
            default:
                pendingName = nil
            }
            offset = dataOffset + (size + 511) / 512 * 512
        }
        return members
    }

    /// The largest GNU long-name or pax record accepted (they are read into memory whole).
    static let maxMetadataMemberBytes = 1 << 20

    /// The size field of a tar header: octal digits, or GNU's base-256 (high bit of the first
    /// byte set); nil for a negative, malformed or overflowing value.
    static func memberSize(_ header: [UInt8]) -> Int? {
        if header[124] & 0x80 != 0 {
            guard header[124] & 0x40 == 0 else { return nil }  // negative base-256
            var value = Int(header[124] & 0x3F)
            for byte in header[125..<136] {
                guard value <= (Int.max >> 8) else { return nil }
                value = value << 8 | Int(byte)
            }
            return value
        }
        let digits = String(decoding: header[124..<136].prefix { $0 != 0 }, as: UTF8.self).trimmingSpaces()
        if digits.isEmpty { return 0 }
        guard digits.allSatisfy({ ("0"..."7").contains($0) }) else { return nil }
        return Int(digits, radix: 8)
    }

    private func source(_ entry: Entry, _ member: Member?) -> String {
        "\(paths[entry.shard]):\(member?.name ?? entry.key)"
    }

    public func record(at index: Int) throws(DataError) -> DataRecord {
        let entry = entries[index]
        let file = files[entry.shard]
        guard let image = entry.image else {
            throw .format(path: source(entry, nil), reason: "no .jpg/.jpeg/.png member for key \(entry.key)")
        }
        guard let text = entry.text else {
            throw .format(path: source(entry, image), reason: "no .txt member for key \(entry.key)")
        }
        guard text.size <= maxCaptionBytes else {
            throw .format(path: source(entry, text), reason: "caption of \(text.size) bytes, more than the \(maxCaptionBytes)-byte limit")
        }
        let caption = String(decoding: try file.read(offset: text.offset, count: text.size), as: UTF8.self).trimmingSpaces()
        var label: Int?
        if let member = entry.label {
            guard member.size <= 64 else {
                throw .format(path: source(entry, member), reason: "label member of \(member.size) bytes is not an integer")
            }
            let raw = String(decoding: try file.read(offset: member.offset, count: member.size), as: UTF8.self).trimmingSpaces()
            guard let value = Int(raw) else {
                throw .format(path: source(entry, member), reason: "label \"\(raw)\" is not an integer")
            }
            label = value
        }
        return DataRecord(index: index, imageSource: source(entry, image), caption: caption, label: label)
    }

    public func sample(at index: Int) throws(DataError) -> DataSample {
        let record = try record(at: index)
        let entry = entries[index]
        guard let member = entry.image else { throw .format(path: record.imageSource, reason: "no image") }
        let bytes = try files[entry.shard].read(offset: member.offset, count: member.size)
        do {
            let image = try decodeImage(bytes: bytes, name: record.imageSource)
            return DataSample(index: index, image: image, caption: record.caption, label: record.label)
        } catch {
            throw .image(path: record.imageSource, reason: error.reason)
        }
    }
}

extension TarShardDataset {
    /// Copies the shards into `folder` under their own file names, without the entries `keep`
    /// rejects (every member of a kept entry — image, caption, label — is copied byte for byte).
    /// One shard is held in memory at a time.
    ///
    /// - Returns: the written shard paths, in shard order.
    /// - Throws: ``DataError`` naming the shard that cannot be read or written.
    public func writeCopy(into folder: String, keeping keep: (Int) -> Bool) throws(DataError) -> [String] {
        var written: [String] = []
        for (shard, path) in paths.enumerated() {
            var writer = TarWriter()
            for (index, entry) in entries.enumerated() where entry.shard == shard && keep(index) {
                for member in [entry.image, entry.text, entry.label].compactMap({ $0 }) {
                    writer.add(name: member.name, contents: try files[shard].read(offset: member.offset, count: member.size))
                }
            }
            let target = folder + "/" + (path as NSString).lastPathComponent
            do {
                try Data(writer.finished()).write(to: URL(fileURLWithPath: target), options: .atomic)
            } catch {
                throw .io(path: target, reason: "cannot be written (\(error.localizedDescription))")
            }
            written.append(target)
        }
        return written
    }
}

/// Writes a tar file (ustar) in memory; used to write webdataset shards.
public struct TarWriter {
    private var bytes: [UInt8] = []

    public init() {}

    /// Adds a regular file member. Names longer than 100 bytes are stored with a ustar prefix.
    public mutating func add(name: String, contents: [UInt8]) {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ string: String, at start: Int, width: Int) {
            for (i, byte) in string.utf8.prefix(width).enumerated() { header[start + i] = byte }
        }
        var stored = name, prefix = ""
        if name.utf8.count > 100, let slash = name.lastIndex(of: "/") {
            prefix = String(name[..<slash]); stored = String(name[name.index(after: slash)...])
        }
        put(stored, at: 0, width: 100)
        put("0000644", at: 100, width: 8)
        put("0000000", at: 108, width: 8)
        put("0000000", at: 116, width: 8)
        put(octal(contents.count, digits: 11), at: 124, width: 12)
        put("00000000000", at: 136, width: 12)
        header[156] = UInt8(ascii: "0")
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        put(prefix, at: 345, width: 155)
        for i in 148..<156 { header[i] = 32 }
        let sum = header.reduce(0) { $0 + Int($1) }
        put(octal(sum, digits: 6), at: 148, width: 6)
        header[154] = 0; header[155] = 32
        bytes += header
        bytes += contents
        bytes += [UInt8](repeating: 0, count: (512 - contents.count % 512) % 512)
    }

    /// The tar file's bytes, with the two closing zero blocks.
    public func finished() -> [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
}

/// `value` in octal, zero-padded on the left to `digits` digits (tar header fields).
private func octal(_ value: Int, digits: Int) -> String {
    let text = String(value, radix: 8)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
}
