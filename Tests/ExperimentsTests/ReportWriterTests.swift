import Foundation
import TestSupport
import Testing
@testable import Experiments

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
            series: [(name: "SafeCLIP", values: [0, 12.5], colour: "#0072B2", errors: [0, 1.5])], yRange: nil, format: ReportWriter.barLabel)
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

/// A results folder made by hand: CLIP, SafeCLIP and the filter at two rates over three seeds,
/// with metrics and similarity files.
struct SyntheticExperiment {
    let dir: URL
    let results: ExperimentResults
    /// The similarities and flags of SafeCLIP's first and last selection and of the filter.
    static let flags = [true, false, false, true, false, false, false, false, false, false]
    static let firstSimilarity = [0.05, 0.3, 0.4, 0.1, 0.5, 0.6, 0.7, 0.2, 0.8, 0.9]
    static let lastSimilarity = [0.3, 0.3, 0.4, 0.1, 0.5, 0.6, 0.05, 0.2, 0.8, 0.9]
    static let posterior = [0.1, 0.2, 0.6, 0.3, 0.7, 0.8, 0.9, 0.4, 0.95, 0.99]
    static let filterSimilarity = [0.5, 0.3, 0.4, 0.9, 0.5, 0.6, 0.7, 0.2, 0.8, 0.1]

    static func write(_ object: Any, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
    }

    static func make() throws -> SyntheticExperiment {
        let dir = try makeTemporaryDirectory("report")
        let yaml = """
            name: synthetic
            data: {builtin: fashion-mnist, limit: 100, eval_limit: 50}
            attack: {target: sneaker, trigger: patch, rates: [0.001, 0.01], captions: natural, image_size: 32, patch_size: "22%"}
            defenses: [none, safeclip, filter]
            model: micro-vit
            training: {epochs: 4, batch_size: 16, lr: 0.001, unimodal_epochs: 1, clip_warmup_epochs: 1, filter_model: x.safetensors}
            evaluation: [{name: test, path: builtin}]
            seeds: [7, 8, 9]
            """
        let config = try ExperimentConfig.decode(yaml, file: "synthetic.yaml")
        var rows: [RowResult] = []
        for plan in config.rows {
            let rate = plan.amount.rateValue ?? 0
            let s = Double(plan.seed - 7)
            let asr = plan.defense == .plainCLIP ? (rate > 0.005 ? 0.9 : 0.1) + 0.01 * s : 0.0
            let top1 = plan.defense == .train(.safeclip) ? 0.4 + 0.02 * s : 0.7 + 0.01 * s
            rows.append(RowResult(
                id: plan.id, defense: plan.defense, seed: plan.seed, amount: plan.amount.tag, rate: rate, poisoned: rate > 0.005 ? 10 : 1,
                trainingPairs: 1000, status: "finished", reason: nil, steps: 20, finalLoss: 1, trainingSeconds: 10, evaluationSeconds: 1,
                evaluations: ["test": SetResult(top1: top1, top5: 0.9, n: 50, asr: asr, asrDenominator: 45, asrSuccesses: Int(asr * 45), triggeredTop1: nil)]))
            let run = dir.path + "/rows/\(plan.id)/run"
            var lines: [[String: Any]] = []
            let phases = plan.defense == .train(.safeclip) ? ["unimodal", "clip-warmup", "mixed", "mixed"] : ["clip", "clip", "clip", "clip"]
            var step = 0
            for epoch in 1...4 {
                if plan.defense == .train(.filter) && epoch == 1 {
                    lines.append(["filter_kept": 9, "filter_dropped": 1, "step": 0, "similarities_file": "similarities/filter.json", "poisoned_total": 2, "poisoned_dropped": 1, "poisoned_kept": 1])
                    try write(["format": "clipguard-similarities-1", "defense": "filter", "epoch": 0, "step": 0, "similarity": filterSimilarity, "poisoned": flags, "selected": filterSimilarity.map { $0 > 0.15 }], to: run + "/similarities/filter.json")
                }
                if phases[epoch - 1] == "mixed" {
                    let sims = epoch == 3 ? firstSimilarity : lastSimilarity
                    lines.append(["selection_epoch": epoch, "step": step, "phase": "mixed", "selection_rule": "threshold", "safe_fraction": 0.3 + 0.1 * Double(epoch - 3), "r": 0.3, "safe_count": 3, "risky_count": 7,
                                  "gmm_means": [0.2, 0.7], "gmm_variances": [0.01, 0.02], "gmm_weights": [0.5, 0.5], "gmm_iterations": 5, "gmm_converged": true, "mixed_steps": 10,
                                  "similarities_file": "similarities/epoch_\(epoch).json", "poisoned_total": 2, "poisoned_in_safe": epoch - 3, "poisoned_in_risky": 5 - epoch])
                    try write(["format": "clipguard-similarities-1", "defense": "safeclip", "epoch": epoch, "step": step, "similarity": sims, "poisoned": flags,
                               "selected": sims.map { $0 >= 0.6 }, "posterior": posterior,
                               "gmm": ["means": [0.2, 0.7], "variances": [0.01, 0.02], "weights": [0.5, 0.5], "logLikelihood": 0.1, "iterations": 5, "converged": true]],
                              to: run + "/similarities/epoch_\(epoch).json")
                }
                for k in 0..<5 {
                    step += 1
                    let phase = phases[epoch - 1] == "mixed" ? (k < 2 ? "mixed-risky" : "mixed-safe") : phases[epoch - 1]
                    lines.append(["step": step, "epoch": epoch, "loss": 3.0 - 0.1 * Double(step), "lr": 0.001, "logit_multiplier": 14.3, "logit_scale": 14.3, "pairs_per_s": 100.0, "seconds": 0.1, "phase": phase])
                }
                lines.append(["epoch_end": epoch, "step": step, "loaded": 100, "skipped": 0, "phase": phases[epoch - 1], "zeroshot_top1": top1 * Double(epoch) / 4, "asr": asr])
            }
            let text = try lines.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }.joined(separator: "\n") + "\n"
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            try text.write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
        }
        let results = ExperimentResults(
            name: "synthetic", configFile: "synthetic.yaml", config: config, commands: [], trainCSV: "train.csv", evaluationSets: ["test": "eval"],
            poisonedSets: [], rows: rows, updated: "2026-12-01T00:00:00Z")
        return SyntheticExperiment(dir: dir, results: results)
    }
}

@Suite struct ReportWriterTests {
    @Test func tableCountsSeedsAndShowsMeanAndStd() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let table = ReportWriter(directory: s.dir.path, results: s.results).table()
        #expect(table[0][3] == "seeds")
        #expect(table.count == 7)
        let clip = try #require(table.first { $0[0] == "CLIP (no defence)" && $0[1] == "1%" })
        #expect(clip[3] == "3")
        // top-1 0.70, 0.71, 0.72: mean 71.00, std 1.00; ASR 90, 91, 92.
        #expect(clip[4] == "71.00 ± 1.00")
        #expect(clip[5] == "91.00 ± 1.00")
    }

    @Test func detectionTableAndFindingsGiveTheExactAUROCs() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let report = ReportWriter(directory: s.dir.path, results: s.results)
        let flags = SyntheticExperiment.flags
        let first = bruteForceAUROC(SyntheticExperiment.firstSimilarity.map { -$0 }, flags)
        let last = bruteForceAUROC(SyntheticExperiment.lastSimilarity.map { -$0 }, flags)
        let posterior = bruteForceAUROC(SyntheticExperiment.posterior.map { -$0 }, flags)
        let filter = bruteForceAUROC(SyntheticExperiment.filterSimilarity.map { -$0 }, flags)
        #expect(first == 1 && last == 12.5 / 16 && posterior == 15.0 / 16 && filter == 3.5 / 16)
        let table = report.detectionTable()
        let safe = try #require(table.first { $0[0] == "SafeCLIP" && $0[1] == "1%" })
        #expect(safe[3] == "3")
        #expect(safe[4] == "epoch 3: 2/2, epoch 4: 1/2")
        #expect(safe[5] == String(format: "%.3f ± %.3f", first, 0.0))
        #expect(safe[6] == String(format: "%.3f ± %.3f", last, 0.0))
        #expect(safe[7] == String(format: "%.3f ± %.3f", posterior, 0.0))
        let filterLine = try #require(table.first { $0[0] == "similarity filter" && $0[1] == "0.1%" })
        #expect(filterLine[4] == "before training: 1/2")
        #expect(filterLine[5] == String(format: "%.3f ± %.3f", filter, 0.0) && filterLine[6] == "–" && filterLine[7] == "–")
        let markdown = report.markdown()
        #expect(markdown.contains("## Poisoned pairs caught"))
        #expect(markdown.contains("AUROC of the similarity 1.000 ± 0.000 at the first selection, 0.781 ± 0.000 at the last"))
    }

    /// Legend entries (name → colour) of an SVG: a swatch followed by a plain `<text x y>`.
    static func legend(_ svg: String) -> [String: String] {
        let pattern = try! NSRegularExpression(pattern: "(?:fill|stroke)=\"(#[0-9A-Fa-f]{6})\"[^\\n]*\\n<text x=\"[^\"]*\" y=\"[^\"]*\">([^<]*)</text>")
        var out: [String: String] = [:]
        for m in pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)) {
            out[String(svg[Range(m.range(at: 2), in: svg)!])] = String(svg[Range(m.range(at: 1), in: svg)!])
        }
        return out
    }

    @Test func plotsKeepOneColourPerDefencePhaseBandsLogRatesAndTheCut() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let plots = ReportWriter(directory: s.dir.path, results: s.results).plots()
        func plot(_ title: String) -> String {
            guard let svg = plots.first(where: { $0.svg.contains(">\(title)") })?.svg else {
                Issue.record("no plot \(title)")
                return ""
            }
            return svg
        }

        let safeColour = ReportWriter.colour(ofDefense: "safeclip")
        let scatter = plot("Clean top-1 against ASR")
        let bars = plot("Final ASR")
        let sweep = plot("ASR against poison rate")
        let accuracy = plot("Clean zero-shot top-1 per epoch")
        for svg in [scatter, bars, sweep] { #expect(Self.legend(svg)["SafeCLIP"] == safeColour, "\(Self.legend(svg))") }
        #expect(Self.legend(accuracy)["SafeCLIP · 1%"] == safeColour)
        #expect(Self.legend(scatter)["CLIP (no defence)"] == Self.legend(bars)["CLIP (no defence)"])
        #expect(Self.legend(scatter)["similarity filter"] == ReportWriter.colour(ofDefense: "filter"))

        // The scatter: error bars from the seeds; the sweep: points on a log axis, no line.
        #expect(scatter.contains("class=\"errorbar\""))
        #expect(!sweep.contains("<polyline"))
        #expect(SVGPlotTests.texts(sweep, class: "xtick").contains("0.1"))
        #expect(SVGPlotTests.texts(sweep, class: "xtick").contains("1"))
        // The zero ASR bars of the defences are labelled 0.
        #expect(SVGPlotTests.texts(bars, class: "value").filter { $0 == "0" }.count == 4)

        // Phase bands on SafeCLIP's loss and metric curves.
        let loss = plot("SafeCLIP loss per step")
        for phase in ["unimodal", "clip-warmup", "mixed-risky", "mixed-safe"] { #expect(loss.contains("data-label=\"\(phase)\"")) }
        #expect(accuracy.contains("data-label=\"mixed\""))

        // Histograms in counts with the cut between safe (≥ 0.6) and risky similarities.
        let histogram = plot("safeclip-rate0.01-seed7: pair similarities, selection at epoch 3")
        #expect(SVGPlotTests.barValues(histogram).map { Double($0)! }.reduce(0, +) == 10)
        #expect(histogram.contains("cut 0.550"))
        let caption = try #require(plots.first { $0.svg == histogram }?.caption)
        #expect(caption.contains("counts"))

        // Caught per selection and the ROC curves.
        #expect(plot("Poisoned pairs caught per selection").contains(">2/2</text>"))
        let roc = plot("ROC: SafeCLIP at 1%")
        #expect(roc.contains("similarity, epoch 3: AUROC 1.000 ± 0.000"))
        #expect(roc.contains("posterior, epoch 4: AUROC"))
        #expect(plot("ROC: similarity filter at 0.1%").contains("similarity, filter model: AUROC 0.219 ± 0.000"))
    }

    @Test func curvesAreTheMeanOverSeedsAtTheStepsAllSeedsHave() {
        let mean = ReportWriter.meanSeries([[(1, 2), (2, 4)], [(1, 4), (2, 8), (3, 1)], [(1, 0), (2, 0)]])
        #expect(mean.map(\.0) == [1, 2])
        #expect(mean.map(\.1) == [2, 4])
        #expect(ReportWriter.meanSeries([]).isEmpty)
    }

    @Test func aSelectionThatIsNotASimilarityThresholdIsSaid() {
        let cut = ReportWriter.cut(similarity: [0.1, 0.5, 0.3, 0.9], selected: [false, false, true, true])
        #expect(cut.marks.count == 2)
        #expect(cut.note.contains("1 risky pair lies above"))
        let clean = ReportWriter.cut(similarity: [0.1, 0.5, 0.3, 0.9], selected: [false, true, false, true])
        #expect(clean.marks.map(\.x) == [0.4])
    }
}
