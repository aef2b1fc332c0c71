/// Expands a webdataset shard list in brace notation, as open_clip and webdataset accept it:
/// `shards/{0000..0099}.tar` (a zero-padded numeric range) and `shards/{a,b}.tar` (a list),
/// several groups multiplying out left to right.
///
/// ```swift
/// try expandShardPattern("cc3m/{00..02}.tar")   // ["cc3m/00.tar", "cc3m/01.tar", "cc3m/02.tar"]
/// ```
///
/// - Returns: the paths in order, or nil when `pattern` holds no brace group.
/// - Throws: ``DataError/invalidArgument(_:)`` naming the pattern for an unbalanced brace, a
///   descending or non-numeric range, or more than ``maxShardPatternPaths`` paths.
public func expandShardPattern(_ pattern: String) throws(DataError) -> [String]? {
    guard pattern.contains("{") || pattern.contains("}") else { return nil }
    var results = [""]
    var rest = Substring(pattern)
    while let open = rest.firstIndex(of: "{") {
        guard let close = rest[open...].firstIndex(of: "}") else {
            throw .invalidArgument("\(pattern): unbalanced '{' in the shard list")
        }
        let literal = String(rest[..<open])
        if literal.contains("}") { throw .invalidArgument("\(pattern): unbalanced '}' in the shard list") }
        let body = String(rest[rest.index(after: open)..<close])
        let choices = try braceChoices(body, pattern: pattern)
        let count = results.count.multipliedReportingOverflow(by: choices.count)
        guard !count.overflow, count.partialValue <= maxShardPatternPaths else {
            throw .invalidArgument("\(pattern): expands to more than \(maxShardPatternPaths) paths")
        }
        results = results.flatMap { prefix in choices.map { prefix + literal + $0 } }
        rest = rest[rest.index(after: close)...]
    }
    if rest.contains("}") { throw .invalidArgument("\(pattern): unbalanced '}' in the shard list") }
    return results.map { $0 + rest }
}

/// The most paths one brace pattern may expand to.
public let maxShardPatternPaths = 1_000_000

private func braceChoices(_ body: String, pattern: String) throws(DataError) -> [String] {
    if let dots = body.range(of: "..") {
        let low = String(body[..<dots.lowerBound]), high = String(body[dots.upperBound...])
        guard let a = Int(low), let b = Int(high), a >= 0, !low.isEmpty, !high.isEmpty,
            low.allSatisfy(\.isASCII), high.allSatisfy(\.isASCII)
        else {
            throw .invalidArgument("\(pattern): '{\(body)}' is not a range of non-negative integers like {0000..0099}")
        }
        guard a <= b else { throw .invalidArgument("\(pattern): the range '{\(body)}' runs backwards") }
        guard b - a < maxShardPatternPaths else {
            throw .invalidArgument("\(pattern): expands to more than \(maxShardPatternPaths) paths")
        }
        let width = low.hasPrefix("0") && low.count > 1 ? low.count : 0
        return (a...b).map { value in
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
    }
    let items = body.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    guard items.count > 1 || !body.isEmpty else { throw .invalidArgument("\(pattern): empty '{}' in the shard list") }
    return items
}
