import CLIP
import Defenses
import Foundation
import Torch

extension Defense {
    /// PAR, Perturb and Recover (``PARObjective``).
    public static let par = Defense(PARObjective.self)
}

extension TrainingConfig {
    /// PAR's settings (the defaults unless the defence is PAR; setting them selects it).
    public var par: PARSettings {
        get { self[settings: PARSettings.self] }
        set { self[settings: PARSettings.self] = newValue }
    }
}

/// PAR's settings: the `par:` block of a config file (`tau`, `noise_std`, `noise_probability`,
/// `cutout_area`, `cutout_probability`, `lr_mid_ratio`, `lr_mid_fraction`; the flat keys are
/// read too). Defaults are the reference's (nmndeep/PerturbAndRecover `train.py`, `utils.py`).
public struct PARSettings: DefenseSettings {
    /// Threshold τ on the batch-mean squared feature distance (reference 2.15; unit rows are at
    /// most 4 apart squared).
    public var tau: Double = 2.15
    /// σ of the rectified Gaussian noise on the [0, 1] pixel scale (reference 0.2).
    public var noiseStd: Double = 0.2
    /// Probability that an image gets noise (reference 0.5).
    public var noiseProbability: Double = 0.5
    /// Largest CutOut square as a fraction of the image's area; the fraction is drawn from
    /// `cutoutArea / 2 … cutoutArea` (reference 0.005…0.01).
    public var cutoutArea: Double = 0.01
    /// Probability of a CutOut (reference 0.5).
    public var cutoutProbability: Double = 0.5
    /// The learning rate falls linearly from `lr` to `lr × lrMidRatio` (reference 3e-5 → 3e-6: 0.1)…
    public var lrMidRatio: Double = 0.1
    /// …over this fraction of the steps (reference 0.5), then follows a cosine down to `lr / 30,000`
    /// (the reference's 1e-9 for 3e-5).
    public var lrMidFraction: Double = 0.5

    public init() {}

    public init(
        tau: Double = 2.15, noiseStd: Double = 0.2, noiseProbability: Double = 0.5, cutoutArea: Double = 0.01,
        cutoutProbability: Double = 0.5, lrMidRatio: Double = 0.1, lrMidFraction: Double = 0.5
    ) {
        self.tau = tau
        self.noiseStd = noiseStd
        self.noiseProbability = noiseProbability
        self.cutoutArea = cutoutArea
        self.cutoutProbability = cutoutProbability
        self.lrMidRatio = lrMidRatio
        self.lrMidFraction = lrMidFraction
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case tau, noiseStd = "noise_std", noiseProbability = "noise_probability", cutoutArea = "cutout_area"
        case cutoutProbability = "cutout_probability", lrMidRatio = "lr_mid_ratio", lrMidFraction = "lr_mid_fraction"
    }

    public static var keys: [SettingKey] {
        [
            SettingKey("tau", help: "PAR's threshold τ on the mean squared distance to the frozen model's features (2.15).", placeholder: "x"),
            SettingKey("noise_std", help: "σ of PAR's rectified Gaussian pixel noise on the [0, 1] scale (0.2).", placeholder: "x"),
            SettingKey("noise_probability", help: "Probability that an image gets PAR's noise (0.5).", placeholder: "p"),
            SettingKey("cutout_area", help: "Largest CutOut square as a fraction of the image area; drawn from half of it up (0.01).", placeholder: "x"),
            SettingKey("cutout_probability", help: "Probability of a CutOut (0.5).", placeholder: "p"),
            SettingKey("lr_mid_ratio", help: "PAR's lr falls linearly from lr to lr × this (0.1)…", placeholder: "x"),
            SettingKey("lr_mid_fraction", help: "…over this fraction of the steps, then a cosine to lr/30000 (0.5).", placeholder: "x"),
        ]
    }

    public static var example: PARSettings {
        PARSettings(
            tau: 1.5, noiseStd: 0.1, noiseProbability: 0.25, cutoutArea: 0.02, cutoutProbability: 0.75, lrMidRatio: 0.2, lrMidFraction: 0.25)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PARSettings()
        tau = try c.decodeIfPresent(Double.self, forKey: .tau) ?? d.tau
        noiseStd = try c.decodeIfPresent(Double.self, forKey: .noiseStd) ?? d.noiseStd
        noiseProbability = try c.decodeIfPresent(Double.self, forKey: .noiseProbability) ?? d.noiseProbability
        cutoutArea = try c.decodeIfPresent(Double.self, forKey: .cutoutArea) ?? d.cutoutArea
        cutoutProbability = try c.decodeIfPresent(Double.self, forKey: .cutoutProbability) ?? d.cutoutProbability
        lrMidRatio = try c.decodeIfPresent(Double.self, forKey: .lrMidRatio) ?? d.lrMidRatio
        lrMidFraction = try c.decodeIfPresent(Double.self, forKey: .lrMidFraction) ?? d.lrMidFraction
    }

    public func validate(file: String, in config: TrainingConfig) throws(ConfigError) {
        func check(_ ok: Bool, _ key: String, _ reason: String) throws(ConfigError) {
            if !ok { throw ConfigError(file: file, key: key, reason: reason) }
        }
        try check(tau > 0 && tau.isFinite, "tau", "must be a positive finite number (PAR's reference: 2.15)")
        try check(noiseStd >= 0 && noiseStd.isFinite, "noise_std", "must be a non-negative finite number")
        try check((0...1).contains(noiseProbability), "noise_probability", "must be a probability in [0, 1]")
        try check(cutoutArea >= 0 && cutoutArea < 1, "cutout_area", "must be a fraction of the image in [0, 1)")
        try check((0...1).contains(cutoutProbability), "cutout_probability", "must be a probability in [0, 1]")
        try check(lrMidRatio > 0 && lrMidRatio.isFinite, "lr_mid_ratio", "must be a positive finite number")
        try check(lrMidFraction >= 0 && lrMidFraction < 1, "lr_mid_fraction", "must be a fraction in [0, 1)")
    }
}

/// PAR, Perturb and Recover (Singh, Croce & Hein, CVPR 2026): fine-tunes `init_weights` on clean
/// pairs with ``DefenseLoss/par(image:text:frozenImage:frozenText:logLogitScale:tau:)`` —
/// the CLIP loss minus half the (thresholded) mean squared distances of the image and text
/// features from those of a frozen copy of the starting model — on images with light noise and
/// a small CutOut.
///
/// As nmndeep/PerturbAndRecover `train.py`: both models see the same augmented images and the
/// original captions; the frozen copy runs in inference mode without gradients; the logit scale
/// is a constant (the reference passes `logit_scale.exp().item()`), so it stays at the starting
/// model's value; the learning rate falls from `lr` to `lr × lr_mid_ratio` over the first
/// `lr_mid_fraction` of the steps, then follows a cosine to `lr / 30,000` (``parLearningRate(step:totalSteps:lr:midRatio:midFraction:)``).
final class PARObjective: TrainingObjective {
    static let name = "par"
    static let displayName = "PAR"
    static let summary = "fine-tune a (possibly poisoned) model with the CLIP loss while pushing its features away from the frozen start's, up to τ"
    static let colour = "#800000"
    static let marker = PlotMarker.hexagon
    static let traits = DefenseTraits(finetunes: true)
    static var settingsType: any DefenseSettings.Type { PARSettings.self }

    let run: TrainingRun
    /// The starting checkpoint, frozen.
    let frozen: CLIPModel

    init(run: TrainingRun) throws {
        self.run = run
        guard let path = run.config.initWeights else {
            throw TrainingError.model("par fine-tunes a checkpoint: init_weights must name it")
        }
        let model = run.config.model.isEmpty ? nil : run.config.model
        frozen = try loadCLIPModel(weightsPath: path, model: model, device: run.device)
        frozen.store.freeze(prefix: "")
    }

    var frozenModel: CLIPModel? { frozen }

    /// The reference's schedule (`trigger.sh`, `train.py`): 2 epochs from lr 3e-5, AdamW with
    /// weight decay 1e-4 and betas (0.9, 0.98); no warm-up steps (PAR's own schedule has none).
    /// The batch stays at `finetune`'s 64 (the reference's is 4 × 512 on GPUs).
    static func referenceTraining(_ config: inout TrainingConfig) {
        config.epochs = 2
        config.lr = 3e-5
        config.weightDecay = 1e-4
        config.beta2 = 0.98
        config.warmupSteps = 0
    }

    var plannedTotalSteps: Int { run.config.epochs * (run.dataset.count / run.config.batchSize) }

    func plan(epoch: Int) throws -> [Segment] {
        let model = run.model
        let s = run.config.par
        let view = View(
            images: .noiseCutOut(
                noiseStd: s.noiseStd, noiseProbability: s.noiseProbability, cutoutArea: s.cutoutArea, cutoutProbability: s.cutoutProbability),
            captions: nil, salt: 2)
        return [
            try run.segment("par", rows: run.allRows, views: [view], salt: 9) { views in
                // views[0]: the trained model's features; views[1]: the frozen model's of the same batch.
                DefenseLoss.par(
                    image: views[0].image, text: views[0].text, frozenImage: views[1].image, frozenText: views[1].text,
                    logLogitScale: model.logLogitScale.detached(), tau: s.tau)
            }
        ]
    }

    func learningRate(atStep step: Int) -> Double {
        let s = run.config.par
        return parLearningRate(step: step, totalSteps: plannedTotalSteps, lr: run.config.lr, midRatio: s.lrMidRatio, midFraction: s.lrMidFraction)
    }
}

/// PAR's learning rate at 0-based `step` of `totalSteps` (the reference's `utils.cosine_scheduler`
/// with `start_warmup_value = lr`, `base_value = lr × midRatio`, `final_value = lr / 30,000`,
/// `warmup_epochs = midFraction × epochs`): over the first `W = ⌊midFraction · totalSteps⌋`
/// steps a straight line from `lr` to `lr × midRatio` (`linspace`, both ends included), then
/// `final + ½(mid − final)(1 + cos(π·i / (totalSteps − W)))` for the i-th later step. Steps past
/// the end keep the last rate.
func parLearningRate(step: Int, totalSteps: Int, lr: Double, midRatio: Double, midFraction: Double) -> Double {
    let total = max(1, totalSteps)
    let mid = lr * midRatio, final = lr / 30_000
    let w = min(total - 1, Int((midFraction * Double(total)).rounded(.down)))
    let t = min(max(0, step), total - 1)
    if t < w {
        return w == 1 ? lr : lr + (mid - lr) * Double(t) / Double(w - 1)
    }
    let i = Double(t - w), n = Double(total - w)
    return final + 0.5 * (mid - final) * (1 + cos(Double.pi * i / n))
}
