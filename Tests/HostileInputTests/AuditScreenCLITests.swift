import CLIP
import Datasets
import Foundation
import TestSupport
import Testing

/// `clipguard audit` and `clipguard screen` as a user runs them: a tiny random model end to end,
/// and hostile inputs refused in one sentence without touching what is there.
@Suite struct AuditScreenCLITests {
    /// A workspace with a random 16-pixel CLIP (`model.safetensors`) and `count` images in `images/`.
    static func setUp(count: Int) throws -> Workspace {
        let workspace = try Workspace()
        let config = try CLIPConfig.decode(Data(ToySet.microModelConfig.utf8))
        try CLIPModel(config: config).saveSafeTensors(toPath: workspace.file("model.safetensors"))
        var rng = SplitMix64(seed: 1)
        for i in 0..<count {
            var image = RGBImage(width: 20, height: 20, fill: (0, 0, 0))
            for j in image.pixels.indices { image.pixels[j] = UInt8(truncatingIfNeeded: rng.next()) }
            let path = workspace.file("images/img\(i).png")
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try image.write(toPath: path)
        }
        return workspace
    }

    @Test func auditWritesTheTriggerAndAVerdict() throws {
        let w = try Self.setUp(count: 6)
        defer { w.remove() }
        let result = try runClipGuard([
            "audit", "--checkpoint", w.file("model.safetensors"), "--images", w.file("images"), "--max-epochs", "3",
            "--out", w.file("audit"), "--json", "--threads", "1",
        ], seconds: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        let encoder = (object?["encoders"] as? [[String: Any]])?.first
        let pl1 = encoder?["pl1"] as? Double
        #expect(pl1.map { $0 > 0 && $0 <= 1 } == true)
        #expect(["clean", "backdoored"].contains(encoder?["verdict"] as? String ?? ""))
        #expect(object?["images"] as? Int == 6)
        for name in ["mask.png", "trigger.png", "pattern.png", "audit.json"] {
            #expect(FileManager.default.fileExists(atPath: w.file("audit/\(name)")), "\(name)")
        }
        // A second run does not overwrite the audit without --force.
        let before = w.snapshot()
        let again = try runClipGuard([
            "audit", "--checkpoint", w.file("model.safetensors"), "--images", w.file("images"), "--max-epochs", "1",
            "--out", w.file("audit"),
        ])
        expectRefusal(again, mentions: ["audit.json", "--force"])
        #expect(w.snapshot() == before)
    }

    /// `--mask-cell` and `--square-scan` as a user runs them: the options are recorded, the mask is
    /// full-size, and the scan's best square is reported.
    @Test func auditWithACoarseMaskAndASquareScan() throws {
        let w = try Self.setUp(count: 4)
        defer { w.remove() }
        let result = try runClipGuard([
            "audit", "--checkpoint", w.file("model.safetensors"), "--images", w.file("images"), "--max-epochs", "2",
            "--mask-cell", "4", "--square-scan", "4", "--scan-sides", "2,3,4", "--out", w.file("audit"), "--json", "--threads", "1",
        ], seconds: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect((object?["options"] as? [String: Any])?["mask_cell"] as? Int == 4)
        let encoder = (object?["encoders"] as? [[String: Any]])?.first
        let scan = encoder?["square_scan"] as? [String: Any]
        #expect((scan?["best_similarity"] as? Double).map { $0 >= -1 && $0 <= 1 } == true)
        #expect(scan?["side"] as? Int == 4)
        // The scan over sides: one entry per side, the best side among them and a verdict.
        let sides = encoder?["scan_sides"] as? [String: Any]
        #expect((sides?["sides"] as? [[String: Any]])?.compactMap { $0["side"] as? Int } == [2, 3, 4])
        #expect([2, 3, 4].contains(sides?["best_side"] as? Int ?? 0))
        #expect(["backdoored", "clean"].contains(sides?["verdict"] as? String ?? ""))
        #expect((sides?["spike_z"] as? Double)?.isFinite == true && sides?["cut"] as? Double == 3.5)
        #expect(FileManager.default.fileExists(atPath: w.file("audit/mask.png")))
    }

    @Test func screenScoresImagesAgainstAReference() throws {
        let w = try Self.setUp(count: 30)
        defer { w.remove() }
        let result = try runClipGuard([
            "screen", "--checkpoint", w.file("model.safetensors"), "--images", w.file("images"), "--reference", w.file("images"),
            "--reference-limit", "20", "--k", "4", "--out", w.file("screen"), "--json", "--threads", "1",
        ], seconds: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["reference_images"] as? Int == 20)
        #expect(object?["screened_images"] as? Int == 10)
        let detectors = (object?["detectors"] as? [[String: Any]])?.compactMap { $0["detector"] as? String }
        #expect(detectors == ["bdet", "bdet-all", "dao"])
        let csv = try String(contentsOfFile: w.file("screen/scores.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 11)
    }

    @Test(arguments: [
        (["--limit", "0"], ["--limit"]),
        (["--threshold", "2"], ["--threshold"]),
        (["--success-threshold", "1.5"], ["--success-threshold"]),
        (["--lr", "-1"], ["--lr"]),
        (["--threads", "0"], ["--threads"]),
        (["--mask-cell", "0"], ["--mask-cell"]),
        (["--mask-cell", "17"], ["--mask-cell"]),
        (["--square-scan", "-1"], ["--square-scan"]),
        (["--square-scan", "17"], ["--square-scan"]),
        (["--scan-sides", "4,5"], ["--scan-sides", "at least 3"]),
        (["--scan-sides", "4,x,5"], ["--scan-sides", "'x'"]),
        (["--scan-sides", "2,3,17"], ["--scan-sides", "17"]),
    ])
    func auditRefusesBadOptions(extra: [String], mentions: [String]) throws {
        let w = try Self.setUp(count: 2)
        defer { w.remove() }
        let result = try runClipGuard(["audit", "--checkpoint", w.file("model.safetensors"), "--images", w.file("images")] + extra)
        expectRefusal(result, mentions: mentions)
    }

    @Test func auditRefusesAnEmptyFolderAndAWrongCheckpoint() throws {
        let w = try Self.setUp(count: 2)
        defer { w.remove() }
        try FileManager.default.createDirectory(atPath: w.file("empty"), withIntermediateDirectories: true)
        try w.write("empty/notes.txt", text: "no images here")
        try w.write("weights.safetensors", text: "this is not a safetensors file")
        let before = w.snapshot()
        expectRefusal(
            try runClipGuard(["audit", "--checkpoint", w.file("model.safetensors"), "--images", w.file("empty")]),
            mentions: ["empty", "no PNG or JPEG"])
        expectRefusal(
            try runClipGuard(["audit", "--checkpoint", w.file("weights.safetensors"), "--images", w.file("images")]),
            mentions: ["weights.safetensors"])
        expectRefusal(
            try runClipGuard(["audit", "--checkpoint", w.file("model.safetensors"), "--images", w.file("missing")]),
            mentions: ["missing", "no such folder"])
        expectRefusal(try runClipGuard(["audit", "--images", w.file("images")]), mentions: ["--checkpoint"])
        #expect(w.snapshot() == before)
    }

    @Test func screenRefusesBadOptionsAndFolders() throws {
        let w = try Self.setUp(count: 4)
        defer { w.remove() }
        let base = ["screen", "--checkpoint", w.file("model.safetensors"), "--images", w.file("images")]
        expectRefusal(try runClipGuard(base + ["--reference", w.file("images"), "--quantile", "1.5"]), mentions: ["--quantile"])
        expectRefusal(try runClipGuard(base + ["--reference", w.file("nothing")]), mentions: ["nothing", "no such folder"])
        expectRefusal(try runClipGuard(base + ["--reference", w.file("images"), "--k", "16"]), mentions: ["--k"])
        expectRefusal(
            try runClipGuard(base + ["--reference", w.file("images"), "--reference-limit", "4", "--k", "1"]),
            mentions: ["--images", "nothing is left"])
        try w.write("manifest.json", text: "{\"rows\": 3}")
        expectRefusal(
            try runClipGuard(base + ["--reference", w.file("images"), "--k", "1", "--trigger-from", w.file("manifest.json")]),
            mentions: ["manifest.json"])
    }
}
