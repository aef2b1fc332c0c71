import Attacks
import Datasets
import Evaluation
import Foundation
import TestSupport
import Testing
import Training
@testable import Experiments

/// One test over every registered retrieval attack (pairing, caption trigger): experiment-file
/// keys (a variant's too), the experiment's equivalent command, the real `clipguard poison
/// --attack`, and the manifest; plus typed results that older files still read.
@Suite struct RetrievalAttackRegistryTests {
    static func attackKeys(_ kind: RetrievalAttackKind) -> String {
        switch kind {
        case .captionTrigger: "kind: caption-trigger, caption_trigger: zxq"
        case .multiGoal: "kind: pair-multi, goals: [\"red:green\", \"blue:yellow\"]"
        default: "kind: \(kind), goals: [\"red:green\"]"
        }
    }

    static func commandLine(_ kind: RetrievalAttackKind) -> [String] {
        switch kind {
        case .captionTrigger: ["--target", "red", "--caption-trigger", "zxq"]
        case .multiGoal: ["--goal", "red:green", "--goal", "blue:yellow"]
        default: ["--goal", "red:green"]
        }
    }

    @Test func namesAndDisplayNamesAreDistinct() {
        let kinds = RetrievalAttackRegistry.kinds
        #expect(Set(kinds.map { $0.name }).count == kinds.count)
        #expect(Set(kinds.map { $0.displayName }).count == kinds.count)
        #expect(Set(kinds.map { $0.name }).isDisjoint(with: TriggerRegistry.kinds.map { $0.kind }))
        for kind in kinds { #expect(RetrievalAttackRegistry.commandLineHelp.contains(kind.name + " (")) }
    }

    @Test(arguments: RetrievalAttackKind.allCases)
    func retrievalAttackWorksEndToEnd(kind: RetrievalAttackKind) throws {
        let config = try ExperimentConfig.decode(AttackRegistryTests.experiment(attack: Self.attackKeys(kind)), file: "e.yaml")
        #expect(config.attack.kind == kind)
        let variant = try ExperimentConfig.decode(
            AttackRegistryTests.experiment(attack: "trigger: patch, captions: natural", variants: "variants: [{name: v, attack: {\(Self.attackKeys(kind))}}]"),
            file: "e.yaml")
        #expect(try variant.resolved(variant: "v").attack.kind == kind)
        let dir = try makeTemporaryDirectory("retrieval-registry")
        defer { try? FileManager.default.removeItem(at: dir) }
        let runner = ExperimentRunner(config: config, configPath: "e.yaml", directory: dir.appendingPathComponent("exp").path)
        let poisonLine = try #require(try runner.equivalentCommands().first { $0.hasPrefix("clipguard poison ") })
        #expect(poisonLine.contains("--attack \(kind) ") && !poisonLine.contains("--trigger"), "\(poisonLine)")

        let csv = try ToySet.write(in: dir, count: 16)
        let clipguard = try builtExecutable(named: "clipguard")
        let out = dir.appendingPathComponent("out").path
        let result = try runCommand(clipguard, ["poison", "--attack", kind.rawValue, "--data", csv, "--out", out, "--count", "2"] + Self.commandLine(kind),
                                    timeout: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let manifest = try PoisonManifest.load(path: out + "/manifest.json")
        #expect(manifest.attack == kind && manifest.mode == kind.definition.mode && manifest.rows.count == 2)
        #expect(manifest.goals?.flatMap(\.rows).sorted() == manifest.rows.map(\.index))
        #expect(manifest.attacksRetrieval && manifest.trigger == nil)
    }

    @Test(arguments: [
        ("kind: pair-class, goals: [\"red\"]", "attack.goals", "A:B"),
        ("kind: pair-class, goals: [\"red:red\"]", "attack.goals", "same"),
        ("kind: pair-multi, goals: [\"red:green\"]", "attack.goals", "two or more"),
        ("kind: caption-trigger", "attack.caption_trigger", "needs the trigger"),
        ("kind: caption-trigger, caption_trigger: \"  \"", "attack.caption_trigger", "empty"),
        ("goals: [\"red:green\"]", "attack.goals", "attack.kind"),
        ("kind: pair-everything, goals: [\"red:green\"]", "attack.kind", "unknown retrieval attack"),
        ("kind: pair-class, goals: [\"red:green\"], pairing: sideways", "attack.pairing", "accepted values"),
        ("kind: pair-class, goals: [\"red:green\"], caption_rows: words", "attack.caption_rows", "accepted values"),
        ("trigger: patch, captions: natural, pairing: replace", "attack.pairing", "attack.kind"),
        ("trigger: patch, captions: natural, caption_rows: naming", "attack.caption_rows", "attack.kind"),
        ("kind: caption-trigger, caption_trigger: zxq, caption_rows: naming", "attack.caption_rows", "pairing attacks"),
    ])
    func badRetrievalKeysAreNamed(keys: String, key: String, words: String) {
        do {
            _ = try ExperimentConfig.decode(AttackRegistryTests.experiment(attack: keys), file: "e.yaml")
            Issue.record("accepted \(keys)")
        } catch {
            let message = "\(error)"
            #expect(message.contains(key) && message.contains(words), "\(keys): \(message)")
            #expect(!message.contains("\n"), "\(message)")
        }
    }

    @Test func setResultsWithAndWithoutRetrievalFiguresRoundTrip() throws {
        // A result written before retrieval attacks: no `retrieval` key.
        let old = #"{"top1": 0.8, "top5": 0.99, "n": 500, "asr": 0.5, "classes": 10}"#
        let decoded = try JSONDecoder().decode(SetResult.self, from: Data(old.utf8))
        #expect(decoded.retrieval == nil && decoded.asr == 0.5)
        var result = SetResult(top1: 0.8, top5: 0.9, n: 500, classes: 10)
        let figures = TargetRetrieval(minRanks: [1, 12, 3], gallery: 500, targets: 50)
        result.retrieval = RetrievalAttackEvaluation(
            attack: "pair-class", gallery: 500, templates: 10,
            goals: [RetrievalGoalResult(goal: "trouser:bag", attacked: figures, control: figures, succeeded: true)])
        let again = try JSONDecoder().decode(SetResult.self, from: try JSONEncoder().encode(result))
        #expect(again == result)
        #expect(abs((again.retrieval?.hitAt10 ?? 0) - 2.0 / 3) < 1e-12)
    }
}
