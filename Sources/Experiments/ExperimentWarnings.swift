import Datasets
import Foundation
import Training

extension ExperimentRunner {
    /// A row's warnings (``ResultWarnings``): its run folder's (warm-up, SafeCLIP's safe set), the
    /// poison amount of the rows trained on poisoned data, and accuracy near chance on each
    /// evaluation set.
    func rowWarnings(
        _ result: RowResult, training: TrainingConfig, runDirectory: String, sets: [(EvaluationSpec, any ClassificationDataset)],
        backdoor: Bool = true
    ) -> [String] {
        // The poison-count warning measures backdoors; a retrieval attack's rows skip it.
        let trainsOnPoison = !training.defense.finetunes && backdoor
        var warnings = ResultWarnings.forRun(
            folder: runDirectory, poisoned: trainsOnPoison ? result.poisoned : nil, pairs: trainsOnPoison ? result.trainingPairs : nil)
        for (spec, set) in sets {
            if let top1 = result.evaluations[spec.name]?.top1,
                let warning = ResultWarnings.nearChance(top1: top1, classes: set.classNames.count, what: "row \(result.id)'s model on \(spec.name)")
            {
                warnings.append(warning)
            }
        }
        return warnings
    }
}

extension ExperimentResults {
    /// Warnings about the experiment's comparisons: a defence compared with plain CLIP where
    /// either model is near chance on an evaluation set (the difference of two guesses), and
    /// every row's own warnings, prefixed with the row.
    public func comparisonWarnings(classes: [String: Int]) -> [String] {
        var warnings: [String] = []
        let baselines = rows.filter { $0.defense == .plainCLIP && $0.variant == nil }
        for row in rows where row.defense != .plainCLIP {
            for (set, figures) in row.evaluations.sorted(by: { $0.key < $1.key }) {
                guard let k = classes[set], k > 1 else { continue }
                let chance = 1 / Double(k)
                guard let base = baselines.first(where: { $0.seed == row.seed && $0.amount == row.amount })?.evaluations[set] else { continue }
                let atChance = [("the defended model", figures.top1), ("plain CLIP", base.top1)].filter { $0.1 < ResultWarnings.chanceFactor * chance }
                if !atChance.isEmpty {
                    warnings.append(String(
                        format: "row %@ against plain CLIP on %@: %@ %@ near chance (top-1 %@; chance %.1f %%): the difference between them is noise, not a defence's effect",
                        row.id, set, atChance.map(\.0).joined(separator: " and "), atChance.count == 1 ? "is" : "are",
                        atChance.map { String(format: "%.1f %%", 100 * $0.1) }.joined(separator: ", "), 100 * chance))
                }
            }
        }
        return warnings
    }
}
