import Foundation
import Testing
import Training
@testable import clipguard

/// `clipguard finetune --defense par` and its flags, as a user types them.
@Suite struct PARCLITests {
    static let base = ["--data", "d.csv", "--checkpoint", "poisoned.safetensors", "--out", "o", "--defense", "par"]

    @Test func flagsSetPARsSettings() throws {
        let c = try Finetune.parse(
            Self.base + [
                "--tau", "1.8", "--noise-std", "0.1", "--noise-probability", "0.25", "--cutout-area", "0.02", "--cutout-probability", "1",
                "--lr-mid-ratio", "0.2", "--lr-mid-fraction", "0.4", "--epochs", "2", "--lr", "5e-4",
            ]
        ).settings()
        #expect(c.defense == .par && c.initWeights == "poisoned.safetensors" && c.epochs == 2 && c.lr == 5e-4)
        #expect(
            c.par
                == PARSettings(
                    tau: 1.8, noiseStd: 0.1, noiseProbability: 0.25, cutoutArea: 0.02, cutoutProbability: 1, lrMidRatio: 0.2, lrMidFraction: 0.4))
        // Without flags: the reference's settings.
        #expect(try Finetune.parse(Self.base).settings().par == PARSettings())
    }

    @Test(arguments: [
        (["--tau", "0"], "--tau"), (["--tau", "-2"], "--tau"), (["--noise-std", "-0.1"], "--noise-std"),
        (["--tau", "abc"], "--tau"), (["--cutout-probability", "2"], "--cutout-probability"),
    ])
    func badValuesGetOneSentenceNamingTheFlag(arguments: [String], flag: String) {
        do {
            _ = try Finetune.parse(Self.base + arguments).settings()
            Issue.record("\(arguments) accepted")
        } catch {
            let message = "\(error)"
            #expect(message.hasPrefix(flag + ":"), "\(message)")
            #expect(!message.contains("\n"), "\(message)")
        }
    }

    @Test func trainRefusesPAR() {
        #expect(throws: (any Error).self) { try Train.parse(["--data", "d.csv", "--model", "tiny-vit", "--out", "o", "--defense", "par"]).settings() }
    }
}
