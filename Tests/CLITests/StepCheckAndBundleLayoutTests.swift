import Foundation
import TestSupport
import Testing

/// `clipguard step-check` (the GPU check's device comparison, run CPU against CPU here) and the
/// bundle layout: configs and assets found in `share/clipguard` beside the executable's folder.
@Suite struct StepCheckAndBundleLayoutTests {
    let clipguard: URL

    init() throws { clipguard = try builtExecutable(named: "clipguard") }

    private func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func sameStepOnTwoCPUModelsAgreesAndOneRankAllReduceKeepsGradients() throws {
        let result = try runCommand(
            clipguard, ["step-check", "--model", "micro-vit", "--compare", "cpu", "--batch", "4", "--steps", "1", "--all-reduce", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try json(result.stdout)
        #expect(report["ok"] as? Bool == true)
        let losses = try #require(report["losses"] as? [Double])
        #expect(losses.count == 3)
        // Every step is Trainer.step, an AdamW update on the fixed batch: the loss falls step by
        // step (losses[1] is the loss after one update, the timed step's the loss after two).
        #expect(losses[1] < losses[0])
        #expect(losses[2] < losses[1])
        let compare = try #require(report["compare"] as? [String: Any])
        #expect(compare["loss_rel_diff"] as? Double == 0)
        #expect(compare["grad_rel_diff"] as? Double == 0)
        let reduce = try #require(report["all_reduce"] as? [String: Any])
        #expect(reduce["backend"] as? String == "gloo")
        #expect(reduce["max_abs_diff"] as? Double == 0)
        #expect(report["step_seconds_median"] is Double)
    }

    @Test func bf16AutocastChangesTheLossSlightly() throws {
        func firstLoss(_ precision: String) throws -> Double {
            let result = try runCommand(
                clipguard, ["step-check", "--model", "micro-vit", "--precision", precision, "--batch", "4", "--steps", "0", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            return try #require((try json(result.stdout)["losses"] as? [Double])?.first)
        }
        let fp32 = try firstLoss("fp32"), bf16 = try firstLoss("bf16")
        #expect(fp32 != bf16)
        #expect(abs(fp32 - bf16) / fp32 < 3e-2)
    }

    @Test func unavailableDeviceAndBadPrecisionAreNamed() throws {
        let device = try runCommand(clipguard, ["step-check", "--device", "cuda:3"])
        #expect(device.status != 0)
        #expect(device.stderr.contains("cuda:3") && device.stderr.contains("no CUDA GPU"), "\(device.stderr)")
        let precision = try runCommand(clipguard, ["step-check", "--precision", "fp16"])
        #expect(precision.status != 0)
        #expect(precision.stderr.contains("fp16"))
    }

    /// `bin/clipguard` with `share/clipguard/{model_configs,assets}` beside `bin/`, as in the bundle.
    @Test func configsAndAssetsAreFoundBesideTheExecutable() throws {
        let dir = try makeTemporaryDirectory("bundle-layout")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = dir.appendingPathComponent("bin"), share = dir.appendingPathComponent("share/clipguard")
        for folder in [bin, share.appendingPathComponent("model_configs"), share.appendingPathComponent("assets")] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        let copy = bin.appendingPathComponent("clipguard")
        do { try FileManager.default.linkItem(at: clipguard, to: copy) } catch {
            try FileManager.default.copyItem(at: clipguard, to: copy)
        }
        try #"{"embed_dim": 8}"#.write(
            to: share.appendingPathComponent("model_configs/only-in-share.json"), atomically: true, encoding: .utf8)
        let listed = try runCommand(copy, ["model-info", "--list"])
        #expect(listed.status == 0)
        #expect(listed.stdout.split(separator: "\n") == ["only-in-share"])
        // A broken vocabulary there is the one read (the checkout's .deps/assets is not used).
        let vocabulary = share.appendingPathComponent("assets/bpe_simple_vocab_16e6.txt.gz")
        try Data("not gzip".utf8).write(to: vocabulary)
        let tokenized = try runCommand(copy, ["tokenize", "a photo"])
        #expect(tokenized.status != 0)
        #expect(tokenized.stderr.contains(vocabulary.path))
    }
}
