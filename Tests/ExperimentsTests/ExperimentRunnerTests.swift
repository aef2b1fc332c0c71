import Foundation
import TestSupport
import Testing
import Torch
import Training
@testable import Experiments

/// Runs a tiny experiment (micro model, synthetic colour images) end to end.
@Suite(.serialized) struct ExperimentRunnerTests {
    struct Setup {
        var dir: URL
        var config: ExperimentConfig
    }

    /// A toy experiment file in a new temporary folder: 40 toy pairs, 16 evaluation images, the
    /// micro model, a 10% patch attack, and the given defences and training settings.
    static func writeToyExperiment(name: String, defenses: String, training: String, extra: String = "") throws -> (dir: URL, file: String) {
        let dir = try makeTemporaryDirectory(name)
        let data = try ToySet.write(in: dir, count: 40)
        let eval = try ToySet.writeEvaluationSet(in: dir, count: 16)
        let model = dir.appendingPathComponent("micro.json").path
        try ToySet.microModelConfig.write(toFile: model, atomically: true, encoding: .utf8)
        let text = """
            name: \(name)
            data: {csv: \(data)}
            attack: {target: red, trigger: patch, rate: 0.1, captions: natural, image_size: 16, patch_size: 4}
            defenses: [\(defenses)]
            model: \(model)
            training: {\(training)}
            evaluation: [{name: toy, path: \(eval)}]
            seeds: [3]
            """ + extra
        let file = dir.appendingPathComponent("\(name).yaml").path
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return (dir, file)
    }

    func setUp() throws -> Setup {
        let (dir, file) = try Self.writeToyExperiment(
            name: "tiny", defenses: "none, safeclip",
            training: "epochs: 2, unimodal_epochs: 0, clip_warmup_epochs: 1, batch_size: 8, lr: 0.002, warmup_steps: 2, workers: 1, threads: 1, device: cpu, log_every: 1000")
        return Setup(dir: dir, config: try ExperimentConfig.load(path: file))
    }

    func runner(_ s: Setup, _ name: String, lines: LogLines? = nil) -> ExperimentRunner {
        let r = ExperimentRunner(config: s.config, configPath: s.dir.appendingPathComponent("tiny.yaml").path, directory: s.dir.appendingPathComponent(name).path)
        r.reporter = ProgressReporter(logEvery: 1000, quiet: true, forceTerminal: false)
        r.log = { line in lines?.append(line) }
        return r
    }

    final class LogLines: @unchecked Sendable {
        var lines: [String] = []
        func append(_ s: String) { lines.append(s) }
    }

    @Test func stoppedRowResumesToTheUninterruptedResultAndFinishedRowsAreSkipped() throws {
        let s = try setUp()
        defer { try? FileManager.default.removeItem(at: s.dir) }

        let whole = try runner(s, "whole").run()
        let row = try #require(whole.rows.first { $0.defense == .plainCLIP })
        #expect(row.status == "finished")
        #expect(row.poisoned == 4)
        #expect(row.steps == 10)
        let safe = try #require(whole.rows.first { $0.defense == .train(.safeclip) })
        #expect(safe.status == "finished")
        #expect(safe.evaluations["toy"]?.asr != nil)

        // Stopped after 7 of 10 steps: a checkpoint, no result.
        let stopped = runner(s, "stopped")
        stopped.stopAfterSteps = 7
        #expect(throws: ExperimentError.self) { try stopped.run() }
        let rowFolder = s.dir.appendingPathComponent("stopped/rows/\(row.id)").path
        #expect(FileManager.default.fileExists(atPath: rowFolder + "/run/checkpoint.safetensors"))
        #expect(!FileManager.default.fileExists(atPath: rowFolder + "/result.json"))

        // Continued: the same weights and figures as the uninterrupted run.
        let continued = try runner(s, "stopped").run()
        let resumedRow = try #require(continued.rows.first { $0.defense == .plainCLIP })
        #expect(resumedRow.evaluations == row.evaluations)
        #expect(resumedRow.steps == 10)
        let a = try loadSafeTensors(atPath: s.dir.appendingPathComponent("whole/rows/\(row.id)/run/model.safetensors").path).tensors
        let b = try loadSafeTensors(atPath: rowFolder + "/run/model.safetensors").tensors
        #expect(a.keys.sorted() == b.keys.sorted())
        for key in a.keys { expectClose(b[key]!, a[key]!, rtol: 0, atol: 0, key) }

        // Run again: nothing is retrained.
        let modified = try FileManager.default.attributesOfItem(atPath: rowFolder + "/result.json")[.modificationDate] as? Date
        let lines = LogLines()
        let again = try runner(s, "stopped", lines: lines).run()
        #expect(again.rows.first { $0.defense == .plainCLIP } == resumedRow)
        #expect(lines.lines.contains { $0.contains(row.id) && $0.contains("skipped") })
        #expect(try FileManager.default.attributesOfItem(atPath: rowFolder + "/result.json")[.modificationDate] as? Date == modified)

        // The report: a table, inline plots and the poisoned images, no external references.
        let html = try String(contentsOfFile: s.dir.appendingPathComponent("stopped/report.html").path, encoding: .utf8)
        #expect(html.contains("<svg"))
        #expect(html.contains("data:image/png;base64,"))
        #expect(html.contains("Safe-set fraction per selection"))
        #expect(html.contains("pair similarities"))
        #expect(!html.contains("http://") || !html.contains("src=\"http"))
        let report = try ReportWriter(directory: s.dir.appendingPathComponent("stopped").path)
        #expect(report.table().count == 3)
        #expect(report.plots().count >= 5)

        // Moved to another folder, the report still finds its poisoned sets and images.
        let moved = s.dir.appendingPathComponent("moved").path
        try FileManager.default.moveItem(atPath: s.dir.appendingPathComponent("stopped").path, toPath: moved)
        let relocated = try ReportWriter(directory: moved)
        #expect(relocated.results.poisonedSets.allSatisfy { $0.folder.hasPrefix(moved + "/") && $0.manifest.hasPrefix(moved + "/") })
        #expect(!relocated.poisonedImages().isEmpty)
        #expect(relocated.poisonedImages().allSatisfy { FileManager.default.fileExists(atPath: $0.path) })
    }

    @Test func aDifferentExperimentInTheSameFolderIsRefused() throws {
        let s = try setUp()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        let first = runner(s, "out")
        try FileManager.default.createDirectory(atPath: first.directory, withIntermediateDirectories: true)
        try first.checkSameExperiment()
        for row in s.config.rows { try FileManager.default.createDirectory(atPath: first.rowFolder(row), withIntermediateDirectories: true) }
        var changed = s.config
        changed.seeds = [4]
        let second = ExperimentRunner(config: changed, configPath: "x.yaml", directory: first.directory)
        #expect(throws: ExperimentError.self) { try second.checkSameExperiment() }
    }

    @Test func aRunFolderContinuesWithAddedOrUnstartedRowsButNotChangedOnes() throws {
        let s = try setUp()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        var only = s.config
        only.defenses = [.plainCLIP]
        let first = ExperimentRunner(config: only, configPath: "x.yaml", directory: s.dir.appendingPathComponent("grow").path)
        first.reporter = ProgressReporter(logEvery: 1000, quiet: true, forceTerminal: false)
        first.log = { _ in }
        let before = try first.run()
        let oldRow = try #require(before.rows.first)
        let resultPath = first.directory + "/rows/\(oldRow.id)/result.json"
        let modified = try FileManager.default.attributesOfItem(atPath: resultPath)[.modificationDate] as? Date
        let started: Set<String> = [oldRow.id]
        let poisoned: Set<String> = [oldRow.amount == "rate0.1" ? "rate0.1" : oldRow.amount]

        // Rows added (a seed and a defence; a setting of a defence no started row uses): accepted,
        // only the new rows run, the started row's result is untouched.
        var grown = only
        grown.seeds = [3, 4]
        grown.defenses = [.plainCLIP, .train(.safeclip)]
        grown.defenseSettings[SafeCLIPSettings.self].gmmThreshold = 0.8
        let change = try #require(grown.change(from: only, started: started, poisonedSets: poisoned))
        #expect(change.added.map(\.id).sorted() == grown.rows.map(\.id).filter { $0 != oldRow.id }.sorted())
        #expect(change.changed.isEmpty && change.dropped.isEmpty && change.summary == "3 rows added")
        // Stopped in its first new row, results.json already lists the row finished earlier.
        let stopped = ExperimentRunner(config: grown, configPath: "x.yaml", directory: first.directory)
        stopped.reporter = first.reporter
        stopped.log = { _ in }
        stopped.stopAfterSteps = 1
        #expect(throws: ExperimentError.self) { try stopped.run() }
        #expect(try ExperimentResults.load(directory: first.directory).rows.map(\.id) == [oldRow.id])
        let lines = LogLines()
        let second = ExperimentRunner(config: grown, configPath: "x.yaml", directory: first.directory)
        second.reporter = first.reporter
        second.log = { lines.append($0) }
        let after = try second.run()
        #expect(after.rows.count == 4)
        #expect(after.rows.first { $0.id == oldRow.id } == oldRow)
        #expect(try FileManager.default.attributesOfItem(atPath: resultPath)[.modificationDate] as? Date == modified)
        #expect(lines.lines.contains { $0.contains("row \(oldRow.id): finished earlier, skipped") })

        // The detect block only concerns detect rows.
        var detecting = grown
        detecting.detect.detectors = ["dao"]
        #expect(detecting.change(from: grown, started: Set(grown.rows.map(\.id)), poisonedSets: poisoned) == ExperimentChange())
        // A row that has not started may change or go; a started one may not.
        let allStarted = Set(grown.rows.map(\.id))
        var safer = grown
        safer.defenseSettings[SafeCLIPSettings.self].gmmThreshold = 0.7
        #expect(safer.change(from: grown, started: started, poisonedSets: poisoned)?.changed.count == 2)
        #expect(safer.change(from: grown, started: allStarted, poisonedSets: poisoned) == nil, "the safeclip rows selected at 0.8")
        var fewer = grown
        fewer.seeds = [3]
        #expect(fewer.change(from: grown, started: started, poisonedSets: poisoned)?.dropped.count == 2)
        #expect(fewer.change(from: grown, started: allStarted, poisonedSets: poisoned) == nil)
        // Training settings every row uses, the data, or a poisoned set already written: refused.
        var changed = grown
        changed.training.epochs = 3
        #expect(changed.change(from: grown, started: started, poisonedSets: []) == nil)
        var otherData = grown
        otherData.data.seed = 9
        #expect(otherData.change(from: grown, started: [], poisonedSets: []) == nil)
        var otherAttack = grown
        otherAttack.attack.seed = 9
        #expect(otherAttack.change(from: grown, started: [], poisonedSets: poisoned) == nil)
        #expect(otherAttack.change(from: grown, started: [], poisonedSets: []) != nil)
        let refused = ExperimentRunner(config: changed, configPath: "x.yaml", directory: first.directory)
        #expect(throws: ExperimentError.self) { try refused.checkSameExperiment() }
        let saved = try JSONDecoder().decode(ExperimentConfig.self, from: try Data(contentsOf: URL(fileURLWithPath: first.directory + "/experiment.json")))
        #expect(saved == grown)
    }
}

/// The report's "Equivalent commands" are generated from each row's full settings: run with the
/// built `clipguard`, every row's command reproduces that row's weights exactly.
@Suite(.serialized) struct EquivalentCommandTests {
    @Test(.timeLimit(.minutes(5))) func eachRowsCommandReproducesItsWeights() throws {
        let (dir, file) = try ExperimentRunnerTests.writeToyExperiment(
            name: "commands", defenses: "none, safeclip, cleanclip, detect",
            training: "epochs: 3, unimodal_epochs: 1, clip_warmup_epochs: 1, gmm_threshold: 0.8, batch_size: 8, lr: 0.002, warmup_steps: 2, workers: 1, threads: 1, device: cpu, log_every: 1000, memory_bank: true, bank_size: 16, beta2: 0.98",
            extra: "\nvariants: [{name: blend, defenses: [none], attack: {trigger: blended, blend_weight: 0.3}, training: {lr: 0.003}}]")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = ExperimentRunner(config: try ExperimentConfig.load(path: file), configPath: file, directory: dir.appendingPathComponent("exp").path)
        runner.reporter = ProgressReporter(logEvery: 1000, quiet: true, forceTerminal: false)
        runner.log = { _ in }
        let results = try runner.run()
        #expect(results.rows.count == 5 && results.rows.allSatisfy { $0.status == "finished" })
        #expect(results.rows.last?.variant == "blend" && results.poisonedSets.last?.variant == "blend")
        let report = try String(contentsOfFile: dir.appendingPathComponent("exp/report.md").path, encoding: .utf8)
        #expect(report.contains("CLIP (no defence) · blend"))
        // report.md reads on its own: its plots and poisoned images are files beside it.
        let links = report.components(separatedBy: "](plots/").dropFirst().map { String($0.prefix { $0 != ")" }) }
        #expect(links.contains { $0.hasSuffix(".svg") } && links.contains { $0.hasSuffix(".png") })
        for link in links { #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("exp/plots/" + link).path), "\(link)") }

        let clipguard = try builtExecutable(named: "clipguard")
        /// Runs a command line of the report (its paths have no spaces) with `old` paths moved to `new`.
        func runLine(_ line: String, moving old: String, to new: String) throws {
            let words = line.replacingOccurrences(of: old, with: new).split(separator: " ").map(String.init).dropFirst()
            let result = try runCommand(clipguard, Array(words), timeout: 240)
            #expect(result.status == 0, "\(line)\n\(result.stderr)")
        }
        let commands = try runner.equivalentCommands()
        for row in runner.config.rows {
            let run = runner.rowFolder(row) + "/run"
            let out = dir.appendingPathComponent("cli-\(row.id)").path
            let line = try #require(commands.first { $0.hasSuffix("--out \(run)") }, "no command for row \(row.id)")
            #expect(line.hasPrefix(row.defense == .train(.cleanclip) ? "clipguard finetune " : "clipguard train "))
            if row.defense == .train(.safeclip) { #expect(line.contains("--memory-bank") && line.contains("--gmm-threshold 0.8")) }
            #expect(line.contains("--beta2 0.98"))
            if row.variant == "blend" {
                #expect(line.contains("--lr 0.003") && line.contains("poison-blend-rate0.1/train.csv"))
                #expect(commands.contains { $0.hasPrefix("clipguard poison ") && $0.contains("--trigger blended") && $0.contains("--blend-weight 0.3") })
            }
            if row.defense == .detect {
                // Detect, drop, train: the detect command writes the cleaned set the train command reads.
                let detect = try #require(commands.first { $0.hasPrefix("clipguard detect ") && $0.contains(run + "-detect") })
                try runLine(detect, moving: run, to: out)
            }
            try runLine(line, moving: run, to: out)
            let a = try loadSafeTensors(atPath: run + "/model.safetensors").tensors
            let b = try loadSafeTensors(atPath: out + "/model.safetensors").tensors
            #expect(a.keys.sorted() == b.keys.sorted())
            for key in a.keys { #expect(a[key]!.equals(b[key]!), "\(row.id): \(key) differs from the command's run") }
        }
    }
}
