import Detection
import Foundation
import TestSupport
import Testing

/// `clipguard detect` run as a user runs it, once per registered detector: its options given as
/// flags come back in `summary.json`, its columns in `scores.csv`, and its threshold can drop.
@Suite(.serialized) struct DetectCommandTests {
    let clipguard: URL

    init() throws { clipguard = try builtExecutable(named: "clipguard") }

    @Test func everyDetectorRunsFromTheCommandLineWithItsOptions() throws {
        let dir = try makeTemporaryDirectory("cli-detect")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try ToySet.write(in: dir, count: 48)
        let config = dir.appendingPathComponent("micro.json").path
        try ToySet.microModelConfig.write(toFile: config, atomically: true, encoding: .utf8)
        let run = dir.appendingPathComponent("model").path
        let train = try runCommand(clipguard, [
            "train", "--data", data, "--model", config, "--epochs", "1", "--batch-size", "8", "--seed", "1",
            "--workers", "1", "--threads", "1", "--device", "cpu", "--out", run,
        ])
        #expect(train.status == 0, "\(train.stderr)")
        for d in DetectorRegistry.all {
            let out = dir.appendingPathComponent("detect-\(d.name)").path
            // Every option of the detector at a value other than its default, as --NAME VALUE.
            var flags: [String] = [], expected: [String: Int] = [:]
            for o in d.options {
                let value = (o.defaultValue ?? 4) + 1
                let clamped = min(o.range.upperBound, max(o.range.lowerBound, min(value, 20)))
                flags += ["--\(o.name)", String(clamped)]
                expected[o.name] = clamped
            }
            let column = d.columns(models: 1)[0]
            let result = try runCommand(clipguard, [
                "detect", "--data", data, "--out", out, "--model", run + "/model.safetensors", "--detectors", d.name,
                "--workers", "1", "--device", "cpu", "--quiet", "--drop", "threshold", "--drop-by", column,
                "--write-clean", dir.appendingPathComponent("clean-\(d.name)").path,
            ] + flags)
            #expect(result.status == 0, "\(d.name): \(result.stderr)")
            let summary = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json"))) as? [String: Any])
            #expect((summary["columns"] as? [String]) == d.columns(models: 1), "\(d.name)")
            #expect((summary["options"] as? [String: Int]) == expected, "\(d.name): options \(summary["options"] ?? "none")")
            let detectors = summary["detectors"] as? [[String: Any]]
            #expect(detectors?.first?["name"] as? String == d.name && detectors?.first?["display_name"] as? String == d.displayName)
            let clean = summary["clean"] as? [String: Any]
            let flagged = (summary["thresholds"] as? [String: [String: Any]])?[column]?["flagged"] as? Int
            #expect(clean?["dropped"] as? Int == flagged, "\(d.name): --drop threshold dropped \(clean?["dropped"] ?? "none"), flagged \(flagged ?? -1)")
            #expect(result.stdout.contains(column), "\(d.name): the printed table lacks \(column)")
        }
        // Hostile options: one sentence naming the flag, nothing written.
        let bad = try runCommand(clipguard, ["detect", "--data", data, "--out", dir.appendingPathComponent("bad").path, "--neighbours", "1"])
        #expect(bad.status != 0 && bad.stderr.contains("--neighbours must be in"), "\(bad.stderr)")
        let unknown = try runCommand(clipguard, ["detect", "--data", data, "--out", dir.appendingPathComponent("bad").path, "--neighbors", "8"])
        #expect(unknown.status != 0 && unknown.stderr.contains("--neighbors"), "\(unknown.stderr)")
        let by = try runCommand(clipguard, ["detect", "--data", data, "--out", dir.appendingPathComponent("bad").path, "--drop", "most"])
        #expect(by.status != 0 && by.stderr.contains("--drop"), "\(by.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("bad").path))
    }
}
