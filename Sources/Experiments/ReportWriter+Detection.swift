import Foundation
import Training

/// What the selecting defences (SafeCLIP, the similarity filter) caught: poisoned pairs per
/// selection from `metrics.jsonl`, and the ROC of their scores against the poison manifest from
/// `RUN_DIR/similarities/*.json`.
extension ReportWriter {
    /// Defences that choose which pairs to trust.

    /// One score of a selection pass measured against the manifest.
    struct ScoreAUROC {
        /// The pass's training epoch (1-based; 0 for the filter, before training).
        var epoch: Int
        var value: Double
    }

    /// What one row of a selecting defence caught.
    struct RowCatch {
        var row: RowResult
        /// Per selection: the training epoch (0 = the filter, before training), the poisoned
        /// pairs caught (SafeCLIP: put in the risky set; filter: dropped) and the poisoned pairs in all.
        var selections: [(epoch: Int, caught: Int, total: Int)]
        /// AUROC of the pair similarity (lower = more suspicious) at the first and last selection.
        var similarity: [ScoreAUROC]
        /// AUROC of SafeCLIP's clean-component posterior (lower = more suspicious), likewise.
        var posterior: [ScoreAUROC]
    }

    /// A row's first and last similarity file (SafeCLIP's first and last selection, or the
    /// filter's one file), read once per report; unreadable files are left out.
    func similarityFiles(_ row: RowResult) -> [(name: String, file: SimilarityFile)] {
        if let files = memo.similarityFiles[row.id] { return files }
        let folder = runFolder(row.id) + "/similarities"
        func epoch(_ name: String) -> Int { name.hasPrefix("epoch_") ? Int(name.dropFirst(6).dropLast(5)) ?? 0 : 0 }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".json") }
            .sorted { (epoch($0), $0) < (epoch($1), $1) }
        let chosen = names.count > 1 ? [names.first!, names.last!] : names
        let files = chosen.compactMap { name in (try? SimilarityFile.read(path: folder + "/" + name)).map { (name, $0) } }
        memo.similarityFiles[row.id] = files
        return files
    }

    /// What a finished row of a selecting defence caught; nil for other rows.
    func rowCatch(_ row: RowResult) -> RowCatch? {
        guard row.status == "finished", row.defense.pairSelection != nil else { return nil }
        var selections: [(epoch: Int, caught: Int, total: Int)] = []
        for r in metrics(row.id) {
            guard let total = r["poisoned_total"] as? Int else { continue }
            if let epoch = r["selection_epoch"] as? Int, let risky = r["poisoned_in_risky"] as? Int {
                selections.append((epoch, risky, total))
            } else if r["filter_kept"] != nil, let dropped = r["poisoned_dropped"] as? Int {
                selections.append((0, dropped, total))
            }
        }
        var similarity: [ScoreAUROC] = [], posterior: [ScoreAUROC] = []
        for (_, file) in similarityFiles(row) {
            guard let flags = file.poisoned, flags.count == file.similarity.count else { continue }
            if let a = ROC.auroc(suspicion: file.similarity.map { -$0 }, positive: flags) {
                similarity.append(ScoreAUROC(epoch: file.epoch, value: a))
            }
            if let p = file.posterior, p.count == flags.count, let a = ROC.auroc(suspicion: p.map { -$0 }, positive: flags) {
                posterior.append(ScoreAUROC(epoch: file.epoch, value: a))
            }
        }
        return RowCatch(row: row, selections: selections, similarity: similarity, posterior: posterior)
    }

    /// The rows' catches grouped by defence and poison amount, in the file's order.
    func catchGroups() -> [[RowCatch]] {
        var groups: [[RowCatch]] = []
        for c in results.rows.compactMap(rowCatch) {
            if let i = groups.firstIndex(where: { $0[0].row.series == c.row.series && $0[0].row.amount == c.row.amount }) {
                groups[i].append(c)
            } else {
                groups.append([c])
            }
        }
        return groups
    }

    /// `mean ± std` of AUROCs (three decimals), or "–".
    static func aurocText(_ values: [Double]) -> String {
        guard let s = stats(values) else { return "–" }
        return values.count == 1 ? String(format: "%.3f", s.mean) : String(format: "%.3f ± %.3f", s.mean, s.std)
    }

    /// Caught pairs per selection, mean over seeds: `epoch 3: 100/100, epoch 4: 97.5/100`.
    static func caughtText(_ group: [RowCatch]) -> String {
        let epochs = group[0].selections.map(\.epoch)
        guard !epochs.isEmpty else { return "–" }
        return epochs.map { epoch in
            let caught = group.compactMap { c in c.selections.first { $0.epoch == epoch }?.caught }.map(Double.init)
            let total = group[0].selections.first { $0.epoch == epoch }?.total ?? 0
            let label = epoch == 0 ? "before training" : "epoch \(epoch)"
            return "\(label): \(SVGPlot.label(((mean(caught) ?? 0) * 10).rounded() / 10))/\(total)"
        }.joined(separator: ", ")
    }

    /// The AUROCs of the first and last pass of a score over a group's seeds.
    static func firstAndLast(_ group: [RowCatch], _ score: KeyPath<RowCatch, [ScoreAUROC]>) -> (first: [Double], last: [Double], single: Bool) {
        let first = group.compactMap { $0[keyPath: score].first?.value }
        let last = group.compactMap { $0[keyPath: score].last?.value }
        return (first, last, group.allSatisfy { $0[keyPath: score].count <= 1 })
    }

    /// The table of what the selecting defences caught (header first), one line per defence and
    /// poison amount over seeds; empty when no row selects.
    public func detectionTable() -> [[String]] {
        let groups = catchGroups()
        guard !groups.isEmpty else { return [] }
        var rows = [[
            "defence", "poison", "poisoned pairs", "seeds", "poisoned pairs caught (mean over seeds)", "AUROC similarity, first selection",
            "AUROC similarity, last selection", "AUROC posterior, first selection", "AUROC posterior, last selection",
        ]]
        for g in groups {
            let r = g[0].row
            var cells = [Self.defenseName(r.series), amountLabel(r.amount), String(r.poisoned), String(g.count), Self.caughtText(g)]
            for score in [\RowCatch.similarity, \RowCatch.posterior] {
                let a = Self.firstAndLast(g, score)
                cells.append(Self.aurocText(a.first))
                cells.append(a.single ? "–" : Self.aurocText(a.last))
            }
            rows.append(cells)
        }
        return rows
    }

    /// Plain-language lines on what each selecting defence caught and how well its score ranks
    /// the poisoned pairs.
    func detectionFindings() -> [String] {
        var out: [String] = []
        for g in catchGroups() {
            let r = g[0].row
            let name = "\(Self.defenseName(r.series)) at \(amountLabel(r.amount))"
            let verb = r.defense.pairSelection == .onceBeforeTraining ? "dropped" : "in the risky set"
            var line = "\(name): poisoned pairs \(verb) (mean over \(g.count) seed\(g.count == 1 ? "" : "s")) \(Self.caughtText(g))"
            let sim = Self.firstAndLast(g, \.similarity), post = Self.firstAndLast(g, \.posterior)
            if !sim.first.isEmpty {
                line += "; AUROC of the similarity " + Self.aurocText(sim.first) + (sim.single ? "" : " at the first selection, " + Self.aurocText(sim.last) + " at the last")
            }
            if !post.first.isEmpty {
                line += "; of the posterior " + Self.aurocText(post.first) + (post.single ? "" : " → " + Self.aurocText(post.last))
            }
            out.append(line + " (AUROC 1 = every poisoned pair ranked more suspicious than every clean one, 0.5 = chance).")
        }
        return out
    }

    /// The poisoned pairs caught per selection and, per selecting defence and poison amount, the
    /// ROC curves of its scores against the manifest.
    func detectionPlots() -> [(caption: String, svg: String)] {
        let groups = catchGroups()
        var out: [(String, String)] = []
        var caught = SVGPlot(title: "Poisoned pairs caught per selection", xLabel: "epoch (0 = filter, before training)", yLabel: "poisoned pairs caught %")
        caught.yRange = 0...100
        caught.xFromZero = true
        caught.integerX = true
        for g in groups {
            for (seedIndex, c) in g.enumerated() {
                let selections = c.selections.filter { $0.total > 0 }
                guard !selections.isEmpty else { continue }
                caught.lines.append(.init(
                    name: seriesName(c.row), points: selections.map { (Double($0.epoch), 100 * Double($0.caught) / Double($0.total)) },
                    markers: true, dash: dash(amount: c.row.amount), connected: selections.count > 1, colour: colour(c.row.series),
                    pointLabels: seedIndex == 0 ? selections.map { "\($0.caught)/\($0.total)" } : nil))
            }
        }
        if !caught.lines.isEmpty {
            out.append((
                "Share of the poisoned pairs each selection caught: SafeCLIP's risky set at every mixed epoch, the filter's dropped pairs (epoch 0). Labels: caught/poisoned of the first seed; one line per seed.",
                caught.render()))
        }
        for g in groups {
            let r = g[0].row
            let files = g.map { similarityFiles($0.row).filter { $0.file.poisoned != nil } }
            guard files.contains(where: { !$0.isEmpty }) else { continue }
            var roc = SVGPlot(title: "ROC: \(Self.defenseName(r.series)) at \(amountLabel(r.amount))", xLabel: "false-positive rate (clean pairs flagged)", yLabel: "true-positive rate (poisoned pairs flagged)")
            roc.xRange = 0...1
            roc.yRange = 0...1
            roc.lines.append(.init(name: "chance", points: [(0, 0), (1, 1)], dash: "2 3", colour: "#999999"))
            let colour = colour(r.series)
            // The first and the last pass (the filter has one), similarity solid, posterior dashed.
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
                    let when = r.defense.pairSelection == .onceBeforeTraining ? "filter model" : "epoch \(epoch)"
                    let name = "\(scoreName), \(when): AUROC \(Self.aurocText(values))"
                    for (i, curve) in curves.enumerated() {
                        roc.lines.append(.init(name: name, points: curve, dash: dash, colour: colour, opacity: opacity, inLegend: i == 0))
                    }
                }
            }
            let seeds = g.count == 1 ? "" : " One curve per seed; the legend gives AUROC mean ± std over the \(g.count) seeds."
            let passes = r.defense.pairSelection == .onceBeforeTraining ? "the filter model's similarity (lower = more suspicious)" : "the pair similarity (solid) and the clean-component posterior (dashed), lower = more suspicious, at the first selection (pale) and the last (full colour)"
            out.append(("How well \(passes) ranks the poisoned pairs of the manifest above the clean ones.\(seeds)", roc.render()))
        }
        return out
    }
}
