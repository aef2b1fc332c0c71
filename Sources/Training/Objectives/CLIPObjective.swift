import CLIP
import NN

extension Defense {
    /// Plain CLIP, no defence (``CLIPObjective``).
    public static let none = Defense(CLIPObjective.self)
}

/// Plain CLIP (SPEC §1): the CLIP loss on every pair, open_clip's warm-up + cosine schedule over
/// the run's optimizer steps.
final class CLIPObjective: TrainingObjective {
    static let name = "none"
    static let displayName = "CLIP (no defence)"
    static let summary = "plain CLIP: the CLIP loss on every pair"
    static let colour = "#555555"
    static let marker = PlotMarker.circle
    static let traits = DefenseTraits(supportsAccumulation: true)

    let run: TrainingRun

    init(run: TrainingRun) throws { self.run = run }

    var stepsPerEpoch: Int { run.dataset.count / run.config.batchSize / run.config.accumulation }
    var plannedTotalSteps: Int { run.config.epochs * stepsPerEpoch }

    func plan(epoch: Int) throws -> [Segment] {
        let model = run.model
        return [
            try run.segment("clip", rows: run.allRows, views: [.plain], salt: nil) { views in
                clipLoss(imageFeatures: views[0].image, textFeatures: views[0].text, logLogitScale: model.logLogitScale)
            }
        ]
    }

    func learningRate(atStep step: Int) -> Double { warmupCosine(run.config, totalSteps: plannedTotalSteps)(step) }
}

/// open_clip's `cosine_lr` over `totalSteps` with the configured peak and warm-up (the warm-up
/// shortened to leave at least one decay step in very short runs).
func warmupCosine(_ config: TrainingConfig, totalSteps: Int) -> LRSchedule {
    .warmupCosine(baseLR: config.lr, warmupSteps: min(config.warmupSteps, max(0, totalSteps - 1)), totalSteps: totalSteps)
}
