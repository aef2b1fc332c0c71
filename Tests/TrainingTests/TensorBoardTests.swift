import Foundation
import TestSupport
import Testing
@testable import Training

@Suite struct TensorBoardTests {
    // MARK: CRC-32C and TFRecord framing

    /// Published check values: the CRC catalogue's "123456789" and the four vectors of
    /// RFC 3720 (iSCSI), appendix B.4.
    @Test func crc32CMatchesPublishedCheckValues() {
        #expect(TFRecord.crc32C(Array("123456789".utf8)) == 0xE306_9283)
        #expect(TFRecord.crc32C([]) == 0)
        #expect(TFRecord.crc32C([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(TFRecord.crc32C([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(TFRecord.crc32C((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(TFRecord.crc32C((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
    }

    @Test func maskedCRCRotatesAndAddsTheTFRecordConstant() {
        // CRC 0: rotating leaves 0, the mask adds 0xa282ead8.
        #expect(TFRecord.maskedCRC32C([]) == 0xA282_EAD8)
        // CRC 0xE3069283: >> 15 = 0x0001C60D; << 17 keeps the low 15 bits 0x1283 as 0x25060000;
        // 0x2507C60D + 0xA282EAD8 = 0xC78AB0E5.
        #expect(TFRecord.maskedCRC32C(Array("123456789".utf8)) == 0xC78A_B0E5)
    }

    // MARK: Event bytes, derived by hand from event.proto / summary.proto

    /// `Event { wall_time: 1.5, step: 300, summary { value { tag: "a", simple_value: 0.5 } } }`.
    @Test func scalarEventIsEncodedAsTheProtobufSpecSays() {
        let expected: [UInt8] =
            [0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F]  // field 1 fixed64: 1.5 = 0x3FF8000000000000
            + [0x10, 0xAC, 0x02]  // field 2 varint: 300 = 0b10_0101100 → 0xAC 0x02
            + [0x2A, 0x0A]  // field 5, length-delimited, 10 bytes of Summary
            + [0x0A, 0x08]  // Summary.value (field 1), 8 bytes of Value
            + [0x0A, 0x01, 0x61]  // Value.tag (field 1): "a"
            + [0x15, 0x00, 0x00, 0x00, 0x3F]  // Value.simple_value (field 2, fixed32): 0.5 = 0x3F000000
        #expect(TensorBoardWriter.scalarEvent(["a": 0.5], step: 300, wallTime: 1.5) == expected)

        // The record around it: length 24 as uint64 LE, then the masked CRCs of the length bytes
        // and of the data (0x224b7fa3, 0x3f6a0764, computed by the tensorboard package's own
        // masked_crc32c).
        let record = TFRecord.frame(expected)
        #expect(Array(record[0..<8]) == [0x18, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(record[8..<12]) == [0xA3, 0x7F, 0x4B, 0x22])
        #expect(Array(record[12..<36]) == expected)
        #expect(Array(record[36...]) == [0x64, 0x07, 0x6A, 0x3F])
    }

    @Test func fileVersionSessionStartAndEdgeValuesAreEncodedAsTheSpecSays() {
        // file_version (field 3, length-delimited) "brain.Event:2", 13 bytes; wall_time 0 is still written.
        #expect(
            TensorBoardWriter.fileVersionEvent(wallTime: 0)
                == [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x1A, 0x0D] + Array("brain.Event:2".utf8))
        // session_log (field 7; 6 is log_message) { status (field 1, varint) = START (1) }, step 7; wall_time 2.0 = 0x4000000000000000.
        #expect(
            TensorBoardWriter.sessionStartEvent(step: 7, wallTime: 2)
                == [0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x10, 0x07, 0x3A, 0x02, 0x08, 0x01])
        // Step -1 is int64's two's complement: ten varint bytes. Step 0 is left out, as proto3 does.
        // A value of 0 is written (simple_value is in a oneof); tags come in sorted order.
        let event = TensorBoardWriter.scalarEvent(["b": -2, "a": 0], step: -1, wallTime: 0)
        #expect(Array(event[9..<20]) == [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        #expect(
            Array(event[20...]) == [0x2A, 0x14, 0x0A, 0x08, 0x0A, 0x01, 0x61, 0x15, 0, 0, 0, 0]
                + [0x0A, 0x08, 0x0A, 0x01, 0x62, 0x15, 0x00, 0x00, 0x00, 0xC0])  // -2 = 0xC0000000
        #expect(TensorBoardWriter.scalarEvent([:], step: 0, wallTime: 0) == [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x2A, 0x00])
    }

    // MARK: Read back by TensorBoard itself

    @Test func tensorBoardReadsBackEveryScalarOfEveryStep() throws {
        let dir = try makeTemporaryDirectory("tensorboard")
        defer { try? FileManager.default.removeItem(at: dir) }
        let before = Int(Date().timeIntervalSince1970)
        let writer = try TensorBoardWriter(directory: dir.appendingPathComponent("tb").path)
        let after = Int(Date().timeIntervalSince1970)
        var written: [(step: Int, wallTime: Double, scalars: [String: Double])] = []
        for step in 0..<6 {
            var scalars = ["train/loss": 4.5 - 0.37 * Double(step), "train/lr": 1e-3 * Double(step) / 5]
            if step == 2 { scalars["train/loss"] = .nan }
            if step == 3 { scalars["train/grad_norm"] = .infinity }
            if step == 4 { scalars["train/grad_norm"] = -1e300 }  // beyond Float: −infinity
            if step == 5 { scalars["epoch/zeroshot_top1"] = 0.7299 }
            let wallTime = 1_790_000_000.25 + Double(step)
            try writer.add(scalars: scalars, step: step * 100, wallTime: wallTime)
            written.append((step * 100, wallTime, scalars))
        }
        // Read while the writer is still open and never flushed: what a killed run leaves.
        let back = try readBack(dir.appendingPathComponent("tb"))

        let name = URL(fileURLWithPath: writer.path).lastPathComponent
        #expect(back.files.map(\.name) == [name])
        let parts = name.split(separator: ".", maxSplits: 4)
        #expect(parts.count == 5 && parts[0...2] == ["events", "out", "tfevents"])
        #expect(Int(parts[3]).map { (before...after).contains($0) } == true, "\(name)")

        let events = try #require(back.files.first?.events)
        #expect(events.count == 7)
        #expect(events.first?.fileVersion == "brain.Event:2")
        for (event, expected) in zip(events.dropFirst(), written) {
            #expect(event.step == expected.step)
            #expect(event.wallTime == expected.wallTime)
            #expect(sameFloats(event.scalars ?? [:], expected.scalars), "step \(expected.step)")
        }
        var series: [String: [[Double]]] = [:]
        for record in written {
            for (tag, value) in record.scalars {
                series[tag, default: []].append([Double(record.step), Double(Float(value)), record.wallTime])
            }
        }
        #expect(back.scalars.keys.sorted() == series.keys.sorted())
        for (tag, points) in series {
            let read = back.scalars[tag] ?? []
            #expect(read.count == points.count && zip(read, points).allSatisfy(samePoint), "\(tag): \(read) vs \(points)")
        }
    }

    @Test func aResumedRunWritesANewFileAndTensorBoardDropsTheOrphanedSteps() throws {
        let dir = try makeTemporaryDirectory("tensorboard")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try TensorBoardWriter(directory: dir.path)
        for step in 1...5 { try first.add(scalars: ["train/loss": Double(step)], step: step) }
        try first.flush()
        let firstBytes = try Data(contentsOf: URL(fileURLWithPath: first.path))
        // The checkpoint was at step 3: the resumed run logs steps 4… again, into a new file.
        let resumed = try TensorBoardWriter(directory: dir.path)
        try resumed.markRestart(step: 4)
        for step in 4...6 { try resumed.add(scalars: ["train/loss": Double(10 * step)], step: step) }

        #expect(resumed.path != first.path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: first.path)) == firstBytes)
        let back = try readBack(dir)
        #expect(
            back.files.map(\.name)
                == [first.path, resumed.path].map { URL(fileURLWithPath: $0).lastPathComponent })
        #expect(back.files.map { $0.events.first?.fileVersion } == ["brain.Event:2", "brain.Event:2"])
        #expect(back.files.last?.events.dropFirst().first?.sessionStart == true)
        let loss = back.scalars["train/loss"] ?? []
        #expect(loss.map { $0[0] } == [1, 2, 3, 4, 5, 6])
        #expect(loss.map { $0[1] } == [1, 2, 3, 40, 50, 60])
    }

    // MARK: Errors

    @Test func aFileWhereTheFolderShouldBeIsAnErrorNamingIt() throws {
        let dir = try makeTemporaryDirectory("tensorboard")
        defer { try? FileManager.default.removeItem(at: dir) }
        let blocker = dir.appendingPathComponent("metrics.jsonl")
        try Data("{}\n".utf8).write(to: blocker)
        do {
            _ = try TensorBoardWriter(directory: blocker.appendingPathComponent("tensorboard").path)
            Issue.record("a writer was created inside a file")
        } catch let error as TensorBoardError {
            #expect(error.path == blocker.path)
            #expect(error.description.contains("not a folder"), "\(error)")
        }
        #expect(try Data(contentsOf: blocker) == Data("{}\n".utf8))
    }

    // MARK: Helpers

    /// What `Scripts/read_tensorboard.py` prints.
    struct ReadBack: Decodable {
        struct File: Decodable {
            var name: String
            var events: [Event]
        }
        struct Event: Decodable {
            var wallTime: Double
            var step: Int
            var fileVersion: String?
            var sessionStart: Bool?
            var scalars: [String: Double]?

            enum CodingKeys: String, CodingKey {
                case wallTime = "wall_time", step, fileVersion = "file_version", sessionStart = "session_start", scalars
            }
        }
        var files: [File]
        /// tag → [[step, value, wall_time]] as TensorBoard's EventAccumulator merges the folder.
        var scalars: [String: [[Double]]]
    }

    /// Runs TensorBoard's reader (the `tensorboard` package in `.venv-tb`) on `directory`.
    func readBack(_ directory: URL) throws -> ReadBack {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let python = root.appendingPathComponent(".venv-tb/bin/python")
        try #require(
            FileManager.default.isExecutableFile(atPath: python.path),
            "\(python.path) is missing: run `make tb-env` (it installs the tensorboard package these tests read event files with)"
        )
        let result = try runCommand(
            python, [root.appendingPathComponent("Scripts/read_tensorboard.py").path, directory.path])
        try #require(result.status == 0, "read_tensorboard.py failed: \(result.stderr)")
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try decoder.decode(ReadBack.self, from: Data(result.stdout.utf8))
    }

    /// Whether `read` holds exactly `written`'s values as 32-bit floats (NaN equal to NaN).
    private func sameFloats(_ read: [String: Double], _ written: [String: Double]) -> Bool {
        read.keys.sorted() == written.keys.sorted()
            && written.allSatisfy { tag, value in sameFloat(read[tag]!, value) }
    }

    private func sameFloat(_ read: Double, _ written: Double) -> Bool {
        let expected = Double(Float(written))
        return read == expected || (read.isNaN && expected.isNaN)
    }

    private func samePoint(_ read: [Double], _ expected: [Double]) -> Bool {
        read.count == 3 && read[0] == expected[0] && sameFloat(read[1], expected[1]) && read[2] == expected[2]
    }
}

/// A training run with `tensorboard` on, stopped and resumed: TensorBoard's own reader sees every
/// step's loss, learning rate and multiplier once, equal to `metrics.jsonl`, and the epochs'
/// zero-shot figures.
@Suite(.serialized) struct TrainerTensorBoardTests {
    @Test func aResumedRunsEventFilesReadBackAsItsMetrics() throws {
        let (dir, data, model) = try makeToyRun("tb-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        let eval = try ToySet.writeEvaluationSet(in: dir, count: 8)
        let run = dir.appendingPathComponent("run").path
        var config = TrainingConfig(
            data: data, model: model, epochs: 2, batchSize: 8, lr: 2e-3, warmupSteps: 2, seed: 7, device: "cpu", workers: 1,
            threads: 1, logEvery: 1000, evalData: eval, tensorboard: true)
        config.defense = .none
        let quiet = ProgressReporter(quiet: true)
        let first = try Trainer(config: config, runDirectory: run, reporter: quiet)
        first.stopAfterSteps = 7
        #expect(try first.run().interrupted)
        _ = try Trainer(config: config, runDirectory: run, resume: true, reporter: quiet).run()

        let read = try TensorBoardTests().readBack(URL(fileURLWithPath: run + "/tensorboard"))
        #expect(read.files.count == 2)
        let steps = try MetricsLog.read(path: run + "/metrics.jsonl").filter { $0["loss"] != nil }
        #expect(steps.count == 10)
        for (tag, key) in [("train/loss", "loss"), ("train/lr", "lr"), ("train/logit_multiplier", "logit_multiplier")] {
            let points = try #require(read.scalars[tag], "no \(tag) in \(read.scalars.keys.sorted())")
            #expect(points.map { Int($0[0]) } == Array(1...10), "\(tag) steps")
            for (point, record) in zip(points, steps) {
                let expected = Double(Float(record[key] as! Double))
                #expect(abs(point[1] - expected) <= 1e-6 * max(1, abs(expected)), "\(tag) at step \(Int(point[0]))")
            }
        }
        let top1 = try #require(read.scalars["epoch/zeroshot_top1"])
        #expect(top1.map { Int($0[0]) } == [5, 10])
    }
}
