import Foundation
import TestSupport
import Testing
@testable import Experiments
@testable import Training

/// AUROC by brute force: every (poisoned, clean) pair, ties counted ½.
func bruteForceAUROC(_ suspicion: [Double], _ positive: [Bool]) -> Double {
    var wins = 0.0, pairs = 0.0
    for (s, p) in zip(suspicion, positive) where p {
        for (t, q) in zip(suspicion, positive) where !q {
            wins += s > t ? 1 : s == t ? 0.5 : 0
            pairs += 1
        }
    }
    return wins / pairs
}

@Suite struct ROCTests {
    @Test func aurocOfHandMadeVectors() throws {
        #expect(ROC.auroc(suspicion: [3, 2, 2, 1], positive: [true, true, false, false]) == 0.875)
        #expect(ROC.auroc(suspicion: [4, 3, 2, 1], positive: [true, true, false, false]) == 1)
        #expect(ROC.auroc(suspicion: [1, 2, 3, 4], positive: [true, true, false, false]) == 0)
        #expect(ROC.auroc(suspicion: [5, 5, 5, 5, 5], positive: [true, false, true, false, false]) == 0.5)
        // One positive ranked 2nd of 5 (above 3 negatives, below 1): 3/4.
        #expect(ROC.auroc(suspicion: [0.9, 0.7, 0.5, 0.3, 0.1], positive: [false, true, false, false, false]) == 0.75)
        // Non-finite scores are left out; one class only gives nil.
        #expect(ROC.auroc(suspicion: [.nan, 2, 1], positive: [false, true, false]) == 1)
        #expect(ROC.auroc(suspicion: [1, 2], positive: [true, true]) == nil)
        #expect(ROC.curve(suspicion: [1, 2], positive: [false, false]).isEmpty)
    }

    @Test func aurocMatchesPairCountingAndTheCurvesArea() throws {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<50 {
            let n = 2 + trial % 30
            // Few distinct values, so ties are frequent.
            let scores = (0..<n).map { _ in Double(Int.random(in: 0..<6, using: &rng)) / 2 }
            var flags = (0..<n).map { _ in Bool.random(using: &rng) }
            flags[0] = true
            flags[1] = false
            let a = try #require(ROC.auroc(suspicion: scores, positive: flags))
            #expect(abs(a - bruteForceAUROC(scores, flags)) < 1e-12, "scores \(scores) flags \(flags)")
            let curve = ROC.curve(suspicion: scores, positive: flags)
            #expect(curve.first!.0 == 0 && curve.first!.1 == 0 && curve.last!.0 == 1 && curve.last!.1 == 1)
            var area = 0.0
            for (p, q) in zip(curve, curve.dropFirst()) { area += (q.0 - p.0) * (p.1 + q.1) / 2 }
            #expect(abs(area - a) < 1e-12)
        }
        // 10,000 clean pairs and 3 poisoned ones, no ties: a handful of points.
        let scores = (0..<10_003).map(Double.init)
        let flags = scores.map { [100, 5000, 9000].contains(Int($0)) }
        #expect(ROC.curve(suspicion: scores, positive: flags).count <= 8)
    }
}

@Suite struct SVGPlotTests {
    /// The texts of elements of `class` in an SVG.
    static func texts(_ svg: String, class name: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: "<text class=\"\(name)\"[^>]*>([^<]*)</text>")
        return pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map { String(svg[Range($0.range(at: 1), in: svg)!]) }
    }

    /// `data-value` of every bar.
    static func barValues(_ svg: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: "<rect class=\"bar\"[^>]*data-value=\"([^\"]*)\"")
        return pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map { String(svg[Range($0.range(at: 1), in: svg)!]) }
    }

    @Test func logAxisHasDecadeTicksAndUnconnectedPoints() {
        var plot = SVGPlot(title: "t", xLabel: "poison rate %", yLabel: "ASR %")
        plot.xScale = .log
        plot.lines.append(.init(name: "CLIP", points: [(0.05, 3), (0.1, 10), (0.5, 60), (1, 95)], connected: false))
        let svg = plot.render()
        let ticks = Self.texts(svg, class: "xtick")
        for label in ["0.05", "0.1", "0.2", "0.5", "1"] { #expect(ticks.contains(label), "\(ticks)") }
        #expect(svg.contains("(log scale)"))
        #expect(!svg.contains("<polyline"))
        #expect(svg.components(separatedBy: "<circle").count - 1 == 4 + 1)  // four points and the legend's
        #expect(SVGPlot.logTicks(0.03, 7) == [0.05, 0.1, 0.2, 0.5, 1, 2, 5])
    }

    @Test func aZeroBarIsLabelledZeroAndTheYAxisStartsAtZero() {
        let plot = SVGPlot.groupedBars(
            title: "t", yLabel: "ASR %", categories: ["0.05%", "5%"],
            series: [(name: "SafeCLIP", values: [0, 12.5], colour: "#0072B2", errors: [0, 1.5])], yRange: nil, format: ReportModel.barLabel)
        let svg = plot.render()
        #expect(Self.texts(svg, class: "value") == ["0", "12.5"])
        #expect(svg.contains(">0</text>"))
        // The lowest y tick is 0.
        #expect(svg.contains("text-anchor=\"end\">0</text>"))
    }

    @Test func histogramHeightsAreCounts() {
        let values = [0.1, 0.15, 0.12, 0.5, 0.9, 0.95, 1.0]
        let bins = SVGPlot.histogram(values, range: 0...1, bins: 4)
        #expect(bins.map(\.y) == [3, 0, 1, 3])
        var plot = SVGPlot(title: "t", xLabel: "similarity", yLabel: "pairs")
        plot.bars.append(.init(name: "clean", bins: bins))
        // A single poisoned pair is a bar of height 1, not a density spike.
        plot.bars.append(.init(name: "poisoned", bins: SVGPlot.histogram([0.3], range: 0...1, bins: 4).filter { $0.y > 0 }, valueLabels: true))
        let svg = plot.render()
        #expect(Self.barValues(svg) == ["3", "0", "1", "3", "1"])
        #expect(Self.texts(svg, class: "value") == ["1"])
    }
}

/// What one synthetic row scored on its evaluation set.
struct SyntheticOutcome {
    var top1: Double
    var asr: Double
    /// The ASR's base rate (nil: not measured, as in results of earlier versions).
    var base: Double? = 0.01
    /// SafeCLIP's safe-set size at each selection (of 10 pairs).
    var safeCount = 3
}

/// A results folder made by hand, its metrics written through the trainer's own records
/// (``MetricsLog`` and ``StepRecord``, ``EpochRecord``, ``SelectionRecord``, ``FilterRecord``), so a
/// field renamed in the trainer changes what the report reads here too.
struct SyntheticExperiment {
    let dir: URL
    let results: ExperimentResults
    /// The similarities and flags of SafeCLIP's first and last selection and of the filter.
    static let flags = [true, false, false, true, false, false, false, false, false, false]
    static let firstSimilarity = [0.05, 0.3, 0.4, 0.1, 0.5, 0.6, 0.7, 0.2, 0.8, 0.9]
    static let lastSimilarity = [0.3, 0.3, 0.4, 0.1, 0.5, 0.6, 0.05, 0.2, 0.8, 0.9]
    static let posterior = [0.1, 0.2, 0.6, 0.3, 0.7, 0.8, 0.9, 0.4, 0.95, 0.99]
    static let filterSimilarity = [0.5, 0.3, 0.4, 0.9, 0.5, 0.6, 0.7, 0.2, 0.8, 0.1]

    /// CLIP, SafeCLIP and the filter at two rates over three seeds.
    static let yaml = """
        name: synthetic
        data: {builtin: fashion-mnist, limit: 100, eval_limit: 50}
        attack: {target: sneaker, trigger: patch, rates: [0.001, 0.01], captions: natural, image_size: 32, patch_size: "22%"}
        defenses: [none, safeclip, filter]
        model: micro-vit
        training: {epochs: 4, batch_size: 16, lr: 0.001, unimodal_epochs: 1, clip_warmup_epochs: 1, filter_model: x.safetensors}
        evaluation: [{name: test, path: builtin}]
        seeds: [7, 8, 9]
        """

    /// CLIP's backdoor takes at 1 % and partly at 0.1 %; the defences remove it; SafeCLIP costs accuracy.
    static func defaultOutcome(_ plan: RowPlan) -> SyntheticOutcome {
        let rate = plan.amount.rateValue ?? 0
        let s = Double(plan.seed - 7)
        let asr = plan.defense.name == "none" ? (rate > 0.005 ? 0.9 : 0.1) + 0.01 * s : 0.0
        return SyntheticOutcome(top1: plan.defense.name == "safeclip" ? 0.4 + 0.02 * s : 0.7 + 0.01 * s, asr: asr)
    }

    static func write(_ object: Any, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
    }

    /// - Parameters:
    ///   - logEvery: a step record every this many steps (the others are not logged).
    ///   - outcome: each row's figures.
    static func make(
        yaml: String = yaml, logEvery: Int = 1, environment: RunEnvironment? = nil, outcome: (RowPlan) -> SyntheticOutcome = defaultOutcome
    ) throws -> SyntheticExperiment {
        let dir = try makeTemporaryDirectory("report")
        let config = try ExperimentConfig.decode(yaml, file: "synthetic.yaml")
        var rows: [RowResult] = []
        for plan in config.rows {
            let rate = plan.amount.rateValue ?? 0
            let o = outcome(plan)
            let poisoned = rate > 0.005 ? 10 : rate > 0 ? 1 : 0
            rows.append(RowResult(
                id: plan.id, defense: plan.defense, seed: plan.seed, amount: plan.amount.tag, variant: plan.variant, rate: rate, poisoned: poisoned,
                trainingPairs: 1000, status: "finished", reason: nil, steps: 20, finalLoss: 1, trainingSeconds: 10, evaluationSeconds: 1,
                evaluations: ["test": SetResult(
                    top1: o.top1, top5: 0.9, n: 50, asr: o.asr, asrDenominator: 45, asrSuccesses: Int((o.asr * 45).rounded()), triggeredTop1: nil,
                    asrBaseRate: o.base, asrBaseSuccesses: o.base.map { Int(($0 * 45).rounded()) }, classes: 10)]))
            let run = dir.path + "/rows/\(plan.id)/run"
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            let log = try MetricsLog(path: run + "/metrics.jsonl")
            let finetunes = plan.defense.name == "cleanclip"
            let epochs = finetunes ? 2 : 4
            let phases = plan.defense.name == "safeclip" ? ["unimodal", "clip-warmup", "mixed", "mixed"] : Array(repeating: finetunes ? "cleanclip" : "clip", count: epochs)
            var step = 0
            for epoch in 1...epochs {
                if plan.defense.name == "filter" && epoch == 1 {
                    try log.append(FilterRecord(
                        filterKept: 9, filterDropped: 1, step: 0, similaritiesFile: "similarities/filter.json", poisonedTotal: 2, poisonedDropped: 1, poisonedKept: 1))
                    try write(["format": "clipguard-similarities-1", "defense": "filter", "epoch": 0, "step": 0, "similarity": filterSimilarity, "poisoned": flags, "selected": filterSimilarity.map { $0 > 0.15 }], to: run + "/similarities/filter.json")
                }
                if phases[epoch - 1] == "mixed" {
                    let sims = epoch == 3 ? firstSimilarity : lastSimilarity
                    try log.append(SelectionRecord(
                        selectionEpoch: epoch, step: step, selectionRule: "threshold", safeFraction: Double(o.safeCount) / 10 + 0.1 * Double(epoch - 3), r: 0.3, ranking: nil,
                        safeCount: o.safeCount, riskyCount: 10 - o.safeCount, gmmMeans: [0.2, 0.7], gmmVariances: [0.01, 0.02], gmmWeights: [0.5, 0.5], gmmLogLikelihood: 0.1,
                        gmmIterations: 5, gmmConverged: true, gmmDegenerate: nil, mixedSteps: 10, similaritiesFile: "similarities/epoch_\(epoch).json",
                        detection: DetectionFields(poisonedTotal: 2, poisonedInSafe: epoch - 3, poisonedInRisky: 5 - epoch, riskyPrecision: nil, riskyRecall: nil)))
                    try write(["format": "clipguard-similarities-1", "defense": "safeclip", "epoch": epoch, "step": step, "similarity": sims, "poisoned": flags,
                               "selected": sims.map { $0 >= 0.6 }, "posterior": posterior,
                               "gmm": ["means": [0.2, 0.7], "variances": [0.01, 0.02], "weights": [0.5, 0.5], "logLikelihood": 0.1, "iterations": 5, "converged": true]],
                              to: run + "/similarities/epoch_\(epoch).json")
                }
                for k in 0..<5 {
                    step += 1
                    guard step % logEvery == 0 else { continue }
                    let phase = phases[epoch - 1] == "mixed" ? (k < 2 ? "mixed-risky" : "mixed-safe") : phases[epoch - 1]
                    try log.append(StepRecord(
                        step: step, epoch: epoch, loss: 3.0 - 0.1 * Double(step), lr: 0.001, logitMultiplier: 14.3, logitScale: 14.3, pairsPerSecond: 100,
                        seconds: 0.1, gradNorm: nil, phase: phase))
                }
                var record = EpochRecord(epochEnd: epoch, step: step, loaded: 100, skipped: 0, elapsedSeconds: nil, phase: phases[epoch - 1])
                record.merge(EpochEvaluation(top1: o.top1 * Double(epoch) / Double(epochs), top5: 0.9, count: 50, asr: o.asr))
                try log.append(record)
            }
        }
        let results = ExperimentResults(
            name: "synthetic", configFile: "synthetic.yaml", config: config, commands: [], trainCSV: "train.csv", evaluationSets: ["test": "eval"],
            poisonedSets: [], rows: rows, updated: "2026-12-01T00:00:00Z", environment: environment)
        return SyntheticExperiment(dir: dir, results: results)
    }

    var report: ReportWriter { ReportWriter(directory: dir.path, results: results) }
    var model: ReportModel { report.model }
}

/// SVG helpers of the report tests.
enum SVG {
    /// Legend entries (name → colour) of an SVG: a swatch followed by a plain `<text x y>`.
    static func legend(_ svg: String) -> [String: String] {
        let pattern = try! NSRegularExpression(pattern: "(?:fill|stroke)=\"(#[0-9A-Fa-f]{6})\"[^\\n]*\\n<text x=\"[^\"]*\" y=\"[^\"]*\">([^<]*)</text>")
        var out: [String: String] = [:]
        for m in pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)) {
            out[String(svg[Range(m.range(at: 2), in: svg)!])] = String(svg[Range(m.range(at: 1), in: svg)!])
        }
        return out
    }

    /// Legend markers (name → marker id).
    static func legendMarkers(_ svg: String) -> [String: String] {
        let pattern = try! NSRegularExpression(pattern: "data-marker=\"([^\"]*)\"[^\\n]*\\n<text x=\"[^\"]*\" y=\"[^\"]*\">([^<]*)</text>")
        var out: [String: String] = [:]
        for m in pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)) {
            out[String(svg[Range(m.range(at: 2), in: svg)!])] = String(svg[Range(m.range(at: 1), in: svg)!])
        }
        return out
    }

    /// The data coordinates of every point marker of a series.
    static func points(_ svg: String, series: String) -> [(Double, Double)] {
        let escaped = NSRegularExpression.escapedPattern(for: series)
        let pattern = try! NSRegularExpression(pattern: "class=\"marker\" data-series=\"\(escaped)\" data-marker=\"[^\"]*\" data-x=\"([^\"]*)\" data-y=\"([^\"]*)\"")
        return pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map {
            (Double(svg[Range($0.range(at: 1), in: svg)!])!, Double(svg[Range($0.range(at: 2), in: svg)!])!)
        }
    }
}

/// CIELAB ΔE76 between two `#RRGGBB` colours.
func deltaE(_ a: String, _ b: String) -> Double {
    func lab(_ hex: String) -> (Double, Double, Double) {
        let v = Int(hex.dropFirst(), radix: 16)!
        func linear(_ c: Int) -> Double {
            let x = Double(c) / 255
            return x <= 0.04045 ? x / 12.92 : pow((x + 0.055) / 1.055, 2.4)
        }
        let r = linear(v >> 16 & 255), g = linear(v >> 8 & 255), b = linear(v & 255)
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, y = 0.2126 * r + 0.7152 * g + 0.0722 * b, z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
        func f(_ t: Double) -> Double { t > 0.008856 ? cbrt(t) : 7.787 * t + 16 / 116 }
        return (116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z)))
    }
    let p = lab(a), q = lab(b)
    return ((p.0 - q.0) * (p.0 - q.0) + (p.1 - q.1) * (p.1 - q.1) + (p.2 - q.2) * (p.2 - q.2)).squareRoot()
}

@Suite struct ReportWriterTests {
    @Test func tableCountsSeedsAndShowsMeanAndStd() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let table = s.report.table()
        #expect(table[0][3] == "seeds")
        #expect(table.count == 7)
        let clip = try #require(table.first { $0[0] == "CLIP (no defence)" && $0[1] == "1%" })
        #expect(clip[3] == "3")
        // top-1 0.70, 0.71, 0.72: mean 71.00, std 1.00; ASR 90, 91, 92; base rate 1 %; takes in every seed.
        #expect(clip[4] == "71.00 ± 1.00")
        #expect(clip[5] == "91.00 ± 1.00")
        #expect(clip[6] == "1.00")
        #expect(clip[7] == "3 of 3")
    }

    @Test func metricsAreReadThroughTheTrainersRecordsAndARenamedFieldIsReported() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let row = try #require(s.results.rows.first { $0.defense.name == "safeclip" })
        let path = s.dir.path + "/rows/\(row.id)/run/metrics.jsonl"
        let file = try MetricsFile.read(path: path)
        #expect(file.unreadableLines.isEmpty)
        #expect(file.steps.count == 20 && file.epochs.count == 4 && file.selections.count == 2)
        #expect(file.selections[0].detection?.poisonedInRisky == 2)
        // What the trainer's encoder wrote decodes to the same records.
        let step = StepRecord(step: 1, epoch: 1, loss: 2.5, lr: 0.1, logitMultiplier: 14, logitScale: 14, pairsPerSecond: 9, seconds: 1, gradNorm: 3, phase: "clip")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(try MetricsEntry(line: encoder.encode(step)) == .step(step))

        // A field under another name (as another version might write it) is not guessed at: the
        // line is unreadable, and the report says so.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\"loss\":", with: "\"train_loss\":").write(toFile: path, atomically: true, encoding: .utf8)
        let renamed = try MetricsFile.read(path: path)
        #expect(renamed.steps.isEmpty && renamed.unreadableLines.count == 20)
        #expect(s.model.warnings.contains { $0.contains("Row \(row.id): 20 lines of metrics.jsonl could not be read") })
    }

    @Test func detectionTableAndFindingsGiveTheExactAUROCsBesideChance() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let report = s.report
        let flags = SyntheticExperiment.flags
        let first = bruteForceAUROC(SyntheticExperiment.firstSimilarity.map { -$0 }, flags)
        let last = bruteForceAUROC(SyntheticExperiment.lastSimilarity.map { -$0 }, flags)
        let posterior = bruteForceAUROC(SyntheticExperiment.posterior.map { -$0 }, flags)
        let filter = bruteForceAUROC(SyntheticExperiment.filterSimilarity.map { -$0 }, flags)
        #expect(first == 1 && last == 12.5 / 16 && posterior == 15.0 / 16 && filter == 3.5 / 16)
        let table = report.detectionTable()
        let safe = try #require(table.first { $0[0] == "SafeCLIP" && $0[1] == "1%" })
        #expect(safe[3] == "3")
        // 7 of 10 pairs risky: a random risky set of that size catches 2 × 0.7 = 1.4 poisoned pairs.
        #expect(safe[4] == "epoch 3: 2/2 (random set: 1.4), epoch 4: 1/2 (random set: 1.4)")
        #expect(safe[5] == String(format: "%.3f ± %.3f", first, 0.0))
        #expect(safe[6] == String(format: "%.3f ± %.3f", last, 0.0))
        #expect(safe[7] == String(format: "%.3f ± %.3f", posterior, 0.0))
        let filterLine = try #require(table.first { $0[0] == "similarity filter" && $0[1] == "0.1%" })
        // 1 of 10 dropped: chance 0.2.
        #expect(filterLine[4] == "before training: 1/2 (random set: 0.2)")
        #expect(filterLine[5] == String(format: "%.3f ± %.3f", filter, 0.0) && filterLine[6] == "–" && filterLine[7] == "–")
        let markdown = report.markdown()
        #expect(markdown.contains("## Poisoned pairs caught"))
        #expect(markdown.contains("AUROC of the similarity 1.000 ± 0.000 at the first selection, 0.781 ± 0.000 at the last"))
        // The caught plot draws chance beside every seed's line.
        let caught = try #require(report.plots().first { $0.svg.contains(">Poisoned pairs caught per selection") })
        #expect(caught.svg.contains(">a random set of the same size</text>"))
    }

    @Test func anEmptySafeSetIsAWarningNotACatch() throws {
        // Seed 8 of SafeCLIP at 1 % puts every pair in the risky set: catching 2/2 means nothing.
        let s = try SyntheticExperiment.make { plan in
            var o = SyntheticExperiment.defaultOutcome(plan)
            if plan.defense.name == "safeclip" && plan.seed == 8 { o.safeCount = 0 }
            return o
        }
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let warnings = s.model.warnings
        let warning = try #require(warnings.first { $0.contains("seed 8, epoch 3, epoch 4") && $0.contains("SafeCLIP at 1%") })
        #expect(warning.contains("left the safe set empty") && warning.contains("2/2"))
        #expect(warning.contains("a random set of the same size catches 2"))
        #expect(s.report.detectionTable().contains { $0[0] == "SafeCLIP" && $0[4].contains("⚠ 1 of 3 seeds left the safe set empty") })
        #expect(s.report.markdown().contains("## Warnings\n\n- ⚠ "))
    }

    @Test func everySeriesHasItsOwnColourAndMarker() throws {
        // The committed study's 13 series, in its order.
        let study = [
            "none", "safeclip", "roclip", "filter", "cleanclip@2-epochs", "none@clean-label", "safeclip@clean-label", "none@blended",
            "safeclip@blended", "safeclip@increment-0.05", "safeclip@to-cap", "safeclip@threshold-0.5", "safeclip@similarity",
        ]
        for series in [study, study.reversed(), ["safeclip@a", "safeclip@b", "none@a", "detect", "roclip", "par", "cleanclip", "par@lr2e-3-tau3"]] {
            let styles = ReportSeries.styles(series)
            let colours = series.map { styles[$0]!.colour }, markers = series.map { styles[$0]!.marker }
            #expect(Set(colours).count == series.count, "\(colours)")
            #expect(Set(markers).count == series.count, "\(markers.map(\.id))")
            #expect(!colours.contains(ReportSeries.poisonColour))
            for (i, a) in colours.enumerated() {
                for b in colours[(i + 1)...] { #expect(deltaE(a, b) >= 20, "\(a) and \(b) are too alike (ΔE \(deltaE(a, b)))") }
            }
        }
        // The defences' own styles where their plain series appears.
        let styles = ReportSeries.styles(study)
        #expect(styles["safeclip"]!.colour == ReportSeries.traits("safeclip").colour)
        #expect(styles["none"]!.marker == SVGPlot.Marker(.circle))
        // Two dozen series: no two share both.
        let many = (0..<30).map { "safeclip@v\($0)" }
        let manyStyles = ReportSeries.styles(many)
        #expect(Set(many.map { manyStyles[$0]!.colour + manyStyles[$0]!.marker.id }).count == 30)
        // The old near-identical and shared colours are gone from the palette.
        let palette = ReportSeries.palette + ["#555555", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#800000"]
        for (i, a) in palette.enumerated() {
            for b in palette[(i + 1)...] { #expect(deltaE(a, b) >= 20, "\(a) \(b)") }
        }
    }

    @Test func plotsKeepOneStylePerSeriesPointsAtTheirTrueRateAndPhaseBands() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let plots = s.report.plots()
        func plot(_ title: String) -> String {
            guard let svg = plots.first(where: { $0.svg.contains(">\(title)") })?.svg else {
                Issue.record("no plot \(title)")
                return ""
            }
            return svg
        }
        let styles = s.model.styles
        let scatter = plot("Clean top-1 against ASR")
        let bars = plot("Final ASR")
        let sweep = plot("ASR against poison rate")
        let accuracy = plot("Clean zero-shot top-1 per epoch")
        for svg in [scatter, bars, sweep] { #expect(SVG.legend(svg)["SafeCLIP"] == styles["safeclip"]!.colour, "\(SVG.legend(svg))") }
        #expect(SVG.legend(accuracy)["SafeCLIP · 1%"] == styles["safeclip"]!.colour)
        #expect(SVG.legendMarkers(scatter)["SafeCLIP"] == styles["safeclip"]!.marker.id)
        #expect(SVG.legendMarkers(accuracy)["SafeCLIP · 1%"] == styles["safeclip"]!.marker.id)
        #expect(Set(SVG.legendMarkers(scatter).values).count == 3)
        #expect(Set(SVG.legend(scatter).filter { $0.key != "chance top-1" }.values).count == 3)

        // The sweep: every point at its true rate (0.1 % and 1 %), mean and seeds, no line.
        #expect(!sweep.contains("<polyline"))
        for name in ["CLIP (no defence)", "SafeCLIP", "similarity filter"] {
            let xs = Set(SVG.points(sweep, series: name).map(\.0) + SVG.points(sweep, series: name + " (seeds)").map(\.0))
            #expect(xs == [0.1, 1], "\(name): \(xs)")
        }
        #expect(SVG.points(sweep, series: "CLIP (no defence) (seeds)").map { ($0.1 * 1e6).rounded() / 1e6 }.sorted() == [10, 11, 12, 90, 91, 92])
        #expect(SVGPlotTests.texts(sweep, class: "xtick").contains("0.1"))
        // The zero ASR bars of the defences are labelled 0.
        #expect(SVGPlotTests.texts(bars, class: "value").filter { $0 == "0" }.count == 4)

        // Phase bands on SafeCLIP's own loss plot and on the epoch curves.
        let loss = plot("SafeCLIP: loss per step, phases shaded")
        for phase in ["unimodal", "clip-warmup", "mixed-risky", "mixed-safe"] { #expect(loss.contains("data-label=\"\(phase)\"")) }
        #expect(accuracy.contains("data-label=\"mixed\""))
        #expect(!plot("Training loss per step").contains("SafeCLIP"))

        // Histograms in counts with the cut between safe (≥ 0.6) and risky similarities.
        let histogram = plot("safeclip-rate0.01-seed7: pair similarities, selection at epoch 3")
        #expect(SVGPlotTests.barValues(histogram).map { Double($0)! }.reduce(0, +) == 10)
        #expect(histogram.contains("cut 0.550"))
        #expect(plot("Poisoned pairs caught per selection").contains(">2/2</text>"))
        let roc = plot("ROC: SafeCLIP at 1%")
        #expect(roc.contains("similarity, epoch 3: AUROC 1.000 ± 0.000"))
        #expect(roc.contains("posterior, epoch 4: AUROC"))
        #expect(plot("ROC: similarity filter at 0.1%").contains("similarity, before training: AUROC 0.219 ± 0.000"))
    }

    @Test func fineTuningCurvesHaveTheirOwnAxisStartingFromTheModelTheyTune() throws {
        let yaml = SyntheticExperiment.yaml.replacingOccurrences(of: "seeds: [7, 8, 9]", with: """
            seeds: [7, 8, 9]
            variants:
              - {name: tune, defenses: [cleanclip], rates: [0.01], training: {epochs: 2, lr: 0.0005}}
            """)
        let s = try SyntheticExperiment.make(yaml: yaml) { plan in
            var o = SyntheticExperiment.defaultOutcome(plan)
            if plan.defense.name == "cleanclip" { o.asr = 0.3; o.top1 = 0.69 }
            return o
        }
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let plots = s.report.plots()
        let scratch = try #require(plots.first { $0.svg.contains(">Clean zero-shot top-1 per epoch") })
        #expect(!scratch.svg.contains("CleanCLIP"))
        #expect(plots.filter { $0.svg.contains("data-label=\"mixed\"") }.allSatisfy { !$0.svg.contains("CleanCLIP") })
        let tuning = try #require(plots.first { $0.svg.contains(">ASR per fine-tuning epoch") })
        #expect(tuning.svg.contains("fine-tuning epoch (0 = the model it starts from)"))
        // Epoch 0: CLIP's final ASR at 1 % (91 %); then the fine-tuning epochs' 30 %.
        let points = SVG.points(tuning.svg, series: "CleanCLIP · tune · 1%")
        #expect(points.map(\.0) == [0, 1, 2])
        #expect(abs(points[0].1 - 91) < 1e-9 && abs(points[2].1 - 30) < 1e-9)
        #expect(plots.contains { $0.svg.contains(">Fine-tuning loss per step") })
    }

    @Test func verdictsArePerSeedAgainstTheBaseRate() throws {
        // 20.3 % in one seed: partly takes (well above a 1.3 % base rate over 450 images), not "does not take".
        let v = BackdoorVerdict(seeds: [1, 2, 3], asr: [0.203, 0.012, 0.031], denominators: [450, 450, 450], base: [0.013, 0.013, 0.013])
        #expect(v.outcomes == [.partly, .no, .no])
        #expect(v.sentence == "takes in 0 of 3 seeds, partly in 1 (ASR 20.3 / 1.2 / 3.1 %; base rate 1.3 %)")
        #expect(v.mixed)
        // 12 % where the model calls 11 % of clean images the target anyway: not a backdoor.
        let high = BackdoorVerdict(seeds: [1], asr: [0.12], denominators: [450], base: [0.11])
        #expect(high.outcomes == [.no])
        let bimodal = BackdoorVerdict(seeds: [1, 2, 3], asr: [0.30, 0.036, 0.845], denominators: [450, 450, 450], base: [0.01, 0.01, 0.01])
        #expect(bimodal.takes == 1 && bimodal.partly == 1)
        // A seed whose model is at chance (40 % ASR at 15 % top-1, as measured) is not judged.
        let weak = BackdoorVerdict(seeds: [1, 2, 3], asr: [0.06, 0.40, 0.0], denominators: [450, 450, 450], base: [0.01, 0.2, 0.0], atChance: [false, true, true])
        #expect(weak.outcomes == [.no, .atChance, .atChance])
        #expect(weak.sentence.hasPrefix("does not take in any of 3 seeds (2 at chance level, not judged)"))

        // When it only partly takes anywhere, the bottom line says the experiment cannot judge the defences.
        let partial = try SyntheticExperiment.make { plan in
            var o = SyntheticExperiment.defaultOutcome(plan)
            if plan.defense.name == "none" && plan.amount.rateValue == 0.01 { o.asr = 0.2 }
            return o
        }
        defer { try? FileManager.default.removeItem(at: partial.dir) }
        #expect(partial.model.bottomLine[1].hasPrefix("The backdoor takes (ASR ≥ 50 %) in no seed at any amount for plain CLIP (at most partly: in 3 of 3 seeds at 0.1%, in 3 of 3 seeds at 1%), so this experiment cannot show"))

        // In a report: the bimodal row shows each seed's ASR, and the finding says so.
        let s = try SyntheticExperiment.make { plan in
            var o = SyntheticExperiment.defaultOutcome(plan)
            if plan.defense.name == "none" && plan.amount.rateValue == 0.01 { o.asr = [0.30, 0.036, 0.845][Int(plan.seed - 7)] }
            return o
        }
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let clip = try #require(s.report.table().first { $0[0] == "CLIP (no defence)" && $0[1] == "1%" })
        #expect(clip[5].hasSuffix("(seeds 30.0 / 3.6 / 84.5)"))
        #expect(clip[7] == "1 of 3, partly 1")
        let findings = s.model.findings.map(\.text)
        #expect(findings.contains { $0.hasPrefix("At 1% poison (10 pairs): for CLIP (no defence) the backdoor takes in 1 of 3 seeds, partly in 1 (ASR 30.0 / 3.6 / 84.5 %; base rate 1.0 %)") })
        #expect(s.model.bottomLine[0] == "For plain CLIP the backdoor takes partly or in some seeds at 0.1% (partly in 3 of 3), 1% (takes in 1 of 3, partly in 1) (ASR base rate 1.0 %).")
    }

    @Test func rowsWithoutPoisonAreTheTriggersOwnEffectNotABackdoor() throws {
        // Without poison a weak model calls 14 % of triggered images the target in one seed (the
        // white square alone): that is no backdoor, and the poisoned rows are judged against it.
        let yaml = SyntheticExperiment.yaml.replacingOccurrences(of: "rates: [0.001, 0.01]", with: "rates: [0, 0.01]")
        let s = try SyntheticExperiment.make(yaml: yaml) { plan in
            var o = SyntheticExperiment.defaultOutcome(plan)
            if plan.amount.rateValue == 0 { o.asr = plan.defense.name == "none" ? [0.04, 0.14, 0.10][Int(plan.seed - 7)] : 0.02; o.base = 0.07 }
            if plan.amount.rateValue == 0.01 && plan.defense.name == "none" { o.asr = [0.9, 0.16, 0.9][Int(plan.seed - 7)]; o.base = nil }
            return o
        }
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let zero = try #require(s.model.groups.first { $0.defense.name == "none" && $0.rate == 0 })
        #expect(s.model.facts(zero)?.verdict == nil)
        let table = s.report.table()
        #expect(table.first { $0[0] == "CLIP (no defence)" && $0[1] == "0%" }?[7] == "no poison")
        let findings = s.model.findings.map(\.text)
        #expect(findings.contains { $0.hasPrefix("At 0% poison (0 pairs): no poison, so no backdoor: CLIP (no defence)'s ASR of 9.3 % (seeds 4.0 / 14.0 / 10.0)") })
        #expect(findings.contains { $0.hasPrefix("SafeCLIP: no poison here") })
        // Seed 8's 16 % at 1 % is 0.4 binomial standard errors (over 45 images) above the 14 % that
        // a seed reached without poison: it does not count, though it is above 10 %; the 90 % seeds take.
        let clip = try #require(s.model.groups.first { $0.defense.name == "none" && $0.rate == 0.01 })
        let verdict = try #require(s.model.facts(clip)?.verdict)
        #expect(verdict.outcomes == [.takes, .no, .takes])
        #expect(verdict.withoutPoison == 0.14)
        #expect(verdict.sentence == "takes in 2 of 3 seeds (ASR 90.0 / 16.0 / 90.0 %; base rate not measured, ASR without poison up to 14.0 %)")
        #expect(!s.model.bottomLine.joined().contains("at 0%"))
    }

    @Test func anExperimentWithoutPoisonStatesEachDefencesCostInItsBottomLine() throws {
        // A cost study (experiments/safeclip-cost.yaml): no row is poisoned, so the bottom line says
        // what each defence costs against plain CLIP, not that no plain CLIP row has an ASR.
        let yaml = SyntheticExperiment.yaml.replacingOccurrences(of: "rates: [0.001, 0.01]", with: "rates: [0]")
            .replacingOccurrences(of: "defenses: [none, safeclip, filter]", with: "defenses: [none, safeclip]")
        let s = try SyntheticExperiment.make(yaml: yaml) { plan in
            var o = SyntheticExperiment.defaultOutcome(plan)
            o.asr = 0.01
            return o
        }
        defer { try? FileManager.default.removeItem(at: s.dir) }
        #expect(s.model.bottomLine.first == "No row is poisoned, so this experiment measures no backdoor, only what each defence costs in clean top-1 against plain CLIP on the same data: SafeCLIP 42.0 % (seeds 40.0 / 42.0 / 44.0) against CLIP (no defence) at 71.0 %, a cost of 29.0 points.")
        #expect(!s.model.bottomLine.joined().contains("no finished plain CLIP rows"))
    }

    @Test func anExperimentOfPlainCLIPAloneSaysNoDefenceIsPartOfIt() throws {
        // A study of an attack or a detector (experiments/dao-long-40.yaml): only plain CLIP rows, so
        // the bottom line must not read as if defences had been run and left out.
        let yaml = SyntheticExperiment.yaml.replacingOccurrences(of: "defenses: [none, safeclip, filter]", with: "defenses: [none]")
        let s = try SyntheticExperiment.make(yaml: yaml)
        defer { try? FileManager.default.removeItem(at: s.dir) }
        #expect(s.model.bottomLine.contains("At 1%, where CLIP's ASR is 91.0 %, no defence is part of this experiment."))
        #expect(!s.model.bottomLine.joined().contains("no defence was run whose"))
        // With defences whose models all learnt nothing, the other sentence stays.
        let collapsed = try SyntheticExperiment.make { plan in
            var o = SyntheticExperiment.defaultOutcome(plan)
            if plan.defense.name != "none" { o.top1 = 0.1 }
            return o
        }
        defer { try? FileManager.default.removeItem(at: collapsed.dir) }
        #expect(!collapsed.model.bottomLine.joined().contains("no defence is part of this experiment"))
    }

    @Test func collapsedModelsAndOracleScorersAreNamedAndNothingIsSaidAboutModelsAtChance() throws {
        let yaml = SyntheticExperiment.yaml.replacingOccurrences(of: "rates: [0.001, 0.01]", with: "rates: [0, 0.01]")
            .replacingOccurrences(of: "filter_model: x.safetensors", with: "filter_model: clean")
            .replacingOccurrences(of: "seeds: [7, 8, 9]", with: """
                seeds: [7, 8, 9]
                variants:
                  - {name: more, defenses: [roclip], rates: [0.01]}
                """)
        let s = try SyntheticExperiment.make(yaml: yaml) { plan in
            var o = SyntheticExperiment.defaultOutcome(plan)
            if plan.defense.name == "roclip" { o.top1 = 0.12 + 0.01 * Double(plan.seed - 7); o.asr = 0 }
            return o
        }
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let findings = s.model.findings.map(\.text)
        let roclip = try #require(findings.first { $0.hasPrefix("RoCLIP:") })
        #expect(roclip.contains("chance level") && roclip.contains("collapsed") && !roclip.contains("takes in"))
        let filter = try #require(findings.first { $0.hasPrefix("similarity filter:") && !$0.contains("poisoned pairs dropped") })
        #expect(filter.contains("oracle"))
        let bottom = s.model.bottomLine.joined(separator: " ")
        #expect(bottom.contains("RoCLIP collapsed to chance level"))
        #expect(bottom.contains("similarity filter scores with an oracle model"))
        // The defences the bottom line ranks are neither.
        let ranked = try #require(s.model.bottomLine.first { $0.hasPrefix("At 1%") })
        #expect(ranked.contains("SafeCLIP") && !ranked.contains("RoCLIP") && !ranked.contains("similarity filter"))
        #expect(s.model.warnings.contains { $0.hasPrefix("RoCLIP at 1%: 3 of 3 seeds under twice the chance level") })

        // Plain CLIP at chance: nothing is stated about the backdoor or the defences there.
        let atChance = try SyntheticExperiment.make { plan in
            var o = SyntheticExperiment.defaultOutcome(plan)
            if plan.amount.rateValue == 0.01 { o.top1 = 0.11 }
            return o
        }
        defer { try? FileManager.default.removeItem(at: atChance.dir) }
        let lines = atChance.model.findings.map(\.text)
        #expect(lines.contains { $0.hasPrefix("At 1% poison (10 pairs): CLIP (no defence) is at chance level") && $0.contains("nothing is stated") })
        #expect(!lines.contains { $0.hasPrefix("SafeCLIP:") && $0.contains("1%") })
        #expect(atChance.model.findings.filter { $0.level == 1 }.count == 2)  // only the 0.1 % defences
    }

    @Test func theReportStartsWithItsBottomLineAndNamesCommitVersionCPUAndThreads() throws {
        let env = RunEnvironment(commit: "abc123def456", toolVersion: "clipguard 0.9.0 (libtorch 2.5.1)", cpu: "Test CPU @ 2 GHz", cores: 2, threads: 2, device: "cpu", os: "Linux")
        let s = try SyntheticExperiment.make(environment: env)
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let markdown = s.report.markdown()
        let sections = markdown.components(separatedBy: "\n## ").dropFirst().map { $0.prefix { $0 != "\n" } }
        #expect(sections.first == "Bottom line")
        #expect(markdown.contains("For plain CLIP the backdoor takes in every seed at 1%; partly or in some seeds at 0.1% (partly in 3 of 3)"))
        #expect(markdown.contains("At 1%, where CLIP's ASR is 91.0 %, "))
        for part in ["commit abc123def456", "clipguard 0.9.0 (libtorch 2.5.1)", "Test CPU @ 2 GHz (2 cores available)", "2 training threads"] {
            #expect(markdown.contains(part), "\(part)")
        }
        let old = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: old.dir) }
        #expect(old.report.markdown().contains("Run on: not recorded"))
        // The current process's environment is found.
        let here = RunEnvironment.current(toolVersion: nil, threads: 1, device: "cpu")
        #expect(here.cores >= 1 && here.summary.contains("1 training thread"))
    }

    @Test func markdownAndHTMLComeFromTheSameDocument() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        try s.report.write()
        let markdown = try String(contentsOfFile: s.dir.path + "/report.md", encoding: .utf8)
        let html = try String(contentsOfFile: s.dir.path + "/report.html", encoding: .utf8)
        for finding in s.model.findings {
            #expect(markdown.contains(finding.text))
            #expect(html.contains(SVGPlot.escape(finding.text)))
        }
        let figures = s.model.figures
        #expect(html.components(separatedBy: "<figure><svg").count - 1 == figures.count)
        #expect(markdown.components(separatedBy: "](plots/plot-").count - 1 == figures.count)
        for i in 1...figures.count { #expect(FileManager.default.fileExists(atPath: s.dir.path + "/plots/" + plotFileName(i))) }
        // Nested findings are nested lists in both.
        #expect(markdown.contains("\n  - SafeCLIP: "))
        #expect(html.contains("<ul><li>SafeCLIP: "))
    }

    @Test func curvesAreTheMeanOverSeedsAtTheStepsAllSeedsLogged() throws {
        let mean = ReportModel.meanSeries([[(1, 2), (2, 4)], [(1, 4), (2, 8), (3, 1)], [(1, 0), (2, 0)]])
        #expect(mean.map(\.0) == [1, 2])
        #expect(mean.map(\.1) == [2, 4])
        #expect(ReportModel.meanSeries([]).isEmpty)
        // Step records only on logging steps (every 5th): the loss curve is drawn at those steps.
        let s = try SyntheticExperiment.make(logEvery: 5)
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let clip = try #require(s.model.groups.first { $0.defense.name == "none" })
        #expect(s.model.lossCurve(clip).map(\.0) == [5, 10, 15, 20])
        let loss = try #require(s.report.plots().first { $0.svg.contains(">Training loss per step") })
        #expect(loss.svg.contains("<polyline"))
    }

    @Test func aSelectionThatIsNotASimilarityThresholdIsSaid() {
        let cut = ReportModel.cut(similarity: [0.1, 0.5, 0.3, 0.9], selected: [false, false, true, true])
        #expect(cut.marks.count == 2)
        #expect(cut.note.contains("1 risky pair lies above"))
        let clean = ReportModel.cut(similarity: [0.1, 0.5, 0.3, 0.9], selected: [false, true, false, true])
        #expect(clean.marks.map(\.x) == [0.4])
    }
}
