import Attacks
import CLIP
import Datasets
import Evaluation
import Foundation
import TestSupport
import SurrogateAttacks
import Testing
import Training
@testable import Experiments

/// One test over every registered trigger kind and caption mode (issue #21 item 4): each one
/// poisons a tiny synthetic set, round-trips its settings through the command line (the real
/// `clipguard poison`), experiment-file keys (a variant's too), the manifest and the experiment's
/// equivalent command, is applied to evaluation images from the manifest as `eval --trigger-from`
/// applies it, has a survival for `poison check`, and has a display name no other has. A kind
/// that forgets a piece fails here.
@Suite struct AttackRegistryTests {
    /// Every setting of `kind` at its sample (non-default) value.
    static func sampleOptions(_ kind: TriggerKind) -> TriggerOptions {
        TriggerOptions(values: Dictionary(uniqueKeysWithValues: kind.definition.settings.map { ($0.name, $0.sampleText) }))
    }

    static let geometry = ModelGeometry(resize: .crop, size: 16)

    /// A tiny random 16-px CLIP saved as a checkpoint (the surrogate of optimised triggers).
    static func writeSurrogate(in dir: URL) throws -> String {
        let json = """
            {"embed_dim": 16, "vision_cfg": {"image_size": 16, "layers": 1, "width": 16, "patch_size": 4, "head_width": 8},
             "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}
            """
        let path = dir.appendingPathComponent("surrogate.safetensors").path
        try CLIPModel(config: try CLIPConfig.decode(Data(json.utf8)), seed: 4).saveSafeTensors(toPath: path)
        return path
    }

    static func experiment(attack: String, variants: String = "") -> String {
        """
        name: registry
        data: {csv: /nonexistent/train.csv}
        attack: {target: red, rate: 0.25, image_size: 32, surrogate: clean, \(attack)}
        defenses: [none]
        model: micro-vit
        training: {epochs: 1, batch_size: 4}
        evaluation: [{name: test, path: /nonexistent/eval}]
        seeds: [0]
        \(variants)
        """
    }

    @Test func namesAndDisplayNamesAreDistinct() {
        let kinds = TriggerRegistry.kinds
        #expect(Set(kinds.map { $0.kind }).count == kinds.count)
        #expect(Set(kinds.map { $0.displayName }).count == kinds.count, "two trigger kinds share a display name")
        let modes = CaptionModeRegistry.modes
        #expect(Set(modes.map { $0.name }).count == modes.count)
        #expect(Set(modes.map { $0.displayName }).count == modes.count, "two caption modes share a display name")
        // A setting several kinds declare is the same flag to the user: same expectation of values.
        var expected: [String: String] = [:]
        for kind in kinds {
            #expect(Set(kind.settings.map(\.name)).count == kind.settings.count, "\(kind.kind) lists a setting twice")
            for s in kind.settings {
                if let other = expected[s.name] { #expect(other == s.expected, "\(s.flag) means different things to different kinds") }
                expected[s.name] = s.expected
                #expect(s.problem(with: s.defaultText) == nil, "\(kind.kind) \(s.flag): default \(s.defaultText) is invalid")
                #expect(s.problem(with: s.sampleText) == nil && s.sampleText != s.defaultText)
            }
        }
        // The help lists every flag and every kind.
        let help = TriggerRegistry.commandLineHelp
        for kind in kinds { #expect(help.contains("  \(kind.kind): ")) }
        for (s, _) in TriggerRegistry.settings { #expect(help.contains(s.flag + " ")) }
    }

    @Test(arguments: TriggerKind.allCases)
    func triggerKindWorksEndToEnd(kind: TriggerKind) throws {
        let options = Self.sampleOptions(kind)
        // Every setting reaches the trigger.
        let defaults = try TriggerOptions().makeTrigger(kind: kind, seed: 5)
        for s in kind.definition.settings {
            let changed = try TriggerOptions(values: [s.name: s.sampleText]).makeTrigger(kind: kind, seed: 5)
            #expect(changed != defaults, "\(kind): \(s.flag) \(s.sampleText) does not change the trigger")
            #expect(throws: AttackError.self, "\(kind): \(s.flag) takes a hostile value") {
                try TriggerOptions(values: [s.name: "1e999x"]).makeTrigger(kind: kind, seed: 5)
            }
            // Refused in one sentence naming the flag, or the key.
            do {
                _ = try TriggerRegistry.options(commandLine: [s.flag, "1e999x"])
                Issue.record("\(s.flag) 1e999x accepted")
            } catch { #expect(error.description.hasPrefix("\(s.flag) must be")) }
            do {
                _ = try ExperimentConfig.decode(Self.experiment(attack: "trigger: \(kind), \(s.key): 1e999x"), file: "e.yaml")
                Issue.record("\(s.key): 1e999x accepted")
            } catch let error as ConfigError {
                #expect(error.key == "attack.\(s.key)" && error.reason.hasPrefix("must be"), "\(error)")
            }
        }

        // Command-line words, both spellings.
        #expect(try TriggerRegistry.options(commandLine: options.commandLine) == options)
        let joined = kind.definition.settings.map { "--\($0.name)=\($0.sampleText)" }
        #expect(try TriggerRegistry.options(commandLine: joined) == options)

        // Experiment-file keys, and a variant's attack keys.
        let keys = kind.definition.settings.map { "\($0.key): \"\($0.sampleText)\"" }.joined(separator: ", ")
        let config = try ExperimentConfig.decode(Self.experiment(attack: "trigger: \(kind), captions: natural, \(keys)"), file: "e.yaml")
        #expect(config.attack.trigger == kind && config.attack.triggerOptions == options)
        let variant = try ExperimentConfig.decode(
            Self.experiment(attack: "trigger: patch, captions: natural",
                            variants: "variants: [{name: v, attack: {trigger: \(kind), \(keys)}}]"), file: "e.yaml")
        let resolved = try variant.resolved(variant: "v").attack
        #expect(resolved.trigger == kind && resolved.triggerOptions == options)
        // Re-encoded (as a run folder saves it) and read back.
        let reread = try JSONDecoder().decode(AttackSpec.self, from: JSONEncoder().encode(resolved))
        #expect(reread == resolved)
        #expect(resolved.triggerDescription.hasPrefix(kind.displayName))

        // The equivalent command carries the settings.
        let dir = try makeTemporaryDirectory("registry")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = ExperimentRunner(config: config, configPath: "e.yaml", directory: dir.appendingPathComponent("exp").path)
        let poisonLine = try #require(try runner.equivalentCommands().first { $0.hasPrefix("clipguard poison ") })
        #expect(poisonLine.contains("--trigger \(kind) "))
        #expect(poisonLine.contains(options.commandLine.map(shellQuote).joined(separator: " ")), "\(poisonLine)")

        // A poisoned set from the real command line (a kind optimised through a surrogate gets a
        // tiny random 16-px CLIP as its surrogate).
        let csv = try ToySet.write(in: dir, count: 12)
        let out = dir.appendingPathComponent("out").path
        let clipguard = try builtExecutable(named: "clipguard")
        let surrogate = kind.definition.optimizedThroughSurrogate ? try Self.writeSurrogate(in: dir) : nil
        let result = try runCommand(clipguard, ["poison", "--data", csv, "--out", out, "--target", "red", "--trigger", kind.rawValue,
                                                "--count", "3", "--captions", "natural", "--image-size", "16", "--seed", "3"]
                                    + (surrogate.map { ["--surrogate", $0] } ?? []) + options.commandLine, timeout: 300)
        #expect(result.status == 0, "\(result.stderr)")
        let manifest = try PoisonManifest.load(path: out + "/manifest.json")
        var expected = try options.makeTrigger(kind: kind, seed: SplitMix64(seed: 3).derived(3).state)
        if surrogate != nil {
            // The optimised pixels are the surrogate's answer; the settings are the given ones.
            let stored = try #require(manifest.trigger)
            #expect(stored.kind == kind && stored != expected && stored.summary.contains("optimised through"))
            expected = stored
        }
        #expect(manifest.trigger == expected, "the manifest's trigger is not the one the settings describe")
        #expect(manifest.rows.count == 3)
        for row in manifest.rows {
            let written = try decodeImage(atPath: out + "/" + row.image)
            let source = Self.geometry.preprocessing.apply(try decodeImage(atPath: row.sourceImage))
            #expect(written == expected.apply(to: source, index: try #require(row.triggerIndex)))
            #expect(written != source, "\(kind) left a poisoned image unchanged")
        }
        // The same seed, the same bytes (the library call the command makes).
        let again = dir.appendingPathComponent("again").path
        let request = PoisonRequest(
            dataPath: csv, outputFolder: again, target: "red", attack: .backdoor(kind: kind, options: options, source: .train),
            amount: .count(3), captions: .natural, placement: .modelInput(Self.geometry), seed: 3)
        if let surrogate {
            _ = try OptimizedPoisoning.run(request, surrogate: surrogate)
        } else {
            _ = try Poisoner.run(request)
        }
        for name in ["manifest.json", "train.csv", "poison/000000.png", "poison/000002.png"] {
            #expect(FileManager.default.contents(atPath: out + "/" + name) == FileManager.default.contents(atPath: again + "/" + name),
                    "\(name) differs between two runs with one seed")
        }

        // `eval --trigger-from`: the manifest's trigger on evaluation images.
        let evaluation = try ImageFolderDataset(path: ToySet.writeEvaluationSet(in: dir, count: 4))
        let triggered = TriggeredDataset(base: evaluation, manifest: manifest, geometry: Self.geometry)
        for item in 0..<4 {
            let clean = Self.geometry.preprocessing.apply(try evaluation.sample(at: item).image)
            let image = try triggered.sample(at: item).image
            #expect(image == expected.apply(to: clean, index: -(item + 1)))
            #expect(image != clean, "\(kind) left an evaluation image unchanged")
        }

        // `poison check`: at the model input the trigger survives whole.
        let survival = try TriggerSurvivalReport(manifest: manifest, geometry: Self.geometry)
        #expect(survival.rows == 3 && survival.meanSurvival == 1)
    }

    @Test(arguments: CaptionStrategy.allCases)
    func captionModeWorksEndToEnd(mode: CaptionStrategy) throws {
        #expect(CaptionStrategy(rawValue: mode.rawValue) == mode)
        let config = try ExperimentConfig.decode(Self.experiment(attack: "trigger: patch, captions: \(mode)"), file: "e.yaml")
        #expect(config.attack.captions == mode)
        let variant = try ExperimentConfig.decode(
            Self.experiment(attack: "trigger: patch, captions: natural", variants: "variants: [{name: v, attack: {captions: \(mode)}}]"),
            file: "e.yaml")
        #expect(try variant.resolved(variant: "v").attack.captions == mode)
        let dir = try makeTemporaryDirectory("registry")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = ExperimentRunner(config: config, configPath: "e.yaml", directory: dir.appendingPathComponent("exp").path)
        #expect(try runner.equivalentCommands().contains { $0.hasPrefix("clipguard poison ") && $0.contains("--captions \(mode) ") })

        let csv = try ToySet.write(in: dir, count: 16)
        let clipguard = try builtExecutable(named: "clipguard")
        let out = dir.appendingPathComponent("out").path
        let result = try runCommand(clipguard, ["poison", "--data", csv, "--out", out, "--target", "red", "--trigger", "patch",
                                                "--count", "3", "--captions", mode.rawValue, "--image-size", "16"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let manifest = try PoisonManifest.load(path: out + "/manifest.json")
        #expect(manifest.captions == mode && manifest.rows.count == 3)
        #expect(manifest.rows.allSatisfy { CaptionMatcher.names($0.caption, target: "red") }, "a poisoned caption does not name the target")
        if mode.definition.poisonsTargetImages {
            #expect(manifest.rows.allSatisfy { $0.sourceRow.map { $0 % 4 == 0 } == true })
        } else {
            #expect(manifest.rows.allSatisfy { $0.sourceRow.map { $0 % 4 != 0 } == true })
        }
        let targeted = dir.appendingPathComponent("targeted").path
        let image = try ToySet.writeImage(in: dir, name: "victim.png")
        let targetedRun = try runCommand(clipguard, ["poison", "--targeted", "--image", image, "--data", csv, "--out", targeted,
                                                     "--target", "red", "--count", "2", "--captions", mode.rawValue, "--image-size", "16"],
                                         timeout: 120)
        if mode.definition.supportsTargeted {
            #expect(targetedRun.status == 0, "\(targetedRun.stderr)")
            #expect(try PoisonManifest.load(path: targeted + "/manifest.json").captions == mode)
        } else {
            #expect(targetedRun.status != 0 && targetedRun.stderr.contains("--captions"))
        }
    }
}

@Suite struct AttackSpecCompatibilityTests {
    /// `experiment.json` as the version before the trigger registry wrote it (it saved
    /// `patch_color: white` for every trigger): a run folder of that version resumes.
    @Test func experimentSavedBeforeTheRegistryIsTheSameExperiment() throws {
        let yaml = """
            name: old
            data: {builtin: fashion-mnist, limit: 100, eval_limit: 20}
            attack: {target: sneaker, trigger: blended, rate: 0.1, captions: natural, image_size: 32, blend_weight: 0.10}
            defenses: [none]
            model: micro-vit
            training: {epochs: 1, batch_size: 16}
            evaluation: [{name: fashion-mnist, path: builtin}]
            seeds: [1]
            """
        let savedAttack = #"{"blend_weight": 0.1, "captions": "natural", "image_size": 32, "patch_color": "white", "placement": "model-input", "rate": 0.1, "resize": "crop", "seed": 0, "target": "sneaker", "trigger": "blended"}"#
        let config = try ExperimentConfig.decode(yaml, file: "e.yaml")
        let saved = try JSONDecoder().decode(AttackSpec.self, from: Data(savedAttack.utf8))
        #expect(saved == config.attack)
        #expect(saved.triggerOptions[BlendedTrigger.weight] == 0.1)
        var other = config.attack
        other.triggerOptions[BlendedTrigger.weight] = 0.3
        #expect(other != config.attack, "a different blend weight is a different experiment")
        other = config.attack
        other.triggerOptions.values["blend-weight"] = "0.2"  // the default written out
        var defaulted = config.attack
        defaulted.triggerOptions.values = [:]
        #expect(other == defaulted)
    }
}
