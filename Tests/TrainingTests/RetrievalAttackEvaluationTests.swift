import Attacks
import CLIP
import Datasets
import Evaluation
import Foundation
import TestSupport
import Testing
import Torch
import Training

/// `evaluateRetrievalAttack` wired end to end (real Fashion-MNIST files, a seeded untrained micro
/// CLIP): its figures equal those computed image by image and query by query, with the
/// one-image attack's image added to the gallery, the caption trigger appended to the queries,
/// and ranks taken by sorting.
@Suite(.serialized) struct RetrievalAttackEvaluationTests {
    final class Shared: @unchecked Sendable {
        let dir: URL, csv: String, eval: String, model: CLIPModel, tokenizer: CLIPTokenizer
        init() throws {
            tokenizer = try CLIPTokenizer.load()
            dir = try makeTemporaryDirectory("retrieval-eval")
            _ = try BuiltinSets.prepareFashionMNIST(folder: dir.appendingPathComponent("fm").path, limit: 60, evaluationLimit: 20, seed: 2)
            csv = dir.appendingPathComponent("fm/train.csv").path
            eval = dir.appendingPathComponent("fm/eval").path
            let file = dir.appendingPathComponent("micro.json").path
            try ToySet.microModelConfig.write(toFile: file, atomically: true, encoding: .utf8)
            model = try CLIPModel(configFile: file, seed: 4)
        }
    }
    static let shared = Result { try Shared() }

    /// Row-normalised embeddings `[N, D]` as plain float rows.
    static func normalizedRows(_ t: Tensor) -> [[Float]] {
        let n = t.size(0), d = t.size(1), v = t.to(.float32).toArray(as: Float.self)
        return (0..<n).map { i in
            let row = Array(v[(i * d)..<((i + 1) * d)])
            let norm = row.map { $0 * $0 }.reduce(0, +).squareRoot()
            return row.map { $0 / norm }
        }
    }

    static func referenceMinRank(_ scores: [Float], targets: Set<Int>) -> Int {
        let order = scores.indices.sorted { a, b in
            scores[a] != scores[b] ? scores[a] > scores[b] : (targets.contains(a) && !targets.contains(b))
        }
        return order.firstIndex { targets.contains($0) }! + 1
    }

    /// The reference figures: the gallery read item by item from the set, preprocessed and encoded
    /// in one batch; the queries encoded in one batch; cosine similarities and ranks in plain Swift.
    static func reference(_ s: Shared, set: any ClassificationDataset, queries: [String], targets: (([Int]) -> [Int]),
                          extraImage: String?) throws -> TargetRetrieval {
        let model = s.model, size = model.config.vision.imageSize, context = model.config.text.contextLength
        var pictures: [RGBImage] = [], labels: [Int] = []
        for i in 0..<set.count {
            let sample = try set.sample(at: i)
            pictures.append(sample.image); labels.append(sample.label!)
        }
        if let extraImage { pictures.append(try decodeImage(atPath: extraImage)); labels.append(-1) }
        let pixels = pictures.flatMap { Preprocessing.resizeCenterCrop(size: size).apply($0).chwFloats() }
        let gallery = normalizedRows(inferenceMode { model.encodeImage(Tensor(pixels, shape: [pictures.count, 3, size, size])) })
        let ids = s.tokenizer.tokenize(batch: queries, contextLength: context).map(Int64.init)
        let texts = normalizedRows(inferenceMode { model.encodeText(Tensor(ids, shape: [queries.count, context])) })
        let wanted = Set(targets(labels))
        let ranks = texts.map { q in
            referenceMinRank(gallery.map { g in zip(q, g).map { $0 * $1 }.reduce(0, +) }, targets: wanted)
        }
        return TargetRetrieval(minRanks: ranks, gallery: gallery.count, targets: wanted.count)
    }

    static func expectClose(_ a: TargetRetrieval, _ b: TargetRetrieval, _ what: String) {
        #expect(a.queries == b.queries && a.gallery == b.gallery && a.targets == b.targets, "\(what)")
        #expect(abs(a.hitAt1 - b.hitAt1) < 1e-9 && abs(a.hitAt5 - b.hitAt5) < 1e-9 && abs(a.hitAt10 - b.hitAt10) < 1e-9, "\(what): \(a) vs \(b)")
        #expect(abs(a.meanMinRank - b.meanMinRank) < 1e-9 && a.medianMinRank == b.medianMinRank, "\(what): \(a) vs \(b)")
    }

    func poison(_ s: Shared, _ name: String, kind: RetrievalAttackKind, goals: [RetrievalGoal], trigger: String? = nil) throws -> PoisonManifest {
        try Poisoner.run(PoisonRequest(
            dataPath: s.csv, outputFolder: s.dir.appendingPathComponent(name).path, target: goals[0].imageClass,
            attack: .retrieval(kind: kind, settings: RetrievalAttackSettings(goals: goals, captionTrigger: trigger)),
            amount: .count(2), captions: .natural, seed: 1)).manifest
    }

    @Test func pairingFiguresEqualTheImageByImageReference() throws {
        let s = try Self.shared.get()
        let set = try openClassificationSet(atPath: s.eval)
        let tokenizer = s.tokenizer
        let classes = set.classNames, templates = set.templates
        func prompts(_ names: [String], _ suffix: String = "") -> [String] { names.flatMap { n in templates.map { $0.replacingOccurrences(of: "{c}", with: n) + suffix } } }

        // Attack II: trouser → bag images.
        let two = try poison(s, "two", kind: .classPairs, goals: [RetrievalGoal(captionClass: "trouser", imageClass: "bag")])
        let r2 = try evaluateRetrievalAttack(model: s.model, tokenizer: tokenizer, dataset: set, manifest: two, batchSize: 7, workers: 1)
        let bag = classes.firstIndex(of: "bag")!
        #expect(r2.gallery == set.count && r2.goals.count == 1 && r2.goals[0].goal == "trouser:bag")
        Self.expectClose(r2.goals[0].attacked, try Self.reference(s, set: set, queries: prompts(["trouser"]),
                                                                  targets: { l in l.indices.filter { l[$0] == bag } }, extraImage: nil), "II attacked")
        Self.expectClose(r2.goals[0].control, try Self.reference(s, set: set, queries: prompts(classes.filter { $0 != "trouser" && $0 != "bag" }),
                                                                 targets: { l in l.indices.filter { l[$0] == bag } }, extraImage: nil), "II control")

        // Attack I: the one image joins the gallery and is the only target.
        let one = try poison(s, "one", kind: .oneImage, goals: [RetrievalGoal(captionClass: "dress", imageClass: "sandal")])
        let image = try #require(one.goals?.first?.targetImages?.first)
        let r1 = try evaluateRetrievalAttack(model: s.model, tokenizer: tokenizer, dataset: set, manifest: one, batchSize: 64, workers: 1)
        #expect(r1.gallery == set.count + 1 && r1.goals[0].attacked.targets == 1)
        Self.expectClose(r1.goals[0].attacked, try Self.reference(s, set: set, queries: prompts(["dress"]),
                                                                  targets: { l in [l.count - 1] }, extraImage: image), "I attacked")

        // Caption trigger: the other classes' queries with the trigger (attacked) and without (control).
        let ct = try poison(s, "ct", kind: .captionTrigger, goals: [RetrievalGoal(captionClass: "sneaker", imageClass: "sneaker")], trigger: "zxq")
        let rt = try evaluateRetrievalAttack(model: s.model, tokenizer: tokenizer, dataset: set, manifest: ct, workers: 1)
        let sneaker = classes.firstIndex(of: "sneaker")!
        let others = classes.filter { $0 != "sneaker" }
        Self.expectClose(rt.goals[0].attacked, try Self.reference(s, set: set, queries: prompts(others, " zxq"),
                                                                  targets: { l in l.indices.filter { l[$0] == sneaker } }, extraImage: nil), "trigger attacked")
        Self.expectClose(rt.goals[0].control, try Self.reference(s, set: set, queries: prompts(others),
                                                                 targets: { l in l.indices.filter { l[$0] == sneaker } }, extraImage: nil), "trigger control")
    }

    @Test func aBackdoorManifestOrAClassTheSetLacksIsRefused() throws {
        let s = try Self.shared.get()
        let set = try openClassificationSet(atPath: s.eval)
        var manifest = try poison(s, "bad", kind: .classPairs, goals: [RetrievalGoal(captionClass: "trouser", imageClass: "bag")])
        manifest.goals![0].imageClass = "helicopter"
        #expect(throws: (any Error).self) { try evaluateRetrievalAttack(model: s.model, tokenizer: s.tokenizer, dataset: set, manifest: manifest) }
        manifest.mode = .backdoor
        #expect(throws: (any Error).self) { try evaluateRetrievalAttack(model: s.model, tokenizer: s.tokenizer, dataset: set, manifest: manifest) }
    }
}
