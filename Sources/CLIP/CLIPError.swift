import Torch

/// Errors of the CLIP module: model configs that cannot be used and weights that do not fit a model.
public enum CLIPError: Error, CustomStringConvertible, Equatable {
    /// A config field is unknown, missing, mistyped or has a value we do not support.
    /// `file` names the config file when known, `key` the dotted field path (`vision_cfg.layers`).
    case invalidConfig(file: String?, key: String, reason: String)
    /// No shipped config has this name.
    case unknownModel(String, available: [String])
    /// A state dict does not fit the model; every offending key is listed.
    case incompatibleWeights(
        source: String?, missing: [String], unexpected: [String], mismatched: [ShapeMismatch])
    /// Images or tokens of the wrong shape or type.
    case invalidInput(String)
    /// A weights file holds NaN or infinite values in `key` (a diverged or corrupt model).
    case nonFiniteWeights(source: String?, key: String, count: Int)

    /// A tensor whose shape differs between the model and a state dict.
    public struct ShapeMismatch: Equatable, Sendable {
        public let key: String
        public let expected: [Int]
        public let got: [Int]
        public init(key: String, expected: [Int], got: [Int]) {
            self.key = key
            self.expected = expected
            self.got = got
        }
    }

    public var description: String {
        switch self {
        case .invalidConfig(let file, let key, let reason):
            "\(file.map { "\($0): " } ?? "")\(key.isEmpty ? "" : "config field '\(key)': ")\(reason)"
        case .unknownModel(let name, let available):
            Self.unknownModelMessage(name, available: available)
        case .incompatibleWeights(let source, let missing, let unexpected, let mismatched):
            ([source.map { "\($0): weights do not fit the model" } ?? "weights do not fit the model"]
                + (missing.isEmpty ? [] : ["\(missing.count) missing keys: \(Self.abbreviated(missing))"])
                + (unexpected.isEmpty ? [] : ["\(unexpected.count) unexpected keys: \(Self.abbreviated(unexpected))"])
                + mismatched.prefix(Self.listedKeys).map {
                    "shape mismatch for '\($0.key)': model \($0.expected), weights \($0.got)"
                }
                + (mismatched.count > Self.listedKeys ? ["and \(mismatched.count - Self.listedKeys) more shape mismatches"] : [])
                + (missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty
                    ? [] : ["check that --model names the architecture the weights were trained with"]))
                .joined(separator: "; ")
        case .invalidInput(let message): message
        case .nonFiniteWeights(let source, let key, let count):
            "\(source.map { "\($0): " } ?? "")tensor '\(key)' holds \(count) NaN or infinite values; the weights are corrupt or come from a diverged run, use an earlier checkpoint"
        }
    }

    /// How many keys a message lists before "and N more".
    static let listedKeys = 5

    static func abbreviated(_ keys: [String]) -> String {
        let shown = keys.prefix(listedKeys).joined(separator: ", ")
        return keys.count > listedKeys ? "\(shown), and \(keys.count - listedKeys) more" : shown
    }

    /// "unknown CLIP model 'RN5'; did you mean RN50, RN101? (available: …)".
    static func unknownModelMessage(_ name: String, available: [String]) -> String {
        let lower = name.lowercased()
        let close = available
            .map { ($0, editDistance(Array(lower.utf8), Array($0.lowercased().utf8))) }
            .filter { $0.1 <= max(2, name.count / 3) || $0.0.lowercased().hasPrefix(lower) }
            .sorted { $0.1 < $1.1 }
            .prefix(3).map(\.0)
        let shown = String(name.prefix(80)) + (name.count > 80 ? "…" : "")
        let suggestion = close.isEmpty ? "" : "; did you mean \(close.joined(separator: ", "))?"
        return "unknown CLIP model '\(shown)'\(suggestion) (available: \(available.joined(separator: ", ")); or give a path to a config .json)"
    }
}

/// Levenshtein distance between two byte strings.
private func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
