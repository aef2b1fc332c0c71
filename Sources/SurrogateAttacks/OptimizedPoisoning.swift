import Attacks
import CLIP
import Datasets
import Foundation
import Torch
import Training

/// `clipguard poison --trigger optimized --surrogate CHECKPOINT` as a library call: load the
/// surrogate, optimise BadCLIP's patch on the clean training set (``PatchOptimizer``), write the
/// poisoned set with that patch (``Poisoner``) and the patch itself as `DIR/trigger.png`.
public enum OptimizedPoisoning {
    /// The patch image written beside the manifest.
    public static let patchFile = "trigger.png"

    /// What ``run(_:surrogate:reporter:)`` did.
    public struct Outcome: CustomStringConvertible {
        public var summary: PoisonSummary
        public var record: PatchOptimizationRecord
        /// `DIR/trigger.png`.
        public var patchPath: String
        public var description: String { "\(record.description)\n\(summary)\nwrote \(patchPath)" }
    }

    /// Checks what can be checked before the optimisation: the trigger kind, the placement, the
    /// settings and the surrogate's file and input size.
    ///
    /// - Returns: the surrogate model.
    /// - Throws: ``AttackError/invalidSetting(_:)`` in one sentence naming the flag.
    public static func loadSurrogate(_ request: PoisonRequest, surrogate: String) throws -> CLIPModel {
        guard case .backdoor(let kind, let options, _) = request.attack, kind == .optimized else {
            throw AttackError.invalidSetting("--surrogate is for --trigger optimized only")
        }
        guard case .modelInput(let geometry) = request.placement else {
            throw AttackError.invalidSetting("--trigger optimized is optimised at the model's input: use --placement model-input")
        }
        try options.validate(for: kind)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: surrogate, isDirectory: &isFolder), !isFolder.boolValue else {
            throw AttackError.invalidSetting("--surrogate \(surrogate): no such file (give a CLIP checkpoint, e.g. RUN/model.safetensors)")
        }
        let model: CLIPModel
        do {
            model = try loadCLIPModel(weightsPath: surrogate)
        } catch {
            throw AttackError.invalidSetting("--surrogate \(surrogate): not a CLIP checkpoint ClipGuard can load (\(error))")
        }
        let size = model.config.vision.imageSize
        if size != geometry.size {
            throw AttackError.invalidSetting(
                "--surrogate \(surrogate) takes \(size) px images but --image-size is \(geometry.size); optimise through a model of the poisoned images' size")
        }
        let side = options[OptimizedPatchTrigger.size]
        if case .pixels(let n) = side, n > geometry.size {
            throw AttackError.invalidSetting("--patch-size \(n) is bigger than the \(geometry.size)-px model input")
        }
        return model
    }

    /// Optimises the patch and writes the poisoned set.
    ///
    /// - Parameters:
    ///   - request: a backdoor request with `--trigger optimized` (its settings in `attack`).
    ///   - surrogate: the CLIP checkpoint to optimise through (its input size must be the
    ///     request's image size).
    /// - Throws: ``AttackError`` naming the flag, or the poisoner's errors.
    public static func run(_ request: PoisonRequest, surrogate: String, reporter: ProgressReporter? = nil) throws -> Outcome {
        let model = try loadSurrogate(request, surrogate: surrogate)
        guard case .backdoor(let kind, let options, _) = request.attack, case .modelInput(let geometry) = request.placement else {
            throw AttackError.invalidSetting("--surrogate is for --trigger optimized only")
        }
        _ = try Poisoner.preflight(request)
        guard case let trigger as OptimizedPatchTrigger = try options.makeTrigger(kind: kind, seed: Poisoner.triggerSeed(for: request.seed)).definition
        else { throw AttackError.invalidSetting("--trigger optimized: unexpected trigger type") }
        let data = try PatchOptimizationData.load(
            dataPath: request.dataPath, target: request.target.trimmingCharacters(in: .whitespaces), geometry: geometry,
            count: trigger.images, seed: trigger.seed, csvOptions: request.csvOptions)
        reporter?.log("optimising a patch through \(surrogate) on \(data.images.count) of \(data.eligible) non-target images, \(data.targetImages.count) target images, \(data.targetCaptions.count) target captions")
        let optimizer = PatchOptimizer(model: model, tokenizer: try CLIPTokenizer.load(), reporter: reporter)
        let (optimized, record) = try optimizer.optimize(trigger, data: data, surrogate: absolute(surrogate))
        var poisoned = request
        poisoned.resolvedTrigger = Trigger(optimized)
        let summary = try Poisoner.run(poisoned)
        let patchPath = ((summary.manifestPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(patchFile)
        do {
            try optimized.patchImage(side: optimized.side).write(toPath: patchPath)
        } catch {
            throw AttackError.image(path: patchPath, reason: "cannot write the patch: \(error)")
        }
        return Outcome(summary: summary, record: record, patchPath: patchPath)
    }

    /// The input side of the model in a surrogate checkpoint.
    ///
    /// - Throws: when the file is no CLIP checkpoint with a model config.
    public static func inputSize(ofSurrogate path: String) throws -> Int {
        let checkpoint = try Checkpoint.read(atPath: path)
        guard let json = checkpoint.modelConfig else {
            throw AttackError.invalidSetting("\(path) names no model config (not a ClipGuard checkpoint)")
        }
        return try CLIPConfig.decode(Data(json.utf8)).vision.imageSize
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return (path as NSString).standardizingPath }
        return ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path) as NSString).standardizingPath
    }
}
