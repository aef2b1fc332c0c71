/// The names among `candidates` that `name` is most likely a misspelling of (edit distance at
/// most max(2, a third of its length), or a prefix), closest first, at most `limit` — for
/// "did you mean …" in messages.
///
/// ```swift
/// nearMatches("pach", in: ["patch", "blended", "sig"])  // ["patch"]
/// ```
public func nearMatches(_ name: String, in candidates: [String], limit: Int = 3) -> [String] {
    let lower = Array(name.lowercased().utf8)
    guard !lower.isEmpty else { return [] }
    return candidates
        .map { ($0, levenshtein(lower, Array($0.lowercased().utf8))) }
        .filter { $0.1 > 0 && ($0.1 <= max(2, name.count / 3) || $0.0.lowercased().hasPrefix(name.lowercased())) }
        .sorted { $0.1 < $1.1 }
        .prefix(limit).map(\.0)
}

/// "; did you mean a, b?" for the near matches of `name`, or "" when there is none.
public func didYouMean(_ name: String, in candidates: [String]) -> String {
    let close = nearMatches(name, in: candidates)
    return close.isEmpty ? "" : "; did you mean \(close.joined(separator: ", "))?"
}

/// Levenshtein distance between two byte strings.
private func levenshtein(_ a: [UInt8], _ b: [UInt8]) -> Int {
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
