import Foundation

extension ReportWriter {
    /// The experiment's warnings (comparisons at chance) and every row's, prefixed with the row.
    public func warnings() -> [String] {
        var lines = results.warnings ?? []
        for row in results.rows {
            for warning in row.warnings ?? [] { lines.append("row \(row.id): \(warning)") }
        }
        return lines
    }

    /// "## Warnings" with one item per warning, or "" when there is none.
    func warningsMarkdown() -> String {
        let lines = warnings()
        guard !lines.isEmpty else { return "" }
        return "\n## Warnings\n\nFigures these apply to may mean nothing; read them with the warning.\n\n"
            + lines.map { "- " + $0 }.joined(separator: "\n") + "\n"
    }

    /// The HTML form of ``warningsMarkdown()``.
    func warningsHTML() -> String {
        let lines = warnings()
        guard !lines.isEmpty else { return "" }
        return "<h2>Warnings</h2>\n<p>Figures these apply to may mean nothing; read them with the warning.</p>\n<ul>"
            + lines.map { "<li>\(SVGPlot.escape($0))</li>" }.joined() + "</ul>\n"
    }
}
