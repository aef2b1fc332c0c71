import Foundation
import Training

/// The leaderboard page: `README.md` (reads on a code forge; coloured squares mark ASR) and a
/// self-contained `index.html` (coloured cells), both rendered from the same ``Leaderboard``.
extension Leaderboard {
    /// Writes `README.md`, `index.html` and the attacks' trigger images (`triggers/`) into `folder`.
    public func write(to folder: String) throws { try Self.write([self], to: folder) }

    /// Writes one page of several boards into `folder`: the first board as the page, each further
    /// one (another experiment, such as the fine-tuning threat model) as a section after it.
    public static func write(_ boards: [Leaderboard], to folder: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder + "/triggers", withIntermediateDirectories: true)
        var parts = boards
        for i in parts.indices { parts[i].part = i }
        var written: Set<String> = []
        for board in parts {
            for (i, attack) in board.attacks.enumerated() {
                guard let image = attack.image, let data = fm.contents(atPath: image) else { continue }
                try data.write(to: URL(fileURLWithPath: folder + "/" + board.triggerFile(i)), options: .atomic)
                written.insert(board.triggerFile(i))
            }
        }
        // A trigger image of an earlier page whose attack is no longer a column (the board's own
        // names only) would be a file no page shows.
        for name in (try? fm.contentsOfDirectory(atPath: folder + "/triggers")) ?? []
        where name.hasSuffix(".png") && name.contains("attack-") && !written.contains("triggers/" + name) {
            try? fm.removeItem(atPath: folder + "/triggers/" + name)
        }
        try parts.map { $0.markdown() }.joined(separator: "\n").write(toFile: folder + "/README.md", atomically: true, encoding: .utf8)
        var html = parts[0].html()
        if parts.count > 1 {
            let rest = parts.dropFirst().map { $0.htmlBody() }.joined()
            html = html.replacingOccurrences(of: "</body></html>\n", with: rest + "</body></html>\n")
        }
        try html.write(toFile: folder + "/index.html", atomically: true, encoding: .utf8)
    }

    /// Every measured cell, attack by attack in the board's column order, defences in row order.
    var orderedCells: [(attack: Attack, cell: Cell)] {
        attacks.flatMap { attack in defenses.compactMap { cell(attack.key, $0).map { (attack, $0) } } }
    }

    /// A section's heading marks: `#` at level 1 on the first board, one deeper on later ones.
    func heading(_ level: Int) -> String { String(repeating: "#", count: level + (part > 0 ? 1 : 0)) }

    /// A section's HTML heading tag (`h1`…`h5`), one deeper on later boards.
    func tag(_ level: Int) -> String { "h\(level + (part > 0 ? 1 : 0))" }

    func triggerFile(_ i: Int) -> String { String(format: "triggers/\(part > 0 ? "part\(part + 1)-" : "")attack-%02d.png", i + 1) }

    func anchor(_ cell: Cell) -> String {
        (part > 0 ? "part\(part + 1)-" : "") + "cell-" + (cell.attack + "-" + cell.defense).map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
    }

    // MARK: Text pieces shared by both renderers

    static func pct(_ x: Double) -> String { String(format: "%.1f", 100 * x) }

    /// `92.6 ± 8.8` (percent) or `0.93 ± 0.04` for DER.
    static func summary(_ f: Figure, percent: Bool = true) -> String {
        percent ? "\(pct(f.mean)) ± \(pct(f.std))" : String(format: "%.2f ± %.2f", f.mean, f.std)
    }

    /// Each seed's value: `85.1 / 100.0 / 92.7`.
    static func perSeed(_ f: Figure, percent: Bool = true) -> String {
        f.values.map { percent ? pct($0) : String(format: "%.2f", $0) }.joined(separator: " / ")
    }

    /// `takes in 2 of 3 seeds` by ``takesAt``.
    static func takes(_ asr: Figure) -> String {
        let n = asr.values.filter { $0 >= takesAt }.count
        return "takes in \(n) of \(asr.values.count) seed\(asr.values.count == 1 ? "" : "s")"
    }

    /// What a cell's metric sheet shows (both renderers).
    static let sheetNote = "Each figure's mean ± sample standard deviation, the half-width of Student's t 95 % interval of the mean, and every seed's value; the wall time is the rows' training and evaluation."

    /// A cell's metric sheet: each figure it has, with its mean ± sample std, Student's t 95 %
    /// interval of the mean (as ± its half-width) and every seed's value.
    func sheet(_ c: Cell) -> [(metric: String, summary: String, interval: String, seeds: String)] {
        var figures: [(String, Figure, Bool)] = []
        if let asr = c.asr { figures.append(("ASR (%)", asr, true)) }
        if let base = c.baseRate { figures.append(("ASR base rate without the trigger (%)", base, true)) }
        if let hit = c.retrievalHit10 { figures.append(("Hit@10 of the attacked queries (%)", hit, true)) }
        if let control = c.retrievalControl10 { figures.append(("Hit@10 of the control queries (%)", control, true)) }
        figures.append(("clean top-1 (%)", c.top1, true))
        if let robust = c.robustAccuracy { figures.append(("robust accuracy (%)", robust, true)) }
        if let der = c.der { figures.append(("DER", der, false)) }
        if let d = c.detection {
            figures.append(("detection AUROC (\(d.score))", d.auroc, false))
            if let tpr = d.tprAt1FPR { figures.append(("detection TPR at 1 % FPR (%)", tpr, true)) }
        }
        return figures.map { name, f, percent in
            let interval = f.halfWidth95.map { percent ? "± \(Self.pct($0))" : String(format: "± %.2f", $0) } ?? "–"
            return (name, Self.summary(f, percent: percent), interval, Self.perSeed(f, percent: percent))
        }
    }

    /// Warnings of a cell: near chance, collapsed.
    func flags(_ cell: Cell) -> [String] {
        var out: [String] = []
        if nearChance(cell) { out.append("near chance") }
        if collapsed(cell) { out.append("collapsed") }
        return out
    }

    /// One paragraph per attack: whether it takes undefended (per seed, with the base rate), the
    /// best defence by DER with its cost, the defences it survives, and what cannot be judged.
    func findings(_ attack: Attack) -> String {
        var parts: [String] = []
        if let none = cell(attack.key, "none"), none.isRetrieval, let hit = none.retrievalHit10 {
            // A retrieval attack: Hit@10 of its targets for the attacked queries, beside the control.
            var s = "Undefended, the attacked queries put a target image in their top 10 (Hit@10) \(Self.perSeed(hit)) %"
            if let control = none.retrievalControl10 { s += " (control queries \(Self.perSeed(control)) %)" }
            s += "; the goal \(Self.takes(hit)) (Hit@10 ≥ 50 %); clean top-1 \(Self.summary(none.top1)) %."
            parts.append(s)
        } else if let none = cell(attack.key, "none"), let asr = none.asr {
            var s = "Undefended, the attack \(Self.takes(asr)) (ASR \(Self.perSeed(asr)) %"
            if let base = none.baseRate { s += "; base rate without the trigger \(Self.perSeed(base)) %" }
            s += "; clean top-1 \(Self.summary(none.top1)) %)."
            if nearChance(none) { s += " The undefended model is near chance, so no defence can be judged on this attack." }
            parts.append(s)
            if !nearChance(none) && asr.values.allSatisfy({ $0 < Self.takesAt }) {
                parts.append("It takes in no seed here, so the defences' ASR below compares nothing; their cost still counts.")
            }
        } else {
            parts.append("No undefended row: DER cannot be computed.")
        }
        let judged = defenses.filter { $0 != "none" }.compactMap { cell(attack.key, $0) }
        if let best = judged.filter({ $0.der != nil && !nearChance($0) && !collapsed($0) }).max(by: { $0.der!.mean < $1.der!.mean }),
            let der = best.der
        {
            var s = "Best defence by DER: \(Self.defenseTitle(best.defense)) (DER \(Self.summary(der, percent: false))"
            if let asr = best.asr { s += ", ASR \(Self.perSeed(asr)) %" }
            if let none = cell(attack.key, "none") {
                s += String(format: ", clean top-1 %+.1f points", 100 * (best.top1.mean - none.top1.mean))
            }
            parts.append(s + ").")
        }
        let survives = judged.filter { c in (c.success?.values.contains { $0 >= Self.takesAt } ?? false) && !nearChance(c) && !collapsed(c) }
        if !survives.isEmpty {
            parts.append(
                (survives.allSatisfy(\.isRetrieval) ? "The attack survives " : "The backdoor survives ") + survives.map { "\(Self.defenseTitle($0.defense)) (\(Self.takes($0.success!)))" }.joined(separator: ", ") + ".")
        }
        let unjudged = judged.filter { nearChance($0) || collapsed($0) }
        if !unjudged.isEmpty {
            parts.append(
                "Not a defence here, whatever its ASR: "
                    + unjudged.map { "\(Self.defenseTitle($0.defense)) (\(flags($0).joined(separator: ", ")), top-1 \(Self.summary($0.top1)) %)" }
                    .joined(separator: ", ") + ".")
        }
        if let detection = detectionFinding(attack) { parts.append(detection) }
        return parts.joined(separator: " ")
    }

    /// Defences with a detection figure in some cell, in board order.
    var rankingDefenses: [String] {
        defenses.filter { d in attacks.contains { cell($0.key, d)?.detection != nil } }
    }

    /// `SafeCLIP: similarity, first selection; detect, drop, train: k-distance`.
    func detectionScores() -> String {
        rankingDefenses.map { d in
            let names = Set(attacks.compactMap { cell($0.key, d)?.detection?.score }).sorted()
            return "\(Self.defenseTitle(d)): \(names.joined(separator: " / "))"
        }.joined(separator: "; ")
    }

    /// The ranking defences' detection AUROC on one attack, best first.
    func detectionFinding(_ attack: Attack) -> String? {
        let measured = rankingDefenses.compactMap { d in cell(attack.key, d)?.detection.map { (d, $0) } }
        guard !measured.isEmpty else { return nil }
        let sorted = measured.sorted { $0.1.auroc.mean > $1.1.auroc.mean }
        return "Ranking the poisoned pairs (AUROC per seed, 0.5 = chance): "
            + sorted.map { "\(Self.defenseTitle($0.0))'s \($0.1.score) \(Self.perSeed($0.1.auroc, percent: false))" }.joined(separator: "; ") + "."
    }

    /// The bottom line: the ranking and how many attacks each defence leaves standing.
    func bottomLine() -> String {
        let ranked = ranking
        guard let first = ranked.first else {
            if !attacks.isEmpty && !attacks.contains(where: takesUndefended) {
                return "No attack takes undefended in any seed here (ASR below \(Self.pct(Self.takesAt)) % everywhere), so no defence is ranked: "
                    + "a DER against a backdoor that is not there measures only the defence's cost, which the clean top-1 table shows."
            }
            return "No defence has a finished row against an undefended baseline yet."
        }
        let names = ranked.map { "\(Self.defenseTitle($0.defense)) \(String(format: "%.2f", $0.der))" }.joined(separator: ", ")
        // Over the attacks that take undefended and were measured against the defence (retrieval
        // attacks included: they have no DER, so the ranking's count may be smaller).
        let surviving = ranked.map { r -> String in
            let measured = attacks.filter { takesUndefended($0) }.compactMap { cell($0.key, r.defense) }
            let n = measured.filter { $0.success?.values.contains { $0 >= Self.takesAt } ?? false }.count
            return "\(Self.defenseTitle(r.defense)) \(n) of \(measured.count)"
        }.joined(separator: ", ")
        let left = attacks.filter { !takesUndefended($0) }.map { Self.attackTitle($0) }
        let leftOut = left.isEmpty ? "" : " (left out, as they take undefended in no seed: \(left.joined(separator: "; ")))"
        return "Mean DER over the attacks that take undefended\(leftOut) (1 removes the backdoor at no cost, 0.5 changes nothing): \(names). "
            + "\(Self.defenseTitle(first.defense)) ranks first. Attacks that still take in at least one seed under each defence: \(surviving)."
    }

    /// The equivalent commands of a cell's rows (data preparation, poisoning, training, evaluation).
    func commands(_ cell: Cell) -> [String] {
        let poison = attacks.first { $0.key == cell.attack }.map { a in "poison-" + (a.poisonVariant.map { "\($0)-" } ?? "") + a.amount } ?? ""
        return results.commands.filter { line in
            line.hasPrefix("clipguard data prepare") || (line.hasPrefix("clipguard poison") && line.contains("/data/\(poison) "))
                || cell.rows.contains { line.contains("/rows/\($0)/") }
        }.map(relativeToWorkingDirectory)
    }

    /// What the board was measured on: rows, time, chance.
    func provenance() -> String {
        let finished = results.rows.filter { $0.status == "finished" }
        let seconds = finished.reduce(0.0) { $0 + ($1.trainingSeconds ?? 0) + ($1.evaluationSeconds ?? 0) }
        let folder = relativeToWorkingDirectory(directory)
        var s = "Command: `clipguard experiment run \(results.configFile) --out \(folder)` then `clipguard report \(folder) --leaderboard OUT`; "
        s += "\(finished.count) of \(results.config.rows.count) rows finished (training and evaluation \(formatDuration(seconds)) in all). "
        s += "Figures on `\(evaluation)`"
        if let chance = chanceTop1 { s += " (\(classCount!) classes: chance top-1 \(Self.pct(chance)) %)" }
        s += "; updated \(results.updated)."
        let clean = finished.filter { $0.poisoned == 0 && $0.defense == .plainCLIP && $0.variant == nil && $0.evaluations[evaluation] != nil }.sorted { $0.seed < $1.seed }
        if !clean.isEmpty {
            let top1 = clean.map { Self.pct($0.evaluations[evaluation]!.top1) }.joined(separator: " / ")
            s += " Clean reference (plain CLIP without poison, seeds \(clean.map { String($0.seed) }.joined(separator: ", "))): top-1 \(top1) %."
        }
        return s
    }

    // MARK: Markdown

    /// The page as Markdown: bottom line, the metric tables, findings per attack, the triggers,
    /// and each cell's metric sheet and commands.
    public func markdown() -> String {
        var md = part > 0 ? "## Part \(part + 1): \(results.name)\n\n" : "# Benchmark: \(results.name)\n\n"
        if let d = results.config.description { md += d + "\n\n" }
        md += "**Bottom line.** " + bottomLine() + "\n\n" + provenance() + "\n\n"
        md += "Each cell: mean ± sample standard deviation over seeds, then each seed's value; 🟥 ASR ≥ 50 %, 🟧 ≥ 10 %, 🟩 below. "
        if cells.values.contains(where: \.isRetrieval) {
            md += "Retrieval attacks (pairing, caption trigger) have no ASR: their cells show text→image Hit@10 of the goal's target images "
            md += "for the attacked queries (mean over goals), and their base-rate cells the control queries' Hit@10. "
        }
        md += "DER = [max(0, ΔASR) − max(0, ΔACC) + 1] / 2 against the same seed's undefended model (BackdoorBench, sign-correct). "
        md += "⚠ marks a model near chance or collapsed (top-1 below half the undefended model's): its ASR proves nothing.\n\n"
        let header = "| defence | " + attacks.map { Self.attackTitle($0) }.joined(separator: " | ") + " |\n"
            + "| --- |" + String(repeating: " --- |", count: attacks.count) + "\n"
        func table(_ title: String, _ value: (Cell) -> Figure?, percent: Bool, mark: Bool, rows: [String]? = nil, note: String = "") {
            md += "\(heading(2)) \(title)\n\n" + note + header
            for defense in rows ?? defenses {
                md += "| \(Self.defenseTitle(defense)) |"
                for attack in attacks {
                    guard let c = cell(attack.key, defense), let f = value(c) else {
                        md += " — |"
                        continue
                    }
                    let square = mark ? (f.mean >= Self.takesAt ? "🟥 " : f.mean >= 0.1 ? "🟧 " : "🟩 ") : ""
                    let warn = flags(c).isEmpty ? "" : " ⚠"
                    md += " \(square)[\(Self.summary(f, percent: percent))](#\(anchor(c)))\(warn)<br><sub>\(Self.perSeed(f, percent: percent))</sub> |"
                }
                md += "\n"
            }
            md += "\n"
        }
        table("Attack success rate (%)" + (cells.values.contains(where: \.isRetrieval) ? " · retrieval attacks: Hit@10 (%)" : ""),
              { $0.success }, percent: true, mark: true)
        table("Clean top-1 (%)", { $0.top1 }, percent: true, mark: false)
        table("DER", { $0.der }, percent: false, mark: false)
        table("ASR base rate without the trigger (%)" + (cells.values.contains(where: \.isRetrieval) ? " · retrieval attacks: control Hit@10 (%)" : ""),
              { $0.successBase }, percent: true, mark: false)
        table("Robust accuracy (%)", { $0.robustAccuracy }, percent: true, mark: false)
        if !rankingDefenses.isEmpty {
            let note = "How well each pair-ranking defence's own score ranks the poisoned pairs (against the manifest; 0.5 = chance): "
                + detectionScores() + ".\n\n"
            table("Detection AUROC of the defence's score", { $0.detection?.auroc }, percent: false, mark: false, rows: rankingDefenses, note: note)
            table("Detection TPR at 1 % FPR (%)", { $0.detection?.tprAt1FPR }, percent: true, mark: false, rows: rankingDefenses)
        }
        md += "\(heading(2)) Defences ranked by mean DER\n\nOver the attacks that take undefended in at least one seed.\n\n| rank | defence | mean DER | attacks |\n| --- | --- | --- | --- |\n"
        for (i, r) in ranking.enumerated() {
            md += "| \(i + 1) | \(Self.defenseTitle(r.defense)) | \(String(format: "%.3f", r.der)) | \(r.attacks) |\n"
        }
        md += "\n\(heading(2)) Findings per attack\n\n"
        for (i, attack) in attacks.enumerated() {
            md += "\(heading(3)) \(Self.attackTitle(attack))\n\n"
            if attack.image != nil { md += "<img src=\"\(triggerFile(i))\" width=\"128\" alt=\"a poisoned training image\">\n\n" }
            if let d = attack.description { md += d + "\n\n" }
            md += "\(attack.poisoned) poisoned of \(attack.trainingPairs) training pairs. " + findings(attack) + "\n\n"
        }
        md += "\(heading(2)) Each cell: metric sheet and commands\n\n" + Self.sheetNote + " "
        md += "Running a cell's commands reproduces its numbers (seeds repeat bit for bit on the same machine and libtorch).\n\n"
        for (attack, c) in orderedCells {
            md += "<a id=\"\(anchor(c))\"></a>\n**\(Self.attackTitle(attack)) × \(Self.defenseTitle(c.defense))** "
            md += "(\(c.rows.count) seeds, \(formatDuration(c.seconds)))\n\n| metric | mean ± std | 95 % interval | per seed |\n| --- | --- | --- | --- |\n"
            for r in sheet(c) { md += "| \(r.metric) | \(r.summary) | \(r.interval) | \(r.seeds) |\n" }
            md += "\n```sh\n" + commands(c).joined(separator: "\n") + "\n```\n\n"
        }
        return md
    }

    // MARK: HTML

    /// The page as self-contained HTML with coloured cells (ASR red → green; DER green → red).
    public func html() -> String {
        var h = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Benchmark: \(Self.escape(results.name))</title><style>"
        h += "body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;color:#222}"
        h += "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:center;font-size:13px}"
        h += "td small{color:#444}img.trigger{width:128px;image-rendering:pixelated;border:1px solid #999}pre{background:#f4f4f4;padding:6px;overflow-x:auto}"
        h += "</style></head><body>\n"
        return h + htmlBody() + "</body></html>\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// The board's HTML without the page around it (headings one level deeper on later boards).
    func htmlBody() -> String {
        func e(_ s: String) -> String { Self.escape(s) }
        /// Background from green (0) to red (1).
        func shade(_ x: Double) -> String {
            let t = min(1, max(0, x))
            return String(format: "#%02X%02X%02X", Int(230 * t + 200 * (1 - t)), Int(150 * t + 235 * (1 - t)), Int(150 * t + 200 * (1 - t)))
        }
        var h = ""
        h += part > 0 ? "<\(tag(1))>Part \(part + 1): \(e(results.name))</\(tag(1))>\n" : "<h1>Benchmark: \(e(results.name))</h1>\n"
        if let d = results.config.description { h += "<p>\(e(d))</p>\n" }
        h += "<p><b>Bottom line.</b> \(e(bottomLine()))</p>\n<p>\(e(provenance()))</p>\n"
        func table(_ title: String, _ value: (Cell) -> Figure?, percent: Bool, colour: ((Figure) -> Double)?, rows: [String]? = nil, note: String = "") {
            h += "<\(tag(2))>\(e(title))</\(tag(2))>" + (note.isEmpty ? "" : "<p>\(e(note))</p>")
            h += "<table><tr><th>defence</th>" + attacks.map { "<th>\(e(Self.attackTitle($0)))</th>" }.joined() + "</tr>\n"
            for defense in rows ?? defenses {
                h += "<tr><th>\(e(Self.defenseTitle(defense)))</th>"
                for attack in attacks {
                    guard let c = cell(attack.key, defense), let f = value(c) else {
                        h += "<td>—</td>"
                        continue
                    }
                    let style = colour.map { " style=\"background:\(shade($0(f)))\"" } ?? ""
                    let warn = flags(c).isEmpty ? "" : " ⚠ " + flags(c).joined(separator: ", ")
                    h += "<td\(style)><a href=\"#\(anchor(c))\">\(Self.summary(f, percent: percent))</a>\(e(warn))<br><small>\(Self.perSeed(f, percent: percent))</small></td>"
                }
                h += "</tr>\n"
            }
            h += "</table>\n"
        }
        table("Attack success rate (%)" + (cells.values.contains(where: \.isRetrieval) ? " · retrieval attacks: Hit@10 (%)" : ""),
              { $0.success }, percent: true, colour: { $0.mean })
        table("Clean top-1 (%)", { $0.top1 }, percent: true, colour: nil)
        table("DER", { $0.der }, percent: false, colour: { 1 - $0.mean })
        table("ASR base rate without the trigger (%)" + (cells.values.contains(where: \.isRetrieval) ? " · retrieval attacks: control Hit@10 (%)" : ""),
              { $0.successBase }, percent: true, colour: nil)
        table("Robust accuracy (%)", { $0.robustAccuracy }, percent: true, colour: nil)
        if !rankingDefenses.isEmpty {
            let note = "How well each pair-ranking defence's own score ranks the poisoned pairs (against the manifest; 0.5 = chance): "
                + detectionScores() + "."
            table("Detection AUROC of the defence's score", { $0.detection?.auroc }, percent: false, colour: { 1 - $0.mean }, rows: rankingDefenses, note: note)
            table("Detection TPR at 1 % FPR (%)", { $0.detection?.tprAt1FPR }, percent: true, colour: nil, rows: rankingDefenses)
        }
        h += "<\(tag(2))>Defences ranked by mean DER</\(tag(2))><ol>"
        for r in ranking { h += "<li>\(e(Self.defenseTitle(r.defense))): \(String(format: "%.3f", r.der)) over \(r.attacks) attacks</li>" }
        h += "</ol>\n<\(tag(2))>Findings per attack</\(tag(2))>\n"
        for (i, attack) in attacks.enumerated() {
            h += "<\(tag(3))>\(e(Self.attackTitle(attack)))</\(tag(3))>"
            if attack.image != nil { h += "<img class=\"trigger\" src=\"\(triggerFile(i))\" alt=\"a poisoned training image\">" }
            if let d = attack.description { h += "<p>\(e(d))</p>" }
            h += "<p>\(attack.poisoned) poisoned of \(attack.trainingPairs) training pairs. \(e(findings(attack)))</p>\n"
        }
        h += "<\(tag(2))>Each cell: metric sheet and commands</\(tag(2))>\n"
        h += "<p>\(e(Self.sheetNote))</p>\n"
        for (attack, c) in orderedCells {
            h += "<\(tag(4)) id=\"\(anchor(c))\">\(e(Self.attackTitle(attack))) × \(e(Self.defenseTitle(c.defense))) (\(c.rows.count) seeds, \(formatDuration(c.seconds)))</\(tag(4))>"
            h += "<table><tr><th>metric</th><th>mean ± std</th><th>95 % interval</th><th>per seed</th></tr>"
            for r in sheet(c) { h += "<tr><td>\(e(r.metric))</td><td>\(r.summary)</td><td>\(r.interval)</td><td>\(r.seeds)</td></tr>" }
            h += "</table><pre>\(e(commands(c).joined(separator: "\n")))</pre>\n"
        }
        return h
    }
}
