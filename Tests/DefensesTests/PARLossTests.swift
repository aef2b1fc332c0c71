import Foundation
import Testing
import TestSupport
import Torch

@testable import CLIP
import Defenses

/// PAR's loss (``DefenseLoss/par(image:text:frozenImage:frozenText:logLogitScale:tau:)``) against
/// the reference code's values and gradients (Tests/Fixtures/defenses/par.safetensors, written by
/// Scripts/make_par_fixtures.py from nmndeep/PerturbAndRecover `losses.py`), in each branch of
/// the indicator, and against central differences.
@Suite("PAR loss")
struct PARLossTests {

    /// near: both distances ≤ τ (both terms kept); far: both > τ (both zero); mixed: the image
    /// term kept, the text term zero.
    @Test("value and gradients match the reference in every branch", arguments: ["near", "far", "mixed"])
    func matchesReference(case name: String) throws {
        let f = try LossFixture(file: "par.safetensors")
        let image = f["\(name).image"].copied().detached().requiringGrad()
        let text = f["\(name).text"].copied().detached().requiringGrad()
        let tau: Double = f["\(name).tau"].item()
        // The reference normalises inside the loss (its gradients are with respect to the raw
        // embeddings); ours takes normalised features, so the same normalisation precedes it here.
        let loss = DefenseLoss.par(
            image: image.normalized(dim: -1), text: text.normalized(dim: -1), frozenImage: f["\(name).frozen_image"],
            frozenText: f["\(name).frozen_text"], logLogitScale: f["\(name).logit_scale"], tau: tau)
        expectClose(loss, f["\(name).loss"], rtol: 1e-12, atol: 1e-12, "\(name) value")
        expectClose(DefenseLoss.parDistance(f["\(name).image"], f["\(name).frozen_image"]), f["\(name).s_img"], rtol: 1e-12, atol: 1e-12)
        expectClose(DefenseLoss.parDistance(f["\(name).text"], f["\(name).frozen_text"]), f["\(name).s_txt"], rtol: 1e-12, atol: 1e-12)
        let grads = gradients(of: [loss], withRespectTo: [image, text])
        expectClose(try #require(grads[0]), f["\(name).grad.image"], rtol: 1e-10, atol: 1e-12, "\(name) d/dimage")
        expectClose(try #require(grads[1]), f["\(name).grad.text"], rtol: 1e-10, atol: 1e-12, "\(name) d/dtext")
        // The branches the fixture was built to cover.
        let kept = (f["\(name).img_loss"].item() as Double) != 0, keptText = (f["\(name).text_loss"].item() as Double) != 0
        #expect([kept, keptText] == ["near": [true, true], "far": [false, false], "mixed": [true, false]][name])
    }

    @Test("beyond τ a modality's term vanishes: the loss is the CLIP loss there")
    func thresholdZeroesTheTerm() throws {
        let f = try LossFixture(file: "par.safetensors")
        let clip = clipLoss(imageFeatures: f["far.image"], textFeatures: f["far.text"], logLogitScale: f["far.logit_scale"])
        let far = DefenseLoss.par(
            image: f["far.image"], text: f["far.text"], frozenImage: f["far.frozen_image"], frozenText: f["far.frozen_text"],
            logLogitScale: f["far.logit_scale"], tau: 2.15)
        expectClose(far, clip, rtol: 1e-14, atol: 1e-14)
        // Raising τ past 4 (the largest squared distance of unit rows) keeps both terms.
        let all = DefenseLoss.par(
            image: f["far.image"], text: f["far.text"], frozenImage: f["far.frozen_image"], frozenText: f["far.frozen_text"],
            logLogitScale: f["far.logit_scale"], tau: 4.5)
        let expected: Double = clip.item() - 0.5 * (f["far.s_img"].item() + f["far.s_txt"].item() as Double)
        #expect(abs(all.item() - expected) < 1e-12)
    }

    @Test("gradients equal central differences (both terms kept, one kept, none kept)", arguments: [4.5, 1.0, 0.01])
    func finiteDifferences(tau: Double) throws {
        let f = try LossFixture(file: "par.safetensors")
        // mixed: S_img ≈ 0.96, S_txt ≈ 3.98 — τ = 4.5 keeps both, 1.0 the image term, 0.01 neither.
        let frozenImage = f["mixed.frozen_image"], frozenText = f["mixed.frozen_text"], scale = f["mixed.logit_scale"]
        checkFiniteDifferences([f["mixed.image"], f["mixed.text"]]) { v in
            DefenseLoss.par(image: v[0], text: v[1], frozenImage: frozenImage, frozenText: frozenText, logLogitScale: scale, tau: tau)
        }
    }

    @Test("the frozen features get no gradient")
    func frozenFeaturesAreDetached() throws {
        let f = try LossFixture(file: "par.safetensors")
        let frozenImage = f["near.frozen_image"].copied().detached().requiringGrad()
        let image = f["near.image"].copied().detached().requiringGrad()
        let loss = DefenseLoss.par(
            image: image, text: f["near.text"], frozenImage: frozenImage, frozenText: f["near.frozen_text"], logLogitScale: f["near.logit_scale"])
        let grads = gradients(of: [loss], withRespectTo: [image, frozenImage])
        #expect(grads[0] != nil)
        #expect(grads[1] == nil || (grads[1]!.abs().max().item() as Double) == 0)
    }
}
