import Defenses
import Foundation
import NN

/// SafeCLIP's phase of a 0-based epoch (SPEC §3).
public enum SafeCLIPPhase: String, Sendable {
    /// Phase 1: unimodal contrastive loss on two augmented views of every pair.
    case unimodal
    /// Phase 2: plain CLIP loss on every pair at a small constant learning rate.
    case clipWarmup = "clip-warmup"
    /// Phase 3: per epoch, similarity pass → mixture fit → unimodal loss on the risky pairs, CLIP
    /// loss on the safe pairs.
    case mixed

    /// The phase of `epoch` under `config`'s phase lengths.
    public init(epoch: Int, config: TrainingConfig) {
        if epoch < config.unimodalEpochs {
            self = .unimodal
        } else if epoch < config.unimodalEpochs + config.clipWarmupEpochs {
            self = .clipWarmup
        } else {
            self = .mixed
        }
    }
}

extension DefenseTrainer {
    /// SafeCLIP's learning rate over the run, as a pure function of the global step.
    ///
    /// Phase 1: linear warm-up to `lr`, then cosine to 0 over its steps; phase 2: constant
    /// `clip_warmup_lr`; phase 3: one warm-up + cosine to 0 over **all** its optimizer steps
    /// (risky and safe sub-epochs of every mixed epoch, drop-last), known once the first mixed
    /// epoch has fixed `r` (until then phase 3 has no steps). The reference warm-up (10,000 steps)
    /// is far longer than a small run, so each cosine phase warms up for
    /// `min(warmup_steps, 10 % of the phase's steps)`.
    var safeCLIPSchedule: PhasedSchedule {
        let perEpoch = dataset.count / config.batchSize
        let unimodalSteps = config.unimodalEpochs * perEpoch
        let mixedSteps = state.mixedSteps ?? 0
        func warmup(_ steps: Int) -> Int { min(config.warmupSteps, steps / 10) }
        return PhasedSchedule(phases: [
            .init(name: "unimodal", steps: unimodalSteps, curve: .warmupCosine(peak: config.lr, warmupSteps: warmup(unimodalSteps), minimum: 0)),
            .init(name: "clip-warmup", steps: config.clipWarmupEpochs * perEpoch, curve: .constant(config.clipWarmupLR)),
            .init(name: "mixed", steps: mixedSteps, curve: .warmupCosine(peak: config.lr, warmupSteps: warmup(mixedSteps), minimum: 0)),
        ])
    }

    /// The safe/risky split of mixed epoch `epoch`: the saved one when the checkpoint holds it,
    /// else a new selection (similarity pass on the first augmented view in inference mode,
    /// mixture fit, ``SafeSetSchedule``), which is logged, saved as a similarity file, and
    /// committed to the checkpoint before training on it.
    ///
    /// A degenerate mixture fit (too few distinct similarities, a collapsed component) is
    /// recorded as `gmm_degenerate` in the epoch's record and handled as ``SafeSetSchedule``
    /// documents: every posterior is ½, so a first selection keeps nothing safe (r = 0, every
    /// pair trained unimodally) and later selections keep the top `r·N` pairs by similarity.
    func safeSplit(epoch: Int) throws -> DefenseState.StoredSplit {
        if let split = state.split, split.epoch == epoch { return split }
        let step = core.progress.globalStep
        let values = try similarities(model: model, view: View(images: .safeCLIP, captions: 0, salt: 1), epoch: epoch)
        var schedule = state.schedule ?? SafeSetSchedule(threshold: config.gmmThreshold, increment: config.safeIncrement, cap: config.safeCap)
        let (selection, fit) = schedule.select(similarities: values)
        let split = DefenseState.StoredSplit(epoch: epoch, safe: selection.safe)
        if state.mixedSteps == nil {
            let mixedEpochs = config.epochs - config.unimodalEpochs - config.clipWarmupEpochs
            state.mixedSteps = SafeCLIPLearningRate.phase3StepCount(
                schedule, firstSafeCount: selection.safe.count, total: dataset.count, batchSize: config.batchSize, epochs: mixedEpochs)
        }
        state.schedule = schedule
        state.split = split

        var record: [String: Any] = [
            "selection_epoch": epoch + 1, "step": step, "phase": "mixed", "selection_rule": selection.rule.rawValue,
            "safe_fraction": Double(selection.safe.count) / Double(max(1, dataset.count)), "r": selection.fraction,
            "safe_count": selection.safe.count, "risky_count": selection.risky.count,
            "gmm_means": fit.means, "gmm_variances": fit.variances, "gmm_weights": fit.weights,
            "gmm_log_likelihood": fit.logLikelihood, "gmm_iterations": fit.iterations, "gmm_converged": fit.converged,
            "gmm_degenerate": fit.degenerate ?? NSNull(), "mixed_steps": state.mixedSteps ?? 0,
            "similarities_file": "similarities/epoch_\(epoch + 1).json",
        ]
        if let poisonedRows {
            record.merge(detectionFields(PoisonDetectionReport(safe: selection.safe, total: dataset.count, poisoned: poisonedRows))) { $1 }
        }
        try core.log(jsonSafe(record))
        if let degenerate = fit.degenerate { core.reporter.log("epoch \(epoch + 1): degenerate mixture fit (\(degenerate)); see SafeSetSchedule's fallback") }
        core.reporter.log(String(format: "epoch %d: safe fraction %.3f (%d of %d pairs)", epoch + 1, record["safe_fraction"] as! Double, selection.safe.count, dataset.count))

        var selected = [Bool](repeating: false, count: dataset.count)
        for i in selection.safe { selected[i] = true }
        try writeSimilarities(
            SimilarityFile(
                defense: "safeclip", epoch: epoch + 1, step: step, similarity: values, poisoned: poisonedFlags, selected: selected,
                posterior: fit.posteriorOfLargestMean(values), gmm: fit),
            name: "epoch_\(epoch + 1)")
        try commitState()
        return split
    }

    /// The metrics fields of a detection report: poisoned pairs in the safe set, and precision
    /// and recall of "risky" as a poison detector.
    func detectionFields(_ report: PoisonDetectionReport) -> [String: Any] {
        [
            "poisoned_total": report.poisonedCount, "poisoned_in_safe": report.poisonedInSafe,
            "poisoned_in_risky": report.poisonedInRisky, "risky_precision": report.precision ?? NSNull(),
            "risky_recall": report.recall ?? NSNull(),
        ]
    }

    /// Similarity filtering (SPEC §4): scores every pair with `filter_model`, keeps all but the
    /// lowest `filter_fraction`, logs how many poisoned pairs were dropped, and commits the
    /// kept rows to the checkpoint.
    func selectFilteredRows() throws {
        guard let path = config.filterModel else { return }
        let scorer = try loadCLIPModel(weightsPath: path, device: core.device)
        if case .cpu = core.device { scorer.useChannelsLast() }  // inference: faster for ResNets, a no-op for ViTs
        guard scorer.config.vision.imageSize == model.config.vision.imageSize else {
            throw TrainingError.model("\(path): filter model takes \(scorer.config.vision.imageSize) px images, the trained model \(model.config.vision.imageSize) px")
        }
        let values = try similarities(model: scorer, view: .plain, epoch: 0)
        let kept = SimilarityFilter.keptIndices(similarities: values, dropFraction: config.filterFraction)
        guard kept.count >= config.batchSize else {
            throw TrainingError.data("filter keeps \(kept.count) pairs, fewer than one batch of \(config.batchSize)")
        }
        state.kept = kept
        var record: [String: Any] = [
            "filter_kept": kept.count, "filter_dropped": dataset.count - kept.count, "step": core.progress.globalStep,
            "similarities_file": "similarities/filter.json",
        ]
        var selected = [Bool](repeating: false, count: dataset.count)
        for i in kept { selected[i] = true }
        if let poisonedRows {
            let report = PoisonDetectionReport(safe: kept, total: dataset.count, poisoned: poisonedRows)
            record["poisoned_total"] = report.poisonedCount
            record["poisoned_dropped"] = report.poisonedInRisky
            record["poisoned_kept"] = report.poisonedInSafe
        }
        try core.log(record)
        core.reporter.log("filter: kept \(kept.count) of \(dataset.count) pairs" + (record["poisoned_dropped"].map { ", dropped \($0) poisoned" } ?? ""))
        try writeSimilarities(
            SimilarityFile(defense: "filter", epoch: 0, step: 0, similarity: values, poisoned: poisonedFlags, selected: selected, posterior: nil, gmm: nil),
            name: "filter")
        try commitState()
    }
}

/// Replaces non-finite numbers (which JSON cannot hold) by null, in values and arrays.
func jsonSafe(_ record: [String: Any]) -> [String: Any] {
    record.mapValues { value -> Any in
        if let x = value as? Double { return x.isFinite ? x : NSNull() }
        if let xs = value as? [Double] { return xs.map { $0.isFinite ? $0 as Any : NSNull() } }
        return value
    }
}
