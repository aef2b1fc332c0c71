import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Torch

/// The worker executable that SwiftPM builds next to the test bundle.
func workerExecutable() throws -> URL { try builtExecutable(named: "clipguard-dist-worker") }

/// Collects worker output lines (rank, line).
final class Lines: Sendable {
    private let store = Mutex<[(Int, String)]>([])
    var sink: @Sendable (Int, String) -> Void { { rank, line in self.store.withLock { $0.append((rank, line)) } } }
    var all: [(Int, String)] { store.withLock { $0 } }
    var text: String { all.map { "[rank \($0.0)] \($0.1)" }.joined(separator: "\n") }
}

/// Runs a worker scenario on `processes` ranks; returns each rank's recorded results.
func runScenario(
    _ scenario: String, processes: Int = 2, timeoutSeconds: Int = 20
) throws -> (results: [[String: [Double]]], output: Lines) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dist-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let lines = Lines()
    let launcher = LocalLauncher(
        executable: try workerExecutable(), arguments: [scenario, directory.path, String(timeoutSeconds)],
        processCount: processes, gracePeriod: .seconds(2), timeout: .seconds(60))
    do {
        try launcher.run(output: lines.sink)
    } catch {
        Issue.record("\(scenario) failed: \(error)\n\(lines.text)")
        throw error
    }
    let results = try (0..<processes).map { rank in
        let data = try Data(contentsOf: directory.appendingPathComponent("\(scenario)-rank\(rank).json"))
        return try JSONDecoder().decode([String: [Double]].self, from: data)
    }
    return (results, lines)
}

func close(_ a: [Double]?, _ b: [Double], tolerance: Double = 1e-5) -> Bool {
    guard let a, a.count == b.count else { return false }
    return zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
}

@Suite("Distributed: two Gloo processes on 127.0.0.1", .serialized, .timeLimit(.minutes(2)))
struct TwoProcessTests {
    @Test func allReduceSumsAveragesAndMaxes() throws {
        let (results, _) = try runScenario("allreduce")
        for r in results {
            #expect(r["sum"] == [3, 6, 9, 12])
            #expect(r["average"] == [1.5, 3, 4.5, 6])
            #expect(r["max"] == [1, 0])
            // base rank r = arange(6) + 10 r, reduced through a transposed view.
            #expect(r["transposed_base"] == (0..<6).map { 2 * Double($0) + 10 })
            #expect(r["int64_sum"] == [3, 20])
            #expect(r["scalar_average"] == [1.5])
            #expect(r["scalar_min"] == [1])
        }
    }

    @Test func allGatherReturnsEveryRanksTensorInRankOrder() throws {
        let (results, _) = try runScenario("allgather")
        let expected = (0..<6).map(Double.init) + (0..<6).map { Double($0) + 100 }
        for r in results {
            #expect(r["count"] == [2])
            #expect(r["shape0"] == [2, 3])
            #expect(r["gathered"] == expected)
        }
    }

    @Test func broadcastCopiesTheRootsValuesIncludingIntoLeavesThatRequireGrad() throws {
        let (results, _) = try runScenario("broadcast")
        for r in results {
            #expect(r["a"] == [2, 2, 2])
            #expect(r["b"] == [7, 8])
            #expect(r["leaf"] == [1, 1])
        }
    }

    @Test func barrierWaitsForTheLateRank() throws {
        let (results, _) = try runScenario("barrier")
        let arrivals = try results.map { try #require($0["arrived_ns"]?.first) }
        let departures = try results.map { try #require($0["left_ns"]?.first) }
        #expect(departures.min()! >= arrivals.max()!, "a rank left before the last one arrived")
        #expect(arrivals[1] > arrivals[0], "rank 1 was not late, so the barrier was not tested")
    }

    @Test func gatherKeepsTheGradientOfTheLocalSliceOnly() throws {
        let (results, _) = try runScenario("gather")
        let all = (0..<6).map(Double.init) + (0..<6).map { Double($0) + 1 }
        for (rank, r) in results.enumerated() {
            #expect(r["gathered"] == all)
            // d/d features of Σ gathered ⊙ W is W's rows for this rank: 6 r + 0..<6.
            #expect(r["grad"] == (0..<6).map { Double($0 + 6 * rank) })
        }
    }

    @Test func dataParallelSGDMatchesOneProcessWithTheGlobalBatch() throws {
        let (two, _) = try runScenario("sgd", processes: 2)
        let (one, _) = try runScenario("sgd", processes: 1)
        // Rank 1 started from other weights; the broadcast gave it rank 0's.
        #expect(two[0]["initial_weight"] == two[1]["initial_weight"])
        #expect(two[0]["initial_weight"] == one[0]["initial_weight"])
        let start = try #require(one[0]["initial_weight"])
        let final = try #require(one[0]["weight"])
        #expect(!close(final, start, tolerance: 1e-3), "SGD did not move the weights")
        for key in ["weight", "bias", "final_weight_grad", "final_bias_grad"] {
            let reference = try #require(one[0][key])
            for rank in 0..<2 {
                #expect(close(two[rank][key], reference), "\(key) on rank \(rank): \(two[rank][key] ?? []) vs \(reference)")
            }
        }
    }

    /// open_clip with gather_with_grad=False under DDP: every rank computes the global loss, and
    /// the averaged gradients are the one-process gradient of that loss divided by the world size.
    @Test func contrastiveLossOverGatheredFeaturesMatchesOpenCLIPSemantics() throws {
        let (two, _) = try runScenario("contrastive", processes: 2)
        let (one, _) = try runScenario("contrastive", processes: 1)
        let loss = try #require(one[0]["loss"])
        for key in ["image_grad", "text_grad"] {
            let full = try #require(one[0][key])
            #expect(full.contains { abs($0) > 1e-4 })
            for rank in 0..<2 {
                #expect(close(two[rank]["loss"], loss))
                #expect(close(two[rank][key], full.map { $0 / 2 }), "\(key) on rank \(rank)")
            }
        }
    }

    @Test func aWorkerThatExitsEndsTheRunWithAnErrorNamingIt() throws {
        let lines = Lines()
        let launcher = LocalLauncher(
            executable: try workerExecutable(), arguments: ["die", FileManager.default.temporaryDirectory.path, "20"],
            processCount: 2, gracePeriod: .seconds(2), timeout: .seconds(60))
        let start = ContinuousClock.now
        let error = #expect(throws: TorchError.self) { try launcher.run(output: lines.sink) }
        #expect(ContinuousClock.now - start < .seconds(30))
        #expect(error == .distributed("rank 1 exited with status 3; the other workers were stopped"), "\(lines.text)")
    }

    @Test func aCollectiveWithoutItsPeerTimesOutWithTheRankInTheMessage() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dist-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = Lines()
        let launcher = LocalLauncher(
            executable: try workerExecutable(), arguments: ["timeout", directory.path, "2"], processCount: 2,
            gracePeriod: .seconds(2), timeout: .seconds(60))
        let start = ContinuousClock.now
        let error = #expect(throws: TorchError.self) { try launcher.run(output: lines.sink) }
        #expect(ContinuousClock.now - start < .seconds(30))
        #expect("\(error.map { "\($0)" } ?? "")".contains("rank 0 exited with status 1"))
        let data = try Data(contentsOf: directory.appendingPathComponent("timeout-rank0.json"))
        let codes = try #require(try JSONDecoder().decode([String: [Double]].self, from: data)["message"])
        let message = String(decoding: codes.map { UInt8($0) }, as: UTF8.self)
        #expect(message.hasPrefix("rank 0: allreduce timed out after 2 s"), "\(message)")
    }
}

@Suite("Distributed: launcher", .timeLimit(.minutes(1)))
struct LauncherTests {
    let shell = URL(fileURLWithPath: "/bin/sh")

    @Test func workersGetTheirRankAndOutputIsPrefixed() throws {
        let lines = Lines()
        let launcher = LocalLauncher(
            executable: shell, arguments: ["-c", "echo \"$RANK/$WORLD_SIZE/$LOCAL_RANK $MASTER_ADDR\"; echo err >&2"],
            processCount: 3, masterPort: 31_234)
        try launcher.run(output: lines.sink)
        let all = lines.all
        for rank in 0..<3 {
            #expect(all.contains { $0 == (rank, "\(rank)/3/\(rank) 127.0.0.1") })
            #expect(all.contains { $0 == (rank, "err") })
        }
    }

    @Test func aFailingWorkerStopsTheOthersQuickly() throws {
        let launcher = LocalLauncher(
            executable: shell, arguments: ["-c", "if [ \"$RANK\" = 1 ]; then exit 4; fi; sleep 60"], processCount: 3,
            gracePeriod: .seconds(2))
        let start = ContinuousClock.now
        let error = #expect(throws: TorchError.self) { try launcher.run(output: { _, _ in }) }
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(error == .distributed("rank 1 exited with status 4; the other workers were stopped"))
    }

    @Test func aWorkerKilledByASignalIsReported() throws {
        let launcher = LocalLauncher(
            executable: shell, arguments: ["-c", "if [ \"$RANK\" = 0 ]; then kill -9 $$; fi; sleep 60"],
            processCount: 2, gracePeriod: .seconds(2))
        let error = #expect(throws: TorchError.self) { try launcher.run(output: { _, _ in }) }
        #expect(error == .distributed("rank 0 was killed by signal 9; the other workers were stopped"))
    }

    @Test func theJobTimeoutStopsHangingWorkers() throws {
        let launcher = LocalLauncher(
            executable: shell, arguments: ["-c", "sleep 60"], processCount: 2, gracePeriod: .seconds(1),
            timeout: .milliseconds(300))
        let start = ContinuousClock.now
        #expect(throws: TorchError.self) { try launcher.run(output: { _, _ in }) }
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test func anInterruptionIsForwardedToEveryWorker() throws {
        let lines = Lines()
        let launcher = LocalLauncher(
            executable: shell, arguments: ["-c", "trap 'echo stopping; exit 0' TERM; echo ready; sleep 60 & wait"],
            processCount: 2, gracePeriod: .seconds(2))
        let start = ContinuousClock.now
        let signal = try launcher.run(output: lines.sink) {
            lines.all.filter { $0.1 == "ready" }.count == 2 ? SIGTERM : nil
        }
        #expect(signal == SIGTERM)
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(lines.all.filter { $0.1 == "stopping" }.count == 2, "\(lines.text)")
    }

    @Test func freePortsAreUsablePortNumbers() throws {
        let port = try LocalLauncher.freePort()
        #expect((1024...65535).contains(port))
    }
}

@Suite("Distributed: launch environment")
struct LaunchEnvironmentTests {
    @Test func torchrunVariables() throws {
        let env = try LaunchEnvironment.fromEnvironment([
            "RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "node7", "MASTER_PORT": "1234",
        ])
        #expect(env == LaunchEnvironment(rank: 3, worldSize: 8, localRank: 1, masterAddress: "node7", masterPort: 1234))
    }

    @Test func slurmVariablesWithTheMasterFromTheNodeList() throws {
        let env = try LaunchEnvironment.fromEnvironment([
            "SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_JOB_NODELIST": "gpu[007-008,012]",
        ])
        #expect(env == LaunchEnvironment(rank: 5, worldSize: 8, localRank: 1, masterAddress: "gpu007", masterPort: 29500))
        let explicit = try LaunchEnvironment.fromEnvironment([
            "SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_NODELIST": "a,b", "MASTER_ADDR": "10.0.0.1",
        ])
        #expect(explicit?.masterAddress == "10.0.0.1")
    }

    @Test func slurmNodeLists() {
        #expect(LaunchEnvironment.firstHost(inSlurmNodeList: "node1,node2") == "node1")
        #expect(LaunchEnvironment.firstHost(inSlurmNodeList: "n[3-5],m1") == "n3")
        #expect(LaunchEnvironment.firstHost(inSlurmNodeList: "rack1-n[10,12]-ib") == "rack1-n10-ib")
        #expect(LaunchEnvironment.firstHost(inSlurmNodeList: "single") == "single")
        #expect(LaunchEnvironment.firstHost(inSlurmNodeList: "") == nil)
        #expect(LaunchEnvironment.firstHost(inSlurmNodeList: "bad[1-2") == nil)
    }

    @Test func noLauncherMeansNil() throws {
        #expect(try LaunchEnvironment.fromEnvironment(["HOME": "/root"]) == nil)
    }

    @Test func malformedValuesNameTheVariable() {
        #expect(throws: TorchError.invalidArgument("environment variable RANK='x' is not a non-negative integer")) {
            try LaunchEnvironment.fromEnvironment(["RANK": "x", "WORLD_SIZE": "2"])
        }
        #expect(throws: TorchError.invalidArgument("rank 2 is outside a world of size 2")) {
            try LaunchEnvironment.fromEnvironment(["RANK": "2", "WORLD_SIZE": "2"])
        }
    }
}

@Suite("Distributed: one-process group", .serialized, .timeLimit(.minutes(1)))
struct SingleProcessGroupTests {
    func group() throws -> ProcessGroup {
        try ProcessGroup.initialize(
            rank: 0, worldSize: 1, masterAddress: "127.0.0.1", masterPort: try LocalLauncher.freePort(),
            timeout: .seconds(10))
    }

    @Test func collectivesOnOneRankAreIdentities() throws {
        let g = try group()
        #expect(g.rank == 0 && g.worldSize == 1 && g.isMain)
        let t = Tensor([1, 2, 3] as [Float])
        try g.allReduce([t], op: .average)
        #expect(t.toArray(as: Float.self) == [1, 2, 3])
        let gathered = try g.allGather(t)
        #expect(gathered.count == 1)
        #expect(gathered[0].toArray(as: Float.self) == [1, 2, 3])
        try g.broadcast([t], root: 0)
        try g.barrier()
        let features = Tensor([1, 2] as [Float], shape: [1, 2]).requiringGrad()
        let all = try g.allGatherKeepingLocalGradient(features)
        all.sum().backward()
        #expect(features.grad?.toArray(as: Float.self) == [1, 1])
    }

    @Test func badArgumentsThrowNamingTheRank() throws {
        let g = try group()
        #expect(throws: TorchError.distributed("rank 0: broadcast root 1 is outside a world of size 1")) {
            try g.broadcast([Tensor([1] as [Float])], root: 1)
        }
        #expect(throws: TorchError.self) {
            try ProcessGroup.initialize(rank: 2, worldSize: 2, masterAddress: "127.0.0.1", masterPort: 1, timeout: .seconds(1))
        }
    }

    @Test func allReduceGradientsGivesMissingGradientsZeros() throws {
        let g = try group()
        let a = Tensor([1, 2] as [Float]).requiringGrad()
        let b = Tensor([3] as [Float]).requiringGrad()
        (a * 2).sum().backward()
        try g.allReduceGradients([a, b], bucketBytes: 4)
        #expect(a.grad?.toArray(as: Float.self) == [2, 2])
        #expect(b.grad?.toArray(as: Float.self) == [0])
    }

    @Test func collectivesReleaseEveryHandle() throws {
        let g = try group()
        let parameters = [Tensor.ones([3, 2]).requiringGrad(), Tensor.ones([2]).requiringGrad()]
        let baseline = Runtime.threadTensorBalance
        for _ in 0..<3 {
            let t = Tensor([1, 2] as [Float])
            try g.allReduce([t, t.transposed(0, 0)], op: .sum)
            _ = try g.allGather(t)
            _ = try g.allGatherKeepingLocalGradient(t)
            try g.broadcastParameters(parameters)
            _ = try g.allReduce(2, op: .max)
            try g.allReduceGradients(parameters, bucketBytes: 8)
        }
        #expect(Runtime.threadTensorBalance == baseline)
    }

    @Test func aRankWhosePeerNeverComesTimesOut() throws {
        let start = ContinuousClock.now
        let error = #expect(throws: TorchError.self) {
            try ProcessGroup.initialize(
                rank: 0, worldSize: 2, masterAddress: "127.0.0.1", masterPort: try LocalLauncher.freePort(),
                timeout: .seconds(2))
        }
        #expect(ContinuousClock.now - start < .seconds(20))
        let message = "\(error.map { "\($0)" } ?? "")"
        #expect(message.hasPrefix("rank 0: "), "\(message)")
        #expect(message.contains("timed out after 2 s"), "\(message)")
    }
}
