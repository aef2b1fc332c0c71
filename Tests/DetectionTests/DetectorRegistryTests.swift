import Datasets
import Detection
import Foundation
import TestSupport
import Testing

/// One test over every registered detector (issue 21, item 4): a detector that forgets a piece —
/// a unique name or column, an option's default or range, its help, its scores on synthetic
/// features, its place in `summary.json` — fails here.
@Suite(.serialized) struct DetectorRegistryTests {
    /// A context of `n` synthetic rows: features in 4 blobs, similarities, captions, caption groups
    /// and cell hashes of small random images (a patch on every 10th).
    static func context(rows n: Int = 200, settings: DetectorSettings = DetectorSettings()) -> DetectionContext {
        var rng = SplitMix64(seed: 31)
        let d = 8
        var values: [Float] = []
        for i in 0..<n { values += (0..<d).map { j in Float(rng.nextUnitDouble()) + (j == i % 4 ? 3 : 0) } }
        let words = ["shirt", "sneaker", "bag", "dress"]
        let images: [RGBImage] = (0..<n).map { i in
            var image = RGBImage(width: 16, height: 16, fill: (0, 0, 0))
            for o in image.pixels.indices { image.pixels[o] = UInt8(truncatingIfNeeded: rng.next()) }
            if i % 10 == 0 { for y in 12..<16 { for x in 12..<16 { for c in 0..<3 { image.pixels[(y * 16 + x) * 3 + c] = 255 } } } }
            return image
        }
        return DetectionContext(
            dataRows: Array(0..<n), features: FeatureMatrix(dimension: d, values: values),
            similarity: [(0..<n).map { _ in rng.nextUnitDouble() }, (0..<n).map { _ in rng.nextUnitDouble() }],
            captions: (0..<n).map { "a photo of a \(words[($0 % 7 == 0 ? $0 + 1 : $0) % 4])" }, seed: 1, settings: settings,
            groups: { ((0..<n).map { $0 % 4 }, "synthetic") },
            cells: { body in for image in images { body(TriggerConsistency.cellHashes(image)) } })
    }

    /// A value of every option other than its default, inside its range.
    static func nonDefault(_ option: DetectorOption) -> Int {
        let v = (option.defaultValue ?? option.range.lowerBound + 3) + 1
        return min(option.range.upperBound, max(option.range.lowerBound, v == option.defaultValue ? v + 1 : v))
    }

    @Test func namesColumnsAndOptionsAreUniqueAndComplete() throws {
        let all = DetectorRegistry.all
        #expect(Set(all.map { $0.name }).count == all.count, "two detectors share a name")
        #expect(Set(all.map { $0.displayName }).count == all.count, "two detectors share a display name")
        for models in [1, 3] {
            let columns = all.flatMap { $0.columns(models: models) } + ["combined"]
            #expect(Set(columns).count == columns.count, "two detectors share a column (\(models) models)")
        }
        for d in all {
            #expect(!d.name.isEmpty && !d.about.isEmpty && !d.displayName.isEmpty, "\(d.name): name, display name and help")
            #expect(d.name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" }, "\(d.name): a command-line name")
            #expect(!d.inputs.isEmpty, "\(d.name) reads nothing")
            #expect(DetectorRegistry.helpText.contains("  \(d.name): "), "\(d.name) is not in --help")
            #expect(try DetectorRegistry.detectors(named: [d.name]).map { $0.name } == [d.name])
            for o in d.options {
                // An option two detectors share is one option: same help, default and range.
                #expect(DetectorRegistry.option(named: o.name) == o, "\(d.name) declares --\(o.name) differently from another detector")
                if let v = o.defaultValue { #expect(o.range.contains(v), "--\(o.name)'s default is out of its range") }
                #expect(DetectorRegistry.helpText.contains("--\(o.name) N"), "--\(o.name) is not in --help")
            }
        }
    }

    @Test func everyDetectorScoresSyntheticFeatures() throws {
        let context = Self.context()
        for d in DetectorRegistry.all {
            var settings = DetectorSettings()
            for o in d.options { settings.values[o.name] = Self.nonDefault(o) }
            let scores = try d.scores(context, settings: settings)
            #expect(scores.count == d.columns(models: 2).count, "\(d.name): \(scores.count) columns")
            for column in scores {
                #expect(column.count == context.rows, "\(d.name): \(column.count) scores for \(context.rows) rows")
                #expect(column.allSatisfy { $0.isFinite }, "\(d.name): a score is not finite")
                #expect(Set(column).count > 1, "\(d.name): every score is the same")
            }
        }
    }

    @Test func everyOptionRoundTripsThroughTheCommandLineWords() throws {
        var all = DetectorSettings()
        for o in DetectorRegistry.options {
            all.values[o.name] = Self.nonDefault(o)
            let one = DetectorSettings([o.name: Self.nonDefault(o)])
            #expect(try DetectorSettings.parse(arguments: one.arguments) == one)
            #expect(try DetectorSettings.parse(arguments: ["--\(o.name)=\(Self.nonDefault(o))"]) == one)
            // Out of range and not a number: one sentence naming the flag.
            #expect { try DetectorSettings.parse(arguments: ["--\(o.name)", String(o.range.lowerBound - 1)]) } throws: {
                "\($0)".contains("--\(o.name) must be in")
            }
            #expect { try DetectorSettings.parse(arguments: ["--\(o.name)", "many"]) } throws: { "\($0)".contains("--\(o.name) needs a whole number") }
        }
        #expect(try DetectorSettings.parse(arguments: all.arguments) == all)
        #expect { try DetectorSettings.parse(arguments: ["--psychic", "3"]) } throws: { "\($0)".contains("unknown option --psychic") }
    }

    @Test func everyDetectorAppearsInTheSummaryUnderItsOwnName() throws {
        let dir = try makeTemporaryDirectory("detect-registry")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (csv, manifest, model) = try PoisonDetectorTests.prepare(dir, count: 100)
        for d in DetectorRegistry.all {
            var request = DetectionRequest(data: csv, output: dir.appendingPathComponent("out-\(d.name)").path)
            request.models = [model]
            request.detectors = [d.name]
            request.quiet = true
            for o in d.options { request.settings.values[o.name] = Self.nonDefault(o) }
            let summary = try PoisonDetector.run(request)
            let columns = d.columns(models: 1)
            #expect(summary.detectors == [.init(name: d.name, displayName: d.displayName, columns: columns)])
            #expect(summary.columns == columns)
            for o in d.options { #expect(summary.options[o.name] == Self.nonDefault(o), "\(d.name): --\(o.name) not recorded") }
            let table = DetectionTable.text(summary)
            for c in columns + ["combined"] {
                #expect(summary.metrics?[c]?.poisoned == manifest.rows.count, "\(d.name): no metrics for \(c)")
                #expect(summary.thresholds[c] != nil && summary.directions[c] != nil, "\(d.name): no threshold for \(c)")
                #expect(table.contains(c), "\(d.name): \(c) is not in the printed table")
            }
            #expect(summary.directions[columns[0]] == d.direction)
            let header = try String(contentsOfFile: request.output + "/scores.csv", encoding: .utf8).prefix { $0 != "\n" }
            #expect(header == "row,path,caption," + (columns + ["combined", "rank", "poisoned"]).joined(separator: ","))
        }
    }
}
