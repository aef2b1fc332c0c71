import Attacks
import CLIP
import Datasets
import Foundation
import Testing
import TestSupport
import Torch
@testable import SurrogateAttacks

@Suite struct AimedPoisoningTests {
    /// Toy data (24 striped images, captions naming their colour) and a saved toy surrogate.
    static func setUp() throws -> (dir: URL, data: String, surrogate: String) {
        let dir = try makeTemporaryDirectory("aimed")
        let data = try ToySet.write(in: dir, count: 24)
        let surrogate = dir.appendingPathComponent("surrogate.safetensors").path
        try toySurrogate().model.saveSafeTensors(toPath: surrogate)
        return (dir, data, surrogate)
    }

    static func request(data: String, out: String, captions: CaptionStrategy, count: Int = 4) throws -> PoisonRequest {
        PoisonRequest(dataPath: data, outputFolder: out, target: "red",
                      attack: .backdoor(kind: .patch, options: try TriggerRegistry.options(commandLine: ["--patch-size", "4"]), source: .train),
                      amount: .count(count), captions: captions, placement: .modelInput(ModelGeometry(resize: .crop, size: 16)), seed: 5)
    }

    static func run(_ attack: AimedAttack, data: String, surrogate: String, out: String) throws -> PoisonSummary {
        var request = try request(data: data, out: out, captions: attack.captions)
        request.aim = try AimedAttack.prepare(request, settings: AimedAttackSettings(attack: attack, surrogate: surrogate))
        return try Poisoner.run(request)
    }

    /// The bytes of every poisoned image, in row order.
    static func imageBytes(_ summary: PoisonSummary, folder: String) throws -> [UInt8] {
        try summary.manifest.rows.flatMap { Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0.image))) }
    }

    @Test func safeclipAimedChoosesTheMostSimilarSourcesAndRecordsWhatItDid() throws {
        let (dir, data, surrogate) = try Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("aimed").path
        let summary = try Self.run(.safeclipAimed, data: data, surrogate: surrogate, out: out)
        let m = try PoisonManifest.load(path: out + "/manifest.json")
        let record = try #require(m.surrogate)
        #expect(record.attack == "safeclip-aimed" && record.epsilon == 8 && record.steps == 10)
        #expect(record.checkpointSHA256 == SHA256.hex(Array(try Data(contentsOf: URL(fileURLWithPath: surrogate)))))
        #expect(record.candidates == 18)  // 24 rows, 6 of them name "red"
        // Selection: the chosen sources are the candidates with the highest best-caption similarity.
        let candidates = try Poisoner.candidates(try Self.request(data: data, out: out, captions: .natural))
        let s = try Surrogate(path: surrogate)
        let images = try AimedAttack.triggeredImages(candidates.images, trigger: candidates.trigger, geometry: ModelGeometry(resize: .crop, size: 16), indices: nil)
        let text = s.textFeatures(candidates.targetCaptions)
        let scores = noGrad { s.imageFeatures(s.pixels(images)).matmul(text.t) }.max(dim: 1).values.to(.float64).toArray(as: Double.self)
        let threshold = scores.sorted(by: >)[3]
        let chosen = Set(m.rows.compactMap(\.sourceRow))
        #expect(chosen.count == 4)
        for (i, row) in candidates.rows.enumerated() where chosen.contains(row) { #expect(scores[i] >= threshold) }
        // Raised on average, and the summary says so.
        #expect(try #require(record.similarityAfter) > (try #require(record.similarityBefore)))
        #expect(summary.description.contains("surrogate: safeclip-aimed"))
    }

    /// Per-class selection takes equal shares from every label, each the label's most similar.
    @Test func perClassSelectionTakesEqualSharesPerLabel() throws {
        let (dir, data, surrogate) = try Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("per-class").path
        var request = try Self.request(data: data, out: out, captions: .natural, count: 6)
        request.aim = try AimedAttack.prepare(
            request, settings: AimedAttackSettings(attack: .safeclipAimed, surrogate: surrogate, epsilon: 0, selection: .perClass))
        let summary = try Poisoner.run(request)
        let labels = try String(contentsOfFile: data, encoding: .utf8).split(separator: "\n").dropFirst().map { Int($0.split(separator: ",")[2])! }
        var counts: [Int: Int] = [:]
        for row in summary.manifest.rows { counts[labels[row.sourceRow!], default: 0] += 1 }
        #expect(counts == [1: 2, 2: 2, 3: 2])  // label 0 is "red", the target
        #expect(summary.manifest.surrogate?.selection?.contains("taken in turn from each label") == true)
        #expect(summary.manifest.surrogate?.epsilon == nil)  // ε = 0: selection only
    }

    @Test func hardCleanLabelKeepsCaptionsAndRecordsItsObjective() throws {
        let (dir, data, surrogate) = try Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("hard").path
        _ = try Self.run(.hardCleanLabel, data: data, surrogate: surrogate, out: out)
        let m = try PoisonManifest.load(path: out + "/manifest.json")
        let record = try #require(m.surrogate)
        #expect(record.epsilon == 16 && record.objective?.hasPrefix("lower") == true && record.selection == nil)
        for row in m.rows { #expect(row.caption.contains("red")) }
    }

    /// One seed gives the same bytes twice; the golden hash pins them (CPU, this code's libtorch).
    @Test func bytesAreIdenticalForOneSeedAndMatchTheGoldenHash() throws {
        let (dir, data, surrogate) = try Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a").path, b = dir.appendingPathComponent("b").path
        let first = try Self.imageBytes(try Self.run(.safeclipAimed, data: data, surrogate: surrogate, out: a), folder: a)
        let second = try Self.imageBytes(try Self.run(.safeclipAimed, data: data, surrogate: surrogate, out: b), folder: b)
        #expect(first == second)
        let csvA = try String(contentsOfFile: a + "/train.csv", encoding: .utf8).replacingOccurrences(of: a, with: "")
        let csvB = try String(contentsOfFile: b + "/train.csv", encoding: .utf8).replacingOccurrences(of: b, with: "")
        #expect(csvA == csvB)
        #expect(SHA256.hex(first) == Self.golden, "golden hash changed: \(SHA256.hex(first))")
    }

    static let golden = "f96d52649a54a2049ec7e76b0794eeba34f72f0a2235c17082445d78a432a007"

    @Test func aPlanOutsideTheCandidatesIsRefused() throws {
        let (dir, data, _) = try Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        var request = try Self.request(data: data, out: dir.appendingPathComponent("p").path, captions: .natural, count: 2)
        let record = SurrogateRecord(attack: "t", aimsAt: "t", checkpoint: "t", checkpointSHA256: String(repeating: "a", count: 64))
        request.aim = AimedPoisoning(plan: PoisonPlan(sourceRows: [0, 1], captions: nil), perturbation: nil, record: record)
        // Row 0 names "red" (the target): not an eligible dirty-label source.
        #expect(throws: AttackError.insufficientData(path: data, reason: "row 0 of the surrogate's plan is not an eligible source row")) {
            try Poisoner.run(request)
        }
    }

    @Test func aSurrogateOfAnotherSizeOrNotACheckpointIsRefused() throws {
        let (dir, data, surrogate) = try Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        var request = try Self.request(data: data, out: dir.appendingPathComponent("p").path, captions: .natural)
        request.placement = .modelInput(ModelGeometry(resize: .crop, size: 32))
        #expect(throws: AttackError.invalidSetting(
            "--surrogate \(surrogate) takes 16×16 images but the poisons are 32×32; pass --image-size 16")) {
            try AimedAttack.prepare(request, settings: AimedAttackSettings(attack: .safeclipAimed, surrogate: surrogate))
        }
        let bogus = dir.appendingPathComponent("bogus.safetensors").path
        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: bogus))
        #expect(throws: (any Error).self) { try Surrogate(path: bogus) }
        do { _ = try Surrogate(path: bogus) } catch { #expect(error.description.hasPrefix("--surrogate \(bogus): not a ClipGuard CLIP checkpoint")) }
        #expect(throws: AttackError.invalidSetting("--aim safeclip-aimed needs --captions natural, got label-consistent")) {
            try AimedAttack.prepare(try Self.request(data: data, out: dir.path + "/q", captions: .labelConsistent),
                                    settings: AimedAttackSettings(attack: .safeclipAimed, surrogate: surrogate))
        }
    }
}
