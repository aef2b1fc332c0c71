import Attacks
import CLIP
import Datasets
import Foundation
import TestSupport
import Testing
import Torch
@testable import SurrogateAttacks

/// `clipguard poison --trigger optimized --surrogate CHECKPOINT` end to end on a tiny model: the
/// same seed gives the same bytes (pinned by a hash), the manifest carries the optimised patch to
/// `eval --trigger-from` and `poison check`, and hostile options are refused in one sentence
/// naming the flag.
@Suite(.serialized) struct OptimizedPoisoningTests {
    /// A tiny CLIP (16 px unless `imageSize`), random weights from a fixed seed, saved as a checkpoint.
    static func writeSurrogate(in dir: URL, imageSize: Int = 16, name: String = "surrogate.safetensors") throws -> String {
        let json = """
            {"embed_dim": 16,
             "vision_cfg": {"image_size": \(imageSize), "layers": 1, "width": 16, "patch_size": 4, "head_width": 8},
             "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}
            """
        let model = CLIPModel(config: try CLIPConfig.decode(Data(json.utf8)), seed: 4)
        let path = dir.appendingPathComponent(name).path
        try model.saveSafeTensors(toPath: path)
        return path
    }

    static let settings = ["--optimize-passes", "2", "--optimize-images", "12", "--optimize-batch", "4", "--optimize-lr", "0.05",
                           "--patch-size", "5"]

    static func request(data: String, out: String) throws -> PoisonRequest {
        PoisonRequest(
            dataPath: data, outputFolder: out, target: "red",
            attack: .backdoor(kind: .optimized, options: try TriggerRegistry.options(commandLine: settings), source: .train),
            amount: .count(3), captions: .natural, placement: .modelInput(ModelGeometry(resize: .crop, size: 16)), seed: 7)
    }

    /// FNV-1a over the folder's files (text with the temporary root replaced, images by pixels).
    static func hash(folder: String, root: String) throws -> String {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        func add(_ bytes: some Sequence<UInt8>) { for b in bytes { value = (value ^ UInt64(b)) &* 0x0000_0100_0000_01b3 } }
        let files = (FileManager.default.enumerator(atPath: folder)?.allObjects as? [String] ?? []).filter {
            var isFolder: ObjCBool = false
            return FileManager.default.fileExists(atPath: folder + "/" + $0, isDirectory: &isFolder) && !isFolder.boolValue
        }.sorted()
        for name in files {
            add(Array(name.utf8) + [0])
            if name.hasSuffix(".png") {
                let image = try decodeImage(atPath: folder + "/" + name)
                add(Array("\(image.width)x\(image.height)".utf8)); add(image.pixels)
            } else {
                add(Array(try String(contentsOfFile: folder + "/" + name, encoding: .utf8).replacingOccurrences(of: root, with: "<ROOT>").utf8))
            }
            add([0])
        }
        return String(value, radix: 16)
    }

    @Test func sameSeedSameBytesAndTheManifestCarriesThePatch() throws {
        let dir = try makeTemporaryDirectory("optimized")
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = try ToySet.write(in: dir, count: 24)
        let surrogate = try Self.writeSurrogate(in: dir)
        let first = dir.appendingPathComponent("a").path, second = dir.appendingPathComponent("b").path
        let outcome = try OptimizedPoisoning.run(try Self.request(data: csv, out: first), surrogate: surrogate)
        _ = try OptimizedPoisoning.run(try Self.request(data: csv, out: second), surrogate: surrogate)
        #expect(outcome.record.steps == 2 * 3 && outcome.record.images == 12)
        for name in ["manifest.json", "train.csv", "trigger.png", "poison/000000.png", "poison/000002.png"] {
            #expect(FileManager.default.contents(atPath: first + "/" + name) == FileManager.default.contents(atPath: second + "/" + name),
                    "\(name) differs between two runs with one seed")
        }
        // The bytes as recorded when the optimiser was written (libtorch CPU, this tiny model).
        let hash = try Self.hash(folder: first, root: dir.path)
        #expect(hash == "988560a1993414ec", "hash \(hash)")

        // The manifest: the optimised trigger, its pixels and settings, and the PNG beside it.
        let manifest = try PoisonManifest.load(path: first + "/manifest.json")
        let trigger = try #require(manifest.trigger?.definition as? OptimizedPatchTrigger)
        #expect(trigger.isOptimized && trigger.side == 5 && trigger.pixels.count == 75)
        #expect(trigger.passes == 2 && trigger.images == 12 && trigger.batch == 4 && trigger.learningRate == 0.05)
        #expect(trigger.surrogate == surrogate)
        let start = OptimizedPatchTrigger(options: try TriggerRegistry.options(commandLine: Self.settings), seed: trigger.seed)
        #expect(trigger.patchImage(side: 5) != start.patchImage(side: 5), "the optimisation left the starting patch unchanged")
        #expect(try decodeImage(atPath: first + "/trigger.png") == trigger.patchImage(side: 5))
        // Every poisoned image holds the patch in its bottom-right 5×5 square.
        for row in manifest.rows {
            let image = try decodeImage(atPath: first + "/" + row.image)
            #expect(row.triggerRegions == [PixelRect(x: 11, y: 11, width: 5, height: 5)])
            for y in 0..<5 {
                for x in 0..<5 {
                    let o = ((11 + y) * 16 + 11 + x) * 3
                    #expect(Array(image.pixels[o..<(o + 3)]) == Array(trigger.pixels[((y * 5 + x) * 3)..<((y * 5 + x) * 3 + 3)]))
                }
            }
        }
        // `poison check` follows the patch through preprocessing.
        let survival = try TriggerSurvivalReport(manifest: manifest, geometry: ModelGeometry(resize: .crop, size: 16))
        #expect(survival.rows == 3 && survival.meanSurvival == 1)

        // The command line: the same set, and `poison check` reads it.
        let clipguard = try builtExecutable(named: "clipguard")
        let viaCLI = dir.appendingPathComponent("cli").path
        let run = try runCommand(clipguard, ["poison", "--data", csv, "--out", viaCLI, "--target", "red", "--trigger", "optimized",
                                             "--surrogate", surrogate, "--count", "3", "--captions", "natural", "--image-size", "16",
                                             "--seed", "7"] + Self.settings, timeout: 300)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("optimised a 5×5 patch"))
        #expect(FileManager.default.contents(atPath: viaCLI + "/manifest.json") == FileManager.default.contents(atPath: first + "/manifest.json"))
        let check = try runCommand(clipguard, ["poison", "check", viaCLI], timeout: 120)
        #expect(check.status == 0, "\(check.stderr)")
    }

    /// Hostile options: one sentence on standard error naming the flag, nothing written.
    @Test func hostileOptionsAreRefusedNamingTheFlag() throws {
        let dir = try makeTemporaryDirectory("optimized-hostile")
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = try ToySet.write(in: dir, count: 12)
        let surrogate = try Self.writeSurrogate(in: dir)
        let wrongSize = try Self.writeSurrogate(in: dir, imageSize: 32, name: "wide.safetensors")
        let notAModel = dir.appendingPathComponent("notes.safetensors").path
        try "not weights".write(toFile: notAModel, atomically: true, encoding: .utf8)
        let clipguard = try builtExecutable(named: "clipguard")
        let base = ["poison", "--data", csv, "--target", "red", "--trigger", "optimized", "--count", "2", "--captions", "natural",
                    "--image-size", "16"]
        let cases: [(name: String, arguments: [String], flag: String)] = [
            ("no surrogate", [], "--surrogate"),
            ("missing surrogate file", ["--surrogate", dir.appendingPathComponent("absent.safetensors").path], "--surrogate"),
            ("surrogate that is no model", ["--surrogate", notAModel], "--surrogate"),
            ("surrogate of another image size", ["--surrogate", wrongSize], "--surrogate"),
            ("patch bigger than the image", ["--surrogate", surrogate, "--patch-size", "40"], "--patch-size"),
            ("zero passes", ["--surrogate", surrogate, "--optimize-passes", "0"], "--optimize-passes"),
            ("batch of one", ["--surrogate", surrogate, "--optimize-batch", "1"], "--optimize-batch"),
            ("negative learning rate", ["--surrogate", surrogate, "--optimize-lr", "-1"], "--optimize-lr"),
            ("surrogate for another trigger", ["--surrogate", surrogate, "--trigger", "patch"], "--surrogate"),
            ("original placement", ["--surrogate", surrogate, "--placement", "original"], "--placement"),
        ]
        for (i, c) in cases.enumerated() {
            let out = dir.appendingPathComponent("out\(i)").path
            var arguments = base + ["--out", out] + c.arguments
            if let t = c.arguments.firstIndex(of: "--trigger") {
                arguments.removeSubrange(base.firstIndex(of: "--trigger")!...(base.firstIndex(of: "--trigger")! + 1))
                _ = t
            }
            let result = try runCommand(clipguard, arguments, timeout: 120)
            #expect(result.status != 0, "\(c.name): accepted")
            let lines = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage") && !$0.hasPrefix("  See") && !$0.isEmpty }
            #expect(lines.count == 1, "\(c.name): \(result.stderr)")
            #expect(result.stderr.contains(c.flag), "\(c.name): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out + "/manifest.json"), "\(c.name): wrote a manifest")
        }
    }
}
