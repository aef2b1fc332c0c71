import Foundation
import TestSupport
import Testing
import Torch

/// End-to-end tests of the `clipguard` executable: help texts, JSON output, errors that name
/// the file or key, and a training run killed with SIGKILL and resumed.
@Suite struct CLITests {
    let clipguard: URL

    init() throws { clipguard = try builtExecutable(named: "clipguard") }

    /// Every command path of the tool (`["train"]`, `["data", "prepare"]`, …), read from its own
    /// command tree (ArgumentParser's `configuration.subcommands`, recursively, as
    /// `--experimental-dump-help` serialises it), so that a new command is checked without being
    /// listed here. ArgumentParser's own `help` command is left out.
    static let commandPaths: [[String]] = {
        guard let clipguard = try? builtExecutable(named: "clipguard"),
            let dump = try? runCommand(clipguard, ["--experimental-dump-help"]),
            let object = try? JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any],
            let root = object["command"] as? [String: Any]
        else { return [] }
        func paths(_ command: [String: Any], prefix: [String]) -> [[String]] {
            let children = (command["subcommands"] as? [[String: Any]] ?? []).filter { $0["commandName"] as? String != "help" }
            return children.flatMap { child -> [[String]] in
                guard let name = child["commandName"] as? String else { return [] }
                return [prefix + [name]] + paths(child, prefix: prefix + [name])
            }
        }
        return paths(root, prefix: [])
    }()

    /// The top-level subcommands.
    static var subcommands: [String] { commandPaths.filter { $0.count == 1 }.map { $0[0] } }

    /// The tree is really read: it holds the commands the old hand list missed, and nested ones.
    @Test func commandTreeIsReadFromTheTool() {
        for name in ["info", "data", "train", "finetune", "eval", "poison", "detect", "step-check", "experiment", "report"] {
            #expect(Self.subcommands.contains(name), "\(name) missing from \(Self.subcommands)")
        }
        #expect(Self.commandPaths.contains(["data", "prepare"]) && Self.commandPaths.contains(["experiment", "run"]))
    }

    @Test func detectRejectsAnUnknownDetectorByName() throws {
        let result = try runCommand(clipguard, ["detect", "--data", "x.csv", "--out", "/tmp/x", "--detectors", "similarity,psychic"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown detector \"psychic\""))
        let missing = try runCommand(clipguard, ["detect", "--data", "/nonexistent/train.csv", "--out", NSTemporaryDirectory() + "detect-missing"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("/nonexistent/train.csv"))
    }

    @Test func rootHelpListsEverySubcommand() throws {
        let result = try runCommand(clipguard, ["--help"])
        #expect(result.status == 0)
        for name in Self.subcommands { #expect(result.stdout.contains(name), "help lacks \(name)") }
    }

    @Test(arguments: commandPaths)
    func everyCommandHasHelp(_ path: [String]) throws {
        let result = try runCommand(clipguard, path + ["--help"])
        #expect(result.status == 0, "\(path.joined(separator: " ")) --help: \(result.stderr)")
        #expect(result.stdout.contains("USAGE: clipguard \(path.joined(separator: " "))"))
        #expect(result.stdout.contains("OVERVIEW:"), "\(path.joined(separator: " ")) has no abstract")
    }

    @Test func infoJSONReportsLibtorch() throws {
        let result = try runCommand(clipguard, ["info", "--json"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect((object["libtorch"] as? String)?.hasPrefix("2.") == true)
        #expect((object["devices"] as? [String])?.contains("cpu") == true)
    }

    @Test func openMPThreadsWaitPassivelyUnlessTheUserChose() throws {
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "OMP_WAIT_POLICY")
        let process = Process()
        process.executableURL = clipguard
        process.arguments = ["info", "--json"]
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["omp_wait_policy"] as? String == "PASSIVE")
        let chosen = try runCommand(clipguard, ["info", "--json"], environment: ["OMP_WAIT_POLICY": "ACTIVE"])
        #expect(chosen.stdout.contains(#""omp_wait_policy" : "ACTIVE""#))
        #expect(object["malloc"] as? String == "retain freed memory")
        let system = try runCommand(clipguard, ["info", "--json"], environment: ["CLIPGUARD_MALLOC": "system"])
        #expect(system.stdout.contains(#""malloc" : "system""#))
    }

    @Test func tokenizePrintsOpenCLIPIds() throws {
        let result = try runCommand(clipguard, ["tokenize", "--context-length", "8", "a photo of a cat"])
        #expect(result.status == 0)
        // open_clip: [49406, 320, 1125, 539, 320, 2368, 49407, 0]
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[49406,320,1125,539,320,2368,49407,0]")
    }

    @Test func unknownConfigKeyIsNamed() throws {
        let dir = try makeTemporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("train.yaml").path
        try "data: x.csv\nmodel: tiny-vit\nbatch_sise: 8\n".write(toFile: config, atomically: true, encoding: .utf8)
        let result = try runCommand(clipguard, ["train", "--config", config, "--out", dir.appendingPathComponent("run").path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("batch_sise"))
        #expect(result.stderr.contains(config))
    }

    @Test func truncatedCheckpointIsNamed() throws {
        let dir = try makeTemporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("broken.safetensors").path
        try saveSafeTensors(["w": Tensor.ones([100])], toPath: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        let result = try runCommand(clipguard, ["eval", "--checkpoint", path, "--model", "tiny-vit", "--dataset", "fashion-mnist"])
        #expect(result.status != 0)
        #expect(result.stderr.contains(path))
    }

    @Test func malformedCSVRowIsReportedWithItsLine() throws {
        let dir = try makeTemporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = try ToySet.writeImage(in: dir, name: "a.png")
        let csv = dir.appendingPathComponent("train.csv").path
        try "filepath,caption\n\(image),\"a caption, with a comma\"\n\"unterminated,x\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let result = try runCommand(clipguard, ["data", "inspect", csv])
        #expect(result.stdout.contains(":3") || result.stderr.contains(":3"), "\(result.stdout)\n\(result.stderr)")
    }

    @Test func killedTrainingRunResumesToTheSameWeights() throws {
        let dir = try makeTemporaryDirectory("cli-kill")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try ToySet.write(in: dir, count: 48)
        let model = dir.appendingPathComponent("micro.json").path
        try ToySet.microModelConfig.write(toFile: model, atomically: true, encoding: .utf8)
        let common = [
            "train", "--data", data, "--model", model, "--epochs", "3", "--batch-size", "8", "--lr", "2e-3",
            "--warmup-steps", "2", "--seed", "11", "--workers", "1", "--threads", "1", "--device", "cpu",
        ]
        let straight = dir.appendingPathComponent("straight").path
        #expect(try runCommand(clipguard, common + ["--out", straight]).status == 0)

        // Start the same run, SIGKILL it once its first checkpoint exists, then resume it.
        let killed = dir.appendingPathComponent("killed").path
        let process = Process()
        process.executableURL = clipguard
        process.arguments = common + ["--out", killed]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let checkpoint = killed + "/checkpoint.safetensors"
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: checkpoint) && process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        let wasRunning = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(FileManager.default.fileExists(atPath: checkpoint))
        #expect(wasRunning, "the run finished before it could be killed; the test needs a longer run")
        let resumed = try runCommand(clipguard, ["train", "--out", killed, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")

        let a = try loadSafeTensors(atPath: straight + "/model.safetensors").tensors
        let b = try loadSafeTensors(atPath: killed + "/model.safetensors").tensors
        #expect(a.keys.sorted() == b.keys.sorted())
        for (key, tensor) in a { #expect(tensor.equals(b[key]!), "\(key) differs after kill and resume") }
    }
}
