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
            "\(file.map { "\($0): " } ?? "")config field '\(key)': \(reason)"
        case .unknownModel(let name, let available):
            "unknown CLIP model '\(name)'; available: \(available.joined(separator: ", "))"
        case .incompatibleWeights(let source, let missing, let unexpected, let mismatched):
            ([source.map { "\($0): weights do not fit the model" } ?? "weights do not fit the model"]
                + (missing.isEmpty ? [] : ["missing keys: \(missing.joined(separator: ", "))"])
                + (unexpected.isEmpty ? [] : ["unexpected keys: \(unexpected.joined(separator: ", "))"])
                + mismatched.map { "shape mismatch for '\($0.key)': model \($0.expected), weights \($0.got)" })
                .joined(separator: "; ")
        case .invalidInput(let message): message
        }
    }
}
