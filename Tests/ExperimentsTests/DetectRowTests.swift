import Foundation
import TestSupport
import Testing
import Training
@testable import Experiments

/// The `detect` defence row: detect, drop the top fraction, train plain CLIP on the rest.
@Suite struct DetectRowTests {
    @Test func detectRowTrainsOnTheCleanedSet() throws {
        let dir = try makeTemporaryDirectory("experiment-detect")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try ToySet.write(in: dir, count: 40)
        let eval = try ToySet.writeEvaluationSet(in: dir, count: 16)
        let model = dir.appendingPathComponent("micro.json").path
        try ToySet.microModelConfig.write(toFile: model, atomically: true, encoding: .utf8)
        let file = dir.appendingPathComponent("detect.yaml").path
        try """
            name: detect-row
            data: {csv: \(data)}
            attack: {target: red, trigger: patch, rate: 0.1, captions: natural, image_size: 16, patch_size: 4}
            defenses: [detect]
            model: \(model)
            training: {epochs: 1, unimodal_epochs: 1, clip_warmup_epochs: 1, filter_fraction: 0.25, batch_size: 8, lr: 0.002, warmup_steps: 2, workers: 1, threads: 1, device: cpu, log_every: 1000}
            evaluation: [{name: toy, path: \(eval)}]
            seeds: [3]
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let runner = ExperimentRunner(config: try ExperimentConfig.load(path: file), configPath: file, directory: dir.appendingPathComponent("out").path)
        runner.reporter = ProgressReporter(logEvery: 1000, quiet: true, forceTerminal: false)
        runner.log = { _ in }
        let results = try runner.run()
        let row = try #require(results.rows.first)
        #expect(row.defense == .detect && row.status == "finished")
        // 44 pairs (40 + 4 poisoned), 11 dropped: 33 left, 4 steps of 8.
        #expect(row.steps == 4)
        let rowFolder = dir.appendingPathComponent("out/rows/\(row.id)").path
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: rowFolder + "/run-detect/summary.json"))) as? [String: Any]
        let clean = try #require(summary?["clean"] as? [String: Any])
        #expect(clean["dropped"] as? Int == 11)
        #expect(ReportWriter.defenseName("detect") == "detect, drop, train")
    }
}
