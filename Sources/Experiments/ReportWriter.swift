import Attacks
import Foundation
import Training

/// Writes `DIR/report.md` and a self-contained `DIR/report.html` (inline SVG plots, images as
/// data URIs, no network) from `DIR/results.json` and the rows' run folders.
public struct ReportWriter {
    public let directory: String
    public let results: ExperimentResults
    /// Files read once per report (the similarity files are large at scale).
    let memo = Memo()

    final class Memo {
        var similarityFiles: [String: [(name: String, file: SimilarityFile)]] = [:]
    }

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
        public var defense: RowKind
        /// The experiment variant (nil: the file's own rows).
        public var variant: String?
        public var amount: String
        public var rate: Double?
        public var poisoned: Int
        public var seeds: [UInt64]
        public var status: String
        /// Per evaluation set: clean top-1 and ASR values over the seeds.
        public var top1: [String: [Double]]
        public var asr: [String: [Double]]
        public var seconds: [Double]

        /// Defence and variant (`safeclip@to-cap`): what the report groups, names and colours by.
        public var series: String { variant.map { "\(defense.name)@\($0)" } ?? defense.name }
    }

    /// The finished and unavailable rows grouped by amount and defence, in the file's order.
    public func summary() -> [SummaryLine] {
        var lines: [SummaryLine] = []
        for row in results.rows {
            if let i = lines.firstIndex(where: { $0.series == row.series && $0.amount == row.amount }) {
                lines[i].seeds.append(row.seed)
                add(row, to: &lines[i])
            } else {
                var line = SummaryLine(
                    defense: row.defense, variant: row.variant, amount: row.amount, rate: row.rate, poisoned: row.poisoned, seeds: [row.seed], status: row.status,
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
        guard let s = stats(values) else { return "–" }
        if values.count == 1 { return String(format: "%.2f", 100 * s.mean) }
        return String(format: "%.2f ± %.2f", 100 * s.mean, 100 * s.std)
    }

    static func mean(_ v: [Double]) -> Double? { v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }

    /// The name of a defence, or of a variant's (`safeclip@to-cap` → `SafeCLIP · to-cap`).
    static func defenseName(_ d: String) -> String {
        if let at = d.firstIndex(of: "@") { return defenseName(String(d[..<at])) + " · " + d[d.index(after: at)...] }
        return RowKind(name: d)?.displayName ?? d
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
            var cells = [Self.defenseName(line.series), amountLabel(line.amount), String(line.poisoned), String(line.seeds.count)]
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
        for clip in lines where clip.defense == .plainCLIP {
            let attack = attackVariant(clip.variant)
            let clipTop1 = Self.mean(clip.top1[first] ?? []) ?? 0
            guard let asr = Self.mean(clip.asr[first] ?? []) else { continue }
            let verdict = asr >= 0.5 ? "the backdoor takes" : asr < 0.2 ? "the backdoor does not take" : "the backdoor partly takes"
            out.append(String(
                format: "At %@ poison (%d pair%@%@), %@ for CLIP: ASR %.1f%% on %@ (clean top-1 %.1f%%).", amountLabel(clip.amount), clip.poisoned, clip.poisoned == 1 ? "" : "s",
                attack.map { ", attack of variant \($0)" } ?? "", verdict, 100 * asr, first, 100 * (Self.mean(clip.top1[first] ?? []) ?? 0)))
            for other in lines where other.amount == clip.amount && other.defense != .plainCLIP && baseline(of: other) == clip.variant {
                guard let a = Self.mean(other.asr[first] ?? []), let t = Self.mean(other.top1[first] ?? []) else { continue }
                out.append(String(
                    format: "  %@ at %@: ASR %.1f%% (CLIP %.1f%%), clean top-1 %.1f%% (CLIP %.1f%%: %@ %.1f points).", Self.defenseName(other.series),
                    amountLabel(other.amount), 100 * a, 100 * asr, 100 * t, 100 * clipTop1, t <= clipTop1 ? "costs" : "gains",
                    100 * abs(t - clipTop1)))
            }
        }
        out.append(contentsOf: detectionFindings())
        if !out.isEmpty {
            out.append("ASR counts every non-target test image whose triggered version is classified as the target; an untrained or clean model already scores near the share of images it confuses with the target, so small ASRs are not a backdoor.")
        }
        return out
    }

    /// The variant whose attack a variant's rows use (nil: the file's attack).
    func attackVariant(_ variant: String?) -> String? {
        guard let v = results.config.variants.first(where: { $0.name == variant }) else { return nil }
        return v.attack.isEmpty ? nil : v.name
    }

    /// The variant whose plain CLIP rows a line is compared with: its own when it has them,
    /// else the file's own rows (`.some(nil)`) when it keeps the file's attack; `nil`: none.
    func baseline(of line: SummaryLine) -> String?? {
        guard let name = line.variant, let v = results.config.variants.first(where: { $0.name == name }) else { return .some(nil) }
        if (v.defenses ?? results.config.defenses).contains(.plainCLIP) { return .some(name) }
        return v.attack.isEmpty ? .some(nil) : .none
    }

    // MARK: Styles

    /// The colour of a series (``SummaryLine/series``): a defence's own, or for a variant's rows
    /// one of further colours by the variant's place in the file.
    func colour(_ series: String) -> String {
        guard let at = series.firstIndex(of: "@") else { return Self.colour(ofDefense: series) }
        let name = String(series[series.index(after: at)...])
        let i = results.config.variants.firstIndex { $0.name == name } ?? 0
        let j = i * 3 + (Self.variantDefenses.firstIndex(of: String(series[..<at])) ?? 0)
        return Self.variantPalette[j % Self.variantPalette.count]
    }

    static var variantDefenses: [String] { RowKind.allCases.map(\.name) }
    /// Paul Tol's muted and bright colours, none of them the defences' own.
    static let variantPalette = [
        "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499", "#66CCEE", "#228833", "#BBBBBB",
        "#4477AA", "#EE6677", "#AA3377",
    ]

    /// The colour of a defence in every plot: plain CLIP grey, then the Okabe–Ito colours;
    /// poisoned pairs are always ``poisonColour``.
    public static func colour(ofDefense defense: String) -> String {
        RowKind(name: defense)?.colour ?? ["#56B4E9", "#882255", "#44AA99", "#999933"][defense.unicodeScalars.reduce(0) { $0 + Int($1.value) } % 4]
    }

    /// The colour of poisoned pairs (histograms).
    public static let poisonColour = "#D55E00"

    /// Dash patterns of successive poison amounts (the first solid).
    static let dashes: [String?] = [nil, "7 3", "2 2", "9 3 2 3", "1 3"]

    /// The poison amounts of the rows, in first-seen order.
    var amounts: [String] { ordered(results.rows.map(\.amount)) }

    /// The dash pattern of a poison amount's curves.
    func dash(amount: String) -> String? {
        let i = amounts.firstIndex(of: amount) ?? 0
        return Self.dashes[i % Self.dashes.count]
    }

    /// A row's series name: defence and poison amount (its seeds share it).
    func seriesName(_ row: RowResult) -> String { "\(Self.defenseName(row.series)) · \(amountLabel(row.amount))" }

    /// The shading of a training phase.
    static func phaseColour(_ phase: String) -> String {
        switch phase {
        case "unimodal": "#fbefd0"
        case "clip-warmup": "#dff0df"
        case "mixed": "#ebe4f3"
        case "mixed-safe": "#dde9f7"
        case "mixed-risky": "#f9dede"
        default: "#efefef"
        }
    }

    /// Shaded x-ranges of runs of equal `phase` in `records` keyed by `xKey`, each from the
    /// previous record's x (0 first) to its last record's x: steps for step records, epochs for
    /// epoch records.
    static func bands(_ records: [[String: Any]], xKey: String) -> [SVGPlot.Band] {
        var bands: [SVGPlot.Band] = []
        var previous = 0.0
        for r in records {
            guard let x = (r[xKey] as? Int).map(Double.init), let phase = r["phase"] as? String else { continue }
            if let last = bands.last, last.label == phase {
                bands[bands.count - 1].x1 = x
            } else {
                bands.append(SVGPlot.Band(x0: previous, x1: x, label: phase, colour: phaseColour(phase)))
            }
            previous = x
        }
        return bands
    }

    /// Step records (loss lines) of a run.
    static func stepRecords(_ records: [[String: Any]]) -> [[String: Any]] {
        records.filter { $0["epoch_end"] == nil && $0["loss"] != nil && $0["selection_epoch"] == nil && $0["filter_kept"] == nil }
    }

    /// Mean and sample standard deviation (0 for one value).
    static func stats(_ values: [Double]) -> (mean: Double, std: Double)? {
        guard let mean = mean(values) else { return nil }
        guard values.count > 1 else { return (mean, 0) }
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)
        return (mean, variance.squareRoot())
    }

    /// A bar's value label: "0" for zero, one decimal otherwise.
    @Sendable static func barLabel(_ v: Double) -> String { v == 0 ? "0" : String(format: "%.1f", v) }

    // MARK: Plots

    /// Plots, each with a caption: the trade-off (clean accuracy against ASR, ASR against the
    /// poison rate, final bars), the curves per row, what the selecting defences caught
    /// (per selection and as ROC curves) and the similarity histograms.
    public func plots() -> [(caption: String, svg: String)] {
        tradeOffPlots() + curvePlots() + detectionPlots() + similarityPlots()
    }

    /// The scatter of clean top-1 against ASR, ASR against the poison rate and the final bars.
    func tradeOffPlots() -> [(caption: String, svg: String)] {
        var out: [(String, String)] = []
        let lines = summary().filter { $0.status == "finished" }
        guard !lines.isEmpty else { return [] }
        let defenses = ordered(lines.map(\.series))
        let first = results.config.evaluation.first?.name ?? "test"
        let asrSet = results.config.evaluation.first(where: \.asr)?.name

        if let asrSet {
            var scatter = SVGPlot(title: "Clean top-1 against ASR (\(asrSet))", xLabel: "ASR % (lower is better)", yLabel: "clean top-1 % (higher is better)")
            scatter.xRange = 0...100
            scatter.yRange = 0...100
            for d in defenses {
                var points: [(Double, Double)] = [], errors: [(x: Double, y: Double)] = [], labels: [String] = []
                for l in lines where l.series == d {
                    guard let a = Self.stats(l.asr[asrSet] ?? []), let t = Self.stats(l.top1[asrSet] ?? []) else { continue }
                    points.append((100 * a.mean, 100 * t.mean))
                    errors.append((100 * a.std, 100 * t.std))
                    labels.append(amountLabel(l.amount))
                }
                scatter.lines.append(.init(name: Self.defenseName(d), points: points, connected: false, colour: colour(d), errors: errors, pointLabels: labels))
            }
            out.append((
                "The trade-off: clean top-1 (y) against ASR (x) on \(asrSet), one point per defence and poison amount (labelled), mean over seeds with ± std error bars; the best defence sits top left.",
                scatter.render()))
        }

        // Final figures as bars with their values.
        let amounts = ordered(lines.map(\.amount))
        for key in ["top1", "asr"] {
            guard key == "top1" || asrSet != nil else { continue }
            let set = key == "top1" ? first : asrSet!
            let series = defenses.map { d in
                let figures = amounts.map { a -> (mean: Double, std: Double)? in
                    guard let l = lines.first(where: { $0.series == d && $0.amount == a }) else { return nil }
                    return Self.stats((key == "top1" ? l.top1 : l.asr)[set] ?? []).map { (100 * $0.mean, 100 * $0.std) }
                }
                return (name: Self.defenseName(d), values: figures.map { $0?.mean }, colour: Optional(colour(d)), errors: figures.map { $0?.std })
            }
            let plot = SVGPlot.groupedBars(
                title: key == "top1" ? "Final clean top-1 (\(set))" : "Final ASR (\(set))", yLabel: key == "top1" ? "top-1 %" : "ASR %",
                categories: amounts.map(amountLabel), series: series, yRange: 0...100, format: Self.barLabel)
            out.append(("Final \(key == "top1" ? "clean accuracy" : "ASR") per defence and poison amount: mean over seeds (written on the bar) ± std.", plot.render()))
        }

        // ASR against the poison rate: points on a log axis (the rates are a few chosen values,
        // not a continuum); defences are spread a little sideways so their error bars do not overlap.
        let rates = Set(lines.compactMap(\.rate).filter { $0 > 0 })
        if let asrSet, rates.count > 1 {
            var sweep = SVGPlot(title: "ASR against poison rate (\(asrSet))", xLabel: "poison rate %", yLabel: "ASR %")
            sweep.xScale = .log
            sweep.yRange = 0...100
            for (j, d) in defenses.enumerated() {
                let shift = pow(10, 0.03 * (Double(j) - Double(defenses.count - 1) / 2))
                var points: [(Double, Double)] = [], errors: [(x: Double, y: Double)] = []
                for l in lines where l.series == d {
                    guard let r = l.rate, r > 0, let a = Self.stats(l.asr[asrSet] ?? []) else { continue }
                    points.append((100 * r * shift, 100 * a.mean))
                    errors.append((0, 100 * a.std))
                }
                sweep.lines.append(.init(name: Self.defenseName(d), points: points, connected: false, colour: colour(d), errors: errors))
            }
            let zero = lines.contains { $0.rate == 0 } ? " Rows without poison (rate 0) cannot sit on a log axis and are left out." : ""
            out.append((
                "ASR at each poison rate (log axis), mean over seeds ± std; each defence's points are shifted slightly sideways so they do not hide each other.\(zero)",
                sweep.render()))
        }
        return out
    }

    /// Loss per step, accuracy and ASR per epoch and SafeCLIP's safe fraction, with SafeCLIP's
    /// phases shaded: one line per defence (or variant) and poison amount, the mean over its
    /// seeds; one set of plots per poison amount when there would be more than 8 lines.
    func curvePlots() -> [(caption: String, svg: String)] {
        var groups: [[RowResult]] = []
        for row in results.rows where row.status == "finished" {
            if let i = groups.firstIndex(where: { $0[0].series == row.series && $0[0].amount == row.amount }) {
                groups[i].append(row)
            } else {
                groups.append([row])
            }
        }
        guard !groups.isEmpty else { return [] }
        guard groups.count > 8 else { return curvePlots(groups, amount: nil) }
        return ordered(groups.map { $0[0].amount }).flatMap { a in curvePlots(groups.filter { $0[0].amount == a }, amount: a) }
    }

    /// The mean over rows of `(x, y)` series, at every x that all of them have.
    static func meanSeries(_ series: [[(Double, Double)]]) -> [(Double, Double)] {
        guard let first = series.first else { return [] }
        let others = series.dropFirst().map { Dictionary($0.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a }) }
        return first.compactMap { x, y in
            let values = others.compactMap { $0[x] }
            return values.count == others.count ? (x, (values.reduce(y, +)) / Double(values.count + 1)) : nil
        }
    }

    func curvePlots(_ groups: [[RowResult]], amount: String?) -> [(caption: String, svg: String)] {
        var out: [(String, String)] = []
        let first = results.config.evaluation.first?.name ?? "test"
        let at = amount.map { " at \(amountLabel($0)) poison" } ?? ""

        var loss = SVGPlot(title: "Training loss per step\(at)", xLabel: "optimizer step", yLabel: "loss")
        var safeLoss = SVGPlot(title: "SafeCLIP loss per step, phases shaded\(at)", xLabel: "optimizer step", yLabel: "loss")
        var accuracy = SVGPlot(title: "Clean zero-shot top-1 per epoch (\(first))\(at)", xLabel: "epoch", yLabel: "top-1 %")
        var asr = SVGPlot(title: "Attack success rate per epoch (\(first))\(at)", xLabel: "epoch", yLabel: "ASR %")
        var safeFraction = SVGPlot(title: "SafeCLIP safe-set fraction per epoch\(at)", xLabel: "epoch", yLabel: "safe fraction %")
        loss.xFromZero = true
        safeLoss.xFromZero = true
        accuracy.yRange = 0...100
        asr.yRange = 0...100
        accuracy.integerX = true
        asr.integerX = true
        safeFraction.integerX = true
        accuracy.xFromZero = true
        asr.xFromZero = true
        safeFraction.xFromZero = true
        var safeCLIPRow: String?
        for rows in groups {
            let row = rows[0]
            let style = (colour: colour(row.series), dash: amount == nil ? dash(amount: row.amount) : nil, name: seriesName(row))
            let records = rows.map { metrics($0.id) }
            let steps = records.map(Self.stepRecords)
            let points = Self.meanSeries(steps.map { rowSteps in
                smooth(rowSteps.compactMap { r -> (Double, Double, String)? in
                    guard let s = r["step"] as? Int, let l = r["loss"] as? Double else { return nil }
                    return (Double(s), l, r["phase"] as? String ?? "")
                })
            })
            let line = SVGPlot.Line(name: style.name, points: points, dash: style.dash, colour: style.colour)
            if row.defense.phased {
                if safeCLIPRow == nil {
                    safeCLIPRow = row.id
                    safeLoss.bands = Self.bands(steps[0], xKey: "step")
                    let epochBands = Self.bands(records[0].filter { $0["epoch_end"] != nil }, xKey: "epoch_end")
                    accuracy.bands = epochBands
                    asr.bands = epochBands
                    safeFraction.bands = epochBands
                }
                safeLoss.lines.append(line)
            } else {
                loss.lines.append(line)
            }
            func series(_ key: String, scale: Double = 100) -> [(Double, Double)] {
                Self.meanSeries(records.map { rowRecords in
                    rowRecords.filter { $0["epoch_end"] != nil }.compactMap { r in
                        guard let e = r["epoch_end"] as? Int, let v = (r[key] as? Double) ?? (r[key] as? Int).map(Double.init) else { return nil }
                        return (Double(e), v * scale)
                    }
                })
            }
            accuracy.lines.append(.init(name: style.name, points: series("zeroshot_top1"), markers: true, dash: style.dash, colour: style.colour))
            asr.lines.append(.init(name: style.name, points: series("asr"), markers: true, dash: style.dash, colour: style.colour))
            let fraction = Self.meanSeries(records.map { rowRecords in
                rowRecords.compactMap { r -> (Double, Double)? in
                    guard let e = r["selection_epoch"] as? Int, let v = r["safe_fraction"] as? Double else { return nil }
                    return (Double(e), 100 * v)
                }
            })
            if !fraction.isEmpty {
                safeFraction.lines.append(.init(name: style.name, points: fraction, markers: true, dash: style.dash, colour: style.colour))
            }
        }
        let shading = safeCLIPRow.map { " Shaded: SafeCLIP's phases (from row \($0))." } ?? ""
        let styleNote = "One line per defence\(amount == nil ? " and poison amount" : ""), the mean over its seeds; colour: defence\(amount == nil ? "; dash: poison amount" : "")."
        if !loss.lines.isEmpty {
            out.append(("Loss of every defence that is not SafeCLIP (moving average over 5 steps). \(styleNote)", loss.render()))
        }
        if !safeLoss.lines.isEmpty {
            out.append((
                "SafeCLIP's loss per step (moving average over 5 steps within a phase), the mean over its seeds: unimodal (image–image and text–text) loss in the unimodal and mixed-risky phases, CLIP loss in clip-warmup and mixed-safe, so the levels differ by phase.\(shading)",
                safeLoss.render()))
        }
        out.append(("Clean accuracy after every epoch. \(styleNote)\(shading)", accuracy.render()))
        if results.config.evaluation.first?.asr ?? false {
            out.append(("ASR after every epoch: the share of non-target test images with the trigger classified as the target. \(styleNote)\(shading)", asr.render()))
        }
        if !safeFraction.lines.isEmpty {
            out.append(("SafeCLIP: fraction of pairs in the safe set at each selection, the mean over its seeds.\(shading)", safeFraction.render()))
        }
        return out
    }

    /// Distinct values in first-seen order.
    func ordered(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }

    /// Moving average over `window` points of the same phase (noisy per-step losses; a phase
    /// change is not smoothed over).
    func smooth(_ points: [(Double, Double, String)], window: Int = 5) -> [(Double, Double)] {
        points.indices.map { i in
            var lo = max(0, i - window / 2), hi = min(points.count - 1, i + window / 2)
            while points[lo].2 != points[i].2 { lo += 1 }
            while points[hi].2 != points[i].2 { hi -= 1 }
            let slice = points[lo...hi].map(\.1)
            return (points[i].0, slice.reduce(0, +) / Double(slice.count))
        }
    }

    /// Histograms (counts) of clean and poisoned pair similarities with the safe/risky cut, for
    /// the first seed of every defence and poison amount that saved similarity files: SafeCLIP's
    /// first and last selection with the fitted 2-component GMM drawn over them (as expected
    /// pairs per bin), and the filter's scores.
    func similarityPlots() -> [(caption: String, svg: String)] {
        var out: [(String, String)] = []
        var shown = Set<String>()
        for row in results.rows where row.status == "finished" {
            let files = similarityFiles(row)
            guard !files.isEmpty, shown.insert(row.series + "|" + row.amount).inserted else { continue }
            for (name, file) in files.count > 1 ? [files.first!, files.last!] : [files[0]] {
                let sims = file.similarity
                let flags = file.poisoned.flatMap { $0.count == sims.count ? $0 : nil } ?? Array(repeating: false, count: sims.count)
                let clean = sims.indices.filter { !flags[$0] }.map { sims[$0] }, poisoned = sims.indices.filter { flags[$0] }.map { sims[$0] }
                let finite = sims.filter(\.isFinite)
                let lo = finite.min() ?? -1, hi = finite.max() ?? 1
                let range: ClosedRange<Double> = hi > lo ? lo...hi : (lo - 1)...(lo + 1)
                let binCount = 40
                let what = row.defense.pairSelection == .onceBeforeTraining ? "filter scores before training" : "selection at epoch \(file.epoch)"
                var plot = SVGPlot(title: "\(row.id): pair similarities, \(what)", xLabel: "cosine similarity", yLabel: "pairs")
                plot.bars.append(.init(name: "clean pairs (\(clean.count))", bins: SVGPlot.histogram(clean, range: range, bins: binCount), colour: colour(row.series), opacity: 0.45))
                if !poisoned.isEmpty {
                    let bins = SVGPlot.histogram(poisoned, range: range, bins: binCount).filter { $0.y > 0 }
                    plot.bars.append(.init(name: "poisoned pairs (\(poisoned.count))", bins: bins, colour: Self.poisonColour, opacity: 0.9, valueLabels: true))
                }
                if let gmm = file.gmm, gmm.degenerate == nil, gmm.means.count == gmm.variances.count, gmm.weights.count == gmm.means.count {
                    let span = range.upperBound - range.lowerBound
                    let perBin = Double(finite.count) * span / Double(binCount)
                    let pts = (0...200).map { i -> (Double, Double) in
                        let x = range.lowerBound + Double(i) / 200 * span
                        return (x, perBin * mixtureDensity(x, means: gmm.means, stds: gmm.variances.map { $0.squareRoot() }, weights: gmm.weights))
                    }
                    plot.lines.append(.init(name: "GMM fit (expected pairs per bin)", points: pts, dash: "4 2", colour: "#000000"))
                }
                let cut = Self.cut(similarity: sims, selected: file.selected)
                plot.marks = cut.marks
                out.append((
                    "\(row.id), \(name): number of clean and poisoned pairs per similarity bin (counts; the poisoned bins are labelled with their count), \(what). x spans the similarities' range, not from 0. \(cut.note)",
                    plot.render()))
            }
        }
        return out
    }

    /// The safe/risky cut of a selection drawn on its similarity histogram: one line between the
    /// highest risky and the lowest safe similarity when the selection is a similarity
    /// threshold, otherwise both lines and how many pairs cross them.
    static func cut(similarity: [Double], selected: [Bool]) -> (marks: [SVGPlot.Mark], note: String) {
        guard selected.count == similarity.count else { return ([], "") }
        let finite = similarity.indices.filter { similarity[$0].isFinite }
        let safe = finite.filter { selected[$0] }.map { similarity[$0] }
        let risky = finite.filter { !selected[$0] }.map { similarity[$0] }
        guard let lowestSafe = safe.min(), let highestRisky = risky.max() else {
            return ([], safe.isEmpty ? "No pair was selected (safe/kept)." : "Every pair was selected (safe/kept).")
        }
        if highestRisky < lowestSafe {
            let x = (highestRisky + lowestSafe) / 2
            return ([SVGPlot.Mark(x: x, label: "cut " + String(format: "%.3f", x))], String(format: "The line is the safe/risky cut: every pair above %.3f was selected (safe/kept), every pair below was not.", x))
        }
        let above = risky.filter { $0 > lowestSafe }.count, below = safe.filter { $0 < highestRisky }.count
        return (
            [SVGPlot.Mark(x: lowestSafe, label: "lowest safe", dash: "5 3"), SVGPlot.Mark(x: highestRisky, label: "highest risky", dash: "2 2")],
            "The selection is not a similarity threshold: \(above) risky pair\(above == 1 ? " lies" : "s lie") above the lowest safe similarity (\(String(format: "%.3f", lowestSafe))) and \(below) safe pair\(below == 1 ? " lies" : "s lie") below the highest risky one (\(String(format: "%.3f", highestRisky)))."
        )
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

    /// Writes report.md, report.html and `plots/` (every plot as an SVG file and the poisoned
    /// images, which report.md shows, so the Markdown reads on its own wherever it is copied).
    public func write() throws {
        let figures = plots()
        let folder = directory + "/plots"
        let fm = FileManager.default
        try? fm.removeItem(atPath: folder)
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (i, figure) in figures.enumerated() {
            try figure.svg.write(toFile: folder + "/" + Self.plotFile(i), atomically: true, encoding: .utf8)
        }
        for (i, image) in poisonedImages().enumerated() {
            guard let data = fm.contents(atPath: image.path) else { continue }
            try data.write(to: URL(fileURLWithPath: folder + "/" + Self.imageFile(i)), options: .atomic)
        }
        try markdown(plots: figures).write(toFile: directory + "/report.md", atomically: true, encoding: .utf8)
        try html(plots: figures).write(toFile: directory + "/report.html", atomically: true, encoding: .utf8)
    }

    static func plotFile(_ i: Int) -> String { String(format: "plot-%02d.svg", i + 1) }
    static func imageFile(_ i: Int) -> String { String(format: "poisoned-%02d.png", i + 1) }

    /// How the experiment was run and how long its rows took.
    func runLine() -> String {
        let finished = results.rows.filter { $0.status == "finished" }
        let seconds = finished.reduce(0.0) { $0 + ($1.trainingSeconds ?? 0) + ($1.evaluationSeconds ?? 0) }
        return shown(
            "Command: `clipguard experiment run \(results.configFile) --out \(directory)`; \(finished.count) of \(results.config.rows.count) rows finished, their training and evaluation took \(formatDuration(seconds)) in all (the sum over rows, data preparation and poisoning not counted).")
    }

    /// `text` with paths below the current directory written relative to it (the report of
    /// `clipguard report runs/x`, run from a checkout, names `runs/x/data/…`, not this machine's
    /// absolute folders).
    func shown(_ text: String) -> String {
        let here = FileManager.default.currentDirectoryPath
        guard here != "/" else { return text }
        return text.replacingOccurrences(of: here + "/", with: "")
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
            lines.append("Poisoned set \(amountLabel(p.amount))\(p.variant.map { " (attack of variant \($0))" } ?? ""): \(p.cleanRows) clean + \(p.poisoned) poisoned pairs = \(p.cleanRows + p.poisoned) (`\(p.csv)`).")
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
        for v in c.variants {
            let changes = v.attack.sorted { $0.key < $1.key }.map { "attack.\($0.key) = \($0.value.text)" }
                + v.training.sorted { $0.key < $1.key }.map { "training.\($0.key) = \($0.value.text)" }
            var rows: [String] = []
            if let d = v.defenses { rows.append("defences " + d.map(\.displayName).joined(separator: ", ")) }
            if let r = v.rates { rows.append("rates " + r.map { PoisonAmountSpec.rate($0).description }.joined(separator: ", ")) }
            if let seeds = v.seeds { rows.append("seeds " + seeds.map(String.init).joined(separator: ", ")) }
            lines.append(
                "Variant `\(v.name)`\(v.description.map { ": " + $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "")"
                    + " (\((rows + (changes.isEmpty ? ["no other settings: rows named as the file's own"] : changes)).joined(separator: "; "))).")
        }
        return lines.map(shown)
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
    ///
    /// - Parameter plots: the figures, written by ``write()`` as `plots/plot-NN.svg` (nil: computed
    ///   here and named the same).
    public func markdown(plots figures: [(caption: String, svg: String)]? = nil) -> String {
        let figures = figures ?? plots()
        var s = "# Experiment: \(results.name)\n\n"
        if let d = results.config.description { s += d + "\n\n" }
        s += "Updated \(results.updated). The same report with the plots inline: `report.html` in this folder.\n\n\(runLine())\n\n## Results\n\n"
        s += "Mean ± sample standard deviation over seeds where there are several. ASR = share of non-target test images that, with the trigger, are classified as the target.\n\n"
        s += markdownTable(table())
        let found = findings()
        if !found.isEmpty { s += "\n## Findings\n\n" + found.map { $0.hasPrefix("  ") ? "  - " + $0.dropFirst(2) : "- " + $0 }.joined(separator: "\n") + "\n" }
        let caught = detectionTable()
        if !caught.isEmpty {
            s += "\n## Poisoned pairs caught\n\nBy the defences that select pairs, against the poison manifest; AUROC of each score (lower similarity or posterior = more suspicious; 0.5 = chance, 1 = perfect).\n\n" + markdownTable(caught)
        }
        if !figures.isEmpty {
            s += "\n## Plots\n\n"
            for (i, figure) in figures.enumerated() { s += "![plot \(i + 1)](plots/\(Self.plotFile(i)))\n\n*\(figure.caption)*\n\n" }
        }
        s += "\n## Rows\n\n" + markdownTable(rowLines())
        s += "\n## Data and attack\n\n" + dataLines().map { "- " + $0 }.joined(separator: "\n") + "\n"
        let images = poisonedImages()
        if !images.isEmpty {
            s += "\nPoisoned training images (model input; copies in `plots/`):\n\n"
            s += images.enumerated().map { "![\($0.element.caption)](plots/\(Self.imageFile($0.offset)))" }.joined(separator: " ") + "\n"
        }
        s += "\n## Configuration (`\(shown(results.configFile))`)\n\n```yaml\n\(configText())\n```\n"
        s += "\n## Equivalent commands\n\n```sh\n" + shown(results.commands.joined(separator: "\n")) + "\n```\n"
        s += "\nRegenerate this report with `clipguard report \(shown(directory))`.\n"
        return s
    }

    func htmlTable(_ t: [[String]]) -> String {
        var s = "<table><thead><tr>" + t[0].map { "<th>\(SVGPlot.escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for row in t.dropFirst() { s += "<tr>" + row.map { "<td>\(SVGPlot.escape($0))</td>" }.joined() + "</tr>\n" }
        return s + "</tbody></table>\n"
    }

    /// The report as one HTML file with everything inline.
    public func html(plots figures: [(caption: String, svg: String)]? = nil) -> String {
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
        s += "<p>\(e(runLine()))</p>\n<p>Updated \(e(results.updated)). Mean ± sample standard deviation over seeds where there are several. ASR = share of non-target test images that, with the trigger, are classified as the target.</p>\n"
        s += "<h2>Results</h2>\n" + htmlTable(table())
        let found = findings()
        if !found.isEmpty { s += "<h2>Findings</h2>\n<ul>" + found.map { "<li>\(e($0.trimmingCharacters(in: .whitespaces)))</li>" }.joined() + "</ul>\n" }
        let caught = detectionTable()
        if !caught.isEmpty {
            s += "<h2>Poisoned pairs caught</h2>\n<p>By the defences that select pairs, against the poison manifest; AUROC of each score (lower similarity or posterior = more suspicious; 0.5 = chance, 1 = perfect).</p>\n" + htmlTable(caught)
        }
        s += "<h2>Plots</h2>\n"
        for (caption, svg) in figures ?? plots() { s += "<figure>\(svg)<figcaption>\(e(caption))</figcaption></figure>\n" }
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
        s += "<h2>Configuration (\(e(shown(results.configFile))))</h2>\n<pre>\(e(configText()))</pre>\n"
        s += "<h2>Equivalent commands</h2>\n<pre>\(e(shown(results.commands.joined(separator: "\n"))))</pre>\n"
        s += "<p>Regenerate with <code>clipguard report \(e(shown(directory)))</code>.</p>\n</body></html>\n"
        return s
    }
}
