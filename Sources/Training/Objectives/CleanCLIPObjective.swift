import CLIP
import Defenses
import Foundation

/// CleanCLIP's settings (SPEC §4); config keys stay flat (`inmodal_weight`).
public struct CleanCLIPSettings: Codable, Sendable, Equatable {
    /// Weight λ of the in-modal terms (reference 1).
    public var inmodalWeight: Double = 1

    public init(inmodalWeight: Double = 1) { self.inmodalWeight = inmodalWeight }

    enum CodingKeys: String, CodingKey, CaseIterable { case inmodalWeight = "inmodal_weight" }
    static var keys: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inmodalWeight = try c.decodeIfPresent(Double.self, forKey: .inmodalWeight) ?? 1
    }

    func validate(file: String) throws(ConfigError) {
        if !(inmodalWeight >= 0) || !inmodalWeight.isFinite {
            throw ConfigError(file: file, key: "inmodal_weight", reason: "must be a non-negative finite number")
        }
    }
}

/// CleanCLIP (Bansal et al., ICCV 2023; SPEC §4): fine-tunes `init_weights` with the CLIP loss on
/// the original pairs plus λ × the in-modal losses against an augmented view (AutoAugment-style
/// images, EDA captions).
final class CleanCLIPObjective: TrainingObjective {
    let run: TrainingRun

    init(run: TrainingRun) throws { self.run = run }

    var plannedTotalSteps: Int { run.config.epochs * (run.dataset.count / run.config.batchSize) }

    func plan(epoch: Int) throws -> [Segment] {
        let model = run.model
        let lambda = run.config.cleanCLIP.inmodalWeight
        let augmented = View(images: .cleanCLIP, captions: 0, salt: 1)
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
