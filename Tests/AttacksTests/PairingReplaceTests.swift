import Datasets
import Foundation
import Testing
@testable import Attacks

/// `--pairing replace` (mmPoison's construction: a poisoned pair takes the place of the clean row
/// its caption came from, so the set keeps its size) and `--caption-rows naming` (class A's
/// captions are the rows whose caption names A). `SyntheticSet`: 3 classes cart/dog/field,
/// label = row % 3, classes.json beside.
@Suite struct PairingReplaceTests {
    func request(_ set: SyntheticSet, out: String, kind: RetrievalAttackKind, goals: [String] = [], target: String = "cart",
                 trigger: String? = nil, amount: PoisonAmount = .count(5), seed: UInt64 = 3,
                 placement: PairPlacement = .replace, captionRows: CaptionRowChoice = .label) -> PoisonRequest {
        var parsed = goals.map { RetrievalGoal(parsing: $0)! }
        if kind == .captionTrigger { parsed = [RetrievalGoal(captionClass: target, imageClass: target)] }
        let settings = RetrievalAttackSettings(goals: parsed, captionTrigger: trigger, placement: placement, captionRows: captionRows)
        return PoisonRequest(dataPath: set.csv, outputFolder: out, target: target, attack: .retrieval(kind: kind, settings: settings),
                             amount: amount, captions: .natural, seed: seed)
    }

    /// Every row of a CSV: (image file name, caption, label, poisoned flag).
    func rows(_ path: String) throws -> [(image: String, caption: String, label: Int?, poisoned: String)] {
        let data = try CSVDataset(path: path)
        let text = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst()
        let flags = text.map { String($0.split(separator: ",").last ?? "") }
        return try (0..<data.count).map { i in
            let r = try data.record(at: i)
            return ((r.imageSource as NSString).lastPathComponent, r.caption, r.label, i < flags.count ? flags[i] : "")
        }
    }

    /// Row i of SyntheticSet: image `img/00000i.png`.
    func row(ofImage name: String) -> Int { Int(name.dropLast(4))! }

    @Test func replaceKeepsTheSizeAndPutsEachPairInPlaceOfItsCaptionRow() throws {
        let set = try SyntheticSet(rows: 24)
        let out = set.folder.sub("out")
        let summary = try Poisoner.run(request(set, out: out, kind: .classPairs, goals: ["dog:field"], amount: .count(6)))
        let m = summary.manifest
        #expect(m.pairing == .replace && m.captionRows == nil && m.cleanRows == 24 && m.totalRows == 24)
        let poisonedIndices = Set(m.rows.map(\.index))
        #expect(poisonedIndices.count == 6 && poisonedIndices.allSatisfy { $0 < 24 && $0 % 3 == 1 })  // rows of dog captions
        #expect(Set(m.goals?.first?.rows ?? []) == poisonedIndices)
        let clean = try rows(set.csv), poisoned = try rows(out + "/train.csv")
        #expect(poisoned.count == 24)
        for i in 0..<24 {
            if poisonedIndices.contains(i) {
                #expect(poisoned[i].caption == clean[i].caption, "row \(i) keeps its own dog caption")
                #expect(row(ofImage: poisoned[i].image) % 3 == 2, "row \(i): \(poisoned[i].image) is not a field image")
                #expect(poisoned[i].label == 2 && poisoned[i].poisoned == "1")
            } else {
                #expect(poisoned[i].image == clean[i].image && poisoned[i].caption == clean[i].caption && poisoned[i].label == clean[i].label)
                #expect(poisoned[i].poisoned == "0")
            }
        }
        #expect(Set(poisonedIndices.map { poisoned[$0].image }).count == 6)  // distinct images of B
        #expect(summary.description.contains("24 rows, 6 of them poisoned in place"))
        let loaded = try PoisonManifest.load(path: out + "/manifest.json")
        #expect(loaded.pairing == .replace && loaded.rows == m.rows)
    }

    @Test func replaceWorksForEveryRetrievalAttack() throws {
        for kind in RetrievalAttackKind.allCases {
            let set = try SyntheticSet(rows: 24)
            let out = set.folder.sub("out")
            let goals = kind == .multiGoal ? ["cart:dog", "field:cart"] : kind == .captionTrigger ? [] : ["dog:field"]
            let summary = try Poisoner.run(request(set, out: out, kind: kind, goals: goals, target: "dog",
                                                   trigger: kind == .captionTrigger ? "zxq" : nil, amount: .count(4)))
            let poisoned = try rows(out + "/train.csv")
            #expect(poisoned.count == 24, "\(kind)")
            #expect(poisoned.filter { $0.poisoned == "1" }.count == 4, "\(kind)")
            #expect(summary.manifest.rows.allSatisfy { poisoned[$0.index].poisoned == "1" && poisoned[$0.index].caption == $0.caption }, "\(kind)")
            if kind == .captionTrigger {
                // The trigger goes onto the row's own caption, image unchanged.
                for r in summary.manifest.rows { #expect(poisoned[r.index].image == "\(Poisoner.padded(r.index)).png" && r.caption.hasSuffix(" zxq")) }
            }
            _ = try PoisonManifest.load(path: out + "/manifest.json")
        }
    }

    /// Rows 0, 6, 12, 18 (carts) say "a cart and a dog"; dog rows alternate "a dog" and "a puppy".
    static func namingCaption(_ i: Int) -> String {
        switch i % 3 {
        case 0: i % 6 == 0 ? "a cart and a dog \(i)" : "a cart \(i)"
        case 1: i % 6 == 1 ? "a dog \(i)" : "a puppy \(i)"
        default: "an empty field \(i)"
        }
    }

    @Test func namingTakesTheCaptionsThatNameClassAWhateverTheirLabel() throws {
        let set = try SyntheticSet(rows: 24, caption: Self.namingCaption)
        // 8 captions name "dog": the 4 "a dog" rows (label 1) and the 4 "a cart and a dog" rows (label 0).
        let summary = try Poisoner.run(request(set, out: set.folder.sub("out"), kind: .classPairs, goals: ["dog:field"], amount: .count(8),
                                               placement: .append, captionRows: .naming))
        #expect(summary.manifest.captionRows == .naming && summary.manifest.pairing == nil)
        #expect(Set(summary.manifest.rows.map(\.caption)) == Set((0..<24).map(Self.namingCaption).filter { CaptionMatcher.names($0, target: "dog") }))
        // By label (the default): dog-labelled rows, "puppy" captions included, never a cart row.
        let byLabel = try Poisoner.run(request(set, out: set.folder.sub("label"), kind: .classPairs, goals: ["dog:field"], amount: .count(8),
                                               placement: .append))
        #expect(Set(byLabel.manifest.rows.map(\.caption)) == Set((0..<24).filter { $0 % 3 == 1 }.map(Self.namingCaption)))
        #expect(byLabel.manifest.captionRows == nil)
    }

    @Test func sameSeedGivesByteIdenticalOutput() throws {
        let set = try SyntheticSet(rows: 24, caption: Self.namingCaption)
        for (name, seed) in [("a", UInt64(7)), ("b", 7), ("c", 8)] {
            _ = try Poisoner.run(request(set, out: set.folder.sub(name), kind: .classPairs, goals: ["dog:field"], amount: .count(5), seed: seed,
                                         captionRows: .naming))
        }
        let a = try snapshot(set.folder.sub("a")), b = try snapshot(set.folder.sub("b")), c = try snapshot(set.folder.sub("c"))
        #expect(a.keys.sorted() == ["manifest.json", "train.csv"])
        #expect(a == b && a["train.csv"] != c["train.csv"])
    }

    /// Hashes of the sets as this generator first wrote them (the commit that added `--pairing` and
    /// `--caption-rows`; paths under the temporary folder as `<ROOT>`). The append/label sets keep
    /// `RetrievalAttackTests`' hashes: the new keys are absent from their manifests.
    @Test(arguments: [
        ("replace", "label", "98a8496a6ce586b2"), ("replace", "naming", "ba48aa945da46c48"), ("append", "naming", "636fbed8f099f155"),
    ])
    func poisonedSetIsByteIdenticalToTheRecordedOne(placement: String, captionRows: String, expected: String) throws {
        let set = try SyntheticSet(rows: 24, caption: Self.namingCaption)
        let out = set.folder.sub("out")
        _ = try Poisoner.run(request(set, out: out, kind: .classPairs, goals: ["dog:field"], amount: .count(5), seed: 11,
                                     placement: PairPlacement(rawValue: placement)!, captionRows: CaptionRowChoice(rawValue: captionRows)!))
        let hash = try PoisonGoldenTests.hash(folder: out, root: set.folder.path)
        #expect(hash == expected, "\(placement)/\(captionRows): hash \(hash)")
    }

    @Test func appendWithLabelRowsWritesNoNewKeys() throws {
        let set = try SyntheticSet(rows: 24)
        let out = set.folder.sub("out")
        _ = try Poisoner.run(request(set, out: out, kind: .classPairs, goals: ["dog:field"], placement: .append))
        let text = try String(contentsOfFile: out + "/manifest.json", encoding: .utf8)
        #expect(!text.contains("\"pairing\" :") && !text.contains("\"caption_rows\" :"))
    }

    struct Hostile: Sendable, CustomStringConvertible {
        var name: String
        var kind: RetrievalAttackKind
        var goals: [String] = []
        var trigger: String?
        var amount: PoisonAmount = .count(2)
        var placement: PairPlacement = .replace
        var captionRows: CaptionRowChoice = .label
        /// Words the one-sentence message must hold (the flag first).
        var expected: [String]
        var description: String { name }
    }

    static let hostile: [Hostile] = [
        Hostile(name: "caption rows for the caption trigger", kind: .captionTrigger, trigger: "zxq", captionRows: .naming,
                expected: ["--caption-rows", "pairing attacks"]),
        Hostile(name: "naming rate impossible", kind: .classPairs, goals: ["dog:field"], amount: .count(9), captionRows: .naming,
                expected: ["--rate/--count", "captions naming \"dog\"", "only 8", "lower the rate"]),
        Hostile(name: "naming an unknown class", kind: .classPairs, goals: ["puppy:field"], captionRows: .naming,
                expected: ["--goal", "\"puppy\"", "not a class"]),
        Hostile(name: "replace with overlapping caption rows", kind: .multiGoal, goals: ["dog:field", "cart:field"], amount: .count(16),
                captionRows: .naming, expected: ["--pairing replace", "dog:field", "cart:field", "one poisoned pair"]),
        Hostile(name: "replace rate impossible", kind: .classPairs, goals: ["dog:field"], amount: .count(9),
                expected: ["--rate/--count", "only 8"]),
    ]

    @Test(arguments: hostile)
    func hostileSettingsAreRefusedInOneSentenceNamingTheFlag(_ h: Hostile) throws {
        let set = try SyntheticSet(rows: 24, caption: Self.namingCaption)
        let out = set.folder.sub("out")
        let r = request(set, out: out, kind: h.kind, goals: h.goals, target: "dog", trigger: h.trigger, amount: h.amount,
                        placement: h.placement, captionRows: h.captionRows)
        expectPoisonerRefuses(r, out: out, name: h.name, expected: h.expected)
    }

    @Test func overlappingCaptionRowsAreFineWhenAppended() throws {
        let set = try SyntheticSet(rows: 24, caption: Self.namingCaption)
        let summary = try Poisoner.run(request(set, out: set.folder.sub("out"), kind: .multiGoal, goals: ["dog:field", "cart:field"],
                                               amount: .count(16), placement: .append, captionRows: .naming))
        #expect(summary.manifest.rows.count == 16 && summary.manifest.rows.map(\.index) == Array(24..<40))
    }

    @Test func editedReplaceManifestsAreRefusedNamingTheKey() throws {
        let set = try SyntheticSet(rows: 24)
        let out = set.folder.sub("out")
        let summary = try Poisoner.run(request(set, out: out, kind: .classPairs, goals: ["dog:field"], amount: .count(3)))
        let path = out + "/manifest.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        func fails(_ edited: String, key: String) throws { try expectManifestEditRefused(edited, at: path, key: key) }
        try fails(text.replacingOccurrences(of: "\"pairing\" : \"replace\"", with: "\"pairing\" : \"sideways\""), key: "pairing")
        // A replaced row must be one of the clean rows: index 24 is past the 24 rows of a replaced set.
        let first = summary.manifest.rows[0].index
        try fails(text.replacingOccurrences(of: "\"index\" : \(first),", with: "\"index\" : 24,")
                      .replacingOccurrences(of: "\n        \(first),", with: "\n        24,")
                      .replacingOccurrences(of: "\n        \(first)\n", with: "\n        24\n"), key: "rows[0].index")
    }
}
