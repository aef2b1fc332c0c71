import Foundation
import TestSupport
import Testing
import Torch
import Training

/// `clipguard train --nproc 2` against one process with the same global batches.
@Suite(.serialized) struct DataParallelTrainingTests {
    func trainArguments(data: String, model: String, out: String) -> [String] {
        [
            "train", "--data", data, "--model", model, "--epochs", "2", "--batch-size", "8", "--lr", "2e-3",
            "--warmup-steps", "2", "--seed", "7", "--device", "cpu", "--workers", "1", "--threads", "1", "--out", out,
        ]
    }

    /// Compares two runs' final weights within float tolerance; returns the largest difference.
    @discardableResult
    func expectSameWeights(_ first: URL, _ second: URL, rtol: Double = 1e-4, atol: Double = 1e-5) throws -> Double {
        let a = try loadSafeTensors(atPath: first.appendingPathComponent("model.safetensors").path).tensors
        let b = try loadSafeTensors(atPath: second.appendingPathComponent("model.safetensors").path).tensors
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
            #expect(x.allClose(y, rtol: rtol, atol: atol), "\(first.lastPathComponent) vs \(second.lastPathComponent), \(name): max |Δ| \(difference)")
        }
        return maxDifference
    }

    /// Writes the toy set (48 pairs) and the micro model config into `dir`.
    func toyRun(in dir: URL) throws -> (data: String, model: String) {
        let data = try ToySet.write(in: dir, count: 48)
        let model = dir.appendingPathComponent("micro.json").path
        try ToySet.microModelConfig.write(toFile: model, atomically: true, encoding: .utf8)
        return (data, model)
    }

    @Test(.timeLimit(.minutes(3))) func twoWorkersReachTheWeightsOfOneProcess() throws {
        let dir = try makeTemporaryDirectory("ddp")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (data, model) = try toyRun(in: dir)
        // A missing image: its batch has 7 pairs, split 4 + 3 or 3 + 4 between the ranks, so the
        // feature gather must handle ranks with different row counts.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("img5.png"))
        let clipguard = try builtExecutable(named: "clipguard")

        let start = ContinuousClock.now
        let one = try runCommand(clipguard, trainArguments(data: data, model: model, out: dir.appendingPathComponent("one").path))
        let oneTime = ContinuousClock.now - start
        try #require(one.status == 0, "\(one.stderr)")
        let two = try runCommand(
            clipguard, trainArguments(data: data, model: model, out: dir.appendingPathComponent("two").path) + ["--nproc", "2"])
        let twoTime = ContinuousClock.now - start - oneTime
        try #require(two.status == 0, "\(two.stdout)\n\(two.stderr)")
        // Worker output comes back prefixed by rank; only rank 0 reports the result.
        #expect(two.stdout.contains("[rank 0] trained 12 steps") && !two.stdout.contains("[rank 1] trained"), "\(two.stdout)")

        let maxDifference = try expectSameWeights(dir.appendingPathComponent("one"), dir.appendingPathComponent("two"))
        // Rank 0 alone logs: both runs log 12 steps (2 epochs × 48 / 8) and 2 epoch records.
        for run in ["one", "two"] {
            let lines = try String(contentsOf: dir.appendingPathComponent("\(run)/metrics.jsonl"), encoding: .utf8)
                .split(separator: "\n")
            #expect(lines.count == 14, "\(run): \(lines.count) records")
            // Epoch records count every rank's items: 47 loaded, the missing image skipped.
            let epochs = try MetricsLog.read(path: dir.appendingPathComponent("\(run)/metrics.jsonl").path).filter { $0["epoch_end"] != nil }
            #expect(epochs.map { $0["loaded"] as? Int } == [47, 47] && epochs.map { $0["skipped"] as? Int } == [1, 1], "\(run): \(epochs)")
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

    /// A 2-process run stopped mid-epoch and resumed (same world size) ends with the weights of
    /// an uninterrupted 2-process run.
    @Test(.timeLimit(.minutes(3))) func aStoppedTwoWorkerRunResumesExactly() throws {
        let dir = try makeTemporaryDirectory("ddp-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (data, model) = try toyRun(in: dir)
        let clipguard = try builtExecutable(named: "clipguard")
        let whole = dir.appendingPathComponent("whole").path, resumed = dir.appendingPathComponent("resumed").path
        let full = try runCommand(clipguard, trainArguments(data: data, model: model, out: whole) + ["--nproc", "2"])
        try #require(full.status == 0, "\(full.stdout)\n\(full.stderr)")
        // Step 9 is inside the second epoch (6 steps each).
        let stopped = try runCommand(clipguard, trainArguments(data: data, model: model, out: resumed) + ["--nproc", "2", "--stop-after-steps", "9"])
        try #require(stopped.status == 0, "\(stopped.stdout)\n\(stopped.stderr)")
        #expect(!FileManager.default.fileExists(atPath: resumed + "/model.safetensors"))
        let checkpoint = try Checkpoint.read(atPath: resumed + "/checkpoint.safetensors")
        #expect(checkpoint.progress.globalStep == 9 && checkpoint.progress.epoch == 1 && checkpoint.progress.stepInEpoch == 3)
        let again = try runCommand(clipguard, trainArguments(data: data, model: model, out: resumed) + ["--nproc", "2", "--resume"])
        try #require(again.status == 0, "\(again.stdout)\n\(again.stderr)")
        #expect(again.stdout.contains("resuming"))
        let difference = try expectSameWeights(URL(fileURLWithPath: whole), URL(fileURLWithPath: resumed), rtol: 0, atol: 1e-6)
        let lines = try String(contentsOfFile: resumed + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 14, "\(lines.count) records")
        print("ddp resume: max |Δweight| \(difference)")
    }

    /// SafeCLIP (unimodal warm-up with the memory bank, CLIP warm-up, one mixed epoch) on 2
    /// processes — stopped inside the mixed epoch and resumed — against 1 process: the sharded
    /// similarity pass gives the same safe/risky split, and the weights agree.
    @Test(.timeLimit(.minutes(5))) func safeCLIPOnTwoWorkersMatchesOneProcess() throws {
        let dir = try makeTemporaryDirectory("ddp-safeclip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (data, model) = try toyRun(in: dir)
        let clipguard = try builtExecutable(named: "clipguard")
        func arguments(_ out: String) -> [String] {
            var a = trainArguments(data: data, model: model, out: dir.appendingPathComponent(out).path)
            a[a.firstIndex(of: "--epochs")! + 1] = "4"
            return a + [
                "--defense", "safeclip", "--unimodal-epochs", "1", "--clip-warmup-epochs", "1", "--clip-warmup-lr", "1e-3",
                "--memory-bank", "--bank-size", "16", "--similarity-batch-size", "10",
            ]
        }
        let one = try runCommand(clipguard, arguments("one"))
        try #require(one.status == 0, "\(one.stderr)")
        // Steps 1–12 are the two warm-up epochs; 13 is the first step of the first mixed epoch.
        let stopped = try runCommand(clipguard, arguments("two") + ["--nproc", "2", "--stop-after-steps", "13"])
        try #require(stopped.status == 0, "\(stopped.stdout)\n\(stopped.stderr)")
        let two = try runCommand(clipguard, arguments("two") + ["--nproc", "2", "--resume"])
        try #require(two.status == 0, "\(two.stdout)\n\(two.stderr)")

        for epoch in [3, 4] {
            let a = try SimilarityFile.read(path: dir.appendingPathComponent("one/similarities/epoch_\(epoch).json").path)
            let b = try SimilarityFile.read(path: dir.appendingPathComponent("two/similarities/epoch_\(epoch).json").path)
            #expect(a.similarity.count == 48 && b.similarity.count == 48)
            #expect(!b.similarity.contains(-1), "every row scored by one of the ranks")
            let gap = zip(a.similarity, b.similarity).map { abs($0 - $1) }.max() ?? 0
            #expect(gap < 1e-4, "epoch \(epoch): similarities differ by \(gap)")
            #expect(a.selected == b.selected, "epoch \(epoch): a different safe set")
            #expect(a.selected.contains(true) && a.selected.contains(false), "epoch \(epoch): a trivial split tests nothing")
        }
        let difference = try expectSameWeights(dir.appendingPathComponent("one"), dir.appendingPathComponent("two"))
        print("ddp safeclip: max |Δweight| \(difference)")
    }

    /// RoCLIP on 2 processes: the caption pool is global (filled from the gathered batch), so
    /// matching epochs see the same pool as 1 process. Then CleanCLIP fine-tuning on 2 processes.
    @Test(.timeLimit(.minutes(3))) func roclipOnTwoWorkersMatchesOneProcess() throws {
        let dir = try makeTemporaryDirectory("ddp-roclip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (data, model) = try toyRun(in: dir)
        let clipguard = try builtExecutable(named: "clipguard")
        func arguments(_ out: String) -> [String] {
            trainArguments(data: data, model: model, out: dir.appendingPathComponent(out).path)
                + ["--defense", "roclip", "--pool-size", "24", "--match-every", "2"]
        }
        let one = try runCommand(clipguard, arguments("one"))
        try #require(one.status == 0, "\(one.stderr)")
        let two = try runCommand(clipguard, arguments("two") + ["--nproc", "2"])
        try #require(two.status == 0, "\(two.stdout)\n\(two.stderr)")
        let difference = try expectSameWeights(dir.appendingPathComponent("one"), dir.appendingPathComponent("two"))
        print("ddp roclip: max |Δweight| \(difference)")

        // CleanCLIP fine-tuning of that model, on 2 processes and on one.
        func finetune(_ out: String) -> [String] {
            [
                "finetune", "--checkpoint", dir.appendingPathComponent("one/model.safetensors").path, "--data", data,
                "--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--warmup-steps", "1", "--seed", "3", "--workers", "1",
                "--threads", "1", "--out", dir.appendingPathComponent(out).path,
            ]
        }
        let cleanOne = try runCommand(clipguard, finetune("clean-one"))
        try #require(cleanOne.status == 0, "\(cleanOne.stderr)")
        let cleanTwo = try runCommand(clipguard, finetune("clean-two") + ["--nproc", "2"])
        try #require(cleanTwo.status == 0, "\(cleanTwo.stdout)\n\(cleanTwo.stderr)")
        // (AdamW turns rounding noise in near-zero gradients into steps of up to lr = 1e-3; a
        // real mismatch moves weights by that much, rounding here by ~2e-5.)
        let cleanDifference = try expectSameWeights(
            dir.appendingPathComponent("clean-one"), dir.appendingPathComponent("clean-two"), atol: 1e-4)
        print("ddp cleanclip: max |Δweight| \(cleanDifference)")
    }

    @Test func aBatchThatTheWorkersCannotShareIsRefused() throws {
        let dir = try makeTemporaryDirectory("ddp-odd")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (data, model) = try toyRun(in: dir)
        var arguments = trainArguments(data: data, model: model, out: dir.appendingPathComponent("run").path)
        arguments[arguments.firstIndex(of: "--batch-size")! + 1] = "9"
        let result = try runCommand(try builtExecutable(named: "clipguard"), arguments + ["--nproc", "2", "--defense", "roclip"])
        #expect(result.status != 0)
        #expect((result.stdout + result.stderr).contains("not a multiple of the world size 2"), "\(result.stdout)\n\(result.stderr)")
    }
}
