import CLIP
import Defenses
import Foundation
import NN
import Torch

extension Defense {
    /// SafeCLIP (``SafeCLIPObjective``).
    public static let safeclip = Defense(SafeCLIPObjective.self)
}

extension TrainingConfig {
    /// SafeCLIP's settings (the defaults unless the defence is SafeCLIP; setting them selects it).
    public var safeCLIP: SafeCLIPSettings {
        get { self[settings: SafeCLIPSettings.self] }
        set { self[settings: SafeCLIPSettings.self] = newValue }
    }
}

/// SafeCLIP's settings (SPEC §3): the `safeclip:` block of a config file (`unimodal_epochs`,
/// `gmm_threshold`, …; flat keys are read too).
public struct SafeCLIPSettings: DefenseSettings {
    /// Phase 1: unimodal warm-up epochs (reference 5).
    public var unimodalEpochs = 5
    /// Phase 2: CLIP warm-up epochs (reference 1).
    public var clipWarmupEpochs = 1
    /// Phase 2's constant learning rate (reference 5e-6); phases 1 and 3 peak at `lr`.
    public var clipWarmupLR = 5e-6
    /// Posterior threshold of the first mixed epoch (reference 0.9).
    public var gmmThreshold = 0.9
    /// Safe fraction increment per mixed epoch (reference 0.01).
    public var safeIncrement = 0.01
    /// Cap of the safe fraction (reference 0.85).
    public var safeCap = 0.85
    /// NNCLR memory bank in the unimodal loss.
    public var memoryBank = false
    /// Memory bank size (reference 256).
    public var bankSize = 256
    /// Cross-augmented CLIP loss on the safe set (reference on).
    public var crossAugmented = true
    /// How later selections rank the pairs: the mixture posterior (reference) or similarity.
    public var safeRanking: SafeSetSchedule.Ranking = .posterior
    /// How the safe fraction grows after the first selection: by `safe_increment` per epoch
    /// (reference) or linearly to `safe_cap` at the last mixed epoch.
    public var safeGrowth: SafeGrowth = .increment
    /// What phase 3 trains the risky pairs on: the unimodal loss (reference), nothing, or the
    /// plain CLIP loss (the split is then only measured) — an ablation of SafeCLIP's cost.
    public var riskyTraining: RiskyTraining = .unimodal

    /// What phase 3 trains the risky pairs on.
    public enum RiskyTraining: String, Sendable, Codable, CaseIterable {
        /// Image–image and text–text contrastive loss on two views (reference).
        case unimodal
        /// The risky pairs are not trained on; phase 3 takes only the safe set's steps.
        case none
        /// Plain CLIP loss on the risky pairs as well: every pair trains multimodally, so only the
        /// warm-up phases and the safe set's cross-augmentation differ from plain CLIP.
        case clip
    }

    /// How the safe fraction grows over the mixed epochs.
    public enum SafeGrowth: String, Sendable, Codable, CaseIterable {
        /// `r ← min(r + safe_increment, safe_cap)` after every selection (reference).
        case increment
        /// `r` rises linearly from the first selection's value to `safe_cap` at the last mixed
        /// epoch (`safe_increment` unused).
        case toCap = "to-cap"
    }

    public init() {}

    public init(
        unimodalEpochs: Int = 5, clipWarmupEpochs: Int = 1, clipWarmupLR: Double = 5e-6, gmmThreshold: Double = 0.9,
        safeIncrement: Double = 0.01, safeCap: Double = 0.85, memoryBank: Bool = false, bankSize: Int = 256,
        crossAugmented: Bool = true, safeRanking: SafeSetSchedule.Ranking = .posterior, safeGrowth: SafeGrowth = .increment,
        riskyTraining: RiskyTraining = .unimodal
    ) {
        self.riskyTraining = riskyTraining
        self.safeRanking = safeRanking
        self.safeGrowth = safeGrowth
        self.unimodalEpochs = unimodalEpochs
        self.clipWarmupEpochs = clipWarmupEpochs
        self.clipWarmupLR = clipWarmupLR
        self.gmmThreshold = gmmThreshold
        self.safeIncrement = safeIncrement
        self.safeCap = safeCap
        self.memoryBank = memoryBank
        self.bankSize = bankSize
        self.crossAugmented = crossAugmented
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case unimodalEpochs = "unimodal_epochs", clipWarmupEpochs = "clip_warmup_epochs", clipWarmupLR = "clip_warmup_lr"
        case gmmThreshold = "gmm_threshold", safeIncrement = "safe_increment", safeCap = "safe_cap"
        case memoryBank = "memory_bank", bankSize = "bank_size", crossAugmented = "cross_augmented"
        case safeRanking = "safe_ranking", safeGrowth = "safe_growth", riskyTraining = "risky_training"
    }
    public static var keys: [SettingKey] {
        [
            SettingKey("unimodal_epochs", help: "Unimodal warm-up epochs (5).", placeholder: "n"),
            SettingKey("clip_warmup_epochs", help: "CLIP warm-up epochs (1).", placeholder: "n"),
            SettingKey("clip_warmup_lr", help: "Constant lr of the CLIP warm-up (5e-6).", placeholder: "x"),
            SettingKey("gmm_threshold", help: "Posterior threshold of the first selection (0.9).", placeholder: "x"),
            SettingKey("safe_increment", help: "Safe fraction increment per epoch (0.01).", placeholder: "x"),
            SettingKey("safe_cap", help: "Safe fraction cap (0.85).", placeholder: "x"),
            SettingKey("memory_bank", help: "NNCLR memory bank in the unimodal loss (off).", boolean: true),
            SettingKey("bank_size", help: "Memory bank size (256).", placeholder: "n"),
            SettingKey("cross_augmented", help: "Cross-augmented CLIP loss on the safe set (on).", boolean: true),
            SettingKey(
                "safe_ranking", help: "Rank later selections by the mixture posterior (the reference) or by similarity (posterior).",
                placeholder: "posterior|similarity"),
            SettingKey(
                "safe_growth",
                help: "Grow the safe fraction by --safe-increment per epoch (increment) or linearly to --safe-cap at the last epoch (to-cap) (increment).",
                placeholder: "increment|to-cap"),
            SettingKey(
                "risky_training", help: "What phase 3 trains the risky pairs on: unimodal (the reference), none, or clip (an ablation) (unimodal).",
                placeholder: "unimodal|none|clip"),
        ]
    }

    public static var example: SafeCLIPSettings {
        SafeCLIPSettings(
            unimodalEpochs: 2, clipWarmupEpochs: 2, clipWarmupLR: 1e-5, gmmThreshold: 0.8, safeIncrement: 0.05, safeCap: 0.7, memoryBank: true,
            bankSize: 64, crossAugmented: false, safeRanking: .similarity, safeGrowth: .toCap, riskyTraining: .clip)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SafeCLIPSettings()
        unimodalEpochs = try c.decodeIfPresent(Int.self, forKey: .unimodalEpochs) ?? d.unimodalEpochs
        clipWarmupEpochs = try c.decodeIfPresent(Int.self, forKey: .clipWarmupEpochs) ?? d.clipWarmupEpochs
        clipWarmupLR = try c.decodeIfPresent(Double.self, forKey: .clipWarmupLR) ?? d.clipWarmupLR
        gmmThreshold = try c.decodeIfPresent(Double.self, forKey: .gmmThreshold) ?? d.gmmThreshold
        safeIncrement = try c.decodeIfPresent(Double.self, forKey: .safeIncrement) ?? d.safeIncrement
        safeCap = try c.decodeIfPresent(Double.self, forKey: .safeCap) ?? d.safeCap
        memoryBank = try c.decodeIfPresent(Bool.self, forKey: .memoryBank) ?? d.memoryBank
        bankSize = try c.decodeIfPresent(Int.self, forKey: .bankSize) ?? d.bankSize
        crossAugmented = try c.decodeIfPresent(Bool.self, forKey: .crossAugmented) ?? d.crossAugmented
        safeRanking = try Self.decodeName(SafeSetSchedule.Ranking.self, c, .safeRanking) ?? d.safeRanking
        safeGrowth = try Self.decodeName(SafeGrowth.self, c, .safeGrowth) ?? d.safeGrowth
        riskyTraining = try Self.decodeName(RiskyTraining.self, c, .riskyTraining) ?? d.riskyTraining
    }

    /// A named choice, with the known names in the error.
    private static func decodeName<T: RawRepresentable & CaseIterable>(
        _ type: T.Type, _ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys
    ) throws -> T? where T.RawValue == String {
        guard let name = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let value = T(rawValue: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "unknown value '\(name)' (known: \(T.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return value
    }

    public func validate(file: String, in config: TrainingConfig) throws(ConfigError) {
        let epochs = config.epochs
        func fail(_ key: CodingKeys, _ reason: String) -> ConfigError { ConfigError(file: file, key: key.rawValue, reason: reason) }
        if unimodalEpochs < 0 { throw fail(.unimodalEpochs, "must not be negative") }
        if clipWarmupEpochs < 0 { throw fail(.clipWarmupEpochs, "must not be negative") }
        let maxEpochs = TrainingConfig.maxEpochs
        if unimodalEpochs > maxEpochs { throw fail(.unimodalEpochs, "\(unimodalEpochs) is more than \(maxEpochs)") }
        if clipWarmupEpochs > maxEpochs { throw fail(.clipWarmupEpochs, "\(clipWarmupEpochs) is more than \(maxEpochs)") }
        if unimodalEpochs + clipWarmupEpochs >= epochs {
            throw ConfigError(
                file: file, key: "epochs", reason: "must exceed unimodal_epochs + clip_warmup_epochs (\(unimodalEpochs + clipWarmupEpochs)) for safeclip")
        }
        if !(clipWarmupLR > 0) || !clipWarmupLR.isFinite { throw fail(.clipWarmupLR, "must be a positive finite number") }
        if !(0...1).contains(gmmThreshold) { throw fail(.gmmThreshold, "must be within 0…1") }
        if !(safeIncrement >= 0) { throw fail(.safeIncrement, "must not be negative") }
        if !(0...1).contains(safeCap) { throw fail(.safeCap, "must be within 0…1") }
        if bankSize < 1 { throw fail(.bankSize, "must be at least 1") }
        if bankSize > TrainingConfig.maxPoolSize { throw fail(.bankSize, "\(bankSize) is more than \(TrainingConfig.maxPoolSize)") }
    }
}

/// SafeCLIP's phase of a 0-based epoch (SPEC §3).
public enum SafeCLIPPhase: String, Sendable {
    /// Phase 1: unimodal contrastive loss on two augmented views of every pair.
    case unimodal
    /// Phase 2: plain CLIP loss on every pair at a small constant learning rate.
    case clipWarmup = "clip-warmup"
    /// Phase 3: per epoch, similarity pass → mixture fit → unimodal loss on the risky pairs, CLIP
    /// loss on the safe pairs.
    case mixed

    /// The phase of `epoch` under `settings`' phase lengths.
    public init(epoch: Int, settings: SafeCLIPSettings) {
        if epoch < settings.unimodalEpochs {
            self = .unimodal
        } else if epoch < settings.unimodalEpochs + settings.clipWarmupEpochs {
            self = .clipWarmup
        } else {
            self = .mixed
        }
    }
}

/// SafeCLIP's learning rate (SPEC §3), one ``LRSchedule/joined(_:)`` schedule of three phases.
///
/// What the official code does (SafeCLIP/src/main.py, train.py, scheduler.py): phase 1
/// `cosine_scheduler(in_lr, warm-up 10,000, …)` evaluated one epoch into its warm-up; phase 2
/// constant `filter_lr` 5e-6; phase 3 two cosine schedulers built over the safe-set batches only
/// but evaluated at the absolute epoch, so the cosine argument runs past π and the rate rises again.
///
/// What we do: phase 1 is warm-up + cosine to 0 over exactly its steps; phase 2 is constant;
/// phase 3 is one warm-up + cosine over **every** optimizer step phase 3 takes — the unimodal
/// steps on the risky set and the CLIP steps on the safe set of each epoch, with drop-last
/// batching — so the rate falls monotonically through the interleaved sub-epochs and ends at 0.
/// The reference warm-up (10,000 steps) is far longer than a small run, so each cosine phase
/// warms up for `min(warmup_steps, 10 % of the phase's steps)`.
public enum SafeCLIPLearningRate {
    /// The three-phase schedule.
    public static func schedule(
        lr: Double, clipWarmupLR: Double, warmupSteps: Int, unimodalSteps: Int, clipWarmupSteps: Int, mixedSteps: Int
    ) -> LRSchedule {
        func warmup(_ steps: Int) -> Int { min(warmupSteps, steps / 10) }
        return .joined([
            .init(name: "unimodal", steps: unimodalSteps, schedule: .cosinePhase(peak: lr, warmupSteps: warmup(unimodalSteps), steps: unimodalSteps)),
            .init(name: "clip-warmup", steps: clipWarmupSteps, schedule: .constant(baseLR: clipWarmupLR)),
            .init(name: "mixed", steps: mixedSteps, schedule: .cosinePhase(peak: lr, warmupSteps: warmup(mixedSteps), steps: mixedSteps)),
        ])
    }

    /// Optimizer steps of all mixed epochs: for each, the unimodal batches of the risky set plus
    /// the CLIP batches of the safe set (drop-last).
    ///
    /// - Parameters:
    ///   - schedule: the safe-set schedule *after* the first selection (so `r` is known).
    ///   - firstSafeCount: the first mixed epoch's safe-set size (already selected).
    ///   - total: N.
    ///   - batchSize: global batch size.
    ///   - epochs: number of mixed epochs in all, the first included (official 32 − 5 − 1 = 26).
    ///   - trainsRisky: whether the risky set takes steps (false for `risky_training: none`).
    public static func phase3StepCount(
        _ schedule: SafeSetSchedule, firstSafeCount: Int, total: Int, batchSize: Int, epochs: Int, trainsRisky: Bool = true
    ) -> Int {
        guard epochs > 0 else { return 0 }
        let counts = [firstSafeCount] + schedule.projectedSafeCounts(epochs: epochs - 1, total: total)
        return counts.reduce(0) { $0 + $1 / batchSize + (trainsRisky ? (total - $1) / batchSize : 0) }
    }
}

/// SafeCLIP (Yang, Gao, Mirzasoleiman, ICML 2024; SPEC §3): unimodal warm-up on two augmented
/// views, a CLIP warm-up at a small constant rate, then per epoch a similarity pass, a
/// two-component mixture fit and a safe/risky split — CLIP loss (cross-augmented by default) on
/// the safe pairs, unimodal loss on the risky ones.
///
/// Resumable state (checkpoint): the safe-set schedule, the latest split and phase 3's step
/// count (JSON), and the memory banks (`defense.image_bank`, `defense.text_bank`). Files:
/// `RUN_DIR/similarities/epoch_N.json` per selection (``SimilarityFile``).
final class SafeCLIPObjective: TrainingObjective {
    static let name = "safeclip"
    static let displayName = "SafeCLIP"
    static let summary = "three phases: unimodal warm-up, CLIP warm-up, then a safe/risky split of the pairs every epoch"
    static let colour = "#0072B2"
    static let marker = PlotMarker.square
    static let traits = DefenseTraits(pairSelection: .everyEpoch, similarityPasses: true, phased: true)
    static var settingsType: any DefenseSettings.Type { SafeCLIPSettings.self }

    let run: TrainingRun
    let settings: SafeCLIPSettings
    var state: State
    var imageBank: NearestNeighborBank?
    var textBank: NearestNeighborBank?

    /// What a resumed run needs (JSON in the checkpoint; names kept from earlier versions).
    struct State: Codable, Equatable {
        /// The safe-set schedule after the latest selection.
        var schedule: SafeSetSchedule?
        /// The latest selection.
        var split: StoredSplit?
        /// Phase 3's step count (known after the first selection).
        var mixedSteps: Int?
    }

    /// One epoch's safe rows (the risky rows are the rest).
    struct StoredSplit: Codable, Equatable {
        var epoch: Int
        var safe: [Int]

        func risky(total: Int) -> [Int] {
            var isSafe = [Bool](repeating: false, count: total)
            for i in safe { isSafe[i] = true }
            return (0..<total).filter { !isSafe[$0] }
        }
    }

    init(run: TrainingRun) throws {
        self.run = run
        settings = run.config.safeCLIP
        state = try run.savedState.map { try JSONDecoder().decode(State.self, from: Data($0.utf8)) } ?? State()
        if settings.memoryBank {
            imageBank = try run.bank(named: "image_bank", capacity: settings.bankSize, seed: run.config.seed &+ 101)
            textBank = try run.bank(named: "text_bank", capacity: settings.bankSize, seed: run.config.seed &+ 102)
        } else {
            imageBank = nil
            textBank = nil
        }
    }

    var batchesPerEpoch: Int { run.dataset.count / run.config.batchSize }
    var mixedEpochs: Int { run.config.epochs - settings.unimodalEpochs - settings.clipWarmupEpochs }

    var schedule: LRSchedule {
        SafeCLIPLearningRate.schedule(
            lr: run.config.lr, clipWarmupLR: settings.clipWarmupLR, warmupSteps: run.config.warmupSteps,
            unimodalSteps: settings.unimodalEpochs * batchesPerEpoch, clipWarmupSteps: settings.clipWarmupEpochs * batchesPerEpoch,
            // Until the first selection fixes r, phase 3 is estimated at N/B steps per epoch (its
            // rate is not used before then).
            mixedSteps: state.mixedSteps ?? mixedEpochs * batchesPerEpoch)
    }

    var plannedTotalSteps: Int { schedule.totalSteps ?? 0 }

    func learningRate(atStep step: Int) -> Double { schedule(step) }

    func phaseName(epoch: Int, segments: [Segment]) -> String? { SafeCLIPPhase(epoch: epoch, settings: settings).rawValue }

    func plan(epoch: Int) throws -> [Segment] {
        let twoViews = [View(images: .safeCLIP, captions: 0, salt: 1), View(images: .safeCLIP, captions: 1, salt: 2)]
        switch SafeCLIPPhase(epoch: epoch, settings: settings) {
        case .unimodal:
            return [try run.segment("unimodal", rows: run.allRows, views: twoViews, salt: 1, loss: unimodalLoss)]
        case .clipWarmup:
            return [try run.segment("clip-warmup", rows: run.allRows, views: [.plain], salt: 2, loss: clipLoss)]
        case .mixed:
            let split = try safeSplit(epoch: epoch)
            let riskyRows = split.risky(total: run.dataset.count)
            let safe =
                settings.crossAugmented
                ? try run.segment("mixed-safe", rows: split.safe, views: twoViews, salt: 4, loss: crossAugmentedLoss)
                : try run.segment("mixed-safe", rows: split.safe, views: [.plain], salt: 4, loss: clipLoss)
            switch settings.riskyTraining {
            case .unimodal:
                return [try run.segment("mixed-risky", rows: riskyRows, views: twoViews, salt: 3, loss: unimodalLoss), safe]
            case .clip:
                return [try run.segment("mixed-risky", rows: riskyRows, views: [.plain], salt: 3, loss: clipLoss), safe]
            case .none:
                return [safe]
            }
        }
    }

    // MARK: Losses

    var clipLoss: SegmentLoss {
        let model = run.model
        return { views in CLIP.clipLoss(imageFeatures: views[0].image, textFeatures: views[0].text, logLogitScale: model.logLogitScale) }
    }

    var unimodalLoss: SegmentLoss {
        let model = run.model
        let banks = imageBank.flatMap { image in textBank.map { (image, $0) } }
        return { views in
            let (first, second) = (views[0], views[1])
            if let (imageBank, textBank) = banks {
                return DefenseLoss.unimodal(
                    image1: first.image, image2: second.image, text1: first.text, text2: second.text, logLogitScale: model.logLogitScale,
                    imageBank: imageBank, textBank: textBank)
            }
            return DefenseLoss.unimodal(
                image1: first.image, image2: second.image, text1: first.text, text2: second.text, logLogitScale: model.logLogitScale)
        }
    }

    var crossAugmentedLoss: SegmentLoss {
        let model = run.model
        return { views in
            DefenseLoss.crossAugmentedCLIP(
                image1: views[0].image, image2: views[1].image, text1: views[0].text, text2: views[1].text,
                logLogitScale: model.logLogitScale)
        }
    }

    // MARK: Selection

    /// The safe/risky split of mixed epoch `epoch`: the saved one when the checkpoint holds it,
    /// else a new selection (similarity pass on the first augmented view in inference mode,
    /// mixture fit, ``SafeSetSchedule``), which is logged, saved as a similarity file, and
    /// committed to the checkpoint before training on it.
    ///
    /// A degenerate mixture fit (too few distinct similarities, a collapsed component) is
    /// recorded as `gmm_degenerate` in the selection record and handled as ``SafeSetSchedule``
    /// documents: every posterior is ½, so a first selection keeps nothing safe (r = 0, every
    /// pair trained unimodally) and later selections keep the top `r·N` pairs by similarity.
    func safeSplit(epoch: Int) throws -> StoredSplit {
        if let split = state.split, split.epoch == epoch { return split }
        let step = run.globalStep
        let total = run.dataset.count
        let values = try run.similarities(model: run.model, view: View(images: .safeCLIP, captions: 0, salt: 1), epoch: epoch)
        var schedule =
            state.schedule ?? SafeSetSchedule(threshold: settings.gmmThreshold, increment: settings.safeIncrement, cap: settings.safeCap)
        let (selection, fit) = schedule.select(similarities: values, ranking: settings.safeRanking)
        let split = StoredSplit(epoch: epoch, safe: selection.safe)
        if selection.rule == .threshold, settings.safeGrowth == .toCap, mixedEpochs > 1 {
            schedule.retarget(increment: max(0, settings.safeCap - selection.fraction) / Double(mixedEpochs - 1), after: selection.fraction)
        }
        if state.mixedSteps == nil {
            state.mixedSteps = SafeCLIPLearningRate.phase3StepCount(
                schedule, firstSafeCount: selection.safe.count, total: total, batchSize: run.config.batchSize, epochs: mixedEpochs,
                trainsRisky: settings.riskyTraining != .none)
        }
        state.schedule = schedule
        state.split = split

        let safeFraction = Double(selection.safe.count) / Double(max(1, total))
        try run.record(
            SelectionRecord(
                selectionEpoch: epoch + 1, step: step, selectionRule: selection.rule.rawValue, safeFraction: safeFraction,
                r: selection.fraction, ranking: selection.rule == .threshold ? "threshold" : settings.safeRanking.rawValue,
                safeCount: selection.safe.count, riskyCount: selection.risky.count, gmmMeans: fit.means,
                gmmVariances: fit.variances, gmmWeights: fit.weights, gmmLogLikelihood: fit.logLikelihood,
                gmmIterations: fit.iterations, gmmConverged: fit.converged, gmmDegenerate: fit.degenerate.map { "\($0)" },
                mixedSteps: state.mixedSteps ?? 0, similaritiesFile: "similarities/epoch_\(epoch + 1).json",
                detection: run.detection(trusted: selection.safe)),
            group: "selection")
        if let degenerate = fit.degenerate { run.log("epoch \(epoch + 1): degenerate mixture fit (\(degenerate)); see SafeSetSchedule's fallback") }
        var line = String(format: "epoch %d: safe fraction %.3f (%d of %d pairs)", epoch + 1, safeFraction, selection.safe.count, total)
        if let caught = run.detection(trusted: selection.safe) {
            line += ", \(caught.poisonedInRisky) of \(caught.poisonedTotal) poisoned pairs in the risky set"
        }
        run.log(line)

        var selected = [Bool](repeating: false, count: total)
        for i in selection.safe { selected[i] = true }
        try run.writeSimilarities(
            SimilarityFile(
                defense: "safeclip", epoch: epoch + 1, step: step, similarity: values, poisoned: run.poisonedFlags, selected: selected,
                posterior: fit.posteriorOfLargestMean(values), gmm: fit),
            name: "epoch_\(epoch + 1)")
        try run.commitState()
        return split
    }

    func checkpointState() throws -> (json: String?, tensors: [String: Tensor]) {
        var tensors: [String: Tensor] = [:]
        if let imageBank { tensors.merge(TrainingRun.tensors(of: imageBank, named: "image_bank")) { $1 } }
        if let textBank { tensors.merge(TrainingRun.tensors(of: textBank, named: "text_bank")) { $1 } }
        return (String(decoding: try JSONEncoder().encode(state), as: UTF8.self), tensors)
    }
}
