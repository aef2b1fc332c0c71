import Dispatch
import Foundation

/// Titles and keywords of one Open Clip Art drawing, read from its SVG's RDF metadata:
/// `<dc:title>` (outside `<dc:creator>`/`<dc:publisher>`/`<dc:rights>`/`<dc:contributor>`, which
/// also hold titles, of agents), `<rdf:li>` items inside `<dc:subject>`, and `<dc:description>`.
public struct OpenClipArtMetadata: Sendable, Hashable {
    public var title: String
    public var keywords: [String]
    public var description: String

    public init(title: String, keywords: [String], description: String) {
        self.title = title; self.keywords = keywords; self.description = description
    }

    /// Parses the metadata out of an SVG file's bytes, looking only inside its `<metadata>` element
    /// (SVG files can be megabytes of path data; the metadata is a few hundred bytes).
    public init(svgBytes bytes: [UInt8]) {
        let start = Self.find(Array("<metadata".utf8), in: bytes, from: 0)
        let end = start.flatMap { Self.find(Array("</metadata>".utf8), in: bytes, from: $0) }
        if let start, let end {
            self.init(svg: String(decoding: bytes[start..<end], as: UTF8.self))
        } else if let title = Self.find(Array("<dc:title".utf8), in: bytes, from: 0) {
            // No <metadata> wrapper: parse from the first title on, a bounded window.
            self.init(svg: String(decoding: bytes[title..<min(bytes.count, title + 65_536)], as: UTF8.self))
        } else {
            self.init(title: "", keywords: [], description: "")
        }
    }

    /// The first position of `needle` in `haystack` at or after `from`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        return haystack.withUnsafeBufferPointer { buffer -> Int? in
            var i = from
            let last = buffer.count - needle.count
            while i <= last {
                if buffer[i] == first {
                    var k = 1
                    while k < needle.count && buffer[i + k] == needle[k] { k += 1 }
                    if k == needle.count { return i }
                }
                i += 1
            }
            return nil
        }
    }

    /// Parses the metadata out of an SVG document's text (or its `<metadata>` element).
    public init(svg: String) {
        var text = svg
        for agent in ["dc:creator", "dc:publisher", "dc:rights", "dc:contributor"] {
            text = Self.removingElements(agent, from: text)
        }
        title = Self.collapse(Self.firstElement("dc:title", in: text).map(Self.stripTags) ?? "")
        description = Self.collapse(Self.firstElement("dc:description", in: text).map(Self.stripTags) ?? "")
        var keywords: [String] = []
        if let subject = Self.firstElement("dc:subject", in: text) {
            var rest = Substring(subject)
            while let item = Self.nextElement("rdf:li", in: &rest) {
                // Some files put several keywords in one item, separated by commas or spaces.
                for word in Self.collapse(Self.stripTags(item)).split(separator: ",") {
                    let keyword = Self.collapse(String(word))
                    if !keyword.isEmpty && !keywords.contains(keyword) { keywords.append(keyword) }
                }
            }
        }
        self.keywords = keywords
    }

    /// Titles that say nothing about a drawing's content.
    static let junkTitles: Set<String> = [
        "untitled", "title", "image", "drawing", "clipart", "clip art", "picture", "icon", "new", "test",
        "svg", "png", "unnamed", "no title", "none", "layer", "layer 1", "graphic", "art", "design",
    ]
    /// Words that mark a title as the name of a collection or theme rather than of the drawing.
    static let collectionWords = ["collection", "theme", "iconset", "icon set", "cliparts", "svg"]
    static let junkKeywords: Set<String> = [
        "clip art", "clipart", "image", "media", "png", "svg", "public domain", "externalsource",
        "how i did it", "remix", "openclipart", "ocal", "unsorted", "untagged", "hash", "icon", "icons", "theme",
    ]

    /// The title with underscores as spaces and an author prefix ("Clipart by X - ") removed.
    public var cleanedTitle: String {
        var text = Self.collapse(title.replacingOccurrences(of: "_", with: " "))
        if text.lowercased().hasPrefix("clipart by "), let dash = text.range(of: " - ") {
            text = String(text[dash.upperBound...])
        }
        return text
    }

    /// Whether the title names something (not empty, not a placeholder, not a file name, id or
    /// collection name).
    public var hasUsefulTitle: Bool {
        let lower = cleanedTitle.lowercased()
        if lower.isEmpty || Self.junkTitles.contains(lower) || lower.hasPrefix("untitled") { return false }
        for ext in [".svg", ".png", ".jpg", ".jpeg", ".gif", ".ai", ".eps"] where lower.contains(ext) { return false }
        let words = lower.split(whereSeparator: { !$0.isLetter })
        if Self.collectionWords.contains(where: { phrase in
            let parts = phrase.split(separator: " ")
            return words.indices.contains { start in
                start + parts.count <= words.count && Array(words[start..<(start + parts.count)]) == parts
            }
        }) { return false }
        let letters = lower.unicodeScalars.filter { $0.properties.isAlphabetic }.count
        if letters < 3 { return false }
        // Placeholder-with-number titles such as "drawing-12", "image123", "Layer 1".
        let stem = lower.unicodeScalars.filter { $0.properties.isAlphabetic }.map(Character.init)
        if Self.junkTitles.contains(String(stem)) { return false }
        return true
    }

    /// Keywords worth adding to a caption: underscores as spaces; no tool-generated tags
    /// (`hash(0x…)`, `mapsym`), no generic ones, none already in the title.
    public var usefulKeywords: [String] {
        let lowerTitle = cleanedTitle.lowercased()
        var result: [String] = []
        for keyword in keywords {
            let cleaned = Self.collapse(keyword.replacingOccurrences(of: "_", with: " "))
            let lower = cleaned.lowercased()
            if lower.isEmpty || Self.junkKeywords.contains(lower) || lower.hasPrefix("hash") || lower.hasSuffix("sym")
                || lower.contains("(") || lowerTitle.contains(lower) || result.contains(where: { $0.lowercased() == lower }) {
                continue
            }
            if !lower.contains(where: \.isLetter) { continue }
            // Mojibake (UTF-8 read as Latin-1 and re-encoded) shows C1 control characters.
            if cleaned.unicodeScalars.contains(where: { (0x80...0x9F).contains($0.value) }) { continue }
            result.append(cleaned)
        }
        return result
    }

    /// The caption: the cleaned title, then up to `maxKeywords` useful keywords
    /// ("red apple, fruit, food"), or `nil` if the title is junk.
    public func caption(maxKeywords: Int = 5) -> String? {
        guard hasUsefulTitle else { return nil }
        return ([cleanedTitle] + usefulKeywords.prefix(maxKeywords)).joined(separator: ", ")
    }

    // MARK: Minimal XML scanning (the metadata block is simple, regular RDF)

    static func firstElement(_ name: String, in text: String) -> String? {
        var rest = Substring(text)
        return nextElement(name, in: &rest)
    }

    /// The inner text of the next `<name …>…</name>` in `rest`, advancing `rest` past it.
    static func nextElement(_ name: String, in rest: inout Substring) -> String? {
        while let open = rest.range(of: "<" + name) {
            let after = rest[open.upperBound...]
            guard let next = after.first else { return nil }
            if next != ">" && next != " " && next != "\n" && next != "\t" && next != "/" {
                rest = after
                continue  // e.g. <dc:titleX>
            }
            guard let close = after.firstIndex(of: ">") else { return nil }
            if close > after.startIndex && after[after.index(before: close)] == "/" {  // <dc:title/>
                rest = after[after.index(after: close)...]
                return ""
            }
            let body = after[after.index(after: close)...]
            guard let end = body.range(of: "</" + name + ">") else { return nil }
            rest = body[end.upperBound...]
            return String(body[..<end.lowerBound])
        }
        return nil
    }

    static func removingElements(_ name: String, from text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let open = rest.range(of: "<" + name) {
            result += rest[..<open.lowerBound]
            guard let end = rest[open.upperBound...].range(of: "</" + name + ">") else {
                // Self-closing or unclosed: drop just the tag.
                let tagEnd = rest[open.upperBound...].firstIndex(of: ">").map { rest.index(after: $0) } ?? rest.endIndex
                rest = rest[tagEnd...]
                continue
            }
            rest = rest[end.upperBound...]
        }
        return result + rest
    }

    /// Removes tags, decodes entities.
    static func stripTags(_ text: String) -> String {
        var out = ""
        var inTag = false
        for character in text {
            if character == "<" { inTag = true; out.append(" ") } else if character == ">" { inTag = false } else if !inTag { out.append(character) }
        }
        return decodeEntities(out)
    }

    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            guard let semi = after.prefix(10).firstIndex(of: ";") else { out.append("&"); rest = after; continue }
            let entity = after[..<semi]
            var replacement: String?
            switch entity {
            case "amp": replacement = "&"
            case "lt": replacement = "<"
            case "gt": replacement = ">"
            case "quot": replacement = "\""
            case "apos": replacement = "'"
            default:
                if entity.hasPrefix("#x"), let value = UInt32(entity.dropFirst(2), radix: 16), let scalar = Unicode.Scalar(value) {
                    replacement = String(Character(scalar))
                } else if entity.hasPrefix("#"), let value = UInt32(entity.dropFirst()), let scalar = Unicode.Scalar(value) {
                    replacement = String(Character(scalar))
                }
            }
            if let replacement { out += replacement; rest = after[after.index(after: semi)...] } else { out.append("&"); rest = after }
        }
        return out + rest
    }

    static func collapse(_ text: String) -> String {
        text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}

extension BuiltinSets {
    /// The Debian packages that install Open Clip Art.
    public static let openClipArtPackages = ["openclipart-png", "openclipart-svg"]
    /// Where they put it.
    public static let openClipArtRoot = "/usr/share/openclipart"

    /// Writes Open Clip Art as image–caption pairs to `folder`: `train.csv` and `val.csv`
    /// (`filepath,caption,source`, a seeded 5 % held out), images copied under `images/`.
    /// Captions are human titles plus keywords; drawings whose title is junk, whose PNG cannot be
    /// decoded, or whose PNG duplicates an earlier one (byte-identical) are dropped and counted.
    ///
    /// - Parameters:
    ///   - root: a folder with `png/` and `svg/` trees holding the same relative paths.
    ///   - limit: at most this many pairs in all (a seeded random subset).
    ///   - maxTitleRepeats: a title shared by more distinct drawings than this is the name of a
    ///     collection ("Various Cliparts", "card"), not a description; those drawings are dropped.
    public static func prepareOpenClipArt(
        folder: String, limit: Int? = nil, seed: UInt64 = 0, root: String = openClipArtRoot, maxTitleRepeats: Int = 20
    ) throws(DataError) -> PreparedSetSummary {
        let clock = ContinuousClock.now
        let pngRoot = resolvePath("png", against: root), svgRoot = resolvePath("svg", against: root)
        guard pathKind(pngRoot) == .directory, pathKind(svgRoot) == .directory else {
            throw .missingResource(what: "Open Clip Art (\(pngRoot) and \(svgRoot))",
                hint: "install the Debian packages \(openClipArtPackages.joined(separator: " ")) (~156 MB; `make setup OPENCLIPART=1` does)")
        }
        var relatives: [String] = []
        try collectFiles(under: pngRoot, relative: "", suffix: ".png", into: &relatives)
        var dropped: [String: Int] = [:]
        var seenContent: Set<UInt64> = []
        var pairs: [(relative: String, caption: String, title: String)] = []
        for relative in relatives {
            let svgPath = resolvePath(String(relative.dropLast(4)) + ".svg", against: svgRoot)
            guard pathKind(svgPath) == .file else { dropped["no SVG with metadata", default: 0] += 1; continue }
            let metadata = OpenClipArtMetadata(svgBytes: try readWholeFile(svgPath))
            guard let caption = metadata.caption() else { dropped["junk or missing title", default: 0] += 1; continue }
            let bytes = try readWholeFile(resolvePath(relative, against: pngRoot))
            guard seenContent.insert(fnv1a(bytes)).inserted else { dropped["duplicate image", default: 0] += 1; continue }
            pairs.append((relative, caption, metadata.cleanedTitle.lowercased()))
        }
        var titleCounts: [String: Int] = [:]
        for pair in pairs { titleCounts[pair.title, default: 0] += 1 }
        let before = pairs.count
        pairs.removeAll { titleCounts[$0.title, default: 0] > maxTitleRepeats }
        if pairs.count < before { dropped["collection title shared by over \(maxTitleRepeats) drawings", default: 0] += before - pairs.count }
        var rng = SplitMix64(seed: seed)
        pairs.shuffle(using: &rng)
        if let limit, limit < pairs.count { pairs = Array(pairs.prefix(max(0, limit))) }

        try makeDirectories(folder)
        let names = pairs.indices.map { imageName(prefix: "images", row: $0) }
        for sub in Set(names.map { parentFolder(of: $0) }) { try makeDirectories(resolvePath(sub, against: folder)) }
        let undecodable = UndecodableRows()
        let failure = FirstFailure()
        let sources = pairs.map { resolvePath($0.relative, against: pngRoot) }
        DispatchQueue.concurrentPerform(iterations: pairs.count) { row in
            do {
                let bytes = try readWholeFile(sources[row])
                do { _ = try decodeImage(bytes: bytes, name: sources[row]) } catch {
                    undecodable.add(row)
                    return
                }
                try writeWholeFile(resolvePath(names[row], against: folder), bytes)
            } catch {
                failure.record(error as? DataError ?? .io(path: sources[row], reason: "\(error)"))
            }
        }
        if let error = failure.error { throw error }
        let bad = undecodable.rows
        if !bad.isEmpty { dropped["undecodable PNG", default: 0] += bad.count }
        let validationCount = pairs.count >= 20 ? pairs.count / 20 : 0
        var train = CSVWriter(header: ["filepath", "caption", "source"])
        var validation = CSVWriter(header: ["filepath", "caption", "source"])
        var trainRows = 0, validationRows = 0
        for (row, pair) in pairs.enumerated() where !bad.contains(row) {
            if row < validationCount {
                validation.append(row: [names[row], pair.caption, pair.relative]); validationRows += 1
            } else {
                train.append(row: [names[row], pair.caption, pair.relative]); trainRows += 1
            }
        }
        let trainCSV = resolvePath("train.csv", against: folder), validationCSV = resolvePath("val.csv", against: folder)
        try train.write(toPath: trainCSV)
        try validation.write(toPath: validationCSV)
        let elapsed = ContinuousClock.now - clock
        return PreparedSetSummary(
            name: "openclipart", folder: folder, trainCSV: trainCSV, trainRows: trainRows, evaluationFolder: nil,
            evaluationRows: 0, validationCSV: validationCSV, validationRows: validationRows, dropped: dropped,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    static func collectFiles(under root: String, relative: String, suffix: String, into files: inout [String]) throws(DataError) {
        let folder = relative.isEmpty ? root : resolvePath(relative, against: root)
        for name in try directoryEntries(folder) {
            let child = relative.isEmpty ? name : relative + "/" + name
            switch pathKind(resolvePath(child, against: root)) {
            case .directory: try collectFiles(under: root, relative: child, suffix: suffix, into: &files)
            case .file where name.lowercased().hasSuffix(suffix): files.append(child)
            default: continue
            }
        }
    }
}

/// FNV-1a, 64-bit: a content key for de-duplication.
func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return hash
}

/// Rows found undecodable by concurrent workers.
private final class UndecodableRows: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Set<Int> = []
    func add(_ row: Int) { lock.lock(); stored.insert(row); lock.unlock() }
    var rows: Set<Int> { lock.lock(); defer { lock.unlock() }; return stored }
}
