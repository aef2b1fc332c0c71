import ArgumentParser
import Datasets
import Foundation

/// `clipguard data …`: prepare built-in data sets and inspect any data set.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Prepare built-in data sets and inspect data sets.",
        subcommands: [Prepare.self, Inspect.self, Bench.self]
    )

    struct Prepare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a built-in data set as CSV + images (the layout user data sets use).",
            discussion: """
            fashion-mnist: captioned Fashion-MNIST (needs the Debian package dataset-fashion-mnist): \
            train.csv (filepath,caption,label,source_index), eval/ (real test split: labels.csv, classes.json), \
            classes.json.
            openclipart: Open Clip Art titles and keywords (needs openclipart-png and openclipart-svg): \
            train.csv and val.csv (filepath,caption,source).
            """
        )

        enum Name: String, ExpressibleByArgument, CaseIterable {
            case fashionMNIST = "fashion-mnist", openclipart
        }

        @Argument(help: "The built-in set: \(Name.allCases.map(\.rawValue).joined(separator: " or ")).")
        var name: Name

        @Option(help: "The folder to write.")
        var out: String

        @Option(help: "At most this many training rows (a seeded random subset); fashion-mnist: also the evaluation rows unless --eval-limit is given.")
        var limit: Int?

        @Option(help: "At most this many evaluation rows (fashion-mnist; a seeded random subset of the 10,000 test images; default: --limit).")
        var evalLimit: Int?

        @Option(help: "Seed for subsets and captions.")
        var seed: UInt64 = 0

        @Option(help: "Where the source files are (default: the Debian package's folder).")
        var source: String?

        func validate() throws {
            if let limit, limit <= 0 { throw ValidationError("--limit must be positive, got \(limit)") }
            if let evalLimit, evalLimit <= 0 { throw ValidationError("--eval-limit must be positive, got \(evalLimit)") }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw ValidationError("--out \(out) is a file; give a folder to write") }
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
                if !entries.isEmpty {
                    throw ValidationError(
                        "--out \(out) already holds \(entries.count) entries (e.g. \(printable(entries.sorted()[0]))); give a new or empty folder so nothing in it is replaced")
                }
            }
        }

        func run() throws {
            do {
                let summary: PreparedSetSummary
                switch name {
                case .fashionMNIST:
                    summary = try BuiltinSets.prepareFashionMNIST(folder: out, limit: limit, evaluationLimit: evalLimit ?? limit,
                                                                  seed: seed, sourceFolder: source)
                case .openclipart:
                    summary = try BuiltinSets.prepareOpenClipArt(folder: out, limit: limit, seed: seed,
                                                                 root: source ?? BuiltinSets.openClipArtRoot)
                }
                print(summary)
            } catch {
                printError(error)
                throw ExitCode.failure
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count rows, readable images and skipped items; caption length statistics; samples.",
            discussion: "PATH: a .csv/.tsv file, .tar shard or folder of shards, evaluation folder, CIFAR .bin or IDX file."
        )

        @Argument(help: "The data set.")
        var path: String

        @Flag(help: "Print JSON instead of text.")
        var json = false

        @Option(help: "Samples to show.")
        var samples = 5

        @Option(help: "Check only the first N rows.")
        var maxRows: Int?

        @Option(help: "Image-path column (CSV/TSV).")
        var imageColumn: String?

        @Option(help: "Caption column (CSV/TSV).")
        var captionColumn: String?

        @Option(help: "Separator (CSV/TSV): a single character, or \"tab\".")
        var separator: String?

        func validate() throws {
            if let separator, separator != "tab", separator.utf8.count != 1 {
                throw ValidationError("--separator must be one character or \"tab\", got \"\(separator)\"")
            }
            if samples < 0 || samples > 10_000 { throw ValidationError("--samples must be within 0…10000, got \(samples)") }
            if let maxRows, maxRows < 1 { throw ValidationError("--max-rows must be positive, got \(maxRows)") }
        }

        func run() throws {
            let options = CSVOptions(separator: separator.map { $0 == "tab" ? 9 : $0.utf8.first! },
                                     imageColumn: imageColumn, captionColumn: captionColumn)
            do {
                let dataset = try openDataset(atPath: path, csvOptions: options)
                let report = inspectDataset(dataset, sampleCount: samples, maxRows: maxRows)
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                    print(String(decoding: try encoder.encode(report), as: UTF8.self))
                } else {
                    print(report.text)
                }
            } catch {
                printError(error)
                throw ExitCode.failure
            }
        }
    }
}

extension DataCommand {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure the loader's throughput (images per second) on a data set."
        )

        @Argument(help: "The data set (as for `data inspect`).")
        var path: String

        @Option(help: "Batch size.")
        var batchSize = 256

        @Option(help: "Decoding threads.")
        var workers = 2

        @Option(help: "Batches decoded ahead.")
        var prefetch = 4

        @Option(help: "Output image side (resize + centre crop).")
        var size = 32

        @Option(help: "Epochs to run.")
        var epochs = 1

        func run() throws {
            do {
                let dataset = try openDataset(atPath: path)
                let config = LoaderConfig(batchSize: batchSize, seed: 0, workers: workers, prefetch: prefetch,
                                          maxFailureFraction: 1, preprocessing: .resizeCenterCrop(size: size))
                let loader = try DataLoader(dataset: dataset, config: config)
                for epoch in 0..<epochs {
                    let start = ContinuousClock.now
                    let iterator = loader.epoch(epoch)
                    var images = 0
                    while let batch = try iterator.next() { images += batch.count }
                    let elapsed = ContinuousClock.now - start
                    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                    print(String(format: "epoch %d: %d images in %.2f s, %.0f images/s (%d workers)",
                                 epoch, images, seconds, Double(images) / seconds, workers))
                    print(iterator.report)
                }
            } catch {
                printError(error)
                throw ExitCode.failure
            }
        }
    }
}

/// Prints `error: …` on standard error.
private func printError(_ error: any Error) {
    FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
}
