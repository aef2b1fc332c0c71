import Foundation
import TestSupport
import Testing
import Torch

@testable import Training

/// PAR's schedule and settings (the trainer step is in ``ObjectiveStepTests/parStep()``, the
/// loss in `PARLossTests`).
@Suite struct PARObjectiveTests {
    /// The schedule equals the reference's `utils.cosine_scheduler(3e-6, 1e-9, E, N,
    /// warmup_epochs = 0.5·E, start_warmup_value = 3e-5)` (Tests/Fixtures/defenses/par.safetensors).
    @Test(arguments: [(2, 7), (3, 10), (1, 5)])
    func scheduleMatchesTheReference(epochs: Int, stepsPerEpoch: Int) throws {
        let path = fixturesDirectory.appendingPathComponent("defenses/par.safetensors").path
        let (tensors, _) = try loadSafeTensors(atPath: path)
        let expected: [Double] = try #require(tensors["schedule.\(epochs)_\(stepsPerEpoch)"]).toArray()
        let total = epochs * stepsPerEpoch
        #expect(expected.count == total)
        for (step, value) in expected.enumerated() {
            let ours = parLearningRate(step: step, totalSteps: total, lr: 3e-5, midRatio: 0.1, midFraction: 0.5)
            #expect(abs(ours - value) <= 1e-12 * value + 1e-20, "step \(step): \(ours) vs \(value)")
        }
    }

    /// A configuration that fine-tunes with PAR.
    static func config(_ settings: PARSettings) -> TrainingConfig {
        var c = TrainingConfig(data: "d.csv", model: "tiny-vit", epochs: 2, defense: .par, initWeights: "poisoned.safetensors")
        c.par = settings
        return c
    }

    @Test(arguments: [
        (PARSettings(tau: 0), "tau"), (PARSettings(tau: -1), "tau"), (PARSettings(tau: .infinity), "tau"),
        (PARSettings(noiseStd: -0.1), "noise_std"), (PARSettings(noiseProbability: 1.5), "noise_probability"),
        (PARSettings(cutoutArea: 1), "cutout_area"), (PARSettings(cutoutProbability: -0.5), "cutout_probability"),
        (PARSettings(lrMidRatio: 0), "lr_mid_ratio"), (PARSettings(lrMidFraction: 1), "lr_mid_fraction"),
    ])
    func badSettingsNameTheirKey(settings: PARSettings, key: String) throws {
        let error = try #require(throws: ConfigError.self) { try Self.config(settings).validate() }
        #expect(error.key == key, "\(error)")
        #expect("\(error)".contains(key))
        #expect(!"\(error)".contains("\n"))
    }

    @Test func defaultsAreTheReferences() throws {
        let s = PARSettings()
        #expect(s.tau == 2.15 && s.noiseStd == 0.2 && s.noiseProbability == 0.5 && s.cutoutArea == 0.01 && s.cutoutProbability == 0.5)
        #expect(s.lrMidRatio == 0.1 && s.lrMidFraction == 0.5)
        try Self.config(s).validate()
        #expect(Defense.par.finetunes && Defense(name: "par") == .par)
    }

    @Test func configFileBlockIsRead() throws {
        let dir = try makeTemporaryDirectory("par-config")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("c.yaml").path
        try """
            data: d.csv
            model: tiny-vit
            defense: par
            init_weights: poisoned.safetensors
            par: {tau: 1.5, noise_std: 0.1}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let c = try ConfigFile.load(TrainingConfig.self, path: path, notes: { _ in })
        #expect(c.defense == .par && c.par.tau == 1.5 && c.par.noiseStd == 0.1 && c.par.cutoutArea == 0.01)
        try """
            data: d.csv
            model: tiny-vit
            defense: par
            init_weights: poisoned.safetensors
            par: {tau: 0}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try ConfigFile.load(TrainingConfig.self, path: path, notes: { _ in }).validate() }
    }
}
