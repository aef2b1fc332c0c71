import Foundation

extension TrainingCore {
    /// The key `config.json` records the warm-up actually used under (the schedule cuts a
    /// warm-up that is not shorter than the run); written by the trainer, ignored when read back.
    static let usedWarmupKey = "warmup_steps_used"

    /// Adds `warmup_steps_used` to the run's `config.json` (rank 0) for a run of `totalSteps`
    /// steps under one warm-up–cosine schedule (every defence but SafeCLIP, whose phases warm up
    /// for at most a tenth of their steps each).
    func recordUsedWarmup(totalSteps: Int) throws {
        guard collective.rank == 0, config.defense != .safeclip else { return }
        let path = runDirectory + "/config.json"
        guard let data = FileManager.default.contents(atPath: path),
            var object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return }
        object[Self.usedWarmupKey] = ResultWarnings.usedWarmup(asked: config.warmupSteps, totalSteps: totalSteps)
        let updated = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try updated.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
