import Foundation

/// Warnings for results that mean nothing: each rule names what it saw, the measured or
/// arithmetic threshold it compares against, and why the number cannot be read as a result.
///
/// The commands print these at the end of their output and write them into the run's results
/// (`RUN_DIR/result.json` of `train`/`finetune`, `warnings` of an experiment's `results.json`
/// rows and file, `summary.json` of `detect`) and reports.
public enum ResultWarnings {
    // MARK: Poison amount

    /// The smallest setting at which this project measured the patch backdoor to take
    /// (docs/study-small/report.md: 10,000 pairs, micro-vit, 6 epochs, white patch, target
    /// sneaker; 3 seeds, re-measured 2026-12-07): ASR 96.2 ± 2.1 % at 2 % (200 pairs; takes in 3 of
    /// 3 seeds), 21.8 ± 26.0 % at 1 % (100 pairs; 5.4 / 51.8 / 8.3: takes in 1 of 3), 11.5 ± 15.8 % at
    /// 0.5 % (50 pairs; 29.7 / 3.6 / 1.1: partly in 1 of 3), near the base rate below.
    public static let measuredTakesRate = 0.02
    public static let measuredPartlyRate = 0.01
    public static let measuredEpochs = 6

    /// A seed's ASR at least this: the backdoor took (the reports' verdict, `BackdoorVerdict.takesAt`).
    public static let backdoorTakesAt = 0.5

    /// A warning when `poisoned` of `pairs` poisoned pairs over `epochs` epochs is less than the
    /// project measured a backdoor to need; nil when it is at least that (or nothing is poisoned:
    /// a clean run is no attack), and nil when the run's own ASR (`asr`, a share) shows that the
    /// backdoor took: the estimate is there to explain an ASR near its base rate, and the run
    /// itself has refuted it (e.g. 180 poisoned pairs of 60,180 over 20 epochs: ASR 96–100 %).
    ///
    /// The rate (poisoned per clean pair, as `poison --rate`) is compared with the measured
    /// 2 % / 1 % and the exposure (poisoned pairs × epochs) with the measured 200 × 6 and 100 × 6.
    public static func poisonAmount(poisoned: Int, pairs: Int, epochs: Int, asr: Double? = nil) -> String? {
        guard poisoned > 0, pairs > poisoned else { return nil }
        if let asr, asr >= backdoorTakesAt { return nil }
        // As `poison --rate` counts it (and the study): poisoned pairs per clean pair.
        let rate = Double(poisoned) / Double(pairs - poisoned)
        let exposure = poisoned * epochs
        let takes = Int((measuredTakesRate * 10_000).rounded()) * measuredEpochs
        let partly = Int((measuredPartlyRate * 10_000).rounded()) * measuredEpochs
        let measured =
            "this project measured the patch backdoor at 10,000 pairs, 6 epochs (micro-vit) to take at 2 % (200 pairs, ASR 96 %, 3 of 3 seeds), in 1 seed of 3 at 1 % (ASR 5 / 52 / 8 %) and at most partly at 0.5 % (30 / 4 / 1 %) (docs/study-small/report.md)"
        let setting = String(
            format: "%d poisoned of %d pairs (%.2g %% of the clean pairs), seen %d times over %d epoch%@ where the backdoor took at 200 pairs × 6 epochs = 1,200",
            poisoned, pairs, 100 * rate, exposure, epochs, epochs == 1 ? "" : "s")
        if rate < measuredPartlyRate - 1e-9 || exposure < partly {
            return "too few poisoned pairs for a backdoor to take: \(setting); \(measured). An ASR near its base rate here shows no backdoor, and a defence compared on it shows nothing"
        }
        if rate < measuredTakesRate - 1e-9 || exposure < takes {
            return "the backdoor may take only partly or not at all: \(setting); \(measured). Compare ASR with its base rate and over several seeds"
        }
        return nil
    }

    // MARK: Accuracy near chance

    /// Top-1 below this multiple of chance (1/classes) counts as near chance.
    public static let chanceFactor = 2.0

    /// A warning when zero-shot top-1 `top1` over `classes` classes is below ``chanceFactor``×
    /// chance.
    public static func nearChance(top1: Double, classes: Int, what: String = "the model") -> String? {
        guard classes > 1 else { return nil }
        let chance = 1 / Double(classes)
        guard top1 < chanceFactor * chance else { return nil }
        return String(
            format: "%@ is near chance: zero-shot top-1 %.1f %% where guessing gives %.1f %% (%d classes); it has not learnt the task (more pairs, epochs, or a lower batch size give it more steps), so its ASR and any defence comparison on it mean nothing",
            what, 100 * top1, 100 * chance, classes)
    }

    // MARK: Warm-up

    /// The warm-up (in steps) a schedule of `totalSteps` steps uses when `asked` are configured:
    /// the linear warm-up is cut to end before the last step.
    public static func usedWarmup(asked: Int, totalSteps: Int) -> Int { min(asked, max(0, totalSteps - 1)) }

    /// A warning when the configured warm-up is not shorter than the run.
    public static func warmup(asked: Int, totalSteps: Int) -> String? {
        guard asked >= totalSteps, asked > 0 else { return nil }
        return "the warm-up (\(asked) steps, --warmup-steps) is not shorter than the run (\(totalSteps) steps): it was cut to \(usedWarmup(asked: asked, totalSteps: totalSteps)) steps, so the learning rate never held its peak; use fewer warm-up steps, more epochs, or a smaller --batch-size"
    }

    // MARK: SafeCLIP's safe set

    /// A warning when a SafeCLIP selection's safe set is empty or holds (almost) every pair.
    public static func safeSet(safe: Int, total: Int, epoch: Int) -> String? {
        guard total > 0 else { return nil }
        if safe == 0 {
            return "SafeCLIP's selection at epoch \(epoch) put no pair in the safe set (0 of \(total)): its mixed phase trained on nothing trusted, and its \"poisoned pairs caught\" count every pair as caught; the model's warm-up did not separate the pairs (give it more data or epochs)"
        }
        if Double(safe) >= 0.98 * Double(total) {
            return "SafeCLIP's selection at epoch \(epoch) trusted \(safe) of \(total) pairs: almost nothing was set aside, so it cannot have removed a poison"
        }
        return nil
    }

    // MARK: Detection

    /// A warning when a detector's AUROC is well below chance (its scores rank poisoned pairs as
    /// less suspicious than clean ones).
    public static func invertedDetector(_ name: String, auroc: Double) -> String? {
        guard auroc.isFinite, auroc < 0.4 else { return nil }
        return String(
            format: "detector '%@' has AUROC %.3f, well below chance (0.5): it ranks poisoned pairs as LESS suspicious than clean ones for this attack; do not drop pairs by it",
            name, auroc)
    }

    // MARK: A training run

    /// Warnings from a finished (or stopped) run folder: its `config.json` and `metrics.jsonl`
    /// (warm-up against the steps taken, SafeCLIP selections, the last zero-shot evaluation
    /// against `classes`), and the poison amount from `poisoned`/`pairs` unless the last
    /// evaluation's ASR shows the backdoor took.
    public static func forRun(folder: String, classes: Int? = nil, poisoned: Int? = nil, pairs: Int? = nil) -> [String] {
        var warnings: [String] = []
        let config = try? ConfigFile.load(TrainingConfig.self, path: folder + "/config.json")
        var lastStep = 0
        var lastTop1: Double?, lastASR: Double?
        var selections: [(epoch: Int, safe: Int, total: Int)] = []
        if let data = FileManager.default.contents(atPath: folder + "/metrics.jsonl") {
            for line in data.split(separator: UInt8(ascii: "\n")) {
                guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { continue }
                if let step = object["step"] as? Int { lastStep = max(lastStep, step) }
                if object["epoch_end"] != nil {
                    if let top1 = object["zeroshot_top1"] as? Double { lastTop1 = top1 }
                    if let asr = object["asr"] as? Double { lastASR = asr }
                }
                if let safe = object["safe_count"] as? Int, let risky = object["risky_count"] as? Int {
                    selections.append(((object["selection_epoch"] as? Int) ?? 0, safe, safe + risky))
                }
            }
        }
        if let config {
            if config.defense != .safeclip, let warning = warmup(asked: config.warmupSteps, totalSteps: lastStep) {
                warnings.append(warning)
            }
            if let poisoned, let pairs, let warning = poisonAmount(poisoned: poisoned, pairs: pairs, epochs: config.epochs, asr: lastASR) {
                warnings.append(warning)
            }
        }
        for s in selections { if let warning = safeSet(safe: s.safe, total: s.total, epoch: s.epoch) { warnings.append(warning) } }
        if let lastTop1, let classes, let warning = nearChance(top1: lastTop1, classes: classes) { warnings.append(warning) }
        return warnings
    }

    /// The lines a command prints at its end for `warnings` (none when empty).
    public static func text(_ warnings: [String]) -> String {
        warnings.map { "warning: \($0)" }.joined(separator: "\n")
    }
}
