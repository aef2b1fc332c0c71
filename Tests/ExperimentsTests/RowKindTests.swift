import Foundation
import Testing
import Training
@testable import Experiments

/// Experiment rows are typed (``RowKind``) from the experiment file to `results.json`, which
/// keeps the format of earlier versions (the row's defence as a string, flat training keys).
@Suite struct RowKindTests {
    @Test func everyKindHasItsOwnNameColourAndMarker() throws {
        let kinds = RowKind.allCases
        #expect(kinds == Defense.allCases.map(RowKind.train) + [.detect])
        for values in [kinds.map(\.name), kinds.map(\.displayName), kinds.map(\.colour), kinds.map(\.marker.rawValue)] {
            #expect(Set(values).count == values.count, "\(values)")
        }
        for kind in kinds {
            #expect(RowKind(name: kind.name) == kind)
            let json = try JSONEncoder().encode([kind])
            #expect(String(decoding: json, as: UTF8.self) == "[\"\(kind.name)\"]")
            #expect(try JSONDecoder().decode([RowKind].self, from: json) == [kind])
            // The report names and colours a kind from the registry.
            #expect(ReportSeries.displayName(kind.name) == kind.displayName)
            #expect(ReportSeries.traits(kind.name).colour == kind.colour && ReportSeries.traits(kind.name).marker.shape.rawValue == kind.marker.rawValue)
        }
        // Every marker a defence may take is one the plots draw.
        for marker in PlotMarker.allCases { #expect(SVGPlot.MarkerShape(rawValue: marker.rawValue) != nil, "\(marker)") }
        #expect(RowKind.detect.defense == .none && !RowKind.detect.finetunes && RowKind.detect.pairSelection == nil)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([RowKind].self, from: Data("[\"shield\"]".utf8)) }
    }

    /// A `results.json` as earlier versions wrote it: rows name their defence as a string and the
    /// training block lists every defence's keys flat.
    static let oldResults = """
        {"name": "old", "config_file": "old.yaml", "commands": [], "train_csv": "t.csv", "evaluation_sets": {},
         "poisoned_sets": [], "updated": "2026-11-01T00:00:00Z",
         "config": {"name": "old", "data": {"builtin": "fashion-mnist", "seed": 0},
           "attack": {"target": "sneaker", "trigger": "patch", "rate": 0.01, "captions": "natural", "image_size": 32,
                      "resize": "crop", "placement": "model-input", "patch_color": "white", "seed": 0},
           "defenses": ["none", "safeclip", "filter", "detect"], "model": "tiny-vit",
           "training": {"data": "", "model": "", "epochs": 4, "batch_size": 16, "lr": 0.001, "warmup_steps": 100,
             "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "accumulation": 1, "precision": "fp32",
             "seed": 0, "device": "auto", "workers": 2, "log_every": 50, "eval_every": 1, "max_failure_fraction": 0.05,
             "shuffle": true, "tensorboard": false, "defense": "none", "similarity_batch_size": 512,
             "unimodal_epochs": 1, "clip_warmup_epochs": 1, "clip_warmup_lr": 5e-6, "gmm_threshold": 0.9,
             "safe_increment": 0.05, "safe_cap": 0.85, "memory_bank": false, "bank_size": 256, "cross_augmented": true,
             "safe_ranking": "posterior", "safe_growth": "increment", "pool_size": 21845, "match_every": 2,
             "filter_fraction": 0.2, "filter_model": "clean", "inmodal_weight": 1},
           "evaluation": [{"name": "test", "path": "builtin", "asr": true}], "seeds": [0], "variants": []},
         "rows": [{"id": "safeclip-rate0.01-seed0", "defense": "safeclip", "seed": 0, "amount": "rate0.01", "rate": 0.01,
                   "poisoned": 10, "training_pairs": 1000, "status": "finished", "evaluations": {}},
                  {"id": "detect-rate0.01-seed0", "defense": "detect", "seed": 0, "amount": "rate0.01", "rate": 0.01,
                   "poisoned": 10, "training_pairs": 1000, "status": "finished", "evaluations": {}}]}
        """

    @Test func resultsOfEarlierVersionsAreRead() throws {
        let results = try JSONDecoder().decode(ExperimentResults.self, from: Data(Self.oldResults.utf8))
        #expect(results.rows.map(\.defense) == [.train(.safeclip), .detect])
        #expect(results.config.defenses == [.plainCLIP, .train(.safeclip), .train(.filter), .detect])
        #expect(results.config.defenseSettings[SafeCLIPSettings.self].safeIncrement == 0.05)
        #expect(results.config.defenseSettings[FilterSettings.self] == FilterSettings(model: "clean", fraction: 0.2))
        #expect(try results.config.training(for: .train(.safeclip), file: "old").safeCLIP.unimodalEpochs == 1)
        #expect(try results.config.training(for: .detect, file: "old").defense == .none)
        // Written again, the training block nests each defence's keys; read back, nothing changed.
        let again = try JSONEncoder().encode(results)
        let object = try #require(try JSONSerialization.jsonObject(with: again) as? [String: Any])
        let training = try #require((object["config"] as? [String: Any])?["training"] as? [String: Any])
        #expect((training["safeclip"] as? [String: Any])?["safe_increment"] as? Double == 0.05 && training["safe_increment"] == nil)
        #expect((object["rows"] as? [[String: Any]])?.map { $0["defense"] as? String } == ["safeclip", "detect"])
        let reread = try JSONDecoder().decode(ExperimentResults.self, from: again)
        #expect(reread.config == results.config && reread.rows == results.rows)
    }

    @Test func experimentFilesNestOrFlattenDefenceSettingsAndVariantsOverrideEither() throws {
        let nested = validExperiment.replacingOccurrences(
            of: "unimodal_epochs: 0, clip_warmup_epochs: 1", with: "safeclip: {unimodal_epochs: 0, clip_warmup_epochs: 1}")
        var notes: [String] = []
        let a = try ConfigFile.decode(ExperimentConfig.self, from: nested, file: "a.yaml") { notes.append($0) }
        #expect(notes.isEmpty)
        let b = try ConfigFile.decode(ExperimentConfig.self, from: validExperiment, file: "b.yaml") { notes.append($0) }
        #expect(notes.count == 1 && notes[0].hasPrefix("b.yaml: training: ") && notes[0].contains("safeclip: {unimodal_epochs"), "\(notes)")
        #expect(a.defenseSettings == b.defenseSettings && a.training == b.training)
        #expect(try a.training(for: .train(.safeclip), file: "a").safeCLIP.clipWarmupEpochs == 1)
        // A variant may give a defence's key flat or nested.
        for override in ["safe_increment: 0.05", "safeclip: {safe_increment: 0.05}"] {
            let text = nested + "\nvariants: [{name: v, training: {\(override)}}]"
            let config = try ExperimentConfig.decode(text, file: "v.yaml")
            let resolved = try config.resolved(variant: "v")
            #expect(resolved.defenseSettings[SafeCLIPSettings.self].safeIncrement == 0.05, "\(override)")
            #expect(resolved.defenseSettings[SafeCLIPSettings.self].clipWarmupEpochs == 1)
        }
    }
}
