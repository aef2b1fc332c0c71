import Foundation

/// The report of a `clipguard detect` folder: `DIR/report.html` with the ROC curve of every
/// detector and, per detector, the histogram of clean and poisoned pairs over the scaled score rank,
/// read from `DIR/summary.json` (format `clipguard-detect-1`; the curves need a manifest).
public struct DetectionReport {
    public let directory: String
    private let summary: [String: Any]

    /// Whether `directory` holds a detection summary.
    public static func isDetectionFolder(_ directory: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: directory + "/summary.json"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return object["format"] as? String == "clipguard-detect-1"
    }

    public init(directory: String) throws {
        self.directory = directory
        let path = directory + "/summary.json"
        guard let data = FileManager.default.contents(atPath: path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              object["format"] as? String == "clipguard-detect-1" else {
            throw ExperimentError.folder(path: path, reason: "is not a clipguard detect summary (format clipguard-detect-1)")
        }
        summary = object
    }

    /// Score columns in the order of `scores.csv`, then `combined`.
    var columns: [String] { ((summary["columns"] as? [String]) ?? []) + ["combined"] }

    /// AUROC per column, where the summary has metrics.
    public func aurocs() -> [(String, Double)] {
        let metrics = summary["metrics"] as? [String: [String: Any]] ?? [:]
        return columns.compactMap { name in (metrics[name]?["auroc"] as? Double).map { (name, $0) } }
    }

    /// The HTML page with its SVG plots.
    public func html() -> String {
        var roc = SVGPlot(title: "ROC per detector", xLabel: "false-positive rate", yLabel: "true-positive rate")
        roc.yRange = 0...1
        let curves = summary["roc"] as? [String: [[Double]]] ?? [:]
        let auroc = Dictionary(uniqueKeysWithValues: aurocs())
        for name in columns {
            guard let points = curves[name], !points.isEmpty else { continue }
            let label = auroc[name].map { "\(name) (AUROC \(String(format: "%.3f", $0)))" } ?? name
            roc.lines.append(SVGPlot.Line(name: label, points: points.map { ($0[0], $0[1]) }, dashed: name == "combined"))
        }
        var body = curves.isEmpty ? "<p>No manifest: no ROC curves or histograms.</p>" : roc.render()
        let histograms = summary["histograms"] as? [String: [String: [Int]]] ?? [:]
        for name in columns {
            guard let clean = histograms[name]?["clean"], let poisoned = histograms[name]?["poisoned"] else { continue }
            var plot = SVGPlot(title: "\(name): pairs per score rank (1 = most suspicious)", xLabel: "scaled rank", yLabel: "share of pairs")
            func bins(_ counts: [Int]) -> [(x0: Double, x1: Double, y: Double)] {
                let total = Double(max(1, counts.reduce(0, +))), width = 1 / Double(counts.count)
                return counts.enumerated().map { (Double($0.offset) * width, Double($0.offset + 1) * width, Double($0.element) / total) }
            }
            plot.bars = [SVGPlot.Bars(name: "clean", bins: bins(clean)), SVGPlot.Bars(name: "poisoned", bins: bins(poisoned))]
            body += plot.render()
        }
        return """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>clipguard detect</title></head><body>
            <h1>Poison detection: \(SVGPlot.escape(summary["data"] as? String ?? ""))</h1>
            \(operatingPoints())
            \(combination())
            \(body)
            </body></html>
            """
    }

    /// The table of every column's AUROC and operating points, with what chance gives beside them.
    func operatingPoints() -> String {
        let metrics = summary["metrics"] as? [String: [String: Any]] ?? [:]
        func f(_ v: Any?, _ format: String = "%.3f") -> String { (v as? Double).map { String(format: format, $0) } ?? "–" }
        var html = "<table><tr><th>detector</th><th>AUROC</th><th>TPR at 1 % FPR</th><th>recall at k</th><th>flagged at its label-free threshold</th><th>precision / recall / F1 there</th></tr>"
        var chance = "", first = true
        for name in columns {
            guard let m = metrics[name], let auroc = m["auroc"] as? Double else { continue }
            let atK = (m["at_k"] as? [[String: Any]])?.first
            let at = m["at_threshold"] as? [String: Any]
            html += "<tr><td>\(SVGPlot.escape(name))</td><td>\(String(format: "%.3f", auroc))</td><td>\(f(m["tpr_at1_fpr"]))</td>"
            html += "<td>\(f(atK?["recall"], "%.2f"))\((atK?["k"] as? Int).map { " (k = \($0))" } ?? "")</td>"
            html += "<td>\((at?["flagged"] as? Int).map(String.init) ?? "–")</td>"
            html += "<td>\(f(at?["precision"], "%.2f")) / \(f(at?["recall"], "%.2f")) / \(f(at?["f1"], "%.2f"))</td></tr>"
            if first, let poisoned = m["poisoned"] as? Int, let total = m["total"] as? Int, total > 0, let k = atK?["k"] as? Int {
                first = false
                chance = String(format: "<p>Chance: AUROC 0.5, TPR at 1 %% FPR 0.01; a random set of k = %d of the %d pairs catches %.1f of the %d poisoned ones (recall %.2f), and any flagged set has precision %.3f at random.</p>",
                                k, total, Double(k) * Double(poisoned) / Double(total), poisoned, Double(k) / Double(total), Double(poisoned) / Double(total))
            }
        }
        return html + "</table>" + chance
    }

    /// How `combined` was formed: the campaign's caption word, the columns summed, and the
    /// warnings about inverted, weaker or blind columns.
    func combination() -> String {
        let used = summary["combined"] as? [String] ?? []
        let word = summary["campaign_word"] as? String ?? ""
        let warnings = summary["warnings"] as? [String] ?? []
        guard !used.isEmpty || !warnings.isEmpty else { return "" }
        let list = used.isEmpty ? "no column" : used.map(SVGPlot.escape).joined(separator: ", ")
        var html = word.isEmpty
            ? "<p><b>combined</b> sums \(list) (no caption word stood out among the most suspicious pairs).</p>"
            : "<p><b>combined</b> sums the columns whose most suspicious pairs carry the campaign's caption word \"\(SVGPlot.escape(word))\": \(list).</p>"
        if !warnings.isEmpty { html += "<ul>" + warnings.map { "<li>\(SVGPlot.escape($0))</li>" }.joined() + "</ul>" }
        return html
    }

    /// Writes `DIR/report.html`.
    public func write() throws {
        try html().write(toFile: directory + "/report.html", atomically: true, encoding: .utf8)
    }
}
