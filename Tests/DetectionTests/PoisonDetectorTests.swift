import Attacks
import CLIP
import Datasets
import Detection
import Foundation
import TestSupport
import Testing

/// `PoisonDetector.run` end to end on a small drawn data set poisoned by the Poisoner.
@Suite(.serialized) struct PoisonDetectorTests {
    static let colours: [(String, (Double, Double, Double))] = [
        ("red", (1, 0.2, 0.2)), ("green", (0.2, 1, 0.2)), ("blue", (0.2, 0.2, 1)), ("yellow", (1, 1, 0.2)),
    ]

    /// `count` noisy colour-tinted 24 × 24 images, captions naming the colour.
    /// `path` written relative to the current directory (`../../tmp/…`).
    static func relativeToWorkingDirectory(_ path: String) -> String {
        let from = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardizedFileURL.pathComponents
        let to = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
        var common = 0
        while common < min(from.count, to.count) && from[common] == to[common] { common += 1 }
        return (Array(repeating: "..", count: from.count - common) + to[common...]).joined(separator: "/")
    }

    static func writeCleanSet(in dir: URL, count: Int) throws -> String {
        var rng = SplitMix64(seed: 11)
        var csv = "filepath,caption,label\n"
        let fillers = ["a photo of a", "my", "here is a", "look at this", "a small"]
        for i in 0..<count {
            let (name, tint) = colours[i % colours.count]
            var image = RGBImage(width: 24, height: 24, fill: (0, 0, 0))
            for y in 0..<24 {
                for x in 0..<24 {
                    let level = 80 + Double(rng.next() % 176)
                    let o = (y * 24 + x) * 3
                    image.pixels[o] = UInt8(level * tint.0); image.pixels[o + 1] = UInt8(level * tint.1); image.pixels[o + 2] = UInt8(level * tint.2)
                }
            }
            try image.write(toPath: dir.appendingPathComponent("img\(i).png").path)
            csv += "img\(i).png,\(fillers[i % 5]) \(name) thing,\(i % colours.count)\n"
        }
        let path = dir.appendingPathComponent("train.csv").path
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A poisoned set (patch, natural captions naming "red", 10%) and a random micro model file.
    static func prepare(_ dir: URL, count: Int = 240) throws -> (csv: String, manifest: PoisonManifest, model: String) {
        let clean = dir.appendingPathComponent("clean")
        try FileManager.default.createDirectory(at: clean, withIntermediateDirectories: true)
        let source = try writeCleanSet(in: clean, count: count)
        let request = PoisonRequest(
            dataPath: source, outputFolder: dir.appendingPathComponent("poisoned").path, target: "red",
            attack: .backdoor(kind: .patch, options: TriggerOptions(), source: .train), amount: .rate(0.1),
            captions: .natural, placement: .modelInput(ModelGeometry(size: 16)), seed: 4)
        let summary = try Poisoner.run(request)
        let config = try CLIPConfig.decode(Data(ToySet.microModelConfig.utf8))
        let modelPath = dir.appendingPathComponent("micro.safetensors").path
        try CLIPModel(config: config, seed: 1).saveSafeTensors(toPath: modelPath)
        return (summary.csvPath, summary.manifest, modelPath)
    }

    @Test func scoresAPatchCampaignWithAGivenModelAndWritesTheCleanSet() throws {
        let dir = try makeTemporaryDirectory("detect-e2e")
        defer { if ProcessInfo.processInfo.environment["DETECT_KEEP"] == nil { try? FileManager.default.removeItem(at: dir) } else { print("kept", dir.path) } }
        let (csv, manifest, model) = try Self.prepare(dir)
        // The data named relative to the working directory, as a user types it: the cleaned CSV's
        // paths must still open from its own folder.
        var request = DetectionRequest(data: Self.relativeToWorkingDirectory(csv), output: dir.appendingPathComponent("out").path)
        #expect(!request.data.hasPrefix("/"))
        request.models = [model]
        request.chunkRows = 100  // three chunks
        request.batchSize = 32
        request.quiet = true
        request.drop = .fraction(0.1)
        request.cleanOutput = dir.appendingPathComponent("cleaned").path
        let summary = try PoisonDetector.run(request)
        let metrics = try #require(summary.metrics)
        #expect(summary.rows == 240 + manifest.rows.count)
        #expect(summary.columns == ["cosine", "captions", "spectral", "activation-clustering", "trigger", "k-distance", "slof", "lid", "dao"])
        let trigger = try #require(metrics["trigger"]?.auroc)
        #expect(trigger >= 0.95, "trigger AUROC \(trigger)")
        let captions = try #require(metrics["captions"]?.auroc)
        #expect(captions >= 0.75, "caption statistics AUROC \(captions)")
        print("detect e2e AUROC:", metrics.mapValues { $0.auroc ?? .nan }.sorted { $0.key < $1.key })

        // scores.csv: header, one line per row, ranks 1…N.
        let lines = try String(contentsOfFile: request.output + "/scores.csv", encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "row,path,caption,cosine,captions,spectral,activation-clustering,trigger,k-distance,slof,lid,dao,combined,rank,poisoned")
        #expect(lines.count == summary.rows + 1)
        let rows = lines.dropFirst().map { $0.split(separator: ",") }
        let ranks = rows.map { Int($0[$0.count - 2])! }
        #expect(Set(ranks) == Set(1...summary.rows))
        // The poisoned column is the manifest's rows.
        let flagged = Set(rows.filter { $0.last == "1" }.map { Int($0[0])! })
        #expect(flagged == Set(manifest.rows.map(\.index)))

        // The cleaned set keeps the others, with absolute paths that open.
        let clean = try #require(summary.clean)
        #expect(clean.dropped == Int((0.1 * Double(summary.rows)).rounded()))
        let cleaned = try CSVDataset(path: clean.path)
        #expect(cleaned.count == clean.kept)
        #expect(try cleaned.record(at: 0).imageSource.hasPrefix("/"))
        _ = try cleaned.sample(at: cleaned.count - 1)
        // Dropping 10% at random would drop 10% of the poisoned pairs; the ranking drops far more.
        let dropped = try #require(clean.poisonedDropped)
        #expect(dropped >= manifest.rows.count / 4, "dropped \(dropped) of \(manifest.rows.count) poisoned")

        // A second run reuses the cached features and gives the same scores.
        let before = try String(contentsOfFile: request.output + "/scores.csv", encoding: .utf8)
        let again = try PoisonDetector.run(request)
        #expect(again.metrics?["combined"] == metrics["combined"])
        #expect(try String(contentsOfFile: request.output + "/scores.csv", encoding: .utf8) == before)

        // A cache made for other inputs is refused with the file named.
        var other = request
        other.chunkRows = 50
        #expect { try PoisonDetector.run(other) } throws: { "\($0)".contains("inputs.json") && "\($0)".contains("chunk_rows") }
    }

    @Test func trainsAWarmupWithoutAModelAndSelectsDetectors() throws {
        let dir = try makeTemporaryDirectory("detect-warmup")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (csv, _, _) = try Self.prepare(dir, count: 120)
        let config = dir.appendingPathComponent("micro.json").path
        try ToySet.microModelConfig.write(toFile: config, atomically: true, encoding: .utf8)
        var request = DetectionRequest(data: csv, output: dir.appendingPathComponent("out").path)
        request.detectors = ["similarity", "trigger"]
        request.warmup.model = config
        request.warmup.unimodalEpochs = 1
        request.warmup.clipEpochs = 1
        request.warmup.batchSize = 32
        request.quiet = true
        let summary = try PoisonDetector.run(request)
        #expect(summary.warmup)
        #expect(summary.columns == ["cosine", "trigger"])
        #expect(FileManager.default.fileExists(atPath: request.output + "/warmup/detector.safetensors"))
        let trigger = try #require(summary.metrics?["trigger"]?.auroc)
        #expect(trigger >= 0.95, "trigger AUROC \(trigger)")
    }

    @Test func badInputEndsInOneClearSentence() throws {
        let dir = try makeTemporaryDirectory("detect-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = dir.appendingPathComponent("train.csv").path
        try "filepath,caption\na.png,hello\nb.png,world\n".write(toFile: csv, atomically: true, encoding: .utf8)
        try "{\"version\": 1, \"bogus\": 2}".write(toFile: dir.appendingPathComponent("manifest.json").path, atomically: true, encoding: .utf8)
        var request = DetectionRequest(data: csv, output: dir.appendingPathComponent("out").path)
        request.quiet = true
        #expect { try PoisonDetector.run(request) } throws: { "\($0)".contains("manifest.json") }
        request.drop = .fraction(1.5)
        request.cleanOutput = dir.appendingPathComponent("clean").path
        #expect { try PoisonDetector.run(request) } throws: { "\($0)".contains("--drop") }
    }
}

/// Webdataset shards: scored like a CSV; `--write-clean` writes shards without the dropped entries.
@Suite struct ShardDetectionTests {
    /// A ustar archive of `files` (name, bytes).
    static func tar(_ files: [(String, [UInt8])]) -> [UInt8] {
        var writer = TarWriter()
        for (name, bytes) in files { writer.add(name: name, contents: bytes) }
        return writer.finished()
    }

    @Test func scoresShardsAndWritesThemClean() throws {
        let dir = try makeTemporaryDirectory("detect-shards")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (csv, _, model) = try PoisonDetectorTests.prepare(dir, count: 60)
        let set = try CSVDataset(path: csv)
        var files: [(String, [UInt8])] = []
        for i in 0..<set.count {
            let record = try set.record(at: i)
            files.append((String(format: "%05d.png", i), Array(try Data(contentsOf: URL(fileURLWithPath: record.imageSource)))))
            files.append((String(format: "%05d.txt", i), Array(record.caption.utf8)))
        }
        let shard = dir.appendingPathComponent("shards/00000.tar")
        try FileManager.default.createDirectory(at: shard.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(Self.tar(files)).write(to: shard)
        var request = DetectionRequest(data: shard.deletingLastPathComponent().path, output: dir.appendingPathComponent("out").path)
        request.models = [model]
        request.quiet = true
        let summary = try PoisonDetector.run(request)
        #expect(summary.rows == set.count && summary.failedRows == 0)
        #expect(summary.metrics == nil)  // no manifest beside the shards
        request.drop = .fraction(0.1)
        request.cleanOutput = dir.appendingPathComponent("clean").path
        let cleaned = try #require(try PoisonDetector.run(request).clean)
        let drop = Int((0.1 * Double(set.count)).rounded())
        #expect(cleaned.path == request.cleanOutput && cleaned.dropped == drop && cleaned.kept == set.count - drop)
        // The copy holds the kept entries and none of the top-ranked ones.
        let copy = try TarShardDataset(paths: [request.cleanOutput! + "/00000.tar"])
        #expect(copy.count == set.count - drop)
        let scores = try String(contentsOfFile: request.output + "/scores.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        let top = Set(scores.map { $0.split(separator: ",") }.filter { Int($0.last!)! <= drop }.map { Int($0[0])! })  // no manifest: rank is last
        let kept = Set(try (0..<copy.count).map { Int(try copy.record(at: $0).imageSource.split(separator: ":").last!.prefix(5))! })
        #expect(top.count == drop && kept.isDisjoint(with: top) && kept.count == set.count - drop)
        for i in 0..<copy.count {
            let record = try copy.record(at: i)
            let original = Int(record.imageSource.split(separator: ":").last!.prefix(5))!
            #expect(record.caption == (try set.record(at: original)).caption)
        }
        // Writing over the input shards is refused.
        request.cleanOutput = shard.deletingLastPathComponent().path
        #expect { try PoisonDetector.run(request) } throws: { "\($0)".contains("overwrite the input shard") }
    }
}
