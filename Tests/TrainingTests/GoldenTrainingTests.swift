import Foundation
import TestSupport
import Testing
import Torch
@testable import Training

/// The golden training test: ClipGuard's trainer trains the same 24 steps as open_clip did in
/// Scripts/make_training_fixtures.py (same initial weights, same batches in row order, same
/// hyper-parameters), and every step's loss and learning rate and the final weights must agree
/// to float tolerance. A loss that matches inside a loop that feeds it the wrong thing (scale
/// convention, schedule index, decay groups, clipping, clamp, data order, normalisation) fails here.
@Suite(.serialized) struct GoldenTrainingTests {
    /// The settings of Tests/Fixtures/training/golden.json.
    struct Settings: Decodable {
        var version: String
        var batchSize: Int
        var epochs: Int
        var lr: Double
        var warmupSteps: Int
        var weightDecay: Double
        var beta1: Double
        var beta2: Double
        var eps: Double
        var gradClip: Double
        var seed: UInt64

        enum CodingKeys: String, CodingKey {
            case version, epochs, lr, eps, seed, beta1, beta2
            case batchSize = "batch_size", warmupSteps = "warmup_steps", weightDecay = "weight_decay", gradClip = "grad_clip"
        }
    }

    static let folder = fixturesDirectory.appendingPathComponent("training")

    /// A `[49408, width]` token embedding that is zero except for `rows` at `ids`.
    static func tokenEmbedding(rows: Tensor, ids: Tensor, vocabulary: Int) -> Tensor {
        let width = rows.size(1)
        let values: [Float] = rows.toArray()
        let indices: [Int64] = ids.toArray()
        var full = [Float](repeating: 0, count: vocabulary * width)
        for (r, id) in indices.enumerated() {
            for c in 0..<width { full[Int(id) * width + c] = values[r * width + c] }
        }
        return Tensor(full, shape: [vocabulary, width])
    }

    /// The fixture's `prefix.*` tensors as a state_dict (token embedding expanded).
    static func stateDict(_ fixture: [String: Tensor], prefix: String) -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for (key, value) in fixture where key.hasPrefix(prefix + ".") {
            result[String(key.dropFirst(prefix.count + 1))] = value
        }
        let rows = result.removeValue(forKey: "token_embedding.rows")!
        result["token_embedding.weight"] = tokenEmbedding(rows: rows, ids: fixture["token_ids"]!, vocabulary: 49_408)
        return result
    }

    /// The `loss` and `lr` of every step record in a run's metrics.jsonl.
    static func stepRecords(_ runDirectory: String) throws -> (losses: [Double], lrs: [Double]) {
        let text = try String(contentsOfFile: runDirectory + "/metrics.jsonl", encoding: .utf8)
        var losses: [Double] = [], lrs: [Double] = []
        for line in text.split(separator: "\n") {
            let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard record["epoch_end"] == nil, let loss = record["loss"] as? Double else { continue }
            losses.append(loss)
            lrs.append(try #require(record["lr"] as? Double))
        }
        return (losses, lrs)
    }

    /// Loss tolerance per model: the ResNet's BatchNorm over 1×1 maps of 8 samples turns fp32
    /// rounding (channels-last convolutions here, contiguous ones in PyTorch) into ~1e-5 of loss;
    /// the ViT stays within a few ulps.
    static let lossTolerance = ["golden-rn": 5e-5, "golden-vit": 5e-6]
    /// Largest |Δ| allowed in any final weight or BatchNorm statistic.
    static let weightTolerance = 2e-5

    @Test(arguments: ["golden-rn", "golden-vit"]) func trainerMatchesOpenCLIPStepByStep(model: String) throws {
        let settings = try JSONDecoder().decode(Settings.self, from: Data(contentsOf: Self.folder.appendingPathComponent("golden.json")))
        #expect(settings.version == "1")
        let (fixture, metadata) = try loadSafeTensors(atPath: Self.folder.appendingPathComponent("\(model).safetensors").path)
        #expect(metadata["version"] == "1")
        let dir = try makeTemporaryDirectory("golden-\(model)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let initPath = dir.appendingPathComponent("init.safetensors").path
        try saveSafeTensors(Self.stateDict(fixture, prefix: "init"), toPath: initPath)

        let config = TrainingConfig(
            data: Self.folder.appendingPathComponent("data/train.csv").path,
            model: Self.folder.appendingPathComponent("\(model).json").path, epochs: settings.epochs,
            batchSize: settings.batchSize, lr: settings.lr, warmupSteps: settings.warmupSteps,
            weightDecay: settings.weightDecay, beta1: settings.beta1, beta2: settings.beta2, eps: settings.eps,
            gradClip: settings.gradClip, precision: "fp32", seed: settings.seed, device: "cpu", workers: 1, threads: 1,
            shuffle: false, initWeights: initPath)
        let runDirectory = dir.appendingPathComponent("run").path
        let trainer = try Trainer(config: config, runDirectory: runDirectory, reporter: ProgressReporter(quiet: true))
        _ = try trainer.run()

        let (losses, lrs) = try Self.stepRecords(runDirectory)
        let expectedLosses: [Double] = fixture["losses"]!.toArray()
        let expectedLRs: [Double] = fixture["lrs"]!.toArray()
        #expect(losses.count == expectedLosses.count, "steps taken")
        let deltas = zip(losses, expectedLosses).map { abs($0 - $1) }
        print("\(model): per-step |Δloss| \(deltas.map { String(format: "%.1e", $0) }.joined(separator: " "))")
        let lossDelta = deltas.max() ?? .infinity
        print("\(model): \(losses.count) steps, max |Δloss| \(lossDelta) (loss \(expectedLosses.first!) → \(expectedLosses.last!))")
        expectClose(lrs, expectedLRs, rtol: 1e-12, atol: 1e-15, "\(model) learning rates")
        expectClose(losses, expectedLosses, rtol: 0, atol: Self.lossTolerance[model]!, "\(model) per-step losses")

        let (ours, _) = try loadSafeTensors(atPath: runDirectory + "/model.safetensors")
        let expected = Self.stateDict(fixture, prefix: "final")
        #expect(Set(ours.keys) == Set(expected.keys))
        var worst = (delta: 0.0, name: "")
        var beyond: [String] = []
        for (name, reference) in expected.sorted(by: { $0.key < $1.key }) {
            guard let got = ours[name] else { continue }
            if reference.dtype == .int64 {
                #expect(got.toArray() as [Int64] == reference.toArray() as [Int64], "\(model) \(name)")
                continue
            }
            let delta = (got.to(.float64) - reference.to(.float64)).abs().max().item()
            if delta > worst.delta { worst = (delta, name) }
            if delta > Self.weightTolerance { beyond.append(name) }
        }
        print("\(model): final weights max |Δ| \(worst.delta) in \(worst.name)")
        #expect(
            beyond.isEmpty,
            "\(model): \(beyond.count) final tensors differ by more than \(Self.weightTolerance), max |Δ| \(worst.delta) in \(worst.name): \(beyond.prefix(5).joined(separator: ", "))…")
    }
}
