import Attacks
import Detection
import Foundation
import Training

/// An attack × defence leaderboard of one experiment (issue #24), with BackdoorBench's metrics:
/// clean top-1, ASR beside its base rate, robust accuracy and the defence effectiveness rating
/// DER, per seed and as mean ± standard deviation with a 95 % interval over seeds.
///
/// An *attack* is the file's own attack or a variant that changes attack keys, at one poison
/// amount; a *defence* is a defence of the file, or a defence with a variant's training keys
/// (`cleanclip@2-epochs`) when that variant keeps the file's attack. Each cell compares a defence
/// with the undefended (`none`) row of the same attack, amount and seed.
///
/// ```swift
/// let board = try Leaderboard(directory: "runs/benchmark")
/// try board.write(to: "docs/benchmark")   // README.md + index.html
/// ```
public struct Leaderboard: Sendable {
    /// One attack column: a poisoned set.
    public struct Attack: Sendable, Equatable {
        /// The variant whose attack made the set, or nil for the file's own attack.
        public var variant: String?
        public var amount: String
        /// The poison rate (nil for a count).
        public var rate: Double?
        /// Trigger and caption mode, e.g. `patch · natural`.
        public var name: String
        public var description: String?
        public var poisoned: Int
        public var trainingPairs: Int
        /// A poisoned training image of the set (absolute path), when one is known.
        public var image: String?
        /// The variant whose attack made the poisoned set (nil: the file's attack, also for a
        /// column that only trains differently, such as poisoned fine-tuning).
        public var poisonVariant: String? = nil
        public var key: String { (variant ?? "file") + "|" + amount }
    }

    /// One figure over seeds: each seed's value (as fractions, 0…1), in seed order.
    public struct Figure: Sendable, Equatable {
        public var seeds: [UInt64]
        public var values: [Double]
        public var mean: Double { values.reduce(0, +) / Double(max(1, values.count)) }
        /// Sample standard deviation (0 for one seed).
        public var std: Double {
            guard values.count > 1 else { return 0 }
            let m = mean
            return (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
        }
        /// Half-width of Student's t 95 % interval of the mean (nil for one seed).
        public var halfWidth95: Double? {
            guard values.count > 1 else { return nil }
            return Leaderboard.studentT975(degreesOfFreedom: values.count - 1) * std / Double(values.count).squareRoot()
        }
    }

    /// One attack × defence cell.
    public struct Cell: Sendable {
        public var attack: String
        public var defense: String
        /// Row ids of the cell's seeds.
        public var rows: [String]
        public var top1: Figure
        public var asr: Figure?
        public var baseRate: Figure?
        public var robustAccuracy: Figure?
        /// DER per seed against the same seed's undefended row (nil for `none`).
        public var der: Figure?
        /// How well the defence's own score ranks the poisoned pairs, where it ranks pairs
        /// (SafeCLIP's and the filter's similarity, detect's cut column); nil for the others.
        public var detection: Detection?
        /// A retrieval attack's text→image Hit@10 (mean over its goals), per seed; nil for backdoors.
        public var retrievalHit10: Figure?
        /// Its label-free baseline in the same model: the control queries' Hit@10 (the other
        /// classes' queries, or the caption trigger's queries without the trigger).
        public var retrievalControl10: Figure?
        /// Whether the cell measures a retrieval attack (Hit@10 where a backdoor has ASR).
        public var isRetrieval: Bool { asr == nil && retrievalHit10 != nil }
        /// The attack's success figure: ASR for backdoors, Hit@10 for retrieval attacks.
        public var success: Figure? { asr ?? retrievalHit10 }
        /// Its baseline: ASR's base rate, or the retrieval control's Hit@10.
        public var successBase: Figure? { asr != nil ? baseRate : retrievalControl10 }
        /// Training + evaluation seconds over the cell's rows.
        public var seconds: Double
    }

    /// A pair-ranking defence's score measured against the poison manifest, per seed.
    public struct Detection: Sendable, Equatable {
        /// What ranked (`similarity, first selection`, `k-distance`).
        public var score: String
        /// AUROC (0.5 = chance, 1 = every poisoned pair above every clean one).
        public var auroc: Figure
        /// True-positive rate at a false-positive rate of at most 1 %.
        public var tprAt1FPR: Figure?
    }

    public let directory: String
    public let results: ExperimentResults
    /// The evaluation set whose figures the board shows (the file's first).
    public let evaluation: String
    /// Number of classes of that set (chance top-1 = 1 / classes).
    public let classCount: Int?
    public private(set) var attacks: [Attack] = []
    /// Defence keys in the file's order (`none` first).
    public private(set) var defenses: [String] = []
    public private(set) var cells: [String: Cell] = [:]
    /// The board's place on a page of several (0 = the page itself; later boards are sections
    /// with their own trigger files and anchors).
    public var part = 0

    /// A seed "takes" when its ASR reaches this share of the non-target images.
    public static let takesAt = 0.5

    /// Builds the board from `results` (rows that did not finish are left out).
    ///
    /// - Parameters:
    ///   - classCount: classes of the evaluation set, for the chance level.
    public init(directory: String, results: ExperimentResults, classCount: Int? = nil) {
        self.directory = directory
        self.results = results
        self.classCount = classCount
        evaluation = results.config.evaluation.first?.name ?? results.rows.first?.evaluations.keys.sorted().first ?? ""
        let variants = Dictionary(results.config.variants.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var groups: [String: [String: [RowResult]]] = [:]
        // Rows without poison (an experiment's rate-0 rows, the fine-tuning threat model's clean
        // pre-trained models) are no attack: they are the clean reference, named in the provenance.
        for row in results.rows where row.status == "finished" && row.evaluations[evaluation] != nil && row.poisoned > 0 {
            let spec = row.variant.flatMap { variants[$0] }
            // A variant is an attack column when it changes the attack or trains its own undefended
            // rows (the fine-tuning threat model's poisoned fine-tuning); otherwise it is a defence
            // setting (`cleanclip@2-epochs`) of the file's attack.
            let ownColumn = spec.map { !$0.attack.isEmpty || ($0.defenses ?? results.config.defenses).contains(.plainCLIP) } ?? false
            let attackVariant = ownColumn ? spec?.name : nil
            let poisonVariant = spec.flatMap { $0.attack.isEmpty ? nil : $0.name }
            let defense = spec.map { ownColumn ? row.defense.name : "\(row.defense.name)@\($0.name)" } ?? row.defense.name
            let attack = Attack(
                variant: attackVariant, amount: row.amount, rate: row.rate, name: Self.attackName(results: results, variant: attackVariant),
                description: attackVariant.flatMap { variants[$0]?.description }, poisoned: row.poisoned, trainingPairs: row.trainingPairs,
                image: Self.sampleImage(results: results, variant: poisonVariant, amount: row.amount), poisonVariant: poisonVariant)
            if !attacks.contains(where: { $0.key == attack.key }) { attacks.append(attack) }
            if !defenses.contains(defense) { defenses.append(defense) }
            groups[attack.key, default: [:]][defense, default: []].append(row)
        }
        defenses.sort { ($0 == "none" ? 0 : 1) < ($1 == "none" ? 0 : 1) }
        for attack in attacks {
            let byDefense = groups[attack.key] ?? [:]
            let baseline = Dictionary((byDefense["none"] ?? []).map { ($0.seed, $0) }, uniquingKeysWith: { a, _ in a })
            for (defense, rows) in byDefense {
                let sorted = rows.sorted { $0.seed < $1.seed }
                let sets = sorted.map { $0.evaluations[evaluation]! }
                let seeds = sorted.map(\.seed)
                func figure(_ value: (SetResult) -> Double?) -> Figure? {
                    let values = sets.compactMap(value)
                    return values.count == sets.count && !values.isEmpty ? Figure(seeds: seeds, values: values) : nil
                }
                var der: Figure?
                if defense != "none" {
                    let pairs = sorted.compactMap { row -> (UInt64, Double)? in
                        guard let before = baseline[row.seed]?.evaluations[evaluation], let after = row.evaluations[evaluation],
                            let asrBefore = before.asr, let asrAfter = after.asr
                        else { return nil }
                        return (row.seed, Self.der(asrBefore: asrBefore, asrAfter: asrAfter, accuracyBefore: before.top1, accuracyAfter: after.top1))
                    }
                    if !pairs.isEmpty { der = Figure(seeds: pairs.map(\.0), values: pairs.map(\.1)) }
                }
                cells[attack.key + "#" + defense] = Cell(
                    attack: attack.key, defense: defense, rows: sorted.map(\.id), top1: Figure(seeds: seeds, values: sets.map(\.top1)),
                    asr: figure(\.asr), baseRate: figure(\.asrBaseRate), robustAccuracy: figure(\.robustAccuracy), der: der,
                    detection: Self.detection(directory: directory, rows: sorted),
                    retrievalHit10: figure { $0.retrieval?.hitAt10 }, retrievalControl10: figure { $0.retrieval?.controlHitAt10 },
                    seconds: sorted.reduce(0) { $0 + ($1.trainingSeconds ?? 0) + ($1.evaluationSeconds ?? 0) })
            }
        }
    }

    /// Reads `DIR/results.json` and the class count of its first evaluation set (its `classes.json`).
    public init(directory: String) throws {
        let results = try ExperimentResults.load(directory: directory)
        var classes: Int?
        if let name = results.config.evaluation.first?.name, let path = results.evaluationSets[name],
            let data = FileManager.default.contents(atPath: path + "/classes.json"),
            let names = try? JSONDecoder().decode([String].self, from: data)
        {
            classes = names.count
        }
        self.init(directory: directory, results: results, classCount: classes)
    }

    /// The cell of an attack (``Attack/key``) and a defence.
    public func cell(_ attack: String, _ defense: String) -> Cell? { cells[attack + "#" + defense] }

    // MARK: Metrics

    /// BackdoorBench's defence effectiveness rating in its sign-correct form,
    /// `[max(0, ΔASR) − max(0, ΔACC) + 1] / 2` with ΔASR = ASR before − after and ΔACC = clean
    /// accuracy before − after (all fractions): 1 removes the backdoor at no cost, ½ changes
    /// nothing, 0 costs all accuracy and removes nothing.
    public static func der(asrBefore: Double, asrAfter: Double, accuracyBefore: Double, accuracyAfter: Double) -> Double {
        (max(0, asrBefore - asrAfter) - max(0, accuracyBefore - accuracyAfter) + 1) / 2
    }

    /// The 97.5 % quantile of Student's t distribution (two-sided 95 % interval).
    static func studentT975(degreesOfFreedom df: Int) -> Double {
        let table: [Double] = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131]
        if df >= 1 && df <= table.count { return table[df - 1] }
        return df > table.count ? 1.96 + 2.4 / Double(df) : .nan
    }

    /// Chance top-1 of the evaluation set, when its class count is known.
    public var chanceTop1: Double? { classCount.map { 1 / Double(max(1, $0)) } }

    /// Whether a cell's mean clean top-1 is within 1.5× chance: its ASR says nothing.
    public func nearChance(_ cell: Cell) -> Bool {
        guard let chance = chanceTop1 else { return false }
        return cell.top1.mean < 1.5 * chance
    }

    /// Whether the defence lost more than half of the undefended model's clean top-1 (a
    /// collapsed model, whose low ASR is not a defence).
    public func collapsed(_ cell: Cell) -> Bool {
        guard cell.defense != "none", let none = self.cell(cell.attack, "none") else { return false }
        return cell.top1.mean < 0.5 * none.top1.mean
    }

    /// Whether the attack takes undefended in at least one seed (ASR, or a retrieval attack's
    /// Hit@10, at least ``takesAt``). Against an attack that never takes, a defence's DER measures
    /// only its cost, so the ranking leaves such attacks out.
    public func takesUndefended(_ attack: Attack) -> Bool {
        cell(attack.key, "none")?.success?.values.contains { $0 >= Self.takesAt } ?? false
    }

    /// Defences (not `none`) by mean DER over the attacks they were measured on that take
    /// undefended in at least one seed, best first.
    public var ranking: [(defense: String, der: Double, attacks: Int)] {
        let counted = attacks.filter(takesUndefended)
        return defenses.filter { $0 != "none" }.compactMap { defense in
            let values = counted.compactMap { cell($0.key, defense)?.der?.mean }
            return values.isEmpty ? nil : (defense, values.reduce(0, +) / Double(values.count), values.count)
        }.sorted { $0.der > $1.der }
    }

    /// The ranking quality of the score each row's defence selects pairs by, over the rows
    /// (seeds); nil unless every row has one. A `detect` row's is its cut column in
    /// `rows/ID/run-detect/summary.json`; a selecting defence's is its pair similarity at the first
    /// selection (lower = more suspicious) in `rows/ID/run/similarities/`.
    static func detection(directory: String, rows: [RowResult]) -> Detection? {
        var score: String?
        var auroc: [Double] = [], tpr: [Double?] = []
        for row in rows {
            let folder = directory + "/rows/" + row.id
            let measured: (String, Double, Double?)?
            if row.defense == .detect {
                measured = DetectSummaryFigures.read(path: folder + "/run-detect/summary.json")
            } else if ReportSeries.traits(row.defense).selectsPairs,
                let first = ReportInputs.similarityFiles(folder: folder + "/run/similarities").first?.file,
                let flags = first.poisoned, flags.count == first.similarity.count,
                let a = ROC.auroc(suspicion: first.similarity.map { -$0 }, positive: flags)
            {
                let suspicion = first.similarity.map { -$0 }
                measured = (first.epoch == 0 ? "similarity" : "similarity, first selection", a,
                            DetectionMetrics.tpr(scores: suspicion, positive: flags, atFPR: 0.01))
            } else {
                measured = nil
            }
            guard let (name, a, t) = measured, a.isFinite, score == nil || score == name else { return nil }
            score = name
            auroc.append(a)
            tpr.append(t.flatMap { $0.isFinite ? $0 : nil })
        }
        guard let score, !auroc.isEmpty else { return nil }
        let seeds = rows.map(\.seed)
        let tprs = tpr.compactMap { $0 }
        return Detection(
            score: score, auroc: Figure(seeds: seeds, values: auroc),
            tprAt1FPR: tprs.count == tpr.count ? Figure(seeds: seeds, values: tprs) : nil)
    }

    // MARK: Names

    static func attackName(results: ExperimentResults, variant: String?) -> String {
        guard let attack = try? results.config.resolved(variant: variant).attack else { return variant ?? "attack" }
        if let kind = attack.kind {
            return kind == .captionTrigger ? "\(kind.rawValue) \"\(attack.captionTrigger ?? "")\" → \(attack.target)"
                : "\(kind.rawValue) " + (attack.goals ?? []).joined(separator: ", ")
        }
        return "\(attack.trigger.rawValue) · \(attack.captions.rawValue)"
    }

    static func sampleImage(results: ExperimentResults, variant: String?, amount: String) -> String? {
        guard let set = results.poisonedSets.first(where: { $0.variant == variant && $0.amount == amount && $0.poisoned > 0 }),
            let manifest = try? PoisonManifest.load(path: set.manifest), let row = manifest.rows.first
        else { return nil }
        return row.image.hasPrefix("/") ? row.image : set.folder + "/" + row.image
    }

    /// A defence key as the board shows it (`CleanCLIP · 2-epochs`).
    public static func defenseTitle(_ key: String) -> String {
        let parts = key.split(separator: "@", maxSplits: 1).map(String.init)
        let name = ReportWriter.defenseName(parts[0])
        return parts.count > 1 ? "\(name) · \(parts[1])" : name
    }

    /// An attack's column title (`blended: blended · natural @ 2%`).
    public static func attackTitle(_ attack: Attack) -> String {
        let amount = attack.rate.map { "\(formatNumber(100 * $0))%" } ?? "\(attack.poisoned) pairs"
        return (attack.variant.map { "\($0): " } ?? "") + attack.name + " @ " + amount
    }
}

/// The figures of a `clipguard detect` summary the board shows: the cut column's AUROC and TPR at
/// 1 % FPR (keys as `summary.json` writes them, snake case).
struct DetectSummaryFigures: Decodable {
    struct Metrics: Decodable {
        var auroc: Double?
        var tpr: Double?
        enum CodingKeys: String, CodingKey { case auroc, tpr = "tpr_at1_fpr" }
    }
    struct Clean: Decodable { var by: String? }
    var metrics: [String: Metrics]?
    var clean: Clean?

    /// (column, AUROC, TPR at 1 % FPR) of the column that chose the dropped pairs, when the
    /// summary was measured against a manifest.
    static func read(path: String) -> (String, Double, Double?)? {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let data = FileManager.default.contents(atPath: path),
            let summary = try? decoder.decode(DetectSummaryFigures.self, from: data)
        else { return nil }
        let column = summary.clean?.by ?? "combined"
        guard let m = summary.metrics?[column], let auroc = m.auroc else { return nil }
        return (column, auroc, m.tpr)
    }
}
