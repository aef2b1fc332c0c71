import Datasets
import Foundation

/// Whole-word, case-insensitive matching of class names in captions.
///
/// A match must not touch a letter, digit, hyphen or underscore on either side, so `cart` does
/// not match `cartoon` or `go-cart` and `shirt` does not match `t-shirt`; punctuation such as
/// `,`, `.`, `'` and `"` separates words (`sneaker's` names `sneaker`). Runs of white space count
/// as one space on both sides, so multi-word names (`ankle boot`) match across line breaks.
///
/// ```swift
/// CaptionMatcher.names("A Cart full of hay", target: "cart")   // true
/// CaptionMatcher.names("a cartoon", target: "cart")            // false
/// ```
public enum CaptionMatcher {
    /// Whether `caption` names `target` as a whole word (or word sequence).
    public static func names(_ caption: String, target: String) -> Bool {
        let needle = normalized(target)
        guard !needle.isEmpty else { return false }
        let haystack = normalized(caption)
        guard haystack.count >= needle.count else { return false }
        let n = needle.count
        for start in 0...(haystack.count - n) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + n)]) != needle { continue }
            let before = start == 0 ? nil : haystack[start - 1]
            let after = start + n == haystack.count ? nil : haystack[start + n]
            if !isWordCharacter(before) && !isWordCharacter(after) { return true }
        }
        return false
    }

    /// The lower-cased characters with white-space runs collapsed to one space and trimmed.
    static func normalized(_ text: String) -> [Character] {
        var out: [Character] = []
        var pendingSpace = false
        for character in text.lowercased() {
            if character.isWhitespace {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" "); pendingSpace = false }
                out.append(character)
            }
        }
        return out
    }

    private static func isWordCharacter(_ c: Character?) -> Bool {
        guard let c else { return false }
        return c.isLetter || c.isNumber || c == "-" || c == "_"
    }
}

/// Where template captions come from: the zero-shot prompt templates of a classification set.
public enum PromptTemplates {
    /// The templates named `name`: `imagenet` (80), `cifar10` (18), `fashion-mnist` (10), or a
    /// file: a `classes.json` (its `templates`), a JSON list of strings, or one template a line.
    /// Each template holds `{c}` where the class name goes.
    public static func load(_ name: String) throws(AttackError) -> [String] {
        let templates: [String]
        do {
            switch name {
            case "imagenet", "imagenet1k": templates = try ZeroShotMetadata.templates(for: "imagenet1k")
            case "cifar10": templates = try ZeroShotMetadata.templates(for: "cifar10")
            case "cifar100": templates = try ZeroShotMetadata.templates(for: "cifar100")
            case "fashion-mnist": templates = ZeroShotMetadata.fashionMNISTTemplates
            default: templates = try fromFile(name)
            }
        } catch let error as DataError {
            throw .data(error)
        } catch let error as AttackError {
            throw error
        } catch {
            throw .invalidSetting("\(name): \(error)")
        }
        guard !templates.isEmpty else { throw .invalidSetting("\(name): no prompt templates") }
        if let bad = templates.first(where: { !$0.contains("{c}") }) {
            throw .invalidSetting("\(name): template \"\(bad)\" has no {c} for the class name")
        }
        return templates
    }

    private static func fromFile(_ path: String) throws -> [String] {
        let text = try readTextFile(path)
        if path.lowercased().hasSuffix(".json") {
            if let index = try? ClassIndex.read(fromPath: path) { return index.templates }
            guard let list = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
                throw AttackError.invalidSetting("\(path): not a classes.json nor a JSON list of templates")
            }
            return list
        }
        return text.split(whereSeparator: \.isNewline).map { String($0) }.filter { !$0.allSatisfy(\.isWhitespace) }
    }

    /// `template` with `{c}` replaced by `name`.
    public static func fill(_ template: String, with name: String) -> String {
        template.replacingOccurrences(of: "{c}", with: name)
    }
}
