import CLIP
import Defenses
import Foundation

extension Defense {
    /// CleanCLIP (``CleanCLIPObjective``).
    public static let cleanclip = Defense(CleanCLIPObjective.self)
}

extension TrainingConfig {
    /// CleanCLIP's settings (the defaults unless the defence is CleanCLIP; setting them selects it).
    public var cleanCLIP: CleanCLIPSettings {
        get { self[settings: CleanCLIPSettings.self] }
        set { self[settings: CleanCLIPSettings.self] = newValue }
    }
}

/// CleanCLIP's settings (SPEC §4): the `cleanclip:` block of a config file (`inmodal_weight`;
/// the flat key is read too).
public struct CleanCLIPSettings: DefenseSettings {
    /// Weight λ of the in-modal terms (reference 1).
    public var inmodalWeight: Double = 1

    public init() {}

    public init(inmodalWeight: Double = 1) { self.inmodalWeight = inmodalWeight }

    enum CodingKeys: String, CodingKey, CaseIterable { case inmodalWeight = "inmodal_weight" }
    public static var keys: [SettingKey] { [SettingKey("inmodal_weight", help: "In-modal weight λ (1).", placeholder: "x")] }

    public static var example: CleanCLIPSettings { CleanCLIPSettings(inmodalWeight: 0.5) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inmodalWeight = try c.decodeIfPresent(Double.self, forKey: .inmodalWeight) ?? 1
    }

    public func validate(file: String, in config: TrainingConfig) throws(ConfigError) {
        if !(inmodalWeight >= 0) || !inmodalWeight.isFinite {
            throw ConfigError(file: file, key: "inmodal_weight", reason: "must be a non-negative finite number")
        }
    }
}

/// CleanCLIP (Bansal et al., ICCV 2023; SPEC §4): fine-tunes `init_weights` with the CLIP loss on
/// the original pairs plus λ × the in-modal losses against an augmented view (AutoAugment-style
/// images, EDA captions).
final class CleanCLIPObjective: TrainingObjective {
    static let name = "cleanclip"
    static let displayName = "CleanCLIP"
    static let summary = "fine-tune a (possibly poisoned) model with the CLIP loss plus in-modal losses against augmented views"
    static let colour = "#009E73"
    static let marker = PlotMarker.diamond
    static let traits = DefenseTraits(finetunes: true)
    static var settingsType: any DefenseSettings.Type { CleanCLIPSettings.self }

    let run: TrainingRun

    init(run: TrainingRun) throws { self.run = run }

    var plannedTotalSteps: Int { run.config.epochs * (run.dataset.count / run.config.batchSize) }

    func plan(epoch: Int) throws -> [Segment] {
        let model = run.model
        let lambda = run.config.cleanCLIP.inmodalWeight
        let augmented = View(images: .autoAugment, captions: 0, salt: 1)
        return [
            try run.segment("cleanclip", rows: run.allRows, views: [.plain, augmented], salt: 6) { views in
                DefenseLoss.cleanCLIP(
                    image: views[0].image, text: views[0].text, augmentedImage: views[1].image, augmentedText: views[1].text,
                    logLogitScale: model.logLogitScale, lambda: lambda)
            }
        ]
    }

    func learningRate(atStep step: Int) -> Double { warmupCosine(run.config, totalSteps: plannedTotalSteps)(step) }
}
