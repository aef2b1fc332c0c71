import ArgumentParser
import Datasets
import Detection
import Foundation
import Training

extension DetectorKind: ExpressibleByArgument {}

/// `clipguard detect …`: score every pair of a data set for how likely it is poisoned.
struct Detect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score every pair of a data set for how likely it is poisoned; measure the scores against a manifest.",
        discussion: """
            Writes DIR/scores.csv (row, path, caption, one column per detector, combined, rank; rank 1 = most \
            suspicious; with a manifest also poisoned = 1/0; the similarity column holds the NEGATED image–caption \
            cosine, higher = more suspicious, as every column) and DIR/summary.json. Detectors: similarity (image–caption cosine under each --model, or \
            under a short SafeCLIP-style warm-up trained here when no model is given), captions (words out of place \
            in their visual cluster), spectral and activation-clustering (within groups of captions claiming the same \
            class), trigger (small regions repeated exactly at the same place). combined = the mean of the \
            detectors' ranks scaled to [0, 1].

            With a manifest (--manifest, or manifest.json beside the data as `clipguard poison` writes it) the \
            command prints AUROC and precision/recall at k per detector. Features are cached per chunk in \
            DIR/cache: a stopped run continues where it stopped when started again with the same arguments.

            Examples:
              clipguard detect --data fm-poison/train.csv --out detect/fm
              clipguard detect --data fm-poison/train.csv --out detect/fm --model runs/clean/model.safetensors \\
                --detectors similarity,captions --drop-top 0.05 --write-clean fm-clean
            """
    )

    @Option(help: "The data: a CSV/TSV (image path + caption columns), a prepared folder, or webdataset shards.")
    var data: String
    @Option(help: "The output folder.")
    var out: String
    @Option(name: .customLong("model"), help: "A weights file to score with (repeatable); none: train a warm-up model.")
    var models: [String] = []
    @Option(name: .customLong("model-config"), help: "Model name or config JSON for weights files that carry none.")
    var modelConfig: String?
    @Option(help: "Detectors, comma-separated: \(DetectorKind.allCases.map(\.rawValue).joined(separator: ",")).")
    var detectors: String = DetectorKind.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "The attack manifest (default: manifest.json beside the data).")
    var manifest: String?
    @Option(help: "classes.json with the class names captions are grouped by (default: beside the data or the manifest's source).")
    var classes: String?
    @Option(help: "Clusters of the image features for caption statistics (default N/100 within 2…50).")
    var clusters: Int?
    @Option(name: .customLong("caption-groups"), help: "Caption groups (k-means) when no class names are known.")
    var captionGroups = 10
    @Option(name: .customLong("drop-top"), help: "Drop this fraction of the top-scored pairs (with --write-clean).")
    var dropTop: Double?
    @Option(name: .customLong("write-clean"), help: "Write the remaining pairs to DIR/train.csv (CSV data only).")
    var writeClean: String?
    @Option(name: .customLong("image-column"), help: "Image path column (default: found by name).")
    var imageColumn: String?
    @Option(name: .customLong("caption-column"), help: "Caption column (default: found by name).")
    var captionColumn: String?
    @Option(name: .customLong("warmup-model"), help: "Model of the warm-up (when no --model is given).")
    var warmupModel = "micro-vit"
    @Option(name: .customLong("warmup-epochs"), help: "Unimodal warm-up epochs (SafeCLIP phase 1).")
    var warmupEpochs = 5
    @Option(name: .customLong("warmup-clip-epochs"), help: "CLIP epochs after the unimodal warm-up (SafeCLIP phase 2).")
    var warmupClipEpochs = 2
    @Option(name: .customLong("warmup-lr"), help: "Learning rate of the warm-up (both phases).")
    var warmupLR = 1e-3
    @Option(name: .customLong("warmup-batch-size"), help: "Batch size of the warm-up.")
    var warmupBatchSize = 64
    @Option(name: .customLong("batch-size"), help: "Images per forward pass of the feature pass.")
    var batchSize = 256
    @Option(name: .customLong("chunk-rows"), help: "Rows per cached feature chunk.")
    var chunkRows = 8192
    @Option(help: "Image decoding threads.") var workers = 2
    @Option(help: "cpu, cuda, cuda:N or auto.") var device = "auto"
    @Option(help: "Seed of the warm-up and the clusterings.") var seed: UInt64 = 0
    @Flag(help: "Print only the summary.") var quiet = false
    @OptionGroup var threads: ThreadsOption

    func parsedDetectors() throws -> [DetectorKind] {
        try detectors.split(separator: ",").map { name in
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let kind = DetectorKind(rawValue: trimmed) else {
                throw ValidationError("--detectors: unknown detector \"\(trimmed)\" (known: \(DetectorKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return kind
        }
    }

    func validate() throws {
        _ = try parsedDetectors()
        if (dropTop == nil) != (writeClean == nil) { throw ValidationError("--drop-top and --write-clean go together") }
        if let dropTop, !(0..<1).contains(dropTop) { throw ValidationError("--drop-top must be in [0, 1)") }
        if warmupEpochs < 0 || warmupClipEpochs < 0 || warmupBatchSize < 2 || !(warmupLR > 0) {
            throw ValidationError("warm-up settings: epochs ≥ 0, batch size ≥ 2, learning rate > 0")
        }
    }

    func run() throws {
        threads.apply()
        var request = DetectionRequest(data: data, output: out)
        request.models = models
        request.modelConfig = modelConfig
        request.detectors = try parsedDetectors()
        request.manifest = manifest
        request.classes = classes
        request.clusters = clusters
        request.captionGroups = captionGroups
        request.dropTop = dropTop
        request.cleanOutput = writeClean
        request.csvOptions = CSVOptions(imageColumn: imageColumn, captionColumn: captionColumn)
        request.warmup.model = warmupModel
        request.warmup.unimodalEpochs = warmupEpochs
        request.warmup.clipEpochs = warmupClipEpochs
        request.warmup.lr = warmupLR
        request.warmup.clipLR = warmupLR
        request.warmup.batchSize = warmupBatchSize
        request.batchSize = batchSize
        request.chunkRows = chunkRows
        request.workers = workers
        request.device = device
        request.seed = seed
        request.quiet = quiet
        var console: ConsoleLog?
        defer { console?.finish() }
        do {
            _ = try RunFolderGuard.check(out, kind: .detection)
            console = ConsoleLog.start(folder: out)
            let summary = try PoisonDetector.run(request)
            print(DetectionTable.text(summary))
            if let clean = summary.clean {
                var line = "wrote \(clean.path): kept \(clean.kept), dropped \(clean.dropped)"
                if let hit = clean.poisonedDropped, let left = clean.poisonedKept { line += " (\(hit) poisoned dropped, \(left) kept)" }
                print(line)
            }
            let warnings = DetectWarnings.warnings(summary)
            try DetectWarnings.record(warnings, inSummary: out + "/summary.json")
            print("wrote \(out)/scores.csv and \(out)/summary.json (\(String(format: "%.1f", summary.seconds)) s)")
            if !warnings.isEmpty { print(ResultWarnings.text(warnings)) }
        } catch {
            FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
            throw ExitCode.failure
        }
    }
}
