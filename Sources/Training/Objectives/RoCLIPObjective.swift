import CLIP
import Defenses
import Foundation
import Torch

extension Defense {
    /// RoCLIP (``RoCLIPObjective``).
    public static let roclip = Defense(RoCLIPObjective.self)
}

extension TrainingConfig {
    /// RoCLIP's settings (the defaults unless the defence is RoCLIP; setting them selects it).
    public var roCLIP: RoCLIPSettings {
        get { self[settings: RoCLIPSettings.self] }
        set { self[settings: RoCLIPSettings.self] = newValue }
    }
}

/// RoCLIP's settings (SPEC §4): the `roclip:` block of a config file (`pool_size`,
/// `match_every`; flat keys are read too).
public struct RoCLIPSettings: DefenseSettings {
    /// Caption pool size (reference 21,845).
    public var poolSize: Int = 21_845
    /// Every k-th epoch matches images to pool captions (reference 2).
    public var matchEvery: Int = 2

    public init() {}

    public init(poolSize: Int = 21_845, matchEvery: Int = 2) {
        self.poolSize = poolSize
        self.matchEvery = matchEvery
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case poolSize = "pool_size", matchEvery = "match_every" }
    public static var keys: [SettingKey] {
        [
            SettingKey("pool_size", help: "Caption pool size (21845).", placeholder: "n"),
            SettingKey("match_every", help: "Match to pool captions every K-th epoch (2).", placeholder: "k"),
        ]
    }

    public static var example: RoCLIPSettings { RoCLIPSettings(poolSize: 64, matchEvery: 3) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RoCLIPSettings()
        poolSize = try c.decodeIfPresent(Int.self, forKey: .poolSize) ?? d.poolSize
        matchEvery = try c.decodeIfPresent(Int.self, forKey: .matchEvery) ?? d.matchEvery
    }

    public func validate(file: String, in config: TrainingConfig) throws(ConfigError) {
        if poolSize < 1 { throw ConfigError(file: file, key: "pool_size", reason: "must be at least 1") }
        if matchEvery < 1 { throw ConfigError(file: file, key: "match_every", reason: "must be at least 1") }
        if poolSize > TrainingConfig.maxPoolSize {
            throw ConfigError(file: file, key: "pool_size", reason: "\(poolSize) is more than \(TrainingConfig.maxPoolSize)")
        }
        if matchEvery > TrainingConfig.maxEpochs {
            throw ConfigError(file: file, key: "match_every", reason: "\(matchEvery) is more than \(TrainingConfig.maxEpochs)")
        }
    }
}

/// RoCLIP (Yang et al., NeurIPS 2023; SPEC §4): augmented views of both modalities; every
/// `match_every`-th epoch each image is paired with its nearest caption of a FIFO pool of text
/// embeddings instead of its own, the other epochs train plain CLIP. The pool is saved in the
/// checkpoint (`defense.roclip_pool`).
final class RoCLIPObjective: TrainingObjective {
    static let name = "roclip"
    static let displayName = "RoCLIP"
    static let summary = "every k-th epoch each image is matched to its nearest caption of a pool"
    static let colour = "#CC79A7"
    static let marker = PlotMarker.triangleUp
    static var settingsType: any DefenseSettings.Type { RoCLIPSettings.self }

    let run: TrainingRun
    var pool: RoCLIPPool

    init(run: TrainingRun) throws {
        self.run = run
        let settings = run.config.roCLIP
        pool = RoCLIPPool(
            bank: try run.bank(named: "roclip_pool", capacity: settings.poolSize, seed: run.config.seed &+ 103),
            matchingPeriod: settings.matchEvery)
    }

    var plannedTotalSteps: Int { run.config.epochs * (run.dataset.count / run.config.batchSize) }

    func plan(epoch: Int) throws -> [Segment] {
        let model = run.model
        let pool = pool
        let matching = pool.isMatchingEpoch(epoch + 1)
        return [
            try run.segment("roclip", rows: run.allRows, views: [View(images: .autoAugment, captions: 0, salt: 1)], salt: 5) { views in
                let features = views[0]
                guard matching else {
                    return clipLoss(imageFeatures: features.image, textFeatures: features.text, logLogitScale: model.logLogitScale)
                }
                return DefenseLoss.roclipMatched(image: features.image, text: features.text, logLogitScale: model.logLogitScale, pool: pool)
            }
        ]
    }

    func learningRate(atStep step: Int) -> Double { warmupCosine(run.config, totalSteps: plannedTotalSteps)(step) }

    func checkpointState() throws -> (json: String?, tensors: [String: Tensor]) {
        (nil, TrainingRun.tensors(of: pool.bank, named: "roclip_pool"))
    }
}
