import Foundation
import NN
import TestSupport
import Testing
import Torch
@testable import Training

@Suite struct CheckpointTests {
    @Test func roundTripKeepsEverything() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ckpt.safetensors").path
        let w = Tensor([1, 2, 3, 4] as [Float], shape: [2, 2])
        let m = Tensor([0.5] as [Float])
        let progress = TrainingProgress(epoch: 2, stepInEpoch: 3, globalStep: 17, elapsedSeconds: 1.5, defenseState: "{\"r\":0.4}")
        try Checkpoint(model: ["fc.weight": w], optimizer: ["exp_avg.fc.weight": m], progress: progress, modelConfig: "{}")
            .write(toPath: path)
        let back = try Checkpoint.read(atPath: path)
        #expect(back.progress == progress)
        #expect(back.model.keys.sorted() == ["fc.weight"])
        #expect(back.model["fc.weight"]!.equals(w))
        #expect(back.optimizer["exp_avg.fc.weight"]!.equals(m))
        #expect(back.modelConfig == "{}")
        #expect(back.isTrainingCheckpoint)
    }

    @Test func plainWeightsReadAsModelOnly() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("w.safetensors").path
        try saveSafeTensors(["a": Tensor([1] as [Float])], toPath: path)
        let back = try Checkpoint.read(atPath: path)
        #expect(!back.isTrainingCheckpoint)
        #expect(back.progress == TrainingProgress())
    }

    @Test func truncatedCheckpointIsAnErrorNamingTheFile() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ckpt.safetensors").path
        try Checkpoint(model: ["w": Tensor.ones([64])]).write(toPath: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 10).write(to: URL(fileURLWithPath: path))
        do {
            _ = try Checkpoint.read(atPath: path)
            Issue.record("expected an error")
        } catch {
            #expect(String(describing: error).contains(path))
        }
    }
}
