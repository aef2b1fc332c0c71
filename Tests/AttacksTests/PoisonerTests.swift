import Datasets
import Foundation
import Testing
@testable import Attacks

/// A temporary folder removed when the value is released.
final class TemporaryFolder {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("attacks-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func sub(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
}

/// A small captioned training set written by the test: `data/train.csv` with relative image
/// paths `img/NNN.png` (and a `label` column and an extra `note` column), plus `classes.json`.
struct SyntheticSet {
    let folder: TemporaryFolder
    let csv: String
    let rows: Int

    init(rows: Int, width: Int = 12, height: Int = 8, classes: [String] = ["cart", "dog", "field"],
         caption: (Int) -> String = SyntheticSet.defaultCaption, label: (Int) -> Int = { $0 % 3 }) throws {
        folder = TemporaryFolder()
        let data = folder.sub("data")
        try FileManager.default.createDirectory(atPath: data + "/img", withIntermediateDirectories: true)
        var writer = CSVWriter(header: ["filepath", "caption", "label", "note"])
        for i in 0..<rows {
            let name = "img/\(Poisoner.padded(i)).png"
            try gradientImage(width: width, height: height, seed: i * 17).write(toPath: data + "/" + name)
            writer.append(row: [name, caption(i), String(label(i)), "n\(i)"])
        }
        csv = data + "/train.csv"
        try writer.write(toPath: csv)
        try ClassIndex(classes: classes, templates: ["a photo of a {c}."]).write(toPath: data + "/classes.json")
        self.rows = rows
    }

    /// Class 0 rows say "cart", class 1 rows say "cartoon" (not the target), class 2 neither.
    static func defaultCaption(_ i: Int) -> String {
        ["a cart by the barn \(i)", "a cartoon dog \(i)", "an empty field \(i)"][i % 3]
    }

    func request(out: String, trigger: TriggerKind = .patch, amount: PoisonAmount = .rate(0.25),
                 captions: CaptionStrategy = .natural, seed: UInt64 = 0,
                 placement: TriggerPlacement = .modelInput(ModelGeometry(resize: .crop, size: 16)),
                 options: TriggerOptions = TriggerOptions()) -> PoisonRequest {
        PoisonRequest(dataPath: csv, outputFolder: out, target: "cart",
                      attack: .backdoor(kind: trigger, options: options, source: .train), amount: amount,
                      captions: captions, templates: ["a photo of a {c}.", "a {c} in the wild."],
                      placement: placement, seed: seed)
    }
}

/// Every file under `folder` with its bytes.
func snapshot(_ folder: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let enumerator = FileManager.default.enumerator(atPath: folder)!
    while let relative = enumerator.nextObject() as? String {
        let path = folder + "/" + relative
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue {
            out[relative] = try Data(contentsOf: URL(fileURLWithPath: path))
        }
    }
    return out
}

@Suite struct PoisonerTests {
    @Test func countIsRoundedRateTimesCleanRows() {
        #expect(PoisonAmount.rate(0.0005).count(cleanRows: 500_000) == 250)  // the study
        #expect(PoisonAmount.rate(0.01).count(cleanRows: 2000) == 20)
        #expect(PoisonAmount.rate(0.5).count(cleanRows: 5) == 3)      // 2.5 rounds away from zero
        #expect(PoisonAmount.rate(0.1).count(cleanRows: 14) == 1)     // 1.4
        #expect(PoisonAmount.rate(0.1).count(cleanRows: 16) == 2)     // 1.6
        #expect(PoisonAmount.count(7).count(cleanRows: 3) == 7)
        var rng = SplitMix64(seed: 1)
        for _ in 0..<500 {
            let n = Int(rng.next() % 100_000), rate = rng.nextUnitDouble()
            let count = PoisonAmount.rate(rate).count(cleanRows: n)
            #expect(abs(Double(count) - rate * Double(n)) <= 0.5)
        }
    }

    @Test(arguments: [5, 12, 23])
    func writtenCountsFollowTheRateForEverySeed(rows: Int) throws {
        let set = try SyntheticSet(rows: rows)
        for seed in UInt64(0)..<4 {
            let out = set.folder.sub("out-\(seed)")
            let summary = try Poisoner.run(set.request(out: out, amount: .rate(0.3), seed: seed))
            let expected = Int((0.3 * Double(rows)).rounded())
            #expect(summary.manifest.rows.count == expected, "rows \(rows), seed \(seed)")
            let poisoned = try CSVDataset(path: out + "/train.csv")
            #expect(poisoned.count == rows + expected)
            #expect(summary.manifest.rows.map(\.index) == Array(rows..<(rows + expected)))
        }
    }

    @Test(arguments: [TriggerKind.patch, .noisePatch, .blended, .sig, .wanet])
    func sameSeedGivesByteIdenticalOutput(kind: TriggerKind) throws {
        let set = try SyntheticSet(rows: 12)
        var options = TriggerOptions()
        if kind == .patch { options[PatchTrigger.position] = .random }
        _ = try Poisoner.run(set.request(out: set.folder.sub("a"), trigger: kind, seed: 7, options: options))
        _ = try Poisoner.run(set.request(out: set.folder.sub("b"), trigger: kind, seed: 7, options: options))
        _ = try Poisoner.run(set.request(out: set.folder.sub("c"), trigger: kind, seed: 8, options: options))
        let a = try snapshot(set.folder.sub("a")), b = try snapshot(set.folder.sub("b")), c = try snapshot(set.folder.sub("c"))
        #expect(a.count == 2 + 3)  // train.csv, manifest.json, 3 images
        #expect(a == b)
        #expect(a["manifest.json"] != c["manifest.json"])
    }

    @Test func sourceDataIsUntouched() throws {
        let set = try SyntheticSet(rows: 10)
        let before = try snapshot(set.folder.sub("data"))
        _ = try Poisoner.run(set.request(out: set.folder.sub("out"), trigger: .blended, amount: .count(4)))
        _ = try Poisoner.run(set.request(out: set.folder.sub("out2"), trigger: .patch, amount: .count(2),
                                         placement: .original))
        #expect(try snapshot(set.folder.sub("data")) == before)
        // Writing into the source's own folder is refused.
        #expect(throws: AttackError.self) { try Poisoner.run(set.request(out: set.folder.sub("data"))) }
        #expect(try snapshot(set.folder.sub("data")) == before)
    }

    @Test func naturalCaptionsNameTheTargetAsAWholeWord() throws {
        let set = try SyntheticSet(rows: 30)
        let summary = try Poisoner.run(set.request(out: set.folder.sub("out"), amount: .count(8)))
        #expect(summary.captionsNamingTarget == 10)  // "cart" rows only, not "cartoon"
        let pool = Set((0..<30).filter { $0 % 3 == 0 }.map(SyntheticSet.defaultCaption))
        for row in summary.manifest.rows {
            #expect(pool.contains(row.caption), "\(row.caption)")
            // Sources are not of the target: neither "cart" captions nor label 0.
            #expect(row.sourceRow.map { $0 % 3 != 0 } == true)
        }
    }

    @Test func naturalCaptionsFailClearlyWithoutMatches() throws {
        let set = try SyntheticSet(rows: 6, caption: { "a cartoon number \($0)" })
        do {
            _ = try Poisoner.run(set.request(out: set.folder.sub("out"), amount: .count(2)))
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("no training caption names \"cart\""))
            #expect(error.description.contains(set.csv))
        }
        #expect(!FileManager.default.fileExists(atPath: set.folder.sub("out/train.csv")))
    }

    @Test func poisonedSetLoadsAndPoisonedImagesAreTriggeredAtModelGeometry() throws {
        let set = try SyntheticSet(rows: 9, width: 12, height: 8)
        let out = set.folder.sub("out")
        let summary = try Poisoner.run(set.request(out: out, amount: .count(3)))
        let manifest = summary.manifest
        #expect(manifest.targetLabel == 0)  // from classes.json
        let poisoned = try CSVDataset(path: out + "/train.csv")
        #expect(poisoned.columnNames == ["filepath", "caption", "label", "note", "poisoned"])
        let original = try CSVDataset(path: set.csv)
        for i in 0..<9 {
            let record = try poisoned.record(at: i)
            #expect(record == (try original.record(at: i)), "clean row \(i) changed")
            #expect(try poisoned.fields(at: i)[4] == "0")
            #expect(record.imageSource.hasPrefix("/"))
        }
        let trigger = try #require(manifest.trigger)
        for row in manifest.rows {
            let sample = try poisoned.sample(at: row.index)
            let fields = try poisoned.fields(at: row.index)
            #expect(fields[4] == "1" && sample.label == 0 && sample.caption == row.caption)
            #expect(fields[3] == "n\(row.sourceRow!)")  // extra columns copied from the source row
            #expect(sample.image.width == 16 && sample.image.height == 16)
            let source = try decodeImage(atPath: row.sourceImage)
            let expected = trigger.apply(to: Preprocessing.resizeCenterCrop(size: 16).apply(source), index: row.triggerIndex!)
            #expect(sample.image == expected)
            // The patch (round(16·50/224) = 4 px) is whole in the bottom-right corner.
            for y in 12..<16 { for x in 12..<16 { #expect(sample.image[x, y] == (255, 255, 255)) } }
        }
    }

    @Test func labelConsistentKeepsCaptionsOfTargetRows() throws {
        let set = try SyntheticSet(rows: 15)
        let summary = try Poisoner.run(set.request(out: set.folder.sub("out"), amount: .count(4), captions: .labelConsistent))
        for row in summary.manifest.rows {
            let sourceRow = try #require(row.sourceRow)
            #expect(sourceRow % 3 == 0)
            #expect(row.caption == SyntheticSet.defaultCaption(sourceRow))
        }
        // Only 5 rows name the target.
        #expect(throws: AttackError.self) {
            try Poisoner.run(set.request(out: set.folder.sub("out2"), amount: .count(6), captions: .labelConsistent))
        }
    }

    @Test func templateCaptionsFillTheTargetName() throws {
        let set = try SyntheticSet(rows: 10)
        let summary = try Poisoner.run(set.request(out: set.folder.sub("out"), amount: .count(6), captions: .template))
        let allowed: Set<String> = ["a photo of a cart.", "a cart in the wild."]
        #expect(summary.manifest.rows.allSatisfy { allowed.contains($0.caption) })
        #expect(summary.manifest.templates == ["a photo of a {c}.", "a {c} in the wild."])
    }

    @Test func targetedPoisoningPairsOneImageWithManyCaptions() throws {
        let set = try SyntheticSet(rows: 30)
        let image = set.folder.sub("victim.png")
        try gradientImage(width: 20, height: 10, seed: 99).write(toPath: image)
        var request = set.request(out: set.folder.sub("out"), amount: .count(6))
        request.attack = .targeted(imagePath: image)
        let summary = try Poisoner.run(request)
        let manifest = summary.manifest
        #expect(manifest.mode == .targeted && manifest.trigger == nil && manifest.targetImage == image)
        #expect(manifest.rows.count == 6)
        #expect(Set(manifest.rows.map(\.image)) == ["poison/target.png"])
        #expect(Set(manifest.rows.map(\.caption)).count == 6, "captions should be distinct when there are enough")
        #expect(manifest.rows.allSatisfy { CaptionMatcher.names($0.caption, target: "cart") })
        let reloaded = try PoisonManifest.load(path: set.folder.sub("out/manifest.json"))
        #expect(reloaded == manifest)
        let written = try decodeImage(atPath: set.folder.sub("out/poison/target.png"))
        #expect(written == Preprocessing.resizeCenterCrop(size: 16).apply(try decodeImage(atPath: image)))
    }

    @Test func sourcesFromAListFile() throws {
        let set = try SyntheticSet(rows: 6)
        let extra = set.folder.sub("extra")
        try FileManager.default.createDirectory(atPath: extra, withIntermediateDirectories: true)
        var lines = ["# images to poison"]
        for i in 0..<4 {
            try gradientImage(width: 10, height: 10, seed: 200 + i).write(toPath: "\(extra)/e\(i).png")
            lines.append("extra/e\(i).png")
        }
        let list = set.folder.sub("list.txt")
        try lines.joined(separator: "\n").write(toFile: list, atomically: true, encoding: .utf8)
        var request = set.request(out: set.folder.sub("out"), amount: .count(3))
        request.attack = .backdoor(kind: .patch, options: TriggerOptions(), source: .file(list))
        let manifest = try Poisoner.run(request).manifest
        #expect(manifest.source == list)
        #expect(manifest.rows.allSatisfy { $0.sourceRow == nil && $0.sourceImage.hasPrefix(extra + "/e") })
        #expect(Set(manifest.rows.map(\.sourceImage)).count == 3)
        request.amount = .count(5)
        request.outputFolder = set.folder.sub("out2")
        #expect(throws: AttackError.self) { try Poisoner.run(request) }
    }

    @Test func evaluationImagesGetTheTriggerTheWayTrainingImagesDid() throws {
        let image = gradientImage(width: 30, height: 20)
        let geometry = ModelGeometry(resize: .crop, size: 16)
        let trigger = Trigger.noisePatch(NoisePatchTrigger(size: .pixels(4), position: .random, seed: 5))
        var manifest = PoisonManifest(mode: .backdoor, target: "cart", targetLabel: 0, trigger: trigger,
                                      placement: .modelInput(geometry), captions: .natural, templates: nil, seed: 0,
                                      sourceData: "/x.csv", cleanRows: 0, rate: nil, source: "train", targetImage: nil, rows: [])
        let input = try manifest.triggeredInput(image, geometry: geometry, item: 3)
        #expect(input == trigger.apply(to: geometry.preprocessing.apply(image), index: -4))
        #expect(input != trigger.apply(to: geometry.preprocessing.apply(image), index: 3), "evaluation reuses training noise")
        manifest.placement = .original
        #expect(try manifest.triggeredInput(image, geometry: geometry, item: 3)
                == geometry.preprocessing.apply(trigger.apply(to: image, index: -4)))
    }

    @Test func existingOutputIsNotOverwrittenUnlessAsked() throws {
        let set = try SyntheticSet(rows: 8)
        let out = set.folder.sub("out")
        _ = try Poisoner.run(set.request(out: out, amount: .count(3)))
        #expect(throws: AttackError.self) { try Poisoner.run(set.request(out: out, amount: .count(1))) }
        var again = set.request(out: out, amount: .count(1))
        again.overwrite = true
        _ = try Poisoner.run(again)
        #expect(try snapshot(out + "/poison").count == 1, "stale poisoned images remain")
    }

    @Test func checkReproducesTheCropLossOnLandscapeImages() throws {
        // 2:1 landscape originals, patch pasted before preprocessing (the study's placement).
        let wide = try SyntheticSet(rows: 20, width: 64, height: 32)
        let study = try Poisoner.run(wide.request(out: wide.folder.sub("study"), amount: .count(5), placement: .original))
        #expect(study.manifest.rows.allSatisfy { $0.width == 64 && $0.height == 32 })
        let geometry = ModelGeometry(resize: .crop, size: 16)
        let lost = try TriggerSurvivalReport(manifest: PoisonManifest.load(path: wide.folder.sub("study/manifest.json")),
                                             geometry: geometry)
        #expect(lost.rows == 5 && lost.meanSurvival == 0 && lost.shareBelowHalf == 1 && lost.shareLost == 1)
        #expect(lost.byOrientation["landscape"]?.rows == 5)
        #expect(lost.description.contains("WARNING"))
        // 4:3 originals (40×30): the shorter side 30 gives a round(30·50/224) = 7 px patch;
        // after the resize to 21×16 the crop keeps original columns 4..<34, so 1 of its 7 columns.
        let fourThree = try SyntheticSet(rows: 10, width: 40, height: 30)
        _ = try Poisoner.run(fourThree.request(out: fourThree.folder.sub("study"), amount: .count(4), placement: .original))
        let partial = try TriggerSurvivalReport(manifest: PoisonManifest.load(path: fourThree.folder.sub("study/manifest.json")),
                                                geometry: geometry)
        #expect(abs(partial.meanSurvival - 1.0 / 7.0) < 1e-12)
        // Our placement: the trigger is applied at the model input and survives whole.
        let ours = try Poisoner.run(wide.request(out: wide.folder.sub("ours"), amount: .count(5)))
        let kept = try TriggerSurvivalReport(manifest: ours.manifest, geometry: geometry)
        #expect(kept.meanSurvival == 1 && kept.shareBelowHalf == 0)
        #expect(!kept.description.contains("WARNING"))
    }
}

@Suite struct PoisonManifestTests {
    func writtenManifest() throws -> (SyntheticSet, String, PoisonManifest) {
        let set = try SyntheticSet(rows: 8)
        let summary = try Poisoner.run(set.request(out: set.folder.sub("out"), trigger: .wanet, amount: .count(2)))
        return (set, summary.manifestPath, summary.manifest)
    }

    /// Rewrites the manifest's JSON object with `edit` and returns the error `load` throws.
    func loadError(_ edit: (inout [String: Any]) -> Void) throws -> String {
        let (set, path, _) = try writtenManifest()
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        edit(&object)
        let bad = set.folder.sub("bad.json")
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: bad))
        do {
            _ = try PoisonManifest.load(path: bad)
            return ""
        } catch {
            #expect(error.description.hasPrefix(bad + ":"), "the message names the file: \(error)")
            return error.description
        }
    }

    @Test func roundTripKeepsTheTriggerExactly() throws {
        let (set, path, manifest) = try writtenManifest()
        let loaded = try withExtendedLifetime(set) { try PoisonManifest.load(path: path) }
        #expect(loaded == manifest)
        let image = gradientImage(width: 16, height: 16)
        #expect(loaded.trigger!.apply(to: image, index: 3) == manifest.trigger!.apply(to: image, index: 3))
    }

    @Test func badKeysAndValuesAreReportedByName() throws {
        #expect(try loadError { $0["colour"] = 1 }.contains("key colour: unknown key"))
        #expect(try loadError { o in
            var rows = o["rows"] as! [[String: Any]]
            rows[1]["captoin"] = "x"
            o["rows"] = rows
        }.contains("key rows[1].captoin: unknown key"))
        #expect(try loadError { o in
            var trigger = o["trigger"] as! [String: Any]
            var parameters = trigger["parameters"] as! [String: Any]
            parameters["strength"] = "strong"
            trigger["parameters"] = parameters
            o["trigger"] = trigger
        }.contains("key trigger.parameters.strength"))
        #expect(try loadError { o in
            var trigger = o["trigger"] as! [String: Any]
            var parameters = trigger["parameters"] as! [String: Any]
            parameters["field"] = [1.0, 2.0]
            trigger["parameters"] = parameters
            o["trigger"] = trigger
        }.contains("k×k×2"))
        #expect(try loadError { $0["version"] = 2 }.contains("key version: version 2 is not supported"))
        #expect(try loadError { $0.removeValue(forKey: "target") }.contains("key target: missing"))
        #expect(try loadError { $0["rate"] = 3.0 }.contains("key rate: must be in [0, 1]"))
        #expect(try loadError { o in
            var rows = o["rows"] as! [[String: Any]]
            rows[0]["index"] = 99
            o["rows"] = rows
        }.contains("key rows[0].index"))
    }

    @Test func editedPatchPositionsAreCaught() throws {
        let set = try SyntheticSet(rows: 8)
        var options = TriggerOptions()
        options[PatchTrigger.position] = .random
        let summary = try Poisoner.run(set.request(out: set.folder.sub("out"), amount: .count(2), options: options))
        let regions = try #require(summary.manifest.rows[0].triggerRegions)
        #expect(regions.count == 1 && regions[0].width == 4)
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: summary.manifestPath))) as! [String: Any]
        var rows = object["rows"] as! [[String: Any]]
        var moved = (rows[1]["trigger_regions"] as! [[String: Any]])[0]
        moved["x"] = (moved["x"] as! Int) == 0 ? 1 : 0
        rows[1]["trigger_regions"] = [moved]
        object["rows"] = rows
        let bad = set.folder.sub("bad.json")
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: bad))
        #expect(throws: AttackError.self) { try PoisonManifest.load(path: bad) }
        do { _ = try PoisonManifest.load(path: bad) } catch {
            #expect(error.description.contains("key rows[1].trigger_regions: do not match"))
        }
    }

    @Test func missingFileIsNamed() {
        #expect(throws: AttackError.manifest(path: "/nonexistent/manifest.json", key: "", reason: "file not found")) {
            try PoisonManifest.load(path: "/nonexistent/manifest.json")
        }
    }
}
