import Foundation
import TestSupport
import Testing

/// Every relative link of the documentation resolves: the README, `experiments/README.md` and
/// every Markdown page under `docs/` (hand-written pages, the committed study report and the
/// generated leaderboard) link only to files that exist inside the repository, and every
/// `#anchor` names a heading (GitHub's slug) or an `<a id>` of the page it points into. Moving a
/// section between pages without fixing its links fails here.
@Suite struct DocumentationLinkTests {
    static let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().standardizedFileURL

    /// The pages checked, as absolute paths.
    static func pages() throws -> [String] {
        var pages = [root.appendingPathComponent("README.md").path, root.appendingPathComponent("experiments/README.md").path]
        let docs = root.appendingPathComponent("docs")
        guard let walker = FileManager.default.enumerator(atPath: docs.path) else { return pages }
        for case let path as String in walker where path.hasSuffix(".md") {
            pages.append(docs.appendingPathComponent(path).standardizedFileURL.path)
        }
        return pages
    }

    /// GitHub's anchor for a heading: markup dropped, lower-cased, every character but letters,
    /// digits, `-` and `_` removed, spaces turned into `-`.
    static func slug(_ heading: String) -> String {
        var text = heading.replacingOccurrences(of: "<[^>]+>", with: "", options: .regularExpression)
        text = text.replacingOccurrences(of: "\\[([^\\]]*)\\]\\([^)]*\\)", with: "$1", options: .regularExpression)
        text = text.replacingOccurrences(of: "`", with: "").trimmingCharacters(in: .whitespaces).lowercased()
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar == " " {
                out += "-"
            } else if scalar == "-" || scalar == "_" || CharacterSet.letters.contains(scalar) || CharacterSet.decimalDigits.contains(scalar) {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The lines of a page outside fenced code blocks, with their line numbers.
    static func prose(_ text: String) -> [(Int, String)] {
        var fenced = false
        var lines: [(Int, String)] = []
        for (index, line) in text.components(separatedBy: "\n").enumerated() {
            if line.hasPrefix("```") {
                fenced.toggle()
                continue
            }
            if !fenced { lines.append((index + 1, line)) }
        }
        return lines
    }

    /// The anchors of a page: its headings' slugs (a repeated heading gets `-1`, `-2`, …) and its `<a id>`s.
    static func anchors(_ text: String) -> Set<String> {
        var anchors: Set<String> = []
        var seen: [String: Int] = [:]
        let heading = try! NSRegularExpression(pattern: "^#{1,6}\\s+(.*?)\\s*#*\\s*$")
        let explicit = try! NSRegularExpression(pattern: "<a\\s+(?:id|name)=\"([^\"]+)\"")
        for (_, line) in prose(text) {
            let range = NSRange(line.startIndex..., in: line)
            if let match = heading.firstMatch(in: line, range: range), let title = Range(match.range(at: 1), in: line) {
                let base = slug(String(line[title]))
                let count = seen[base, default: 0]
                seen[base] = count + 1
                anchors.insert(count == 0 ? base : "\(base)-\(count)")
            }
            for match in explicit.matches(in: line, range: range) {
                if let id = Range(match.range(at: 1), in: line) { anchors.insert(String(line[id])) }
            }
        }
        return anchors
    }

    /// The relative link targets of a page (`[text](target)` and `src="target"`, outside code), with line numbers.
    static func links(_ text: String) -> [(Int, String)] {
        let link = try! NSRegularExpression(pattern: "\\]\\(([^)\\s]+)\\)|src=\"([^\"]+)\"")
        var links: [(Int, String)] = []
        for (number, raw) in prose(text) {
            // Inline code is not a link.
            let line = raw.replacingOccurrences(of: "`[^`]*`", with: "", options: .regularExpression)
            for match in link.matches(in: line, range: NSRange(line.startIndex..., in: line)) {
                let group = match.range(at: 1).location != NSNotFound ? 1 : 2
                guard let range = Range(match.range(at: group), in: line) else { continue }
                let target = String(line[range])
                if target.range(of: "^[a-zA-Z][a-zA-Z0-9+.-]*:", options: .regularExpression) != nil { continue }
                links.append((number, target))
            }
        }
        return links
    }

    @Test func theSlugIsGitHubs() {
        #expect(Self.slug("The attack × defence benchmark") == "the-attack--defence-benchmark")
        #expect(Self.slug("Attacks aimed at a defence (`poison --aim`)") == "attacks-aimed-at-a-defence-poison---aim")
        #expect(Self.slug("Where SafeCLIP's clean-accuracy cost goes (measured)") == "where-safeclips-clean-accuracy-cost-goes-measured")
        #expect(Self.anchors("# A\n## A\n```\n# not a heading\n```\n<a id=\"x\"></a>") == ["a", "a-1", "x"])
    }

    @Test func everyRelativeLinkResolves() throws {
        let pages = try Self.pages()
        var anchorCache: [String: Set<String>] = [:]
        var checked = 0
        for page in pages {
            let text = try String(contentsOfFile: page, encoding: .utf8)
            let name = String(page.dropFirst(Self.root.path.count + 1))
            for (line, target) in Self.links(text) {
                checked += 1
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                let path = String(parts[0]).removingPercentEncoding ?? String(parts[0])
                let fragment = parts.count > 1 ? String(parts[1]) : nil
                let resolved = path.isEmpty
                    ? page
                    : URL(fileURLWithPath: page).deletingLastPathComponent().appendingPathComponent(path).standardizedFileURL.path
                guard resolved == Self.root.path || resolved.hasPrefix(Self.root.path + "/") else {
                    Issue.record("\(name):\(line): \(target) points outside the repository")
                    continue
                }
                guard FileManager.default.fileExists(atPath: resolved) else {
                    Issue.record("\(name):\(line): \(target): no such file")
                    continue
                }
                guard let fragment else { continue }
                guard resolved.hasSuffix(".md") else {
                    Issue.record("\(name):\(line): \(target): an anchor into a page that is not Markdown")
                    continue
                }
                if anchorCache[resolved] == nil {
                    anchorCache[resolved] = Self.anchors(try String(contentsOfFile: resolved, encoding: .utf8))
                }
                #expect(anchorCache[resolved]?.contains(fragment) == true,
                        "\(name):\(line): \(target): no heading or <a id> gives #\(fragment)")
            }
        }
        print("documentation links: \(checked) relative links in \(pages.count) pages checked")
        #expect(pages.count > 10 && checked > 100, "only \(checked) links in \(pages.count) pages: are the pages still found?")
    }
}
