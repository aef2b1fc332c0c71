import Foundation
import TestSupport
import Testing
import Torch

/// `clipguard train --nproc 2` against one process with the same global batches.
@Suite(.serialized) struct DataParallelTrainingTests {
    func trainArguments(data: String, model: String, out: String) -> [String] {
        [
            "train", "--data", data, "--model", model, "--epochs", "2", "--batch-size", "8", "--lr", "2e-3",
            "--warmup-steps", "2", "--seed", "7", "--device", "cpu", "--workers", "1", "--threads", "1", "--out", out,
        ]
    }

    @Test(.timeLimit(.minutes(3))) func twoWorkersReachTheWeightsOfOneProcess() throws {
        let dir = try makeTemporaryDirectory("ddp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try ToySet.write(in: dir, count: 48)
        let model = dir.appendingPathComponent("micro.json").path
        try ToySet.microModelConfig.write(toFile: model, atomically: true, encoding: .utf8)
        let clipguard = try builtExecutable(named: "clipguard")

        let start = ContinuousClock.now
        let one = try runCommand(clipguard, trainArguments(data: data, model: model, out: dir.appendingPathComponent("one").path))
        let oneTime = ContinuousClock.now - start
        try #require(one.status == 0, "\(one.stderr)")
        let two = try runCommand(
            clipguard, trainArguments(data: data, model: model, out: dir.appendingPathComponent("two").path) + ["--nproc", "2"])
        let twoTime = ContinuousClock.now - start - oneTime
        try #require(two.status == 0, "\(two.stdout)\n\(two.stderr)")
        #expect(two.stdout.contains("[rank 1]"))

        let a = try loadSafeTensors(atPath: dir.appendingPathComponent("one/model.safetensors").path).tensors
        let b = try loadSafeTensors(atPath: dir.appendingPathComponent("two/model.safetensors").path).tensors
        #expect(Set(a.keys) == Set(b.keys))
        var maxDifference = 0.0
        for (name, whole) in a {
            var x = whole
            var y = try #require(b[name])
            if name.hasSuffix("attn.in_proj_bias") {
                // Softmax ignores the key bias (it adds one constant per query row), so its true
                // gradient is 0 and AdamW turns rounding noise of either run into lr-sized steps.
                let d = x.shape[0] / 3
                #expect(y.narrowed(dim: 0, start: d, length: d).abs().max().item() < 0.05)
                x = Tensor.cat([x.narrowed(dim: 0, start: 0, length: d), x.narrowed(dim: 0, start: 2 * d, length: d)], dim: 0)
                y = Tensor.cat([y.narrowed(dim: 0, start: 0, length: d), y.narrowed(dim: 0, start: 2 * d, length: d)], dim: 0)
            }
            let difference = (x - y).abs().max().item()
            maxDifference = max(maxDifference, difference)
            #expect(x.allClose(y, rtol: 1e-4, atol: 1e-5), "\(name): max |Δ| \(difference)")
        }
        // Rank 0 alone logs: both runs log 12 steps (2 epochs × 48 / 8) and 2 epoch records.
        for run in ["one", "two"] {
            let lines = try String(contentsOf: dir.appendingPathComponent("\(run)/metrics.jsonl"), encoding: .utf8)
                .split(separator: "\n")
            #expect(lines.count == 14, "\(run): \(lines.count) records")
        }
        print("ddp: max |Δweight| \(maxDifference); 1 process \(oneTime), 2 processes \(twoTime)")
    }

    @Test(.timeLimit(.minutes(2))) func anInterruptedJobStopsEveryWorkerWithACheckpoint() throws {
        let dir = try makeTemporaryDirectory("ddp-stop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try ToySet.write(in: dir, count: 48)
        let model = dir.appendingPathComponent("micro.json").path
        try ToySet.microModelConfig.write(toFile: model, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("run").path
        var arguments = trainArguments(data: data, model: model, out: out) + ["--nproc", "2"]
        arguments[arguments.firstIndex(of: "--epochs")! + 1] = "500"
        let process = Process()
        process.executableURL = try builtExecutable(named: "clipguard")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        let errorFile = dir.appendingPathComponent("stderr.txt"); _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil); process.standardError = try FileHandle(forWritingTo: errorFile)
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: out + "/metrics.jsonl"), process.isRunning, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(process.isRunning)
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 130, "\(process.terminationStatus): \((try? String(contentsOf: errorFile, encoding: .utf8)) ?? "")")
        #expect(FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors"))
    }

    @Test func aDefenceWithTwoWorkersIsRefused() throws {
        let dir = try makeTemporaryDirectory("ddp-defence")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try ToySet.write(in: dir, count: 16)
        let model = dir.appendingPathComponent("micro.json").path
        try ToySet.microModelConfig.write(toFile: model, atomically: true, encoding: .utf8)
        let result = try runCommand(
            try builtExecutable(named: "clipguard"),
            trainArguments(data: data, model: model, out: dir.appendingPathComponent("run").path) + ["--nproc", "2", "--defense", "roclip"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("runs on a single process"), "\(result.stderr)")
    }
}
