import Attacks
import CLIP
import Datasets
import Foundation
import TestSupport
import Testing
import Training
@testable import Experiments

/// The attack block's `surrogate` key (`trigger: optimized`): required by optimised triggers,
/// ignored by the others, checked by `experiment validate` (a missing file, a model of another
/// input size), and turned into a surrogate training step and `--surrogate` in the equivalent commands.
@Suite struct SurrogateConfigTests {
    static func experiment(_ attack: String, variants: String = "") -> String {
        """
        name: surrogate
        data: {builtin: fashion-mnist, limit: 100, eval_limit: 20}
        attack: {target: sneaker, rate: 0.01, image_size: 32, \(attack)}
        defenses: [none]
        model: micro-vit
        training: {epochs: 1, batch_size: 16}
        evaluation: [{name: fashion-mnist, path: builtin}]
        seeds: [1]
        \(variants)
        """
    }

    @Test func optimizedTriggerNeedsASurrogate() throws {
        do {
            _ = try ExperimentConfig.decode(Self.experiment("trigger: optimized"), file: "e.yaml")
            Issue.record("accepted without a surrogate")
        } catch let error as ConfigError {
            #expect(error.key == "attack.surrogate" && error.reason.contains("'clean'"), "\(error)")
        }
        // A variant that switches to the optimised trigger inherits the file's surrogate, or lacks one.
        do {
            _ = try ExperimentConfig.decode(Self.experiment("trigger: patch", variants: "variants: [{name: o, attack: {trigger: optimized}}]"),
                                            file: "e.yaml")
            Issue.record("a variant without a surrogate accepted")
        } catch let error as ConfigError {
            #expect(error.key == "variants.0.attack.surrogate", "\(error)")
        }
        let config = try ExperimentConfig.decode(
            Self.experiment("trigger: patch, surrogate: clean", variants: "variants: [{name: o, attack: {trigger: optimized}}]"), file: "e.yaml")
        #expect(config.attack.usedSurrogate == nil, "the white square uses no surrogate")
        #expect(try config.resolved(variant: "o").attack.usedSurrogate == "clean")
        do {
            _ = try ExperimentConfig.decode(Self.experiment("trigger: optimized, surrogate: clean, placement: original"), file: "e.yaml")
            Issue.record("original placement accepted")
        } catch let error as ConfigError {
            #expect(error.key == "attack.placement", "\(error)")
        }
    }

    @Test func cleanSurrogateIsTrainedFirstInTheEquivalentCommands() throws {
        let config = try ExperimentConfig.decode(Self.experiment("trigger: optimized, surrogate: clean"), file: "e.yaml")
        let runner = ExperimentRunner(config: config, configPath: "e.yaml", directory: "/tmp/exp")
        let lines = try runner.equivalentCommands()
        let train = try #require(lines.firstIndex { $0.contains("--out /tmp/exp/surrogate/run") })
        let poison = try #require(lines.firstIndex { $0.hasPrefix("clipguard poison ") })
        // Seeded with the attack's seed (0, the command's default, so not written out), not a row's (1).
        #expect(train < poison && lines[train].hasPrefix("clipguard train ") && !lines[train].contains("--seed"))
        #expect(lines[poison].contains("--trigger optimized") && lines[poison].contains("--surrogate /tmp/exp/surrogate/run/model.safetensors"))
    }

    @Test func validateNamesAMissingOrMismatchedSurrogate() throws {
        let dir = try makeTemporaryDirectory("surrogate-config")
        defer { try? FileManager.default.removeItem(at: dir) }
        let absent = dir.appendingPathComponent("absent.safetensors").path
        let missing = try ExperimentConfig.decode(Self.experiment("trigger: optimized, surrogate: \(absent)"), file: "e.yaml")
        #expect(ExperimentRunner.missingPaths(missing).contains { $0 == "attack.surrogate: \(absent)" })
        let wide = dir.appendingPathComponent("wide.safetensors").path
        let json = """
            {"embed_dim": 16, "vision_cfg": {"image_size": 16, "layers": 1, "width": 16, "patch_size": 4, "head_width": 8},
             "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}
            """
        try CLIPModel(config: try CLIPConfig.decode(Data(json.utf8))).saveSafeTensors(toPath: wide)
        let mismatched = try ExperimentConfig.decode(Self.experiment("trigger: optimized, surrogate: \(wide)"), file: "e.yaml")
        #expect(ExperimentRunner.missingPaths(mismatched).isEmpty)
        let problems = ExperimentRunner.surrogateProblems(mismatched)
        #expect(problems == ["attack.surrogate: \(wide) takes 16 px images but attack.image_size is 32"], "\(problems)")
        // The command line says the same and fails.
        let file = dir.appendingPathComponent("e.yaml")
        try Self.experiment("trigger: optimized, surrogate: \(wide)").write(to: file, atomically: true, encoding: .utf8)
        let result = try runCommand(try builtExecutable(named: "clipguard"), ["experiment", "validate", file.path], timeout: 120)
        #expect(result.status != 0 && result.stderr.contains("attack.surrogate") && result.stderr.contains("16 px"), "\(result.stderr)")
    }

    /// The report shows each distinct optimised patch (`trigger.png` of a poisoned set) after the
    /// poisoned images, in report.md (a copy in `plots/`) and report.html.
    @Test func reportShowsTheOptimisedPatch() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        var results = s.results
        var pixels = [UInt8](repeating: 0, count: 27)
        for i in pixels.indices { pixels[i] = UInt8((i * 37) % 256) }
        let patch = RGBImage(width: 3, height: 3, pixels: pixels)
        for name in ["poison-rate0.01", "poison-rate0.001"] {
            let folder = s.dir.path + "/data/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try patch.write(toPath: folder + "/trigger.png")
            results.poisonedSets.append(PoisonedSetInfo(
                amount: name, variant: nil, folder: folder, csv: folder + "/train.csv", manifest: folder + "/manifest.json", cleanRows: 10,
                poisoned: 1))
        }
        try ReportWriter(directory: s.dir.path, results: results).write()
        let markdown = try String(contentsOfFile: s.dir.path + "/report.md", encoding: .utf8)
        // The two sets share one patch: shown once.
        #expect(markdown.components(separatedBy: "the optimised patch (3×3 px)").count == 2, "\(markdown)")
        #expect(markdown.contains("](plots/poisoned-01.png)"))
        #expect(try decodeImage(atPath: s.dir.path + "/plots/poisoned-01.png") == patch)
        let html = try String(contentsOfFile: s.dir.path + "/report.html", encoding: .utf8)
        #expect(html.contains("the optimised patch (3×3 px)"))
    }
}
