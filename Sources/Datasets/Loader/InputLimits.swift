/// The largest caption accepted, in UTF-8 bytes (a webdataset `.txt` member or a CSV field).
/// The tokenizer keeps 77 tokens, so a longer caption can only be a corrupt or hostile file.
public let maxCaptionBytes = 1 << 16

/// The largest CSV/TSV record accepted, in bytes; a longer one (typically an unterminated
/// quote that runs to the end of the file) is a malformed row instead of one huge allocation.
public let maxRecordBytes = 1 << 20

/// `text` with control characters escaped (`\n`, `\t`, `\u{1B}`, …), so that file names and
/// captions from untrusted data cannot move the cursor, recolour or clear a terminal. C0 and C1
/// controls, DEL and the Unicode bidirectional overrides are escaped; everything else is kept.
///
/// ```swift
/// printable("cat\u{1B}[2J.jpg")   // "cat\\u{1B}[2J.jpg"
/// ```
public func printable(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: needsEscape) else { return text }
    var result = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": result += "\\n"
        case "\t": result += "\\t"
        case "\r": result += "\\r"
        case _ where needsEscape(scalar): result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result
}

private func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0..<0x20, 0x7F..<0xA0, 0x202A...0x202E, 0x2066...0x2069: return true
    default: return false
    }
}
