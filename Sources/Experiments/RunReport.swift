import Foundation
import Training

/// `clipguard report RUN_DIR` for one training run (`train`/`finetune`): `RUN_DIR/report.md` and
/// `RUN_DIR/report.html` from its `config.json`, `metrics.jsonl` and `result.json` — the outcome,
/// the warnings, per-epoch zero-shot accuracy (and ASR with its base rate where recorded), the loss
/// per step as a plot, and the settings.
public struct RunReport {
    public let directory: String
    let config: [String: Any]
    let steps: [[String: Any]]
    let epochs: [[String: Any]]
    let result: RunResult?

    /// Whether `directory` holds a training run (`config.json` and `metrics.jsonl`).
    public static func isRunFolder(_ directory: String) -> Bool {
        FileManager.default.fileExists(atPath: directory + "/config.json")
            && FileManager.default.fileExists(atPath: directory + "/metrics.jsonl")
    }

    /// Reads the run's files.
    ///
    /// - Throws: ``ExperimentError/folder(path:reason:)`` when `config.json` cannot be read.
    public init(directory: String) throws {
        self.directory = directory
        guard let data = FileManager.default.contents(atPath: directory + "/config.json"),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw ExperimentError.folder(path: directory + "/config.json", reason: "cannot be read as a training run's settings")
        }
        config = object
        var steps: [[String: Any]] = [], epochs: [[String: Any]] = []
        for line in (FileManager.default.contents(atPath: directory + "/metrics.jsonl") ?? Data()).split(separator: UInt8(ascii: "\n")) {
            guard let record = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { continue }
            if record["epoch_end"] != nil { epochs.append(record) } else if record["loss"] != nil { steps.append(record) }
        }
        self.steps = steps
        self.epochs = epochs
        result = FileManager.default.contents(atPath: directory + "/result.json").flatMap { try? JSONDecoder().decode(RunResult.self, from: $0) }
    }

    static func percent(_ value: Any?) -> String { (value as? Double).map { String(format: "%.2f %%", 100 * $0) } ?? "–" }

    /// The report's lines of text (also printed by the command).
    public func summaryLines() -> [String] {
        var lines: [String] = []
        let model = config["model"] as? String ?? "?", defense = config["defense"] as? String ?? "none"
        lines.append("run \(directory): \(model), defence \(defense), \(epochs.count) of \(config["epochs"] as? Int ?? 0) epochs, \(steps.last?["step"] as? Int ?? 0) steps")
        if let result {
            var line = "training pairs \(result.trainingPairs)"
            if let poisoned = result.poisonedPairs { line += ", poisoned \(poisoned)" }
            if let loss = result.finalLoss { line += String(format: ", final loss %.4f", loss) }
            if let top1 = result.zeroshotTop1 { line += String(format: ", zero-shot top-1 %.2f %%", 100 * top1) }
            lines.append(line)
        } else {
            lines.append("no result.json: the run has not finished")
        }
        return lines
    }

    /// The run's warnings under the current rules, from its files and `result.json`'s counts
    /// (plus any `result.json` recorded that the files cannot show, such as a `--data` warning).
    public func warnings() -> [String] {
        let current = ResultWarnings.forRun(
            folder: directory, classes: result?.classes, poisoned: result?.poisonedPairs, pairs: result?.trainingPairs)
        let recorded = (result?.warnings ?? []).filter { $0.hasPrefix("--data") }
        return recorded + current
    }

    func epochTable() -> [[String]] {
        var rows = [["epoch", "step", "phase", "zero-shot top-1", "top-5", "ASR", "ASR base rate"]]
        for e in epochs {
            rows.append([
                "\(e["epoch_end"] as? Int ?? 0)", "\(e["step"] as? Int ?? 0)", e["phase"] as? String ?? "", Self.percent(e["zeroshot_top1"]),
                Self.percent(e["zeroshot_top5"]), Self.percent(e["asr"]), Self.percent(e["asr_base_rate"]),
            ])
        }
        return rows
    }

    func lossPlot() -> String {
        var plot = SVGPlot(title: "Loss per step", xLabel: "step", yLabel: "loss")
        let points = steps.compactMap { r -> (Double, Double)? in
            guard let step = r["step"] as? Int, let loss = r["loss"] as? Double, loss.isFinite else { return nil }
            return (Double(step), loss)
        }
        plot.lines.append(.init(name: "loss", points: points, colour: "#1f77b4"))
        return plot.render()
    }

    func settingsText() -> String {
        config.keys.sorted().map { "\($0): \(config[$0].map { "\($0)" } ?? "")" }.joined(separator: "\n")
    }

    public func markdown() -> String {
        var s = "# Training run\n\n" + summaryLines().joined(separator: "\n\n") + "\n"
        let warnings = warnings()
        if !warnings.isEmpty { s += "\n## Warnings\n\n" + warnings.map { "- " + $0 }.joined(separator: "\n") + "\n" }
        s += "\n## Epochs\n\n"
        let table = epochTable()
        s += "| " + table[0].joined(separator: " | ") + " |\n|" + String(repeating: " --- |", count: table[0].count) + "\n"
        s += table.dropFirst().map { "| " + $0.joined(separator: " | ") + " |" }.joined(separator: "\n") + "\n"
        s += "\n## Loss\n\n![loss per step](plots/loss.svg)\n\n## Settings (config.json)\n\n```\n\(settingsText())\n```\n"
        return s
    }

    public func html() -> String {
        let e = SVGPlot.escape
        var s = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Training run</title>"
        s += "<style>body { font-family: sans-serif; max-width: 1000px; margin: 1em auto; } td, th { border: 1px solid #bbb; padding: 3px 8px; } table { border-collapse: collapse; }</style></head><body>\n"
        s += "<h1>Training run</h1>\n" + summaryLines().map { "<p>\(e($0))</p>" }.joined(separator: "\n")
        let warnings = warnings()
        if !warnings.isEmpty { s += "<h2>Warnings</h2>\n<ul>" + warnings.map { "<li>\(e($0))</li>" }.joined() + "</ul>\n" }
        let table = epochTable()
        s += "<h2>Epochs</h2>\n<table><tr>" + table[0].map { "<th>\(e($0))</th>" }.joined() + "</tr>"
        s += table.dropFirst().map { "<tr>" + $0.map { "<td>\(e($0))</td>" }.joined() + "</tr>" }.joined() + "</table>\n"
        s += "<h2>Loss</h2>\n" + lossPlot() + "\n<h2>Settings (config.json)</h2>\n<pre>\(e(settingsText()))</pre>\n</body></html>\n"
        return s
    }

    /// Writes `report.md`, `report.html` and `plots/loss.svg`.
    public func write() throws {
        try FileManager.default.createDirectory(atPath: directory + "/plots", withIntermediateDirectories: true)
        try Data(lossPlot().utf8).write(to: URL(fileURLWithPath: directory + "/plots/loss.svg"), options: .atomic)
        try Data(markdown().utf8).write(to: URL(fileURLWithPath: directory + "/report.md"), options: .atomic)
        try Data(html().utf8).write(to: URL(fileURLWithPath: directory + "/report.html"), options: .atomic)
    }
}
