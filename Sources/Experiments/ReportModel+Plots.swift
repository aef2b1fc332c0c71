import Foundation
import Training

/// A plot of the report: its specification (drawn by ``SVGPlot/render()``) and its caption.
public struct ReportFigure {
    public var caption: String
    public var plot: SVGPlot
}

/// The plot specifications: the trade-off (clean accuracy against ASR, ASR against the poison
/// rate at the true rates, final bars), the curves (from-scratch training, each phased schedule
/// with its phases shaded, fine-tuning on its own axis), what the selecting defences caught
/// beside chance, their ROC curves and the similarity histograms. Every series keeps one colour
/// and one marker throughout (``ReportSeries/styles(_:)``).
extension ReportModel {
    public var figures: [ReportFigure] { tradeOffFigures + curveFigures + detectionFigures + similarityFigures }

    /// A bar's value label: "0" for zero, one decimal otherwise.
    @Sendable static func barLabel(_ v: Double) -> String { v == 0 ? "0" : String(format: "%.1f", v) }

    var finishedGroups: [ReportGroup] { groups.filter(\.isFinished) }

    // MARK: Trade-off

    var tradeOffFigures: [ReportFigure] {
        var out: [ReportFigure] = []
        let lines = finishedGroups
        guard !lines.isEmpty else { return [] }
        let series = uniqued(lines.map(\.series))
        if let asrSet {
            var scatter = SVGPlot(title: "Clean top-1 against ASR (\(asrSet))", xLabel: "ASR % (lower is better)", yLabel: "clean top-1 % (higher is better)")
            scatter.xRange = 0...100
            scatter.yRange = 0...100
            for s in series {
                var points: [(Double, Double)] = [], errors: [(x: Double, y: Double)] = [], labels: [String] = []
                for g in lines where g.series == s {
                    guard let a = Self.stats(g.asr(asrSet)), let t = Self.stats(g.top1(asrSet)) else { continue }
                    points.append((100 * a.mean, 100 * t.mean))
                    errors.append((100 * a.std, 100 * t.std))
                    labels.append(Self.amountLabel(g.amount))
                }
                let st = style(s)
                scatter.lines.append(.init(name: ReportSeries.displayName(s), points: points, connected: false, colour: st.colour, errors: errors, pointLabels: labels, marker: st.marker))
            }
            if let chance {
                scatter.lines.append(.init(name: "chance top-1", points: [(0, 100 * chance), (100, 100 * chance)], dash: "2 3", colour: "#999999"))
            }
            out.append(ReportFigure(
                caption: "The trade-off: clean top-1 (y) against ASR (x) on \(asrSet), one point per defence and poison amount (labelled), mean over seeds with ± std error bars; the best defence sits top left.\(chance == nil ? "" : " Dotted: chance top-1; a point near it is a model that learnt little.")",
                plot: scatter))
        }

        let amounts = uniqued(lines.map(\.amount))
        for asr in [false, true] {
            guard !asr || asrSet != nil else { continue }
            let set = asr ? asrSet! : firstSet
            let bars = series.map { s in
                let figures = amounts.map { a -> (mean: Double, std: Double)? in
                    guard let g = lines.first(where: { $0.series == s && $0.amount == a }) else { return nil }
                    return Self.stats(asr ? g.asr(set) : g.top1(set)).map { (100 * $0.mean, 100 * $0.std) }
                }
                return (name: ReportSeries.displayName(s), values: figures.map { $0?.mean }, colour: Optional(style(s).colour), errors: figures.map { $0?.std })
            }
            let plot = SVGPlot.groupedBars(
                title: asr ? "Final ASR (\(set))" : "Final clean top-1 (\(set))", yLabel: asr ? "ASR %" : "top-1 %",
                categories: amounts.map(Self.amountLabel), series: bars, yRange: 0...100, format: Self.barLabel)
            out.append(ReportFigure(caption: "Final \(asr ? "ASR" : "clean accuracy") per defence and poison amount: mean over seeds (written on the bar) ± std.", plot: plot))
        }

        // ASR against the poison rate, every point at its true rate: the mean over seeds with
        // ± std, and each seed's value as a pale marker of the same shape.
        let rates = Set(lines.compactMap(\.rate).filter { $0 > 0 })
        if let asrSet, rates.count > 1 {
            var sweep = SVGPlot(title: "ASR against poison rate (\(asrSet))", xLabel: "poison rate %", yLabel: "ASR %")
            sweep.xScale = .log
            sweep.yRange = 0...100
            for s in series {
                let st = style(s)
                var points: [(Double, Double)] = [], errors: [(x: Double, y: Double)] = [], seedPoints: [(Double, Double)] = []
                for g in lines where g.series == s {
                    guard let r = g.rate, r > 0, let a = Self.stats(g.asr(asrSet)) else { continue }
                    points.append((100 * r, 100 * a.mean))
                    errors.append((0, 100 * a.std))
                    seedPoints += g.asr(asrSet).map { (100 * r, 100 * $0) }
                }
                guard !points.isEmpty else { continue }
                sweep.lines.append(.init(name: ReportSeries.displayName(s), points: points, connected: false, colour: st.colour, errors: errors, marker: st.marker))
                sweep.lines.append(.init(name: ReportSeries.displayName(s) + " (seeds)", points: seedPoints, connected: false, colour: st.colour, opacity: 0.35, inLegend: false, marker: st.marker))
            }
            let zero = lines.contains { $0.rate == 0 } ? " Rows without poison (rate 0) cannot sit on a log axis and are left out." : ""
            out.append(ReportFigure(
                caption: "ASR at each poison rate (log axis), every point at its true rate: mean over seeds ± std (full colour) and each seed's value (pale, same marker).\(zero)",
                plot: sweep))
        }
        return out
    }

    // MARK: Curves

    /// The phases of a row's epochs, in order (empty without epoch records).
    func epochPhases(_ row: RowResult) -> [String] { inputs.metrics(row).epochs.map { $0.phase ?? "" } }

    /// Whether a group's schedule has more than one phase (its loss levels differ by phase).
    func phased(_ g: ReportGroup) -> Bool {
        guard let row = g.finished.first else { return false }
        let m = inputs.metrics(row)
        return Set(m.epochs.compactMap(\.phase)).count > 1 || Set(m.steps.compactMap(\.phase)).count > 1
    }

    /// Loss per step, accuracy and ASR per epoch and the safe fraction per selection: one line
    /// per defence (or variant) and poison amount, the mean over its seeds; one set of plots
    /// per poison amount when there would be more than 8 lines. Defences that fine-tune get
    /// their own plots, on a fine-tuning axis.
    var curveFigures: [ReportFigure] {
        let finished = finishedGroups
        let scratch = finished.filter { !traits($0).finetunes }, tuning = finished.filter { traits($0).finetunes }
        var out: [ReportFigure] = []
        if !scratch.isEmpty {
            if scratch.count > 8 {
                for a in uniqued(scratch.map(\.amount)) { out += scratchCurves(scratch.filter { $0.amount == a }, amount: a) }
            } else {
                out += scratchCurves(scratch, amount: nil)
            }
        }
        if !tuning.isEmpty { out += fineTuningCurves(tuning) }
        return out
    }

    /// The dash pattern of a poison amount's curves (the first solid).
    func dash(amount: String) -> String? {
        let dashes: [String?] = [nil, "7 3", "2 2", "9 3 2 3", "1 3"]
        let i = uniqued(results.rows.map(\.amount)).firstIndex(of: amount) ?? 0
        return dashes[i % dashes.count]
    }

    /// A series' curve name: defence and poison amount.
    func curveName(_ g: ReportGroup) -> String { "\(name(g)) · \(Self.amountLabel(g.amount))" }

    /// The mean over rows of `(x, y)` series, at every x that all of them have.
    static func meanSeries(_ series: [[(Double, Double)]]) -> [(Double, Double)] {
        guard let first = series.first else { return [] }
        let others = series.dropFirst().map { Dictionary($0.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a }) }
        return first.compactMap { x, y in
            let values = others.compactMap { $0[x] }
            return values.count == others.count ? (x, (values.reduce(y, +)) / Double(values.count + 1)) : nil
        }
    }

    /// Moving average over `window` records of the same phase (a phase change is not smoothed over).
    static func smooth(_ points: [(Double, Double, String)], window: Int = 5) -> [(Double, Double)] {
        points.indices.map { i in
            var lo = max(0, i - window / 2), hi = min(points.count - 1, i + window / 2)
            while points[lo].2 != points[i].2 { lo += 1 }
            while points[hi].2 != points[i].2 { hi -= 1 }
            let slice = points[lo...hi].map(\.1)
            return (points[i].0, slice.reduce(0, +) / Double(slice.count))
        }
    }

    /// The shading of a training phase.
    static func phaseColour(_ phase: String) -> String {
        let known = ["unimodal": "#fbefd0", "clip-warmup": "#dff0df", "mixed": "#ebe4f3", "mixed-safe": "#dde9f7", "mixed-risky": "#f9dede"]
        if let c = known[phase] { return c }
        let others = ["#efefef", "#e6f2ef", "#f3ece0", "#eceaf6"]
        return others[phase.unicodeScalars.reduce(0) { $0 + Int($1.value) } % others.count]
    }

    /// Shaded x-ranges of runs of equal phase, each from the previous record's x (0 first) to
    /// its last record's x.
    static func bands(_ records: [(x: Int, phase: String?)]) -> [SVGPlot.Band] {
        var bands: [SVGPlot.Band] = []
        var previous = 0.0
        for r in records {
            guard let phase = r.phase else { continue }
            let x = Double(r.x)
            if let last = bands.last, last.label == phase {
                bands[bands.count - 1].x1 = x
            } else {
                bands.append(SVGPlot.Band(x0: previous, x1: x, label: phase, colour: phaseColour(phase)))
            }
            previous = x
        }
        return bands
    }

    /// A group's mean loss per logged step (smoothed within a phase), over its seeds. Robust to
    /// step records written only on logging steps: the mean is taken at the steps every seed logged.
    func lossCurve(_ g: ReportGroup) -> [(Double, Double)] {
        Self.meanSeries(g.finished.map { row in
            Self.smooth(inputs.metrics(row).steps.map { (Double($0.step), $0.loss, $0.phase ?? "") })
        })
    }

    /// A group's mean of an epoch value (percent) over its seeds, at every epoch all seeds have.
    func epochCurve(_ g: ReportGroup, _ value: (EpochRecord) -> Double?) -> [(Double, Double)] {
        Self.meanSeries(g.finished.map { row in
            inputs.metrics(row).epochs.compactMap { r in value(r).map { (Double(r.epochEnd), 100 * $0) } }
        })
    }

    func scratchCurves(_ groups: [ReportGroup], amount: String?) -> [ReportFigure] {
        var out: [ReportFigure] = []
        let at = amount.map { " at \(Self.amountLabel($0)) poison" } ?? ""
        var loss = SVGPlot(title: "Training loss per step\(at)", xLabel: "optimizer step", yLabel: "loss")
        var accuracy = SVGPlot(title: "Clean zero-shot top-1 per epoch (\(firstSet))\(at)", xLabel: "epoch", yLabel: "top-1 %")
        var asr = SVGPlot(title: "Attack success rate per epoch (\(firstSet))\(at)", xLabel: "epoch", yLabel: "ASR %")
        var safeFraction = SVGPlot(title: "Safe-set fraction per selection\(at)", xLabel: "epoch", yLabel: "safe fraction %")
        loss.xFromZero = true
        accuracy.yRange = 0...100
        asr.yRange = 0...100
        for p in [\SVGPlot.integerX, \SVGPlot.xFromZero] {
            accuracy[keyPath: p] = true
            asr[keyPath: p] = true
            safeFraction[keyPath: p] = true
        }
        // Phased schedules (their loss changes meaning with the phase): one loss plot per schedule.
        var schedules: [(phases: [String], plot: SVGPlot, row: String, names: [String])] = []
        for g in groups {
            let st = style(g.series)
            let lineStyle = (colour: st.colour, dash: amount == nil ? dash(amount: g.amount) : nil, name: curveName(g))
            let line = SVGPlot.Line(name: lineStyle.name, points: lossCurve(g), dash: lineStyle.dash, colour: lineStyle.colour)
            if phased(g), let row = g.finished.first {
                let phases = epochPhases(row)
                if let i = schedules.firstIndex(where: { $0.phases == phases }) {
                    schedules[i].plot.lines.append(line)
                    if !schedules[i].names.contains(name(g)) { schedules[i].names.append(name(g)) }
                } else {
                    var plot = SVGPlot(title: "\(name(g)): loss per step, phases shaded\(at)", xLabel: "optimizer step", yLabel: "loss")
                    plot.xFromZero = true
                    plot.bands = Self.bands(inputs.metrics(row).steps.map { (x: $0.step, phase: $0.phase) })
                    plot.lines.append(line)
                    schedules.append((phases, plot, row.id, [name(g)]))
                }
            } else {
                loss.lines.append(line)
            }
            accuracy.lines.append(.init(name: lineStyle.name, points: epochCurve(g) { $0.zeroshotTop1 }, markers: true, dash: lineStyle.dash, colour: lineStyle.colour, marker: st.marker))
            asr.lines.append(.init(name: lineStyle.name, points: epochCurve(g) { $0.asr }, markers: true, dash: lineStyle.dash, colour: lineStyle.colour, marker: st.marker))
            let fraction = Self.meanSeries(g.finished.map { row in inputs.metrics(row).selections.map { (Double($0.selectionEpoch), 100 * $0.safeFraction) } })
            if !fraction.isEmpty {
                safeFraction.lines.append(.init(name: lineStyle.name, points: fraction, markers: true, dash: lineStyle.dash, colour: lineStyle.colour, marker: st.marker))
            }
        }
        // Epoch plots are shaded only when every phased schedule in them is the same.
        var shading = ""
        if schedules.count == 1, let s = schedules.first, let row = results.rows.first(where: { $0.id == s.row }) {
            let epochBands = Self.bands(inputs.metrics(row).epochs.map { (x: $0.epochEnd, phase: $0.phase) })
            accuracy.bands = epochBands
            asr.bands = epochBands
            safeFraction.bands = epochBands
            shading = " Shaded: the phases of \(s.names.joined(separator: ", ")) (from row \(row.id)); the other lines train with one phase throughout."
        } else if schedules.count > 1 {
            shading = " Not shaded: the phased defences here have different schedules (see their loss plots)."
        }
        let styleNote = "One line per defence\(amount == nil ? " and poison amount" : ""), the mean over its seeds at the steps all seeds logged; colour and marker: defence\(amount == nil ? "; dash: poison amount" : "")."
        if !loss.lines.isEmpty {
            out.append(ReportFigure(caption: "Training loss of the defences trained with one phase throughout (moving average over 5 logged steps). \(styleNote)", plot: loss))
        }
        for s in schedules {
            out.append(ReportFigure(
                caption: "\(s.names.joined(separator: ", ")): loss per step (moving average over 5 logged steps within a phase), the mean over its seeds. The loss changes with the phase (shaded, from row \(s.row)), so levels of different phases are not comparable.",
                plot: s.plot))
        }
        out.append(ReportFigure(caption: "Clean accuracy after every epoch. \(styleNote)\(shading)", plot: accuracy))
        if results.config.evaluation.first?.asr ?? false {
            out.append(ReportFigure(caption: "ASR after every epoch: the share of non-target test images with the trigger classified as the target. \(styleNote)\(shading)", plot: asr))
        }
        if !safeFraction.lines.isEmpty {
            out.append(ReportFigure(caption: "Fraction of pairs in the safe set at each selection, the mean over seeds.\(shading)", plot: safeFraction))
        }
        return out
    }

    /// Fine-tuning defences on their own axis: loss per fine-tuning step, and clean top-1 and ASR
    /// per fine-tuning epoch from epoch 0 (the model they start from: the plain CLIP row of the
    /// same seed and amount, as evaluated at its end).
    func fineTuningCurves(_ groups: [ReportGroup]) -> [ReportFigure] {
        var loss = SVGPlot(title: "Fine-tuning loss per step", xLabel: "fine-tuning step", yLabel: "loss")
        var accuracy = SVGPlot(title: "Clean top-1 per fine-tuning epoch (\(firstSet))", xLabel: "fine-tuning epoch (0 = the model it starts from)", yLabel: "top-1 %")
        var asr = SVGPlot(title: "ASR per fine-tuning epoch (\(firstSet))", xLabel: "fine-tuning epoch (0 = the model it starts from)", yLabel: "ASR %")
        loss.xFromZero = true
        accuracy.yRange = 0...100
        asr.yRange = 0...100
        accuracy.integerX = true
        asr.integerX = true
        for g in groups {
            let st = style(g.series)
            let d = dash(amount: g.amount)
            loss.lines.append(.init(name: curveName(g), points: lossCurve(g), dash: d, colour: st.colour))
            // Epoch 0: the starting model, the plain CLIP row of the same seed.
            let base = baseline(of: g)
            func start(_ value: (SetResult) -> Double?) -> [(Double, Double)] {
                let v = g.finished.compactMap { row in base?.finished.first { $0.seed == row.seed }?.evaluations[firstSet].flatMap(value) }
                guard v.count == g.finished.count, let m = Self.mean(v) else { return [] }
                return [(0, 100 * m)]
            }
            accuracy.lines.append(.init(name: curveName(g), points: start { $0.top1 } + epochCurve(g) { $0.zeroshotTop1 }, markers: true, dash: d, colour: st.colour, marker: st.marker))
            asr.lines.append(.init(name: curveName(g), points: start { $0.asr } + epochCurve(g) { $0.asr }, markers: true, dash: d, colour: st.colour, marker: st.marker))
        }
        let names = uniqued(groups.map(name)).joined(separator: ", ")
        var out = [ReportFigure(caption: "\(names): loss per fine-tuning step (moving average over 5 logged steps), the mean over seeds. Fine-tuning starts from a trained model, so its steps are not the from-scratch steps.", plot: loss)]
        out.append(ReportFigure(caption: "\(names): clean top-1 per fine-tuning epoch, the mean over seeds; epoch 0 is the poisoned plain CLIP model each seed starts from.", plot: accuracy))
        if results.config.evaluation.first?.asr ?? false {
            out.append(ReportFigure(caption: "\(names): ASR per fine-tuning epoch, the mean over seeds; epoch 0 is the poisoned plain CLIP model each seed starts from, so the curve shows how much of the backdoor fine-tuning removes.", plot: asr))
        }
        return out
    }

    // MARK: Detection

    /// The poisoned pairs caught per selection beside what a random set of the same size
    /// catches, and per selecting defence and poison amount the ROC curves of its scores.
    var detectionFigures: [ReportFigure] {
        let groups = catchGroups
        var out: [ReportFigure] = []
        var caught = SVGPlot(title: "Poisoned pairs caught per selection", xLabel: "epoch (0 = before training)", yLabel: "poisoned pairs caught %")
        caught.yRange = 0...100
        caught.xFromZero = true
        caught.integerX = true
        for g in groups {
            for (seedIndex, c) in g.enumerated() {
                let selections = c.selections.filter { $0.total > 0 }
                guard !selections.isEmpty else { continue }
                let st = style(c.row.series)
                caught.lines.append(.init(
                    name: "\(ReportSeries.displayName(c.row.series)) · \(Self.amountLabel(c.row.amount))",
                    points: selections.map { (Double($0.epoch), 100 * Double($0.caught) / Double($0.total)) },
                    markers: true, dash: dash(amount: c.row.amount), connected: selections.count > 1, colour: st.colour,
                    pointLabels: seedIndex == 0 ? selections.map { "\($0.caught)/\($0.total)" } : nil, marker: st.marker))
                caught.lines.append(.init(
                    name: "a random set of the same size", points: selections.map { (Double($0.epoch), 100 * $0.chance / Double($0.total)) },
                    markers: true, dash: "2 3", connected: selections.count > 1, colour: st.colour, opacity: 0.45,
                    inLegend: seedIndex == 0 && c.row.id == groups.first?.first?.row.id, marker: .init(st.marker.shape, filled: false)))
            }
        }
        if !caught.lines.isEmpty {
            out.append(ReportFigure(
                caption: "Share of the poisoned pairs each selection caught (risky set, or dropped before training at epoch 0), one line per seed; labels: caught/poisoned of the first seed. Pale dotted, same colour: what a random set of the same size catches (the flagged share of all pairs); a selection is worth only what it catches above that.",
                plot: caught))
        }
        for g in groups {
            let r = g[0].row
            let files = g.map { inputs.similarities($0.row).filter { $0.file.poisoned != nil } }
            guard files.contains(where: { !$0.isEmpty }) else { continue }
            var roc = SVGPlot(title: "ROC: \(ReportSeries.displayName(r.series)) at \(Self.amountLabel(r.amount))", xLabel: "false-positive rate (clean pairs flagged)", yLabel: "true-positive rate (poisoned pairs flagged)")
            roc.xRange = 0...1
            roc.yRange = 0...1
            roc.lines.append(.init(name: "chance", points: [(0, 0), (1, 1)], dash: "2 3", colour: "#999999"))
            let colour = style(r.series).colour
            let beforeTraining = files.allSatisfy { $0.allSatisfy { $0.file.epoch == 0 } }
            for (which, opacity) in [("first", 0.45), ("last", 1.0)] {
                for (scoreName, dash) in [("similarity", nil), ("posterior", "6 3")] as [(String, String?)] {
                    var values: [Double] = []
                    var curves: [[(Double, Double)]] = []
                    var epoch = 0
                    for seedFiles in files {
                        guard let pass = which == "first" ? seedFiles.first : seedFiles.last, seedFiles.count > 1 || which == "last" else { continue }
                        let f = pass.file
                        let score = scoreName == "similarity" ? f.similarity : f.posterior
                        guard let score, let flags = f.poisoned, score.count == flags.count,
                            let a = ROC.auroc(suspicion: score.map { -$0 }, positive: flags)
                        else { continue }
                        values.append(a)
                        curves.append(ROC.curve(suspicion: score.map { -$0 }, positive: flags))
                        epoch = f.epoch
                    }
                    guard !curves.isEmpty else { continue }
                    let when = epoch == 0 ? "before training" : "epoch \(epoch)"
                    let label = "\(scoreName), \(when): AUROC \(Self.aurocText(values))"
                    for (i, curve) in curves.enumerated() {
                        roc.lines.append(.init(name: label, points: curve, dash: dash, colour: colour, opacity: opacity, inLegend: i == 0))
                    }
                }
            }
            let seeds = g.count == 1 ? "" : " One curve per seed; the legend gives AUROC mean ± std over the \(g.count) seeds."
            let passes = beforeTraining
                ? "the pair similarity under the scoring model (lower = more suspicious)"
                : "the pair similarity (solid) and the clean-component posterior (dashed), lower = more suspicious, at the first selection (pale) and the last (full colour)"
            let oracle = groups.isEmpty ? nil : self.groups.first { $0.series == r.series && $0.amount == r.amount }.flatMap { facts($0)?.oracle }
            out.append(ReportFigure(
                caption: "How well \(passes) ranks the poisoned pairs of the manifest above the clean ones.\(seeds)\(oracle.map { " The scorer is \($0)." } ?? "")",
                plot: roc))
        }
        return out
    }

    // MARK: Similarity histograms

    /// Density of a 1-D Gaussian mixture at `x`.
    static func mixtureDensity(_ x: Double, means: [Double], stds: [Double], weights: [Double]) -> Double {
        var total = 0.0
        for k in means.indices where stds[k] > 0 {
            let z = (x - means[k]) / stds[k]
            total += weights[k] * exp(-0.5 * z * z) / (stds[k] * (2 * Double.pi).squareRoot())
        }
        return total
    }

    /// Histograms (counts) of clean and poisoned pair similarities with the safe/risky cut, for
    /// the first seed of every group that saved similarity files.
    var similarityFigures: [ReportFigure] {
        var out: [ReportFigure] = []
        for g in finishedGroups {
            guard let row = g.finished.first(where: { !inputs.similarities($0).isEmpty }) else { continue }
            let files = inputs.similarities(row)
            for (name, file) in files.count > 1 ? [files.first!, files.last!] : [files[0]] {
                let sims = file.similarity
                let flags = file.poisoned.flatMap { $0.count == sims.count ? $0 : nil } ?? Array(repeating: false, count: sims.count)
                let clean = sims.indices.filter { !flags[$0] }.map { sims[$0] }, poisoned = sims.indices.filter { flags[$0] }.map { sims[$0] }
                let finite = sims.filter(\.isFinite)
                let lo = finite.min() ?? -1, hi = finite.max() ?? 1
                let range: ClosedRange<Double> = hi > lo ? lo...hi : (lo - 1)...(lo + 1)
                let binCount = 40
                let what = file.epoch == 0 ? "scores before training" : "selection at epoch \(file.epoch)"
                var plot = SVGPlot(title: "\(row.id): pair similarities, \(what)", xLabel: "cosine similarity", yLabel: "pairs")
                plot.bars.append(.init(name: "clean pairs (\(clean.count))", bins: SVGPlot.histogram(clean, range: range, bins: binCount), colour: style(g.series).colour, opacity: 0.45))
                if !poisoned.isEmpty {
                    let bins = SVGPlot.histogram(poisoned, range: range, bins: binCount).filter { $0.y > 0 }
                    plot.bars.append(.init(name: "poisoned pairs (\(poisoned.count))", bins: bins, colour: ReportSeries.poisonColour, opacity: 0.9, valueLabels: true))
                }
                if let gmm = file.gmm, gmm.degenerate == nil, gmm.means.count == gmm.variances.count, gmm.weights.count == gmm.means.count {
                    let span = range.upperBound - range.lowerBound
                    let perBin = Double(finite.count) * span / Double(binCount)
                    let pts = (0...200).map { i -> (Double, Double) in
                        let x = range.lowerBound + Double(i) / 200 * span
                        return (x, perBin * Self.mixtureDensity(x, means: gmm.means, stds: gmm.variances.map { $0.squareRoot() }, weights: gmm.weights))
                    }
                    plot.lines.append(.init(name: "GMM fit (expected pairs per bin)", points: pts, dash: "4 2", colour: "#000000"))
                }
                let cut = Self.cut(similarity: sims, selected: file.selected)
                plot.marks = cut.marks
                out.append(ReportFigure(
                    caption: "\(row.id), \(name): number of clean and poisoned pairs per similarity bin (counts; the poisoned bins are labelled with their count), \(what). x spans the similarities' range, not from 0. \(cut.note)",
                    plot: plot))
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
}
