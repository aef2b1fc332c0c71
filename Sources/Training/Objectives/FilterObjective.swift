import CLIP
import Defenses
import Foundation
import Torch

extension Defense {
    /// The similarity filter (``FilterObjective``).
    public static let filter = Defense(FilterObjective.self)
}

extension TrainingConfig {
    /// The similarity filter's settings (the defaults unless the defence is the filter; setting
    /// them selects it).
    public var filter: FilterSettings {
        get { self[settings: FilterSettings.self] }
        set { self[settings: FilterSettings.self] = newValue }
    }
}

/// The similarity filter's settings (SPEC §4): the `filter:` block of a config file
/// (`filter_model`, `filter_fraction`; flat keys are read too).
public struct FilterSettings: DefenseSettings {
    /// The model (weights file) that scores the pairs.
    public var model: String?
    /// Fraction of lowest-similarity pairs dropped.
    public var fraction: Double = 0.1

    public init() {}

    public init(model: String? = nil, fraction: Double = 0.1) {
        self.model = model
        self.fraction = fraction
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case model = "filter_model", fraction = "filter_fraction" }
    public static var keys: [SettingKey] {
        [
            SettingKey("filter_model", help: "Weights that score the pairs (required).", placeholder: "path"),
            SettingKey("filter_fraction", help: "Fraction of lowest-similarity pairs dropped (0.1).", placeholder: "x"),
        ]
    }

    public static var example: FilterSettings { FilterSettings(model: "scorer.safetensors", fraction: 0.25) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decodeIfPresent(String.self, forKey: .model)
        fraction = try c.decodeIfPresent(Double.self, forKey: .fraction) ?? 0.1
    }

    public func validate(file: String, in config: TrainingConfig) throws(ConfigError) {
        if model == nil { throw ConfigError(file: file, key: "filter_model", reason: "must name a weights file for the filter defence") }
        if !(0..<1).contains(fraction) { throw ConfigError(file: file, key: "filter_fraction", reason: "must be within 0…1 (1 excluded)") }
    }
}

/// Similarity filtering (SPEC §4): before training, scores every pair with `filter_model`, keeps
/// all but the lowest `filter_fraction`, logs how many poisoned pairs it dropped, then trains
/// plain CLIP on the kept pairs. The kept rows are part of the checkpoint, so a resumed run never
/// scores again.
final class FilterObjective: TrainingObjective {
    static let name = "filter"
    static let displayName = "similarity filter"
    static let summary = "drop the lowest-similarity pairs under --filter-model, then train CLIP on the rest"
    static let colour = "#E69F00"
    static let marker = PlotMarker.triangleDown
    static let traits = DefenseTraits(pairSelection: .onceBeforeTraining, similarityPasses: true)
    static var settingsType: any DefenseSettings.Type { FilterSettings.self }

    let run: TrainingRun
    /// The kept rows, once selected.
    private(set) var kept: [Int]?

    struct State: Codable { var kept: [Int]? }

    init(run: TrainingRun) throws {
        self.run = run
        kept = try run.savedState.map { try JSONDecoder().decode(State.self, from: Data($0.utf8)).kept } ?? nil
    }

    var plannedTotalSteps: Int { run.config.epochs * ((kept?.count ?? run.dataset.count) / run.config.batchSize) }

    func prepare() throws {
        guard kept == nil, let path = run.config.filter.model else { return }
        let scorer = try loadCLIPModel(weightsPath: path, device: run.device)
        if case .cpu = run.device { scorer.useChannelsLast() }  // inference: faster for ResNets, a no-op for ViTs
        guard scorer.config.vision.imageSize == run.model.config.vision.imageSize else {
            throw TrainingError.model(
                "\(path): filter model takes \(scorer.config.vision.imageSize) px images, the trained model \(run.model.config.vision.imageSize) px")
        }
        let values = try run.similarities(model: scorer, view: .plain, epoch: 0)
        let rows = SimilarityFilter.keptIndices(similarities: values, dropFraction: run.config.filter.fraction)
        guard rows.count >= run.config.batchSize else {
            throw TrainingError.data("filter keeps \(rows.count) pairs, fewer than one batch of \(run.config.batchSize)")
        }
        kept = rows
        let detection = run.detection(trusted: rows)
        try run.record(
            FilterRecord(
                filterKept: rows.count, filterDropped: run.dataset.count - rows.count, step: run.globalStep,
                similaritiesFile: "similarities/filter.json", poisonedTotal: detection?.poisonedTotal,
                poisonedDropped: detection?.poisonedInRisky, poisonedKept: detection?.poisonedInSafe),
            group: "filter")
        run.log("filter: kept \(rows.count) of \(run.dataset.count) pairs" + (detection.map { ", dropped \($0.poisonedInRisky) poisoned" } ?? ""))
        var selected = [Bool](repeating: false, count: run.dataset.count)
        for i in rows { selected[i] = true }
        try run.writeSimilarities(
            SimilarityFile(
                defense: "filter", epoch: 0, step: 0, similarity: values, poisoned: run.poisonedFlags, selected: selected, posterior: nil,
                gmm: nil),
            name: "filter")
        try run.commitState()
    }

    func plan(epoch: Int) throws -> [Segment] {
        let model = run.model
        return [
            try run.segment("filtered-clip", rows: kept ?? run.allRows, views: [.plain], salt: 7) { views in
                clipLoss(imageFeatures: views[0].image, textFeatures: views[0].text, logLogitScale: model.logLogitScale)
            }
        ]
    }

    func learningRate(atStep step: Int) -> Double { warmupCosine(run.config, totalSteps: plannedTotalSteps)(step) }

    func checkpointState() throws -> (json: String?, tensors: [String: Tensor]) {
        (String(decoding: try JSONEncoder().encode(State(kept: kept)), as: UTF8.self), [:])
    }
}
