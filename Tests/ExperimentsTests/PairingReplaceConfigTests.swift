import Attacks
import Foundation
import TestSupport
import Testing
@testable import Experiments

/// The experiment-file keys `pairing` and `caption_rows` of a retrieval attack, the equivalent
/// `clipguard poison` command, the real command line, and refusals naming the key or flag.
@Suite struct PairingReplaceConfigTests {
    @Test func keysReachThePoisonerAndTheEquivalentCommand() throws {
        let keys = "kind: pair-class, goals: [\"red:green\"], pairing: replace, caption_rows: naming"
        let config = try ExperimentConfig.decode(AttackRegistryTests.experiment(attack: keys), file: "e.yaml")
        let settings = try config.attack.retrievalSettings()
        #expect(settings.placement == .replace && settings.captionRows == .naming)
        #expect(config.attack.attackDescription.contains("replacing class-A pairs") && config.attack.attackDescription.contains("captions naming A"))
        let dir = try makeTemporaryDirectory("pairing-replace-config")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = ExperimentRunner(config: config, configPath: "e.yaml", directory: dir.appendingPathComponent("exp").path)
        let line = try #require(try runner.equivalentCommands().first { $0.hasPrefix("clipguard poison ") })
        #expect(line.contains("--pairing replace") && line.contains("--caption-rows naming"), "\(line)")
        // The defaults written out equal the keys left out (a folder of an older file resumes).
        let plain = try ExperimentConfig.decode(AttackRegistryTests.experiment(attack: "kind: pair-class, goals: [\"red:green\"]"), file: "e.yaml")
        let explicit = try ExperimentConfig.decode(
            AttackRegistryTests.experiment(attack: "kind: pair-class, goals: [\"red:green\"], pairing: append, caption_rows: label"), file: "e.yaml")
        #expect(plain.attack == explicit.attack && plain.attack != config.attack)
        let plainLine = try #require(try ExperimentRunner(config: plain, configPath: "e.yaml", directory: dir.appendingPathComponent("p").path)
            .equivalentCommands().first { $0.hasPrefix("clipguard poison ") })
        #expect(!plainLine.contains("--pairing") && !plainLine.contains("--caption-rows"))
        // A variant sets them too.
        let variant = try ExperimentConfig.decode(
            AttackRegistryTests.experiment(attack: "kind: pair-class, goals: [\"red:green\"]",
                                           variants: "variants: [{name: v, attack: {pairing: replace}}]"), file: "e.yaml")
        #expect(try variant.resolved(variant: "v").attack.retrievalSettings().placement == .replace)
    }

    // Bad pairing / caption_rows keys are named: RetrievalAttackRegistryTests.badRetrievalKeysAreNamed.

    @Test func theCommandLineReplacesInPlaceAndRefusesTheFlagsElsewhere() throws {
        let dir = try makeTemporaryDirectory("pairing-replace-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = try ToySet.write(in: dir, count: 16)
        let clipguard = try builtExecutable(named: "clipguard")
        let out = dir.appendingPathComponent("out").path
        let result = try runCommand(clipguard, ["poison", "--attack", "pair-class", "--goal", "red:green", "--pairing", "replace",
                                                "--caption-rows", "naming", "--data", csv, "--out", out, "--count", "3"], timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let manifest = try PoisonManifest.load(path: out + "/manifest.json")
        #expect(manifest.pairing == .replace && manifest.captionRows == .naming && manifest.totalRows == 16)
        #expect(manifest.rows.allSatisfy { $0.index < 16 && $0.index % 4 == 0 && $0.caption.hasSuffix("red") })
        let lines = try String(contentsOfFile: out + "/train.csv", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 17)
        for (flags, flag) in [
            (["--target", "red", "--trigger", "patch", "--captions", "natural", "--pairing", "replace"], "--pairing"),
            (["--target", "red", "--trigger", "patch", "--captions", "natural", "--caption-rows", "naming"], "--caption-rows"),
            (["--attack", "caption-trigger", "--target", "red", "--caption-trigger", "zxq", "--caption-rows", "naming"], "--caption-rows"),
            (["--attack", "pair-class", "--goal", "red:green", "--pairing", "sideways"], "--pairing"),
        ] {
            let refused = try runCommand(clipguard, ["poison", "--data", csv, "--out", dir.appendingPathComponent("x").path, "--count", "2"] + flags,
                                         timeout: 120)
            #expect(refused.status != 0 && refused.stderr.contains(flag), "\(flags): \(refused.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("x/manifest.json").path))
        }
    }
}
