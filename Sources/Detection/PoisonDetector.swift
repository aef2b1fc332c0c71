import Attacks
import CLIP
import Datasets
import Evaluation
import Foundation
import Torch
import Training

/// Which pairs `--write-clean` drops.
public enum DropRule: Sendable, Equatable, CustomStringConvertible {
    /// The `round(F·N)` top-ranked pairs of the column.
    case fraction(Double)
    /// The pairs the column's label-free threshold flags.
    case threshold

    /// Reads `threshold` or a fraction in [0, 1), naming `source` when it is neither.
    public init(parsing text: String, source: String = "--drop") throws {
        if text == "threshold" { self = .threshold; return }
        guard let f = Double(text), (0..<1).contains(f) else {
            throw DetectionError.invalidSetting("\(source) must be a fraction in [0, 1) or \"threshold\", got \"\(text)\"")
        }
        self = .fraction(f)
    }

    public var description: String {
        switch self {
        case .fraction(let f): "\(f)"
        case .threshold: "threshold"
        }
    }
}

/// Everything `clipguard detect` needs.
public struct DetectionRequest: Sendable {
    /// A CSV/TSV, a prepared folder, or webdataset shards.
    public var data: String
    /// The output folder: `scores.csv`, `summary.json`, `cache/`, `warmup/`.
    public var output: String
    /// Weights files scoring the pairs; empty: a warm-up model is trained.
    public var models: [String] = []
    /// Model name or config for weights files that carry none.
    public var modelConfig: String?
    /// Detector names (``DetectorRegistry``); by default every registered detector.
    public var detectors: [String] = DetectorRegistry.names
    /// Detector options given (``DetectorOption``); the others keep their defaults.
    public var settings = DetectorSettings()
    /// The attack manifest; by default `manifest.json` beside the data.
    public var manifest: String?
    /// A `classes.json` naming the classes captions are grouped by; by default the one beside the
    /// data, or beside the manifest's clean source data.
    public var classes: String?
    public var csvOptions = CSVOptions()
    public var warmup = WarmupOptions()
    /// Which pairs to drop before writing the rest to ``cleanOutput``.
    public var drop: DropRule?
    /// The column whose ranking or threshold ``drop`` uses: `combined` or a detector column.
    public var dropBy = "combined"
    public var cleanOutput: String?
    public var chunkRows = 8192
    public var batchSize = 256
    public var workers = 2
    public var device = "auto"
    public var seed: UInt64 = 0
    public var quiet = false

    public init(data: String, output: String) { self.data = data; self.output = output }
}

/// The outcome: per-pair scores and, with a manifest, how good they are.
public struct DetectionSummary: Codable, Sendable {
    public var format = "clipguard-detect-1"
    public var data: String
    /// The detectors that ran, with their columns.
    public var detectors: [DetectorEntry]
    public var rows: Int
    /// Rows whose image could not be read (every score NaN, ranked last).
    public var failedRows: Int
    /// Score columns in `scores.csv`, in order (before `combined`).
    public var columns: [String]
    /// Which end of each column (and `combined`) is suspicious.
    public var directions: [String: ScoreDirection]
    /// Each column's (and `combined`'s) label-free threshold and the pairs it flags.
    public var thresholds: [String: ColumnThreshold]
    /// Detector options in effect (given or default; automatic ones left out).
    public var options: [String: Int]
    /// The columns `combined` used (the others looked inverted or blind).
    public var combined: [String]
    /// The caption word the columns agree the campaign carries, without the manifest ("" when no
    /// word stands out; ``ScoreCombination``).
    public var campaignWord: String
    /// Each column's evidence for that word at its suspicious and its other end.
    public var evidence: [String: ColumnEvidence]
    /// Label-free warnings about columns that look inverted or blind.
    public var warnings: [String]
    /// Models that scored the pairs, or the warm-up model's file.
    public var models: [String]
    public var warmup: Bool
    /// How the caption groups of spectral signatures and activation clustering were made (`none`
    /// when no detector used them).
    public var grouping: String
    public var manifest: String?
    /// Per column (and `combined`), with a manifest.
    public var metrics: [String: DetectionMetrics]?
    /// ROC points `[fpr, tpr]` per column, with a manifest.
    public var roc: [String: [[Double]]]?
    /// Score histograms per column: clean and poisoned counts over 30 bins of the scaled rank
    /// (0 = least suspicious), with a manifest.
    public var histograms: [String: [String: [Int]]]?
    /// The cleaned data set, when written.
    public var clean: CleanSummary?
    public var seconds: Double

    /// A detector and its columns.
    public struct DetectorEntry: Codable, Sendable, Equatable {
        public var name: String
        public var displayName: String
        public var columns: [String]

        public init(name: String, displayName: String, columns: [String]) {
            self.name = name; self.displayName = displayName; self.columns = columns
        }
    }

    public struct CleanSummary: Codable, Sendable {
        /// The column and the cut that chose the dropped pairs (`0.05` or `threshold`).
        public var by: String?
        public var cut: String?
        public var path: String
        public var kept: Int
        public var dropped: Int
        public var poisonedDropped: Int?
        public var poisonedKept: Int?
    }
}

/// `clipguard detect`: scores every pair of a data set for how likely it is poisoned.
///
/// Steps: (1) the models — the given checkpoints, or a short SafeCLIP-style warm-up trained here
/// (``warmupModel(data:csvOptions:folder:options:seed:device:workers:rows:)``); (2) the streaming
/// feature pass (``FeaturePass``: features, similarities, caption classes and trigger cells per
/// chunk, cached in `DIR/cache`); (3) the detectors on the cached features; (4) the rank-average
/// combination (``rankAverage(_:)``); (5) `scores.csv`, `summary.json`, metrics against the
/// manifest and, if asked, the cleaned set.
public enum PoisonDetector {
    public static func run(_ request: DetectionRequest) throws -> DetectionSummary {
        let started = Date()
        let progress = DetectionProgress(quiet: request.quiet)
        try validate(request)
        let out = absolute(request.output)
        let dataset = try openDataset(atPath: request.data, csvOptions: request.csvOptions)
        try FileManager.default.createDirectory(atPath: out + "/cache", withIntermediateDirectories: true)
        let n = dataset.count
        guard n >= 2 else { throw DetectionError.data(path: request.data, reason: "has \(n) rows; detection needs at least 2") }

        // Ground truth and class names.
        let manifestPath = request.manifest ?? besideData(request.data, "manifest.json")
        var poisoned: [Int]?
        var manifest: PoisonManifest?
        if let manifestPath {
            let loaded = try PoisonManifest.load(path: manifestPath)
            let rows = Set(loaded.rows.map(\.index)).sorted()
            if let bad = rows.first(where: { !(0..<n).contains($0) }) {
                throw DetectionError.data(path: manifestPath, reason: "poisoned row \(bad) is not a row of \(request.data) (\(n) rows)")
            }
            poisoned = rows
            manifest = loaded
        }
        let classIndex = try classNames(request, manifest: manifest)

        // Models.
        let device = try Device(parsing: request.device)
        var models: [CLIPModel] = []
        var modelNames = request.models
        for path in request.models {
            let model = try loadCLIPModel(weightsPath: path, model: request.modelConfig, device: device)
            if case .cpu = device { model.useChannelsLast() }
            models.append(model)
        }
        if models.isEmpty {
            progress.log("no --model: training a \(request.warmup.unimodalEpochs)+\(request.warmup.clipEpochs)-epoch SafeCLIP-style warm-up (\(request.warmup.model))")
            models = [try warmupModel(data: request.data, csvOptions: request.csvOptions, folder: out + "/warmup",
                                      options: request.warmup, seed: request.seed, device: request.device,
                                      workers: request.workers, rows: n)]
            modelNames = [out + "/warmup/detector.safetensors"]
            progress.log("warm-up done: \(modelNames[0]) (the trainer's \"stopped\" line above is the planned end of the warm-up)")
        }
        if let other = models.first(where: { $0.config.vision.imageSize != models[0].config.vision.imageSize }) {
            throw DetectionError.invalidSetting("every --model must take the same image size (\(models[0].config.vision.imageSize) px and \(other.config.vision.imageSize) px given)")
        }
        let known = try DetectorRegistry.detectors(named: request.detectors).flatMap { $0.columns(models: models.count) } + ["combined"]
        guard known.contains(request.dropBy) else {
            throw DetectionError.invalidSetting("--drop-by \(request.dropBy) is not a column of this run (columns: \(known.joined(separator: ", ")))")
        }
        let tokenizer = try CLIPTokenizer.load()
        var classWeights: Tensor?
        if let classIndex {
            let templates = classIndex.templates.isEmpty ? ["a photo of a {c}."] : classIndex.templates
            classWeights = ZeroShotClassifier(model: models[0], tokenizer: tokenizer, classNames: classIndex.classes, templates: templates).weights
        }
        let scorers = Scorers(models: models, tokenizer: tokenizer, device: device, classWeights: classWeights)

        // Feature pass (resumable).
        try checkCache(folder: out + "/cache", request: request, rows: n, modelNames: modelNames, classes: classIndex?.classes)
        let pass = FeaturePass(dataset: dataset, scorers: scorers, cacheFolder: out + "/cache", chunkRows: request.chunkRows,
                               batchSize: request.batchSize, workers: request.workers, progress: progress)
        let failures = try pass.run()
        if failures.failed > 0 {
            progress.log("\(failures.failed) images could not be read (scored NaN, ranked last), e.g. \(failures.examples.joined(separator: "; "))")
        }

        // Gather the cached features (no images).
        let detectors = try DetectorRegistry.detectors(named: request.detectors)
        let inputs = detectors.reduce(into: Set<DetectorInput>()) { $0.formUnion($1.inputs) }
        var valid = [Bool](repeating: false, count: n)
        var validRows: [Int] = []
        var image: [Float] = [], text: [Float] = []
        var classes: [Int] = []
        var similarity = [[Double]](repeating: [], count: models.count)
        for c in 0..<pass.chunkCount {
            let chunk = try ChunkFeatures.read(path: pass.chunkPath(c), models: models.count, withClasses: classWeights != nil,
                                               dimension: scorers.dimension)
            for (j, row) in chunk.rows.enumerated() {
                guard (0..<n).contains(row), !valid[row] else {
                    throw DetectionError.cache(path: pass.chunkPath(c), reason: "row \(row) is out of range or repeated")
                }
                valid[row] = true
                validRows.append(row)
                for m in 0..<models.count { similarity[m].append(Double(chunk.similarity[m][j])) }
            }
            classes += chunk.classes ?? []
            image += chunk.image
            if inputs.contains(.captionGroups) { text += chunk.text ?? [] }
        }
        guard validRows.count >= 2 else { throw DetectionError.data(path: request.data, reason: "fewer than 2 images could be read") }
        let captions = try (0..<n).map { i throws -> String in try dataset.record(at: i).caption }
        let dimension = scorers.dimension, withClasses = classWeights != nil, modelCount = models.count
        let captionGroups = request.settings.value(CaptionGrouping.groups) ?? 10
        let context = DetectionContext(
            dataRows: validRows, features: FeatureMatrix(dimension: dimension, values: image), similarity: similarity,
            captions: validRows.map { captions[$0] }, seed: request.seed, settings: request.settings,
            log: { [progress] line in progress.log(line) },
            groups: {
                if let classIndex {
                    return (classes, "zero-shot class of the caption among \(classIndex.classes.count) class names")
                }
                let groups = KMeans(FeatureMatrix(dimension: dimension, values: text), k: captionGroups, seed: request.seed &+ 2)
                return (groups.assignments, "k-means of the caption features into \(captionGroups) groups")
            },
            cells: { body in
                for c in 0..<pass.chunkCount {
                    let chunk = try ChunkFeatures.read(path: pass.chunkPath(c), models: modelCount, withClasses: withClasses, dimension: dimension)
                    for j in chunk.rows.indices { body(cells(chunk, j)) }
                }
            })

        // Detectors: each column expanded to every data-set row (NaN for unread images).
        var columns: [(name: String, values: [Double], direction: ScoreDirection, rule: ThresholdRule)] = []
        var entries: [DetectionSummary.DetectorEntry] = []
        for detector in detectors {
            let names = detector.columns(models: models.count)
            let scores = try detector.scores(context, settings: request.settings)
            guard scores.count == names.count, scores.allSatisfy({ $0.count == validRows.count }) else {
                throw DetectionError.invalidSetting("detector \(detector.name) returned \(scores.count) columns for \(names.count) names or a column of the wrong length")
            }
            for (name, values) in zip(names, scores) {
                var full = [Double](repeating: .nan, count: n)
                for (j, row) in validRows.enumerated() { full[row] = values[j] }
                columns.append((name, full, detector.direction, detector.threshold))
            }
            entries.append(.init(name: detector.name, displayName: detector.displayName, columns: names))
        }
        let combination = ScoreCombination(columns: columns.map { ($0.name, $0.direction.suspicion($0.values), $0.rule) }, captions: captions)
        for warning in combination.warnings { progress.log("warning: \(warning)") }
        let combined = combination.scores
        let order = DetectionMetrics.ranking(combined)
        var rank = [Int](repeating: 0, count: n)
        for (position, row) in order.enumerated() { rank[row] = position + 1 }

        // Label-free thresholds.
        var thresholds: [String: ColumnThreshold] = [:], flags: [String: [Bool]] = [:]
        for column in columns {
            let t = ThresholdedColumn(values: column.values, direction: column.direction, rule: column.rule)
            thresholds[column.name] = t.threshold
            flags[column.name] = t.flags
        }
        flags["combined"] = combination.flags
        thresholds["combined"] = ColumnThreshold(rule: ScoreCombination.thresholdTag, value: .nan, direction: .higher,
                                                 flagged: combination.flags.count(where: { $0 }))

        var poisonedFlags: [Bool]?
        if let poisoned {
            var f = [Bool](repeating: false, count: n)
            for row in poisoned { f[row] = true }
            poisonedFlags = f
        }
        try writeScores(path: out + "/scores.csv", dataset: dataset, captions: captions, columns: columns.map { ($0.name, $0.values) },
                        combined: combined, rank: rank, poisoned: poisonedFlags)

        var directions = Dictionary(uniqueKeysWithValues: columns.map { ($0.name, $0.direction) })
        directions["combined"] = .higher
        var options: [String: Int] = [:]
        for detector in detectors { for o in detector.options { if let v = request.settings.value(o) { options[o.name] = v } } }
        var summary = DetectionSummary(
            data: request.data, detectors: entries, rows: n, failedRows: n - validRows.count, columns: columns.map(\.name),
            directions: directions, thresholds: thresholds, options: options, combined: combination.used, campaignWord: combination.campaignWord,
            evidence: combination.evidence,
            warnings: combination.warnings,
            models: modelNames, warmup: request.models.isEmpty, grouping: context.groupingDescription ?? "none",
            manifest: manifestPath, metrics: nil, roc: nil, histograms: nil, clean: nil, seconds: 0)
        if let poisoned, let poisonedFlags {
            var metrics: [String: DetectionMetrics] = [:], roc: [String: [[Double]]] = [:], histograms: [String: [String: [Int]]] = [:]
            for (name, values) in columns.map({ ($0.name, $0.direction.suspicion($0.values)) }) + [("combined", combined)] {
                metrics[name] = DetectionMetrics(scores: values, poisoned: poisoned, flagged: flags[name])
                roc[name] = DetectionMetrics.rocCurve(scores: values, positive: poisonedFlags)
                histograms[name] = rankHistogram(values, positive: poisonedFlags)
            }
            summary.metrics = metrics; summary.roc = roc; summary.histograms = histograms
        }
        if let drop = request.drop, let cleanOutput = request.cleanOutput {
            var dropped = [Bool](repeating: false, count: n)
            switch drop {
            case .fraction(let f):
                let by = request.dropBy == "combined" ? combined
                    : columns.first { $0.name == request.dropBy }.map { $0.direction.suspicion($0.values) }!
                for row in DetectionMetrics.ranking(by).prefix(Int((f * Double(n)).rounded())) { dropped[row] = true }
            case .threshold:
                dropped = flags[request.dropBy]!
            }
            summary.clean = try writeClean(dataset: dataset, data: request.data, folder: cleanOutput, dropped: dropped, poisoned: poisoned)
            summary.clean?.by = request.dropBy
            summary.clean?.cut = drop.description
        }
        summary.seconds = Date().timeIntervalSince(started)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try encoder.encode(summary).write(to: URL(fileURLWithPath: out + "/summary.json"), options: .atomic)
        return summary
    }

    // MARK: Helpers

    private static func cells(_ chunk: ChunkFeatures, _ j: Int) -> [UInt32] {
        let p = TriggerConsistency.positions
        return Array(chunk.cells[(j * p)..<((j + 1) * p)])
    }

    static func validate(_ request: DetectionRequest) throws {
        _ = try DetectorRegistry.detectors(named: request.detectors)
        try request.settings.validate()
        if case .fraction(let f)? = request.drop, !(0..<1).contains(f) {
            throw DetectionError.invalidSetting("--drop must be a fraction in [0, 1) or \"threshold\", got \(f)")
        }
        if (request.drop == nil) != (request.cleanOutput == nil) {
            throw DetectionError.invalidSetting("--drop and --write-clean go together")
        }
        if request.chunkRows < 1 || request.batchSize < 1 { throw DetectionError.invalidSetting("chunk and batch sizes must be positive") }
        if let clean = request.cleanOutput, absolute(clean) == absolute(request.output) {
            throw DetectionError.invalidSetting("--write-clean must differ from --out")
        }
    }

    static func absolute(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let full = expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
        return (full as NSString).standardizingPath
    }

    /// `name` in the data's folder (or inside a data folder), if it exists.
    static func besideData(_ data: String, _ name: String) -> String? { fileBesideData(data, named: name) }

    static func classNames(_ request: DetectionRequest, manifest: PoisonManifest?) throws -> ClassIndex? {
        let path = request.classes ?? besideData(request.data, "classes.json")
            ?? manifest.flatMap { besideData($0.sourceData, "classes.json") }
        guard let path else { return nil }
        let index = try ClassIndex.read(fromPath: path)
        guard index.classes.count >= 2 else { throw DetectionError.data(path: path, reason: "names fewer than 2 classes") }
        return index
    }

    /// Refuses a cache made for other inputs; records this run's inputs in a new one.
    static func checkCache(folder: String, request: DetectionRequest, rows: Int, modelNames: [String], classes: [String]?) throws {
        let fingerprint: [String: String] = [
            "data": absolute(request.data), "rows": String(rows), "models": modelNames.map(absolute).joined(separator: "|"),
            "chunk_rows": String(request.chunkRows), "classes": classes?.joined(separator: "|") ?? "",
            "columns": [request.csvOptions.imageColumn ?? "", request.csvOptions.captionColumn ?? ""].joined(separator: "|"),
        ]
        let path = folder + "/inputs.json"
        if let data = FileManager.default.contents(atPath: path) {
            let stored = (try? JSONDecoder().decode([String: String].self, from: data)) ?? [:]
            if let key = fingerprint.keys.sorted().first(where: { stored[$0] != fingerprint[$0] }) {
                throw DetectionError.cache(path: path, reason: "was made for other inputs (\(key) differs: \(stored[key] ?? "none") vs \(fingerprint[key]!)); use another --out or delete \(folder)")
            }
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(fingerprint).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Clean and poisoned counts over 30 bins of the scaled rank (0 = least suspicious).
    static func rankHistogram(_ values: [Double], positive: [Bool]) -> [String: [Int]] {
        let ranks = DetectionMetrics.averageRanks(values)
        let n = values.count, bins = 30
        var clean = [Int](repeating: 0, count: bins), poisoned = [Int](repeating: 0, count: bins)
        for i in 0..<n where !values[i].isNaN {
            let scaled = n > 1 ? (ranks[i] - 1) / Double(n - 1) : 0
            let bin = min(bins - 1, Int(scaled * Double(bins)))
            if positive[i] { poisoned[bin] += 1 } else { clean[bin] += 1 }
        }
        return ["clean": clean, "poisoned": poisoned]
    }

    /// One CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
    static func field(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    static func number(_ x: Double) -> String { x.isNaN ? "nan" : String(format: "%.6g", x) }

    /// Writes `scores.csv` in blocks (row, path, caption, one column per detector, combined, rank,
    /// and with a manifest `poisoned`: 1 for the manifest's rows, else 0).
    static func writeScores(path: String, dataset: any ImageTextDataset, captions: [String], columns: [(String, [Double])],
                            combined: [Double], rank: [Int], poisoned: [Bool]?) throws {
        let temporary = path + ".partial"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary) else {
            throw DetectionError.data(path: temporary, reason: "cannot be written")
        }
        var text = (["row", "path", "caption"] + columns.map(\.0) + ["combined", "rank"] + (poisoned == nil ? [] : ["poisoned"]))
            .joined(separator: ",") + "\n"
        for row in 0..<captions.count {
            let source = (try? dataset.record(at: row).imageSource) ?? ""
            var fields = [String(row), field(source), field(captions[row])]
            fields += columns.map { number($0.1[row]) }
            fields += [number(combined[row]), String(rank[row])]
            if let poisoned { fields.append(poisoned[row] ? "1" : "0") }
            text += fields.joined(separator: ",") + "\n"
            if text.utf8.count > 1 << 20 { handle.write(Data(text.utf8)); text = "" }
        }
        handle.write(Data(text.utf8))
        try handle.close()
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }

    /// Writes the data without the `dropped` rows: for a CSV, `folder/train.csv` (image paths made
    /// absolute, every other column as it was); for webdataset shards, copies of the shards under
    /// their own names in `folder` without the dropped entries.
    static func writeClean(dataset: any ImageTextDataset, data: String, folder: String, dropped: [Bool],
                           poisoned: [Int]?) throws -> DetectionSummary.CleanSummary {
        let dropCount = dropped.count(where: { $0 })
        let poisonedDropped = poisoned.map { $0.count(where: { dropped[$0] }) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if let shards = dataset as? TarShardDataset {
            let inputs = Set(shards.paths.map(absolute))
            if let clash = shards.paths.first(where: { inputs.contains(absolute(folder) + "/" + ($0 as NSString).lastPathComponent) }) {
                throw DetectionError.invalidSetting("--write-clean would overwrite the input shard \(clash); choose another folder")
            }
            _ = try shards.writeCopy(into: absolute(folder)) { !dropped[$0] }
            return .init(by: nil, cut: nil, path: absolute(folder), kept: dataset.count - dropCount, dropped: dropCount, poisonedDropped: poisonedDropped,
                         poisonedKept: poisonedDropped.map { poisoned!.count - $0 })
        }
        guard let csv = dataset as? CSVDataset else {
            throw DetectionError.invalidSetting("--write-clean needs CSV/TSV data or webdataset shards (\(data) is neither)")
        }
        let path = absolute(folder) + "/train.csv"
        if path == absolute(csv.path) { throw DetectionError.invalidSetting("--write-clean would overwrite the input \(csv.path)") }
        var writer = CSVWriter(header: csv.columnNames)
        for row in 0..<csv.count where !dropped[row] {
            var fields = Array(try csv.fields(at: row).prefix(csv.columnNames.count))
            fields[csv.imageColumnIndex] = absolute(try csv.record(at: row).imageSource)
            writer.append(row: fields)
        }
        try writer.write(toPath: path)
        return .init(by: nil, cut: nil, path: path, kept: csv.count - dropCount, dropped: dropCount, poisonedDropped: poisonedDropped,
                     poisonedKept: poisonedDropped.map { poisoned!.count - $0 })
    }
}

/// The terminal table of a detection summary.
public enum DetectionTable {
    /// One line per score column (and `combined`). Always: the pairs its label-free threshold flags.
    /// With a manifest: AUROC, TPR at 1% FPR, precision/recall at k = the number of poisoned pairs,
    /// and precision/recall/F1 at the label-free threshold. Then the warnings.
    public static func text(_ summary: DetectionSummary) -> String {
        let names = summary.columns + ["combined"]
        var lines: [String] = []
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s.padding(toLength: w, withPad: " ", startingAt: 0) }
        if let metrics = summary.metrics {
            let k = metrics["combined"]?.poisoned ?? 0
            lines.append(pad("column", 22) + pad("AUROC", 7) + pad("TPR@1%FPR", 11) + pad("P/R@\(k)", 13) + pad("flagged", 9) + "P/R/F1 at threshold")
            lines.append(String(repeating: "-", count: 92))
            for name in names {
                guard let m = metrics[name] else { continue }
                var row = pad(name, 22) + pad(m.auroc.map { String(format: "%.3f", $0) } ?? "–", 7)
                row += pad(m.tprAt1FPR.map { String(format: "%.3f", $0) } ?? "–", 11)
                row += pad(m.atK.first.map { String(format: "%.2f / %.2f", $0.precision, $0.recall) } ?? "–", 13)
                row += pad(String(summary.thresholds[name]?.flagged ?? 0), 9)
                row += m.atThreshold.map { String(format: "%.2f / %.2f / %.2f", $0.precision, $0.recall, $0.f1) } ?? "–"
                lines.append(row)
            }
            lines.append("\(k) poisoned of \(summary.rows) pairs (manifest \(summary.manifest ?? "")); \(summary.failedRows) unreadable")
        } else {
            lines.append(pad("column", 22) + "flagged at its label-free threshold")
            for name in names { lines.append(pad(name, 22) + String(summary.thresholds[name]?.flagged ?? 0)) }
            lines.append("\(summary.rows) pairs, \(summary.failedRows) unreadable (no manifest: no metrics)")
        }
        lines += summary.warnings.map { "warning: " + $0 }
        return lines.joined(separator: "\n")
    }
}
