import Foundation
import Testing
import Attacks
import Training
@testable import Experiments

/// A valid experiment file; tests change one thing in it.
let validExperiment = """
    name: unit
    data: {builtin: fashion-mnist, limit: 100, eval_limit: 50}
    attack: {target: sneaker, trigger: patch, rate: 0.01, captions: natural, image_size: 32, patch_size: "22%"}
    defenses: [none, safeclip]
    model: tiny-vit
    training: {epochs: 2, batch_size: 16, lr: 0.001, unimodal_epochs: 0, clip_warmup_epochs: 1}
    evaluation: [{name: test, path: builtin}]
    seeds: [0, 1]
    """

@Suite struct ExperimentConfigTests {
    func error(_ text: String) -> ConfigError? {
        do {
            _ = try ExperimentConfig.decode(text, file: "exp.yaml")
            return nil
        } catch let e as ConfigError {
            return e
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func validFileGivesRowsForEveryDefenceAndSeed() throws {
        let config = try ExperimentConfig.decode(validExperiment, file: "exp.yaml")
        #expect(config.rows.map(\.id) == ["none-rate0.01-seed0", "none-rate0.01-seed1", "safeclip-rate0.01-seed0", "safeclip-rate0.01-seed1"])
        #expect(config.training.epochs == 2)
        #expect(config.attack.triggerOptions.values["patch-size"] == "22%")
    }

    @Test func unknownKeyIsNamedWithItsPath() {
        let e = error(validExperiment.replacingOccurrences(of: "lr: 0.001", with: "learning_rate: 0.001"))
        #expect(e?.key == "training.learning_rate")
        let top = error(validExperiment + "\nseed: 3")
        #expect(top?.key == "seed")
        let nested = error(validExperiment.replacingOccurrences(of: "path: builtin}", with: "path: builtin, top5: true}"))
        #expect(nested?.key == "evaluation.0.top5")
    }

    @Test func wrongTypeIsNamed() {
        let e = error(validExperiment.replacingOccurrences(of: "epochs: 2", with: "epochs: two"))
        #expect(e?.key == "training.epochs")
        #expect(e?.reason.contains("integer") == true)
        let seeds = error(validExperiment.replacingOccurrences(of: "seeds: [0, 1]", with: "seeds: zero"))
        #expect(seeds?.key == "seeds")
    }

    @Test func badValuesAreNamed() {
        #expect(error(validExperiment.replacingOccurrences(of: "none, safeclip", with: "none, magic"))?.key == "defenses.1")
        #expect(error(validExperiment.replacingOccurrences(of: "model: tiny-vit", with: "model: no-such-model"))?.key == "model")
        #expect(error(validExperiment.replacingOccurrences(of: "image_size: 32", with: "image_size: 224"))?.key == "attack.image_size")
        #expect(error(validExperiment.replacingOccurrences(of: "rate: 0.01", with: "rate: 0.01, count: 3"))?.key == "attack.rate")
        #expect(error(validExperiment.replacingOccurrences(of: "batch_size: 16", with: "batch_size: 1"))?.key == "training.batch_size")
        // SafeCLIP needs an epoch after its unimodal and warm-up phases.
        #expect(error(validExperiment.replacingOccurrences(of: "unimodal_epochs: 0", with: "unimodal_epochs: 1"))?.key == "training.epochs")
        #expect(error(validExperiment.replacingOccurrences(of: "lr: 0.001", with: "lr: 0.001, defense: safeclip"))?.key == "training.defense")
        #expect(error(validExperiment.replacingOccurrences(of: "none, safeclip", with: "cleanclip, none"))?.key == "defenses")
    }

    @Test func missingDataPathIsReported() {
        var text = validExperiment.replacingOccurrences(
            of: "{builtin: fashion-mnist, limit: 100, eval_limit: 50}", with: "{csv: /nonexistent/cc3m/train.csv}")
        text = text.replacingOccurrences(of: "path: builtin", with: "path: /nonexistent/imagenet/val")
        let config = try? ExperimentConfig.decode(text, file: "exp.yaml")
        let missing = config.map(ExperimentRunner.missingPaths) ?? []
        #expect(missing.contains { $0.contains("data.csv") && $0.contains("/nonexistent/cc3m/train.csv") })
        #expect(missing.contains { $0.contains("evaluation.0.path") })

        let filter = try? ExperimentConfig.decode(
            validExperiment.replacingOccurrences(of: "lr: 0.001", with: "lr: 0.001, filter_model: /nonexistent/clean.safetensors"),
            file: "exp.yaml")
        #expect(filter != nil)
        #expect((filter.map(ExperimentRunner.missingPaths) ?? []) == ["training.filter_model: /nonexistent/clean.safetensors"])
    }

    @Test func variantsAddRowsWithTheirOwnSettings() throws {
        let text = validExperiment.replacingOccurrences(of: "rate: 0.01", with: "rates: [0, 0.01]") + """

            variants:
              - {name: more, defenses: [none], seeds: [2]}
              - {name: to-cap, defenses: [safeclip], rates: [0.01], training: {safe_growth: to-cap, lr: 0.003}}
              - {name: blended, defenses: [none], rates: [0.02], seeds: [0], attack: {trigger: blended, blend_weight: 0.1, patch_size: 7}}
              - {name: again, defenses: [none], rates: [0.01], seeds: [0]}
            """
        let config = try ExperimentConfig.decode(text, file: "exp.yaml")
        let ids = config.rows.map(\.id)
        // The file's 8 rows, then: `more` adds plain rows (no new settings: not named after it),
        // `to-cap` and `blended` add named rows, `again` repeats an existing row and adds none.
        #expect(ids.count == 8 + 2 + 2 + 1)
        #expect(ids.suffix(5) == [
            "none-rate0-seed2", "none-rate0.01-seed2", "safeclip-to-cap-rate0.01-seed0", "safeclip-to-cap-rate0.01-seed1",
            "none-blended-rate0.02-seed0",
        ])
        #expect(Set(ids).count == ids.count)
        let toCap = try config.resolved(variant: "to-cap")
        #expect(toCap.defenseSettings[SafeCLIPSettings.self].safeGrowth == .toCap && toCap.training.lr == 0.003)
        #expect(toCap.training.epochs == 2 && toCap.attack == config.attack.with(rates: [0.01]))
        let blended = try config.resolved(variant: "blended")
        #expect(blended.attack.trigger == .blended && blended.attack.triggerOptions[BlendedTrigger.weight] == 0.1)
        #expect(blended.attack.triggerOptions.values["patch-size"] == "7")  // a number given is its text
        #expect(blended.training == config.training)
        // Only a variant that changes the attack poisons its own sets.
        #expect(config.rows.last?.poisonTag == "blended-rate0.02")
        #expect(config.rows.first { $0.variant == "to-cap" }?.poisonTag == "rate0.01")
        // The resolved configuration survives the experiment.json round trip.
        let saved = try JSONDecoder().decode(ExperimentConfig.self, from: ConfigFile.jsonData(config))
        #expect(saved == config)
    }

    @Test func badVariantsAreNamed() {
        func variant(_ v: String) -> ConfigError? { error(validExperiment + "\nvariants:\n  - \(v)") }
        #expect(variant("{name: x, training: {learning_rate: 1}}")?.key == "variants.0.training.learning_rate")
        #expect(variant("{name: x, attack: {colour: red}}")?.key == "variants.0.attack.colour")
        #expect(variant("{name: x, training: {epochs: two}}")?.key == "variants.0.training.epochs")
        #expect(variant("{name: x, training: {batch_size: 1}}")?.key == "variants.0.training.batch_size")
        #expect(variant("{name: x, defenses: [magic]}")?.key == "variants.0.defenses.0")
        #expect(variant("{name: x, rates: [2]}")?.key == "variants.0.attack.rates")
        #expect(variant("{name: x, attack: {rate: 0.1}}")?.key.hasPrefix("variants.0") == true)
        #expect(variant("{name: 'a b'}")?.key == "variants")
        #expect(error(validExperiment + "\nvariants: [{name: x}, {name: x}]")?.key == "variants")
        // CleanCLIP in a variant fine-tunes the file's own plain CLIP rows only where they exist.
        #expect(variant("{name: x, defenses: [cleanclip]}") == nil)
        #expect(variant("{name: x, defenses: [cleanclip], rates: [0.5]}")?.key == "variants.0.defenses")
        #expect(variant("{name: x, defenses: [cleanclip], attack: {trigger: blended}}")?.key == "variants.0.defenses")
    }

    @Test func cleanFilterModelNeedsTheCleanPlainCLIPRowsFirst() throws {
        let filter = validExperiment.replacingOccurrences(of: "lr: 0.001", with: "lr: 0.001, filter_model: clean")
        #expect(error(filter.replacingOccurrences(of: "none, safeclip", with: "none, filter"))?.key == "training.filter_model")
        let ok = filter.replacingOccurrences(of: "rate: 0.01", with: "rates: [0, 0.01]")
        let config = try ExperimentConfig.decode(ok + "\nvariants: [{name: f, defenses: [filter], rates: [0.01]}]", file: "exp.yaml")
        #expect(ExperimentRunner.missingPaths(config).isEmpty)
        #expect(config.rows.last?.id == "filter-rate0.01-seed1")
        #expect(error(filter + "\nvariants: [{name: f, defenses: [filter]}]")?.key == "variants.0.training.filter_model")
    }

    @Test func defenseTrainingChangesOnlyThatDefencesRows() throws {
        let text = validExperiment.replacingOccurrences(of: "none, safeclip", with: "none, safeclip, cleanclip")
            + "\ndefense_training: {cleanclip: {epochs: 1, lr: 0.0005}}\nvariants: [{name: b, attack: {trigger: blended}, defenses: [none, cleanclip]}]"
        let config = try ExperimentConfig.decode(text, file: "exp.yaml")
        let runner = ExperimentRunner(config: config, configPath: "exp.yaml", directory: "/tmp/unused-exp")
        func training(_ id: String) throws -> TrainingConfig {
            let row = try #require(config.rows.first { $0.id == id })
            let info = PoisonedSetInfo(amount: row.amount.tag, variant: row.poisonVariant, folder: "p", csv: "p/train.csv", manifest: "p/m.json", cleanRows: 0, poisoned: 0)
            return try runner.trainingConfig(for: row, poisoned: info)
        }
        #expect(try training("cleanclip-rate0.01-seed0").epochs == 1 && training("cleanclip-rate0.01-seed0").lr == 0.0005)
        #expect(try training("cleanclip-b-rate0.01-seed1").epochs == 1)
        #expect(try training("none-rate0.01-seed0").epochs == 2 && training("safeclip-rate0.01-seed0").lr == 0.001)
        #expect(try runner.equivalentCommands().contains { $0.contains("finetune") && $0.contains("--epochs 1") })
        func e(_ block: String) -> ConfigError? { error(validExperiment + "\ndefense_training: \(block)") }
        #expect(e("{magic: {epochs: 1}}")?.key == "defense_training.magic")
        #expect(e("{safeclip: {learning_rate: 1}}")?.key == "defense_training.safeclip.learning_rate")
        #expect(e("{safeclip: {epochs: 0}}")?.key == "training.epochs")
        #expect(e("{safeclip: {seed: 3}}")?.key == "defense_training.safeclip.seed")
    }

    @Test func poisonedFilterModelScoresWithThePlainCLIPRowOfTheSameSet() throws {
        let filter = validExperiment.replacingOccurrences(of: "none, safeclip", with: "none, filter")
            .replacingOccurrences(of: "lr: 0.001", with: "lr: 0.001, filter_model: poisoned")
        let config = try ExperimentConfig.decode(filter + "\nvariants: [{name: b, attack: {trigger: blended}}]", file: "exp.yaml")
        #expect(ExperimentRunner.missingPaths(config).isEmpty)
        let runner = ExperimentRunner(config: config, configPath: "exp.yaml", directory: "/tmp/unused-exp")
        for id in ["filter-rate0.01-seed1", "filter-b-rate0.01-seed1"] {
            let row = try #require(config.rows.first { $0.id == id })
            let info = PoisonedSetInfo(amount: row.amount.tag, variant: row.poisonVariant, folder: "p", csv: "p/train.csv", manifest: "p/m.json", cleanRows: 0, poisoned: 0)
            let model = try runner.trainingConfig(for: row, poisoned: info).filter.model
            #expect(model == "/tmp/unused-exp/rows/\(id.replacingOccurrences(of: "filter", with: "none"))/run/model.safetensors")
        }
        #expect(error(filter.replacingOccurrences(of: "none, filter", with: "filter, none"))?.key == "training.filter_model")
        let variantWithoutNone = filter + "\nvariants: [{name: b, attack: {trigger: blended}, defenses: [filter]}]"
        #expect(error(variantWithoutNone)?.key == "variants.0.training.filter_model")
    }

    /// The fine-tuning threat model: every row but the clean pre-training row starts from it;
    /// CleanCLIP still repairs its own `none` row.
    @Test func pretrainedStartsEveryRowButTheCleanPretrainingRow() throws {
        let text = validExperiment.replacingOccurrences(of: "rate: 0.01", with: "rates: [0, 0.01]")
            .replacingOccurrences(of: "none, safeclip", with: "none, safeclip, cleanclip") + "\npretrained: clean\nvariants: [{name: b, attack: {trigger: blended}, rates: [0.01]}]"
        let config = try ExperimentConfig.decode(text, file: "exp.yaml")
        let runner = ExperimentRunner(config: config, configPath: "exp.yaml", directory: "/r")
        func initWeights(_ id: String) throws -> String? {
            let row = try #require(config.rows.first { $0.id == id })
            let info = PoisonedSetInfo(amount: row.amount.tag, variant: row.poisonVariant, folder: "p", csv: "p/train.csv", manifest: "p/m.json", cleanRows: 0, poisoned: 0)
            return try runner.trainingConfig(for: row, poisoned: info).initWeights
        }
        let clean = "/r/rows/none-rate0-seed1/run/model.safetensors"
        #expect(try initWeights("none-rate0-seed1") == nil)
        #expect(try initWeights("none-rate0.01-seed1") == clean)
        #expect(try initWeights("safeclip-rate0-seed1") == clean)
        #expect(try initWeights("none-b-rate0.01-seed1") == clean)
        #expect(try initWeights("cleanclip-rate0.01-seed1") == "/r/rows/none-rate0.01-seed1/run/model.safetensors")
        #expect(try runner.equivalentCommands().contains { $0.contains("--init-weights \(clean)") })
        #expect(error(validExperiment + "\npretrained: clean")?.key == "pretrained")
        let missing = try ExperimentConfig.decode(validExperiment + "\npretrained: /nonexistent/w.safetensors", file: "exp.yaml")
        #expect(ExperimentRunner.missingPaths(missing) == ["pretrained: /nonexistent/w.safetensors"])
    }

    @Test func sweepRatesGiveOneRowPerRate() throws {
        let config = try ExperimentConfig.decode(
            validExperiment.replacingOccurrences(of: "rate: 0.01", with: "rates: [0, 0.005, 0.02]"), file: "exp.yaml")
        #expect(config.rows.count == 3 * 2 * 2)
        #expect(config.rows.first?.amount == .rate(0))
        #expect(PoisonAmountSpec.rate(0.0005).tag == "rate0.0005")
    }
}

extension AttackSpec {
    func with(rates: [Double]) -> AttackSpec {
        var a = self
        a.rate = nil
        a.count = nil
        a.rates = rates
        return a
    }
}

@Suite struct ShippedExperimentFilesTests {
    /// Every file in experiments/ passes the key, type and value checks (paths aside); the list
    /// is read from the folder, so a new file cannot be left out.
    @Test func everyShippedFileIsValid() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("experiments")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(names.contains("demo.yaml") && names.contains("safeclip-cost.yaml"))
        for name in names {
            #expect(throws: Never.self, "experiments/\(name)") { _ = try ExperimentConfig.load(path: folder.appendingPathComponent(name).path) }
            // Written in the current form: defence settings nested under the defence, no notes.
            var notes: [String] = []
            _ = try? ConfigFile.load(ExperimentConfig.self, path: folder.appendingPathComponent(name).path) { notes.append($0) }
            #expect(notes.isEmpty, "experiments/\(name): \(notes)")
        }
    }
}
