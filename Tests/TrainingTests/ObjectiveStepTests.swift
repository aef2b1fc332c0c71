import CLIP
import Defenses
import Foundation
import NN
import TestSupport
import Testing
import Torch

@testable import Training

/// One step of the *trainer* for each defence objective equals one step computed from the
/// official loss code in PyTorch (Tests/Fixtures/training/objective_<name>.safetensors, written by
/// Scripts/make_objective_fixtures.py): the same views go through `Trainer.step` — the function
/// the training loop calls — with the segment loss the objective plans, and the loss and the
/// weights after the AdamW step (open_clip's groups, the logit-scale clamp) are compared.
@Suite(.serialized) struct ObjectiveStepTests {
    /// A trainer for `defense` that starts from the fixture's weights with its hyperparameters.
    final class Setup {
        let tensors: [String: Tensor]
        let trainer: Trainer
        let directory: URL

        init(_ name: String, defense: Defense, adjust: (inout TrainingConfig) -> Void = { _ in }) throws {
            let folder = fixturesDirectory.appendingPathComponent("training")
            let (tensors, metadata) = try loadSafeTensors(atPath: folder.appendingPathComponent("objective_\(name).safetensors").path)
            #expect(metadata["version"] == "1")
            self.tensors = tensors
            directory = try makeTemporaryDirectory("objective-\(name)")
            let modelConfig = folder.appendingPathComponent("objective-model.json").path
            let model = CLIPModel(config: try CLIPConfig(contentsOf: URL(fileURLWithPath: modelConfig)))
            var weights: [String: Tensor] = [:]
            for (key, value) in tensors where key.hasPrefix("model.") { weights[String(key.dropFirst(6))] = value }
            try model.load(weights, source: name)
            let initial = directory.appendingPathComponent("init.safetensors").path
            try model.saveSafeTensors(toPath: initial)
            let data = try ToySet.write(in: directory, count: 12)
            func scalar(_ key: String) -> Double { tensors[key]!.item() }
            var config = TrainingConfig(
                data: data, model: modelConfig, epochs: 3, batchSize: 6, lr: scalar("hp.lr"), warmupSteps: 0,
                weightDecay: scalar("hp.weight_decay"), beta1: scalar("hp.beta1"), beta2: scalar("hp.beta2"), eps: scalar("hp.eps"),
                seed: 1, device: "cpu", workers: 0, threads: 1, logEvery: 1000, defense: defense, initWeights: initial)
            // The settings of the defence under test (setting another's would select that one).
            if defense == .safeclip { config.safeCLIP = SafeCLIPSettings(unimodalEpochs: 1, clipWarmupEpochs: 1, bankSize: 4) }
            if defense == .roclip { config.roCLIP = RoCLIPSettings(poolSize: 4, matchEvery: 2) }
            if defense == .cleanclip, let lambda = tensors["hp.lambda"] { config.cleanCLIP.inmodalWeight = lambda.item() }
            adjust(&config)
            trainer = try Trainer(config: config, runDirectory: directory.appendingPathComponent("run").path, reporter: ProgressReporter(quiet: true))
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        subscript(_ key: String) -> Tensor { tensors[key]! }

        /// The fixture's views as model inputs.
        var views: [ModelInput] {
            ["view1", "view2"].filter { tensors["\($0).images"] != nil }.map { ModelInput(images: self["\($0).images"], tokens: self["\($0).tokens"]) }
        }

        /// One trainer step with `loss`: the recorded loss and lr, and the largest weight difference
        /// from the reference's `after.*`.
        func step(
            _ loss: @escaping SegmentLoss, keyBiasesExempt: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
        ) throws {
            try trainer.step([views], loss: loss, epoch: 0, phase: "test", pairs: 6)
            let records = try trainer.readSteps()
            #expect(records.count == 1, sourceLocation: sourceLocation)
            let record = try #require(records.first, sourceLocation: sourceLocation)
            #expect(abs(record.lr - self["hp.lr"].item()) < 1e-15, "the objective's lr at step 0", sourceLocation: sourceLocation)
            #expect(abs(record.loss - self["loss"].item()) <= 1e-5 * max(1, abs(record.loss)), "loss \(record.loss) vs \(self["loss"].item())", sourceLocation: sourceLocation)
            #expect(abs(record.logitMultiplier - self["model.logit_scale"].exp().item()) < 1e-5, sourceLocation: sourceLocation)
            var worst = (delta: 0.0, name: "")
            for (name, tensor) in trainer.model.store.stateDict() {
                var difference = (tensor.to(.float64) - self["after.\(name)"].to(.float64)).abs()
                if keyBiasesExempt && name.hasSuffix("attn.in_proj_bias") {
                    // The key third of the in-projection bias: its gradient is zero in exact
                    // arithmetic (softmax is shift-invariant), so AdamW's first step turns rounding
                    // noise into up to lr-sized steps of either sign; it must stay within one step.
                    let width = difference.size(0) / 3
                    let keys: [Double] = difference.toArray()[width..<(2 * width)].map { $0 }
                    #expect(keys.allSatisfy { $0 <= 2 * self["hp.lr"].item() }, "\(name) key biases", sourceLocation: sourceLocation)
                    var values: [Double] = difference.toArray()
                    for k in width..<(2 * width) { values[k] = 0 }
                    difference = Tensor(values, shape: difference.shape)
                }
                let delta = difference.max().item() as Double
                if delta > worst.delta { worst = (delta, name) }
            }
            // 1% of the step size (lr 1e-2): see ObjectiveFixtureTests.weightTolerance.
            #expect(worst.delta <= 1e-4, "after one trainer step: max |Δw| \(worst.delta) in \(worst.name)", sourceLocation: sourceLocation)
        }
    }

    @Test func safeCLIPUnimodalStep() throws {
        let s = try Setup("safeclip_unimodal", defense: .safeclip)
        let segments = try s.trainer.objective.plan(epoch: 0)
        #expect(segments.map(\.name) == ["unimodal"])
        try s.step(segments[0].loss)
    }

    @Test func safeCLIPUnimodalWithMemoryBankStep() throws {
        let s = try Setup("safeclip_unimodal_bank", defense: .safeclip) { $0.safeCLIP.memoryBank = true }
        let objective = try #require(s.trainer.objective as? SafeCLIPObjective)
        objective.imageBank = NearestNeighborBank(storage: s["bank.image"], writePosition: 0)
        objective.textBank = NearestNeighborBank(storage: s["bank.text"], writePosition: 0)
        let segments = try objective.plan(epoch: 0)
        try s.step(segments[0].loss)
    }

    /// The loss that `plan(epoch:)` gives the safe pairs of a mixed epoch is the cross-augmented
    /// CLIP loss of the fixture. The epoch's split is set as a resumed run finds it in its
    /// checkpoint (the fixture's model has a 64-token vocabulary, too small for a similarity
    /// pass over the toy captions); `plan` then wires the segments as after a selection.
    @Test func safeCLIPCrossAugmentedStep() throws {
        let s = try Setup("safeclip_cross_augmented", defense: .safeclip)
        let objective = try #require(s.trainer.objective as? SafeCLIPObjective)
        // epochs 3 = 1 unimodal + 1 CLIP warm-up + 1 mixed.
        objective.state.split = SafeCLIPObjective.StoredSplit(epoch: 2, safe: Array(0..<6))
        let segments = try objective.plan(epoch: 2)
        #expect(segments.map(\.name) == ["mixed-risky", "mixed-safe"])
        try s.step(segments[1].loss)
    }

    @Test func cleanCLIPStep() throws {
        let s = try Setup("cleanclip", defense: .cleanclip)
        let segments = try s.trainer.objective.plan(epoch: 0)
        #expect(segments.map(\.name) == ["cleanclip"])
        try s.step(segments[0].loss)
    }

    @Test func roCLIPMatchedEpochStep() throws {
        let s = try Setup("roclip_matched", defense: .roclip)
        let objective = try #require(s.trainer.objective as? RoCLIPObjective)
        objective.pool = RoCLIPPool(bank: NearestNeighborBank(storage: s["pool.text"], writePosition: 0), matchingPeriod: 2)
        let segments = try objective.plan(epoch: 1)  // the second epoch matches images to pool captions
        try s.step(segments[0].loss)
    }

    /// PAR (Scripts/make_par_fixtures.py, `objective_par.safetensors`): the trained model starts a
    /// little away from the frozen poisoned one (`trained.*` vs `model.*`, the init weights the
    /// objective freezes), τ lies between S_img and S_txt so the step keeps the image term and
    /// drops the text term, the logit scale is a constant (no gradient, no AdamW update); the
    /// frozen copy is unchanged by the step.
    @Test func parStep() throws {
        let folder = fixturesDirectory.appendingPathComponent("training")
        let (fixture, _) = try loadSafeTensors(atPath: folder.appendingPathComponent("objective_par.safetensors").path)
        let tau: Double = try #require(fixture["hp.tau"]).item()
        let s = try Setup("par", defense: .par) { $0.par.tau = tau }
        var trained: [String: Tensor] = [:]
        for (key, value) in s.tensors where key.hasPrefix("trained.") { trained[String(key.dropFirst(8))] = value }
        try s.trainer.model.load(trained, source: "trained.*")
        let objective = try #require(s.trainer.objective as? PARObjective)
        let segments = try objective.plan(epoch: 0)
        #expect(segments.map(\.name) == ["par"])
        try s.step(segments[0].loss, keyBiasesExempt: true)
        for (name, tensor) in objective.frozen.store.stateDict() {
            let delta = (tensor.to(.float64) - s["model.\(name)"].to(.float64)).abs().max().item() as Double
            #expect(delta == 0, "the frozen model changed: \(name)")
        }
    }
}
