import ArgumentParser
import Attacks
import CLIP
import Datasets
import Detection
import Foundation
import Torch
import Training

/// `clipguard screen`: test-time screening of the images presented to a trained model.
struct Screen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Screen images presented to a trained model for triggers (BDetCLIP-style contrast and DAO), with a threshold from clean reference images.",
        discussion: """
            Scores every image of --images (higher = more likely triggered) with
              bdet      −(B − M) for the class the image is closest to: B, M = its mean cosine similarity to the \
            class's benign and malignant (class-perturbed) descriptions (BDetCLIP, Niu et al., ICML 2025; \
            descriptions built from the prompt templates, the class synonyms and an adjective list, malignant ones \
            with unrelated words appended);
              bdet-all  the same averaged over all classes;
              dao       the local outlier score DAO (Huang et al., ICLR 2025) of the image embedding against the \
            embeddings of the clean --reference images (k nearest neighbours).
            The threshold of each score is the --quantile (default 0.95) of the clean reference images' own scores \
            (DAO: each reference image against the others), so about 5 % of clean images are flagged. Files found \
            in both folders are used only as reference.

            With --trigger-from MANIFEST every screened image is also scored with the manifest's trigger applied \
            (at the model's input size), and the command reports AUROC (triggered vs clean copies) and precision, \
            recall and F1 at the threshold.

            Examples:
              clipguard screen --checkpoint runs/fm/model.safetensors --reference clean/images --images incoming/ --out screen/
              clipguard screen --checkpoint runs/poisoned/model.safetensors --reference data/eval/images \\
                --images data/eval/images --trigger-from data/poison/manifest.json --json
            """
    )

    @Option(help: "Weights of the trained model: a run's model.safetensors or checkpoint, or an open_clip state_dict.")
    var checkpoint: String
    @Option(help: "Model name or config JSON (needed when the weights file carries no config).")
    var model: String?
    @Option(help: "A folder of PNG/JPEG images to screen (searched recursively).")
    var images: String
    @Option(help: "A folder of clean reference images (searched recursively).")
    var reference: String
    @Option(help: "Screen a seeded sample of at most this many images.")
    var limit = 2000
    @Option(name: .customLong("reference-limit"), help: "Use a seeded sample of at most this many reference images.")
    var referenceLimit = 1000
    @Option(name: .customLong("trigger-from"), help: "A poisoning manifest: also screen every image with its trigger and report AUROC and F1.")
    var triggerFrom: String?
    @Option(help: "classes.json (\"classes\", \"templates\") of the model's classes (default: built-in Fashion-MNIST with its synonyms).")
    var classes: String?
    @Option(help: "Quantile of the clean reference scores used as threshold.")
    var quantile = 0.95
    @Option(help: "Neighbours of DAO.")
    var k = 16
    @Option(name: .customLong("descriptions-per-class"), help: "Benign (and as many malignant) descriptions per class.")
    var descriptionsPerClass = 40
    @Option(help: "Output folder for scores.csv and summary.json.")
    var out: String?
    @Option(help: "Seed of the samples and the descriptions.")
    var seed: UInt64 = 0
    @Option(name: .customLong("batch-size"), help: "Images per forward pass.")
    var batchSize = 256
    @OptionGroup var threads: ThreadsOption
    @Option(help: "cpu, cuda, cuda:N or auto.")
    var device = "cpu"
    @Flag(help: "Replace existing files in --out.")
    var force = false
    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        try checkRange(limit, 1...10_000_000, option: "--limit")
        try checkRange(referenceLimit, 2...1_000_000, option: "--reference-limit")
        try checkRange(k, 1...4_096, option: "--k")
        try checkRange(descriptionsPerClass, 1...10_000, option: "--descriptions-per-class")
        try checkRange(batchSize, 1...65_536, option: "--batch-size")
        if !(quantile > 0 && quantile < 1) { throw ValidationError("--quantile must be within (0, 1), got \(quantile)") }
        if referenceLimit < k + 2 { throw ValidationError("--reference-limit must be at least --k + 2 (\(k + 2)), got \(referenceLimit)") }
    }

    func run() throws {
        try reportingErrors { try screen() }
    }

    private func embed(_ clip: CLIPModel, _ pixels: Tensor) -> Tensor {
        inferenceMode {
            var parts: [Tensor] = []
            for start in stride(from: 0, to: pixels.size(0), by: batchSize) {
                let chunk = pixels.narrowed(dim: 0, start: start, length: min(batchSize, pixels.size(0) - start))
                parts.append(clip.encodeImage(clipNormalized(chunk.to(clip.store.device))).to(.float32).to(.cpu))
            }
            return Tensor.cat(parts, dim: 0)
        }
    }

    private func embedTexts(_ clip: CLIPModel, _ tokenizer: CLIPTokenizer, _ texts: [String]) -> Tensor {
        let context = clip.config.text.contextLength
        return inferenceMode {
            var parts: [Tensor] = []
            for start in stride(from: 0, to: texts.count, by: 512) {
                let chunk = Array(texts[start..<min(start + 512, texts.count)])
                let ids = tokenizer.tokenize(batch: chunk, contextLength: context).map(Int64.init)
                parts.append(clip.encodeText(Tensor(ids, shape: [chunk.count, context]).to(clip.store.device)).to(.float32).to(.cpu))
            }
            return Tensor.cat(parts, dim: 0)
        }
    }

    private func screen() throws {
        threads.apply()
        if let out {
            for name in ["scores.csv", "summary.json"] {
                let path = (out as NSString).appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: path) && !force {
                    throw ValidationError("--out \(out) already holds \(name); pass --force to replace it, or choose another folder")
                }
            }
        }
        let manifest = try triggerFrom.map { path in
            let manifest = try PoisonManifest.load(path: path)
            if manifest.trigger == nil { throw ValidationError("--trigger-from \(path) is a targeted-poisoning manifest; it has no trigger to apply") }
            return manifest
        }
        let device = try Device(parsing: device)
        let clip = try loadCLIPModel(weightsPath: checkpoint, model: model, device: device)
        try checkTokenizerFits(clip.config, source: checkpoint)
        let tokenizer = try CLIPTokenizer.load()
        let size = clip.config.vision.imageSize

        // Descriptions.
        let descriptions: ScreeningDescriptions
        if let classes {
            let index = try ClassIndex.read(fromPath: classes)
            let wordNet = try? WordNet()
            descriptions = ScreeningDescriptions.build(
                classNames: index.classes, templates: index.templates, adjectives: FashionMNISTCaptions.adjectives,
                wordNet: wordNet, perClass: descriptionsPerClass, seed: seed)
        } else {
            descriptions = ScreeningDescriptions.build(
                classNames: ZeroShotMetadata.fashionMNISTClassNames, templates: ZeroShotMetadata.fashionMNISTTemplates,
                synonyms: FashionMNISTCaptions.synonyms, adjectives: FashionMNISTCaptions.adjectives,
                perClass: descriptionsPerClass, seed: seed)
        }
        let benignTexts = descriptions.benign.flatMap { $0 }
        let benignClass = descriptions.benign.enumerated().flatMap { c, list in list.map { _ in c } }
        let malignantTexts = descriptions.malignant.flatMap { $0 }
        let malignantClass = descriptions.malignant.enumerated().flatMap { c, list in list.map { _ in c } }
        let benign = embedTexts(clip, tokenizer, benignTexts)
        let malignant = embedTexts(clip, tokenizer, malignantTexts)

        // Images.
        let referenceFiles = try AuditImageSet.listFiles(in: reference)
        let referenceSet = try AuditImageSet.read(files: referenceFiles, limit: referenceLimit, size: size, seed: seed)
        if referenceSet.images.count < k + 2 {
            throw ValidationError("--reference \(reference): \(referenceSet.images.count) readable images, DAO with --k \(k) needs at least \(k + 2)")
        }
        let used = Set(referenceSet.paths)
        let candidates = try AuditImageSet.listFiles(in: images).filter { !used.contains($0) }
        if candidates.isEmpty { throw ValidationError("--images \(images): every image is also a reference image; nothing is left to screen") }
        let testSet = try AuditImageSet.read(files: candidates, limit: limit, size: size, seed: seed &+ 1)
        let referenceEmbeddings = embed(clip, referenceSet.tensor())
        var testEmbeddings = embed(clip, testSet.tensor())
        var paths = testSet.paths
        var triggered = [Bool](repeating: false, count: testSet.paths.count)
        if let manifest {
            let geometry = ModelGeometry(resize: .crop, size: size)
            let pixels = try testSet.tensor { image, i in try manifest.triggeredInput(image, geometry: geometry, item: i) }
            testEmbeddings = Tensor.cat([testEmbeddings, embed(clip, pixels)], dim: 0)
            paths += testSet.paths
            triggered += [Bool](repeating: true, count: testSet.paths.count)
        }

        // Scores.
        func bdet(_ x: Tensor) -> (predicted: [Double], allClasses: [Double]) {
            TestTimeScreening.bdetScores(
                images: x, benign: benign, benignClass: benignClass, malignant: malignant, malignantClass: malignantClass,
                classes: descriptions.classNames.count)
        }
        let referenceBdet = bdet(referenceEmbeddings), testBdet = bdet(testEmbeddings)
        let columns: [(name: String, reference: [Double], test: [Double])] = [
            ("bdet", referenceBdet.predicted, testBdet.predicted),
            ("bdet-all", referenceBdet.allClasses, testBdet.allClasses),
            ("dao", TestTimeScreening.daoScores(queries: referenceEmbeddings, reference: referenceEmbeddings, k: k, leaveOneOut: true),
             TestTimeScreening.daoScores(queries: testEmbeddings, reference: referenceEmbeddings, k: k)),
        ]

        var summaries: [[String: Any]] = []
        var rows: [[String]] = []
        var flags: [[Bool]] = []
        for column in columns {
            let threshold = TestTimeScreening.threshold(referenceScores: column.reference, quantile: quantile)
            let flagged = column.test.map { $0 > threshold }
            flags.append(flagged)
            var summary: [String: Any] = [
                "detector": column.name, "threshold": threshold, "flagged": flagged.count(where: { $0 }),
                "reference_flagged": column.reference.count(where: { $0 > threshold }),
            ]
            var row = [column.name, String(format: "%.4g", threshold), "\(flagged.count(where: { $0 }))/\(flagged.count)"]
            if manifest != nil {
                let positives = triggered.indices.filter { triggered[$0] }
                let auroc = DetectionMetrics(scores: column.test, poisoned: positives, ks: []).auroc ?? .nan
                let point = TestTimeScreening.operatingPoint(scores: column.test, positive: triggered, threshold: threshold)
                // F1 if 10 % of the screened images were triggered, at the same TPR and FPR.
                let prevalence = 0.1
                let p10 = point.recall * prevalence + point.falsePositiveRate * (1 - prevalence)
                let precision10 = p10 == 0 ? 0 : point.recall * prevalence / p10
                let f1At10 = precision10 + point.recall == 0 ? 0 : 2 * precision10 * point.recall / (precision10 + point.recall)
                summary["auroc"] = auroc
                summary["precision"] = point.precision
                summary["recall"] = point.recall
                summary["f1"] = point.f1
                summary["false_positive_rate"] = point.falsePositiveRate
                summary["f1_at_10_percent_triggered"] = f1At10
                row += [String(format: "%.3f", auroc), String(format: "%.3f", point.recall), String(format: "%.3f", point.falsePositiveRate),
                        String(format: "%.3f", point.precision), String(format: "%.3f", point.f1), String(format: "%.3f", f1At10)]
            }
            summaries.append(summary)
            rows.append(row)
        }

        let object: [String: Any] = [
            "checkpoint": checkpoint, "reference_images": referenceSet.images.count, "screened_images": testSet.images.count,
            "triggered_copies": manifest == nil ? 0 : testSet.images.count, "quantile": quantile, "k": k,
            "descriptions_per_class": descriptionsPerClass, "classes": descriptions.classNames.count,
            "skipped": referenceSet.skipped.count + testSet.skipped.count, "detectors": summaries,
        ]
        if let out {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            var csv = "path,triggered," + columns.map(\.name).joined(separator: ",") + "," + columns.map { "\($0.name)_flagged" }.joined(separator: ",") + "\n"
            for i in paths.indices {
                let quoted = "\"" + paths[i].replacingOccurrences(of: "\"", with: "\"\"") + "\""
                csv += "\(quoted),\(triggered[i] ? 1 : 0)," + columns.map { String($0.test[i]) }.joined(separator: ",") + ","
                    + flags.map { $0[i] ? "1" : "0" }.joined(separator: ",") + "\n"
            }
            try Data(csv.utf8).write(to: URL(fileURLWithPath: (out as NSString).appendingPathComponent("scores.csv")))
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try (data + Data([10])).write(to: URL(fileURLWithPath: (out as NSString).appendingPathComponent("summary.json")))
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("screened \(testSet.images.count) images\(manifest == nil ? "" : " (and their triggered copies)") against \(referenceSet.images.count) clean reference images; threshold = the \(String(format: "%g", 100 * quantile))th percentile of the reference scores")
            var header = ["detector", "threshold", "flagged"]
            if manifest != nil { header += ["AUROC", "TPR", "FPR", "precision", "F1", "F1@10%"] }
            print(formatTable(header: header, rows: rows))
            if let out { print("wrote \(out)/scores.csv and \(out)/summary.json") }
        }
    }
}
