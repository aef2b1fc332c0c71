import Attacks
import Datasets
import Defenses
import Foundation
import Yams

/// A configuration type whose every key is checked when read from a file.
///
/// Conforming types list the keys they accept, and the nested configuration types of keys
/// that hold objects, so that a misspelt or unknown key anywhere in a YAML or JSON file is an
/// error naming its full path (`training.learning_rate`) instead of being silently ignored.
public protocol StrictConfig: Codable {
    /// Every key this type accepts at its level.
    static var allowedKeys: Set<String> { get }
    /// Types of the keys that hold nested objects (or arrays of objects).
    static var nestedTypes: [String: any StrictConfig.Type] { get }
    /// One-line notes on keys that are read but have a newer form (`keys`: those given at this
    /// level); default none.
    static func notes(keys: Set<String>) -> [String]
}

extension StrictConfig {
    public static var nestedTypes: [String: any StrictConfig.Type] { [:] }
    public static func notes(keys: Set<String>) -> [String] { [] }
}

/// A problem in a configuration file, naming the file and the key.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let key: String
    public let reason: String

    public init(file: String, key: String, reason: String) {
        self.file = file
        self.key = key
        self.reason = reason
    }

    public var description: String { key.isEmpty ? "\(file): \(reason)" : "\(file): key '\(key)': \(reason)" }
}

/// Reads YAML or JSON configuration files into ``StrictConfig`` values.
public enum ConfigFile {
    /// Prints `note: FILE: KEY: NOTE` on standard error.
    public static let printNote: @Sendable (String) -> Void = { FileHandle.standardError.write(Data("note: \($0)\n".utf8)) }

    /// Parses `text` (YAML, of which JSON is a subset) into `T`, rejecting unknown keys and
    /// ill-typed values with a ``ConfigError`` that names `file` and the key path.
    ///
    /// - Parameter notes: receives one line per note on keys of an older form (``StrictConfig/notes(keys:)``),
    ///   `FILE: PATH: NOTE`; by default printed on standard error.
    public static func decode<T: StrictConfig>(
        _ type: T.Type, from text: String, file: String, notes: (String) -> Void = printNote
    ) throws(ConfigError) -> T {
        try checkNesting(text, file: file)
        let node: Node
        do {
            guard let parsed = try Yams.compose(yaml: text) else {
                throw ConfigError(file: file, key: "", reason: "the file is empty")
            }
            node = parsed
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(file: file, key: "", reason: "not valid YAML/JSON: \(error)")
        }
        var found: [String] = []
        try checkKeys(node, type: T.self, path: [], file: file, notes: &found)
        let value: T
        do {
            value = try YAMLDecoder().decode(T.self, from: text)
        } catch let DecodingError.typeMismatch(expected, context) {
            throw ConfigError(
                file: file, key: keyPath(context.codingPath), reason: "\(lineOf(context.codingPath, in: node))expected \(describe(expected))")
        } catch let DecodingError.valueNotFound(expected, context) {
            throw ConfigError(
                file: file, key: keyPath(context.codingPath),
                reason: "\(lineOf(context.codingPath, in: node))missing value of type \(describe(expected))")
        } catch let DecodingError.keyNotFound(key, context) {
            throw ConfigError(file: file, key: keyPath(context.codingPath + [key]), reason: "required key is missing")
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigError(
                file: file, key: keyPath(context.codingPath),
                reason: lineOf(context.codingPath, in: node) + userWords(context.debugDescription))
        } catch {
            throw ConfigError(file: file, key: "", reason: "\(error)")
        }
        found.forEach(notes)
        return value
    }

    /// Reads and decodes the file at `path` (`notes` as in ``decode(_:from:file:notes:)``).
    public static func load<T: StrictConfig>(_ type: T.Type, path: String, notes: (String) -> Void = printNote) throws(ConfigError) -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, key: "", reason: "cannot read the file")
        }
        return try decode(type, from: String(decoding: data, as: UTF8.self), file: path, notes: notes)
    }

    /// Writes `value` as pretty-printed, key-sorted JSON (the form saved in run folders).
    public static func jsonData<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    private static func checkKeys(_ node: Node, type: any StrictConfig.Type, path: [String], file: String, notes: inout [String])
        throws(ConfigError)
    {
        guard let mapping = node.mapping else {
            throw ConfigError(file: file, key: path.joined(separator: "."), reason: "expected an object")
        }
        let given = Set(mapping.compactMap { $0.key.string })
        for note in type.notes(keys: given) { notes.append(([file] + (path.isEmpty ? [] : [path.joined(separator: ".")]) + [note]).joined(separator: ": ")) }
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { continue }
            if savedOnlyKeys.contains(key) { continue }
            let here = path + [key]
            guard type.allowedKeys.contains(key) else {
                let known = type.allowedKeys.sorted().joined(separator: ", ")
                let line = keyNode.mark.map { " on line \($0.line)" } ?? ""
                throw ConfigError(
                    file: file, key: here.joined(separator: "."),
                    reason: "unknown key\(line)\(didYouMean(key, in: type.allowedKeys.sorted())) (known: \(known))")
            }
            guard let nested = type.nestedTypes[key] else { continue }
            if let items = value.sequence {
                for (i, item) in items.enumerated() where item.mapping != nil {
                    try checkKeys(item, type: nested, path: here + ["\(i)"], file: file, notes: &notes)
                }
            } else if value.mapping != nil {
                try checkKeys(value, type: nested, path: here, file: file, notes: &notes)
            }
        }
    }

    /// The deepest nesting of objects and lists a configuration file may have; the parser
    /// recurses per level, so a hostile file nested thousands deep would overflow the stack.
    public static let maxNestingDepth = 64

    /// Rejects text whose nesting could exceed ``maxNestingDepth``, before parsing: flow
    /// collections (`[`, `{`) are counted, and block nesting is bounded by a line's indentation
    /// plus its leading `- ` markers.
    static func checkNesting(_ text: String, file: String) throws(ConfigError) {
        var flowDepth = 0
        var line = 1
        var atLineStart = true
        var blockDepth = 0
        var quote: UInt8?
        var previous: UInt8 = 10
        for byte in text.utf8 {
            defer { if byte != 32 { previous = byte } }
            if byte == 10 {
                line += 1
                atLineStart = true
                blockDepth = 0
                quote = nil
                continue
            }
            if atLineStart {
                if byte == 32 || byte == 45 || byte == 9 {  // indentation and "- " markers
                    blockDepth += 1
                    if blockDepth > 2 * maxNestingDepth {
                        throw ConfigError(file: file, key: "", reason: "line \(line) is nested deeper than \(maxNestingDepth) levels")
                    }
                    continue
                }
                atLineStart = false
            }
            if let open = quote {
                if byte == open { quote = nil }
                continue
            }
            switch byte {
            // A quote opens a scalar only where a value starts (not the apostrophe in "it's").
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                if Array(":[{,-\n".utf8).contains(previous) { quote = byte }
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                flowDepth += 1
                if flowDepth > maxNestingDepth {
                    throw ConfigError(file: file, key: "", reason: "line \(line) is nested deeper than \(maxNestingDepth) levels")
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): flowDepth = max(0, flowDepth - 1)
            default: break
            }
        }
    }

    private static func keyPath(_ path: [any CodingKey]) -> String {
        path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        default: "\(type)"
        }
    }

    /// Keys the tool adds to the files it saves (`config.json`'s `warmup_steps_used`, the warm-up
    /// the schedule actually used): accepted and ignored when such a file is read back.
    static let savedOnlyKeys: Set<String> = ["warmup_steps_used"]

    /// "line N: " for the value at `codingPath` in the parsed file, or "" when it cannot be found.
    static func lineOf(_ codingPath: [any CodingKey], in node: Node) -> String {
        var here: Node? = node
        var mark = node.mark
        for key in codingPath {
            guard let current = here else { break }
            if let index = key.intValue, let items = current.sequence {
                here = index < items.count ? items[index] : nil
                mark = here?.mark ?? mark
            } else if let mapping = current.mapping,
                let pair = mapping.first(where: { $0.key.string == key.stringValue })
            {
                here = pair.value
                mark = pair.key.mark ?? mark
            } else {
                break
            }
        }
        guard !codingPath.isEmpty, let mark else { return "" }
        return "line \(mark.line): "
    }

    /// The named choices of the enumerations config files hold, by type name, for messages.
    static let choices: [String: [String]] = [
        "TriggerKind": TriggerKind.allCases.map(\.rawValue), "CaptionStrategy": CaptionStrategy.allCases.map(\.rawValue),
        "PatchPosition": PatchPosition.allCases.map(\.rawValue), "Resize": ModelGeometry.Resize.allCases.map(\.rawValue),
        "Defense": Defense.allCases.map(\.name), "Ranking": SafeSetSchedule.Ranking.allCases.map(\.rawValue),
        "SafeGrowth": SafeCLIPSettings.SafeGrowth.allCases.map(\.rawValue),
    ]

    /// The decoder's "Cannot initialize TriggerKind from invalid String value pach" in the user's
    /// words: "unknown value 'pach'; did you mean patch? (known: …)"; other texts unchanged.
    static func userWords(_ text: String) -> String {
        let prefix = "Cannot initialize ", middle = " from invalid String value "
        guard text.hasPrefix(prefix), let range = text.range(of: middle) else { return text }
        let typeName = String(text[text.index(text.startIndex, offsetBy: prefix.count)..<range.lowerBound])
        let value = String(text[range.upperBound...])
        guard let known = choices[typeName.split(separator: ".").last.map(String.init) ?? typeName] else {
            return "'\(value)' is not one of the accepted values"
        }
        return "unknown value '\(value)'\(didYouMean(value, in: known)) (known: \(known.joined(separator: ", ")))"
    }
}
