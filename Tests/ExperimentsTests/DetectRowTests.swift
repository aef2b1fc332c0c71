import Foundation
import TestSupport
import Testing
import Training
@testable import Experiments

/// The `detect` defence row: detect, drop the top fraction, train plain CLIP on the rest.
@Suite struct DetectRowTests {
    /// Runs the toy experiment (``ExperimentRunnerTests/writeToyExperiment``) with these rows.
    static func run(defenses: String, training: String, extra: String = "") throws -> (dir: URL, results: ExperimentResults) {
        let (dir, file) = try ExperimentRunnerTests.writeToyExperiment(name: "detect-row", defenses: defenses, training: training, extra: extra)
        let runner = ExperimentRunner(config: try ExperimentConfig.load(path: file), configPath: file, directory: dir.appendingPathComponent("out").path)
        runner.reporter = ProgressReporter(logEvery: 1000, quiet: true, forceTerminal: false)
        runner.log = { _ in }
        return (dir, try runner.run())
    }

    @Test func detectRowTrainsOnTheCleanedSet() throws {
        let (dir, results) = try Self.run(
            defenses: "detect",
            training: "epochs: 1, unimodal_epochs: 1, clip_warmup_epochs: 1, filter_fraction: 0.25, batch_size: 8, lr: 0.002, warmup_steps: 2, workers: 1, threads: 1, device: cpu, log_every: 1000")
        defer { try? FileManager.default.removeItem(at: dir) }
        let row = try #require(results.rows.first)
        #expect(row.defense == .detect && row.status == "finished")
        // 44 pairs (40 + 4 poisoned), 11 dropped: 33 left, 4 steps of 8.
        #expect(row.steps == 4)
        let rowFolder = dir.appendingPathComponent("out/rows/\(row.id)").path
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: rowFolder + "/run-detect/summary.json"))) as? [String: Any]
        let clean = try #require(summary?["clean"] as? [String: Any])
        #expect(clean["dropped"] as? Int == 11)
        #expect(ReportWriter.defenseName("detect") == "detect, drop, train")
    }

    @Test func detectRowScoresWithThePoisonedModelAndCutsAtTheThreshold() throws {
        let (dir, results) = try Self.run(
            defenses: "none, detect",
            training: "epochs: 1, batch_size: 8, lr: 0.002, warmup_steps: 2, workers: 1, threads: 1, device: cpu, log_every: 1000",
            extra: "\ndetect: {detectors: [dao, trigger], model: poisoned, drop: threshold, drop_by: trigger, options: {neighbours: 4, reference-size: 20}}")
        defer { try? FileManager.default.removeItem(at: dir) }
        let row = try #require(results.rows.first { $0.defense == .detect })
        #expect(row.status == "finished")
        let folder = dir.appendingPathComponent("out/rows/\(row.id)").path
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/run-detect/summary.json"))) as? [String: Any])
        // The none row's model scored; the trigger column's label-free threshold chose what to drop.
        let models = try #require(summary["models"] as? [String])
        #expect(models.count == 1 && models[0].hasSuffix("rows/none-rate0.1-seed3/run/model.safetensors"), "\(models)")
        #expect(summary["warmup"] as? Bool == false)
        #expect((summary["columns"] as? [String]) == ["trigger", "dao"])
        #expect((summary["options"] as? [String: Int]) == ["neighbours": 4, "reference-size": 20, "reference-sets": 1])
        let clean = try #require(summary["clean"] as? [String: Any])
        // The report gives what the cut dropped beside a random set of the same size.
        let report = try String(contentsOfFile: dir.appendingPathComponent("out/report.md").path, encoding: .utf8)
        let dropped = try #require(clean["poisoned_dropped"] as? Int), kept = try #require(clean["poisoned_kept"] as? Int)
        #expect(report.contains("| detect, drop, train | 10% | 4 | 1 | before training: \(dropped)/\(dropped + kept) (random set: "), "\(report)")
        let flagged = (summary["thresholds"] as? [String: [String: Any]])?["trigger"]?["flagged"] as? Int
        #expect(clean["by"] as? String == "trigger" && clean["cut"] as? String == "threshold" && clean["dropped"] as? Int == flagged)
        // The leaderboard reads the cut column's AUROC and TPR at 1 % FPR back from this summary.
        let metrics = try #require((summary["metrics"] as? [String: [String: Any]])?["trigger"])
        let detection = try #require(Leaderboard(directory: dir.appendingPathComponent("out").path, results: results).cells.values.first { $0.defense == "detect" }?.detection)
        #expect(detection.score == "trigger" && detection.auroc.values == [metrics["auroc"] as? Double ?? -1])
        #expect(detection.tprAt1FPR?.values == [metrics["tpr_at1_fpr"] as? Double ?? -1])
    }
}

/// The `detect:` block of an experiment file: the detectors, the model, the cut and the column of a
/// `detect` row, checked key by key and carried into the equivalent `clipguard detect` command.
@Suite struct DetectSpecTests {
    static let file = validExperiment.replacingOccurrences(of: "defenses: [none, safeclip]", with: "defenses: [none, detect]")

    func error(_ text: String) -> ConfigError? {
        do { _ = try ExperimentConfig.decode(text, file: "exp.yaml"); return nil } catch let e as ConfigError { return e } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func detectBlockSetsTheRowsDetectionAndItsCommand() throws {
        let text = Self.file + "\ndetect: {detectors: [dao, similarity], model: poisoned, drop: threshold, drop_by: dao, options: {neighbours: 64}}\n"
            + "variants:\n  - {name: k256, defenses: [detect], detect: {detectors: [dao], model: poisoned, drop: 0.05, drop_by: dao, options: {neighbours: 256}}}\n"
        let config = try ExperimentConfig.decode(text, file: "exp.yaml")
        #expect(config.detect.detectors == ["dao", "similarity"] && config.detect.model == .poisoned && config.detect.dropBy == "dao")
        #expect(try config.detect.dropRule(fallback: 0.1) == .threshold)
        #expect(config.rows.map(\.id).contains("detect-k256-rate0.01-seed0"))
        // experiment.json keeps the block (a re-run compares against it).
        #expect(try JSONDecoder().decode(ExperimentConfig.self, from: ConfigFile.jsonData(config)) == config)
        let runner = ExperimentRunner(config: config, configPath: "exp.yaml", directory: "/tmp/exp")
        let commands = try runner.equivalentCommands().filter { $0.contains("clipguard detect") }
        #expect(commands.count == 4)
        let first = try #require(commands.first)
        // The plain CLIP row of the same seed and amount scores; the options and the cut follow.
        #expect(first.contains("--model /tmp/exp/rows/none-rate0.01-seed0/run/model.safetensors"), "\(first)")
        #expect(first.contains("--detectors 'dao,similarity' --neighbours 64") && first.contains("--drop threshold --drop-by dao"), "\(first)")
        #expect(!first.contains("--warmup-epochs"))
        let variant = try #require(commands.last)
        #expect(variant.contains("--model /tmp/exp/rows/none-rate0.01-seed1/run/model.safetensors"), "\(variant)")
        #expect(variant.contains("--neighbours 256") && variant.contains("--drop 0.05 --drop-by dao"), "\(variant)")
        // Without a block: every detector, the warm-up, the top filter_fraction by combined.
        let plain = ExperimentRunner(config: try ExperimentConfig.decode(Self.file, file: "exp.yaml"), configPath: "exp.yaml", directory: "/tmp/exp")
        let line = try #require(try plain.equivalentCommands().first { $0.contains("clipguard detect") })
        #expect(line.contains("--warmup-epochs") && line.contains("--drop 0.1") && !line.contains("--detectors"), "\(line)")
    }

    @Test func badDetectSettingsNameTheirKey() {
        #expect(error(Self.file + "\ndetect: {detectors: [psychic]}\n")?.key == "detect.detectors")
        #expect(error(Self.file + "\ndetect: {drop: 1.5}\n")?.key == "detect.drop")
        #expect(error(Self.file + "\ndetect: {drop: most}\n")?.key == "detect.drop")
        #expect(error(Self.file + "\ndetect: {detectors: [dao], drop_by: cosine}\n")?.key == "detect.drop_by")
        #expect(error(Self.file + "\ndetect: {options: {neighbours: 1}}\n")?.reason.contains("detect.options.neighbours must be in") == true)
        #expect(error(Self.file + "\ndetect: {options: {neighbors: 8}}\n")?.reason.contains("detect.options.neighbors is not a detector option") == true)
        #expect(error(Self.file + "\ndetect: {modell: poisoned}\n")?.key == "detect.modell")
        let noBase = Self.file.replacingOccurrences(of: "defenses: [none, detect]", with: "defenses: [detect, none]") + "\ndetect: {model: poisoned}\n"
        #expect(error(noBase)?.key == "detect.model")
    }
}
