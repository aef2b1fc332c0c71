import Foundation

/// The report laid out as sections of blocks, built once from a ``ReportModel``; the Markdown
/// and HTML renderers only format these blocks.
public struct ReportDocument {
    public enum Block {
        case paragraph(String)
        /// Items with a nesting level (0 top).
        case list([Finding])
        /// A warning list (rendered with a warning sign).
        case warnings([String])
        /// Rows of cells, header first.
        case table([[String]])
        /// The figures with their numbers (1-based) in the report.
        case figures([(number: Int, figure: ReportFigure)])
        /// Images from files, with captions.
        case images([(path: String, caption: String)])
        case code(language: String, text: String)
    }

    public struct Section {
        public var title: String?
        public var blocks: [Block]
    }

    public var title: String
    public var sections: [Section]
}

/// `plots/plot-01.svg`.
func plotFileName(_ number: Int) -> String { String(format: "plot-%02d.svg", number) }
/// `plots/poisoned-01.png`.
func imageFileName(_ number: Int) -> String { String(format: "poisoned-%02d.png", number) }

/// Renders a ``ReportDocument`` as Markdown that reads on a code forge: plots are linked as SVG
/// files in `plots/`, images as PNG copies there.
enum MarkdownRenderer {
    static func render(_ document: ReportDocument) -> String {
        var s = "# \(document.title)\n"
        for section in document.sections {
            if let title = section.title { s += "\n## \(title)\n" }
            for block in section.blocks { s += "\n" + render(block) }
        }
        return s
    }

    static func table(_ t: [[String]]) -> String {
        guard let header = t.first else { return "" }
        var s = "| " + header.joined(separator: " | ") + " |\n|" + String(repeating: " --- |", count: header.count) + "\n"
        for row in t.dropFirst() { s += "| " + row.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n" }
        return s
    }

    static func render(_ block: ReportDocument.Block) -> String {
        switch block {
        case .paragraph(let text): return text + "\n"
        case .list(let items): return items.map { String(repeating: "  ", count: $0.level) + "- " + $0.text }.joined(separator: "\n") + "\n"
        case .warnings(let items): return items.map { "- ⚠ " + $0 }.joined(separator: "\n") + "\n"
        case .table(let t): return table(t)
        case .figures(let figures):
            return figures.map { "![plot \($0.number)](plots/\(plotFileName($0.number)))\n\n*\($0.figure.caption)*\n" }.joined(separator: "\n")
        case .images(let images):
            return images.enumerated().map { "![\($0.element.caption)](plots/\(imageFileName($0.offset + 1)))" }.joined(separator: " ") + "\n"
        case .code(let language, let text): return "```\(language)\n\(text)\n```\n"
        }
    }
}

/// Renders a ``ReportDocument`` as one self-contained HTML page: plots as inline SVG, images as
/// data URIs, no network.
enum HTMLRenderer {
    static let style = """
        body { font-family: sans-serif; max-width: 1150px; margin: 1em auto; padding: 0 1em; color: #222; }
        table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
        th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: right; }
        th { background: #eee; } td:first-child, th:first-child { text-align: left; }
        pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; white-space: pre-wrap; }
        figure { display: inline-block; margin: 6px; vertical-align: top; }
        figcaption { font-size: 12px; max-width: 560px; color: #444; }
        .warnings li { color: #8a3b00; }
        .strip img { width: 96px; height: 96px; image-rendering: pixelated; border: 1px solid #999; margin: 2px; }
        .strip figure { width: 104px; } .strip figcaption { font-size: 10px; }
        """

    /// - Parameter svg: the rendered SVG of each figure, by its number.
    static func render(_ document: ReportDocument, svg: [Int: String]) -> String {
        let e = SVGPlot.escape
        var s = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>\(e(document.title))</title>\n<style>\n\(style)\n</style></head><body>\n<h1>\(e(document.title))</h1>\n"
        for section in document.sections {
            if let title = section.title { s += "<h2>\(e(title))</h2>\n" }
            for block in section.blocks { s += render(block, svg: svg) }
        }
        return s + "</body></html>\n"
    }

    static func table(_ t: [[String]]) -> String {
        guard let header = t.first else { return "" }
        var s = "<table><thead><tr>" + header.map { "<th>\(SVGPlot.escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for row in t.dropFirst() { s += "<tr>" + row.map { "<td>\(SVGPlot.escape($0))</td>" }.joined() + "</tr>\n" }
        return s + "</tbody></table>\n"
    }

    /// Nested `<ul>`s from items with levels.
    static func list(_ items: [Finding], className: String? = nil) -> String {
        var s = "<ul\(className.map { " class=\"\($0)\"" } ?? "")>"
        var level = 0, open = false
        for item in items {
            if item.level > level && open {
                while level < item.level { s += "<ul>"; level += 1 }
            } else {
                if open { s += "</li>" }
                while level > item.level { s += "</ul></li>"; level -= 1 }
            }
            s += "<li>" + SVGPlot.escape(item.text)
            open = true
        }
        if open { s += "</li>" }
        while level > 0 { s += "</ul></li>"; level -= 1 }
        return s + "</ul>\n"
    }

    static func render(_ block: ReportDocument.Block, svg: [Int: String]) -> String {
        let e = SVGPlot.escape
        switch block {
        case .paragraph(let text): return "<p>\(e(text))</p>\n"
        case .list(let items): return list(items)
        case .warnings(let items): return list(items.map { Finding(text: "⚠ " + $0, level: 0) }, className: "warnings")
        case .table(let t): return table(t)
        case .figures(let figures):
            return figures.map { "<figure>\(svg[$0.number] ?? $0.figure.plot.render())<figcaption>\(e($0.figure.caption))</figcaption></figure>\n" }.joined()
        case .images(let images):
            var s = "<div class=\"strip\">"
            for (path, caption) in images {
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                s += "<figure><img alt=\"poisoned image\" src=\"data:image/png;base64,\(data.base64EncodedString())\"><figcaption>\(e(caption))</figcaption></figure>"
            }
            return s + "</div>\n"
        case .code(_, let text): return "<pre>\(e(text))</pre>\n"
        }
    }
}
