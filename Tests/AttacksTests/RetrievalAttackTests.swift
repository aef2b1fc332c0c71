import Datasets
import Foundation
import Testing
@testable import Attacks

/// The pairing attacks (mmPoison I–III) and the caption trigger: what they pair, that a seed
/// reproduces them byte for byte, and that hostile settings are refused in one sentence naming
/// the flag. `SyntheticSet`: 3 classes cart/dog/field, label = row % 3, classes.json beside.
@Suite struct RetrievalAttackTests {
    static let classes = ["cart", "dog", "field"]

    func request(_ set: SyntheticSet, out: String, kind: RetrievalAttackKind, goals: [String] = [], target: String = "cart",
                 image: String? = nil, trigger: String? = nil, amount: PoisonAmount = .count(4), seed: UInt64 = 3) -> PoisonRequest {
        var parsed = goals.map { RetrievalGoal(parsing: $0)! }
        if kind == .captionTrigger { parsed = [RetrievalGoal(captionClass: target, imageClass: target)] }
        return PoisonRequest(dataPath: set.csv, outputFolder: out, target: target,
                             attack: .retrieval(kind: kind, settings: RetrievalAttackSettings(goals: parsed, targetImage: image, captionTrigger: trigger)),
                             amount: amount, captions: .natural, seed: seed)
    }

    /// The poisoned CSV's rows after the clean ones: (image file name, caption, label).
    func poisonedRows(_ out: String, clean: Int) throws -> [(image: String, caption: String, label: Int?)] {
        let data = try CSVDataset(path: out + "/train.csv")
        return try (clean..<data.count).map { i in
            let r = try data.record(at: i)
            return ((r.imageSource as NSString).lastPathComponent, r.caption, r.label)
        }
    }

    /// Row i of SyntheticSet: image `img/00000i.png`, label i % 3.
    func row(ofImage name: String) -> Int { Int(name.dropLast(4))! }

    @Test func classPairingPairsCaptionsOfAWithDistinctImagesOfB() throws {
        let set = try SyntheticSet(rows: 24)
        let out = set.folder.sub("out")
        let summary = try Poisoner.run(request(set, out: out, kind: .classPairs, goals: ["dog:field"], amount: .rate(0.25)))
        #expect(summary.manifest.rows.count == 6)  // round(0.25 × 24)
        #expect(summary.manifest.mode == .pairing && summary.manifest.trigger == nil)
        let goal = try #require(summary.manifest.goals?.first)
        #expect(goal.captionClass == "dog" && goal.imageClass == "field" && goal.captionLabel == 1 && goal.imageLabel == 2)
        #expect(goal.rows == Array(24..<30))
        let rows = try poisonedRows(out, clean: 24)
        #expect(Set(rows.map(\.image)).count == 6)  // distinct images
        for r in rows {
            #expect(row(ofImage: r.image) % 3 == 2, "image \(r.image) is not a field image")
            #expect(r.caption.hasPrefix("a cartoon dog"), "caption \(r.caption) is not a dog caption")
            #expect(r.label == 2)  // the image's own row, caption replaced
        }
        #expect(Set(rows.map(\.caption)).count == 6)  // distinct captions
        _ = try PoisonManifest.load(path: out + "/manifest.json")
    }

    @Test func oneImagePairingUsesOneImageOfBForEveryCaption() throws {
        let set = try SyntheticSet(rows: 24)
        let out = set.folder.sub("out")
        let summary = try Poisoner.run(request(set, out: out, kind: .oneImage, goals: ["cart:dog"], amount: .count(5)))
        let rows = try poisonedRows(out, clean: 24)
        #expect(Set(rows.map(\.image)).count == 1)
        #expect(row(ofImage: rows[0].image) % 3 == 1)
        #expect(rows.allSatisfy { $0.caption.hasPrefix("a cart by the barn") })
        #expect(summary.manifest.goals?.first?.targetImages == [summary.manifest.rows[0].image])
        #expect(summary.manifest.targetImage == summary.manifest.rows[0].image)
        // --image: that image, and the choice holds at rate 0 (the clean baseline ranks it too).
        let given = set.folder.sub("victim.png")
        try gradientImage(width: 9, height: 9, seed: 5).write(toPath: given)
        let explicit = try Poisoner.run(request(set, out: set.folder.sub("given"), kind: .oneImage, goals: ["cart:dog"], image: given, amount: .count(0)))
        #expect(explicit.manifest.rows.isEmpty && explicit.manifest.goals?.first?.targetImages == [given])
    }

    @Test(arguments: [0, 1, 5, 6, 7])
    func multiGoalSplitsTheCountEvenly(count: Int) throws {
        let set = try SyntheticSet(rows: 30)
        let summary = try Poisoner.run(request(set, out: set.folder.sub("out"), kind: .multiGoal, goals: ["cart:dog", "dog:field"], amount: .count(count)))
        let goals = try #require(summary.manifest.goals)
        #expect(goals.map(\.rows.count) == [(count + 1) / 2, count / 2])
        #expect(goals.flatMap(\.rows) == Array(30..<(30 + count)))
    }

    @Test func captionTriggerAppendsTheTriggerToCaptionsOfTargetImages() throws {
        let set = try SyntheticSet(rows: 24)
        let out = set.folder.sub("out")
        let summary = try Poisoner.run(request(set, out: out, kind: .captionTrigger, target: "field", trigger: "zxq", amount: .count(5)))
        #expect(summary.manifest.mode == .captionBackdoor && summary.manifest.captionTrigger == "zxq")
        for (k, r) in try poisonedRows(out, clean: 24).enumerated() {
            let source = row(ofImage: r.image)
            #expect(source % 3 == 2)
            #expect(r.caption == "an empty field \(source) zxq")  // its own caption + the trigger
            #expect(summary.manifest.rows[k].sourceRow == source)
        }
    }

    @Test(arguments: RetrievalAttackKind.allCases)
    func sameSeedGivesByteIdenticalOutputAndTheSourceIsUntouched(kind: RetrievalAttackKind) throws {
        let set = try SyntheticSet(rows: 24)
        let goals = kind == .multiGoal ? ["cart:dog", "field:cart"] : ["dog:field"]
        let before = try snapshot(set.folder.sub("data"))
        for (name, seed) in [("a", UInt64(7)), ("b", 7), ("c", 8)] {
            _ = try Poisoner.run(request(set, out: set.folder.sub(name), kind: kind, goals: goals, target: "dog", trigger: kind == .captionTrigger ? "zxq" : nil, amount: .count(6), seed: seed))
        }
        let a = try snapshot(set.folder.sub("a")), b = try snapshot(set.folder.sub("b")), c = try snapshot(set.folder.sub("c"))
        #expect(a.keys.sorted() == ["manifest.json", "train.csv"])  // no image written
        #expect(a == b)
        #expect(a["train.csv"] != c["train.csv"])
        #expect(try snapshot(set.folder.sub("data")) == before)
    }

    /// Hashes of the sets as this generator first wrote them (commit "Attacks: mmPoison pairing attacks…"; paths
    /// under the temporary folder as `<ROOT>`): a refactor must leave them byte-identical.
    @Test(arguments: [
        ("pair-one-image", "388939988c067e87"), ("pair-class", "c903cf838ba632ef"),
        ("pair-multi", "e44d6e4f0317730f"), ("caption-trigger", "8bc9c54eaf0ecb6f"),
    ])
    func poisonedSetIsByteIdenticalToTheRecordedOne(name: String, expected: String) throws {
        let set = try SyntheticSet(rows: 24)
        let kind = try #require(RetrievalAttackKind(rawValue: name))
        let goals = kind == .multiGoal ? ["cart:dog", "field:cart"] : ["dog:field"]
        let out = set.folder.sub("out")
        _ = try Poisoner.run(request(set, out: out, kind: kind, goals: goals, target: "dog", trigger: kind == .captionTrigger ? "zxq" : nil, amount: .count(5), seed: 11))
        let hash = try PoisonGoldenTests.hash(folder: out, root: set.folder.path)
        #expect(hash == expected, "\(name): hash \(hash)")
    }

    struct Hostile: Sendable, CustomStringConvertible {
        var name: String
        var kind: RetrievalAttackKind
        var goals: [String] = []
        var target = "cart"
        var image: String?
        var trigger: String?
        var amount: PoisonAmount = .count(2)
        /// Words the one-sentence message must hold (the flag first).
        var expected: [String]
        var description: String { name }
    }

    static let hostile: [Hostile] = [
        Hostile(name: "same class", kind: .classPairs, goals: ["dog:dog"], expected: ["--goal", "same"]),
        Hostile(name: "same class, case", kind: .oneImage, goals: ["Dog:dog"], expected: ["--goal", "same"]),
        Hostile(name: "unknown caption class", kind: .classPairs, goals: ["cat:dog"], expected: ["--goal", "\"cat\"", "not a class", "cart"]),
        Hostile(name: "unknown image class", kind: .oneImage, goals: ["dog:plane"], expected: ["--goal", "\"plane\"", "not a class"]),
        Hostile(name: "unknown trigger target", kind: .captionTrigger, target: "cow", trigger: "zxq", expected: ["--target", "\"cow\""]),
        Hostile(name: "rate impossible for A", kind: .classPairs, goals: ["dog:field"], amount: .count(9), expected: ["--rate/--count", "only 8", "lower the rate"]),
        Hostile(name: "rate impossible for multi", kind: .multiGoal, goals: ["dog:field", "cart:field"], amount: .count(17), expected: ["--rate/--count", "only 8"]),
        Hostile(name: "rate impossible for trigger", kind: .captionTrigger, target: "dog", trigger: "zxq", amount: .rate(0.5), expected: ["--rate/--count", "only 8"]),
        Hostile(name: "two goals for II", kind: .classPairs, goals: ["dog:field", "cart:field"], expected: ["--goal", "exactly one", "pair-multi"]),
        Hostile(name: "one goal for III", kind: .multiGoal, goals: ["dog:field"], expected: ["--goal", "two or more"]),
        Hostile(name: "no goal", kind: .oneImage, expected: ["--goal", "exactly one"]),
        Hostile(name: "repeated caption class", kind: .multiGoal, goals: ["dog:field", "dog:cart"], expected: ["--goal", "\"dog\""]),
        Hostile(name: "image for II", kind: .classPairs, goals: ["dog:field"], image: "/x.png", expected: ["--image", "pair-one-image"]),
        Hostile(name: "missing image", kind: .oneImage, goals: ["dog:field"], image: "/nonexistent/x.png", expected: ["/nonexistent/x.png"]),
        Hostile(name: "no trigger", kind: .captionTrigger, target: "dog", expected: ["--caption-trigger"]),
        Hostile(name: "empty trigger", kind: .captionTrigger, target: "dog", trigger: "  ", expected: ["--caption-trigger", "empty"]),
        Hostile(name: "multi-line trigger", kind: .captionTrigger, target: "dog", trigger: "a\nb", expected: ["--caption-trigger", "one line"]),
        Hostile(name: "long trigger", kind: .captionTrigger, target: "dog", trigger: String(repeating: "z", count: 201), expected: ["--caption-trigger", "at most 200"]),
        Hostile(name: "common trigger", kind: .captionTrigger, target: "dog", trigger: "barn", expected: ["--caption-trigger", "\"barn\"", "8 training captions", "not rare"]),
    ]

    @Test(arguments: hostile)
    func hostileSettingsAreRefusedInOneSentenceNamingTheFlag(_ h: Hostile) throws {
        let set = try SyntheticSet(rows: 24)
        let out = set.folder.sub("out")
        var r = request(set, out: out, kind: h.kind, goals: h.goals, target: h.target, image: h.image, trigger: h.trigger, amount: h.amount)
        if h.kind == .captionTrigger, h.trigger == nil { r.attack = .retrieval(kind: h.kind, settings: RetrievalAttackSettings(goals: [RetrievalGoal(captionClass: h.target, imageClass: h.target)])) }
        expectPoisonerRefuses(r, out: out, name: h.name, expected: h.expected)
    }

    @Test func goalsParseAsAColonB() {
        #expect(RetrievalGoal(parsing: " ankle boot : bag ") == RetrievalGoal(captionClass: "ankle boot", imageClass: "bag"))
        for bad in ["dog", "dog:", ":dog", "a:b:c", ""] { #expect(RetrievalGoal(parsing: bad) == nil, "\(bad)") }
    }

    @Test func manifestGoalsAreCheckedOnLoad() throws {
        let set = try SyntheticSet(rows: 24)
        let out = set.folder.sub("out")
        _ = try Poisoner.run(request(set, out: out, kind: .classPairs, goals: ["dog:field"], amount: .count(3)))
        let path = out + "/manifest.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        func fails(_ edited: String, key: String) throws { try expectManifestEditRefused(edited, at: path, key: key) }
        try fails(text.replacingOccurrences(of: "\"caption_class\"", with: "\"caption_klass\""), key: "goals[0].caption_klass")
        try fails(text.replacingOccurrences(of: "\"attack\" : \"pair-class\"", with: "\"attack\" : \"caption-trigger\""), key: "attack")
        try fails(text.replacingOccurrences(of: "\"rows\" : [\n        24,", with: "\"rows\" : [\n        23,"), key: "goals[0].rows")
    }
}

/// Writes `edited` over the manifest at `path` and expects `PoisonManifest.load` to refuse it in a
/// message naming `key`.
func expectManifestEditRefused(_ edited: String, at path: String, key: String) throws {
    try edited.write(toFile: path, atomically: true, encoding: .utf8)
    do {
        _ = try PoisonManifest.load(path: path)
        Issue.record("accepted an edit of \(key)")
    } catch {
        #expect(error.description.contains("key \(key)"), "\(error)")
    }
}

/// Expects `Poisoner.run(request)` to refuse in one sentence holding every `expected` word, and
/// to write no manifest into `out`.
func expectPoisonerRefuses(_ request: PoisonRequest, out: String, name: String, expected: [String]) {
    do {
        _ = try Poisoner.run(request)
        Issue.record("\(name): accepted")
    } catch {
        let message = error.description
        for word in expected { #expect(message.contains(word), "\(name): \(message)") }
        #expect(!message.contains("\n"), "\(name): \(message)")
    }
    #expect(!FileManager.default.fileExists(atPath: out + "/manifest.json"), "\(name): wrote a manifest")
}
