import Attacks
import Datasets
import Foundation

/// `RUN_DIR/result.json`, written by `train` and `finetune` when a run finishes: its outcome and
/// the warnings that say when the outcome means nothing (``ResultWarnings``).
public struct RunResult: Codable, Sendable, Equatable {
    public var steps: Int
    public var finalLoss: Double?
    public var trainingPairs: Int
    /// Poisoned pairs in the training data (from the manifest), when there is one.
    public var poisonedPairs: Int?
    public var zeroshotTop1: Double?
    public var zeroshotCount: Int?
    /// Classes of the evaluation set (`--eval-data`), when there is one.
    public var classes: Int?
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case steps, classes, warnings
        case finalLoss = "final_loss", trainingPairs = "training_pairs", poisonedPairs = "poisoned_pairs"
        case zeroshotTop1 = "zeroshot_top1", zeroshotCount = "zeroshot_n"
    }
}

extension Trainer {
    /// The run's result with its warnings (read from the run folder's files, so a resumed run's
    /// earlier sessions count), after ``run(stopSignal:)`` returned `summary`.
    public func result(of summary: TrainingSummary) -> RunResult {
        let classes = config.evalData.flatMap { try? openClassificationSet(atPath: $0).classNames.count }
        let poisoned = (try? TrainingRun.poisonedRows(config: config, count: trainingPairs))??.count
        let warnings = ResultWarnings.forRun(folder: runDirectory, classes: classes, poisoned: poisoned, pairs: trainingPairs)
        return RunResult(
            steps: summary.progress.globalStep, finalLoss: summary.finalLoss, trainingPairs: trainingPairs, poisonedPairs: poisoned,
            zeroshotTop1: summary.lastEvaluation?.top1, zeroshotCount: summary.lastEvaluation?.count, classes: classes, warnings: warnings)
    }

    /// Writes `result` to `RUN_DIR/result.json`.
    public func write(_ result: RunResult) throws {
        try ConfigFile.jsonData(result).write(to: URL(fileURLWithPath: runDirectory + "/result.json"), options: .atomic)
    }
}
