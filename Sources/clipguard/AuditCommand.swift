import ArgumentParser
import Attacks
import CLIP
import Datasets
import Detection
import Foundation
import Torch
import Training

/// `clipguard audit`: DECREE's label-free audit of an image encoder.
struct Audit: ParsableCommand {
    /// The PL1 below which the verdict is "backdoored": below the smallest PL1 of the five clean
    /// micro-vit encoders measured with the defaults (5.54 %; README, "Encoder audit"), so that none
    /// of them is flagged. It does not separate the patch-poisoned ones there (see the README).
    static let defaultThreshold = 0.05

    static let configuration = CommandConfiguration(
        abstract: "Audit an encoder for a backdoor without labels (DECREE): the smallest trigger that collapses its image embeddings.",
        discussion: """
            Inverts a mask m and pattern p such that the encoder maps (1 − m)·x + m·p of every image x in --images \
            to nearly one direction (mean pairwise cosine similarity ≥ --success-threshold), with an L1 penalty on \
            m whose weight adapts as in DECREE (Feng et al., CVPR 2023). A backdoored encoder already has such a \
            trigger, so its mask is small. Reports PL1 = ‖m‖₁ / (H·W), the share of the image the trigger needs \
            (1 when no trigger reached the threshold), and the verdict PL1 < --threshold. --out writes \
            mask.png, trigger.png (m·p), pattern.png and audit.json per encoder.

            Examples:
              clipguard audit --checkpoint runs/fm/model.safetensors --images data/fm/eval/images --out audit/fm
              clipguard audit --checkpoint a.safetensors --checkpoint b.safetensors --images imgs --json
            """
    )

    @Option(help: "Weights to audit (repeatable): a run's model.safetensors or checkpoint, or an open_clip state_dict.")
    var checkpoint: [String] = []
    @Option(help: "Model name or config JSON (needed when the weights file carries no config).")
    var model: String?
    @Option(help: "A folder of unlabelled PNG/JPEG images (searched recursively).")
    var images: String
    @Option(help: "Use a seeded sample of at most this many images.")
    var limit = 256
    @Option(help: "Output folder for the trigger PNGs and audit.json (a subfolder per encoder when several).")
    var out: String?
    @Option(help: "Verdict threshold on PL1: smaller means backdoored.")
    var threshold = Audit.defaultThreshold
    @Option(name: .customLong("success-threshold"), help: "Mean pairwise cosine similarity a trigger must reach.")
    var successThreshold = 0.99
    @Option(name: .customLong("max-epochs"), help: "Passes over the images at most.")
    var maxEpochs = 1000
    @Option(name: .customLong("batch-size"), help: "Images per optimisation step.")
    var batchSize = 128
    @Option(name: .customLong("early-stop-patience"), help: "Stop once the smallest successful mask has not shrunk for more than this many steps (and the last pass stayed above the threshold).")
    var earlyStopPatience = 10
    @Option(name: .customLong("trigger-from"), help: "A poisoning manifest: also report the self-similarity of the images with its (real) trigger, for comparison.")
    var triggerFrom: String?
    @Flag(help: "Invert a grey pattern (the same value in R, G and B) for encoders trained on grey images.")
    var gray = false
    @Option(name: .customLong("mask-cell"), help: "Side in pixels of the square cells the mask and pattern are made of (1: one value per pixel, DECREE). With k > 1 they are optimised on an ⌈H/k⌉ × ⌈W/k⌉ grid and nearest-upsampled, so the trigger cannot be a scatter of single pixels.")
    var maskCell = 1
    @Option(name: .customLong("square-scan"), help: "Also paste a uniform square of this side (pixels) in 11 colours at every position on a grid of half its side, and report the highest self-cos (0: no scan).")
    var squareScan = 0
    @Option(name: .customLong("scan-sides"), help: "Comma-separated sides (pixels, at least 3, e.g. 4,5,6,7,8,10,12): run the square scan at each and judge the encoder by the spike of its response — the best square's self-cos over the 5th best at the side with the highest self-cos, as a robust z-score against the other sides' (backdoored when z > 3.5). Presumes a uniform square trigger.")
    var scanSides: String?
    @Option(help: "Adam's learning rate on the mask and pattern logits (DECREE: 0.5).")
    var lr = 0.5
    @Option(help: "Seed of the initialisation, the image sample and order.")
    var seed: UInt64 = 0
    @OptionGroup var threads: ThreadsOption
    @Option(help: "cpu, cuda, cuda:N or auto.")
    var device = "cpu"
    @Flag(help: "Replace an existing audit.json in --out.")
    var force = false
    @Flag(help: "Print one JSON object.")
    var json = false
    @Flag(help: "No progress display.")
    var quiet = false

    func validate() throws {
        if checkpoint.isEmpty { throw ValidationError("give --checkpoint (the encoder to audit)") }
        try checkRange(limit, 2...100_000, option: "--limit")
        try checkRange(maxEpochs, 1...1_000_000, option: "--max-epochs")
        try checkRange(batchSize, 2...65_536, option: "--batch-size")
        try checkRange(earlyStopPatience, 0...10_000_000, option: "--early-stop-patience")
        try checkRange(maskCell, 1...4096, option: "--mask-cell")
        try checkRange(squareScan, 0...4096, option: "--square-scan")
        _ = try parsedScanSides()
        if !(threshold > 0 && threshold <= 1) { throw ValidationError("--threshold must be within (0, 1], got \(threshold)") }
        if !(successThreshold > 0 && successThreshold < 1) {
            throw ValidationError("--success-threshold must be within (0, 1), got \(successThreshold)")
        }
        if !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
    }

    func run() throws {
        try reportingErrors { try audit() }
    }

    /// `--scan-sides` as sides, in the order given; empty when not given.
    func parsedScanSides() throws -> [Int] {
        guard let scanSides else { return [] }
        let parts = scanSides.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let sides = try parts.map { part -> Int in
            guard let side = Int(part), (1...4096).contains(side) else {
                throw ValidationError("--scan-sides: '\(part)' is not a side in pixels (a whole number within 1...4096); give e.g. 4,5,6,7,8,10,12")
            }
            return side
        }
        if Set(sides).count != sides.count { throw ValidationError("--scan-sides lists a side twice: \(scanSides)") }
        if sides.count < 3 { throw ValidationError("--scan-sides needs at least 3 sides to judge a spike against the others, got \(sides.count)") }
        return sides
    }

    private func outputFolder(_ index: Int) -> String? {
        guard let out else { return nil }
        if checkpoint.count == 1 { return out }
        let name = ((checkpoint[index] as NSString).lastPathComponent as NSString).deletingPathExtension
        return (out as NSString).appendingPathComponent(String(format: "%02d-%@", index + 1, name))
    }

    private func audit() throws {
        threads.apply()
        let device = try Device(parsing: device)
        let sides = try parsedScanSides()
        for index in checkpoint.indices {
            if let folder = outputFolder(index), !force,
                FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("audit.json"))
            {
                throw ValidationError("--out \(folder) already holds an audit (audit.json); pass --force to replace it, or choose another folder")
            }
        }
        let files = try AuditImageSet.listFiles(in: images)
        let manifest = try triggerFrom.map { path in
            let manifest = try PoisonManifest.load(path: path)
            if manifest.trigger == nil { throw ValidationError("--trigger-from \(path) is a \(manifest.mode.rawValue) manifest; it has no image trigger to apply") }
            return manifest
        }
        var options = EncoderAuditOptions()
        options.successThreshold = successThreshold
        options.maxEpochs = maxEpochs
        options.batchSize = batchSize
        options.learningRate = lr
        options.earlyStopPatience = earlyStopPatience
        options.grayPattern = gray
        options.seed = seed
        options.maskCell = maskCell

        var reports: [[String: Any]] = []
        var rows: [[String]] = []
        var imageCount = 0, skipped = 0
        for (index, path) in checkpoint.enumerated() {
            let clip = try loadCLIPModel(weightsPath: path, model: model, device: device)
            let size = clip.config.vision.imageSize
            // Sizes beyond the encoder's images are refused before any work on this encoder.
            for (option, value) in [("--mask-cell", maskCell), ("--square-scan", squareScan)] + sides.map({ ("--scan-sides", $0) }) where value > size {
                throw ValidationError("\(option) \(value) is larger than the encoder's \(size)-pixel images (\(path)); use at most \(size)")
            }
            let set = try AuditImageSet.read(files: files, limit: limit, size: size, seed: seed)
            imageCount = set.images.count
            skipped = set.skipped.count
            if set.images.count < 2 { throw ValidationError("--images \(images): the audit needs at least 2 readable images") }
            let pixels = set.tensor().to(device)
            let reporter = ProgressReporter(logEvery: 50, quiet: quiet || json)
            let started = Date()
            let stepsPerEpoch = (set.images.count + min(batchSize, set.images.count) - 1) / min(batchSize, set.images.count)
            let result = try EncoderAudit.run(images: pixels, options: options, encode: { clip.encodeImage(clipNormalized($0)) }) { s in
                reporter.update(
                    ProgressReporter.Step(
                        epoch: 0, epochs: 1, stepInEpoch: s.step, stepsPerEpoch: maxEpochs * stepsPerEpoch,
                        globalStep: s.step, totalSteps: maxEpochs * stepsPerEpoch,
                        loss: s.loss, pairsPerSecond: Double(s.step * min(batchSize, set.images.count)) / max(1e-9, Date().timeIntervalSince(started)),
                        learningRate: s.learningRate, phase: String(format: "audit %d/%d, PL1 %@", index + 1, checkpoint.count, s.bestPL1.map { String(format: "%.3f", $0) } ?? "–")),
                    stepsThisSession: s.step, secondsThisSession: Date().timeIntervalSince(started))
            }
            reporter.finish()
            // The self-similarity of the clean images, and of the images with the real trigger.
            func similarity(_ x: Tensor) -> Double {
                inferenceMode { EncoderAudit.selfSimilarity(clip.encodeImage(clipNormalized(x)).to(.float32)).item() }
            }
            let cleanSimilarity = similarity(pixels)
            let triggeredSimilarity = try manifest.map { manifest in
                let geometry = ModelGeometry(resize: .crop, size: size)
                return similarity(try set.tensor { image, i in try manifest.triggeredInput(image, geometry: geometry, item: i) }.to(device))
            }
            let suspicious = EncoderAudit.isSuspicious(pl1: result.pl1, threshold: threshold)
            var report: [String: Any] = [
                "checkpoint": path, "pl1": result.pl1, "reached": result.reached, "best_similarity": result.bestSimilarity,
                "steps": result.steps, "epochs": result.epochs, "stopped_early": result.stoppedEarly,
                "final_lambda": result.finalLambda, "seconds": result.seconds,
                "verdict": suspicious ? "backdoored" : "clean", "clean_similarity": cleanSimilarity,
            ]
            if let triggeredSimilarity { report["real_trigger_similarity"] = triggeredSimilarity }
            // Each side is scanned once, for --square-scan and --scan-sides alike.
            var scans: [Int: (entries: [SquareScanEntry], seconds: Double)] = [:]
            func scanned(_ side: Int) throws -> (entries: [SquareScanEntry], seconds: Double) {
                if let done = scans[side] { return done }
                let start = Date()
                let entries = try EncoderAudit.squareScan(images: pixels, side: side, stride: max(1, side / 2)) { clip.encodeImage(clipNormalized($0)) }
                scans[side] = (entries, Date().timeIntervalSince(start))
                return scans[side]!
            }
            if squareScan > 0 {
                let (scan, scanSeconds) = try scanned(squareScan)
                if let best = scan.first {
                    report["square_scan"] = [
                        "best_similarity": best.similarity, "y": best.y, "x": best.x, "side": best.side, "color": best.color,
                        "squares": scan.count, "seconds": scanSeconds,
                        "top": scan.prefix(5).map { ["similarity": $0.similarity, "y": $0.y, "x": $0.x, "color": $0.color] as [String: Any] },
                    ] as [String: Any]
                }
            }
            var spikeText = ""
            if !sides.isEmpty {
                let bySide = try sides.map { side in (side: side, entries: try scanned(side).entries) }
                let spike = try EncoderAudit.scanSpike(bySide)
                report["scan_sides"] = [
                    "sides": zip(bySide, spike.ratios).map { scan, ratio -> [String: Any] in
                        let best = scan.entries[0]
                        return ["side": scan.side, "best_similarity": best.similarity, "y": best.y, "x": best.x, "color": best.color,
                                "rank5_similarity": scan.entries[EncoderAudit.spikeRank - 1].similarity, "ratio": ratio.ratio]
                    },
                    "best_side": spike.bestSide, "spike_z": spike.z, "cut": EncoderAudit.spikeCut,
                    "verdict": spike.backdoored ? "backdoored" : "clean", "seconds": sides.compactMap { scans[$0]?.seconds }.reduce(0, +),
                ] as [String: Any]
                spikeText = String(format: "side %d, z %.1f: %@", spike.bestSide, spike.z, spike.backdoored ? "backdoored" : "clean")
            }
            if let folder = outputFolder(index) {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                let written = try writeTrigger(result, to: folder)
                report.merge(written) { a, _ in a }
                var file = report
                file["images"] = set.images.count
                file["threshold"] = threshold
                file["options"] = optionsDictionary(options)
                let data = try JSONSerialization.data(withJSONObject: file, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
                try (data + Data([10])).write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("audit.json")))
            }
            reports.append(report)
            rows.append([
                path, String(format: "%.2f %%", 100 * result.pl1), String(format: "%.4f", result.bestSimilarity),
                String(format: "%.3f", cleanSimilarity) + (triggeredSimilarity.map { String(format: " / %.3f", $0) } ?? ""),
                "\(result.steps)", String(format: "%.1f s", result.seconds),
                suspicious ? "backdoored" : "clean",
            ] + (sides.isEmpty ? [] : [spikeText]))
        }

        if json {
            let object: [String: Any] = [
                "images": imageCount, "images_skipped": skipped, "threshold": threshold, "encoders": reports,
                "options": optionsDictionary(options),
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("DECREE audit on \(imageCount) images of \(images)\(skipped > 0 ? " (\(skipped) unreadable, skipped)" : ""); verdict: PL1 < \(String(format: "%.1f", 100 * threshold)) % means backdoored")
            let scanColumn = sides.isEmpty ? [] : ["square scan over sides: spike"]
            print(formatTable(header: ["encoder", "PL1", "best self-cos", manifest == nil ? "clean self-cos" : "clean / real-trigger self-cos", "steps", "time", "verdict"] + scanColumn, rows: rows))
            if let out { print("wrote mask.png, trigger.png, pattern.png and audit.json under \(out)") }
        }
    }

    private func optionsDictionary(_ options: EncoderAuditOptions) -> [String: Any] {
        [
            "success_threshold": options.successThreshold, "max_epochs": options.maxEpochs, "batch_size": options.batchSize,
            "lr": options.learningRate, "initial_lambda": options.initialLambda, "lambda_factor": options.lambdaFactor,
            "lambda_min": options.lambdaMin, "gray_pattern": options.grayPattern, "patience": options.patience, "early_stop_patience": options.earlyStopPatience,
            "mask_cell": options.maskCell,
            "seed": options.seed,
        ]
    }

    /// Writes the mask (grey), the masked pattern m·p and the pattern as PNGs, scaled up by whole
    /// pixels to at least 256 px on a side so that a 32-pixel trigger can be seen.
    private func writeTrigger(_ result: EncoderAuditResult, to folder: String) throws -> [String: Any] {
        let h = result.height, w = result.width, plane = h * w
        let scale = max(1, 256 / max(1, max(h, w)))
        func image(_ value: (Int, Int) -> Float) -> RGBImage {
            var pixels = [UInt8](repeating: 0, count: h * scale * w * scale * 3)
            for y in 0..<(h * scale) {
                for x in 0..<(w * scale) {
                    for c in 0..<3 {
                        let v = value(c, (y / scale) * w + x / scale)
                        pixels[((y * w * scale) + x) * 3 + c] = UInt8(max(0, min(255, (v * 255).rounded())))
                    }
                }
            }
            return RGBImage(width: w * scale, height: h * scale, pixels: pixels)
        }
        let maskPath = (folder as NSString).appendingPathComponent("mask.png")
        let triggerPath = (folder as NSString).appendingPathComponent("trigger.png")
        let patternPath = (folder as NSString).appendingPathComponent("pattern.png")
        try image { _, i in result.mask[i] }.write(toPath: maskPath)
        let channels = result.pattern.count / max(1, plane)  // 3, or 1 for a grey pattern
        try image { c, i in result.mask[i] * result.pattern[(c % channels) * plane + i] }.write(toPath: triggerPath)
        try image { c, i in result.pattern[(c % channels) * plane + i] }.write(toPath: patternPath)
        return ["mask_png": maskPath, "trigger_png": triggerPath, "pattern_png": patternPath]
    }
}

/// A left-aligned text table.
func formatTable(header: [String], rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
    return ([line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line)).joined(separator: "\n")
}
