import CLIP
import Datasets
import Foundation
import TestSupport
import Testing
import Torch

/// The built `clipguard` given hostile values and files: each case ends with one short message
/// naming the file, flag or key, exit status 1 or 64, no signal, no hang, and every file that
/// existed before is unchanged.
@Suite struct HostileCLITests {
    /// Runs a refusal case in a fresh workspace and checks that the workspace is unchanged.
    func refusal(
        _ arguments: (Workspace) throws -> [String], environment: [String: String] = [:], mentions: (Workspace) -> [String],
        prepare: (Workspace) throws -> Void = { _ in }, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let dir = try Workspace()
        defer { dir.remove() }
        try prepare(dir)
        let before = dir.snapshot()
        let result = try runClipGuard(try arguments(dir), environment: environment)
        expectRefusal(result, mentions: mentions(dir), sourceLocation: sourceLocation)
        #expect(dir.snapshot() == before, "files changed", sourceLocation: sourceLocation)
    }

    static func microWeights(_ dir: Workspace) throws -> String {
        let path = dir.file("micro.safetensors")
        let result = try runClipGuard(["model-info", "--model", "micro-vit", "--save", path])
        #expect(result.status == 0, "\(result.stderr)")
        return path
    }

    @Test func versionIsPrinted() throws {
        let result = try runClipGuard(["--version"])
        #expect(result.status == 0 && result.stdout.hasPrefix("clipguard ") && result.stdout.contains("libtorch"))
    }

    @Test(arguments: [
        (["--threads", "0"], "--threads"), (["--threads", "100000"], "--threads"),
        (["--batch", "100000", "--steps", "1"], "--batch"), (["--batch", "0"], "--batch"),
        (["--steps", "-1"], "--steps"), (["--model", "RN5"], "did you mean RN50"),
    ])
    func modelInfoValuesAreChecked(arguments: [String], mention: String) throws {
        try refusal({ _ in ["model-info"] + arguments }, mentions: { _ in [mention] })
    }

    @Test(arguments: ["0", "-3", "4611686018427387904", "100000000"])
    func tokenizeContextLengthIsBounded(value: String) throws {
        try refusal({ _ in ["tokenize", "--context-length", value, "a cat"] }, mentions: { _ in ["--context-length"] })
    }

    @Test func modelInfoBatchThatCannotFitIsRefused() throws {
        try refusal({ _ in ["model-info", "--model", "RN50", "--batch", "60000", "--steps", "1"] }, mentions: { _ in ["--batch 60000"] })
    }

    @Test func modelInfoWithAnInvalidConfigFileNamesFileAndKey() throws {
        try refusal(
            { ["model-info", "--model", $0.file("bad.json")] },
            mentions: { [$0.file("bad.json"), "embed_dim"] },
            prepare: { try $0.write("bad.json", text: #"{"embed_dim": -64, "vision_cfg": {"image_size": 32, "layers": 1, "width": 8, "patch_size": 8, "head_width": 4}, "text_cfg": {"width": 8, "heads": 2, "layers": 1}}"#) })
    }

    @Test func modelInfoDoesNotOverwriteWithoutForce() throws {
        try refusal(
            { ["model-info", "--model", "micro-vit", "--save", $0.file("keep.safetensors")] },
            mentions: { [$0.file("keep.safetensors"), "--force"] },
            prepare: { try $0.write("keep.safetensors", text: "precious") })
    }

    @Test func embedNeverOverwritesItsInputOrAnExistingFile() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let weights = try Self.microWeights(dir)
        try dir.write("old.safetensors", text: "earlier output")
        let before = dir.snapshot()
        let same = try runClipGuard(["embed", "--weights", weights, "--text", "a cat", "--output", weights, "--force"])
        expectRefusal(same, mentions: [weights, "input"])
        let existing = try runClipGuard(["embed", "--weights", weights, "--text", "a cat", "--output", dir.file("old.safetensors")])
        expectRefusal(existing, mentions: [dir.file("old.safetensors"), "--force"])
        #expect(dir.snapshot() == before)
        let forced = try runClipGuard(["embed", "--weights", weights, "--text", "a cat", "--output", dir.file("old.safetensors"), "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
    }

    @Test func evalOnCUDAWithoutCUDASaysSo() throws {
        guard !Device.cudaIsAvailable else { return }
        try refusal({ ["eval", "--checkpoint", $0.file("micro.safetensors"), "--dataset", "fashion-mnist", "--device", "cuda"] },
                    mentions: { _ in ["no CUDA", "--device cpu"] }, prepare: { _ = try Self.microWeights($0) })
    }

    @Test func evalWithEmptyTemplatesNamesClassesJSON() throws {
        try refusal(
            { ["eval", "--checkpoint", $0.file("micro.safetensors"), "--dataset", $0.file("eval")] },
            mentions: { [$0.file("eval/classes.json"), "templates"] },
            prepare: { dir in
                _ = try Self.microWeights(dir)
                try dir.write("eval/classes.json", text: #"{"classes": ["cat", "dog"], "templates": []}"#)
                try dir.write("eval/labels.csv", text: "image,label\na.png,0\n")
            })
    }

    @Test func evalOnNaNWeightsNamesFileAndTensor() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let weights = try Self.microWeights(dir)
        var (tensors, metadata) = try loadSafeTensors(atPath: weights)
        tensors["logit_scale"] = Tensor.full(tensors["logit_scale"]!.shape, value: .nan)
        let nan = dir.file("nan.safetensors")
        try saveSafeTensors(tensors, metadata: metadata, toPath: nan)
        let result = try runClipGuard(["eval", "--checkpoint", nan, "--dataset", "fashion-mnist", "--limit", "10"])
        expectRefusal(result, mentions: [nan, "logit_scale", "NaN"])
    }

    @Test func evalOnCIFARTestBatchWorks() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let weights = try Self.microWeights(dir)
        var bytes: [UInt8] = []
        for k in 0..<8 { bytes += [UInt8(k % 10)] + [UInt8](repeating: UInt8(k * 30), count: 3072) }
        let batch = try dir.write("test_batch.bin", bytes)
        let result = try runClipGuard(["eval", "--checkpoint", weights, "--dataset", batch, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"n\":8") && result.stdout.contains("\"classes\":10"), "\(result.stdout)")
    }

    @Test func dataPrepareRefusesAFolderHoldingFiles() throws {
        try refusal({ ["data", "prepare", "fashion-mnist", "--out", $0.path, "--limit", "10"] },
                    mentions: { [$0.path, "train.csv"] },
                    prepare: { try $0.write("train.csv", text: "filepath,caption\nmine.png,my own data\n") })
    }

    @Test func dataInspectCountsAnImageBombAsASkip() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        try dir.write("bomb.jpg", Hostile.jpeg(width: 65_500, height: 65_500))
        try dir.write("ok.png", RGBImage(width: 8, height: 8, fill: (1, 1, 1)).pngData())
        let csv = try dir.write("d.csv", text: "filepath,caption\nbomb.jpg,a bomb\nok.png,fine\n")
        let result = try runClipGuard(["data", "inspect", csv])
        #expect(result.status == 0 && !result.crashed, "\(result.stderr)")
        #expect(result.stdout.contains("skipped: 1") && result.stdout.contains("too large"), "\(result.stdout)")
        let strict = try runClipGuard(["data", "inspect", csv], environment: ["CLIPGUARD_MAX_IMAGE_PIXELS": "10"])
        #expect(strict.stdout.contains("skipped: 2"), "\(strict.stdout)")
    }

    @Test func dataInspectEscapesControlCharacters() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        var writer = TarWriter()
        writer.add(name: "x\u{1B}]0;pwned\u{07}.png", contents: try RGBImage(width: 4, height: 4, fill: (0, 0, 0)).pngData())
        writer.add(name: "x\u{1B}]0;pwned\u{07}.txt", contents: Array("\u{1B}[31mred".utf8))
        let shard = try dir.write("c.tar", writer.finished())
        let result = try runClipGuard(["data", "inspect", shard])
        #expect(result.status == 0)
        #expect(!result.stdout.utf8.contains(0x1B) && !result.stdout.utf8.contains(0x07), "\(result.stdout)")
    }

    @Test func dataInspectOnANegativeTarSizeEndsWithAnError() throws {
        try refusal({ ["data", "inspect", $0.file("neg.tar")] }, mentions: { [$0.file("neg.tar"), "size"] },
                    prepare: { try $0.write("neg.tar", Hostile.tar(sizeField: Array("-0002000".utf8))) })
    }

    @Test func dataInspectRejectsNegativeMaxRows() throws {
        try refusal({ ["data", "inspect", $0.file("d.csv"), "--max-rows", "-5"] }, mentions: { _ in ["--max-rows"] },
                    prepare: { try $0.write("d.csv", text: "filepath,caption\na.png,x\n") })
    }

    @Test func dataInspectTakesABraceList() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        for k in 0..<2 { try dir.write("s/\(k).tar", Hostile.shard(count: 3)) }
        let result = try runClipGuard(["data", "inspect", dir.file("s/{0..1}.tar")])
        #expect(result.status == 0 && result.stdout.contains("rows: 6"), "\(result.stdout)\(result.stderr)")
    }

    @Test func poisonRefusesAShard() throws {
        try refusal({ ["poison", "--data", $0.file("s.tar"), "--out", $0.file("out"), "--target", "cat", "--trigger", "patch", "--rate", "0.1", "--captions", "natural"] },
                    mentions: { [$0.file("s.tar"), "CSV"] },
                    prepare: { try $0.write("s.tar", Hostile.shard(count: 2)) })
    }

    @Test(arguments: [(["--image-size", "100000"], "--image-size"), (["--blend-weight", "nan"], "--blend-weight"),
                      (["--count", "9223372036854775807"], "--count")])
    func poisonValuesAreBounded(extra: [String], mention: String) throws {
        let base = ["--target", "cat", "--trigger", "patch", "--captions", "natural"]
        let amount = extra.contains("--count") ? [] : ["--rate", "0.1"]
        try refusal({ ["poison", "--data", $0.file("d.csv"), "--out", $0.file("out")] + base + amount + extra },
                    mentions: { _ in [mention] },
                    prepare: { try $0.write("d.csv", text: "filepath,caption\na.png,a cat\n") })
    }

    /// `poison --attack`: flags that do not belong to the retrieval attack, malformed goals,
    /// unknown classes, impossible rates; one sentence naming the flag, nothing written.
    @Test(arguments: [
        (["--attack", "pair-class", "--goal", "cat:bag", "--trigger", "patch"], "--trigger"),
        (["--attack", "pair-class", "--goal", "cat:bag", "--captions", "natural"], "--captions"),
        (["--attack", "pair-class", "--goal", "cat:bag", "--target", "cat"], "--target"),
        (["--attack", "pair-class", "--goal", "cat"], "--goal"),
        (["--attack", "pair-class", "--goal", "cat:cat"], "--goal"),
        (["--attack", "pair-class", "--goal", "cat:bag", "--goal", "bag:cat"], "pair-multi"),
        (["--attack", "pair-multi", "--goal", "cat:bag"], "--goal"),
        (["--attack", "pair-class", "--goal", "cat:bag", "--blend-weight", "0.3"], "--blend-weight"),
        (["--attack", "pair-class", "--goal", "cat:bag", "--surrogate", "s.safetensors"], "--surrogate"),
        (["--attack", "pair-class", "--goal", "cat:bag", "--aim", "safeclip-aimed"], "--aim"),
        (["--attack", "caption-trigger", "--caption-trigger", "zxq"], "--target"),
        (["--attack", "caption-trigger", "--target", "cat"], "--caption-trigger"),
        (["--attack", "caption-trigger", "--target", "cat", "--caption-trigger", "red"], "--caption-trigger"),
        (["--attack", "pair-class", "--goal", "dog:bag"], "--goal"),
        (["--attack", "pair-class", "--goal", "cat:bag", "--rate", "0.9"], "--rate"),
        (["--attack", "pair-everything", "--goal", "cat:bag"], "--attack"),
        (["--goal", "cat:bag", "--target", "cat", "--trigger", "patch", "--captions", "natural"], "--goal"),
        (["--target", "cat", "--trigger", "patch"], "--captions"),
    ])
    func poisonAttackRefusesHostileOptions(extra: [String], mention: String) throws {
        let amount = extra.contains("--rate") ? [] : ["--count", "1"]
        try refusal({ ["poison", "--data", $0.file("d.csv"), "--out", $0.file("out")] + amount + extra },
                    mentions: { _ in [mention] },
                    prepare: { dir in
                        try dir.write("img.png", RGBImage(width: 8, height: 8, fill: (200, 10, 10)).pngData())
                        try dir.write("d.csv", text: "filepath,caption\nimg.png,a red cat\nimg.png,a red bag\nimg.png,a blue cat\n")
                    })
    }

    @Test func trainRefusesADeeplyNestedConfig() throws {
        try refusal({ ["train", "--config", $0.file("deep.yaml"), "--out", $0.file("run")] },
                    mentions: { [$0.file("deep.yaml"), "nested"] },
                    prepare: { try $0.write("deep.yaml", text: "data: " + String(repeating: "[", count: 8_000)) })
    }

    @Test func trainRefusesAnOverflowingEpochCount() throws {
        try refusal({ ["train", "--config", $0.file("e.yaml"), "--out", $0.file("run")] },
                    mentions: { [$0.file("e.yaml"), "epochs"] },
                    prepare: { try $0.write("e.yaml", text: "data: x.csv\nmodel: tiny-vit\nepochs: 9223372036854775807\n") })
    }
}
