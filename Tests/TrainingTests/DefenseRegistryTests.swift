import CLIP
import Foundation
import TestSupport
import Testing
@testable import Training

/// Every registered defence, end to end: it describes itself completely (a name, colour and
/// marker of its own, settings keys that match what it writes, an example that differs in every
/// key), its settings round-trip through the config file in the nested and the flat form, and it
/// trains one step on synthetic data. A new defence that forgets a piece fails here; the command
/// line's round trip is in `DefenseRegistryCLITests`.
@Suite(.serialized) struct DefenseRegistryTests {
    static let defenses = Defense.allCases

    @Test func namesColoursAndMarkersAreEachDefencesOwn() {
        let all = Self.defenses
        #expect(all.first == Defense.none, "plain CLIP comes first")
        for (label, values) in [
            ("name", all.map(\.name)), ("display name", all.map(\.displayName)), ("colour", all.map(\.colour)),
            ("marker", all.map(\.marker.rawValue)), ("settings type", all.map { "\($0.settingsType)" }),
        ] {
            #expect(Set(values).count == values.count, "two defences share a \(label): \(values)")
        }
        for d in all {
            #expect(d.name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" } && !d.name.isEmpty, "\(d.name): not a folder-safe name")
            #expect(d.colour.count == 7 && d.colour.hasPrefix("#") && d.colour.dropFirst().allSatisfy(\.isHexDigit), "\(d.name): colour \(d.colour)")
            #expect(!d.summary.isEmpty && !d.displayName.isEmpty)
            #expect(Defense(name: d.name) == d)
        }
        #expect(Defense(name: "shield") == nil)
    }

    @Test(arguments: defenses)
    func settingsKeysAreDeclaredUniqueAndCovered(defense: Defense) throws {
        let type = defense.settingsType
        let names = type.keys.map(\.name)
        #expect(Set(names).count == names.count)
        // No key of another defence, no common key, no defence name.
        let common = Set(TrainingConfig.CodingKeys.allCases.map(\.rawValue)).union(Defense.allCases.map(\.name))
        let others = Set(Defense.allCases.filter { $0 != defense }.flatMap { $0.settingsType.keys.map(\.name) })
        for name in names {
            #expect(!common.contains(name) && !others.contains(name), "\(defense): key \(name) is taken")
            #expect(!type.keys.first { $0.name == name }!.help.isEmpty, "\(defense): key \(name) has no help")
        }
        // What the settings write is exactly the declared keys, and the example differs in each.
        let example = try TrainingConfig.flatValues(exampleConfig(defense))
        let defaults = TrainingConfig.flatValues(baseConfig(defense))
        let written = try JSONSerialization.jsonObject(with: JSONEncoder().encode(type.example)) as? [String: Any] ?? [:]
        #expect(Set(written.keys) == Set(names), "\(defense): writes \(written.keys.sorted()), declares \(names)")
        for name in names { #expect(example[name] != nil && example[name] != defaults[name], "\(defense): example leaves \(name) at its default") }
        // Booleans are declared as such (they get --KEY/--no-KEY flags).
        let text = String(decoding: try JSONEncoder().encode(type.example), as: UTF8.self)
        for key in type.keys {
            let boolean = text.contains("\"\(key.name)\":true") || text.contains("\"\(key.name)\":false")
            #expect(key.isBoolean == boolean, "\(defense): \(key.name) is\(boolean ? "" : " not") a boolean")
        }
    }

    /// The defaults with the example settings (and the weights a fine-tuning defence needs).
    func exampleConfig(_ defense: Defense) throws -> TrainingConfig {
        var c = baseConfig(defense)
        c.settings = defense.settingsType.example
        try c.validate()
        return c
    }

    func baseConfig(_ defense: Defense) -> TrainingConfig {
        var c = TrainingConfig(data: "train.csv", model: "tiny-vit", defense: defense)
        if defense.finetunes { c.initWeights = "poisoned.safetensors" }
        return c
    }

    @Test(arguments: defenses)
    func settingsRoundTripThroughConfigFilesNestedAndFlat(defense: Defense) throws {
        let config = try exampleConfig(defense)
        // The form written now: the defence's keys nested under its name.
        let json = String(decoding: try ConfigFile.jsonData(config), as: UTF8.self)
        var notes: [String] = []
        let nested = try ConfigFile.decode(TrainingConfig.self, from: json, file: "config.json") { notes.append($0) }
        #expect(nested == config && notes.isEmpty, "\(defense): \(notes)")
        // The form of earlier versions: every key flat, each defence's keys besides (as old
        // config.json files hold them) — read the same, with one note naming the new form.
        var flat = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        if let block = flat.removeValue(forKey: defense.name) as? [String: Any] { flat.merge(block) { $1 } }
        for other in Defense.allCases where other != defense {
            let defaults = try JSONSerialization.jsonObject(with: JSONEncoder().encode(other.defaultSettings)) as? [String: Any] ?? [:]
            flat.merge(defaults) { a, _ in a }
        }
        let flatText = String(decoding: try JSONSerialization.data(withJSONObject: flat), as: UTF8.self)
        let read = try ConfigFile.decode(TrainingConfig.self, from: flatText, file: "old.json") { notes.append($0) }
        #expect(read == config)
        #expect(TrainingConfig.flatValues(read) == TrainingConfig.flatValues(config))
        #expect(read.resumeConflicts(saved: config).changesResult.isEmpty)
        if !defense.settingsType.keys.isEmpty {
            #expect(notes.count == 1 && notes[0].hasPrefix("old.json: ") && notes[0].contains("\(defense.name): {"), "\(notes)")
            // A changed setting is a resume conflict named by its key.
            var changed = config
            changed.settings = defense.defaultSettings
            let conflicts = changed.resumeConflicts(saved: config).changesResult
            #expect(Set(conflicts) == Set(defense.settingsType.keys.map(\.name)), "\(defense): \(conflicts)")
            // A key given both ways is refused, naming it.
            let key = defense.settingsType.keys[0].name
            var both = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            both[key] = flat[key]
            let text = String(decoding: try JSONSerialization.data(withJSONObject: both), as: UTF8.self)
            let error = #expect(throws: ConfigError.self) { try ConfigFile.decode(TrainingConfig.self, from: text, file: "t.json") }
            #expect(error?.key == key && "\(error.map { "\($0)" } ?? "")".contains("under '\(defense.name):'"), "\(String(describing: error))")
        }
    }

    @Test(arguments: defenses)
    func trainsOneStep(defense: Defense) throws {
        let (dir, data, model) = try makeToyRun("registry-\(defense.name)")
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = try exampleConfig(defense)
        config.data = data
        config.model = model
        config.epochs = 5
        config.batchSize = 8
        config.lr = 2e-3
        config.warmupSteps = 2
        config.seed = 7
        config.device = "cpu"
        config.workers = 1
        config.threads = 1
        config.logEvery = 1000
        config.similarityBatchSize = 16
        // Weights the example names (a scorer, the model to fine-tune) are a saved micro model.
        let weights = dir.appendingPathComponent("weights.safetensors").path
        try CLIPModel(configFile: model, seed: 3).saveSafeTensors(toPath: weights)
        if defense.finetunes {
            config.initWeights = weights
            config.model = ""
        }
        var object = try #require(try JSONSerialization.jsonObject(with: ConfigFile.jsonData(config)) as? [String: Any])
        if var block = object[defense.name] as? [String: Any] {
            for (key, value) in block where (value as? String)?.hasSuffix(".safetensors") == true { block[key] = weights }
            object[defense.name] = block
        }
        config = try JSONDecoder().decode(TrainingConfig.self, from: JSONSerialization.data(withJSONObject: object))
        try config.validate()

        let trainer = try Trainer(config: config, runDirectory: dir.appendingPathComponent("run").path, reporter: ProgressReporter(quiet: true))
        trainer.stopAfterSteps = 1
        var losses: [Double] = []
        trainer.onStep = { _, record in losses.append(record.loss) }
        let summary = try trainer.run()
        #expect(summary.interrupted && summary.progress.globalStep == 1, "\(defense)")
        #expect(losses.count == 1 && losses.allSatisfy { $0.isFinite && $0 > 0 }, "\(defense): \(losses)")
        let saved = try ConfigFile.load(TrainingConfig.self, path: dir.appendingPathComponent("run/config.json").path)
        #expect(saved == config)
    }
}
