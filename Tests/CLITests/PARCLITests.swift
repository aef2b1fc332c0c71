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
        // Without flags: the reference's settings and schedule (2 epochs from lr 3e-5, AdamW
        // weight decay 1e-4, betas (0.9, 0.98)); CleanCLIP keeps its own.
        let plain = try Finetune.parse(Self.base).settings()
        #expect(plain.par == PARSettings())
        #expect(plain.epochs == 2 && plain.lr == 3e-5 && plain.weightDecay == 1e-4 && plain.beta2 == 0.98 && plain.warmupSteps == 0)
        let cleanCLIP = try Finetune.parse(["--data", "d.csv", "--checkpoint", "w.safetensors", "--out", "o"]).settings()
        #expect(cleanCLIP.defense == .cleanclip && cleanCLIP.epochs == 10 && cleanCLIP.lr == 1e-5 && cleanCLIP.warmupSteps == 50)
        // The equivalent command of the reference run needs no schedule flag.
        #expect(plain.commandLine(out: "o").filter { $0.hasPrefix("--") }.sorted() == ["--checkpoint", "--data", "--defense", "--out"])
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
