import ArgumentParser
import Datasets
import Detection
import Foundation
import Training

/// `clipguard detect …`: score every pair of a data set for how likely it is poisoned.
struct Detect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score every pair of a data set for how likely it is poisoned; measure the scores against a manifest.",
        discussion: """
            Writes DIR/scores.csv (row, path, caption, one column per detector, combined, rank; rank 1 = most \
            suspicious; with a manifest a poisoned column) and DIR/summary.json. Detectors score in the \
            features of each --model, or of a short SafeCLIP-style warm-up trained here when no model is given. \
            Each column has a label-free threshold (robust z-score > 3.5). combined sums, over the columns whose \
            most suspicious pairs carry the caption word the columns agree on (a campaign's target), the positive \
            part of each column's robust z-score in units of its own cut; columns that look inverted or blind are \
            left out and named in a warning.

            With a manifest (--manifest, or manifest.json beside the data as `clipguard poison` writes it) the \
            command prints AUROC, TPR at 1% FPR, precision/recall at k = the number of poisoned pairs and \
            precision/recall/F1 at each column's label-free threshold. Features are cached per chunk in \
            DIR/cache: a stopped run continues where it stopped when started again with the same arguments.

            \(DetectorRegistry.helpText)

            Examples:
              clipguard detect --data fm-poison/train.csv --out detect/fm
              clipguard detect --data fm-poison/train.csv --out detect/fm --model runs/clean/model.safetensors \\
                --detectors similarity,dao --neighbours 64 --drop threshold --drop-by dao --write-clean fm-clean
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
    @Option(help: "Detectors, comma-separated: \(DetectorRegistry.names.joined(separator: ",")).")
    var detectors: String = DetectorRegistry.names.joined(separator: ",")
    @Option(help: "The attack manifest (default: manifest.json beside the data).")
    var manifest: String?
    @Option(help: "classes.json with the class names captions are grouped by (default: beside the data or the manifest's source).")
    var classes: String?
    @Option(help: "Drop pairs before --write-clean: a fraction F of the top-ranked pairs of --drop-by, or 'threshold' (the pairs its label-free threshold flags).")
    var drop: String?
    @Option(name: .customLong("drop-top"), help: "The same as --drop F (kept for older commands).")
    var dropTop: Double?
    @Option(name: .customLong("drop-by"), help: "The column --drop uses: combined or any detector column (cosine, dao, trigger, …).")
    var dropBy = "combined"
    @Option(name: .customLong("write-clean"), help: "Write the remaining pairs to DIR/train.csv (CSV data) or shards in DIR.")
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
    /// The detectors' own options (`--neighbours 64`, `--clusters 20`, …; see the discussion).
    @Argument(parsing: .allUnrecognized, help: .hidden) var detectorOptions: [String] = []

    func parsedDetectors() throws -> [String] {
        let names = detectors.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        do { _ = try DetectorRegistry.detectors(named: names) } catch { throw ValidationError("\(error)") }
        return names
    }

    func parsedDrop() throws -> DropRule? {
        if drop != nil && dropTop != nil { throw ValidationError("give --drop or --drop-top, not both") }
        do {
            if let drop { return try DropRule(parsing: drop) }
            if let dropTop { return try DropRule(parsing: String(dropTop), source: "--drop-top") }
        } catch { throw ValidationError("\(error)") }
        return nil
    }

    func parsedSettings() throws -> DetectorSettings {
        do { return try DetectorSettings.parse(arguments: detectorOptions) } catch { throw ValidationError("\(error)") }
    }

    func validate() throws {
        _ = try parsedDetectors()
        _ = try parsedSettings()
        if (try parsedDrop() == nil) != (writeClean == nil) { throw ValidationError("--drop (or --drop-top) and --write-clean go together") }
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
        request.settings = try parsedSettings()
        request.manifest = manifest
        request.classes = classes
        request.drop = try parsedDrop()
        request.dropBy = dropBy
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
                var line = "wrote \(clean.path): kept \(clean.kept), dropped \(clean.dropped) (--drop \(clean.cut ?? "") by \(clean.by ?? "combined"))"
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
