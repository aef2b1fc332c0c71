import Foundation
import Training

/// Settings errors in the words the user typed: a key whose value came from a flag is named by
/// that flag (`--epochs: must be at least 1`), not by the configuration key (`key 'epochs'`).
enum UserWords {
    /// Keys whose flag is not `--` + the key with dashes.
    static let flagOfKey: [String: String] = ["init_weights": "--init-weights", "model": "--model"]

    /// The flag that sets `key` (`batch_size` → `--batch-size`).
    static func flag(forKey key: String, renames: [String: String] = [:]) -> String {
        renames[key] ?? flagOfKey[key] ?? "--" + key.replacingOccurrences(of: "_", with: "-")
    }

    /// `error` rephrased with the flag when the value came from the command line: the error
    /// names no file (`command line`), or the flag appears in `arguments`.
    static func describe(_ error: ConfigError, arguments: [String] = CommandLine.arguments, renames: [String: String] = [:]) -> String {
        guard !error.key.isEmpty, !error.key.contains(".") else { return "\(error)" }
        let flag = flag(forKey: error.key, renames: renames)
        let typed = arguments.contains { $0 == flag || $0.hasPrefix(flag + "=") }
        if typed || error.file == "command line" {
            return "\(flag): \(error.reason)"
        }
        return "\(error)"
    }
}
