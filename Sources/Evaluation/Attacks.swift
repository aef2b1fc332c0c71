import Attacks
import CLIP
import Datasets
import Foundation
import Torch

/// An evaluation set whose images carry an attack's trigger, applied as the poisoned training
/// images got it (at the model's input geometry, or on the original image for manifests that
/// reproduce the study's placement).
public struct TriggeredDataset: ImageTextDataset {
    public let base: any ImageTextDataset
    public let manifest: PoisonManifest
    public let geometry: ModelGeometry

    public init(base: any ImageTextDataset, manifest: PoisonManifest, geometry: ModelGeometry) {
        self.base = base
        self.manifest = manifest
        self.geometry = geometry
    }

    public var count: Int { base.count }
    public var hasLabels: Bool { base.hasLabels }
    public func record(at index: Int) throws(DataError) -> DataRecord { try base.record(at: index) }
    public func sample(at index: Int) throws(DataError) -> DataSample {
        var sample = try base.sample(at: index)
        do {
            sample.image = try manifest.triggeredInput(sample.image, geometry: geometry, item: index)
        } catch {
            throw .invalidArgument("trigger: \(error)")
        }
        return sample
    }
}

/// Clean accuracy and attack success rate of a backdoor.
public struct BackdoorEvaluation: Sendable {
    public var clean: ZeroShotResult
    public var triggered: ZeroShotResult
    public var asr: AttackSuccessReport
    /// The target's class index in the evaluation set.
    public var targetClass: Int

    /// ASR's base rate: the same count on the clean images — how often a non-target image is
    /// classified as the target without the trigger.
    public var baseRate: AttackSuccessReport {
        attackSuccessRate(predictions: clean.predictions, trueClasses: clean.labels, target: targetClass)
    }

    /// Robust accuracy (BackdoorBench's RA): the share of triggered non-target images classified
    /// as their true class (0 when every image is of the target class).
    public var robustAccuracy: Double {
        var correct = 0, count = 0
        for (predicted, truth) in zip(triggered.predictions, triggered.labels) where truth != targetClass {
            count += 1
            if predicted == truth { correct += 1 }
        }
        return count == 0 ? 0 : Double(correct) / Double(count)
    }
}

/// Finds `name` among `classNames` (case-insensitive, surrounding spaces ignored).
public func classIndex(of name: String, in classNames: [String]) -> Int? {
    let wanted = name.trimmingCharacters(in: .whitespaces).lowercased()
    return classNames.firstIndex { $0.trimmingCharacters(in: .whitespaces).lowercased() == wanted }
}

/// Evaluates a model on clean and triggered images of a labelled set (SPEC §2: ASR over the
/// images whose true class is not the target, with the full template ensemble).
///
/// - Parameter target: the target class name; the manifest's when nil.
public func evaluateBackdoor(
    model: CLIPModel, classifier: ZeroShotClassifier, dataset: any ClassificationDataset, manifest: PoisonManifest,
    target: String? = nil, batchSize: Int = 256, workers: Int = 2, limit: Int? = nil
) throws -> BackdoorEvaluation {
    let targetName = target ?? manifest.target
    guard let targetClass = classIndex(of: targetName, in: dataset.classNames) else {
        throw TorchError.invalidArgument(
            "target '\(targetName)' is not a class of the evaluation set (classes: \(dataset.classNames.joined(separator: ", ")))")
    }
    let clean = try evaluateZeroShot(model: model, classifier: classifier, dataset: dataset, batchSize: batchSize, workers: workers, limit: limit)
    let geometry = ModelGeometry(resize: .crop, size: model.config.vision.imageSize)
    let triggeredSet = TriggeredDataset(base: dataset, manifest: manifest, geometry: geometry)
    let triggered = try evaluateZeroShot(
        model: model, classifier: classifier, dataset: triggeredSet, batchSize: batchSize, workers: workers, limit: limit)
    let asr = attackSuccessRate(predictions: triggered.predictions, trueClasses: triggered.labels, target: targetClass)
    return BackdoorEvaluation(clean: clean, triggered: triggered, asr: asr, targetClass: targetClass)
}

/// Whether each target image of a targeted-poisoning manifest is classified as its adversarial class.
public func evaluateTargetedPoisoning(
    model: CLIPModel, classifier: ZeroShotClassifier, manifest: PoisonManifest
) throws -> (outcome: TargetedPoisoningOutcome, images: [String], predicted: [String]) {
    guard let adversarial = classIndex(of: manifest.target, in: classifier.classNames) else {
        throw TorchError.invalidArgument("adversarial class '\(manifest.target)' is not among the evaluation classes")
    }
    let images = Array(Set(manifest.rows.map(\.sourceImage))).sorted()
    let size = model.config.vision.imageSize
    var predictions: [Int] = []
    for path in images {
        let image = Preprocessing.resizeCenterCrop(size: size).apply(try decodeImage(atPath: path))
        let input = Tensor(image.chwFloats(), shape: [1, 3, size, size]).to(model.store.device)
        let features = inferenceMode { model.encodeImage(input).to(.float32).normalized(dim: -1) }
        let scores = inferenceMode { classifier.scores(normalizedImageFeatures: features) }
        predictions.append(scores.argmax(dim: 1).itemInt())
    }
    let outcome = targetedPoisoningOutcome(predictions: predictions, adversarialClasses: images.map { _ in adversarial })
    return (outcome, images, predictions.map { classifier.classNames[$0] })
}
