import ArgumentParser
import Attacks
import CLIP
import Datasets
import Evaluation
import Foundation
import Torch
import Training

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Zero-shot accuracy, attack success rate and retrieval of a CLIP model.",
        discussion: """
            --dataset is a labelled folder (labels.csv or class folders, with classes.json), CIFAR binary
            files, or the built-in name fashion-mnist (the real test split). With --trigger-from, the
            manifest's trigger is added to every evaluation image and the attack success rate is reported
            over the images whose true class is not the target (SPEC §2). A retrieval attack's manifest
            (`poison --attack`: pairing or caption trigger) is measured on text→image retrieval instead: per
            goal, the prompt templates filled with the attacked class rank every evaluation image (plus the
            one-image attack's image); Hit@1/5/10 and MinRank of the goal's target images, beside the same
            metric for the other classes' queries (control); for the caption trigger, the other classes'
            queries with the trigger against the same queries without it.

            Example:
              clipguard eval --checkpoint runs/fm/model.safetensors --dataset fashion-mnist --json
              clipguard eval --checkpoint runs/poisoned/model.safetensors --dataset fashion-mnist \\
                --trigger-from data/fm-poison/manifest.json --json
            """
    )

    @Option(help: "Weights: a run's model.safetensors or checkpoint, or an open_clip state_dict as safetensors.")
    var checkpoint: String
    @Option(help: "Model name or config JSON (needed when the weights file carries no config).")
    var model: String?
    @Option(help: "Labelled evaluation set (folder, CIFAR files) or 'fashion-mnist'.")
    var dataset: String?
    @Option(help: "Captioned CSV for image↔text retrieval recall@1/5/10.")
    var retrieval: String?
    @Option(name: .customLong("trigger-from"), help: "A poisoning manifest: a backdoor's trigger is applied for ASR; a retrieval attack's goals are measured by Hit@K / MinRank.")
    var triggerFrom: String?
    @Option(help: "Target class for ASR (default: the manifest's).")
    var target: String?
    @Option(name: .customLong("targeted-from"), help: "A targeted-poisoning manifest: is each target image classified as the adversarial class?")
    var targetedFrom: String?
    @Option(help: "Evaluate only the first N images.") var limit: Int?
    @Option(name: .customLong("batch-size"), help: "Images per forward pass.") var batchSize = 256
    @Option(help: "Image decoding threads.") var workers = 2
    @Option(help: "cpu, cuda, cuda:N or auto.") var device = "auto"
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var threads: ThreadsOption

    func validate() throws {
        if dataset == nil && retrieval == nil {
            throw ValidationError("give --dataset (zero-shot) and/or --retrieval (captioned CSV)")
        }
        if (triggerFrom != nil || targetedFrom != nil) && dataset == nil {
            throw ValidationError("--trigger-from and --targeted-from need --dataset for the class names")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be positive") }
        try checkRange(batchSize, 1...65_536, option: "--batch-size")
        try checkRange(workers, 0...1_024, option: "--workers")
    }

    func run() throws {
        threads.apply()
        try reportingErrors { try evaluate() }
    }

    private func openEvaluationSet(_ name: String) throws -> any ClassificationDataset {
        if name == "fashion-mnist" { return try FashionMNISTDataset.standard(train: false) }
        return try openClassificationSet(atPath: name)
    }

    private func evaluate() throws {
        let device = try Device(parsing: device)
        let clip = try loadCLIPModel(weightsPath: checkpoint, model: model, device: device)
        if case .cpu = device { clip.useChannelsLast() }  // faster ResNet inference on the CPU; a no-op for ViTs
        try checkTokenizerFits(clip.config, source: checkpoint)
        let tokenizer = try CLIPTokenizer.load()
        var output: [String: Any] = ["checkpoint": checkpoint]
        var lines: [String] = []

        if let dataset {
            let set = try openEvaluationSet(dataset)
            if set.classNames.isEmpty { throw ValidationError("\(dataset): the evaluation set names no classes; add them to classes.json") }
            if set.templates.isEmpty {
                throw ValidationError("\(dataset): no zero-shot prompt templates; add \"templates\" to classes.json (CIFAR: install the assets with `make setup`)")
            }
            let classifier = ZeroShotClassifier(model: clip, tokenizer: tokenizer, classNames: set.classNames, templates: set.templates)
            output["dataset"] = dataset
            output["classes"] = set.classNames.count
            output["templates"] = set.templates.count
            let clean: ZeroShotResult
            let manifest = try triggerFrom.map { path throws in try PoisonManifest.load(path: path) }
            if let manifest, manifest.attacksRetrieval {
                if target != nil { throw ValidationError("--target is for backdoor manifests; a retrieval attack's manifest names its goals") }
                clean = try evaluateZeroShot(
                    model: clip, classifier: classifier, dataset: set, batchSize: batchSize, workers: workers, limit: limit)
                let result: RetrievalAttackEvaluation
                do {
                    result = try evaluateRetrievalAttack(
                        model: clip, tokenizer: tokenizer, dataset: set, manifest: manifest, batchSize: batchSize, workers: workers, limit: limit)
                } catch TorchError.invalidArgument(let reason) {
                    throw ValidationError("--trigger-from \(triggerFrom ?? ""): \(reason)")
                }
                let encoder = JSONEncoder()
                output["retrieval_attack"] = try JSONSerialization.jsonObject(with: encoder.encode(result))
                lines.append("\(manifest.attack?.displayName ?? result.attack) on text→image retrieval over \(result.gallery) images, \(result.templates) templates per class:")
                for goal in result.goals {
                    func figures(_ r: TargetRetrieval) -> String {
                        String(format: "Hit@1 %.3f, Hit@5 %.3f, Hit@10 %.3f, MinRank mean %.1f / median %.1f (%d queries, %d targets)",
                               r.hitAt1, r.hitAt5, r.hitAt10, r.meanMinRank, r.medianMinRank, r.queries, r.targets)
                    }
                    let (attackedName, controlName) = manifest.mode == .captionBackdoor
                        ? ("with the trigger", "without it") : ("attacked queries", "control (other classes)")
                    lines.append("  goal \(goal.goal): \(attackedName): \(figures(goal.attacked))")
                    lines.append("  goal \(goal.goal): \(controlName): \(figures(goal.control))")
                    lines.append("  goal \(goal.goal): targeted success \(goal.succeeded ? "yes" : "no") (Hit@10 ≥ 0.5 and above the control)")
                }
            } else if let manifest {
                let result = try evaluateBackdoor(
                    model: clip, classifier: classifier, dataset: set, manifest: manifest, target: target,
                    batchSize: batchSize, workers: workers, limit: limit)
                clean = result.clean
                output["target"] = set.classNames[result.targetClass]
                output["asr"] = result.asr.asr
                output["asr_denominator"] = result.asr.asrDenominator
                output["asr_successes"] = result.asr.successes
                output["asr_excluded_target_images"] = result.asr.excludedTargetClassImages
                let base = result.baseRate
                output["asr_base_rate"] = base.asr ?? 0
                output["asr_base_successes"] = base.successes
                output["triggered_top1"] = result.triggered.top1
                var perClass: [String: Any] = [:]
                for rate in result.asr.perClass {
                    perClass[set.classNames[rate.trueClass]] = ["asr": rate.asr ?? 0, "n": rate.count]
                }
                output["asr_per_class"] = perClass
                lines.append(String(
                    format: "ASR %.2f%% (%d of %d non-target images → '%@'; triggered top-1 %.2f%%); base rate without the trigger %.2f%% (%d of %d)",
                    100 * (result.asr.asr ?? 0), result.asr.successes, result.asr.asrDenominator,
                    set.classNames[result.targetClass], 100 * result.triggered.top1,
                    100 * (base.asr ?? 0), base.successes, base.asrDenominator))
            } else {
                clean = try evaluateZeroShot(
                    model: clip, classifier: classifier, dataset: set, batchSize: batchSize, workers: workers, limit: limit)
            }
            output["top1"] = clean.top1
            output["top5"] = clean.top5
            output["n"] = clean.counts.total
            output["skipped"] = clean.skipped
            lines.insert(String(format: "zero-shot top-1 %.2f%%, top-5 %.2f%% on %d images of %@", 100 * clean.top1, 100 * clean.top5, clean.counts.total, dataset), at: 0)
            if let targetedFrom {
                let manifest = try PoisonManifest.load(path: targetedFrom)
                let targeted = try evaluateTargetedPoisoning(model: clip, classifier: classifier, manifest: manifest)
                output["targeted"] = [
                    "adversarial_class": manifest.target, "success_rate": targeted.outcome.successRate ?? 0,
                    "images": targeted.images, "predicted": targeted.predicted, "succeeded": targeted.outcome.succeeded,
                ]
                lines.append("targeted poisoning: \(targeted.outcome.successes) of \(targeted.images.count) target images classified as '\(manifest.target)'")
            }
        }

        if let retrieval {
            let recall = try evaluateRetrieval(model: clip, tokenizer: tokenizer, csv: retrieval, limit: limit)
            output["retrieval"] = [
                "n": recall.count,
                "image_to_text": Dictionary(uniqueKeysWithValues: recall.imageToText.map { ("R@\($0.key)", $0.value) }),
                "text_to_image": Dictionary(uniqueKeysWithValues: recall.textToImage.map { ("R@\($0.key)", $0.value) }),
            ]
            func recalls(_ table: [Int: Double]) -> String {
                table.keys.sorted().map { String(format: "R@%d %.2f%%", $0, 100 * (table[$0] ?? 0)) }.joined(separator: " ")
            }
            lines.append("retrieval on \(recall.count) pairs: image→text \(recalls(recall.imageToText)); text→image \(recalls(recall.textToImage))")
        }

        // A model near chance: its ASR means nothing (the same rule as train's result warnings).
        if let top1 = output["top1"] as? Double, let classes = output["classes"] as? Int,
            let warning = ResultWarnings.nearChance(top1: top1, classes: classes)
        {
            output["warnings"] = [warning]
            FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            lines.forEach { print($0) }
        }
    }
}
