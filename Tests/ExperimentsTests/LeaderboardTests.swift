import Evaluation
import Foundation
import TestSupport
import Testing
@testable import Experiments

/// The attack × defence leaderboard on a results folder made by hand: the file's patch attack and
/// a blended variant, each against CLIP and SafeCLIP, plus CleanCLIP with its own epochs (a
/// variant that keeps the file's attack), three seeds each.
@Suite struct LeaderboardTests {
    static let yaml = """
        name: board
        description: A hand-made benchmark.
        data: {builtin: fashion-mnist, limit: 100, eval_limit: 50}
        attack: {target: sneaker, trigger: patch, rate: 0.02, captions: natural, image_size: 32, patch_size: "22%"}
        defenses: [none, safeclip]
        model: micro-vit
        training: {epochs: 4, batch_size: 16, lr: 0.001, unimodal_epochs: 1, clip_warmup_epochs: 1}
        evaluation: [{name: test, path: builtin}]
        seeds: [1, 2, 3]
        variants:
          - {name: blended, attack: {trigger: blended, blend_weight: 0.2}}
          - {name: 2-epochs, defenses: [cleanclip], training: {epochs: 2}}
        """

    /// ASR and top-1 per (variant, defence, seed): the patch takes in every seed undefended,
    /// SafeCLIP removes it at a cost, CleanCLIP leaves it in seed 3; the blended attack takes in
    /// one seed only, and SafeCLIP's blended model is at chance.
    static func figures(_ plan: RowPlan) -> (top1: Double, asr: Double) {
        let s = Int(plan.seed)
        switch (plan.poisonVariant ?? "file", plan.defense.name) {
        case ("file", "none"): return ([0.80, 0.82, 0.84][s - 1], [0.90, 0.95, 1.00][s - 1])
        case ("file", "safeclip"): return ([0.60, 0.62, 0.64][s - 1], [0.02, 0.04, 0.06][s - 1])
        case ("file", "cleanclip"): return ([0.79, 0.81, 0.83][s - 1], [0.10, 0.20, 0.70][s - 1])
        case ("blended", "none"): return ([0.80, 0.80, 0.80][s - 1], [0.05, 0.60, 0.05][s - 1])
        default: return ([0.10, 0.11, 0.12][s - 1], [0.0, 0.0, 0.0][s - 1])
        }
    }

    static func make() throws -> (Leaderboard, ExperimentConfig) {
        let config = try ExperimentConfig.decode(yaml, file: "board.yaml")
        let rows = config.rows.map { plan -> RowResult in
            let f = figures(plan)
            return RowResult(
                id: plan.id, defense: plan.defense, seed: plan.seed, amount: plan.amount.tag, variant: plan.variant, rate: 0.02, poisoned: 2,
                trainingPairs: 100, status: "finished", reason: nil, steps: 10, finalLoss: 1, trainingSeconds: 60, evaluationSeconds: 5,
                evaluations: [
                    "test": SetResult(
                        top1: f.top1, top5: 0.99, n: 50, asr: f.asr, asrDenominator: 45, asrSuccesses: Int(f.asr * 45), triggeredTop1: nil,
                        asrBaseRate: 0.01, robustAccuracy: 1 - f.asr)
                ])
        }
        let commands = [
            "clipguard data prepare fashion-mnist --out R/data/clean --seed 0",
            "clipguard poison --data R/data/clean/train.csv --out R/data/poison-rate0.02 --target sneaker --trigger patch",
            "clipguard poison --data R/data/clean/train.csv --out R/data/poison-blended-rate0.02 --target sneaker --trigger blended",
        ] + rows.map { "clipguard train --data x --out R/rows/\($0.id)/run" }
        let results = ExperimentResults(
            name: "board", configFile: "board.yaml", config: config, commands: commands, trainCSV: "train.csv", evaluationSets: ["test": "eval"],
            poisonedSets: [], rows: rows, updated: "2026-12-07T00:00:00Z")
        return (Leaderboard(directory: "R", results: results, classCount: 10), config)
    }

    @Test func cellsGroupAttacksAndDefencesWithEverySeed() throws {
        let (board, _) = try Self.make()
        #expect(board.attacks.map(\.variant) == [nil, "blended"])
        #expect(board.defenses == ["none", "safeclip", "cleanclip@2-epochs"])
        let patch = board.attacks[0].key, blended = board.attacks[1].key
        let safe = try #require(board.cell(patch, "safeclip"))
        #expect(safe.top1.seeds == [1, 2, 3])
        expectClose(safe.top1.values, [0.60, 0.62, 0.64], atol: 1e-12)
        expectClose(try #require(safe.asr).values, [0.02, 0.04, 0.06], atol: 1e-12)
        expectClose(try #require(safe.robustAccuracy).values, [0.98, 0.96, 0.94], atol: 1e-12)
        // CleanCLIP keeps the file's attack: it is a defence of the patch column, not an attack of its own.
        #expect(board.cell(patch, "cleanclip@2-epochs") != nil && board.cell(blended, "cleanclip@2-epochs") == nil)
        // Mean, sample std and Student's t interval of the three seeds.
        let halfWidth = try #require(safe.top1.halfWidth95)
        expectClose([safe.top1.mean, safe.top1.std, halfWidth], [0.62, 0.02, 4.303 * 0.02 / 3.0.squareRoot()], atol: 1e-9)
    }

    @Test func derIsBackdoorBenchsSignCorrectFormAgainstTheSameSeed() throws {
        #expect(Leaderboard.der(asrBefore: 1, asrAfter: 0, accuracyBefore: 0.8, accuracyAfter: 0.8) == 1)
        #expect(Leaderboard.der(asrBefore: 0.5, asrAfter: 0.5, accuracyBefore: 0.8, accuracyAfter: 0.8) == 0.5)
        // An ASR that rises and an accuracy that rises are both clipped at 0.
        #expect(Leaderboard.der(asrBefore: 0.1, asrAfter: 0.3, accuracyBefore: 0.7, accuracyAfter: 0.9) == 0.5)
        let (board, _) = try Self.make()
        let der = try #require(board.cell(board.attacks[0].key, "safeclip")?.der)
        // Seed 1: ΔASR 0.88, ΔACC 0.20 → (0.88 − 0.20 + 1) / 2.
        expectClose(der.values, [(0.88 - 0.20 + 1) / 2, (0.91 - 0.20 + 1) / 2, (0.94 - 0.20 + 1) / 2], atol: 1e-12)
        #expect(board.cell(board.attacks[0].key, "none")?.der == nil)
    }

    @Test func chanceAndCollapsedModelsAreNamedAndNotPraised() throws {
        let (board, _) = try Self.make()
        let blended = board.attacks[1]
        let safe = try #require(board.cell(blended.key, "safeclip"))
        #expect(board.nearChance(safe) && board.collapsed(safe))
        let findings = board.findings(blended)
        #expect(findings.contains("takes in 1 of 3 seeds"))
        #expect(findings.contains("Not a defence here"))
        #expect(!findings.contains("Best defence by DER: SafeCLIP"))
        let patchFindings = board.findings(board.attacks[0])
        #expect(patchFindings.contains("takes in 3 of 3 seeds") && patchFindings.contains("base rate without the trigger 1.0 / 1.0 / 1.0 %"))
        #expect(patchFindings.contains("The backdoor survives CleanCLIP · 2-epochs (takes in 1 of 3 seeds)"))
    }

    @Test func rankingAndPagesShowEverySeedAndEachCellsCommands() throws {
        let (board, _) = try Self.make()
        // CleanCLIP: mean DER 0.80 on the patch; SafeCLIP: 0.855 on the patch, 0.27 on blended (its model is at chance).
        #expect(board.ranking.map(\.defense) == ["cleanclip@2-epochs", "safeclip"])
        let sorted = board.ranking.map(\.der)
        #expect(sorted == sorted.sorted(by: >))
        let md = board.markdown()
        #expect(md.contains("**Bottom line.**"))
        #expect(md.contains("🟥 [95.0 ± 5.0]"))
        #expect(md.contains("<sub>90.0 / 95.0 / 100.0</sub>"))
        #expect(md.contains("chance top-1 10.0 %"))
        let safe = try #require(board.cell(board.attacks[0].key, "safeclip"))
        let anchor = board.anchor(safe)
        #expect(md.contains("](#\(anchor))") && md.contains("<a id=\"\(anchor)\"></a>"))
        let commands = board.commands(safe)
        #expect(commands.count == 5, "\(commands)")
        #expect(commands.contains { $0.contains("/data/poison-rate0.02 ") } && !commands.contains { $0.contains("blended") })
        // Each cell's metric sheet: SafeCLIP's top-1 60 / 62 / 64 %: 62.0 ± 2.0, t interval ± 4.303 × 2 / √3 = ± 5.0.
        #expect(md.contains("| clean top-1 (%) | 62.0 ± 2.0 | ± 5.0 | 60.0 / 62.0 / 64.0 |"), "\(board.sheet(safe))")
        #expect(board.sheet(safe).map(\.metric).contains("DER"))
        let html = board.html()
        #expect(html.contains("<td>clean top-1 (%)</td><td>62.0 ± 2.0</td><td>± 5.0</td>"))
        #expect(html.contains("<td style=\"background:") && html.contains("id=\"\(anchor)\""))
        #expect(html.contains("90.0 / 95.0 / 100.0"))
    }

    /// The runner records absolute paths; a page generated from a checkout names `runs/…` paths
    /// that a reader's checkout has, not the paths of the machine that ran it.
    @Test func cellCommandsAreShownRelativeToTheWorkingDirectory() throws {
        let (board, _) = try Self.make()
        let here = FileManager.default.currentDirectoryPath
        var results = board.results
        results.commands = results.commands.map { $0.replacingOccurrences(of: "R/", with: here + "/runs/board/") }
        let absolute = Leaderboard(directory: here + "/runs/board", results: results, classCount: 10)
        let safe = try #require(absolute.cell(absolute.attacks[0].key, "safeclip"))
        let commands = absolute.commands(safe)
        #expect(commands.count == 5)
        #expect(commands.allSatisfy { !$0.contains(here + "/") && $0.contains(" runs/board/") }, "\(commands)")
        #expect(absolute.provenance().contains("--out runs/board`"))
    }

    /// A collapsed model whose ASR stays high is named as no defence, not as one the attack survives.
    @Test func aCollapsedModelIsNotADefenceTheAttackSurvives() throws {
        let (board, _) = try Self.make()
        var results = board.results
        results.rows = results.rows.map { row in
            guard row.defense.name == "safeclip", row.variant == nil else { return row }
            var r = row
            r.evaluations["test"]!.top1 = 0.3
            r.evaluations["test"]!.asr = 0.9
            return r
        }
        let collapsed = Leaderboard(directory: "R", results: results, classCount: 10)
        let findings = collapsed.findings(collapsed.attacks[0])
        #expect(findings.contains("Not a defence here"), "\(findings)")
        #expect(!findings.contains("SafeCLIP (takes"), "\(findings)")
    }

    /// Regenerating a page into its folder removes the trigger images of attacks it no longer
    /// shows, and nothing else.
    @Test func rewritingAPageRemovesTriggerImagesNoAttackShows() throws {
        let (board, _) = try Self.make()
        let folder = try makeTemporaryDirectory("leaderboard")
        defer { try? FileManager.default.removeItem(at: folder) }
        let triggers = folder.appendingPathComponent("triggers")
        try FileManager.default.createDirectory(at: triggers, withIntermediateDirectories: true)
        for name in ["attack-07.png", "part2-attack-04.png", "logo.png"] {
            try Data([1, 2, 3]).write(to: triggers.appendingPathComponent(name))
        }
        try board.write(to: folder.path)
        let left = try FileManager.default.contentsOfDirectory(atPath: triggers.path).sorted()
        #expect(left == ["logo.png"])
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("README.md").path))
    }

    /// The defences that rank pairs get a detection figure from their own files: SafeCLIP from its
    /// first similarity file, the detect row from its cut column in `run-detect/summary.json`.
    @Test func rankingDefencesShowTheirDetectionAUROCPerSeed() throws {
        let dir = try makeTemporaryDirectory("board-detection")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (made, _) = try Self.make()
        var results = made.results
        // Seed s: pairs 0..<4 poisoned; the first selection's similarity puts s of them below every
        // clean pair and the others above.
        for row in results.rows where row.defense == .train(.safeclip) && row.variant == nil {
            let s = Int(row.seed)
            let similarity: [Double] = (0..<20).map { (i: Int) -> Double in
                if i < s { return -1 + Double(i) / 100 }
                return i < 4 ? 100 + Double(i) : Double(i)
            }
            let flags: [Bool] = (0..<20).map { $0 < 4 }
            let folder = dir.path + "/rows/\(row.id)/run/similarities"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (epoch, values) in [(2, similarity), (5, Array(similarity.reversed()))] {
                let json = "{\"defense\":\"safeclip\",\"epoch\":\(epoch),\"format\":\"clipguard-similarities-1\",\"poisoned\":\(flags),"
                    + "\"selected\":\(flags.map { !$0 }),\"similarity\":\(values),\"step\":10}"
                try json.write(toFile: folder + "/epoch_\(epoch).json", atomically: true, encoding: .utf8)
            }
        }
        results.config.defenses.append(.detect)
        let detectRows = [UInt64(1), 2, 3].map { seed -> RowResult in
            var row = results.rows.first { $0.defense == .plainCLIP && $0.seed == seed && $0.variant == nil }!
            row.defense = .detect
            row.id = "detect-rate0.02-seed\(seed)"
            return row
        }
        results.rows += detectRows
        for (i, row) in detectRows.enumerated() {
            let folder = dir.path + "/rows/\(row.id)/run-detect"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try """
                {"clean":{"by":"k-distance","cut":"threshold"},"format":"clipguard-detect-1",
                 "metrics":{"combined":{"auroc":0.5,"tpr_at1_fpr":0.0},"k-distance":{"auroc":\(0.9 + 0.03 * Double(i)),"tpr_at1_fpr":"nan"}}}
                """.write(toFile: folder + "/summary.json", atomically: true, encoding: .utf8)
        }
        let board = Leaderboard(directory: dir.path, results: results, classCount: 10)
        let patch = board.attacks[0].key
        let safe = try #require(board.cell(patch, "safeclip")?.detection)
        #expect(safe.score == "similarity, first selection")
        // s of the 4 poisoned pairs below all 16 clean ones, the rest above: AUROC = s / 4.
        expectClose(safe.auroc.values, [0.25, 0.5, 0.75], atol: 1e-12)
        expectClose(try #require(safe.tprAt1FPR).values, [0.25, 0.5, 0.75], atol: 1e-12)
        let detect = try #require(board.cell(patch, "detect")?.detection)
        #expect(detect.score == "k-distance")
        expectClose(detect.auroc.values, [0.90, 0.93, 0.96], atol: 1e-12)
        #expect(detect.tprAt1FPR == nil, "a NaN TPR is not a figure")
        #expect(board.cell(patch, "none")?.detection == nil && board.cell(board.attacks[1].key, "safeclip")?.detection == nil)
        #expect(board.rankingDefenses == ["safeclip", "detect"])
        let md = board.markdown()
        #expect(md.contains("## Detection AUROC of the defence's score") && md.contains("<sub>0.90 / 0.93 / 0.96</sub>"))
        #expect(board.findings(board.attacks[0]).contains("Ranking the poisoned pairs (AUROC per seed, 0.5 = chance): detect, drop, train's k-distance 0.90 / 0.93 / 0.96; SafeCLIP's similarity, first selection 0.25 / 0.50 / 0.75."))
        #expect(board.html().contains("Detection TPR at 1 % FPR (%)"))
    }

    /// Two experiments on one page: the second board is a section with deeper headings, its own
    /// anchors and trigger files, in both renderers.
    @Test func aSecondExperimentIsASectionOfTheSamePage() throws {
        let dir = try makeTemporaryDirectory("board-parts")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (first, _) = try Self.make()
        var second = first
        second.part = 1
        let cell = try #require(first.cell(first.attacks[0].key, "safeclip"))
        #expect(first.anchor(cell) != second.anchor(cell) && first.triggerFile(0) != second.triggerFile(0))
        try Leaderboard.write([first, first], to: dir.path)
        let md = try String(contentsOfFile: dir.path + "/README.md", encoding: .utf8)
        #expect(md.hasPrefix("# Benchmark: board") && md.contains("\n## Part 2: board\n"))
        #expect(md.contains("\n## Attack success rate (%)") && md.contains("\n### Attack success rate (%)"))
        #expect(md.contains("](#\(second.anchor(cell)))") && md.contains("<a id=\"\(second.anchor(cell))\"></a>"))
        let html = try String(contentsOfFile: dir.path + "/index.html", encoding: .utf8)
        #expect(html.components(separatedBy: "<html>").count == 2 && html.hasSuffix("</body></html>\n"))
        #expect(html.contains("<h2>Part 2: board</h2>") && html.contains("<h3>Attack success rate (%)</h3>"))
        #expect(html.contains("id=\"\(second.anchor(cell))\""))
    }
}

/// A retrieval attack on the board: its cells show Hit@10 (and the control's) where a backdoor
/// shows ASR, and its findings speak of Hit@10; the backdoor beside it keeps its ASR.
@Suite struct RetrievalLeaderboardTests {
    static let yaml = """
        name: board
        data: {builtin: fashion-mnist, limit: 100, eval_limit: 50}
        attack: {target: sneaker, trigger: patch, rate: 0.02, captions: natural, image_size: 32}
        defenses: [none]
        model: micro-vit
        training: {epochs: 4, batch_size: 16}
        evaluation: [{name: test, path: builtin}]
        seeds: [1, 2]
        variants:
          - {name: pairing, attack: {kind: pair-class, goals: ["trouser:bag"]}}
        """

    @Test func retrievalCellsShowHitAt10AndBackdoorCellsKeepASR() throws {
        let config = try ExperimentConfig.decode(Self.yaml, file: "board.yaml")
        let hits: [UInt64: Double] = [1: 0.9, 2: 0.3]
        let rows = config.rows.map { plan -> RowResult in
            var set = SetResult(top1: 0.8, top5: 0.99, n: 50, asr: plan.poisonVariant == nil ? 0.95 : nil, asrBaseRate: plan.poisonVariant == nil ? 0.01 : nil)
            if plan.poisonVariant != nil {
                let attacked = TargetRetrieval(minRanks: hits[plan.seed]! > 0.5 ? [1, 2, 3, 4, 5, 6, 7, 8, 9, 40] : [1, 2, 3, 40, 40, 40, 40, 40, 40, 40],
                                               gallery: 50, targets: 5)
                let control = TargetRetrieval(minRanks: [30, 30, 30, 30, 30, 30, 30, 30, 30, 2], gallery: 50, targets: 5)
                set.retrieval = RetrievalAttackEvaluation(attack: "pair-class", gallery: 50, templates: 10,
                                                          goals: [RetrievalGoalResult(goal: "trouser:bag", attacked: attacked, control: control, succeeded: true)])
            }
            return RowResult(id: plan.id, defense: plan.defense, seed: plan.seed, amount: plan.amount.tag, variant: plan.variant, rate: 0.02,
                             poisoned: 2, trainingPairs: 100, status: "finished", evaluations: ["test": set])
        }
        let results = ExperimentResults(
            name: "board", configFile: "board.yaml", config: config, commands: [], trainCSV: "train.csv", evaluationSets: ["test": "eval"],
            poisonedSets: [], rows: rows, updated: "2026-12-07T00:00:00Z")
        let board = Leaderboard(directory: "R", results: results, classCount: 10)
        let pairing = try #require(board.attacks.first { $0.variant == "pairing" })
        #expect(pairing.name == "pair-class trouser:bag")
        let cell = try #require(board.cell(pairing.key, "none"))
        #expect(cell.isRetrieval && cell.asr == nil)
        #expect(cell.success?.values == [0.9, 0.3] && cell.successBase?.values == [0.1, 0.1])
        let backdoorAttack = try #require(board.attacks.first { $0.variant == nil })
        let backdoor = try #require(board.cell(backdoorAttack.key, "none"))
        #expect(!backdoor.isRetrieval && backdoor.success?.values == [0.95, 0.95] && backdoor.successBase?.values == [0.01, 0.01])
        let markdown = board.markdown()
        #expect(markdown.contains("retrieval attacks: Hit@10 (%)"))
        #expect(markdown.contains("90.0 / 30.0"), "per-seed Hit@10 in the table")
        #expect(markdown.contains("(Hit@10) 90.0 / 30.0 % (control queries 10.0 / 10.0 %); the goal takes in 1 of 2 seeds"))
        #expect(board.html().contains("retrieval attacks: control Hit@10 (%)"))
    }

    /// A variant that only trains differently but has its own undefended rows (poisoned
    /// fine-tuning) is an attack column of its own, compared with its own `none` rows; its commands
    /// poison the file's set.
    @Test func aVariantWithItsOwnUndefendedRowsIsAnAttackColumn() throws {
        let yaml = LeaderboardTests.yaml.replacingOccurrences(
            of: "  - {name: 2-epochs, defenses: [cleanclip], training: {epochs: 2}}",
            with: "  - {name: 2-epochs, defenses: [cleanclip], training: {epochs: 2}}\n  - {name: ft, defenses: [none, cleanclip], training: {epochs: 2, lr: 0.0005}}")
        let config = try ExperimentConfig.decode(yaml, file: "board.yaml")
        let rows = config.rows.map { plan -> RowResult in
            let asr = plan.variant == "ft" ? (plan.defense == .plainCLIP ? 0.9 : 0.3) : 0.5
            return RowResult(
                id: plan.id, defense: plan.defense, seed: plan.seed, amount: plan.amount.tag, variant: plan.variant, rate: 0.02, poisoned: 2,
                trainingPairs: 100, status: "finished", reason: nil, steps: 10, finalLoss: 1, trainingSeconds: 60, evaluationSeconds: 5,
                evaluations: ["test": SetResult(top1: 0.8, top5: 0.99, n: 50, asr: asr, asrDenominator: 45, asrSuccesses: Int(asr * 45), triggeredTop1: nil, asrBaseRate: 0.01, robustAccuracy: 1 - asr)])
        }
        let commands = ["clipguard poison --data R/data/clean/train.csv --out R/data/poison-rate0.02 --target sneaker --trigger patch"]
            + rows.map { "clipguard train --data x --out R/rows/\($0.id)/run" }
        let results = ExperimentResults(
            name: "board", configFile: "board.yaml", config: config, commands: commands, trainCSV: "train.csv", evaluationSets: ["test": "eval"],
            poisonedSets: [], rows: rows, updated: "2026-12-07T00:00:00Z")
        let board = Leaderboard(directory: "R", results: results, classCount: 10)
        #expect(board.attacks.map(\.variant) == [nil, "blended", "ft"])
        #expect(board.defenses.contains("cleanclip@2-epochs") && !board.defenses.contains { $0.hasSuffix("@ft") })
        let ft = board.attacks[2]
        #expect(ft.poisonVariant == nil)
        let clean = try #require(board.cell(ft.key, "cleanclip"))
        // DER against the ft column's own undefended rows: (0.9 − 0.3 + 1) / 2.
        expectClose(try #require(clean.der).values, [0.8, 0.8, 0.8], atol: 1e-12)
        #expect(board.commands(clean).contains { $0.contains("/data/poison-rate0.02 ") })
    }

    /// Rows without poison are the clean reference, not an attack column; an attack that takes
    /// undefended in no seed is shown but left out of the ranking, and when no attack takes the
    /// bottom line ranks nothing (a DER there measures only a defence's cost).
    @Test func cleanRowsAreNoColumnAndAttacksThatNeverTakeAreNotRanked() throws {
        let yaml = LeaderboardTests.yaml.replacingOccurrences(of: "rate: 0.02,", with: "rates: [0, 0.02],")
        let config = try ExperimentConfig.decode(yaml, file: "board.yaml")
        func make(asrUndefended: Double, asrDefended: Double = 0.02, blendedUndefended: Double? = nil) -> Leaderboard {
            let rows = config.rows.map { plan -> RowResult in
                let clean = plan.amount == .rate(0)
                let undefended = plan.poisonVariant == "blended" ? blendedUndefended ?? asrUndefended : asrUndefended
                let asr = clean ? 0.01 : plan.defense == .plainCLIP ? undefended : asrDefended
                return RowResult(
                    id: plan.id, defense: plan.defense, seed: plan.seed, amount: plan.amount.tag, variant: plan.variant, rate: clean ? 0 : 0.02,
                    poisoned: clean ? 0 : 2, trainingPairs: 100, status: "finished", reason: nil, steps: 10, finalLoss: 1, trainingSeconds: 60,
                    evaluationSeconds: 5,
                    evaluations: ["test": SetResult(top1: clean ? 0.85 : 0.8, top5: 0.99, n: 50, asr: asr, asrDenominator: 45, asrSuccesses: Int(asr * 45), triggeredTop1: nil, asrBaseRate: 0.01, robustAccuracy: 1 - asr)])
            }
            let results = ExperimentResults(
                name: "board", configFile: "board.yaml", config: config, commands: [], trainCSV: "train.csv", evaluationSets: ["test": "eval"],
                poisonedSets: [], rows: rows, updated: "2026-12-07T00:00:00Z")
            return Leaderboard(directory: "R", results: results, classCount: 10)
        }
        let takes = make(asrUndefended: 0.9)
        #expect(takes.attacks.allSatisfy { $0.poisoned > 0 })
        #expect(takes.attacks.map(\.variant) == [nil, "blended"])
        #expect(takes.provenance().contains("Clean reference (plain CLIP without poison, seeds 1, 2, 3): top-1 85.0 / 85.0 / 85.0 %"))
        #expect(!takes.ranking.isEmpty && takes.bottomLine().contains("ranks first"))
        // Surviving attacks are counted among the ranked ones only (never "3 of 2").
        let survivingTakes = make(asrUndefended: 0.9, asrDefended: 0.9, blendedUndefended: 0.1)
        #expect(survivingTakes.ranking.allSatisfy { $0.attacks == 1 })
        #expect(survivingTakes.bottomLine().contains("SafeCLIP 1 of 1"), "\(survivingTakes.bottomLine())")
        let never = make(asrUndefended: 0.1)
        #expect(never.attacks.count == 2 && !never.attacks.contains(where: never.takesUndefended))
        #expect(never.ranking.isEmpty)
        #expect(never.bottomLine().contains("No attack takes undefended in any seed here") && !never.bottomLine().contains("ranks first"))
    }
}
