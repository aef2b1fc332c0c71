import Attacks
import CLIP
import Foundation
import SurrogateAttacks
import Training

/// An experiment file: data, attack, defences, model, training, evaluation and seeds.
///
/// Every key at every level is checked (``ConfigFile``); a row of the experiment is one
/// defence × seed × poison amount. Relative paths are taken from the current directory.
public struct ExperimentConfig: StrictConfig, Equatable, Sendable {
    /// A short name used in the report's title.
    public var name: String
    public var description: String?
    public var data: DataSpec
    public var attack: AttackSpec
    /// The kinds of row to compare: a registered defence each (`none` = plain CLIP) or `detect`.
    public var defenses: [RowKind]
    /// Model name (`tiny-vit`, `RN50`, …) or an open_clip-style config JSON.
    public var model: String
    /// Training settings (the keys of `clipguard train --config`, without data, model and seed).
    public var training: TrainingConfig
    /// Each defence's settings, from the same `training` block (`safeclip: {…}` or flat keys).
    public var defenseSettings: DefenseSettingsTable
    /// Labelled evaluation sets; the first one also gives the per-epoch curves.
    public var evaluation: [EvaluationSpec]
    public var seeds: [UInt64]
    /// Further rows that differ from the file's own in defences, rates, seeds, attack keys or
    /// training keys (a SafeCLIP setting, a clean-label attack, a blended trigger), run after them.
    public var variants: [VariantSpec]
    /// The settings of `detect` rows (``DetectSpec``: detectors, cut, model).
    public var detect: DetectSpec
    /// Training keys that differ for one defence's rows (`cleanclip: {epochs: 2, lr: 0.0005}`), in
    /// the file's rows and in every variant's, applied after a variant's own training keys — so
    /// that one file can fine-tune CleanCLIP at its own length while the other rows train longer.
    public var defenseTraining: [String: [String: ConfigValue]]
    /// The fine-tuning threat model (CleanCLIP, BadCLIP, PAR): every row starts from these
    /// weights and fine-tunes on its (poisoned) data at the file's learning rate, instead of
    /// training from scratch. A weights file, or `clean`: the plain CLIP row trained from scratch
    /// on the clean data (rate 0) of the same seed. Fine-tuning defences still start from the
    /// `none` row they repair.
    public var pretrained: String?

    /// The keyword of `pretrained` for the plain CLIP row at rate 0 of the same seed.
    public static let cleanPretrained = "clean"

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, data, attack, defenses, model, training, evaluation, seeds, variants
        case defenseTraining = "defense_training", pretrained, detect
    }

    public static var allowedKeys: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }
    public static var nestedTypes: [String: any StrictConfig.Type] {
        [
            "data": DataSpec.self, "attack": AttackSpec.self, "training": TrainingConfig.self, "evaluation": EvaluationSpec.self,
            "variants": VariantSpec.self, "detect": DetectSpec.self,
        ]
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        data = try c.decode(DataSpec.self, forKey: .data)
        attack = try c.decode(AttackSpec.self, forKey: .attack)
        defenses = try c.decodeIfPresent([RowKind].self, forKey: .defenses) ?? [.plainCLIP]
        model = try c.decode(String.self, forKey: .model)
        training = try c.decodeIfPresent(TrainingConfig.self, forKey: .training) ?? TrainingConfig(data: "", model: "")
        defenseSettings = try c.decodeIfPresent(DefenseSettingsTable.self, forKey: .training) ?? DefenseSettingsTable()
        evaluation = try c.decodeIfPresent([EvaluationSpec].self, forKey: .evaluation) ?? [EvaluationSpec(name: "test", path: "builtin")]
        seeds = try c.decodeIfPresent([UInt64].self, forKey: .seeds) ?? [0]
        variants = try c.decodeIfPresent([VariantSpec].self, forKey: .variants) ?? []
        detect = try c.decodeIfPresent(DetectSpec.self, forKey: .detect) ?? DetectSpec()
        defenseTraining = try c.decodeIfPresent([String: [String: ConfigValue]].self, forKey: .defenseTraining) ?? [:]
        pretrained = try c.decodeIfPresent(String.self, forKey: .pretrained)
    }

    /// Whether `row` is the row that `pretrained: clean` pre-trains (plain CLIP at rate 0, the file's own).
    public func pretrainsFromScratch(_ row: RowPlan) -> Bool {
        pretrained == Self.cleanPretrained && row.defense == .plainCLIP && row.amount == .rate(0) && row.variant == nil && row.poisonVariant == nil
    }

    /// The training settings of a row of kind `kind` (before its data, model and seed): the
    /// `training` block (a resolved variant's included) with the defence's `defense_training`
    /// keys in place, the row's defence and that defence's settings.
    public func training(for kind: RowKind, file: String) throws(ConfigError) -> TrainingConfig {
        var t = training
        if let overrides = defenseTraining[kind.name] {
            t = try ConfigValue.overriding(training, with: overrides, key: "defense_training.\(kind.name)", file: file)
        }
        t.defense = kind.defense
        t.settings = try settings(for: kind, file: file)[kind.defense]
        return t
    }

    /// Every defence's settings as a row of kind `kind` sees them: ``defenseSettings`` with the
    /// kind's `defense_training` keys in place (a `detect` row's warm-up reads SafeCLIP's).
    public func settings(for kind: RowKind, file: String) throws(ConfigError) -> DefenseSettingsTable {
        guard let overrides = defenseTraining[kind.name] else { return defenseSettings }
        return try ConfigValue.overriding(defenseSettings, with: overrides, key: "defense_training.\(kind.name)", file: file)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(description, forKey: .description)
        try c.encode(data, forKey: .data)
        try c.encode(attack, forKey: .attack)
        try c.encode(defenses, forKey: .defenses)
        try c.encode(model, forKey: .model)
        try c.encode(TrainingBlock(config: training, settings: defenseSettings), forKey: .training)
        try c.encode(evaluation, forKey: .evaluation)
        try c.encode(seeds, forKey: .seeds)
        try c.encode(variants, forKey: .variants)
        if !defenseTraining.isEmpty { try c.encode(defenseTraining, forKey: .defenseTraining) }
        try c.encodeIfPresent(pretrained, forKey: .pretrained)
        if detect != DetectSpec() { try c.encode(detect, forKey: .detect) }
    }

    /// The `training` block: the common keys and every defence's settings block.
    private struct TrainingBlock: Encodable {
        var config: TrainingConfig
        var settings: DefenseSettingsTable
        func encode(to encoder: any Encoder) throws {
            try config.encode(to: encoder)
            try settings.encode(to: encoder)
        }
    }

    /// Loads and checks the keys, types and values of an experiment file (not its paths).
    public static func load(path: String) throws -> ExperimentConfig {
        let config = try ConfigFile.load(ExperimentConfig.self, path: path)
        try config.validateValues(file: path)
        return config
    }

    /// Parses experiment text (keys, types and values checked).
    public static func decode(_ text: String, file: String) throws -> ExperimentConfig {
        let config = try ConfigFile.decode(ExperimentConfig.self, from: text, file: file)
        try config.validateValues(file: file)
        return config
    }

    /// Checks the values of the file's own rows (a resolved variant's, too).
    ///
    /// - Parameter fineTuneOnBase: a variant's fine-tuning rows may fine-tune the file's own plain
    ///   CLIP rows (the variant keeps the attack and lists no `none`).
    func validateRows(file: String, fineTuneOnBase: Bool = false) throws(ConfigError) {
        func fail(_ key: String, _ reason: String) -> ConfigError { ConfigError(file: file, key: key, reason: reason) }
        if name.isEmpty { throw fail("name", "must not be empty") }
        try data.validate(file: file)
        try attack.validate(file: file)
        if defenses.isEmpty { throw fail("defenses", "must list at least one defence (none = plain CLIP)") }
        if Set(defenses).count != defenses.count { throw fail("defenses", "lists a defence twice") }
        if seeds.isEmpty { throw fail("seeds", "must list at least one seed") }
        if Set(seeds).count != seeds.count { throw fail("seeds", "lists a seed twice") }
        if evaluation.isEmpty { throw fail("evaluation", "must list at least one evaluation set") }
        for (i, e) in evaluation.enumerated() {
            if e.name.isEmpty { throw fail("evaluation.\(i).name", "must not be empty") }
            if let limit = e.limit, limit < 1 { throw fail("evaluation.\(i).limit", "must be positive") }
            if e.path == "builtin" && data.builtin == nil {
                throw fail("evaluation.\(i).path", "'builtin' needs data.builtin (the prepared set's test split)")
            }
        }
        if Set(evaluation.map(\.name)).count != evaluation.count { throw fail("evaluation", "two sets share a name") }
        if !training.data.isEmpty { throw fail("training.data", "set the data under the top-level 'data' key") }
        if !training.model.isEmpty { throw fail("training.model", "set the model with the top-level 'model' key") }
        if training.evalData != nil { throw fail("training.eval_data", "list evaluation sets under the top-level 'evaluation' key") }
        if training.defense != .none { throw fail("training.defense", "list defences under the top-level 'defenses' key") }
        if training.manifest != nil { throw fail("training.manifest", "the experiment passes its own poisoning manifest") }
        if training.initWeights != nil {
            throw fail(
                "training.init_weights",
                "experiments train from scratch (a fine-tuning defence fine-tunes the none row); for the fine-tuning threat model set the top-level 'pretrained' key")
        }
        if pretrained?.isEmpty == true { throw fail("pretrained", "must name a weights file or 'clean'") }
        if let c = defenses.firstIndex(where: \.finetunes), defenses.firstIndex(of: .plainCLIP).map({ $0 > c }) ?? !fineTuneOnBase {
            throw fail("defenses", "\(defenses[c]) fine-tunes the plain CLIP row: list 'none' before '\(defenses[c])'")
        }
        try detect.validate(file: file)
        if detect.model == .poisoned, let d = defenses.firstIndex(of: .detect),
           defenses.firstIndex(of: .plainCLIP).map({ $0 > d }) ?? !fineTuneOnBase {
            throw fail("detect.model", "'poisoned' scores with the plain CLIP row's model: list 'none' before 'detect'")
        }
        for name in defenseTraining.keys.sorted() where RowKind(name: name) == nil {
            throw fail("defense_training.\(name)", "unknown defence '\(name)' (known: \(RowKind.allCases.map(\.name).joined(separator: ", ")))")
        }
        for (name, overrides) in defenseTraining.sorted(by: { $0.key < $1.key }) {
            for key in overrides.keys.sorted() where !TrainingConfig.allowedKeys.contains(key) {
                throw fail("defense_training.\(name).\(key)", "unknown key")
            }
            for key in ["data", "model", "defense", "manifest", "init_weights", "eval_data", "seed"] where overrides[key] != nil {
                throw fail("defense_training.\(name).\(key)", "is set by the experiment for every row")
            }
        }
        for d in defenses {
            var probe = try training(for: d, file: file)
            probe.data = "-"
            probe.model = model
            if probe.defense.finetunes { probe.initWeights = "-" }
            do {
                try probe.validate(file: file)
            } catch {
                throw fail("training.\(error.key)", error.key == "defense" ? error.reason : "\(error.reason) (for defence \(d))")
            }
        }
        if model.isEmpty { throw fail("model", "must name a model") }
        if !FileManager.default.fileExists(atPath: model) {
            guard let config = try? CLIPConfig.named(model) else {
                throw fail("model", "unknown model '\(model)' (not a built-in name nor an existing config file)")
            }
            if config.vision.imageSize != attack.imageSize {
                throw fail(
                    "attack.image_size",
                    "is \(attack.imageSize) but model \(model) takes \(config.vision.imageSize) px inputs; poison at the model's input size")
            }
        }
    }

    /// Checks values that the types alone do not (ranges, names, combinations), variants included.
    public func validateValues(file: String) throws(ConfigError) {
        try validateRows(file: file)
        try validateCleanFilter(file: file, in: self)
        func fail(_ key: String, _ reason: String) -> ConfigError { ConfigError(file: file, key: key, reason: reason) }
        if pretrained == Self.cleanPretrained, !(attack.amounts.first == .rate(0) && defenses.first == .plainCLIP) {
            throw fail("pretrained", "'clean' fine-tunes from the plain CLIP row at rate 0: list rate 0 first in attack.rates and 'none' first in defenses")
        }
        if !variants.isEmpty {
            if variants.contains(where: { !$0.isFolderSafe }) {
                throw fail("variants", "a variant name must be letters, digits, '-', '_' or '.' (it names row folders)")
            }
            if Set(variants.map(\.name)).count != variants.count { throw fail("variants", "two variants share a name") }
            for (i, v) in variants.enumerated() {
                do {
                    let resolved = try self.resolved(v, file: file)
                    let onBase = v.attack.isEmpty && !resolved.defenses.contains(.plainCLIP) && defenses.contains(.plainCLIP)
                        && Set(resolved.attack.amounts).isSubset(of: attack.amounts) && Set(resolved.seeds).isSubset(of: seeds)
                    try resolved.validateRows(file: file, fineTuneOnBase: onBase)
                    try resolved.validateCleanFilter(file: file, in: self)
                } catch {
                    throw ConfigError(file: file, key: "variants.\(i).\(error.key)", reason: error.reason)
                }
            }
        }
    }

    /// The keyword of `filter_model` that scores with the plain CLIP row trained on clean data
    /// (rate 0) of the same seed.
    public static let cleanFilterModel = "clean"

    /// Why rows of `kind` trained with `training` score with an oracle model (one no defender
    /// has), or nil: the filter with `filter_model: clean`.
    public static func oracle(of kind: RowKind, training: TrainingConfig) -> String? {
        guard kind == .train(.filter), training.filter.model == cleanFilterModel else { return nil }
        return "an oracle: it scores with a CLIP trained on exactly this experiment's clean pairs (filter_model: clean), a model no defender has"
    }

    /// The keyword of `filter_model` that scores with the plain CLIP row trained on the same
    /// poisoned pairs (same seed and amount): the realistic filter, no oracle.
    public static let poisonedFilterModel = "poisoned"

    /// `filter_model: clean` needs the file's own rows to train plain CLIP at rate 0 first;
    /// `filter_model: poisoned` needs `none` listed before `filter` (in the file or the variant).
    func validateCleanFilter(file: String, in base: ExperimentConfig) throws(ConfigError) {
        let filterRows = defenses.contains(.train(.filter)) ? try? training(for: .train(.filter), file: file) : nil
        if filterRows?.filter.model == Self.poisonedFilterModel {
            let reason: String?
            if let none = defenses.firstIndex(of: .plainCLIP) {
                reason = none < defenses.firstIndex(of: .train(.filter))! ? nil : "list 'none' before 'filter' in defenses"
            } else {
                reason = base.defenses.contains(.plainCLIP) && attack == base.attack && Set(attack.amounts).isSubset(of: base.attack.amounts)
                    ? nil : "list 'none' (before 'filter') in this variant, whose attack or amounts the file's rows lack"
            }
            if let reason {
                throw ConfigError(
                    file: file, key: "training.filter_model", reason: "'poisoned' scores with the plain CLIP row of the same seed and amount: \(reason)")
            }
            return
        }
        guard filterRows?.filter.model == Self.cleanFilterModel else { return }
        guard base.attack.amounts.first == .rate(0), base.defenses.first == .plainCLIP else {
            throw ConfigError(
                file: file, key: "training.filter_model",
                reason: "'clean' scores with the plain CLIP row at rate 0: list rate 0 first in attack.rates and 'none' first in defenses")
        }
    }

    /// The rows of the experiment, in running order: the file's own (amount, then defence, then
    /// seed), then each variant's in the same order. A variant that changes no attack or training
    /// key only adds rows of the file's own kind (named without the variant; a row the file
    /// already has is not repeated).
    public var rows: [RowPlan] {
        var plans: [RowPlan] = []
        var seen: Set<String> = []
        func add(_ amounts: [PoisonAmountSpec], _ defenses: [RowKind], _ seeds: [UInt64], _ variant: VariantSpec?) {
            for amount in amounts {
                for defense in defenses {
                    for seed in seeds {
                        let row = RowPlan(
                            defense: defense, seed: seed, amount: amount, variant: variant.flatMap { $0.changesSettings ? $0.name : nil },
                            poisonVariant: variant.flatMap { $0.attack.isEmpty ? nil : $0.name })
                        if seen.insert(row.id).inserted { plans.append(row) }
                    }
                }
            }
        }
        add(attack.amounts, defenses, seeds, nil)
        for v in variants {
            add(v.rates.map { $0.map(PoisonAmountSpec.rate) } ?? attack.amounts, v.defenses ?? defenses, v.seeds ?? seeds, v)
        }
        return plans
    }

    /// How this configuration differs from `earlier`, the one a run folder was made with, when the
    /// folder can continue with it; nil when it cannot. It can when the data are the same, every row
    /// that has `started` (its folder exists) is still a row and runs with the same settings (data,
    /// model, evaluation, training, its attack and its own defence's settings), and every poisoned
    /// set already written (`poisonedSets`, by tag) is made by the same attack. Rows that have not
    /// started may change or go; new rows may come.
    public func change(from earlier: ExperimentConfig, started: Set<String>, poisonedSets: Set<String>) -> ExperimentChange? {
        guard data == earlier.data else { return nil }
        let before = Dictionary(earlier.rows.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(rows.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var change = ExperimentChange()
        for row in earlier.rows {
            guard let now = after[row.id] else {
                if started.contains(row.id) { return nil }
                change.dropped.append(row)
                continue
            }
            guard let a = try? earlier.rowSignature(row), let b = try? rowSignature(now) else { return nil }
            if a != b {
                if started.contains(row.id) { return nil }
                change.changed.append(now)
            }
        }
        change.added = rows.filter { before[$0.id] == nil }
        for row in rows where poisonedSets.contains(row.poisonTag) {
            guard let old = earlier.rows.first(where: { $0.poisonTag == row.poisonTag }),
                let a = try? earlier.resolved(variant: old.poisonVariant).attack, let b = try? resolved(variant: row.poisonVariant).attack,
                a == b
            else { return nil }
        }
        return change
    }

    /// What decides one row's outcome: the row's resolved configuration without the lists that
    /// only choose which rows exist, and with only its own defence's settings.
    func rowSignature(_ row: RowPlan) throws -> ExperimentConfig {
        var c = try resolved(variant: row.variant ?? row.poisonVariant)
        c.description = nil
        c.variants = []
        c.defenses = [row.defense]
        c.seeds = [row.seed]
        c.attack.rate = nil
        c.attack.rates = nil
        c.attack.count = nil
        c.defenseTraining = c.defenseTraining.filter { $0.key == row.defense.name }
        var settings = DefenseSettingsTable()
        settings[row.defense.defense] = c.defenseSettings[row.defense.defense]
        c.defenseSettings = settings
        if row.defense != .detect { c.detect = DetectSpec() }
        return c
    }

    /// The configuration a variant's rows run with: the file's, with the variant's defences,
    /// rates, seeds, attack keys and training keys in place of its own (`nil`: the file's own).
    public func resolved(variant name: String?) throws -> ExperimentConfig {
        guard let name else { return self }
        guard let v = variants.first(where: { $0.name == name }) else {
            throw ConfigError(file: name, key: "variants", reason: "no variant named '\(name)'")
        }
        return try resolved(v, file: "variant \(name)")
    }

    func resolved(_ v: VariantSpec, file: String) throws(ConfigError) -> ExperimentConfig {
        var c = self
        c.variants = []
        if let d = v.defenses { c.defenses = d }
        if let s = v.seeds { c.seeds = s }
        c.attack = try ConfigValue.overriding(attack, with: v.attack, key: "attack", file: file)
        if let rates = v.rates {
            c.attack.rate = nil
            c.attack.count = nil
            c.attack.rates = rates
        }
        c.training = try ConfigValue.overriding(training, with: v.training, key: "training", file: file)
        c.defenseSettings = try ConfigValue.overriding(defenseSettings, with: v.training, key: "training", file: file)
        if let d = v.detect { c.detect = d }
        return c
    }
}

/// Rows that differ from the experiment's own in a few keys; their results carry the variant's
/// name (`safeclip · to-cap`). Keys not given are the file's.
public struct VariantSpec: StrictConfig, Equatable, Sendable {
    /// Names the variant in the report and in row folders (`safeclip-to-cap-rate0.02-seed1`).
    public var name: String
    public var description: String?
    public var defenses: [RowKind]?
    /// Poison rates (the file's amounts when absent).
    public var rates: [Double]?
    public var seeds: [UInt64]?
    /// Attack keys that differ (`captions: label-consistent`, `trigger: blended`); a variant that
    /// changes the attack gets its own poisoned sets.
    public var attack: [String: ConfigValue]
    /// Training keys that differ (`safe_increment: 0.05`, `safe_ranking: similarity`).
    public var training: [String: ConfigValue]
    /// `detect` rows' settings in place of the file's (the whole block).
    public var detect: DetectSpec?

    enum CodingKeys: String, CodingKey, CaseIterable { case name, description, defenses, rates, seeds, attack, training, detect }
    public static var allowedKeys: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }
    public static var nestedTypes: [String: any StrictConfig.Type] {
        ["attack": AttackSpec.self, "training": TrainingConfig.self, "detect": DetectSpec.self]
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        defenses = try c.decodeIfPresent([RowKind].self, forKey: .defenses)
        rates = try c.decodeIfPresent([Double].self, forKey: .rates)
        seeds = try c.decodeIfPresent([UInt64].self, forKey: .seeds)
        attack = try c.decodeIfPresent([String: ConfigValue].self, forKey: .attack) ?? [:]
        training = try c.decodeIfPresent([String: ConfigValue].self, forKey: .training) ?? [:]
        detect = try c.decodeIfPresent(DetectSpec.self, forKey: .detect)
        for key in ["rate", "rates", "count"] where attack[key] != nil {
            throw DecodingError.dataCorrupted(.init(
                codingPath: c.codingPath + [CodingKeys.attack], debugDescription: "give a variant's rates as its own 'rates' key, not attack.\(key)"))
        }
    }

    /// Whether the variant changes attack or training keys (else it only adds rows).
    public var changesSettings: Bool { !attack.isEmpty || !training.isEmpty || detect != nil }

    var isFolderSafe: Bool { !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") } }
}

/// A value of a configuration file kept as written, for keys that override another
/// configuration's (an experiment variant's attack and training keys).
public enum ConfigValue: Codable, Equatable, Sendable {
    case bool(Bool)
    case int(Int)
    case double(Double)
    /// A scalar that is no number or boolean.
    case string(String)
    case list([ConfigValue])
    /// A nested block (a defence's settings: `safeclip: {safe_increment: 0.05}`).
    case object([String: ConfigValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let o = try? c.decode([String: ConfigValue].self) { self = .object(o) }
        else { self = .list(try c.decode([ConfigValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .list(let l): try c.encode(l)
        case .object(let o): try c.encode(o)
        }
    }

    var json: Any {
        switch self {
        case .bool(let b): b
        case .int(let i): i
        case .double(let d): d
        case .string(let s): s
        case .list(let l): l.map(\.json)
        case .object(let o): o.mapValues(\.json)
        }
    }

    /// The text a scalar was written as (a number given for a text key, such as `patch_size: 7`).
    public var text: String {
        switch self {
        case .list(let l): "[" + l.map(\.text).joined(separator: ", ") + "]"
        case .object(let o): "{" + o.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.text)" }.joined(separator: ", ") + "}"
        default: textValue as? String ?? ""
        }
    }

    var textValue: Any {
        switch self {
        case .bool(let b): String(b)
        case .int(let i): String(i)
        case .double(let d): formatNumber(d)
        case .string(let s): s
        case .list(let l): l.map(\.textValue)
        case .object(let o): o.mapValues(\.textValue)
        }
    }

    /// `base` with the keys of `overrides` replaced (encoded, merged, decoded again, so every key
    /// is checked as in the file itself); a number given for a text key is taken as its text.
    /// A nested block given as an override (`safeclip: {…}`) replaces the keys it names in the
    /// block; a flat key that a block of `base` holds (`safe_increment`) replaces it there.
    static func overriding<T: Codable>(_ base: T, with overrides: [String: ConfigValue], key: String, file: String) throws(ConfigError) -> T {
        guard !overrides.isEmpty else { return base }
        var object: [String: Any]
        do {
            object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(base)) as? [String: Any] ?? [:]
        } catch {
            throw ConfigError(file: file, key: key, reason: "cannot encode: \(error)")
        }
        // A flat key goes where `base` keeps it: at the top level or in a defence's block.
        func set(_ k: String, _ value: Any) {
            if object[k] == nil, let owner = object.first(where: { ($0.value as? [String: Any])?[k] != nil })?.key,
                var nested = object[owner] as? [String: Any]
            {
                nested[k] = value
                object[owner] = nested
            } else {
                object[k] = value
            }
        }
        for (k, v) in overrides {
            if case .object(let block) = v, var nested = object[k] as? [String: Any] {
                for (bk, bv) in block { nested[bk] = bv.json }
                object[k] = nested
            } else {
                set(k, v.json)
            }
        }
        var asText: Set<String> = []
        while true {
            do {
                let data = try JSONSerialization.data(withJSONObject: object)
                return try JSONDecoder().decode(T.self, from: data)
            } catch let DecodingError.typeMismatch(expected, context) {
                let k = context.codingPath.last?.stringValue ?? ""
                if expected == String.self, let v = overrides[k], asText.insert(k).inserted {
                    set(k, v.textValue)
                    continue
                }
                throw ConfigError(file: file, key: ([key] + context.codingPath.map(\.stringValue)).joined(separator: "."), reason: "expected \(expected)")
            } catch let DecodingError.dataCorrupted(context) {
                throw ConfigError(file: file, key: ([key] + context.codingPath.map(\.stringValue)).joined(separator: "."), reason: context.debugDescription)
            } catch {
                throw ConfigError(file: file, key: key, reason: "\(error)")
            }
        }
    }
}

/// What an experiment row does: train with a registered defence (``Defense``, plain CLIP
/// included), or `detect` — `clipguard detect` with the file's ``DetectSpec``, drop what it says, plain CLIP
/// on the rest (Sources/Experiments/DetectDefense.swift).
///
/// Encoded as its name (`"safeclip"`, `"detect"`) in experiment files, row folders and
/// `results.json`, as earlier versions wrote the row's defence.
public enum RowKind: Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case train(Defense)
    case detect

    /// Plain CLIP, the baseline every other row is compared with.
    public static let plainCLIP = RowKind.train(.none)

    /// Every kind, in the order reports list them: the registered defences, then `detect`.
    public static var allCases: [RowKind] { Defense.allCases.map(RowKind.train) + [.detect] }

    /// The kind called `name`, or nil.
    public init?(name: String) {
        if name == "detect" {
            self = .detect
        } else if let defense = Defense(name: name) {
            self = .train(defense)
        } else {
            return nil
        }
    }

    /// The name in experiment files, row folders and results.
    public var name: String {
        switch self {
        case .train(let defense): defense.name
        case .detect: "detect"
        }
    }

    public var description: String { name }

    /// The defence the row trains with (`detect` trains plain CLIP on the cleaned data).
    public var defense: Defense {
        switch self {
        case .train(let defense): defense
        case .detect: .none
        }
    }

    /// How reports name the row's series.
    public var displayName: String {
        switch self {
        case .train(let defense): defense.displayName
        case .detect: "detect, drop, train"
        }
    }

    /// The series' colour in every plot (`#RRGGBB`), shared with no other kind.
    public var colour: String {
        switch self {
        case .train(let defense): defense.colour
        case .detect: "#56B4E9"
        }
    }

    /// The series' point marker, shared with no other kind.
    public var marker: PlotMarker {
        switch self {
        case .train(let defense): defense.marker
        case .detect: .star
        }
    }

    /// Whether the row fine-tunes the plain CLIP row of its seed and amount.
    public var finetunes: Bool { defense.finetunes }

    /// How the row's defence selects pairs (and logs what it caught); nil for the others.
    /// (`detect` selects with `clipguard detect` before training; the report reads its cut from `run-detect/summary.json`.)
    public var pairSelection: PairSelection? {
        switch self {
        case .train(let defense): defense.traits.pairSelection
        case .detect: nil
        }
    }

    /// Whether the row's training runs in named phases (which the report shades).
    public var phased: Bool { defense.traits.phased && self != .detect }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let name = try c.decode(String.self)
        guard let kind = RowKind(name: name) else {
            throw DecodingError.dataCorruptedError(
                in: c, debugDescription: "unknown defence '\(name)' (known: \(Self.allCases.map(\.name).joined(separator: ", ")))")
        }
        self = kind
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}

/// Where the training pairs come from.
public struct DataSpec: StrictConfig, Equatable, Sendable {
    /// A built-in set prepared into the experiment folder: `fashion-mnist`.
    public var builtin: String?
    /// At most this many training rows of the built-in set.
    public var limit: Int?
    /// At most this many test rows of the built-in set.
    public var evalLimit: Int?
    /// Seed of the built-in set's subset and captions.
    public var seed: UInt64
    /// A captioned training CSV/TSV instead of a built-in set.
    public var csv: String?
    public var imageColumn: String?
    public var captionColumn: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case builtin, limit, seed, csv
        case evalLimit = "eval_limit", imageColumn = "image_column", captionColumn = "caption_column"
    }

    public static var allowedKeys: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        builtin = try c.decodeIfPresent(String.self, forKey: .builtin)
        limit = try c.decodeIfPresent(Int.self, forKey: .limit)
        evalLimit = try c.decodeIfPresent(Int.self, forKey: .evalLimit)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        csv = try c.decodeIfPresent(String.self, forKey: .csv)
        imageColumn = try c.decodeIfPresent(String.self, forKey: .imageColumn)
        captionColumn = try c.decodeIfPresent(String.self, forKey: .captionColumn)
    }

    func validate(file: String) throws(ConfigError) {
        func fail(_ key: String, _ reason: String) -> ConfigError { ConfigError(file: file, key: "data." + key, reason: reason) }
        if (builtin == nil) == (csv == nil) { throw fail("builtin", "give exactly one of data.builtin and data.csv") }
        if let builtin, builtin != "fashion-mnist" { throw fail("builtin", "unknown built-in set '\(builtin)' (known: fashion-mnist)") }
        if let limit, limit < 1 { throw fail("limit", "must be positive") }
        if let evalLimit, evalLimit < 1 { throw fail("eval_limit", "must be positive") }
        if csv != nil && (limit != nil || evalLimit != nil) { throw fail("limit", "limits apply to built-in sets only") }
    }
}

/// A poison amount: a fraction of the clean rows or an exact count.
public enum PoisonAmountSpec: Hashable, Sendable, Codable, CustomStringConvertible {
    case rate(Double)
    case count(Int)

    /// A folder-safe tag (`rate0.01`, `count250`).
    public var tag: String {
        switch self {
        case .rate(let r): "rate\(formatNumber(r))"
        case .count(let n): "count\(n)"
        }
    }

    public var description: String {
        switch self {
        case .rate(let r): "\(formatNumber(100 * r))%"
        case .count(let n): "\(n) pairs"
        }
    }

    /// The rate as a number for plots (nil for counts).
    public var rateValue: Double? { if case .rate(let r) = self { r } else { nil } }
}

/// Shortest decimal form of a number (`0.0005`, `1`).
func formatNumber(_ x: Double) -> String {
    if x == x.rounded() && abs(x) < 1e15 { return String(Int(x)) }
    var text = String(format: "%.10f", x)
    while text.hasSuffix("0") { text.removeLast() }
    return text
}

/// The backdoor attack, with the options of `clipguard poison`.
///
/// Besides the keys below, every trigger setting of the registry is a key, named as its flag
/// with `_` (`patch_size`, `blend_weight`, `warp_grid`, …; ``TriggerRegistry/settings``); a
/// setting the chosen trigger does not use is ignored, as on the command line.
public struct AttackSpec: StrictConfig, Equatable, Sendable {
    /// The target class name (must be a class of the evaluation sets for ASR).
    public var target: String
    public var trigger: TriggerKind
    /// Poison rate (fraction of the clean rows); give `rate`, `rates` (a sweep) or `count`.
    public var rate: Double?
    public var rates: [Double]?
    public var count: Int?
    public var captions: CaptionStrategy
    /// The model's input side (triggers are placed at the model input).
    public var imageSize: Int
    public var resize: ModelGeometry.Resize
    /// `model-input` (default) or `original` (the study's placement).
    public var placement: String
    /// The trigger settings given, by setting name (`blend-weight`: `0.1`), as written.
    public var triggerOptions: TriggerOptions
    /// Prompt templates for `captions: template`.
    public var templates: String?
    public var seed: UInt64
    public var targetLabel: Int?
    /// The model a surrogate-guided attack works through: `clean` or a checkpoint path. For an
    /// optimised trigger (`trigger: optimized`), `clean` is a plain CLIP trained inside the
    /// experiment on the clean pairs, with the file's training settings and the attack's seed, in
    /// `DIR/surrogate/`; for an aimed attack (`aim`), `clean` is SafeCLIP's warm-up (the file's
    /// SafeCLIP settings) trained on the clean pairs with the attack's seed, in
    /// `DIR/data/surrogate-seedN/`. Ignored by other attacks.
    public var surrogate: String?
    /// A surrogate-guided attack aimed at a defence (``AimedAttack``), nil for none.
    public var aim: AimedAttack?
    /// The aimed attack's L∞ radius (1/255 steps; 0: none; default the attack's), PGD steps and
    /// how the SafeCLIP-aimed attack chooses its sources (``AimSelection``, default top).
    public var epsilon: Int?
    public var pgdSteps: Int?
    public var aimSelection: AimSelection?

    /// The keyword of `surrogate` for a clean model trained inside the experiment.
    public static let cleanSurrogate = "clean"

    /// A retrieval attack instead of the backdoor (`pair-class`, …; ``RetrievalAttackRegistry``);
    /// nil: the backdoor with `trigger`.
    public var kind: RetrievalAttackKind?
    /// The pairing attacks' goals, `A:B` each.
    public var goals: [String]?
    /// The caption-trigger attack's text (its target is `target`).
    public var captionTrigger: String?
    /// The one-image attack's image (nil: a seeded random training image of the goal's class B).
    public var targetImage: String?
    /// A retrieval attack's placement of its pairs (nil: appended; `replace`: mmPoison's, in place).
    public var pairing: PairPlacement?
    /// Which rows give the pairing goals' captions (nil: by label; `naming`: captions naming A).
    public var captionRows: CaptionRowChoice?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case target, trigger, rate, rates, count, captions, resize, placement, templates, seed, surrogate, kind, goals, aim, epsilon
        case imageSize = "image_size", targetLabel = "target_label", captionTrigger = "caption_trigger", targetImage = "target_image"
        case pgdSteps = "pgd_steps", aimSelection = "aim_selection", pairing, captionRows = "caption_rows"
    }

    /// A key of the file that is a trigger setting.
    struct SettingKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public static var allowedKeys: Set<String> {
        Set(CodingKeys.allCases.map(\.rawValue)).union(TriggerRegistry.settings.map(\.setting.key))
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        target = try c.decode(String.self, forKey: .target)
        trigger = try c.decodeIfPresent(TriggerKind.self, forKey: .trigger) ?? .patch
        rate = try c.decodeIfPresent(Double.self, forKey: .rate)
        rates = try c.decodeIfPresent([Double].self, forKey: .rates)
        count = try c.decodeIfPresent(Int.self, forKey: .count)
        captions = try c.decodeIfPresent(CaptionStrategy.self, forKey: .captions) ?? .natural
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? 224
        resize = try c.decodeIfPresent(ModelGeometry.Resize.self, forKey: .resize) ?? .crop
        placement = try c.decodeIfPresent(String.self, forKey: .placement) ?? "model-input"
        templates = try c.decodeIfPresent(String.self, forKey: .templates)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        targetLabel = try c.decodeIfPresent(Int.self, forKey: .targetLabel)
        surrogate = try c.decodeIfPresent(String.self, forKey: .surrogate)
        kind = try c.decodeIfPresent(RetrievalAttackKind.self, forKey: .kind)
        goals = try c.decodeIfPresent([String].self, forKey: .goals)
        captionTrigger = try c.decodeIfPresent(String.self, forKey: .captionTrigger)
        targetImage = try c.decodeIfPresent(String.self, forKey: .targetImage)
        pairing = try c.decodeIfPresent(PairPlacement.self, forKey: .pairing)
        captionRows = try c.decodeIfPresent(CaptionRowChoice.self, forKey: .captionRows)
        if try c.decodeIfPresent(String.self, forKey: .aim) == "none" {
            // `aim: none` (a variant's way to drop the file's aimed attack) clears its keys too.
            aim = nil; epsilon = nil; pgdSteps = nil; aimSelection = nil
        } else {
            aim = try c.decodeIfPresent(AimedAttack.self, forKey: .aim)
            epsilon = try c.decodeIfPresent(Int.self, forKey: .epsilon)
            pgdSteps = try c.decodeIfPresent(Int.self, forKey: .pgdSteps)
            aimSelection = try c.decodeIfPresent(AimSelection.self, forKey: .aimSelection)
        }
        // Trigger settings: kept as the text written (a number is its shortest exact text), and
        // checked by the setting's own validation in `validate(file:)`.
        let settings = try decoder.container(keyedBy: SettingKey.self)
        triggerOptions = TriggerOptions()
        for entry in TriggerRegistry.settings {
            let key = SettingKey(stringValue: entry.setting.key)
            guard settings.contains(key), try !settings.decodeNil(forKey: key) else { continue }
            if let text = try? settings.decode(String.self, forKey: key) {
                triggerOptions.values[entry.setting.name] = text
            } else if let n = try? settings.decode(Int.self, forKey: key) {
                triggerOptions.values[entry.setting.name] = String(n)
            } else if let x = try? settings.decode(Double.self, forKey: key) {
                triggerOptions.values[entry.setting.name] = "\(x)"
            } else {
                throw DecodingError.typeMismatch(String.self, .init(codingPath: settings.codingPath + [key],
                                                                    debugDescription: "expected \(entry.setting.expected)"))
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(target, forKey: .target)
        try c.encode(trigger, forKey: .trigger)
        try c.encodeIfPresent(rate, forKey: .rate)
        try c.encodeIfPresent(rates, forKey: .rates)
        try c.encodeIfPresent(count, forKey: .count)
        try c.encode(captions, forKey: .captions)
        try c.encode(imageSize, forKey: .imageSize)
        try c.encode(resize, forKey: .resize)
        try c.encode(placement, forKey: .placement)
        try c.encodeIfPresent(templates, forKey: .templates)
        try c.encode(seed, forKey: .seed)
        try c.encodeIfPresent(targetLabel, forKey: .targetLabel)
        try c.encodeIfPresent(aim, forKey: .aim)
        try c.encodeIfPresent(surrogate, forKey: .surrogate)
        try c.encodeIfPresent(kind, forKey: .kind)
        try c.encodeIfPresent(goals, forKey: .goals)
        try c.encodeIfPresent(captionTrigger, forKey: .captionTrigger)
        try c.encodeIfPresent(targetImage, forKey: .targetImage)
        try c.encodeIfPresent(pairing, forKey: .pairing)
        try c.encodeIfPresent(captionRows, forKey: .captionRows)
        try c.encodeIfPresent(epsilon, forKey: .epsilon)
        try c.encodeIfPresent(pgdSteps, forKey: .pgdSteps)
        try c.encodeIfPresent(aimSelection, forKey: .aimSelection)
        var settings = encoder.container(keyedBy: SettingKey.self)
        for (name, text) in triggerOptions.values.sorted(by: { $0.key < $1.key }) {
            try settings.encode(text, forKey: SettingKey(stringValue: name.replacingOccurrences(of: "-", with: "_")))
        }
    }

    /// The poison amounts of the experiment (one, or a sweep).
    public var amounts: [PoisonAmountSpec] {
        if let rates { return rates.map(PoisonAmountSpec.rate) }
        if let rate { return [.rate(rate)] }
        return [.count(count ?? 0)]
    }

    /// Equal when they poison alike: trigger settings compare by the value they give the chosen
    /// trigger (`blend_weight: 0.20` = `0.2`; a default written out = left out; a setting the
    /// trigger does not use is ignored), so a run folder saved by an older version, which wrote
    /// `patch_color: white` for every trigger, resumes.
    public static func == (a: AttackSpec, b: AttackSpec) -> Bool {
        a.target == b.target && a.trigger == b.trigger && a.rate == b.rate && a.rates == b.rates && a.count == b.count
            && a.captions == b.captions && a.imageSize == b.imageSize && a.resize == b.resize && a.placement == b.placement
            && a.templates == b.templates && a.seed == b.seed && a.targetLabel == b.targetLabel
            && a.kind == b.kind && a.goals == b.goals && a.captionTrigger == b.captionTrigger && a.targetImage == b.targetImage
            && (a.pairing ?? .append) == (b.pairing ?? .append) && (a.captionRows ?? .label) == (b.captionRows ?? .label)
            && a.aim == b.aim && a.epsilon == b.epsilon && a.pgdSteps == b.pgdSteps && a.aimSelection == b.aimSelection
            && a.triggerOptions.canonical(for: a.trigger) == b.triggerOptions.canonical(for: b.trigger)
            && a.usedSurrogate == b.usedSurrogate
    }

    /// ``surrogate`` where the trigger is optimised through one or an aimed attack uses it, else nil.
    public var usedSurrogate: String? { trigger.definition.optimizedThroughSurrogate || aim != nil ? surrogate : nil }

    /// The trigger in one line for reports: its display name and the settings given
    /// (`Patch (BadNet square): patch_size 22.32%, patch_color white`).
    public var triggerDescription: String {
        let used = trigger.definition.settings
        let given = used.compactMap { s in triggerOptions.values[s.name].map { "\(s.key) \($0)" } }
        return trigger.displayName + (given.isEmpty ? " (default settings)" : ": " + given.joined(separator: ", "))
    }

    func validate(file: String) throws(ConfigError) {
        func fail(_ key: String, _ reason: String) -> ConfigError { ConfigError(file: file, key: "attack." + key, reason: reason) }
        if target.trimmingCharacters(in: .whitespaces).isEmpty { throw fail("target", "must name a class") }
        let given = [rate != nil, rates != nil, count != nil].filter { $0 }.count
        if given != 1 { throw fail("rate", "give exactly one of rate, rates (a sweep) and count") }
        for r in ([rate].compactMap { $0 } + (rates ?? [])) where !(r >= 0 && r <= 1) {
            throw fail(rates != nil ? "rates" : "rate", "must be within 0…1, got \(r)")
        }
        if let rates, rates.isEmpty || Set(rates).count != rates.count { throw fail("rates", "must list distinct rates") }
        if let count, count < 0 { throw fail("count", "must not be negative") }
        if imageSize < 1 { throw fail("image_size", "must be positive") }
        if !["model-input", "original"].contains(placement) { throw fail("placement", "must be model-input or original") }
        for (name, text) in triggerOptions.values.sorted(by: { $0.key < $1.key }) {
            guard let setting = TriggerRegistry.setting(named: name) else { throw fail(name, "unknown trigger setting") }
            if let problem = setting.problem(with: text) { throw fail(setting.key, problem) }
        }
        if trigger.definition.optimizedThroughSurrogate {
            guard let surrogate else {
                throw fail("surrogate", "trigger \(trigger) is optimised through a surrogate model: give 'clean' (a plain CLIP trained inside the experiment on the clean pairs) or a checkpoint path")
            }
            if surrogate.trimmingCharacters(in: .whitespaces).isEmpty { throw fail("surrogate", "must be 'clean' or a checkpoint path") }
            if placement != "model-input" { throw fail("placement", "trigger \(trigger) is optimised at the model input: use model-input") }
        }
        if let kind {
            do { try kind.definition.check(try retrievalSettings()) } catch {
                let flagKeys = ["--goal": "goals", "--caption-trigger": "caption_trigger", "--image": "target_image", "--target": "target",
                                "--pairing": "pairing", "--caption-rows": "caption_rows"]
                let key = flagKeys.first { error.description.contains($0.key) }?.value ?? "kind"
                var reason = error.description
                for (flag, k) in flagKeys { reason = reason.replacingOccurrences(of: flag, with: "attack." + k) }
                throw fail(key, reason)
            }
        } else if let key = [("goals", goals != nil), ("caption_trigger", captionTrigger != nil), ("target_image", targetImage != nil),
                              ("pairing", pairing != nil), ("caption_rows", captionRows != nil)].first(where: \.1)?.0 {
            throw fail(key, "is a setting of a retrieval attack; give attack.kind (\(RetrievalAttackKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if kind != nil, let aim {
            throw fail("aim", "attack.aim \(aim.rawValue) is a backdoor through a surrogate; it does not combine with the retrieval attack attack.kind")
        }
        if let aim {
            if trigger.definition.optimizedThroughSurrogate {
                throw fail("aim", "attack.aim \(aim.rawValue) and trigger \(trigger) both work through the surrogate: use one of them")
            }
            guard let surrogate, !surrogate.isEmpty else { throw fail("surrogate", "attack.aim \(aim.rawValue) needs a surrogate: 'clean' or a checkpoint path") }
            if captions != aim.captions { throw fail("captions", "attack.aim \(aim.rawValue) needs captions: \(aim.captions.rawValue)") }
            if placement != "model-input" { throw fail("placement", "attack.aim works on model-input images") }
            do { try aimSettings(surrogatePath: surrogate)?.check() } catch {
                let text = error.description.replacingOccurrences(of: "--pgd-steps", with: "pgd_steps")
                    .replacingOccurrences(of: "--epsilon", with: "epsilon").replacingOccurrences(of: "--aim-selection", with: "aim_selection")
                throw ConfigError(file: file, key: "attack", reason: text)
            }
        } else {
            for (key, given) in [("epsilon", epsilon != nil), ("pgd_steps", pgdSteps != nil), ("aim_selection", aimSelection != nil)] where given {
                throw fail(key, "applies to an aimed attack; set attack.aim too")
            }
        }
    }

    /// The retrieval attack's settings (goals parsed; the caption trigger's goal is `target:target`).
    public func retrievalSettings() throws(AttackError) -> RetrievalAttackSettings {
        var parsed: [RetrievalGoal] = []
        for text in goals ?? [] {
            guard let goal = RetrievalGoal(parsing: text) else { throw .invalidSetting("--goal \"\(text)\" is not A:B (two class names)") }
            parsed.append(goal)
        }
        if kind == .captionTrigger {
            if !parsed.isEmpty { throw .invalidSetting("--goal is for the pairing attacks; caption-trigger takes --target") }
            let name = target.trimmingCharacters(in: .whitespaces)
            parsed = [RetrievalGoal(captionClass: name, imageClass: name)]
        }
        return RetrievalAttackSettings(goals: parsed, targetImage: targetImage, captionTrigger: captionTrigger,
                                       placement: pairing ?? .append, captionRows: captionRows ?? .label)
    }

    /// The attack in one line for reports: the retrieval attack with its goals, or the trigger.
    public var attackDescription: String {
        guard let kind else { return triggerDescription }
        if kind == .captionTrigger { return "\(kind.displayName): \"\(captionTrigger ?? "")\" → \(target)" }
        var choices: [String] = []
        if pairing == .replace { choices.append("replacing class-A pairs") }
        if captionRows == .naming { choices.append("captions naming A") }
        return "\(kind.displayName): " + (goals ?? []).joined(separator: ", ") + (choices.isEmpty ? "" : " (\(choices.joined(separator: ", ")))")
    }

    /// The aimed attack's settings with the surrogate at `surrogatePath`; nil without `aim`.
    public func aimSettings(surrogatePath: String) -> AimedAttackSettings? {
        aim.map { AimedAttackSettings(attack: $0, surrogate: surrogatePath, epsilon: epsilon, steps: pgdSteps ?? 10, selection: aimSelection) }
    }
}

/// A labelled evaluation set.
public struct EvaluationSpec: StrictConfig, Equatable, Sendable {
    /// Column name in the report (`cifar10`, `imagenet`).
    public var name: String
    /// `builtin` (the prepared built-in set's test split), `fashion-mnist` (its full test
    /// split), a labelled folder (labels.csv + classes.json) or CIFAR binary files.
    public var path: String
    /// Evaluate only the first N images.
    public var limit: Int?
    /// Measure the attack success rate on this set (needs the target among its classes).
    public var asr: Bool

    public init(name: String, path: String, limit: Int? = nil, asr: Bool = true) {
        self.name = name
        self.path = path
        self.limit = limit
        self.asr = asr
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case name, path, limit, asr }
    public static var allowedKeys: Set<String> { Set(CodingKeys.allCases.map(\.rawValue)) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        path = try c.decode(String.self, forKey: .path)
        limit = try c.decodeIfPresent(Int.self, forKey: .limit)
        asr = try c.decodeIfPresent(Bool.self, forKey: .asr) ?? true
    }
}

/// One row of an experiment: a defence trained with a seed on data poisoned by an amount.
/// What a re-run's configuration changes in a run folder (``ExperimentConfig/change(from:started:poisonedSets:)``).
public struct ExperimentChange: Sendable, Equatable {
    /// Rows the folder did not have.
    public var added: [RowPlan] = []
    /// Rows that had not started and now run with other settings.
    public var changed: [RowPlan] = []
    /// Rows that had not started and are no longer in the file.
    public var dropped: [RowPlan] = []

    /// "3 rows added, 1 changed before it started".
    public var summary: String {
        func n(_ k: Int, _ what: String) -> String? { k == 0 ? nil : "\(k) row\(k == 1 ? "" : "s") \(what)" }
        return [n(added.count, "added"), n(changed.count, "changed before they started"), n(dropped.count, "dropped before they started")]
            .compactMap { $0 }.joined(separator: ", ")
    }
}

public struct RowPlan: Hashable, Sendable, Codable {
    /// What the row trains (`defense` in results, as earlier versions named it).
    public var defense: RowKind
    public var seed: UInt64
    public var amount: PoisonAmountSpec
    /// The variant the row belongs to (nil: the file's own rows).
    public var variant: String?
    /// The variant whose attack poisoned the row's data (nil: the file's attack).
    public var poisonVariant: String?

    public init(defense: RowKind, seed: UInt64, amount: PoisonAmountSpec, variant: String? = nil, poisonVariant: String? = nil) {
        self.defense = defense
        self.seed = seed
        self.amount = amount
        self.variant = variant
        self.poisonVariant = poisonVariant
    }

    /// The row's folder name under `DIR/rows/`.
    public var id: String { "\(defense)-" + (variant.map { "\($0)-" } ?? "") + "\(amount.tag)-seed\(seed)" }

    /// The poisoned set's tag (`rate0.01`, `blended-rate0.01`).
    public var poisonTag: String { (poisonVariant.map { "\($0)-" } ?? "") + amount.tag }
}
