import Attacks
import CLIP
import Datasets
import Evaluation
import Foundation
import TestSupport
import Testing
import Torch
@testable import Training

/// Real data, real training: captioned Fashion-MNIST (from the Debian package the set-up
/// installs), a micro CLIP at 16 px, a few hundred steps on 2 cores.
@Suite(.serialized) struct FashionMNISTEndToEndTests {
    static let trainPairs = 3000
    static let evalImages = 1000

    /// Prepared once per test process: clean set, poisoned set, and a clean model.
    final class Shared: @unchecked Sendable {
        let dir: URL
        let clean: String
        let eval: String
        let model: String
        init() throws {
            dir = try makeTemporaryDirectory("fm-e2e")
            _ = try BuiltinSets.prepareFashionMNIST(
                folder: dir.appendingPathComponent("fm").path, limit: FashionMNISTEndToEndTests.trainPairs,
                evaluationLimit: FashionMNISTEndToEndTests.evalImages, seed: 3)
            clean = dir.appendingPathComponent("fm/train.csv").path
            eval = dir.appendingPathComponent("fm/eval").path
            model = dir.appendingPathComponent("micro.json").path
            try ToySet.microModelConfig.write(toFile: model, atomically: true, encoding: .utf8)
        }
    }
    static let shared = Result { try Shared() }

    func config(data: String, model: String) -> TrainingConfig {
        TrainingConfig(
            data: data, model: model, epochs: 6, batchSize: 64, lr: 2e-3, warmupSteps: 20, seed: 1, device: "cpu",
            workers: 2, logEvery: 1000)
    }

    func train(_ data: String, into name: String, _ s: Shared) throws -> Trainer {
        let trainer = try Trainer(
            config: config(data: data, model: s.model), runDirectory: s.dir.appendingPathComponent(name).path,
            reporter: ProgressReporter(quiet: true))
        _ = try trainer.run()
        return trainer
    }

    @Test func zeroShotTop1RisesFarAboveChanceOf10Percent() throws {
        let s = try Self.shared.get()
        let trainer = try train(s.clean, into: "clean", s)
        let set = try openClassificationSet(atPath: s.eval)
        let untrained = try loadCLIPModel(weightsPath: trainer.finalWeightsPath)  // reloaded from disk
        let result = try evaluateZeroShot(
            model: untrained,
            classifier: ZeroShotClassifier(model: untrained, tokenizer: trainer.tokenizer, classNames: set.classNames, templates: set.templates),
            dataset: set)
        print("Fashion-MNIST end to end: zero-shot top-1 \(result.top1), top-5 \(result.top5) on \(result.counts.total) test images")
        #expect(result.counts.total == Self.evalImages)
        // Measured 73.7% with the corrected loss (2026-12-04); the old trainer (log scale as multiplier) was checked against 50%.
        #expect(result.top1 > 0.65, "zero-shot top-1 after \(trainer.config.epochs) epochs on \(Self.trainPairs) pairs: \(result.top1)")
    }

    @Test func patchBackdoorTakesFarAboveTheCleanModelsASR() throws {
        let s = try Self.shared.get()
        // 5% of the pairs: a white square (7/32 of the side) bottom-right, captions naming "sneaker".
        var options = TriggerOptions()
        options[PatchTrigger.size] = .fraction(50.0 / 224.0)
        let poisoned = s.dir.appendingPathComponent("poisoned").path
        let summary = try Poisoner.run(
            PoisonRequest(
                dataPath: s.clean, outputFolder: poisoned, target: "sneaker",
                attack: .backdoor(kind: .patch, options: options, source: .train), amount: .rate(0.05),
                captions: .natural, placement: .modelInput(ModelGeometry(resize: .crop, size: 16)), seed: 5))
        #expect(summary.manifest.rows.count == 150)

        let cleanRun = s.dir.appendingPathComponent("clean/model.safetensors").path
        let cleanModel: CLIPModel
        if FileManager.default.fileExists(atPath: cleanRun) {
            cleanModel = try loadCLIPModel(weightsPath: cleanRun)
        } else {
            cleanModel = try train(s.clean, into: "clean", s).model
        }
        let attacked = try train(poisoned + "/train.csv", into: "attacked", s)
        let set = try openClassificationSet(atPath: s.eval)
        func asr(_ model: CLIPModel) throws -> BackdoorEvaluation {
            let classifier = ZeroShotClassifier(
                model: model, tokenizer: attacked.tokenizer, classNames: set.classNames, templates: set.templates)
            return try evaluateBackdoor(model: model, classifier: classifier, dataset: set, manifest: summary.manifest)
        }
        let before = try asr(cleanModel), after = try asr(attacked.model)
        #expect(after.asr.asrDenominator == before.asr.asrDenominator)
        #expect(after.asr.asrDenominator < Self.evalImages)  // sneaker images are left out
        let a = after.asr.asr ?? 0, b = before.asr.asr ?? 0
        print("Fashion-MNIST end to end: ASR poisoned model \(a), clean model \(b) (n = \(after.asr.asrDenominator)); clean top-1 \(after.clean.top1) vs \(before.clean.top1)")
        // Measured 100% vs 1.5% (2026-12-04).
        #expect(a > 0.9 && a > b + 0.8, "ASR: poisoned model \(a), clean model \(b)")
    }
}
