import CLIP
import Foundation
import TestSupport
import Testing
import Torch
@testable import Training

/// Micro runs of every defence on 40 synthetic pairs (batch 8, so 5 steps per full epoch).
@Suite(.serialized) struct DefenseTrainerTests {
    let quiet = ProgressReporter(quiet: true)

    func setUp() throws -> (dir: URL, data: String, model: String) { try makeToyRun("defense") }

    /// SafeCLIP over 5 epochs: 2 unimodal, 1 CLIP warm-up, 2 mixed.
    func safeCLIPConfig(data: String, model: String, memoryBank: Bool = false) -> TrainingConfig {
        TrainingConfig(
            data: data, model: model, epochs: 5, batchSize: 8, lr: 2e-3, warmupSteps: 2, seed: 7, device: "cpu", workers: 1,
            threads: 1, logEvery: 1000, defense: .safeclip, similarityBatchSize: 16,
            settings: SafeCLIPSettings(unimodalEpochs: 2, clipWarmupEpochs: 1, memoryBank: memoryBank, bankSize: 16))
    }

    func weights(_ path: String) throws -> [String: Tensor] { try loadSafeTensors(atPath: path).tensors }

    func expectEqualWeights(_ a: String, _ b: String) throws {
        let x = try weights(a), y = try weights(b)
        #expect(x.keys.sorted() == y.keys.sorted())
        for (key, tensor) in x { #expect(tensor.equals(y[key]!), "weights differ after resume: \(key)") }
    }

    @Test func safeCLIPPhasesStepCountsAndRecords() throws {
        let (dir, data, model) = try setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run").path
        let trainer = try Trainer(config: safeCLIPConfig(data: data, model: model), runDirectory: run, reporter: quiet)
        var plans: [Int: [(name: String, steps: Int)]] = [:]
        var phases: [String] = []
        trainer.onEpochPlanned = { plans[$0] = $1 }
        trainer.onStep = { _, record in phases.append(record.phase!) }
        let summary = try trainer.run()

        #expect(plans[0]!.map(\.name) == ["unimodal"] && plans[0]!.map(\.steps) == [5])
        #expect(plans[1]!.map(\.name) == ["unimodal"])
        #expect(plans[2]!.map(\.name) == ["clip-warmup"] && plans[2]!.map(\.steps) == [5])
        let records = try MetricsLog.read(path: run + "/metrics.jsonl")
        let selections = records.filter { $0["selection_epoch"] != nil }
        #expect(selections.map { $0["selection_epoch"] as! Int } == [4, 5])
        for epoch in [3, 4] {
            let plan = plans[epoch]!
            #expect(plan.map(\.name) == ["mixed-risky", "mixed-safe"])
            let selection = selections[epoch - 3]
            let safe = selection["safe_count"] as! Int
            #expect(safe + (selection["risky_count"] as! Int) == 40)
            #expect(plan.map(\.steps) == [(40 - safe) / 8, safe / 8])
            #expect((selection["gmm_means"] as! [Any]).count == 2 && (selection["gmm_weights"] as! [Any]).count == 2)
            let file = try SimilarityFile.read(path: run + "/similarities/epoch_\(epoch + 1).json")
            #expect(file.similarity.count == 40 && file.selected.count(where: { $0 }) == safe && file.poisoned == nil)
            #expect(file.similarity.allSatisfy { (-1.0...1.0).contains($0) })
        }
        // Second selection uses r₁ + 0.01 (top-fraction rule).
        #expect(selections[1]["selection_rule"] as? String == "topFraction")
        let mixedSteps = selections[0]["mixed_steps"] as! Int
        #expect(mixedSteps == plans[3]!.reduce(0) { $0 + $1.steps } + plans[4]!.reduce(0) { $0 + $1.steps })
        #expect(summary.progress.globalStep == 15 + mixedSteps)
        #expect(phases.count == summary.progress.globalStep)
        #expect(phases.prefix(15) == ArraySlice(Array(repeating: "unimodal", count: 10) + Array(repeating: "clip-warmup", count: 5)))
        // The CLIP warm-up runs at the constant low rate.
        let lrs = records.filter { ($0["phase"] as? String) == "clip-warmup" && $0["loss"] != nil }.map { $0["lr"] as! Double }
        #expect(lrs == Array(repeating: 5e-6, count: 5))
        #expect(records.filter { $0["loss"] != nil }.allSatisfy { ($0["loss"] as! Double).isFinite })
    }

    @Test func safeCLIPResumedInsidePhase3EqualsUninterruptedRun() throws {
        let (dir, data, model) = try setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = safeCLIPConfig(data: data, model: model, memoryBank: true)
        let straight = try Trainer(config: config, runDirectory: dir.appendingPathComponent("a").path, reporter: quiet)
        let total = try straight.run().progress.globalStep

        // Stop one step into phase 3 (after 15 warm-up steps), then 2 steps later, then finish.
        let runB = dir.appendingPathComponent("b").path
        let first = try Trainer(config: config, runDirectory: runB, reporter: quiet)
        first.stopAfterSteps = 16
        #expect(try first.run().interrupted)
        let second = try Trainer(config: config, runDirectory: runB, resume: true, reporter: quiet)
        second.stopAfterSteps = 2
        let mid = try second.run()
        #expect(mid.interrupted && mid.progress.globalStep == 18 && mid.progress.defenseState != nil)
        let third = try Trainer(config: config, runDirectory: runB, resume: true, reporter: quiet)
        #expect(try third.run().progress.globalStep == total)

        try expectEqualWeights(straight.finalWeightsPath, third.finalWeightsPath)
        let records = try MetricsLog.read(path: runB + "/metrics.jsonl")
        #expect(records.compactMap { $0["loss"] != nil ? $0["step"] as? Int : nil } == Array(1...total))
        #expect(records.compactMap { $0["selection_epoch"] as? Int } == [4, 5])
    }

    /// A fresh micro model saved as weights (the model to fine-tune, or the filter's scorer).
    func savedModel(_ model: String, in dir: URL, seed: UInt64) throws -> String {
        let path = dir.appendingPathComponent("init-\(seed).safetensors").path
        try CLIPModel(configFile: model, seed: seed).saveSafeTensors(toPath: path)
        return path
    }

    func otherDefenseConfig(_ defense: Defense, data: String, model: String, dir: URL) throws -> TrainingConfig {
        var c = TrainingConfig(
            data: data, model: model, epochs: 2, batchSize: 8, lr: 2e-3, warmupSteps: 2, seed: 7, device: "cpu", workers: 1,
            threads: 1, logEvery: 1000, defense: defense)
        if defense == .roclip { c.roCLIP = RoCLIPSettings(poolSize: 32, matchEvery: 2) }
        if defense == .filter { c.filter = FilterSettings(model: try savedModel(model, in: dir, seed: 3), fraction: 0.25) }
        if defense == .cleanclip {
            c.initWeights = try savedModel(model, in: dir, seed: 3)
            c.model = ""
        }
        return c
    }

    @Test(arguments: [Defense.roclip, .filter, .cleanclip])
    func defenseRunsResumesExactlyAndLearns(defense: Defense) throws {
        let (dir, data, model) = try setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = try otherDefenseConfig(defense, data: data, model: model, dir: dir)
        let straight = try Trainer(config: config, runDirectory: dir.appendingPathComponent("a").path, reporter: quiet)
        var losses: [Double] = []
        straight.onStep = { _, record in losses.append(record.loss) }
        let summary = try straight.run()
        let stepsPerEpoch = defense == .filter ? 30 / 8 : 5
        #expect(summary.progress.globalStep == 2 * stepsPerEpoch)
        #expect(losses.allSatisfy(\.isFinite) && losses.last! < losses.first!, "\(defense) losses \(losses)")

        // The weights moved, and not wildly.
        let start = defense == .cleanclip ? try weights(config.initWeights!) : try weights(savedModel(model, in: dir, seed: 7))
        let end = try weights(straight.finalWeightsPath)
        let moved = start.keys.filter { !start[$0]!.equals(end[$0]!) }
        #expect(moved.count > start.count / 2)
        #expect(end.values.allSatisfy { $0.isFinite().all().item() != 0 })

        // Stop in the middle of the second epoch, resume, compare.
        let runB = dir.appendingPathComponent("b").path
        let first = try Trainer(config: config, runDirectory: runB, reporter: quiet)
        first.stopAfterSteps = stepsPerEpoch + 1
        #expect(try first.run().interrupted)
        let second = try Trainer(config: config, runDirectory: runB, resume: true, reporter: quiet)
        _ = try second.run()
        try expectEqualWeights(straight.finalWeightsPath, second.finalWeightsPath)

        if defense == .filter {
            let records = try MetricsLog.read(path: runB + "/metrics.jsonl")
            let filter = try #require(records.first { $0["filter_kept"] != nil })
            #expect(filter["filter_kept"] as? Int == 30 && filter["filter_dropped"] as? Int == 10)
            let file = try SimilarityFile.read(path: runB + "/similarities/filter.json")
            #expect(file.selected.count(where: { $0 }) == 30)
        }
    }

    @Test func defenceSettingsAreCheckedAndNamed() throws {
        func failingKey(_ change: (inout TrainingConfig) -> Void) -> String? {
            var c = TrainingConfig(data: "train.csv", model: "tiny-vit", epochs: 10)
            change(&c)
            do { try c.validate() } catch { return error.key }
            return nil
        }
        #expect(failingKey { $0.defense = .safeclip } == nil)
        #expect(failingKey { $0.defense = .safeclip; $0.epochs = 6; $0.safeCLIP.unimodalEpochs = 5 } == "epochs")
        #expect(failingKey { $0.defense = .filter } == "filter_model")
        #expect(failingKey { $0.defense = .cleanclip } == "init_weights")
        #expect(failingKey { $0.defense = .safeclip; $0.safeCLIP.safeCap = 1.5 } == "safe_cap")
        #expect(failingKey { $0.defense = .roclip; $0.roCLIP.poolSize = 0 } == "pool_size")
        #expect(failingKey { $0.defense = .roclip; $0.accumulation = 2 } == "accumulation")
        // An unknown defence in a file is named with its key and the known ones.
        #expect(throws: ConfigError.self) { try ConfigFile.decode(TrainingConfig.self, from: "defense: shield", file: "t.yaml") }
        do {
            _ = try ConfigFile.decode(TrainingConfig.self, from: "defense: shield", file: "t.yaml")
        } catch {
            #expect(error.key == "defense" && error.reason.contains("unknown defence 'shield'") && error.reason.contains("safeclip"), "\(error)")
        }
        // Every key round-trips through the config file format; the defence's keys are its block.
        var c = TrainingConfig(
            data: "train.csv", model: "tiny-vit", defense: .safeclip, settings: SafeCLIPSettings(memoryBank: true, crossAugmented: false))
        c.manifest = "m.json"
        let json = try ConfigFile.jsonData(c)
        let decoded = try JSONDecoder().decode(TrainingConfig.self, from: json)
        #expect(decoded == c)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let block = try #require(object["safeclip"] as? [String: Any])
        #expect(block["memory_bank"] as? Bool == true && block["cross_augmented"] as? Bool == false && object["memory_bank"] == nil)
        #expect(object["defense"] as? String == "safeclip" && object["pool_size"] == nil && object["roclip"] == nil)
        #expect(Set(object.keys).isSubset(of: TrainingConfig.allowedKeys))
        // Setting another defence's settings selects it; setting the defence resets the settings.
        c.roCLIP.poolSize = 77
        #expect(c.defense == .roclip && c.roCLIP.poolSize == 77 && c.safeCLIP == SafeCLIPSettings())
        c.defense = .filter
        #expect(c.filter == FilterSettings())
    }
}

/// SafeCLIP's selection options: ranking by similarity and growth to the cap.
@Suite(.serialized) struct SafeCLIPSelectionOptionTests {
    /// Trains SafeCLIP on the 40-pair toy set (batch 8) into `dir/run`; the caller removes `dir`.
    func trainToySafeCLIP(_ name: String, epochs: Int, logEvery: Int, settings: SafeCLIPSettings) throws -> (dir: URL, run: String) {
        let (dir, data, model) = try makeToyRun(name)
        let run = dir.appendingPathComponent("run").path
        let config = TrainingConfig(
            data: data, model: model, epochs: epochs, batchSize: 8, lr: 2e-3, warmupSteps: 2, seed: 7, device: "cpu", workers: 1,
            threads: 1, logEvery: logEvery, defense: .safeclip, similarityBatchSize: 16, settings: settings)
        _ = try Trainer(config: config, runDirectory: run, reporter: ProgressReporter(quiet: true)).run()
        return (dir, run)
    }

    @Test func similarityRankingAndGrowthToTheCap() throws {
        let (dir, run) = try trainToySafeCLIP(
            "selection", epochs: 6, logEvery: 1000,
            settings: SafeCLIPSettings(
                unimodalEpochs: 1, clipWarmupEpochs: 1, gmmThreshold: 0.5, safeCap: 0.6, safeRanking: .similarity, safeGrowth: .toCap))
        defer { try? FileManager.default.removeItem(at: dir) }
        let selections = try MetricsLog.read(path: run + "/metrics.jsonl").filter { $0["selection_epoch"] != nil }
        #expect(selections.map { $0["ranking"] as? String } == ["threshold", "similarity", "similarity", "similarity"])
        let r = selections.map { $0["r"] as! Double }
        // Linear from r₁ to the cap at the fourth (last) mixed epoch.
        let step = (0.6 - r[0]) / 3
        expectClose(Array(r.dropFirst()), [r[0] + step, r[0] + 2 * step, 0.6], atol: 1e-12)
        for epoch in 4...6 {
            let file = try SimilarityFile.read(path: run + "/similarities/epoch_\(epoch).json")
            let safe = file.similarity.indices.filter { file.selected[$0] }.map { file.similarity[$0] }
            let risky = file.similarity.indices.filter { !file.selected[$0] }.map { file.similarity[$0] }
            #expect(safe.count == Int((r[epoch - 3] * 40 + 1e-9).rounded(.down)))
            #expect((safe.min() ?? 1) >= (risky.max() ?? -1), "epoch \(epoch): the safe set is not the top by similarity")
        }
    }

    /// `risky_training` (the cost ablation): `none` trains only the safe set in phase 3 and its
    /// step count says so; `clip` trains the risky set with the CLIP loss.
    @Test(arguments: [SafeCLIPSettings.RiskyTraining.none, .clip, .unimodal])
    func riskyTrainingChoosesWhatTheRiskySetTrainsOn(choice: SafeCLIPSettings.RiskyTraining) throws {
        let (dir, run) = try trainToySafeCLIP(
            "risky-\(choice.rawValue)", epochs: 4, logEvery: 1,
            settings: SafeCLIPSettings(unimodalEpochs: 1, clipWarmupEpochs: 1, gmmThreshold: 0.5, safeCap: 0.6, riskyTraining: choice))
        defer { try? FileManager.default.removeItem(at: dir) }
        let records = try MetricsLog.read(path: run + "/metrics.jsonl")
        let selections = records.filter { $0["selection_epoch"] != nil }
        let safeCounts = selections.map { $0["safe_count"] as! Int }
        let stepPhases = records.filter { $0["epoch"] != nil && $0["epoch_end"] == nil && $0["selection_epoch"] == nil }.compactMap { $0["phase"] as? String }
        let risky = stepPhases.filter { $0 == "mixed-risky" }.count
        let safe = stepPhases.filter { $0 == "mixed-safe" }.count
        #expect(safe == safeCounts.reduce(0) { $0 + $1 / 8 })
        #expect(risky == (choice == .none ? 0 : safeCounts.reduce(0) { $0 + (40 - $1) / 8 }))
        // Phase 3's planned steps (the lr schedule's length) are the steps it takes.
        #expect(selections.first?["mixed_steps"] as? Int == risky + safe)
        for text in ["defense: safeclip\nrisky_training: \(choice.rawValue)", "defense: safeclip\nsafeclip: {risky_training: \(choice.rawValue)}"] {
            let reread = try ConfigFile.decode(TrainingConfig.self, from: text, file: "t.yaml") { _ in }
            #expect(reread.safeCLIP.riskyTraining == choice)
        }
    }

    @Test func unknownRankingOrGrowthIsNamed() throws {
        for (text, key) in [("safe_ranking: cosine", "safe_ranking"), ("safe_growth: fast", "safe_growth"), ("risky_training: text", "risky_training")] {
            do {
                _ = try ConfigFile.decode(TrainingConfig.self, from: text, file: "t.yaml")
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.key == key && error.reason.contains("known:"), "\(error)")
            }
        }
    }
}
