import Foundation
import NN
import TestSupport
import Testing
import Torch

@testable import CLIP
import Defenses

/// Tests/Fixtures/training/objective_<name>.safetensors, written by
/// Scripts/make_objective_fixtures.py from the official SafeCLIP, CleanCLIP and RoCLIP losses:
/// the micro model's forward pass, ClipGuard's `DefenseLoss` on its features, the gradients, and
/// one AdamW step with open_clip's groups and the logit-scale clamp.
@Suite struct ObjectiveFixtureTests {
    final class Fixture {
        let tensors: [String: Tensor]
        let model: CLIPModel

        init(_ name: String) throws {
            let folder = fixturesDirectory.appendingPathComponent("training")
            let (tensors, metadata) = try loadSafeTensors(atPath: folder.appendingPathComponent("objective_\(name).safetensors").path)
            #expect(metadata["version"] == "1")
            self.tensors = tensors
            model = CLIPModel(config: try CLIPConfig(contentsOf: folder.appendingPathComponent("objective-model.json")))
            var weights: [String: Tensor] = [:]
            for (key, value) in tensors where key.hasPrefix("model.") { weights[String(key.dropFirst(6))] = value }
            try model.load(weights, source: name)
        }

        subscript(_ key: String) -> Tensor {
            guard let t = tensors[key] else { fatalError("fixture has no tensor \(key)") }
            return t
        }

        func scalar(_ key: String) -> Double { self[key].item() }

        /// L2-normalised train-mode features `([B, D], [B, D])` of `view`, checked against the fixture's.
        func features(_ view: String, sourceLocation: SourceLocation = #_sourceLocation) -> (image: Tensor, text: Tensor) {
            let image = model.encodeImage(self["\(view).images"], training: true).normalized(dim: -1)
            let text = model.encodeText(self["\(view).tokens"], training: true).normalized(dim: -1)
            expectClose(image, self["features.\(view).image"], rtol: 1e-5, atol: 2e-6, "\(view) image features", sourceLocation: sourceLocation)
            expectClose(text, self["features.\(view).text"], rtol: 1e-5, atol: 2e-6, "\(view) text features", sourceLocation: sourceLocation)
            return (image, text)
        }

        /// Compares `loss` with the fixture, back-propagates, compares the recorded gradients,
        /// takes one AdamW step (open_clip's groups) with the clamp and returns the largest |Δ| of
        /// the weights against `after.*` and the tensor it is in.
        func check(_ loss: Tensor, sourceLocation: SourceLocation = #_sourceLocation) -> (delta: Double, name: String) {
            expectClose(loss, self["loss"], rtol: 1e-5, atol: 1e-6, "loss", sourceLocation: sourceLocation)
            loss.backward()
            let parameters = model.store.trainableParameters()
            for (name, tensor) in parameters where tensors["grad.\(name)"] != nil {
                let expected = self["grad.\(name)"]
                expectClose(tensor.grad ?? expected.zerosLike(), expected, rtol: 1e-4, atol: 1e-6, "grad \(name)", sourceLocation: sourceLocation)
            }
            let optimizer = AdamW(
                parameters, learningRate: scalar("hp.lr"), beta1: scalar("hp.beta1"), beta2: scalar("hp.beta2"),
                eps: scalar("hp.eps"), weightDecay: scalar("hp.weight_decay"))
            optimizer.step()
            model.clampLogitScale()
            var worst = (delta: 0.0, name: "")
            for (name, tensor) in model.store.stateDict() {
                let delta = (tensor.to(.float64) - self["after.\(name)"].to(.float64)).abs().max().item()
                if delta > worst.delta { worst = (delta, name) }
            }
            return worst
        }
    }

    /// A step's weights may differ by this much: 1% of the step size lr = 1e-2. AdamW's first step
    /// is lr·g/(|g| + eps) with slope up to lr/eps = 100, so the rounding noise of gradients that
    /// are zero in exact arithmetic (attention key biases, ~1e-7 here) shows as a few 1e-5.
    static let weightTolerance = 1e-4

    @Test func safeCLIPUnimodal() throws {
        let f = try Fixture("safeclip_unimodal")
        let (i1, t1) = f.features("view1"), (i2, t2) = f.features("view2")
        let step = f.check(DefenseLoss.unimodal(image1: i1, image2: i2, text1: t1, text2: t2, logLogitScale: f.model.logLogitScale))
        #expect(step.delta <= Self.weightTolerance, "after one AdamW step: max |Δ| \(step.delta) in \(step.name)")
    }

    @Test func safeCLIPUnimodalWithMemoryBank() throws {
        let f = try Fixture("safeclip_unimodal_bank")
        let (i1, t1) = f.features("view1"), (i2, t2) = f.features("view2")
        let imageBank = NearestNeighborBank(storage: f["bank.image"], writePosition: 0)
        let textBank = NearestNeighborBank(storage: f["bank.text"], writePosition: 0)
        #expect(imageBank.nearestIndices(to: i1).toArray() as [Int64] == f["nearest.image"].toArray() as [Int64])
        #expect(textBank.nearestIndices(to: t1).toArray() as [Int64] == f["nearest.text"].toArray() as [Int64])
        let loss = DefenseLoss.unimodal(
            image1: i1, image2: i2, text1: t1, text2: t2, logLogitScale: f.model.logLogitScale, imageBank: imageBank, textBank: textBank)
        let step = f.check(loss)
        #expect(step.delta <= Self.weightTolerance, "after one AdamW step: max |Δ| \(step.delta) in \(step.name)")
    }

    @Test func safeCLIPCrossAugmented() throws {
        let f = try Fixture("safeclip_cross_augmented")
        let (i1, t1) = f.features("view1"), (i2, t2) = f.features("view2")
        let step = f.check(
            DefenseLoss.crossAugmentedCLIP(image1: i1, image2: i2, text1: t1, text2: t2, logLogitScale: f.model.logLogitScale))
        #expect(step.delta <= Self.weightTolerance, "after one AdamW step: max |Δ| \(step.delta) in \(step.name)")
    }

    @Test func cleanCLIP() throws {
        let f = try Fixture("cleanclip")
        let (i, t) = f.features("view1"), (ia, ta) = f.features("view2")
        let loss = DefenseLoss.cleanCLIP(
            image: i, text: t, augmentedImage: ia, augmentedText: ta, logLogitScale: f.model.logLogitScale, lambda: f.scalar("hp.lambda"))
        let step = f.check(loss)
        #expect(step.delta <= Self.weightTolerance, "after one AdamW step: max |Δ| \(step.delta) in \(step.name)")
    }

    /// RoCLIP's reference keeps its text tower in the graph with a zero-weighted term, so torch's
    /// AdamW decays the text weights in a matching epoch; the step below must do the same.
    @Test func roCLIPMatchedEpoch() throws {
        let f = try Fixture("roclip_matched")
        let (image, text) = f.features("view1")
        let pool = RoCLIPPool(bank: NearestNeighborBank(storage: f["pool.text"], writePosition: 0))
        #expect(pool.bank.nearestIndices(to: image).toArray() as [Int64] == f["nearest.pool"].toArray() as [Int64])
        let step = f.check(DefenseLoss.roclipMatched(image: image, text: text, logLogitScale: f.model.logLogitScale, pool: pool))
        #expect(step.delta <= Self.weightTolerance, "after one AdamW step: max |Δ| \(step.delta) in \(step.name)")
    }
}
