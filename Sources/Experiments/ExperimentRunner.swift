import Attacks
import CLIP
import Datasets
import Detection
import Evaluation
import Foundation
import SurrogateAttacks
import Torch
import Training

/// Errors of an experiment run, naming the file, folder or row at fault.
public enum ExperimentError: Error, CustomStringConvertible {
    case config(String)
    case missingData([String])
    case folder(path: String, reason: String)
    case defenseUnavailable(defense: String, reason: String)
    case row(id: String, reason: String)
    case interrupted(row: String)

    public var description: String {
        switch self {
        case .config(let message): message
        case .missingData(let paths): "missing data: " + paths.joined(separator: "; ")
        case .folder(let path, let reason): "\(path): \(reason)"
        case .defenseUnavailable(let defense, let reason): "defence '\(defense)': \(reason)"
        case .row(let id, let reason): "row \(id): \(reason)"
        case .interrupted(let row): "stopped during row \(row); run the same command again to continue"
        }
    }
}

/// Figures of one model on one evaluation set.
public struct SetResult: Codable, Sendable, Equatable {
    public var top1: Double
    public var top5: Double
    public var n: Int
    /// Attack success rate over the non-target images (nil when not measured).
    public var asr: Double?
    public var asrDenominator: Int?
    public var asrSuccesses: Int?
    public var triggeredTop1: Double?
    /// The ASR's base rate: the share of the same non-target images, without the trigger, that
    /// the model calls the target (nil when not measured, and in results of earlier versions).
    public var asrBaseRate: Double?
    public var asrBaseSuccesses: Int?
    /// Robust accuracy: the share of triggered non-target images classified as their true class.
    public var robustAccuracy: Double?
    /// Classes of the evaluation set (chance top-1 is 1/classes; nil in earlier results).
    public var classes: Int?
    /// A retrieval attack's Hit@K and MinRank per goal (nil for backdoors, and in earlier results).
    public var retrieval: RetrievalAttackEvaluation?

    enum CodingKeys: String, CodingKey {
        case top1, top5, n, asr, classes, retrieval
        case asrDenominator = "asr_denominator", asrSuccesses = "asr_successes", triggeredTop1 = "triggered_top1"
        case asrBaseRate = "asr_base_rate", asrBaseSuccesses = "asr_base_successes", robustAccuracy = "robust_accuracy"
    }
}

/// The outcome of one row (written as `DIR/rows/ID/result.json` when the row is finished).
public struct RowResult: Codable, Sendable, Equatable {
    public var id: String
    /// What the row trained (a defence or `detect`; its name in the file).
    public var defense: RowKind
    public var seed: UInt64
    public var amount: String
    /// The variant of the experiment file the row belongs to (nil: the file's own rows).
    public var variant: String?
    public var rate: Double?
    /// Poisoned pairs in the training data.
    public var poisoned: Int
    public var trainingPairs: Int
    /// `finished` (results written by older versions may say `unavailable`: a defence that build lacked).
    public var status: String
    public var reason: String?
    public var steps: Int?
    public var finalLoss: Double?
    public var trainingSeconds: Double?
    public var evaluationSeconds: Double?
    public var evaluations: [String: SetResult]
    /// Why the row's figures may mean nothing (too few poisoned pairs, accuracy near chance, an
    /// empty safe set, a warm-up longer than the run); nil or empty when none applies.
    public var warnings: [String]?
    /// SafeCLIP rows: poisoned pairs in the safe set at each selection, from the run's
    /// `metrics.jsonl` (nil for rows without selections or without a manifest).
    public var safeSetPoisons: [SafeSetShare]?

    /// Defence and variant (`safeclip@to-cap`): what the report groups, names and colours by.
    public var series: String { variant.map { "\(defense.name)@\($0)" } ?? defense.name }

    enum CodingKeys: String, CodingKey {
        case id, defense, seed, amount, variant, rate, poisoned, status, reason, steps, evaluations, warnings
        case trainingPairs = "training_pairs", finalLoss = "final_loss", trainingSeconds = "training_seconds"
        case evaluationSeconds = "evaluation_seconds", safeSetPoisons = "safe_set_poisons"
    }
}

/// How many poisoned pairs one SafeCLIP selection put in the safe set (trained with the CLIP loss).
public struct SafeSetShare: Codable, Sendable, Equatable {
    /// The training epoch (1-based) the selection was made for.
    public var epoch: Int
    public var poisonedInSafe: Int
    public var poisonedTotal: Int
    /// Pairs in the safe set, of all pairs.
    public var safeCount: Int
    public var pairs: Int

    /// `poisonedInSafe / poisonedTotal` (nil without poisoned pairs).
    public var share: Double? { poisonedTotal > 0 ? Double(poisonedInSafe) / Double(poisonedTotal) : nil }

    public init(epoch: Int, poisonedInSafe: Int, poisonedTotal: Int, safeCount: Int, pairs: Int) {
        self.epoch = epoch; self.poisonedInSafe = poisonedInSafe; self.poisonedTotal = poisonedTotal
        self.safeCount = safeCount; self.pairs = pairs
    }

    enum CodingKeys: String, CodingKey {
        case epoch
        case poisonedInSafe = "poisoned_in_safe", poisonedTotal = "poisoned_total", safeCount = "safe_count", pairs
    }

    /// The shares of a run's selection records (those with a detection against the manifest).
    public static func read(metrics path: String) -> [SafeSetShare]? {
        guard let file = try? MetricsFile.read(path: path) else { return nil }
        let shares = file.selections.compactMap { r in
            r.detection.map { SafeSetShare(epoch: r.selectionEpoch, poisonedInSafe: $0.poisonedInSafe, poisonedTotal: $0.poisonedTotal,
                                           safeCount: r.safeCount, pairs: r.safeCount + r.riskyCount) }
        }
        return shares.isEmpty ? nil : shares
    }
}

/// A poisoned training set of the experiment.
public struct PoisonedSetInfo: Codable, Sendable, Equatable {
    public var amount: String
    /// The variant whose attack made the set (nil: the file's attack).
    public var variant: String?
    public var folder: String
    public var csv: String
    public var manifest: String
    public var cleanRows: Int
    public var poisoned: Int

    enum CodingKeys: String, CodingKey {
        case amount, variant, folder, csv, manifest, poisoned
        case cleanRows = "clean_rows"
    }
}

/// `DIR/results.json`: everything the report shows.
public struct ExperimentResults: Codable, Sendable {
    public var name: String
    public var configFile: String
    public var config: ExperimentConfig
    /// Equivalent `clipguard` commands of the experiment's steps.
    public var commands: [String]
    public var trainCSV: String
    public var evaluationSets: [String: String]
    public var poisonedSets: [PoisonedSetInfo]
    public var rows: [RowResult]
    public var updated: String
    /// Comparisons that mean nothing (a defence against plain CLIP where either is near chance).
    public var warnings: [String]?
    /// Where and with what the rows ran (nil in results of earlier versions).
    public var environment: RunEnvironment?

    enum CodingKeys: String, CodingKey {
        case name, config, commands, rows, updated, warnings, environment
        case configFile = "config_file", trainCSV = "train_csv", evaluationSets = "evaluation_sets", poisonedSets = "poisoned_sets"
    }

    /// Reads `DIR/results.json`.
    public static func load(directory: String) throws -> ExperimentResults {
        let path = directory + "/results.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ExperimentError.folder(path: path, reason: "no results.json (run `clipguard experiment run` first)")
        }
        return try JSONDecoder().decode(ExperimentResults.self, from: data)
    }
}

/// Runs an experiment: prepares and poisons the data once, trains and evaluates every row,
/// and writes `DIR/results.json` and the report.
///
/// Layout of `DIR`: `experiment.json` (the resolved configuration; a re-run must match it),
/// `data/clean/` (a prepared built-in set), `data/poison-TAG/` (poisoned sets), `rows/ID/run/`
/// (the training run folder) and `rows/ID/result.json`. A row with a `result.json` is skipped
/// on a re-run; a row with a checkpoint resumes from it.
public final class ExperimentRunner {
    public let config: ExperimentConfig
    public let configPath: String
    public let directory: String
    /// Stop signal shared with training (Ctrl-C writes a checkpoint and stops).
    public var stopSignal: StopSignal?
    /// Stops each row's training session after this many steps (tests simulate a killed run).
    public var stopAfterSteps: Int?
    /// Where progress lines go.
    public var log: (String) -> Void = { FileHandle.standardError.write(Data("\($0)\n".utf8)) }
    /// Training progress display (plain lines every `training.log_every` steps off a terminal).
    public var reporter: ProgressReporter
    /// The tool's version line, recorded in results.json (the command line sets it).
    public var toolVersion: String?

    public init(config: ExperimentConfig, configPath: String, directory: String) {
        self.config = config
        self.configPath = configPath
        self.directory = absolutePath(directory)
        reporter = ProgressReporter(logEvery: config.training.logEvery)
    }

    // MARK: Paths

    var dataFolder: String { directory + "/data" }
    var cleanFolder: String { dataFolder + "/clean" }
    func poisonFolder(_ row: RowPlan) -> String { dataFolder + "/poison-" + row.poisonTag }
    func rowFolder(_ row: RowPlan) -> String { directory + "/rows/" + row.id }

    /// The clean training CSV (prepared or given).
    public var trainCSV: String {
        if config.data.builtin != nil { return cleanFolder + "/train.csv" }
        return absolutePath(config.data.csv ?? "")
    }

    /// The folder or files of an evaluation set.
    public func evaluationPath(_ spec: EvaluationSpec) -> String {
        switch spec.path {
        case "builtin": cleanFolder + "/eval"
        case "fashion-mnist": "fashion-mnist"
        default: absolutePath(spec.path)
        }
    }

    // MARK: Checks

    /// Data and weight paths named by the file that do not exist (built-in sets are checked by
    /// their source).
    public static func missingPaths(_ config: ExperimentConfig) -> [String] {
        let fm = FileManager.default
        var missing: [String] = []
        if let csv = config.data.csv, !fm.fileExists(atPath: csv) { missing.append("data.csv: \(csv)") }
        if config.data.builtin == "fashion-mnist" {
            do {
                _ = try FashionMNISTDataset.standard(train: false)
            } catch {
                missing.append("data.builtin: fashion-mnist source files (\(error)); run `make setup`")
            }
        }
        for (i, e) in config.evaluation.enumerated() where !["builtin", "fashion-mnist"].contains(e.path) {
            // CIFAR binary files may be given as a glob-free folder; anything else must exist.
            if !fm.fileExists(atPath: e.path) { missing.append("evaluation.\(i).path: \(e.path)") }
        }
        if let templates = config.attack.templates, templates.contains("/"), !fm.fileExists(atPath: templates) {
            missing.append("attack.templates: \(templates)")
        }
        if let weights = config.defenseSettings[FilterSettings.self].model, weights != ExperimentConfig.cleanFilterModel,
            weights != ExperimentConfig.poisonedFilterModel, !fm.fileExists(atPath: weights)
        {
            missing.append("training.filter_model: \(weights)")
        }
        if let weights = config.pretrained, weights != ExperimentConfig.cleanPretrained, !fm.fileExists(atPath: weights) {
            missing.append("pretrained: \(weights)")
        }
        if let weights = config.training.initWeights, !fm.fileExists(atPath: weights) {
            missing.append("training.init_weights: \(weights)")
        }
        for (key, path) in surrogatePaths(config) where !fm.fileExists(atPath: path) { missing.append("\(key): \(path)") }
        return missing
    }

    /// The surrogate checkpoints named by path (not `clean`) in the file's attack and its
    /// variants', with their keys.
    static func surrogatePaths(_ config: ExperimentConfig) -> [(key: String, path: String)] {
        var out: [(String, String)] = []
        if let s = config.attack.usedSurrogate, s != AttackSpec.cleanSurrogate { out.append(("attack.surrogate", s)) }
        for (i, v) in config.variants.enumerated() {
            if let a = try? config.resolved(v, file: "").attack, let s = a.usedSurrogate, s != AttackSpec.cleanSurrogate,
               !out.contains(where: { $0.1 == s }) {
                out.append(("variants.\(i).attack.surrogate", s))
            }
        }
        return out
    }

    /// Surrogate checkpoints that exist but cannot serve (not a CLIP checkpoint, or a model of
    /// another input size than the attack's `image_size`), one sentence each naming the key.
    public static func surrogateProblems(_ config: ExperimentConfig) -> [String] {
        surrogatePaths(config).compactMap { key, path in
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            do {
                let size = try OptimizedPoisoning.inputSize(ofSurrogate: path)
                return size == config.attack.imageSize ? nil
                    : "\(key): \(path) takes \(size) px images but attack.image_size is \(config.attack.imageSize)"
            } catch {
                return "\(key): \(path): \(error)"
            }
        }
    }

    // MARK: Running

    /// Runs every unfinished row and writes results and report.
    ///
    /// - Throws: ``ExperimentError/interrupted(row:)`` when stopped (a checkpoint was written);
    ///   data, poisoning, training and evaluation errors otherwise.
    @discardableResult
    public func run() throws -> ExperimentResults {
        let missing = ExperimentRunner.missingPaths(config)
        if !missing.isEmpty { throw ExperimentError.missingData(missing) }
        let unusable = ExperimentRunner.surrogateProblems(config)
        if !unusable.isEmpty { throw ExperimentError.config(unusable.joined(separator: "; ")) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try checkSameExperiment()
        try prepareData()
        var poisoned: [PoisonedSetInfo] = []
        for row in poisonedSets { poisoned.append(try poison(row)) }
        // Rows finished in earlier runs are in results.json from the start (a report made while
        // the experiment runs shows every finished row), in the file's order.
        var done = Dictionary(config.rows.compactMap { finishedResult($0).map { ($0.id, $0) } }, uniquingKeysWith: { a, _ in a })
        var results = makeResults(poisoned: poisoned, rows: config.rows.compactMap { done[$0.id] })
        try write(results)
        for row in config.rows {
            guard let info = poisoned.first(where: { $0.amount == row.amount.tag && $0.variant == row.poisonVariant }) else {
                throw ExperimentError.row(id: row.id, reason: "no poisoned set \(row.poisonTag)")
            }
            let result = try runRow(row, poisoned: info)
            done[row.id] = result
            results.rows = config.rows.compactMap { done[$0.id] }
            results.updated = ISO8601DateFormatter().string(from: Date())
            try write(results)
        }
        results.updated = ISO8601DateFormatter().string(from: Date())
        let classes = Dictionary(uniqueKeysWithValues: try config.evaluation.map { ($0.name, try openEvaluationSet(evaluationPath($0)).classNames.count) })
        let comparisons = results.comparisonWarnings(classes: classes)
        results.warnings = comparisons.isEmpty ? nil : comparisons
        try write(results)
        try ReportWriter(directory: directory, results: results).write()
        return results
    }

    func makeResults(poisoned: [PoisonedSetInfo], rows: [RowResult]) -> ExperimentResults {
        ExperimentResults(
            name: config.name, configFile: configPath, config: config, commands: (try? equivalentCommands()) ?? [], trainCSV: trainCSV,
            evaluationSets: Dictionary(uniqueKeysWithValues: config.evaluation.map { ($0.name, evaluationPath($0)) }),
            poisonedSets: poisoned, rows: rows, updated: ISO8601DateFormatter().string(from: Date()),
            environment: RunEnvironment.current(toolVersion: toolVersion, threads: config.training.threads, device: config.training.device))
    }

    func write(_ results: ExperimentResults) throws {
        try ConfigFile.jsonData(results).write(to: URL(fileURLWithPath: directory + "/results.json"), options: .atomic)
    }

    var differentExperiment: ExperimentError {
        .folder(
            path: directory,
            reason: "holds a different experiment (see experiment.json): a re-run may add rows (variants, defences, seeds, rates) and change rows that have not started, but must keep the data, every started row's settings and every poisoned set already written; choose a new --out or delete the folder")
    }

    /// Saves the configuration on the first run; later runs must use the same one or one the folder
    /// can continue with (``ExperimentConfig/change(from:started:poisonedSets:)``), which is then
    /// saved in its place.
    func checkSameExperiment() throws {
        let path = directory + "/experiment.json"
        let data = try ConfigFile.jsonData(config)
        if let saved = FileManager.default.contents(atPath: path) {
            let previous = try? JSONDecoder().decode(ExperimentConfig.self, from: saved)
            guard let previous else { throw differentExperiment }
            if previous == config { return }
            let fm = FileManager.default
            let started = Set(previous.rows.map(\.id).filter { fm.fileExists(atPath: directory + "/rows/" + $0) })
            let poisoned = Set(previous.rows.map(\.poisonTag).filter { fm.fileExists(atPath: dataFolder + "/poison-" + $0 + "/.complete") })
            guard let change = config.change(from: previous, started: started, poisonedSets: poisoned) else { throw differentExperiment }
            log("continuing the experiment in \(directory) with a changed file: \(change.summary.isEmpty ? "no row changed" : change.summary); the \(started.count) rows that started keep their settings")
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } else {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        }
    }

    func prepareData() throws {
        guard let builtin = config.data.builtin else { return }
        let stamp = cleanFolder + "/.complete"
        if FileManager.default.fileExists(atPath: stamp) { return }
        log("preparing \(builtin) in \(cleanFolder)")
        try? FileManager.default.removeItem(atPath: cleanFolder)
        let summary = try BuiltinSets.prepareFashionMNIST(
            folder: cleanFolder, limit: config.data.limit, evaluationLimit: config.data.evalLimit, seed: config.data.seed)
        log("\(summary)")
        _ = FileManager.default.createFile(atPath: stamp, contents: Data())
    }

    /// One row per poisoned set the rows need (an amount of the file's attack or of a variant's).
    var poisonedSets: [RowPlan] {
        var seen: Set<String> = []
        return config.rows.filter { seen.insert($0.poisonTag).inserted }
    }

    func poison(_ row: RowPlan) throws -> PoisonedSetInfo {
        let amount = row.amount
        let folder = poisonFolder(row)
        let stamp = folder + "/.complete"
        let manifestPath = folder + "/manifest.json"
        if !FileManager.default.fileExists(atPath: stamp) {
            log("poisoning \(amount) of \(trainCSV) into \(folder)")
            let a = try config.resolved(variant: row.poisonVariant).attack
            var templates: [String] = []
            if a.captions.definition.usesTemplates {
                let beside = ((trainCSV as NSString).deletingLastPathComponent as NSString).appendingPathComponent("classes.json")
                templates = try PromptTemplates.load(a.templates ?? (FileManager.default.fileExists(atPath: beside) ? beside : "imagenet"))
            }
            let attack: PoisonAttack = if let kind = a.kind {
                .retrieval(kind: kind, settings: try a.retrievalSettings())
            } else {
                .backdoor(kind: a.trigger, options: a.triggerOptions, source: .train)
            }
            var request = PoisonRequest(
                dataPath: trainCSV, outputFolder: folder, target: a.target,
                attack: attack,
                amount: { switch amount { case .rate(let r): .rate(r); case .count(let n): .count(n) } }(),
                captions: a.captions, templates: templates,
                placement: a.placement == "original" ? .original : .modelInput(ModelGeometry(resize: a.resize, size: a.imageSize)),
                seed: a.seed, targetLabel: a.targetLabel, overwrite: true,
                csvOptions: CSVOptions(imageColumn: config.data.imageColumn, captionColumn: config.data.captionColumn))
            if a.trigger.definition.optimizedThroughSurrogate, let surrogate = a.usedSurrogate {
                let weights = surrogate == AttackSpec.cleanSurrogate ? try trainSurrogate(attack: a) : absolutePath(surrogate)
                let outcome = try OptimizedPoisoning.run(request, surrogate: weights, reporter: reporter)
                try ConfigFile.jsonData(outcome.record).write(to: URL(fileURLWithPath: folder + "/optimization.json"), options: .atomic)
                log("\(outcome)")
            } else {
                if let settings = a.aimSettings(surrogatePath: try aimSurrogatePath(a)) {
                    request.aim = try AimedAttack.prepare(request, settings: settings, log: log)
                }
                let summary = try Poisoner.run(request)
                log("\(summary)")
            }
            _ = FileManager.default.createFile(atPath: stamp, contents: Data())
        }
        let manifest = try PoisonManifest.load(path: manifestPath)
        return PoisonedSetInfo(
            amount: amount.tag, variant: row.poisonVariant, folder: folder, csv: folder + "/train.csv", manifest: manifestPath, cleanRows: manifest.cleanRows,
            poisoned: manifest.rows.count)
    }

    /// The folder of the clean surrogate an aimed attack with `surrogate: clean` trains.
    func aimSurrogateFolder(_ a: AttackSpec) -> String { dataFolder + "/surrogate-seed\(a.seed)" }

    /// The aimed attack's surrogate checkpoint: the file's path, or for `surrogate: clean`
    /// SafeCLIP's warm-up (the file's SafeCLIP settings) trained on the clean data with the
    /// attack's seed, once, in `data/surrogate-seedN/`.
    func aimSurrogatePath(_ a: AttackSpec) throws -> String {
        guard let surrogate = a.surrogate, surrogate == AttackSpec.cleanSurrogate else { return absolutePath(a.surrogate ?? "") }
        let folder = aimSurrogateFolder(a)
        let path = folder + "/surrogate.safetensors"
        if FileManager.default.fileExists(atPath: path) { return path }
        log("training the clean surrogate (SafeCLIP's warm-up on the clean data, seed \(a.seed)) in \(folder)")
        var t = try config.training(for: .train(.safeclip), file: configPath)
        t.data = trainCSV
        t.model = config.model
        t.seed = a.seed
        t.imageColumn = config.data.imageColumn
        t.captionColumn = config.data.captionColumn
        let rows = try CSVDataset(path: trainCSV, options: CSVOptions(imageColumn: config.data.imageColumn, captionColumn: config.data.captionColumn)).count
        return try SurrogateTraining.train(config: t, rows: rows, folder: folder, reporter: reporter)
    }

    /// The folder of the clean surrogate model (`surrogate: clean`).
    var surrogateFolder: String { directory + "/surrogate" }

    /// The training settings of the clean surrogate: the file's plain CLIP settings on the clean
    /// pairs, seeded with the attack's seed.
    func surrogateTraining(attack: AttackSpec) throws -> TrainingConfig {
        var t = try config.training(for: .plainCLIP, file: configPath)
        t.data = trainCSV
        t.model = config.model
        t.seed = attack.seed
        t.evalData = nil
        t.imageColumn = config.data.imageColumn
        t.captionColumn = config.data.captionColumn
        return t
    }

    /// Trains the clean surrogate once (resuming a stopped run) and returns its weights' path.
    func trainSurrogate(attack: AttackSpec) throws -> String {
        let runDirectory = surrogateFolder + "/run"
        let weights = runDirectory + "/model.safetensors"
        if FileManager.default.fileExists(atPath: surrogateFolder + "/.complete") { return weights }
        let training = try surrogateTraining(attack: attack)
        log("surrogate: training a clean \(config.model) (seed \(attack.seed)) on \(trainCSV) to optimise the trigger through")
        try FileManager.default.createDirectory(atPath: surrogateFolder, withIntermediateDirectories: true)
        let trainer = try Trainer(
            config: training, runDirectory: runDirectory,
            resume: FileManager.default.fileExists(atPath: runDirectory + "/checkpoint.safetensors"), reporter: reporter)
        trainer.stopAfterSteps = stopAfterSteps
        let summary = try trainer.run(stopSignal: stopSignal)
        guard !summary.interrupted else { throw ExperimentError.interrupted(row: "surrogate") }
        _ = FileManager.default.createFile(atPath: surrogateFolder + "/.complete", contents: Data())
        return weights
    }

    /// The training settings of a row.
    func trainingConfig(for row: RowPlan, poisoned: PoisonedSetInfo) throws -> TrainingConfig {
        let resolved = try config.resolved(variant: row.variant)
        var t = try resolved.training(for: row.defense, file: configPath)
        t.data = poisoned.csv
        t.model = config.model
        t.seed = row.seed
        t.evalData = nil
        t.imageColumn = config.data.imageColumn
        t.captionColumn = config.data.captionColumn
        if t.defense.finetunes {
            // A fine-tuning defence fine-tunes the poisoned CLIP model of the same seed and amount on clean pairs.
            t.data = trainCSV
            // A variant without its own plain CLIP rows fine-tunes the file's own (validated).
            var base = resolved.defenses.contains(.plainCLIP) ? row : RowPlan(defense: row.defense, seed: row.seed, amount: row.amount)
            base.defense = .plainCLIP
            t.initWeights = rowFolder(base) + "/run/model.safetensors"
        } else if row.defense != .detect {
            // With the manifest, a defence that selects pairs reports how many poisoned ones it caught.
            t.manifest = poisoned.manifest
        }
        if let pretrained = config.pretrained, !t.defense.finetunes, !config.pretrainsFromScratch(row) {
            // The fine-tuning threat model: start from the pre-trained weights.
            t.initWeights =
                pretrained == ExperimentConfig.cleanPretrained
                ? rowFolder(RowPlan(defense: .plainCLIP, seed: row.seed, amount: .rate(0))) + "/run/model.safetensors" : pretrained
        }
        if t.defense == .filter, t.filter.model == ExperimentConfig.cleanFilterModel {
            // The filter scores with the plain CLIP model trained on the clean data, same seed.
            t.filter.model = rowFolder(RowPlan(defense: .plainCLIP, seed: row.seed, amount: .rate(0))) + "/run/model.safetensors"
        } else if t.defense == .filter, t.filter.model == ExperimentConfig.poisonedFilterModel {
            // No oracle: the plain CLIP model trained on these very poisoned pairs scores them.
            var base = resolved.defenses.contains(.plainCLIP) ? row : RowPlan(defense: row.defense, seed: row.seed, amount: row.amount)
            base.defense = .plainCLIP
            t.filter.model = rowFolder(base) + "/run/model.safetensors"
        }
        return t
    }

    /// The detection of a `detect` row: the row's ``DetectSpec``, scoring with the plain CLIP row's
    /// model of the same seed and amount when the spec says `model: poisoned`.
    func detectRequest(_ row: RowPlan, training: TrainingConfig, manifest: String) throws -> DetectionRequest {
        let resolved = try config.resolved(variant: row.variant)
        var base = resolved.defenses.contains(.plainCLIP) ? row : RowPlan(defense: row.defense, seed: row.seed, amount: row.amount)
        base.defense = .plainCLIP
        let model = rowFolder(base) + "/run/model.safetensors"
        return try DetectDefense.request(
            config: training, settings: resolved.settings(for: row.defense, file: configPath), runDirectory: rowFolder(row) + "/run",
            manifestPath: manifest, spec: resolved.detect, model: model)
    }

    /// The row's `result.json`, when it finished in an earlier run.
    func finishedResult(_ row: RowPlan) -> RowResult? {
        FileManager.default.contents(atPath: rowFolder(row) + "/result.json").flatMap { try? JSONDecoder().decode(RowResult.self, from: $0) }
    }

    func runRow(_ row: RowPlan, poisoned: PoisonedSetInfo) throws -> RowResult {
        let folder = rowFolder(row)
        let resultPath = folder + "/result.json"
        if let done = finishedResult(row) {
            log("row \(row.id): finished earlier, skipped")
            return done
        }
        var result = RowResult(
            id: row.id, defense: row.defense, seed: row.seed, amount: row.amount.tag, variant: row.variant, rate: row.amount.rateValue,
            poisoned: poisoned.poisoned, trainingPairs: poisoned.cleanRows + poisoned.poisoned, status: "finished",
            evaluations: [:])
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let manifest = try PoisonManifest.load(path: poisoned.manifest)
        let sets = try config.evaluation.map { ($0, try openEvaluationSet(evaluationPath($0))) }
        var training = try trainingConfig(for: row, poisoned: poisoned)
        if row.defense == .detect {
            // Detect, drop, train (DetectDefense.swift): plain CLIP on the cleaned data.
            training.data = try DetectDefense.cleanedData(request: detectRequest(row, training: training, manifest: poisoned.manifest), reporter: reporter)
        }
        log("row \(row.id): training \(config.model) with defence \(row.defense), seed \(row.seed), on \(training.data)")

        let runDirectory = folder + "/run"
        let trainer = try Trainer(
            config: training, runDirectory: runDirectory, resume: FileManager.default.fileExists(atPath: runDirectory + "/checkpoint.safetensors"), reporter: reporter)
        trainer.stopAfterSteps = stopAfterSteps
        let model = trainer.model
        trainer.onEpochEnd = { _ in
            // Per-epoch curves on the first evaluation set.
            let (spec, set) = sets[0]
            let r = try Self.evaluate(model: model, set: set, spec: spec, manifest: manifest, workers: training.workers)
            return EpochEvaluation(top1: r.top1, top5: r.top5, count: r.n, asr: r.asr, asrBaseRate: r.asrBaseRate)
        }
        let summary = try trainer.run(stopSignal: stopSignal)
        guard !summary.interrupted else { throw ExperimentError.interrupted(row: row.id) }
        let outcome = (steps: summary.progress.globalStep, finalLoss: summary.finalLoss, seconds: summary.progress.elapsedSeconds)

        let start = Date()
        for (spec, set) in sets {
            result.evaluations[spec.name] = try Self.evaluate(model: model, set: set, spec: spec, manifest: manifest, workers: training.workers)
        }
        result.evaluationSeconds = Date().timeIntervalSince(start)
        result.steps = outcome.steps
        result.finalLoss = outcome.finalLoss
        result.trainingSeconds = outcome.seconds
        result.safeSetPoisons = SafeSetShare.read(metrics: runDirectory + "/metrics.jsonl")
        let warnings = rowWarnings(result, training: training, runDirectory: runDirectory, sets: sets, backdoor: !manifest.attacksRetrieval)
        result.warnings = warnings.isEmpty ? nil : warnings
        for warning in warnings { log("row \(row.id): warning: \(warning)") }
        try ConfigFile.jsonData(result).write(to: URL(fileURLWithPath: resultPath), options: .atomic)
        let first = config.evaluation[0].name
        if let e = result.evaluations[first] {
            let base = e.asrBaseRate.map { String(format: " (base rate without the trigger %.2f%%)", 100 * $0) } ?? ""
            if let r = e.retrieval {
                log(String(format: "row %@: top-1 %.2f%%, %@ Hit@10 %.3f (control %.3f) on %@", row.id, 100 * e.top1, r.attack, r.hitAt10, r.controlHitAt10, first))
            } else {
                log(String(format: "row %@: top-1 %.2f%%, ASR %@%@ on %@", row.id, 100 * e.top1, e.asr.map { String(format: "%.2f%%", 100 * $0) } ?? "n/a", base, first))
            }
        }
        if let shares = result.safeSetPoisons {
            log("row \(row.id): poisoned pairs in the safe set per selection: "
                + shares.map { "epoch \($0.epoch) \($0.poisonedInSafe)/\($0.poisonedTotal)" }.joined(separator: ", "))
        }
        return result
    }

    func openEvaluationSet(_ path: String) throws -> any ClassificationDataset {
        if path == "fashion-mnist" { return try FashionMNISTDataset.standard(train: false) }
        return try openClassificationSet(atPath: path)
    }

    /// Clean zero-shot accuracy and, where the target is a class of the set, the ASR.
    static func evaluate(
        model: CLIPModel, set: any ClassificationDataset, spec: EvaluationSpec, manifest: PoisonManifest, workers: Int
    ) throws -> SetResult {
        let tokenizer = try CLIPTokenizer.load()
        let classifier = ZeroShotClassifier(model: model, tokenizer: tokenizer, classNames: set.classNames, templates: set.templates)
        if manifest.attacksRetrieval {
            // Retrieval attacks: clean zero-shot accuracy and text→image Hit@K / MinRank per goal.
            let clean = try evaluateZeroShot(model: model, classifier: classifier, dataset: set, workers: workers, limit: spec.limit)
            var result = SetResult(top1: clean.top1, top5: clean.top5, n: clean.counts.total, classes: set.classNames.count)
            if spec.asr {
                result.retrieval = try evaluateRetrievalAttack(
                    model: model, tokenizer: tokenizer, dataset: set, manifest: manifest, workers: workers, limit: spec.limit)
            }
            return result
        }
        if spec.asr, classIndex(of: manifest.target, in: set.classNames) != nil {
            let r = try evaluateBackdoor(model: model, classifier: classifier, dataset: set, manifest: manifest, workers: workers, limit: spec.limit)
            return SetResult(
                top1: r.clean.top1, top5: r.clean.top5, n: r.clean.counts.total, asr: r.asr.asr, asrDenominator: r.asr.asrDenominator,
                asrSuccesses: r.asr.successes, triggeredTop1: r.triggered.top1, asrBaseRate: r.baseRate.asr, asrBaseSuccesses: r.baseRate.successes,
                robustAccuracy: r.robustAccuracy, classes: set.classNames.count)
        }
        let clean = try evaluateZeroShot(model: model, classifier: classifier, dataset: set, workers: workers, limit: spec.limit)
        return SetResult(top1: clean.top1, top5: clean.top5, n: clean.counts.total, classes: set.classNames.count)
    }

    // MARK: Commands

    /// The `clipguard` commands that do what this experiment does, step by step.
    public func equivalentCommands() throws -> [String] {
        var lines: [String] = []
        let d = config.data
        if let builtin = d.builtin {
            var c = "clipguard data prepare \(builtin) --out \(cleanFolder) --seed \(d.seed)"
            if let l = d.limit { c += " --limit \(l)" }
            if let l = d.evalLimit { c += " --eval-limit \(l)" }
            lines.append(c)
        }
        var describedSurrogates = Set<String>()
        var surrogateListed = false
        for set in poisonedSets {
            let a = try config.resolved(variant: set.poisonVariant).attack
            if a.aim == nil, a.usedSurrogate == AttackSpec.cleanSurrogate, !surrogateListed {
                surrogateListed = true
                lines.append(try surrogateTraining(attack: a).commandLine(out: surrogateFolder + "/run").map(shellQuote).joined(separator: " "))
            }
            let amount = set.amount
            if let kind = a.kind {
                var c = "clipguard poison --attack \(kind.rawValue) --data \(trainCSV) --out \(poisonFolder(set))"
                if kind == .captionTrigger {
                    c += " --target \(shellQuote(a.target)) --caption-trigger \(shellQuote(a.captionTrigger ?? ""))"
                }
                for goal in a.goals ?? [] { c += " --goal \(shellQuote(goal))" }
                if let image = a.targetImage { c += " --image \(shellQuote(image))" }
                switch set.amount {
                case .rate(let r): c += " --rate \(formatNumber(r))"
                case .count(let n): c += " --count \(n)"
                }
                lines.append(c + " --seed \(a.seed)")
                continue
            }
            var c = "clipguard poison --data \(trainCSV) --out \(poisonFolder(set)) --target \(shellQuote(a.target))"
            c += " --trigger \(a.trigger.rawValue)"
            switch amount {
            case .rate(let r): c += " --rate \(formatNumber(r))"
            case .count(let n): c += " --count \(n)"
            }
            c += " --captions \(a.captions.rawValue) --image-size \(a.imageSize) --resize \(a.resize.rawValue) --placement \(a.placement)"
            let settings = a.triggerOptions.commandLine.map(shellQuote).joined(separator: " ")
            if !settings.isEmpty { c += " " + settings }
            if let t = a.templates { c += " --templates \(shellQuote(t))" }
            if let l = a.targetLabel { c += " --target-label \(l)" }
            if let aim = a.aim {
                let surrogate = a.surrogate == AttackSpec.cleanSurrogate ? aimSurrogateFolder(a) + "/surrogate.safetensors" : absolutePath(a.surrogate ?? "")
                if a.surrogate == AttackSpec.cleanSurrogate, describedSurrogates.insert(surrogate).inserted {
                    lines.append("# \(surrogate): SafeCLIP's warm-up (its unimodal + CLIP warm-up epochs, stopped before the first selection) trained on \(trainCSV) with seed \(a.seed)")
                }
                c += " --aim \(aim.rawValue) --surrogate \(shellQuote(surrogate))"
                if let e = a.epsilon { c += " --epsilon \(e)" }
                if let s = a.pgdSteps { c += " --pgd-steps \(s)" }
                if let selection = a.aimSelection { c += " --aim-selection \(selection.rawValue)" }
            } else if let s = a.usedSurrogate {
                c += " --surrogate " + shellQuote(s == AttackSpec.cleanSurrogate ? surrogateFolder + "/run/model.safetensors" : absolutePath(s))
            }
            c += " --seed \(a.seed)"
            lines.append(c)
        }
        for row in config.rows {
            let folder = poisonFolder(row)
            let info = PoisonedSetInfo(
                amount: row.amount.tag, variant: row.poisonVariant, folder: folder, csv: folder + "/train.csv", manifest: folder + "/manifest.json", cleanRows: 0,
                poisoned: 0)
            var training = try trainingConfig(for: row, poisoned: info)
            if row.defense == .detect {
                // DetectDefense: detect with a warm-up, drop the top fraction, train on the rest.
                let request = try detectRequest(row, training: training, manifest: info.manifest)
                lines.append(DetectDefense.commandLine(request).map(shellQuote).joined(separator: " "))
                training.data = (request.cleanOutput ?? "") + "/train.csv"
            }
            lines.append(training.commandLine(out: rowFolder(row) + "/run").map(shellQuote).joined(separator: " "))
            for spec in config.evaluation {
                var e = "clipguard eval --checkpoint \(rowFolder(row))/run/model.safetensors --dataset \(evaluationPath(spec))"
                if spec.asr { e += " --trigger-from \(poisonFolder(row))/manifest.json" }
                if let l = spec.limit { e += " --limit \(l)" }
                lines.append(e + " --json")
            }
        }
        return lines
    }
}

func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return (path as NSString).standardizingPath }
    return ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path) as NSString).standardizingPath
}

/// `text` with every absolute path under the working directory made relative to it, so that a
/// report generated from a repository's root shows `runs/NAME/…` rather than one machine's
/// absolute paths (the run folder records absolute paths).
func relativeToWorkingDirectory(_ text: String) -> String {
    let here = FileManager.default.currentDirectoryPath
    guard here != "/" else { return text }
    return text.replacingOccurrences(of: here + "/", with: "")
}

func shellQuote(_ s: String) -> String {
    s.allSatisfy { $0.isLetter || $0.isNumber || "-_./".contains($0) } ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
