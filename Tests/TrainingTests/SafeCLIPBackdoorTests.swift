import Attacks
import CLIP
import Datasets
import Evaluation
import Foundation
import TestSupport
import Testing
import Torch
@testable import Training

/// SafeCLIP against a patch backdoor on captioned Fashion-MNIST (issue "Defences", done-when):
/// the same poisoned data and seed trained with plain CLIP and with SafeCLIP.
///
/// Scale: 2,000 clean training pairs + 5 % poisoned (100 pairs: white patch, natural captions
/// naming "sneaker"), 500 test images, a 32 px ViT with 2 blocks of width 64 per tower, batch 64,
/// lr 2e-3, 6 epochs each. SafeCLIP: 1 unimodal epoch, 1 CLIP warm-up epoch at lr 5e-4 (the
/// reference 5e-6 teaches a fresh micro model nothing in one epoch), 4 mixed epochs with the
/// reference threshold, increment and cap. A smaller set (800 pairs, 5 epochs) did not train
/// plain CLIP far enough to plant the backdoor reliably (ASR 25 %); this one takes 5.5 CPU-minutes
/// in a debug build (11 minutes wall on 2 shared cores), so it runs only with `CLIPGUARD_SLOW_TESTS=1`,
/// which `make test` sets.
/// Measured with the same settings through the CLI: ASR plain 88.5 %, SafeCLIP 5.9 %; clean
/// zero-shot top-1 58.8 % and 24.2 %; 97 of the 100 poisoned pairs risky at the last selection.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["CLIPGUARD_SLOW_TESTS"] == "1"))
struct SafeCLIPBackdoorTests {
    static let modelConfig = """
        {"embed_dim": 64,
         "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
         "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}
        """

    @Test func safeCLIPKeepsThePatchBackdoorOutOnFashionMNIST() throws {
        let dir = try makeTemporaryDirectory("safeclip-backdoor")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clean = dir.appendingPathComponent("fm").path
        _ = try BuiltinSets.prepareFashionMNIST(folder: clean, limit: 2000, evaluationLimit: 500, seed: 0)
        let poisoned = dir.appendingPathComponent("poisoned").path
        let summary = try Poisoner.run(
            PoisonRequest(
                dataPath: clean + "/train.csv", outputFolder: poisoned, target: "sneaker",
                attack: .backdoor(kind: .patch, options: TriggerOptions(), source: .train), amount: .rate(0.05),
                captions: .natural, placement: .modelInput(ModelGeometry(size: 32)), seed: 0))
        let model = dir.appendingPathComponent("model.json").path
        try Self.modelConfig.write(toFile: model, atomically: true, encoding: .utf8)

        var config = TrainingConfig(
            data: poisoned + "/train.csv", model: model, epochs: 6, batchSize: 64, lr: 2e-3, warmupSteps: 10, seed: 1,
            device: "cpu", workers: 2, logEvery: 1000)
        let quiet = ProgressReporter(quiet: true)
        let plain = try Trainer(config: config, runDirectory: dir.appendingPathComponent("plain").path, reporter: quiet)
        _ = try plain.run()

        config.defense = .safeclip
        config.safeCLIP.unimodalEpochs = 1
        config.safeCLIP.clipWarmupEpochs = 1
        config.safeCLIP.clipWarmupLR = 5e-4
        let safe = try Trainer(config: config, runDirectory: dir.appendingPathComponent("safeclip").path, reporter: quiet)
        _ = try safe.run()

        let evaluation = try openClassificationSet(atPath: clean + "/eval")
        func backdoor(_ weights: String) throws -> BackdoorEvaluation {
            let trained = try loadCLIPModel(weightsPath: weights)
            let classifier = ZeroShotClassifier(
                model: trained, tokenizer: try CLIPTokenizer.load(), classNames: evaluation.classNames, templates: evaluation.templates)
            return try evaluateBackdoor(model: trained, classifier: classifier, dataset: evaluation, manifest: summary.manifest, workers: 1)
        }
        let plainResult = try backdoor(plain.finalWeightsPath)
        let safeResult = try backdoor(safe.finalWeightsPath)
        let plainASR = try #require(plainResult.asr.asr), safeASR = try #require(safeResult.asr.asr)

        let selections = try MetricsLog.read(path: safe.runDirectory + "/metrics.jsonl").filter { $0["selection_epoch"] != nil }
        let last = try #require(selections.last)
        let poisonedTotal = try #require(last["poisoned_total"] as? Int)
        let inRisky = try #require(last["poisoned_in_risky"] as? Int)
        let message: Comment = """
            ASR plain \(plainASR), SafeCLIP \(safeASR); clean top-1 plain \(plainResult.clean.top1), SafeCLIP \
            \(safeResult.clean.top1); last selection: safe fraction \(last["safe_fraction"] ?? "?"), \
            poisoned in risky \(inRisky) of \(poisonedTotal)
            """
        print(message)
        #expect(poisonedTotal == 100)
        // Measured 2026-12-04 with the corrected loss: plain ASR 77.9%, SafeCLIP 5.9%, 97 of 100
        // poisoned pairs in the risky set, SafeCLIP clean top-1 24.2%.
        #expect(plainASR > 0.6, message)
        #expect(safeASR < 0.2 && safeASR < plainASR / 4, message)
        #expect(Double(inRisky) >= 0.9 * Double(poisonedTotal), message)
        #expect(safeResult.clean.top1 > 0.18, message)  // it still learned something (10 classes: chance 0.1)
    }
}
