import Foundation
import TestSupport
import Testing

/// The README and the tool agree: every `--flag` that a `clipguard …` command line in the README
/// (or in the pages it links: `docs/*.md`, `docs/reference/*.md` and `experiments/README.md`) uses
/// is one that command's `--help` lists.
@Suite struct ReadmeCommandTests {
    /// Subcommands with their own subcommands: the first word after them is part of the command.
    static let groups: Set<String> = ["data", "experiment", "poison"]

    /// The README and the hand-written documentation pages it links (`docs/` and `docs/reference/`;
    /// not the generated reports under `docs/benchmark/` and `docs/study-small/`).
    static func documentationFiles() throws -> [URL] {
        let root = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent()
        let pages = try ["docs", "docs/reference"].flatMap { folder -> [URL] in
            let directory = root.appendingPathComponent(folder)
            return try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".md") }.sorted()
                .map { directory.appendingPathComponent($0) }
        }
        return [root.appendingPathComponent("README.md"), root.appendingPathComponent("experiments/README.md")] + pages
    }

    /// Every `clipguard …` command line of the documentation (continuation lines joined), as its words.
    static func readmeCommands() throws -> [[String]] {
        let text = try documentationFiles().map { try String(contentsOf: $0, encoding: .utf8) }.joined(separator: "\n")
        var lines: [String] = []
        var pending = ""
        for raw in text.components(separatedBy: "\n") {
            let line = pending + raw
            if line.hasSuffix("\\") {
                pending = String(line.dropLast()) + " "
                continue
            }
            pending = ""
            lines.append(line)
        }
        var commands: [[String]] = []
        for line in lines {
            // A command starts at `clipguard ` (in a code block, after `$`, or inside backticks).
            var rest = Substring(line)
            while let range = rest.range(of: "clipguard ") {
                let before = rest[..<range.lowerBound].last
                rest = rest[range.upperBound...]
                if let before, before.isLetter || before == "-" { continue }
                let end = rest.firstIndex(where: { $0 == "`" || $0 == "#" || $0 == "|" }) ?? rest.endIndex
                let words = rest[..<end].split(separator: " ").map(String.init).filter { !$0.isEmpty }
                guard let first = words.first, first.first?.isLetter == true else { continue }
                commands.append(words)
            }
        }
        return commands
    }

    @Test func everyFlagTheReadmeShowsExists() throws {
        let clipguard = try builtExecutable(named: "clipguard")
        var helps: [String: String] = [:]
        var checked = 0
        for words in try Self.readmeCommands() {
            var command = [words[0]]
            if Self.groups.contains(words[0]), words.count > 1, !words[1].hasPrefix("-"), words[1].first?.isLetter == true {
                // `data prepare`, `experiment run`, `poison check DIR`.
                command.append(words[1])
            } else if words[0] == "poison" {
                command.append("generate")  // poison's default subcommand
            }
            let flags = words.filter { $0.hasPrefix("--") }.map { flag -> String in
                let name = flag.split(separator: "=").first.map(String.init) ?? flag
                return name.trimmingCharacters(in: CharacterSet(charactersIn: "[]()…,.;:"))
            }.filter { $0.count > 2 && $0 != "--help" }
            guard !flags.isEmpty else { continue }
            let key = command.joined(separator: " ")
            if helps[key] == nil {
                let result = try runCommand(clipguard, command + ["--help"], timeout: 60)
                #expect(result.status == 0, "clipguard \(key) --help failed: \(result.stderr)")
                helps[key] = result.stdout + result.stderr
            }
            for flag in flags {
                // `--no-x` is listed as `--x/--no-x`.
                let help = helps[key] ?? ""
                #expect(help.contains(flag + " ") || help.contains(flag + "\n") || help.contains(flag + "/") || help.contains(flag + " <") || help.contains("/" + flag),
                        "README shows `clipguard \(key) … \(flag)`, but `clipguard \(key) --help` has no \(flag)")
                checked += 1
            }
        }
        print("README commands: \(checked) flags checked against --help")
        #expect(checked > 50, "only \(checked) README flags found: is the parser still reading the README?")
    }
}
