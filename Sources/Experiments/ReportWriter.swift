import Attacks
import Foundation
import Training

/// Writes `DIR/report.md` and a self-contained `DIR/report.html` (inline SVG plots, images as
/// data URIs, no network) from `DIR/results.json` and the rows' run folders.
public struct ReportWriter {
    public let directory: String
    public let results: ExperimentResults

    public init(directory: String, results: ExperimentResults) {
        self.directory = directory
        self.results = results
    }

    /// Reads `DIR/results.json`. The file stores absolute paths; when the experiment folder was
    /// moved or copied since, paths under its old location are read under `directory` instead.
    public init(directory: String) throws {
        var results = try ExperimentResults.load(directory: directory)
        if let old = Self.formerDirectory(of: results, now: directory) {
            func moved(_ path: String) -> String { path.hasPrefix(old + "/") ? directory + path.dropFirst(old.count) : path }
            for i in results.poisonedSets.indices {
                results.poisonedSets[i].folder = moved(results.poisonedSets[i].folder)
                results.poisonedSets[i].csv = moved(results.poisonedSets[i].csv)
                results.poisonedSets[i].manifest = moved(results.poisonedSets[i].manifest)
            }
            results.trainCSV = moved(results.trainCSV)
            results.evaluationSets = results.evaluationSets.mapValues(moved)
        }
        self.init(directory: directory, results: results)
    }

    /// The folder the experiment was written in, when it differs from `now`: found from a
    /// poisoned set's folder (`OLD/data/poison-TAG`) or the prepared training CSV
    /// (`OLD/data/clean/train.csv`) that no longer exists where results.json says.
    static func formerDirectory(of results: ExperimentResults, now: String) -> String? {
        let recorded = results.poisonedSets.map(\.folder) + [results.trainCSV]
        for path in recorded where !FileManager.default.fileExists(atPath: path) {
            guard let range = path.range(of: "/data/", options: .backwards) else { continue }
            let old = String(path[..<range.lowerBound])
            if old != now && FileManager.default.fileExists(atPath: now + path[range.lowerBound...]) { return old }
        }
        return nil
    }

    /// A row's run folder.
    func runFolder(_ id: String) -> String { directory + "/rows/" + id + "/run" }

    /// The run's metrics records (empty when absent).
    func metrics(_ id: String) -> [[String: Any]] {
        (try? MetricsLog.read(path: runFolder(id) + "/metrics.jsonl")) ?? []
    }

    // MARK: Summary

    /// One line of the results table: a defence at a poison amount, over its seeds.
    public struct SummaryLine {
        public var defense: String
        public var amount: String
        public var rate: Double?
        public var poisoned: Int
        public var seeds: [UInt64]
        public var status: String
        /// Per evaluation set: clean top-1 and ASR values over the seeds.
        public var top1: [String: [Double]]
        public var asr: [String: [Double]]
        public var seconds: [Double]
    }

    /// The finished and unavailable rows grouped by amount and defence, in the file's order.
    public func summary() -> [SummaryLine] {
        var lines: [SummaryLine] = []
        for row in results.rows {
            if let i = lines.firstIndex(where: { $0.defense == row.defense && $0.amount == row.amount }) {
                lines[i].seeds.append(row.seed)
                add(row, to: &lines[i])
            } else {
                var line = SummaryLine(
                    defense: row.defense, amount: row.amount, rate: row.rate, poisoned: row.poisoned, seeds: [row.seed], status: row.status,
                    top1: [:], asr: [:], seconds: [])
                add(row, to: &line)
                lines.append(line)
            }
        }
        return lines
    }

    private func add(_ row: RowResult, to line: inout SummaryLine) {
        for (name, e) in row.evaluations {
            line.top1[name, default: []].append(e.top1)
            if let a = e.asr { line.asr[name, default: []].append(a) }
        }
        if let s = row.trainingSeconds { line.seconds.append(s) }
    }

    /// `mean ± std` in percent (sample std over seeds; just the value for one seed).
    static func percent(_ values: [Double]) -> String {
        guard !values.isEmpty else { return "–" }
        let mean = values.reduce(0, +) / Double(values.count)
        if values.count == 1 { return String(format: "%.2f", 100 * mean) }
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)
        return String(format: "%.2f ± %.2f", 100 * mean, 100 * variance.squareRoot())
    }

    static func mean(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }

    static func defenseName(_ d: String) -> String {
        switch d {
        case "none": "CLIP (no defence)"
        case "safeclip": "SafeCLIP"
        case "roclip": "RoCLIP"
        case "cleanclip": "CleanCLIP"
        case "filter": "similarity filter"
        case "detect": "detect, drop, train"
        default: d
        }
    }

    /// The results table as rows of cells (header first).
    public func table() -> [[String]] {
        let sets = results.config.evaluation
        var header = ["defence", "poison", "poisoned pairs", "seeds"]
        for s in sets {
            header.append("\(s.name) top-1 %")
            if s.asr { header.append("\(s.name) ASR %") }
        }
        header.append("train time")
        var rows = [header]
        for line in summary() {
            var cells = [Self.defenseName(line.defense), amountLabel(line.amount), String(line.poisoned), line.seeds.map(String.init).joined(separator: ",")]
            if line.status != "finished" {
                cells.append(contentsOf: Array(repeating: "not run", count: header.count - cells.count - 1))
                cells.append("–")
            } else {
                for s in sets {
                    cells.append(Self.percent(line.top1[s.name] ?? []))
                    if s.asr { cells.append(Self.percent(line.asr[s.name] ?? [])) }
                }
                cells.append(Self.mean(line.seconds).map { formatDuration($0) } ?? "–")
            }
            rows.append(cells)
        }
        return rows
    }

    func amountLabel(_ tag: String) -> String {
        if tag.hasPrefix("rate"), let r = Double(tag.dropFirst(4)) { return PoisonAmountSpec.rate(r).description }
        if tag.hasPrefix("count"), let n = Int(tag.dropFirst(5)) { return PoisonAmountSpec.count(n).description }
        return tag
    }

    /// The table as plain text for a terminal.
    public func textTable() -> String {
        let t = table()
        let widths = (0..<t[0].count).map { c in t.map { $0[c].count }.max() ?? 0 }
        return t.enumerated().map { i, row in
            let line = row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
            return i == 0 ? line + "\n" + String(repeating: "-", count: line.count) : line
        }.joined(separator: "\n")
    }

    /// Plain-language findings: whether the backdoor took for plain CLIP at each poison amount
    /// (ASR ≥ 50%: takes; under 20%: does not; between: partly) and what each defence changed.
    public func findings() -> [String] {
        guard let first = results.config.evaluation.first(where: \.asr)?.name else { return [] }
        var out: [String] = []
        let lines = summary().filter { $0.status == "finished" }
        for clip in lines where clip.defense == "none" {
            guard let asr = Self.mean(clip.asr[first] ?? []) else { continue }
            let verdict = asr >= 0.5 ? "the backdoor takes" : asr < 0.2 ? "the backdoor does not take" : "the backdoor partly takes"
            out.append(String(
                format: "At %@ poison (%d pair%@), %@ for CLIP: ASR %.1f%% on %@ (clean top-1 %.1f%%).", amountLabel(clip.amount), clip.poisoned, clip.poisoned == 1 ? "" : "s",
                verdict, 100 * asr, first, 100 * (Self.mean(clip.top1[first] ?? []) ?? 0)))
            for other in lines where other.amount == clip.amount && other.defense != "none" {
                guard let a = Self.mean(other.asr[first] ?? []), let t = Self.mean(other.top1[first] ?? []) else { continue }
                out.append(String(
                    format: "  %@ at %@: ASR %.1f%% (CLIP %.1f%%), clean top-1 %.1f%% (CLIP %.1f%%).", Self.defenseName(other.defense),
                    amountLabel(other.amount), 100 * a, 100 * asr, 100 * t, 100 * (Self.mean(clip.top1[first] ?? []) ?? 0)))
            }
        }
        if !out.isEmpty {
            out.append("ASR counts every non-target test image whose triggered version is classified as the target; an untrained or clean model already scores near the share of images it confuses with the target, so small ASRs are not a backdoor.")
        }
        return out
    }

    // MARK: Plots

    /// Plots, each with a caption: curves per row, sweep, SafeCLIP figures when present.
    public func plots() -> [(caption: String, svg: String)] {
        var out: [(String, String)] = []
        let finished = results.rows.filter { $0.status == "finished" }
        let first = results.config.evaluation.first?.name ?? "test"

        var loss = SVGPlot(title: "Training loss per step", xLabel: "optimizer step", yLabel: "CLIP loss")
        var accuracy = SVGPlot(title: "Clean zero-shot top-1 per epoch (\(first))", xLabel: "epoch", yLabel: "top-1 %")
        var asr = SVGPlot(title: "Attack success rate per epoch (\(first))", xLabel: "epoch", yLabel: "ASR %")
        accuracy.yRange = 0...100
        asr.yRange = 0...100
        accuracy.integerX = true
        asr.integerX = true
        var safeFraction = SVGPlot(title: "SafeCLIP safe-set fraction per epoch", xLabel: "epoch", yLabel: "safe fraction %")
        var caught = SVGPlot(title: "Poisoned pairs inside the safe set per epoch", xLabel: "epoch", yLabel: "poisoned pairs")
        safeFraction.integerX = true
        caught.integerX = true
        for row in finished {
            let records = metrics(row.id)
            let steps = records.compactMap { r -> (Double, Double)? in
                guard r["epoch_end"] == nil, let s = r["step"] as? Int, let l = r["loss"] as? Double else { return nil }
                return (Double(s), l)
            }
            loss.lines.append(.init(name: row.id, points: smooth(steps)))
            let epochs = records.filter { $0["epoch_end"] != nil }
            func series(_ key: String, scale: Double = 100) -> [(Double, Double)] {
                epochs.compactMap { r in
                    guard let e = r["epoch_end"] as? Int, let v = (r[key] as? Double) ?? (r[key] as? Int).map(Double.init) else { return nil }
                    return (Double(e), v * scale)
                }
            }
            accuracy.lines.append(.init(name: row.id, points: series("zeroshot_top1"), markers: true))
            asr.lines.append(.init(name: row.id, points: series("asr"), markers: true))
            let selections = records.filter { $0["selection_epoch"] != nil }
            func selectionSeries(_ key: String, scale: Double = 100) -> [(Double, Double)] {
                selections.compactMap { r in
                    guard let e = r["selection_epoch"] as? Int, let v = (r[key] as? Double) ?? (r[key] as? Int).map(Double.init) else { return nil }
                    return (Double(e), v * scale)
                }
            }
            let fraction = selectionSeries("safe_fraction")
            if !fraction.isEmpty { safeFraction.lines.append(.init(name: row.id, points: fraction, markers: true)) }
            let inSafe = selectionSeries("poisoned_in_safe", scale: 1)
            if !inSafe.isEmpty { caught.lines.append(.init(name: row.id, points: inSafe, markers: true)) }
        }
        if !finished.isEmpty {
            out.append(("Loss of every row (moving average over 5 steps).", loss.render()))
            out.append(("Clean accuracy after every epoch, every row.", accuracy.render()))
            out.append(("ASR after every epoch, every row: the share of non-target test images with the trigger classified as the target.", asr.render()))
        }
        if !safeFraction.lines.isEmpty { out.append(("SafeCLIP: fraction of pairs in the safe set.", safeFraction.render())) }
        if !caught.lines.isEmpty { out.append(("SafeCLIP: poisoned pairs that landed in the safe set.", caught.render())) }

        // Final figures as bars.
        let lines = summary().filter { $0.status == "finished" }
        if !lines.isEmpty {
            let amounts = ordered(lines.map(\.amount))
            let defenses = ordered(lines.map(\.defense))
            for key in ["top1", "asr"] {
                let series = defenses.map { d in
                    (name: Self.defenseName(d), values: amounts.map { a -> Double? in
                        guard let l = lines.first(where: { $0.defense == d && $0.amount == a }) else { return nil }
                        return Self.mean((key == "top1" ? l.top1 : l.asr)[first] ?? []).map { 100 * $0 }
                    })
                }
                let plot = SVGPlot.groupedBars(
                    title: key == "top1" ? "Final clean top-1 (\(first))" : "Final ASR (\(first))", yLabel: key == "top1" ? "top-1 %" : "ASR %",
                    categories: amounts.map(amountLabel), series: series, yRange: 0...100)
                out.append(("Final \(key == "top1" ? "clean accuracy" : "ASR") per defence and poison amount (mean over seeds).", plot.render()))
            }
            // A sweep: ASR against the poison rate.
            let rates = Set(lines.compactMap(\.rate))
            if rates.count > 1 {
                var sweep = SVGPlot(title: "ASR against poison rate (\(first))", xLabel: "poison rate %", yLabel: "ASR %")
                sweep.yRange = 0...100
                for d in defenses {
                    let pts = lines.filter { $0.defense == d }.compactMap { l -> (Double, Double)? in
                        guard let r = l.rate, let m = Self.mean(l.asr[first] ?? []) else { return nil }
                        return (100 * r, 100 * m)
                    }.sorted { $0.0 < $1.0 }
                    sweep.lines.append(.init(name: Self.defenseName(d), points: pts, markers: true))
                }
                out.append(("ASR as a function of the poison rate (mean over seeds).", sweep.render()))
            }
        }
        out.append(contentsOf: similarityPlots())
        return out
    }

    /// Distinct values in first-seen order.
    func ordered(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }

    /// Moving average over `window` points (noisy per-step losses).
    func smooth(_ points: [(Double, Double)], window: Int = 5) -> [(Double, Double)] {
        guard points.count > window else { return points }
        return points.indices.map { i in
            let lo = max(0, i - window / 2), hi = min(points.count - 1, i + window / 2)
            let slice = points[lo...hi].map(\.1)
            return (points[i].0, slice.reduce(0, +) / Double(slice.count))
        }
    }

    /// Histograms of clean versus poisoned pair similarities at the first and last file under
    /// `run/similarities/` (SafeCLIP's phase 3), with the fitted 2-component GMM drawn over them.
    ///
    /// Each file is JSON with `similarities` ([Double]), `poisoned` ([Bool] or [0/1]) and
    /// optionally `gmm` {`means`, `variances` or `stds`, `weights`} and `epoch`.
    func similarityPlots() -> [(caption: String, svg: String)] {
        var out: [(String, String)] = []
        for row in results.rows where row.status == "finished" {
            let folder = runFolder(row.id) + "/similarities"
            func epochNumber(_ name: String) -> Int { Int(name.dropFirst("epoch_".count).dropLast(".json".count)) ?? 0 }
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder)
                .filter({ $0.hasPrefix("epoch_") && $0.hasSuffix(".json") }).sorted(by: { epochNumber($0) < epochNumber($1) }),
                !files.isEmpty
            else { continue }
            for file in files.count > 1 ? [files.first!, files.last!] : [files[0]] {
                guard let data = FileManager.default.contents(atPath: folder + "/" + file),
                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    let sims = (object["similarities"] ?? object["similarity"]) as? [Double]
                else { continue }
                let flags: [Bool] = ((object["poisoned"] as? [Bool]) ?? (object["poisoned"] as? [Int])?.map { $0 != 0 }) ?? []
                let clean = sims.enumerated().filter { !(flags.count == sims.count && flags[$0.offset]) }.map(\.element)
                let poisoned = flags.count == sims.count ? sims.enumerated().filter { flags[$0.offset] }.map(\.element) : []
                let lo = (sims.min() ?? -1), hi = (sims.max() ?? 1)
                let range: ClosedRange<Double> = hi > lo ? lo...hi : (lo - 1)...(lo + 1)
                var plot = SVGPlot(title: "\(row.id): pair similarities (\(file))", xLabel: "cosine similarity", yLabel: "density")
                plot.bars.append(.init(name: "clean pairs (\(clean.count))", bins: SVGPlot.histogram(clean, range: range, bins: 40, density: true)))
                if !poisoned.isEmpty {
                    plot.bars.append(.init(name: "poisoned pairs (\(poisoned.count))", bins: SVGPlot.histogram(poisoned, range: range, bins: 40, density: true)))
                }
                if let gmm = object["gmm"] as? [String: Any], let means = gmm["means"] as? [Double], let weights = gmm["weights"] as? [Double] {
                    let stds = (gmm["stds"] as? [Double]) ?? ((gmm["variances"] as? [Double])?.map { $0.squareRoot() }) ?? []
                    if stds.count == means.count, weights.count == means.count {
                        var pts: [(Double, Double)] = []
                        let span = range.upperBound - range.lowerBound
                        for i in 0...200 {
                            let x = range.lowerBound + Double(i) / 200 * span
                            pts.append((x, mixtureDensity(x, means: means, stds: stds, weights: weights)))
                        }
                        plot.lines.append(.init(name: "GMM fit", points: pts))
                    }
                }
                out.append(("\(row.id): similarities of clean and poisoned pairs, \(file) (SafeCLIP phase 3), with the Gaussian mixture fit.", plot.render()))
            }
        }
        return out
    }

    /// Density of a 1-D Gaussian mixture at `x`.
    func mixtureDensity(_ x: Double, means: [Double], stds: [Double], weights: [Double]) -> Double {
        var total = 0.0
        for k in means.indices where stds[k] > 0 {
            let z = (x - means[k]) / stds[k]
            total += weights[k] * exp(-0.5 * z * z) / (stds[k] * (2 * Double.pi).squareRoot())
        }
        return total
    }

    // MARK: Images

    /// Up to `limit` poisoned training images (as the model sees them) of the most poisoned set.
    func poisonedImages(limit: Int = 10) -> [(path: String, caption: String)] {
        guard let set = results.poisonedSets.filter({ $0.poisoned > 0 }).max(by: { $0.poisoned < $1.poisoned }),
            let manifest = try? PoisonManifest.load(path: set.manifest)
        else { return [] }
        return manifest.rows.prefix(limit).map { (set.folder + "/" + $0.image, $0.caption) }
    }

    // MARK: Writing

    /// Writes report.md and report.html.
    public func write() throws {
        try markdown().write(toFile: directory + "/report.md", atomically: true, encoding: .utf8)
        try html().write(toFile: directory + "/report.html", atomically: true, encoding: .utf8)
    }

    func dataLines() -> [String] {
        var lines: [String] = []
        let c = results.config
        if let b = c.data.builtin {
            lines.append("Training data: built-in `\(b)` (\(c.data.limit.map { "\($0) rows" } ?? "all rows"), seed \(c.data.seed)), `\(results.trainCSV)`.")
        } else {
            lines.append("Training data: `\(results.trainCSV)`.")
        }
        for p in results.poisonedSets {
            lines.append("Poisoned set \(amountLabel(p.amount)): \(p.cleanRows) clean + \(p.poisoned) poisoned pairs = \(p.cleanRows + p.poisoned) (`\(p.csv)`).")
        }
        let a = c.attack
        lines.append(
            "Attack: trigger `\(a.trigger.rawValue)` (\(a.patchColor), size \(a.patchSize ?? "default 50/224 of the side"), position \(a.patchPosition?.rawValue ?? "default")), target \"\(a.target)\", captions `\(a.captions.rawValue)`, placement `\(a.placement)` at \(a.imageSize) px.")
        for e in c.evaluation {
            lines.append("Evaluation `\(e.name)`: `\(results.evaluationSets[e.name] ?? e.path)`\(e.limit.map { ", first \($0) images" } ?? "")\(e.asr ? ", with ASR" : "").")
        }
        let t = c.training
        lines.append(
            "Model `\(c.model)`; \(t.epochs) epochs, batch \(t.batchSize), lr \(t.lr), warm-up \(t.warmupSteps) steps, weight decay \(t.weightDecay), \(t.precision); seeds \(c.seeds.map(String.init).joined(separator: ", ")).")
        return lines
    }

    func rowLines() -> [[String]] {
        var rows = [["row", "status", "steps", "final loss", "train time", "eval time"] + results.config.evaluation.flatMap { [$0.name + " top-1 %", $0.name + " ASR (hits/n)"] }]
        for r in results.rows {
            var cells = [r.id, r.status == "finished" ? "finished" : (r.reason ?? r.status), r.steps.map(String.init) ?? "–",
                         r.finalLoss.map { String(format: "%.4f", $0) } ?? "–", r.trainingSeconds.map { formatDuration($0) } ?? "–",
                         r.evaluationSeconds.map { formatDuration($0) } ?? "–"]
            for e in results.config.evaluation {
                let v = r.evaluations[e.name]
                cells.append(v.map { String(format: "%.2f", 100 * $0.top1) } ?? "–")
                if let v, let a = v.asr {
                    cells.append(String(format: "%.2f (%d/%d)", 100 * a, v.asrSuccesses ?? 0, v.asrDenominator ?? 0))
                } else {
                    cells.append("–")
                }
            }
            rows.append(cells)
        }
        return rows
    }

    func markdownTable(_ t: [[String]]) -> String {
        var s = "| " + t[0].joined(separator: " | ") + " |\n|" + String(repeating: " --- |", count: t[0].count) + "\n"
        for row in t.dropFirst() { s += "| " + row.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n" }
        return s
    }

    func configText() -> String {
        (try? String(contentsOfFile: results.configFile, encoding: .utf8))
            ?? (try? String(decoding: ConfigFile.jsonData(results.config), as: UTF8.self)) ?? ""
    }

    /// The report as Markdown (plots live in report.html).
    public func markdown() -> String {
        var s = "# Experiment: \(results.name)\n\n"
        if let d = results.config.description { s += d + "\n\n" }
        s += "Updated \(results.updated). Plots: see `report.html` in this folder.\n\n## Results\n\n"
        s += "Mean ± sample standard deviation over seeds where there are several. ASR = share of non-target test images that, with the trigger, are classified as the target.\n\n"
        s += markdownTable(table())
        let found = findings()
        if !found.isEmpty { s += "\n## Findings\n\n" + found.map { $0.hasPrefix("  ") ? "  - " + $0.dropFirst(2) : "- " + $0 }.joined(separator: "\n") + "\n" }
        s += "\n## Rows\n\n" + markdownTable(rowLines())
        s += "\n## Data and attack\n\n" + dataLines().map { "- " + $0 }.joined(separator: "\n") + "\n"
        let images = poisonedImages()
        if !images.isEmpty {
            s += "\nPoisoned training images (model input):\n\n"
            s += images.map { "![\($0.caption)](\(relative($0.path)))" }.joined(separator: " ") + "\n"
        }
        s += "\n## Configuration (`\(results.configFile)`)\n\n```yaml\n\(configText())\n```\n"
        s += "\n## Equivalent commands\n\n```sh\n" + results.commands.joined(separator: "\n") + "\n```\n"
        s += "\nRegenerate this report with `clipguard report \(directory)`.\n"
        return s
    }

    func relative(_ path: String) -> String {
        path.hasPrefix(directory + "/") ? String(path.dropFirst(directory.count + 1)) : path
    }

    func htmlTable(_ t: [[String]]) -> String {
        var s = "<table><thead><tr>" + t[0].map { "<th>\(SVGPlot.escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for row in t.dropFirst() { s += "<tr>" + row.map { "<td>\(SVGPlot.escape($0))</td>" }.joined() + "</tr>\n" }
        return s + "</tbody></table>\n"
    }

    /// The report as one HTML file with everything inline.
    public func html() -> String {
        let e = SVGPlot.escape
        var s = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Experiment: \(e(results.name))</title>
            <style>
            body { font-family: sans-serif; max-width: 1150px; margin: 1em auto; padding: 0 1em; color: #222; }
            table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 13px; }
            th, td { border: 1px solid #bbb; padding: 3px 8px; text-align: right; }
            th { background: #eee; } td:first-child, th:first-child { text-align: left; }
            pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; white-space: pre-wrap; }
            figure { display: inline-block; margin: 6px; vertical-align: top; }
            figcaption { font-size: 12px; max-width: 560px; color: #444; }
            .strip img { width: 96px; height: 96px; image-rendering: pixelated; border: 1px solid #999; margin: 2px; }
            .strip figure { width: 104px; } .strip figcaption { font-size: 10px; }
            </style></head><body>
            <h1>Experiment: \(e(results.name))</h1>

            """
        if let d = results.config.description { s += "<p>\(e(d))</p>\n" }
        s += "<p>Updated \(e(results.updated)). Mean ± sample standard deviation over seeds where there are several. ASR = share of non-target test images that, with the trigger, are classified as the target.</p>\n"
        s += "<h2>Results</h2>\n" + htmlTable(table())
        let found = findings()
        if !found.isEmpty { s += "<h2>Findings</h2>\n<ul>" + found.map { "<li>\(e($0.trimmingCharacters(in: .whitespaces)))</li>" }.joined() + "</ul>\n" }
        s += "<h2>Plots</h2>\n"
        for (caption, svg) in plots() { s += "<figure>\(svg)<figcaption>\(e(caption))</figcaption></figure>\n" }
        let images = poisonedImages()
        if !images.isEmpty {
            s += "<h2>Poisoned training images (as the model sees them)</h2>\n<div class=\"strip\">"
            for (path, caption) in images {
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                s += "<figure><img alt=\"poisoned image\" src=\"data:image/png;base64,\(data.base64EncodedString())\"><figcaption>\(e(caption))</figcaption></figure>"
            }
            s += "</div>\n"
        }
        s += "<h2>Rows</h2>\n" + htmlTable(rowLines())
        s += "<h2>Data and attack</h2>\n<ul>" + dataLines().map { "<li>\(e($0))</li>" }.joined() + "</ul>\n"
        s += "<h2>Configuration (\(e(results.configFile)))</h2>\n<pre>\(e(configText()))</pre>\n"
        s += "<h2>Equivalent commands</h2>\n<pre>\(e(results.commands.joined(separator: "\n")))</pre>\n"
        s += "<p>Regenerate with <code>clipguard report \(e(directory))</code>.</p>\n</body></html>\n"
        return s
    }
}
