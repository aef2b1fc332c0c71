import Attacks
import CLIP
import Datasets
import Evaluation
import Foundation
import Torch
import Training

/// The detectors of `clipguard detect`.
public enum DetectorKind: String, CaseIterable, Sendable, Codable {
    /// Image–caption cosine similarity under each model (low = suspicious).
    case similarity
    /// Caption words out of place in their visual cluster (``CaptionStatistics``).
    case captions
    /// Spectral signatures within caption-class groups (``SpectralDetectors``).
    case spectral
    /// Activation clustering within caption-class groups (``SpectralDetectors``).
    case clustering = "activation-clustering"
    /// Exactly repeated cells at the same place (``TriggerConsistency``).
    case trigger
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
    public var detectors: [DetectorKind] = DetectorKind.allCases
    /// The attack manifest; by default `manifest.json` beside the data.
    public var manifest: String?
    /// A `classes.json` naming the classes captions are grouped by; by default the one beside the
    /// data, or beside the manifest's clean source data.
    public var classes: String?
    public var csvOptions = CSVOptions()
    /// k of the visual clustering behind caption statistics (default: N/100 within 2…50).
    public var clusters: Int?
    /// Caption groups when no class names are known (k-means on caption features).
    public var captionGroups = 10
    public var warmup = WarmupOptions()
    /// Drop this fraction of the top-scored pairs and write the rest to ``cleanOutput``.
    public var dropTop: Double?
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
    public var rows: Int
    /// Rows whose image could not be read (every score NaN, ranked last).
    public var failedRows: Int
    /// Score columns in `scores.csv`, in order (before `combined`).
    public var columns: [String]
    /// Models that scored the pairs, or the warm-up model's file.
    public var models: [String]
    public var warmup: Bool
    /// How spectral signatures and activation clustering grouped the pairs.
    public var grouping: String
    public var clusters: Int
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

    public struct CleanSummary: Codable, Sendable {
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
            progress.log("warm-up done: \(modelNames[0])")
        }
        if let other = models.first(where: { $0.config.vision.imageSize != models[0].config.vision.imageSize }) {
            throw DetectionError.invalidSetting("every --model must take the same image size (\(models[0].config.vision.imageSize) px and \(other.config.vision.imageSize) px given)")
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
        var valid = [Bool](repeating: false, count: n)
        var validRows: [Int] = []
        var image: [Float] = [], text: [Float] = []
        var classes = [Int](repeating: -1, count: n)
        var similarity = [[Double]](repeating: [Double](repeating: .nan, count: n), count: models.count)
        for c in 0..<pass.chunkCount {
            let chunk = try ChunkFeatures.read(path: pass.chunkPath(c), models: models.count, withClasses: classWeights != nil,
                                               dimension: scorers.dimension)
            for (j, row) in chunk.rows.enumerated() {
                guard (0..<n).contains(row), !valid[row] else {
                    throw DetectionError.cache(path: pass.chunkPath(c), reason: "row \(row) is out of range or repeated")
                }
                valid[row] = true
                validRows.append(row)
                for m in 0..<models.count { similarity[m][row] = Double(chunk.similarity[m][j]) }
                if let chunkClasses = chunk.classes { classes[row] = chunkClasses[j] }
            }
            image += chunk.image
            text += chunk.text ?? []
        }
        guard validRows.count >= 2 else { throw DetectionError.data(path: request.data, reason: "fewer than 2 images could be read") }
        let features = FeatureMatrix(dimension: scorers.dimension, values: image)
        let captions = try (0..<n).map { i throws -> String in try dataset.record(at: i).caption }

        // Detectors.
        var columns: [(String, [Double])] = []
        let chosen = Set(request.detectors)
        if chosen.contains(.similarity) {
            for m in 0..<models.count { columns.append((m == 0 ? "similarity" : "similarity_\(m + 1)", similarity[m].map { -$0 })) }
        }
        let k = request.clusters ?? min(50, max(2, validRows.count / 100))
        if chosen.contains(.captions) {
            progress.log("caption statistics: k-means of the image features into \(k) clusters")
            let visual = KMeans(features, k: k, seed: request.seed &+ 1)
            var clusterOf = [Int](repeating: -1, count: n)
            for (j, row) in validRows.enumerated() { clusterOf[row] = visual.assignments[j] }
            columns.append(("captions", CaptionStatistics.scores(captions: captions, clusters: clusterOf, clusterCount: visual.centroids.rows)))
        }
        var grouping = classIndex.map { "zero-shot class of the caption among \($0.classes.count) class names" }
            ?? "k-means of the caption features into \(request.captionGroups) groups"
        if chosen.contains(.spectral) || chosen.contains(.clustering) {
            var groups = [Int](repeating: -1, count: n)
            if classWeights != nil {
                for row in validRows { groups[row] = classes[row] }
            } else {
                let textGroups = KMeans(FeatureMatrix(dimension: scorers.dimension, values: text), k: request.captionGroups, seed: request.seed &+ 2)
                for (j, row) in validRows.enumerated() { groups[row] = textGroups.assignments[j] }
            }
            var compactGroups = [Int](repeating: -1, count: validRows.count)
            for (j, row) in validRows.enumerated() { compactGroups[j] = groups[row] }
            let (spectral, clustering) = SpectralDetectors.scores(features: features, groups: compactGroups, seed: request.seed &+ 3)
            func expand(_ values: [Double]) -> [Double] {
                var out = [Double](repeating: .nan, count: n)
                for (j, row) in validRows.enumerated() { out[row] = values[j] }
                return out
            }
            if chosen.contains(.spectral) { columns.append(("spectral", expand(spectral))) }
            if chosen.contains(.clustering) { columns.append(("activation-clustering", expand(clustering))) }
        } else {
            grouping = "none"
        }
        if chosen.contains(.trigger) {
            var counter = TriggerConsistency()
            for c in 0..<pass.chunkCount {
                let chunk = try ChunkFeatures.read(path: pass.chunkPath(c), models: models.count, withClasses: classWeights != nil, dimension: scorers.dimension)
                for j in chunk.rows.indices { counter.add(cells(chunk, j)) }
            }
            var scores = [Double](repeating: .nan, count: n)
            for c in 0..<pass.chunkCount {
                let chunk = try ChunkFeatures.read(path: pass.chunkPath(c), models: models.count, withClasses: classWeights != nil, dimension: scorers.dimension)
                for (j, row) in chunk.rows.enumerated() { scores[row] = counter.score(cells(chunk, j)) }
            }
            columns.append(("trigger", scores))
        }
        for j in columns.indices { for row in 0..<n where !valid[row] { columns[j].1[row] = .nan } }
        var combined = rankAverage(columns.map(\.1))
        for row in 0..<n where !valid[row] { combined[row] = .nan }
        let order = DetectionMetrics.ranking(combined)
        var rank = [Int](repeating: 0, count: n)
        for (position, row) in order.enumerated() { rank[row] = position + 1 }

        try writeScores(
            path: out + "/scores.csv", dataset: dataset, captions: captions, columns: columns, combined: combined, rank: rank,
            poisoned: poisoned.map { Set($0) })

        var summary = DetectionSummary(
            data: request.data, rows: n, failedRows: n - validRows.count, columns: columns.map(\.0), models: modelNames,
            warmup: request.models.isEmpty, grouping: grouping, clusters: k, manifest: manifestPath, metrics: nil, roc: nil,
            histograms: nil, clean: nil, seconds: 0)
        if let poisoned {
            var flags = [Bool](repeating: false, count: n)
            for row in poisoned { flags[row] = true }
            var metrics: [String: DetectionMetrics] = [:], roc: [String: [[Double]]] = [:], histograms: [String: [String: [Int]]] = [:]
            for (name, values) in columns + [("combined", combined)] {
                metrics[name] = DetectionMetrics(scores: values, poisoned: poisoned)
                roc[name] = DetectionMetrics.rocCurve(scores: values, positive: flags)
                histograms[name] = rankHistogram(values, positive: flags)
            }
            summary.metrics = metrics; summary.roc = roc; summary.histograms = histograms
        }
        if let fraction = request.dropTop, let cleanOutput = request.cleanOutput {
            summary.clean = try writeClean(dataset: dataset, data: request.data, folder: cleanOutput, order: order,
                                           dropCount: Int((fraction * Double(n)).rounded()), poisoned: poisoned)
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
        if request.detectors.isEmpty { throw DetectionError.invalidSetting("--detectors names no detector") }
        if let f = request.dropTop, !(0..<1).contains(f) { throw DetectionError.invalidSetting("--drop-top must be in [0, 1), got \(f)") }
        if (request.dropTop == nil) != (request.cleanOutput == nil) {
            throw DetectionError.invalidSetting("--drop-top and --write-clean go together")
        }
        if request.chunkRows < 1 || request.batchSize < 1 { throw DetectionError.invalidSetting("chunk and batch sizes must be positive") }
        if let k = request.clusters, k < 2 { throw DetectionError.invalidSetting("--clusters must be at least 2, got \(k)") }
        if request.captionGroups < 2 { throw DetectionError.invalidSetting("--caption-groups must be at least 2") }
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
    /// and — with a manifest — `poisoned`: 1 for the manifest's rows, 0 otherwise).
    static func writeScores(path: String, dataset: any ImageTextDataset, captions: [String], columns: [(String, [Double])],
                            combined: [Double], rank: [Int], poisoned: Set<Int>? = nil) throws {
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
            if let poisoned { fields.append(poisoned.contains(row) ? "1" : "0") }
            text += fields.joined(separator: ",") + "\n"
            if text.utf8.count > 1 << 20 { handle.write(Data(text.utf8)); text = "" }
        }
        handle.write(Data(text.utf8))
        try handle.close()
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }

    /// Writes the data without the `dropCount` top-ranked rows: for a CSV, `folder/train.csv`
    /// (image paths made absolute, every other column as it was); for webdataset shards, copies of
    /// the shards under their own names in `folder` without the dropped entries.
    static func writeClean(dataset: any ImageTextDataset, data: String, folder: String, order: [Int], dropCount: Int,
                           poisoned: [Int]?) throws -> DetectionSummary.CleanSummary {
        var dropped = [Bool](repeating: false, count: dataset.count)
        for row in order.prefix(dropCount) { dropped[row] = true }
        let poisonedDropped = poisoned.map { $0.count(where: { dropped[$0] }) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        if let shards = dataset as? TarShardDataset {
            let inputs = Set(shards.paths.map(absolute))
            if let clash = shards.paths.first(where: { inputs.contains(absolute(folder) + "/" + ($0 as NSString).lastPathComponent) }) {
                throw DetectionError.invalidSetting("--write-clean would overwrite the input shard \(clash); choose another folder")
            }
            _ = try shards.writeCopy(into: absolute(folder)) { !dropped[$0] }
            return .init(path: absolute(folder), kept: dataset.count - dropCount, dropped: dropCount, poisonedDropped: poisonedDropped,
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
        return .init(path: path, kept: csv.count - dropCount, dropped: dropCount, poisonedDropped: poisonedDropped,
                     poisonedKept: poisonedDropped.map { poisoned!.count - $0 })
    }
}

/// The terminal table of a detection summary.
public enum DetectionTable {
    /// One line per score column: AUROC and precision/recall at each cut; without a manifest, the
    /// columns and the number of pairs.
    public static func text(_ summary: DetectionSummary) -> String {
        guard let metrics = summary.metrics else {
            return "scored \(summary.rows) pairs with \(summary.columns.joined(separator: ", ")) (no manifest: no metrics)"
        }
        let names = summary.columns + ["combined"]
        let cuts = metrics["combined"]?.atK ?? []
        var header = ["detector".padding(toLength: 22, withPad: " ", startingAt: 0), "AUROC "]
        header += cuts.map { "P/R@\($0.k) (\($0.label))".padding(toLength: 22, withPad: " ", startingAt: 0) }
        var lines = [header.joined(separator: "  ")]
        lines.append(String(repeating: "-", count: lines[0].count))
        for name in names {
            guard let m = metrics[name] else { continue }
            var row = [name.padding(toLength: 22, withPad: " ", startingAt: 0), m.auroc.map { String(format: "%.3f ", $0) } ?? "  –   "]
            row += m.atK.map { String(format: "%.2f / %.2f", $0.precision, $0.recall).padding(toLength: 22, withPad: " ", startingAt: 0) }
            lines.append(row.joined(separator: "  "))
        }
        let first = metrics.values.first
        lines.append("\(first?.poisoned ?? 0) poisoned of \(summary.rows) pairs (manifest \(summary.manifest ?? "")); \(summary.failedRows) unreadable")
        return lines.joined(separator: "\n")
    }
}
