import CLIP
import Datasets
import Foundation
import TestSupport
import Testing
import Torch
@testable import Training

/// A temporary folder with 40 toy pairs (``ToySet/write(in:count:)``) and the micro model config.
func makeToyRun(_ name: String) throws -> (dir: URL, data: String, model: String) {
    let dir = try makeTemporaryDirectory(name)
    let data = try ToySet.write(in: dir, count: 40)
    let model = dir.appendingPathComponent("micro.json").path
    try ToySet.microModelConfig.write(toFile: model, atomically: true, encoding: .utf8)
    return (dir, data, model)
}

@Suite(.serialized) struct TrainerTests {
    func config(data: String, modelFile: String, epochs: Int = 2) -> TrainingConfig {
        TrainingConfig(
            data: data, model: modelFile, epochs: epochs, batchSize: 8, lr: 2e-3, warmupSteps: 2, seed: 7,
            device: "cpu", workers: 1, threads: 1, logEvery: 1000)
    }

    func setUp() throws -> (dir: URL, data: String, model: String) { try makeToyRun("trainer") }

    func weights(_ path: String) throws -> [String: Tensor] { try loadSafeTensors(atPath: path).tensors }

    /// A micro ModifiedResNet CLIP (trained channels-last on the CPU in fp32).
    static let microResNetConfig = """
        {"embed_dim": 32,
         "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8, "patch_size": null},
         "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
        """

    @Test(arguments: ["vit", "resnet"]) func resumedRunEqualsUninterruptedRun(tower: String) throws {
        var (dir, data, model) = try setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        if tower == "resnet" {
            model = dir.appendingPathComponent("micro-rn.json").path
            try Self.microResNetConfig.write(toFile: model, atomically: true, encoding: .utf8)
        }
        let quiet = ProgressReporter(quiet: true)

        let straight = try Trainer(
            config: config(data: data, modelFile: model), runDirectory: dir.appendingPathComponent("a").path, reporter: quiet)
        // ResNets train channels-last (weights, inputs and AdamW moments, also after a resume).
        #expect(straight.model.usesChannelsLast == (tower == "resnet"))
        let summaryA = try straight.run()
        #expect(!summaryA.interrupted)
        #expect(summaryA.progress.globalStep == 10)  // 2 epochs × ⌊40 / 8⌋ steps

        // Stop in the middle of the first epoch, resume, stop again after the first epoch, resume.
        let runB = dir.appendingPathComponent("b").path
        let first = try Trainer(config: config(data: data, modelFile: model), runDirectory: runB, reporter: quiet)
        first.stopAfterSteps = 3
        #expect(try first.run().interrupted)
        let second = try Trainer(config: config(data: data, modelFile: model), runDirectory: runB, resume: true, reporter: quiet)
        second.stopAfterSteps = 4
        let mid = try second.run()
        #expect(mid.interrupted && mid.progress.globalStep == 7)
        let third = try Trainer(config: config(data: data, modelFile: model), runDirectory: runB, resume: true, reporter: quiet)
        let summaryB = try third.run()
        #expect(summaryB.progress.globalStep == 10)

        let a = try weights(straight.finalWeightsPath), b = try weights(third.finalWeightsPath)
        #expect(a.keys.sorted() == b.keys.sorted())
        for (key, tensor) in a {
            #expect(tensor.equals(b[key]!), "weights differ after resume: \(key)")
        }
        // The resumed run's log reads like the uninterrupted one: steps 1…10 once each.
        let steps = try MetricsLog.read(path: runB + "/metrics.jsonl").compactMap { $0["loss"] != nil ? $0["step"] as? Int : nil }
        #expect(steps == Array(1...10))
    }

    @Test func refusesToOverwriteARunAndNamesTheFolder() throws {
        let (dir, data, model) = try setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run").path
        let trainer = try Trainer(
            config: config(data: data, modelFile: model, epochs: 1), runDirectory: run, reporter: ProgressReporter(quiet: true))
        _ = try trainer.run()
        let before = try Data(contentsOf: URL(fileURLWithPath: trainer.checkpointPath))
        #expect(throws: TrainingError.self) {
            _ = try Trainer(config: config(data: data, modelFile: model), runDirectory: run)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: trainer.checkpointPath)) == before)
    }

    @Test func accumulationTrainsTheWholeBatchLossAsOpenClipsAccumFreq() throws {
        let (dir, data, model) = try setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        func train(batch: Int, accumulation: Int, name: String) throws -> ([Double], [String: Tensor]) {
            var c = config(data: data, modelFile: model, epochs: 1)
            c.batchSize = batch
            c.accumulation = accumulation
            c.shuffle = false
            // Attention key biases have an exactly-zero true gradient (softmax is invariant to
            // them); with eps 1e-8 AdamW turns their rounding noise into ±lr steps. eps 1e-6, as
            // open_clip's ViT default, keeps the comparison about the objective.
            c.eps = 1e-6
            let trainer = try Trainer(config: c, runDirectory: dir.appendingPathComponent(name).path, reporter: ProgressReporter(quiet: true))
            var losses: [Double] = []
            trainer.onStep = { _, record in losses.append(record.loss) }
            _ = try trainer.run()
            return (losses, try weights(trainer.finalWeightsPath))
        }
        // 2 steps over the same 32 pairs: one batch of 16, or two micro-batches of 8 (the fifth dropped).
        let (wholeLoss, whole) = try train(batch: 16, accumulation: 1, name: "whole")
        let (accumulatedLoss, accumulated) = try train(batch: 8, accumulation: 2, name: "accumulated")
        #expect(wholeLoss.count == 2 && accumulatedLoss.count == 2)
        expectClose(accumulatedLoss, wholeLoss, rtol: 1e-5, atol: 1e-6)
        for (key, tensor) in whole { expectClose(accumulated[key]!, tensor, rtol: 1e-4, atol: 1e-5, key) }
    }

    @Test func lossFallsOnToyData() throws {
        let (dir, data, model) = try setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        var losses: [Double] = []
        let trainer = try Trainer(
            config: config(data: data, modelFile: model, epochs: 6), runDirectory: dir.appendingPathComponent("r").path,
            reporter: ProgressReporter(quiet: true))
        trainer.onStep = { _, record in losses.append(record.loss) }
        _ = try trainer.run()
        let head = losses.prefix(3).reduce(0, +) / 3, tail = losses.suffix(3).reduce(0, +) / 3
        #expect(tail < head * 0.7, "loss went from \(head) to \(tail)")
    }
}

/// The run folder is protected: one writer at a time, restartable after a failed start, and a
/// resume that cannot silently change what the run computes.
@Suite(.serialized) struct RunFolderTests {
    let quiet = ProgressReporter(quiet: true)

    /// An experiment folder resumes with everything an experiment writes, the optimised trigger's
    /// `surrogate/` too; a stray file refuses it.
    @Test func anExperimentFolderWithItsSurrogateResumes() throws {
        let dir = try makeTemporaryDirectory("experiment-guard")
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["data", "rows", "surrogate"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        try "{}".write(to: dir.appendingPathComponent("experiment.json"), atomically: true, encoding: .utf8)
        #expect(try RunFolderGuard.check(dir.path, kind: .experiment) == .resume)
        try "x".write(to: dir.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        #expect(throws: TrainingError.self) { try RunFolderGuard.check(dir.path, kind: .experiment) }
    }

    func config(data: String, model: String, epochs: Int = 1) -> TrainingConfig {
        TrainingConfig(
            data: data, model: model, epochs: epochs, batchSize: 8, lr: 2e-3, warmupSteps: 2, seed: 7, device: "cpu", workers: 1,
            threads: 1, logEvery: 1000)
    }

    @Test func aSecondRunIntoALockedFolderIsRefusedAndTheFirstCanFinish() throws {
        let (dir, data, model) = try makeToyRun("lock")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run").path
        let first = try Trainer(config: config(data: data, model: model), runDirectory: run, reporter: quiet)
        do {
            _ = try Trainer(config: config(data: data, model: model), runDirectory: run, reporter: quiet)
            Issue.record("a second trainer took a locked folder")
        } catch {
            #expect("\(error)".contains("in use by another clipguard run (process \(getpid()))"), "\(error)")
        }
        _ = try first.run()
        let records = try MetricsLog.read(path: run + "/metrics.jsonl")
        #expect(records.filter { $0["loss"] != nil }.count == 5)
    }

    @Test func aFailedStartLeavesNothingAndAStartWithoutCheckpointCanBeRestarted() throws {
        let (dir, data, model) = try makeToyRun("restart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run").path
        // A bad evaluation folder is found before the run folder is created.
        var bad = config(data: data, model: model)
        bad.evalData = dir.appendingPathComponent("no-such-eval").path
        #expect(throws: (any Error).self) { _ = try Trainer(config: bad, runDirectory: run, reporter: quiet) }
        #expect(!FileManager.default.fileExists(atPath: run))
        // A run killed before its first checkpoint (a log, a temporary file) starts again.
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try "{\"step\":1,\"loss\":9}\n".write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: run + "/.checkpoint.safetensors.tmp-123-456"))
        #expect(throws: TrainingError.self) { _ = try Trainer(config: config(data: data, model: model), runDirectory: run, resume: true, reporter: quiet) }
        let trainer = try Trainer(config: config(data: data, model: model), runDirectory: run, reporter: quiet)
        #expect(!FileManager.default.fileExists(atPath: run + "/.checkpoint.safetensors.tmp-123-456"))
        _ = try trainer.run()
        let records = try MetricsLog.read(path: run + "/metrics.jsonl")
        #expect(records.filter { $0["loss"] != nil }.map { $0["step"] as? Int } == [1, 2, 3, 4, 5])
    }

    @Test func resumeRefusesSettingsThatChangeTheResultAndAcceptsHarmlessOnes() throws {
        let (dir, data, model) = try makeToyRun("resume-check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run").path
        let first = try Trainer(config: config(data: data, model: model, epochs: 2), runDirectory: run, reporter: quiet)
        first.stopAfterSteps = 3
        #expect(try first.run().interrupted)
        let savedConfig = try Data(contentsOf: URL(fileURLWithPath: run + "/config.json"))
        for change in [{ (c: inout TrainingConfig) in c.batchSize = 4 }, { $0.seed = 8 }, { $0.lr = 1e-3 }, { $0.epochs = 3 }] {
            var changed = config(data: data, model: model, epochs: 2)
            change(&changed)
            do {
                _ = try Trainer(config: changed, runDirectory: run, resume: true, reporter: quiet)
                Issue.record("resume accepted a changed setting")
            } catch {
                #expect("\(error)".contains("alter the result"), "\(error)")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: run + "/config.json")) == savedConfig)
        }
        var harmless = config(data: data, model: model, epochs: 2)
        harmless.workers = 2
        harmless.logEvery = 7
        let second = try Trainer(config: harmless, runDirectory: run, resume: true, reporter: quiet)
        #expect(try !second.run().interrupted)
        let conflicts = harmless.resumeConflicts(saved: config(data: data, model: model, epochs: 2))
        #expect(conflicts.changesResult.isEmpty && conflicts.harmless == ["log_every", "workers"])
        let other = config(data: data, model: model, epochs: 2).resumeConflicts(saved: config(data: "x.csv", model: model, epochs: 2))
        #expect(other.changesResult == ["data"] && other.savedValues == "data = x.csv")
    }
}
