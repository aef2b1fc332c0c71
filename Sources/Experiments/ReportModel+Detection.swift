import Foundation
import Training

/// What the selecting defences caught: poisoned pairs per selection from the typed metrics
/// (``SelectionRecord``, ``FilterRecord``) and `detect` rows' cut (`run-detect/summary.json`), each beside what a random set of the same size would
/// catch, and the ROC of their scores against the poison manifest from the similarity files.
extension ReportModel {
    /// One selection measured against the manifest.
    struct Selection: Equatable {
        /// The training epoch (1-based; 0 = before training, the filter).
        var epoch: Int
        /// Poisoned pairs caught (put in the risky set, or dropped) and in all.
        var caught: Int
        var total: Int
        /// Pairs flagged (risky or dropped) out of all pairs.
        var flagged: Int
        var pairs: Int
        /// `risky` (distrusted for the epoch) or `dropped` (removed before training).
        var dropped: Bool

        /// Poisoned pairs a random flagged set of the same size catches on average.
        var chance: Double { pairs > 0 ? Double(total) * Double(flagged) / Double(pairs) : 0 }
        /// Why the selection says nothing, when it flagged every pair or none.
        var degenerate: String? {
            if pairs > 0 && flagged == pairs {
                return dropped ? "dropped every pair" : "left the safe set empty (every pair distrusted)"
            }
            if flagged == 0 { return dropped ? "dropped no pair" : "put no pair in the risky set" }
            return nil
        }
    }

    /// One score of a selection pass measured against the manifest.
    struct ScoreAUROC {
        var epoch: Int
        var value: Double
    }

    /// What one row of a selecting defence caught.
    struct RowCatch {
        var row: RowResult
        var selections: [Selection]
        /// AUROC of the pair similarity (lower = more suspicious) at the first and last selection.
        var similarity: [ScoreAUROC]
        /// AUROC of SafeCLIP's clean-component posterior (lower = more suspicious), likewise.
        var posterior: [ScoreAUROC]
    }

    /// What a finished row of a selecting defence caught; nil for other rows.
    func rowCatch(_ row: RowResult) -> RowCatch? {
        guard row.status == "finished" else { return nil }
        if row.defense == .detect {  // `clipguard detect`'s one cut before training
            guard let cut = inputs.detectCuts[row.id] else { return nil }
            let selection = Selection(epoch: 0, caught: cut.poisonedDropped, total: cut.poisonedDropped + cut.poisonedKept,
                                      flagged: cut.dropped, pairs: cut.dropped + cut.kept, dropped: true)
            return RowCatch(row: row, selections: [selection], similarity: [], posterior: [])
        }
        guard ReportSeries.traits(row.defense).selectsPairs else { return nil }
        var selections: [Selection] = []
        for entry in inputs.metrics(row).entries {
            switch entry {
            case .selection(let r):
                guard let d = r.detection else { continue }
                selections.append(Selection(
                    epoch: r.selectionEpoch, caught: d.poisonedInRisky, total: d.poisonedTotal, flagged: r.riskyCount, pairs: r.safeCount + r.riskyCount,
                    dropped: false))
            case .filter(let r):
                guard let total = r.poisonedTotal, let dropped = r.poisonedDropped else { continue }
                selections.append(Selection(
                    epoch: 0, caught: dropped, total: total, flagged: r.filterDropped, pairs: r.filterKept + r.filterDropped, dropped: true))
            default: continue
            }
        }
        var similarity: [ScoreAUROC] = [], posterior: [ScoreAUROC] = []
        for (_, file) in inputs.similarities(row) {
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

    /// `mean ± std` of AUROCs (three decimals), or "–".
    static func aurocText(_ values: [Double]) -> String {
        guard let s = stats(values) else { return "–" }
        return values.count == 1 ? String(format: "%.3f", s.mean) : String(format: "%.3f ± %.3f", s.mean, s.std)
    }

    /// Caught pairs per selection, mean over seeds, beside chance:
    /// `epoch 3: 100/100 (random set: 35.2), epoch 4: 97.5/100 (random set: 40)`.
    static func caughtText(_ group: [RowCatch]) -> String {
        let epochs = uniqued(group.flatMap { $0.selections.map(\.epoch) })
        guard !epochs.isEmpty else { return "–" }
        func one(_ v: Double) -> String { SVGPlot.label((v * 10).rounded() / 10) }
        return epochs.map { epoch in
            let at = group.compactMap { c in c.selections.first { $0.epoch == epoch } }
            let caught = at.map { Double($0.caught) }, chance = at.map(\.chance)
            let total = at.first?.total ?? 0
            let label = epoch == 0 ? "before training" : "epoch \(epoch)"
            let empty = at.filter { $0.degenerate != nil }.count
            let warning = empty > 0 ? " ⚠ \(empty) of \(at.count) seed\(at.count == 1 ? "" : "s") \(at.first { $0.degenerate != nil }!.degenerate!)" : ""
            return "\(label): \(one(mean(caught) ?? 0))/\(total) (random set: \(one(mean(chance) ?? 0)))\(warning)"
        }.joined(separator: ", ")
    }

    /// The AUROCs of the first and last pass of a score over a group's seeds.
    static func firstAndLast(_ group: [RowCatch], _ score: KeyPath<RowCatch, [ScoreAUROC]>) -> (first: [Double], last: [Double], single: Bool) {
        let first = group.compactMap { $0[keyPath: score].first?.value }
        let last = group.compactMap { $0[keyPath: score].last?.value }
        return (first, last, group.allSatisfy { $0[keyPath: score].count <= 1 })
    }

    /// The table of what the selecting defences caught (header first); empty when no row selects.
    var detectionTable: [[String]] {
        let groups = catchGroups
        guard !groups.isEmpty else { return [] }
        var rows = [[
            "defence", "poison", "poisoned pairs", "seeds", "poisoned pairs caught, mean over seeds (a random set of the same size)",
            "AUROC similarity, first selection", "AUROC similarity, last selection", "AUROC posterior, first selection",
            "AUROC posterior, last selection",
        ]]
        for g in groups {
            let r = g[0].row
            var cells = [ReportSeries.displayName(r.series), Self.amountLabel(r.amount), String(r.poisoned), String(g.count), Self.caughtText(g)]
            for score in [\RowCatch.similarity, \RowCatch.posterior] {
                let a = Self.firstAndLast(g, score)
                cells.append(Self.aurocText(a.first))
                cells.append(a.single ? "–" : Self.aurocText(a.last))
            }
            rows.append(cells)
        }
        return rows
    }

    /// Per SafeCLIP row: the poisoned pairs in the safe set (trained with the CLIP loss) at every
    /// selection, from results.json's `safe_set_poisons`, beside the row's ASR on the first
    /// evaluation set (header first; empty when no row has selections).
    var safeSetTable: [[String]] {
        let rows = inputs.results.rows.filter { $0.safeSetPoisons?.isEmpty == false }
        guard !rows.isEmpty else { return [] }
        let epochs = Array(Set(rows.flatMap { $0.safeSetPoisons!.map(\.epoch) })).sorted()
        let set = inputs.results.config.evaluation.first?.name ?? ""
        var table = [["defence", "poison", "seed"] + epochs.map { "selection for epoch \($0)" } + ["ASR (base rate)"]]
        for r in rows {
            var cells = [ReportSeries.displayName(r.series), Self.amountLabel(r.amount), String(r.seed)]
            for epoch in epochs {
                guard let s = r.safeSetPoisons!.first(where: { $0.epoch == epoch }) else { cells.append("–"); continue }
                let share = s.share.map { String(format: " = %.0f%%", 100 * $0) } ?? ""
                cells.append("\(s.poisonedInSafe)/\(s.poisonedTotal)\(share) (random: \(String(format: "%.0f%%", 100 * Double(s.safeCount) / Double(max(1, s.pairs)))))")
            }
            let e = r.evaluations[set]
            cells.append(e?.asr.map { String(format: "%.1f%%", 100 * $0) + (e?.asrBaseRate.map { String(format: " (%.1f%%)", 100 * $0) } ?? "") } ?? "–")
            table.append(cells)
        }
        return table
    }

    /// Plain-language lines on what each selecting defence caught, against chance, and how well
    /// its score ranks the poisoned pairs.
    var detectionFindings: [Finding] {
        var out: [Finding] = []
        for g in catchGroups {
            let r = g[0].row
            guard g.contains(where: { $0.selections.contains { $0.total > 0 } }) else { continue }
            let name = "\(ReportSeries.displayName(r.series)) at \(Self.amountLabel(r.amount))"
            let verb = g[0].selections.first?.dropped ?? false ? "dropped" : "put in the risky set"
            var line = "\(name): poisoned pairs \(verb) (mean over \(g.count) seed\(g.count == 1 ? "" : "s")) \(Self.caughtText(g))"
            let sim = Self.firstAndLast(g, \.similarity), post = Self.firstAndLast(g, \.posterior)
            if !sim.first.isEmpty {
                line += "; AUROC of the similarity " + Self.aurocText(sim.first) + (sim.single ? "" : " at the first selection, " + Self.aurocText(sim.last) + " at the last")
            }
            if !post.first.isEmpty {
                line += "; of the posterior " + Self.aurocText(post.first) + (post.single ? "" : " → " + Self.aurocText(post.last))
            }
            // The last selection against chance, mean over seeds.
            let lasts = g.compactMap { $0.selections.last }.filter { $0.total > 0 }
            if let caught = Self.mean(lasts.map { Double($0.caught) / Double($0.total) }), let chance = Self.mean(lasts.map { $0.chance / Double($0.total) }) {
                if caught - chance < 0.05 {
                    line += "; \(lasts.allSatisfy { $0.epoch == 0 } ? "" : "at the last selection ")hardly more than a random set of the same size (\(SVGPlot.label((100 * caught * 10).rounded() / 10)) % against \(SVGPlot.label((100 * chance * 10).rounded() / 10)) %)"
                }
            }
            if let group = groups.first(where: { $0.series == r.series && $0.amount == r.amount }), let oracle = facts(group)?.oracle {
                line += ". Its scorer is \(oracle)"
            }
            let scale = sim.first.isEmpty && post.first.isEmpty ? "" : " (AUROC 1 = every poisoned pair ranked more suspicious than every clean one, 0.5 = chance)"
            out.append(Finding(text: line + scale + ".", level: 0))
        }
        return out
    }

    /// Warnings on selections that flagged every pair or none (per row and selection).
    var selectionWarnings: [String] {
        var out: [String] = []
        for g in catchGroups {
            for c in g {
                let bad = c.selections.filter { $0.degenerate != nil }
                guard let first = bad.first else { continue }
                let epochs = bad.map { $0.epoch == 0 ? "before training" : "epoch \($0.epoch)" }.joined(separator: ", ")
                var line = "\(ReportSeries.displayName(c.row.series)) at \(Self.amountLabel(c.row.amount)), seed \(c.row.seed), \(epochs): the selection \(first.degenerate!)"
                if first.total > 0 {
                    line += ", so its \(first.caught)/\(first.total) poisoned pairs caught say nothing about detection (a random set of the same size catches \(SVGPlot.label((first.chance * 10).rounded() / 10)))"
                }
                out.append(line + ".")
            }
        }
        return out
    }
}
