import Foundation
import Training

/// The report's words: the bottom line, the warnings, the findings and the tables, all derived
/// from the groups' numbers and facts.
extension ReportModel {
    func pct(_ v: Double) -> String { String(format: "%.1f %%", 100 * v) }

    /// `a cost of 23.5 points` for a top-1 drop `cost` (a fraction), `a gain of …` for a rise.
    func costPhrase(_ cost: Double) -> String {
        cost >= 0 ? String(format: "a cost of %.1f points", 100 * cost) : String(format: "a gain of %.1f points", -100 * cost)
    }

    /// `16.5 % (seeds 10.1 / 17.0 / 22.4)` or `16.5 %` for one seed.
    func valueWithSeeds(_ values: [Double]) -> String {
        guard let m = Self.mean(values) else { return "–" }
        return values.count > 1 ? pct(m) + " (seeds " + perSeed(values) + ")" : pct(m)
    }

    /// The plain CLIP groups with an ASR verdict whose models learnt more than chance, in order.
    var baselineGroups: [(group: ReportGroup, verdict: BackdoorVerdict)] {
        groups.compactMap { g in
            guard traits(g).isBaseline, let f = facts(g), !f.atChance, let v = f.verdict else { return nil }
            return (g, v)
        }
    }

    /// Why a group's numbers are no evidence about its defence (oracle scorer, collapsed model).
    func caveat(_ g: ReportGroup) -> String? {
        guard let f = facts(g) else { return nil }
        if f.atChance {
            return "its model is at chance level (clean top-1 \(valueWithSeeds(g.top1(asrSet ?? firstSet))), \(chanceNote)): it collapsed, so its ASR is no evidence that the defence works"
        }
        if let oracle = f.oracle { return "its scorer is \(oracle)" }
        return nil
    }

    // MARK: Bottom line

    /// What the experiment shows, in a few sentences derived from the verdicts.
    var bottomLine: [String] {
        guard asrSet != nil else {
            return ["No evaluation set measures an ASR, so this report shows clean accuracy only."]
        }
        var out: [String] = []
        let baselines = baselineGroups
        if baselines.isEmpty {
            let finished = groups.filter(\.isFinished)
            if !finished.isEmpty, finished.allSatisfy({ $0.poisoned == 0 }) {
                return out + [noPoisonSentence] + evidenceCaveats + warningSentence
            }
            let atChance = groups.contains { traits($0).isBaseline && facts($0)?.atChance == true }
            out.append(atChance
                ? "Plain CLIP stays at chance level (\(chanceNote)) in every row, so this experiment shows nothing about the backdoor or the defences."
                : "The experiment has no finished plain CLIP rows with an ASR, so whether the backdoor takes is not measured; the table lists each defence's numbers on their own.")
            return out + warningSentence
        }
        // Where the backdoor takes, per attack.
        for attack in uniqued(baselines.map { attackVariant($0.group.variant) ?? "" }) {
            let rows = baselines.filter { (attackVariant($0.group.variant) ?? "") == attack }
            func amounts(_ rows: [(group: ReportGroup, verdict: BackdoorVerdict)], counts: Bool) -> String {
                rows.map { r in
                    let v = r.verdict
                    var count: [String] = []
                    if v.takes > 0 { count.append("takes in \(v.takes) of \(v.outcomes.count)") }
                    if v.partly > 0 { count.append("partly in \(v.partly)" + (v.takes > 0 ? "" : " of \(v.outcomes.count)")) }
                    return Self.amountLabel(r.group.amount) + (counts ? " (" + count.joined(separator: ", ") + ")" : "")
                }.joined(separator: ", ")
            }
            let all = rows.filter { $0.verdict.takes == $0.verdict.outcomes.count }
            let some = rows.filter { $0.verdict.takes + $0.verdict.partly > 0 && $0.verdict.takes < $0.verdict.outcomes.count }
            let none = rows.filter { $0.verdict.takes + $0.verdict.partly == 0 }
            var parts: [String] = []
            if !all.isEmpty { parts.append("in every seed at " + amounts(all, counts: false)) }
            if !some.isEmpty { parts.append("partly or in some seeds at " + amounts(some, counts: true)) }
            if !none.isEmpty { parts.append("in no seed at " + amounts(none, counts: false)) }
            let base = rows.compactMap(\.verdict.baseRate), without = rows.compactMap(\.verdict.withoutPoison)
            let who = attack.isEmpty ? "For plain CLIP" : "With the attack of variant \(attack), for plain CLIP"
            var reference = [base.isEmpty ? "base rate not measured" : "ASR base rate \(pct(Self.mean(base)!))"]
            if let w = without.max() { reference.append("ASR without poison up to \(pct(w))") }
            out.append("\(who) the backdoor takes " + parts.joined(separator: "; ") + " (" + reference.joined(separator: ", ") + ").")
        }
        // The defences where it takes most.
        let taking = baselines.filter { $0.verdict.takes > 0 }
        if let strongest = taking.max(by: { ($0.verdict.takes, $0.verdict.partly, $0.group.rate ?? 0) < ($1.verdict.takes, $1.verdict.partly, $1.group.rate ?? 0) }) {
            let clipASR = Self.mean(strongest.verdict.asr) ?? 0
            let clipTop1 = Self.mean(strongest.group.top1(asrSet!)) ?? 0
            let defended = groups.filter { baseline(of: $0)?.series == strongest.group.series && baseline(of: $0)?.amount == strongest.group.amount }
            let honest = defended.filter { caveat($0) == nil && facts($0)?.verdict != nil }
                .sorted { (Self.mean($0.asr(asrSet!)) ?? 1) < (Self.mean($1.asr(asrSet!)) ?? 1) }
            let shown = honest.prefix(4).map { g -> String in
                let v = facts(g)!.verdict!
                let cost = clipTop1 - (Self.mean(g.top1(asrSet!)) ?? 0)
                return "\(name(g)) has ASR \(pct(Self.mean(v.asr) ?? 0)) (takes in \(v.takes) of \(v.outcomes.count) seeds\(v.atChance > 0 ? ", \(v.atChance) at chance level" : "")) at "
                    + costPhrase(cost) + " of clean top-1"
            }
            let at = "At \(Self.amountLabel(strongest.group.amount))" + (attackVariant(strongest.group.variant).map { " (attack of variant \($0))" } ?? "")
            if defended.isEmpty {
                // Only plain CLIP was trained (a study of the attack or of a detector): nothing to rank.
                out.append("\(at), where CLIP's ASR is \(pct(clipASR)), no defence is part of this experiment.")
            } else if shown.isEmpty {
                out.append("\(at), where CLIP's ASR is \(pct(clipASR)), no defence was run whose model learnt and whose scorer is not an oracle.")
            } else {
                out.append("\(at), where CLIP's ASR is \(pct(clipASR)), " + shown.joined(separator: "; ") + (honest.count > 4 ? "; \(honest.count - 4) more in the findings." : "."))
            }
        } else {
            let costs = groups.filter { baseline(of: $0) != nil && caveat($0) == nil }.compactMap { g -> (String, Double)? in
                guard let b = baseline(of: g), let t = Self.mean(g.top1(asrSet!)), let bt = Self.mean(b.top1(asrSet!)) else { return nil }
                return (name(g), bt - t)
            }
            let partial = baselines.filter { $0.verdict.partly > 0 }.map { "in \($0.verdict.partly) of \($0.verdict.outcomes.count) seeds at \(Self.amountLabel($0.group.amount))" }
            var s = partial.isEmpty
                ? "So this experiment cannot show whether a defence removes the backdoor; it measures only what each defence costs in clean accuracy"
                : "The backdoor takes (ASR ≥ \(Int(100 * BackdoorVerdict.takesAt)) %) in no seed at any amount for plain CLIP (at most partly: "
                    + partial.joined(separator: ", ") + "), so this experiment cannot show whether a defence removes it; it measures only what each defence costs in clean accuracy"
            if let worst = costs.max(by: { $0.1 < $1.1 }), worst.1 > 0 {
                s += String(format: " (most: %@, %.1f points)", worst.0, 100 * worst.1)
            }
            out.append(s + ".")
        }
        return out + evidenceCaveats + warningSentence
    }

    /// The bottom line of an experiment without poison: what each defence costs in clean top-1
    /// against plain CLIP on the same data, every seed's value beside it.
    var noPoisonSentence: String {
        let set = asrSet ?? firstSet
        let costs = groups.compactMap { g -> String? in
            guard let b = baseline(of: g), caveat(g) == nil, let t = Self.mean(g.top1(set)), let bt = Self.mean(b.top1(set)) else { return nil }
            let cost = bt - t
            return "\(name(g)) \(valueWithSeeds(g.top1(set))) against \(name(b)) at \(pct(bt)), "
                + costPhrase(cost)
        }
        return "No row is poisoned, so this experiment measures no backdoor, only what each defence costs in clean top-1 against plain CLIP on the same data"
            + (costs.isEmpty ? " (no defended row finished with a model above chance)." : ": " + costs.joined(separator: "; ") + ".")
    }

    /// One sentence naming the numbers that are no evidence of a defence (collapsed models,
    /// oracle scorers); empty when there are none.
    var evidenceCaveats: [String] {
        var caveats: [String] = []
        for g in groups where !traits(g).isBaseline {
            guard let f = facts(g) else { continue }
            let label = name(g)
            if f.atChance, !caveats.contains(where: { $0.hasPrefix(label + " ") }) {
                caveats.append("\(label) collapsed to chance level (clean top-1 \(pct(Self.mean(g.top1(asrSet ?? firstSet)) ?? 0)) at \(Self.amountLabel(g.amount)))")
            } else if f.oracle != nil, !caveats.contains(where: { $0.hasPrefix(label + " ") }) {
                caveats.append("\(label) scores with an oracle model")
            }
        }
        return caveats.isEmpty ? [] : ["Not evidence of a defence: " + caveats.joined(separator: "; ") + "."]
    }

    var warningSentence: [String] {
        let n = warnings.count
        return n == 0 ? [] : ["\(n) warning\(n == 1 ? "" : "s") below qualif\(n == 1 ? "ies" : "y") these numbers."]
    }

    // MARK: Warnings

    /// What a reader must know before trusting a number: models near chance, selections that
    /// flagged every pair or none, unreadable metrics lines, unfinished rows.
    var warnings: [String] {
        var out: [String] = []
        for (g, f) in zip(groups, facts) where f.nearChanceSeeds > 0 {
            let top1 = g.top1(asrSet ?? firstSet)
            out.append(
                "\(name(g)) at \(Self.amountLabel(g.amount)): \(f.nearChanceSeeds) of \(top1.count) seed\(top1.count == 1 ? "" : "s") under twice the chance level (clean top-1 \(valueWithSeeds(top1)); \(chanceNote))"
                    + (f.atChance ? ": the model learnt little, and no finding is stated about it." : ": those seeds' ASR says little."))
        }
        out += selectionWarnings
        for row in results.rows where row.status == "finished" {
            let bad = inputs.metrics(row).unreadableLines
            if !bad.isEmpty {
                out.append("Row \(row.id): \(bad.count) line\(bad.count == 1 ? "" : "s") of metrics.jsonl could not be read as the trainer's records (line\(bad.count == 1 ? "" : "s") \(bad.prefix(5).map(String.init).joined(separator: ", "))\(bad.count > 5 ? ", …" : "")); its curves leave them out.")
            }
        }
        let unfinished = results.rows.filter { $0.status != "finished" }
        if !unfinished.isEmpty {
            out.append("\(unfinished.count) row\(unfinished.count == 1 ? "" : "s") did not finish: " + unfinished.map { "\($0.id) (\($0.reason ?? $0.status))" }.joined(separator: ", ") + ".")
        }
        let missing = results.config.rows.count - results.rows.count
        if missing > 0 { out.append("\(missing) of the file's \(results.config.rows.count) rows have not run yet.") }
        out += recordedWarnings  // the runner's (ReportWriter+Warnings.swift)
        return out
    }

    // MARK: Findings

    /// Plain-language findings: per poison amount, whether the backdoor took for plain CLIP (per
    /// seed, against the base rate) and what each defence changed and cost; then what the
    /// selecting defences caught. Nothing is said about a model at chance but that it is.
    var findings: [Finding] {
        guard let set = asrSet else { return [] }
        var out: [Finding] = []
        var compared = Set<String>()
        for g in groups where traits(g).isBaseline && g.isFinished {
            guard let f = facts(g) else { continue }
            let attack = attackVariant(g.variant)
            let head = "At \(Self.amountLabel(g.amount)) poison (\(g.poisoned) pair\(g.poisoned == 1 ? "" : "s")\(attack.map { ", attack of variant \($0)" } ?? ""))"
            let top1 = g.top1(set)
            if f.atChance {
                out.append(Finding(text: "\(head): \(name(g)) is at chance level (clean top-1 \(valueWithSeeds(top1)); \(chanceNote)), so nothing is stated about the backdoor or the defences at this amount.", level: 0))
                for d in groups where baseline(of: d)?.series == g.series && baseline(of: d)?.amount == g.amount { compared.insert(d.series + "|" + d.amount) }
                continue
            }
            let clipTop1 = Self.mean(top1) ?? 0
            if g.poisoned == 0 {
                let base = Self.mean(g.values(set) { $0.asrBaseRate })
                out.append(Finding(
                    text: "\(head): no poison, so no backdoor: \(name(g))'s ASR of \(valueWithSeeds(g.asr(set))) is what the trigger alone does to a model without one (\(base.map { "base rate without the trigger " + pct($0) } ?? "base rate not measured")); clean top-1 \(pct(clipTop1)).",
                    level: 0))
            } else if let v = f.verdict {
                out.append(Finding(text: "\(head): for \(name(g)) the backdoor \(v.sentence); clean top-1 \(pct(clipTop1)).", level: 0))
            } else {
                continue
            }
            for d in groups where d.isFinished && baseline(of: d)?.series == g.series && baseline(of: d)?.amount == g.amount {
                compared.insert(d.series + "|" + d.amount)
                out.append(Finding(text: defenceSentence(d, against: g, verdict: f.verdict, clipTop1: clipTop1), level: 1))
            }
        }
        // Groups without plain CLIP rows to compare with.
        for g in groups where g.isFinished && !traits(g).isBaseline && !compared.contains(g.series + "|" + g.amount) {
            guard let f = facts(g) else { continue }
            var text = "\(name(g)) at \(Self.amountLabel(g.amount)) (no plain CLIP rows to compare with): "
            if let c = caveat(g) {
                text += c + "."
            } else if let v = f.verdict {
                text += "the backdoor \(v.sentence); clean top-1 \(pct(Self.mean(g.top1(set)) ?? 0))."
            } else {
                text += "clean top-1 \(pct(Self.mean(g.top1(set)) ?? 0))."
            }
            out.append(Finding(text: text, level: 0))
        }
        out += detectionFindings
        if !out.isEmpty {
            out.append(Finding(
                text: "How to read the verdicts: a seed's backdoor takes when its ASR is at least \(Int(100 * BackdoorVerdict.takesAt)) %, and partly takes when its ASR is at least \(Int(100 * BackdoorVerdict.partlyAt)) % and more than three binomial standard errors above both the base rate (how often the model calls a non-target image the target without the trigger) and the highest ASR of the rows without poison (the trigger's own effect). A seed or model under twice the chance level (\(chanceNote.isEmpty ? "chance unknown" : chanceNote)) is said to be at chance and nothing else is stated about it.",
                level: 0))
        }
        return out
    }

    /// A defence against plain CLIP at the same amount (`v`: CLIP's verdict, nil without poison).
    func defenceSentence(_ d: ReportGroup, against g: ReportGroup, verdict v: BackdoorVerdict?, clipTop1: Double) -> String {
        guard let set = asrSet, let f = facts(d) else { return name(d) }
        let t = Self.mean(d.top1(set)) ?? 0
        let cost = String(format: "clean top-1 %.1f %% (CLIP %.1f %%: %@ %.1f points)", 100 * t, 100 * clipTop1, t <= clipTop1 ? "costs" : "gains", 100 * abs(t - clipTop1))
        if f.atChance { return "\(name(d)): \(caveat(d)!)." }
        var s = "\(name(d)): "
        if v == nil {
            s += "no poison here; ASR \(valueWithSeeds(d.asr(set))); \(cost)."
        } else if let v, v.takes + v.partly == 0 {
            s += "no backdoor to remove here (it does not take for CLIP); ASR \(valueWithSeeds(d.asr(set))); \(cost)."
        } else if let v, let dv = f.verdict {
            s += "the backdoor \(dv.sentence) against CLIP's \(v.takes + v.partly) of \(v.outcomes.count); \(cost)."
        } else {
            s += "\(cost)."
        }
        if let oracle = f.oracle { s += " Not evidence of a defence: its scorer is \(oracle)." }
        if f.nearChanceSeeds > 0 { s += " ⚠ \(f.nearChanceSeeds) of \(d.finished.count) seeds near chance." }
        return s
    }

    // MARK: Tables

    /// The results table as rows of cells (header first).
    var table: [[String]] {
        let sets = results.config.evaluation
        var header = ["defence", "poison", "poisoned pairs", "seeds"]
        for s in sets {
            header.append("\(s.name) top-1 %")
            if s.asr { header.append("\(s.name) ASR %") }
            if s.name == asrSet { header += ["ASR base rate %", "backdoor takes in"] }
        }
        header.append("train time")
        var rows = [header]
        for g in groups {
            var cells = [name(g), Self.amountLabel(g.amount), String(g.poisoned), String(g.rows.count)]
            guard g.isFinished else {
                cells.append(contentsOf: Array(repeating: "not run", count: header.count - cells.count - 1))
                rows.append(cells + ["–"])
                continue
            }
            let f = facts(g)
            for s in sets {
                var top1 = Self.percent(g.top1(s.name))
                if s.name == (asrSet ?? firstSet), let f, f.nearChanceSeeds > 0 { top1 += f.atChance ? " ⚠ at chance" : " ⚠ \(f.nearChanceSeeds) seed(s) near chance" }
                cells.append(top1)
                guard s.asr else { continue }
                let hits = g.values(s.name) { $0.retrieval?.hitAt10 }
                if g.asr(s.name).isEmpty && !hits.isEmpty {
                    // A retrieval attack: Hit@10 where a backdoor has ASR, the control's Hit@10 as its base rate.
                    cells.append("Hit@10 " + Self.percent(hits) + " (seeds " + perSeed(hits) + ")")
                    if s.name == asrSet {
                        cells.append("control Hit@10 " + (Self.mean(g.values(s.name) { $0.retrieval?.controlHitAt10 }).map { String(format: "%.2f", 100 * $0) } ?? "–"))
                        cells.append(g.poisoned == 0 ? "no poison" : "\(hits.filter { $0 >= 0.5 }.count) of \(hits.count) (Hit@10 ≥ 50 %)")
                    }
                    continue
                }
                var asr = Self.percent(g.asr(s.name))
                if s.name == asrSet, let v = f?.verdict, v.mixed { asr += " (seeds " + perSeed(v.asr) + ")" }
                cells.append(asr)
                if s.name == asrSet {
                    cells.append(Self.mean(g.values(s.name) { $0.asrBaseRate }).map { String(format: "%.2f", 100 * $0) } ?? "–")
                    if g.poisoned == 0 {
                        cells.append("no poison")
                    } else {
                        cells.append(f?.verdict.map { v in "\(v.takes) of \(v.outcomes.count)" + (v.partly > 0 ? ", partly \(v.partly)" : "") } ?? "–")
                    }
                }
            }
            let seconds = g.finished.compactMap(\.trainingSeconds)
            cells.append(Self.mean(seconds).map { formatDuration($0) } ?? "–")
            rows.append(cells)
        }
        return rows
    }

    /// The table as plain text for a terminal.
    var textTable: String {
        let t = table
        let widths = (0..<t[0].count).map { c in t.map { $0[c].count }.max() ?? 0 }
        return t.enumerated().map { i, row in
            let line = row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
            return i == 0 ? line + "\n" + String(repeating: "-", count: line.count) : line
        }.joined(separator: "\n")
    }

    /// One line per row (header first).
    var rowTable: [[String]] {
        var rows = [["row", "status", "steps", "final loss", "train time", "eval time"] + results.config.evaluation.flatMap { [$0.name + " top-1 %", $0.name + " ASR (hits/n)", $0.name + " base rate (hits/n)"] }]
        for r in results.rows {
            var cells = [
                r.id, r.status == "finished" ? "finished" : (r.reason ?? r.status), r.steps.map(String.init) ?? "–",
                r.finalLoss.map { String(format: "%.4f", $0) } ?? "–", r.trainingSeconds.map { formatDuration($0) } ?? "–",
                r.evaluationSeconds.map { formatDuration($0) } ?? "–",
            ]
            for e in results.config.evaluation {
                let v = r.evaluations[e.name]
                cells.append(v.map { String(format: "%.2f", 100 * $0.top1) } ?? "–")
                if let v, let a = v.asr {
                    cells.append(String(format: "%.2f (%d/%d)", 100 * a, v.asrSuccesses ?? 0, v.asrDenominator ?? 0))
                } else {
                    cells.append("–")
                }
                if let v, let b = v.asrBaseRate {
                    cells.append(String(format: "%.2f (%d/%d)", 100 * b, v.asrBaseSuccesses ?? 0, v.asrDenominator ?? 0))
                } else {
                    cells.append("–")
                }
            }
            rows.append(cells)
        }
        return rows
    }
}
