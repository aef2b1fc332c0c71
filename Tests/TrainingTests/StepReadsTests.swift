import CLIP
import Foundation
import NN
import TestSupport
import Testing
import Torch

@testable import Training

/// A training step reads nothing back from the device between logging steps: the loss, the
/// logit multiplier and the gradient norm stay there until the read of a logging step, which
/// fetches them all at once. Counted with the shim's per-thread read counter
/// (``Runtime/threadHostReadCount``: every `item`, `toArray`, byte copy, CPU data pointer,
/// comparison), which a GPU would turn into synchronisations.
@Suite(.serialized) struct StepReadsTests {
    func config(data: String, modelFile: String, logEvery: Int, gradClip: Double? = 1.0, accumulation: Int = 1) -> TrainingConfig {
        TrainingConfig(
            data: data, model: modelFile, epochs: 1, batchSize: 8 / accumulation, lr: 2e-3, warmupSteps: 2, gradClip: gradClip,
            accumulation: accumulation, seed: 7, device: "cpu", workers: 1, threads: 1, logEvery: logEvery)
    }

    /// A steps-only trainer of the micro model and one synthetic batch of 8 pairs.
    func stepsOnly(_ dir: URL, model: String, gradClip: Double? = 1.0) throws -> (Trainer, ModelInput) {
        var c = config(data: "", modelFile: model, logEvery: 1000, gradClip: gradClip)
        c.warmupSteps = 0
        let trainer = try Trainer(stepsOnly: c)
        let size = trainer.model.config.vision.imageSize, context = trainer.model.config.text.contextLength
        let images = Tensor.randn([8, 3, size, size], generator: Generator(seed: 3))
        var ids = [Int64](repeating: 0, count: 8 * context)
        for row in 0..<8 {
            ids[row * context] = 49406
            for j in 1...(3 + row) { ids[row * context + j] = Int64(400 + 37 * row + j) }
            ids[row * context + 4 + row] = 49407
        }
        return (trainer, ModelInput(images: images, tokens: Tensor(ids, shape: [8, context])))
    }

    @Test(arguments: [nil, 1.0] as [Double?]) func stepsBetweenReadsReadNothing(gradClip: Double?) throws {
        let (dir, _, model) = try makeToyRun("step-reads")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (trainer, input) = try stepsOnly(dir, model: model, gradClip: gradClip)
        let start = Runtime.threadHostReadCount
        for _ in 0..<5 { try trainer.step(on: [input]) }
        #expect(Runtime.threadHostReadCount - start == 0, "5 steps without a read")
        let records = try trainer.readSteps()
        #expect(Runtime.threadHostReadCount - start == 1, "the logging read fetches every figure of the 5 steps at once")
        #expect(records.map(\.step) == [1, 2, 3, 4, 5])
        #expect(records.allSatisfy { $0.loss.isFinite && $0.loss > 0 })
        #expect(records.allSatisfy { ($0.gradNorm != nil) == (gradClip != nil) })
        // Each step's logit scale after the update is the next step's multiplier.
        for (a, b) in zip(records, records.dropFirst()) { #expect(a.logitScale == b.logitMultiplier) }
        #expect(records.last!.logitScale == noGrad { trainer.model.logLogitScale.exp() }.item())
        #expect(try trainer.readSteps().isEmpty)
    }

    /// The deferred figures are the step's own: the loss equals the CLIP loss of the same batch
    /// computed straight from the model before the step, and the gradient norm the one the host
    /// clip (``clipGradNorm(_:maxNorm:)``) reports for the same gradients.
    @Test func deferredFiguresAreTheStepsOwn() throws {
        let (dir, _, model) = try makeToyRun("step-reads-own")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (trainer, input) = try stepsOnly(dir, model: model)
        let clip = trainer.model
        let expectedLoss = noGrad {
            clipLoss(
                imageFeatures: clip.encodeImage(input.images, training: true).normalized(dim: -1),
                textFeatures: clip.encodeText(input.tokens, training: true).normalized(dim: -1), logLogitScale: clip.logLogitScale)
        }.item()
        var hostNorm = 0.0
        try trainer.step(on: [input], beforeUpdate: {
            // The same norm read on the host, without clipping (max norm far above it).
            hostNorm = clipGradNorm(trainer.optimizer, maxNorm: .greatestFiniteMagnitude)
        })
        let record = try #require(try trainer.readSteps().first)
        #expect(abs(record.loss - expectedLoss) <= 1e-6 * expectedLoss, "loss \(record.loss) vs \(expectedLoss)")
        #expect(abs(record.gradNorm! - hostNorm) <= 1e-6 * hostNorm, "norm \(record.gradNorm!) vs \(hostNorm)")
    }

    /// In the training loop: a read every `log_every` steps and at the epoch's end, one read each,
    /// and nothing in between (40 pairs, batch 8: 5 steps; log_every 2 reads after steps 2, 4, 5).
    @Test(arguments: [1, 2]) func theLoopReadsOnlyOnLoggingSteps(accumulation: Int) throws {
        let (dir, data, model) = try makeToyRun("step-reads-loop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let trainer = try Trainer(
            config: config(data: data, modelFile: model, logEvery: 2, accumulation: accumulation),
            runDirectory: dir.appendingPathComponent("run").path, reporter: ProgressReporter(quiet: true))
        var delivered: [(step: Int, reads: Int)] = []
        trainer.onStep = { progress, record in
            #expect(progress.globalStep == record.step)
            delivered.append((record.step, Runtime.threadHostReadCount))
        }
        _ = try trainer.run()
        #expect(delivered.map(\.step) == [1, 2, 3, 4, 5])
        let reads = delivered.map(\.reads)
        // Steps 1–2 arrive together at the read after step 2, 3–4 after step 4, 5 at the epoch's end.
        #expect(reads[0] == reads[1] && reads[2] == reads[3])
        #expect(reads[2] - reads[1] == 1, "steps 3 and 4 and their read: exactly one read")
        #expect(reads[4] - reads[3] == 1, "step 5 and the epoch-end read: exactly one read")
    }

    /// Deferring the reads changes no figure: a run that reads after every step and one that
    /// reads every 3 steps write the same step records (but their timings) and the same weights.
    @Test func readIntervalChangesNoFigure() throws {
        let (dir, data, model) = try makeToyRun("step-reads-interval")
        defer { try? FileManager.default.removeItem(at: dir) }
        func train(logEvery: Int) throws -> ([StepRecord], [String: Tensor]) {
            var c = config(data: data, modelFile: model, logEvery: logEvery)
            c.epochs = 2
            let folder = dir.appendingPathComponent("every-\(logEvery)").path
            _ = try Trainer(config: c, runDirectory: folder, reporter: ProgressReporter(quiet: true)).run()
            let text = try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8)
            let records = text.split(separator: "\n").compactMap { try? JSONDecoder().decode(StepRecord.self, from: Data($0.utf8)) }
            return (records, try loadSafeTensors(atPath: folder + "/model.safetensors").tensors)
        }
        let (each, eachWeights) = try train(logEvery: 1)
        let (third, thirdWeights) = try train(logEvery: 3)
        #expect(each.count == 10 && third.count == 10)
        for (a, b) in zip(each, third) {
            #expect(a.step == b.step && a.epoch == b.epoch && a.phase == b.phase && a.lr == b.lr)
            #expect(a.loss == b.loss && a.logitMultiplier == b.logitMultiplier && a.logitScale == b.logitScale && a.gradNorm == b.gradNorm)
        }
        for (key, tensor) in eachWeights { #expect(tensor.equals(thirdWeights[key]!), "\(key)") }
    }

    /// A non-finite loss is caught at the next read: the records before it are written, and the
    /// error names the step, as when every step was read.
    @Test func divergenceIsCaughtAtTheNextRead() throws {
        let (dir, _, model) = try makeToyRun("step-reads-diverge")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (trainer, input) = try stepsOnly(dir, model: model)
        let clip = trainer.model
        let poisoned: SegmentLoss = { views in
            clipLoss(imageFeatures: views[0].image, textFeatures: views[0].text, logLogitScale: clip.logLogitScale) * Tensor(scalar: .nan)
        }
        var seen: [Int] = []
        trainer.onStep = { _, record in seen.append(record.step) }
        try trainer.step(on: [input])
        try trainer.step(on: [input], loss: poisoned)  // global step 1 (0-based) diverges
        try trainer.step(on: [input])
        #expect(seen.isEmpty, "nothing is read before the logging read")
        do {
            try trainer.readSteps()
            Issue.record("a NaN loss went unnoticed")
        } catch let error as TrainingError {
            #expect(error.description == "training diverged at step 1 (loss nan); lower the learning rate")
        }
        #expect(seen == [1], "the finite step before the divergence keeps its record")
    }
}
