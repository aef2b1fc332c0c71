/// One sentence for a JSON decoding error (`DecodingError`, `EncodingError` or a parse error),
/// naming the key path and what was wrong, instead of Foundation's debug dump.
///
/// ```swift
/// do { _ = try JSONDecoder().decode(Manifest.self, from: data) } catch {
///     print("\(path): \(describeDecodingError(error))")   // "key 'rows.3.index': expected an integer"
/// }
/// ```
public func describeDecodingError(_ error: any Error) -> String {
    func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
    func at(_ keys: [any CodingKey]) -> String { keys.isEmpty ? "" : "key '\(path(keys))': " }
    switch error {
    case DecodingError.typeMismatch(let type, let context):
        return "\(at(context.codingPath))expected \(typeName(type))"
    case DecodingError.valueNotFound(let type, let context):
        return "\(at(context.codingPath))missing value (expected \(typeName(type)))"
    case DecodingError.keyNotFound(let key, let context):
        return "required key '\(path(context.codingPath + [key]))' is missing"
    case DecodingError.dataCorrupted(let context):
        let underlying = context.underlyingError.map(shortDescription)
        if context.codingPath.isEmpty {
            return "not valid JSON" + (underlying.map { " (\($0))" } ?? "")
        }
        return "\(at(context.codingPath))\(context.debugDescription)"
    case EncodingError.invalidValue(let value, let context):
        return "\(at(context.codingPath))cannot be written: \(value) (\(context.debugDescription))"
    default:
        return "\(error)"
    }
}

/// The `NSDebugDescription` of a Foundation parse error, or the plain description.
private func shortDescription(_ error: any Error) -> String {
    let text = "\(error)"
    if let range = text.range(of: "NSDebugDescription=") {
        return String(text[range.upperBound...].prefix { $0 != "}" && $0 != "," }).trimmingSpaces()
    }
    return text
}

private func typeName(_ type: Any.Type) -> String {
    switch type {
    case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type, is UInt.Type: "an integer"
    case is Double.Type, is Float.Type: "a number"
    case is String.Type: "a string"
    case is Bool.Type: "true or false"
    case is [String].Type: "a list of strings"
    default: "\(type)"
    }
}
