import Foundation
import Testing
import Attacks
import SurrogateAttacks
import Training
@testable import Experiments

/// The aimed attacks' keys in an experiment file (`attack.aim`, `surrogate`, `epsilon`, `pgd_steps`).
@Suite struct AimedAttackConfigTests {
    func error(_ text: String) -> ConfigError? {
        do { _ = try ExperimentConfig.decode(text, file: "exp.yaml"); return nil } catch let e as ConfigError { return e } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    static func file(_ attackKeys: String, variants: String = "") -> String {
        validExperiment.replacingOccurrences(of: "patch_size: \"22%\"}", with: "patch_size: \"22%\", \(attackKeys)}") + variants
    }

    @Test func anAimedAttackIsReadWithItsSettings() throws {
        let config = try ExperimentConfig.decode(Self.file("aim: safeclip-aimed, surrogate: clean, epsilon: 4, pgd_steps: 5"), file: "exp.yaml")
        #expect(config.attack.aim == .safeclipAimed)
        let settings = try #require(config.attack.aimSettings(surrogatePath: "/s.safetensors"))
        #expect(settings == AimedAttackSettings(attack: .safeclipAimed, surrogate: "/s.safetensors", epsilon: 4, steps: 5))
    }

    @Test func aVariantCanNameAnotherAttackOrDropIt() throws {
        let variants = """

            variants:
              - {name: hard, rates: [0.01], attack: {captions: label-consistent, aim: hard-clean-label, epsilon: 16}}
              - {name: plain, attack: {aim: none}}
            """
        let config = try ExperimentConfig.decode(Self.file("aim: safeclip-aimed, surrogate: clean", variants: variants), file: "exp.yaml")
        #expect(try config.resolved(variant: "hard").attack.aim == .hardCleanLabel)
        #expect(try config.resolved(variant: "hard").attack.surrogate == "clean")
        let plain = try config.resolved(variant: "plain").attack
        #expect(plain.aim == nil && plain.usedSurrogate == nil && plain.epsilon == nil)
    }

    @Test func badAimedSettingsAreNamed() {
        #expect(error(Self.file("aim: safeclip-aimed"))?.key == "attack.surrogate")
        #expect(error(Self.file("aim: safeclip-aimed, surrogate: clean, captions: label-consistent"))?.key == "attack.captions")
        #expect(error(Self.file("aim: hard-clean-label, surrogate: clean"))?.key == "attack.captions")
        // A surrogate alone is ignored by a trigger that is not optimised (as the optimised trigger's key reads it).
        #expect(error(Self.file("surrogate: clean")) == nil)
        #expect(error(Self.file("aim: safeclip-aimed, surrogate: clean, trigger: optimized"))?.key == "attack.aim")
        #expect(error(Self.file("epsilon: 8"))?.key == "attack.epsilon")
        let e = error(Self.file("aim: safeclip-aimed, surrogate: clean, epsilon: 300"))
        #expect(e?.key == "attack" && e?.reason == "epsilon must be in 0…255 (steps of 1/255; 0: no perturbation), got 300")
        #expect(error(Self.file("aim: the-best-attack, surrogate: clean"))?.key == "attack.aim")
        #expect(error(Self.file("aim_selection: per-class"))?.key == "attack.aim_selection")
        #expect(error(Self.file("aim: safeclip-aimed, surrogate: clean, aim_selection: best"))?.key == "attack.aim_selection")
        let per = try? ExperimentConfig.decode(Self.file("aim: safeclip-aimed, surrogate: clean, aim_selection: per-class"), file: "exp.yaml")
        #expect(per?.attack.aimSettings(surrogatePath: "s")?.selection == .perClass)
    }

    /// results.json's per-selection safe-set share, read from a run's metrics.jsonl.
    @Test func safeSetSharesAreReadFromTheSelectionRecords() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aimed-shares-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func line(_ epoch: Int, _ safe: Int, _ inSafe: Int) -> String {
            """
            {"gmm_converged":true,"gmm_degenerate":null,"gmm_iterations":4,"gmm_log_likelihood":0.75,"gmm_means":[0.28,0.5],"gmm_variances":[0.02,0.005],"gmm_weights":[0.2,0.8],"mixed_steps":634,"phase":"mixed","poisoned_in_risky":\(10 - inSafe),"poisoned_in_safe":\(inSafe),"poisoned_total":10,"r":0.6,"ranking":"threshold","risky_count":\(100 - safe),"risky_precision":0.02,"risky_recall":0.48,"safe_count":\(safe),"safe_fraction":0.6,"selection_epoch":\(epoch),"selection_rule":"threshold","similarities_file":"similarities/epoch_\(epoch).json","step":\(epoch * 10)}
            """
        }
        let path = dir.appendingPathComponent("metrics.jsonl").path
        try (line(3, 60, 7) + "\n" + line(4, 61, 4) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let shares = try #require(SafeSetShare.read(metrics: path))
        #expect(shares == [SafeSetShare(epoch: 3, poisonedInSafe: 7, poisonedTotal: 10, safeCount: 60, pairs: 100),
                           SafeSetShare(epoch: 4, poisonedInSafe: 4, poisonedTotal: 10, safeCount: 61, pairs: 100)])
        #expect(shares[0].share == 0.7)
    }
}

/// The report's table of poisons in SafeCLIP's safe set, from results.json's `safe_set_poisons`.
@Suite struct SafeSetReportTests {
    @Test func theSafeSetTableShowsEverySelectionBesideChance() throws {
        let s = try SyntheticExperiment.make()
        defer { try? FileManager.default.removeItem(at: s.dir) }
        var results = s.results
        let index = try #require(results.rows.firstIndex { $0.defense.name == "safeclip" && ($0.rate ?? 0) > 0 })
        results.rows[index].safeSetPoisons = [
            SafeSetShare(epoch: 3, poisonedInSafe: 104, poisonedTotal: 200, safeCount: 6476, pairs: 10200),
            SafeSetShare(epoch: 4, poisonedInSafe: 170, poisonedTotal: 200, safeCount: 6578, pairs: 10200),
        ]
        let report = ReportWriter(directory: s.dir.path, results: results)
        let markdown = report.markdown()
        #expect(markdown.contains("## Poisons in SafeCLIP's safe set"))
        let row = results.rows[index]
        #expect(markdown.contains("| SafeCLIP | \(ReportModel.amountLabel(row.amount)) | \(row.seed) | 104/200 = 52% (random: 63%) | 170/200 = 85% (random: 64%) |"))
        // Without shares, no section.
        #expect(!s.report.markdown().contains("## Poisons in SafeCLIP's safe set"))
    }
}
