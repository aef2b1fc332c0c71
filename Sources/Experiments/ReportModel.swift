import Attacks
import Foundation
import Training

/// One defence (or a variant's) at one poison amount, over its seeds: a line of the results table.
public struct ReportGroup {
    public var defense: RowKind
    /// The experiment variant (nil: the file's own rows).
    public var variant: String?
    public var amount: String
    public var rate: Double?
    public var poisoned: Int
    /// The rows, one per seed, in the file's order.
    public var rows: [RowResult]

    /// Defence and variant (`safeclip@to-cap`): what the report groups, names and styles by.
    public var series: String { variant.map { "\(defense.name)@\($0)" } ?? defense.name }
    public var seeds: [UInt64] { rows.map(\.seed) }
    public var finished: [RowResult] { rows.filter { $0.status == "finished" } }
    public var isFinished: Bool { !finished.isEmpty }

    /// Values of an evaluation set over the finished seeds.
    func values(_ set: String, _ value: (SetResult) -> Double?) -> [Double] {
        finished.compactMap { $0.evaluations[set].flatMap(value) }
    }
    func top1(_ set: String) -> [Double] { values(set) { $0.top1 } }
    func asr(_ set: String) -> [Double] { values(set) { $0.asr } }
}

/// Whether a backdoor took in one seed.
public enum SeedOutcome: Equatable, Sendable {
    /// ASR at least ``BackdoorVerdict/takesAt``.
    case takes
    /// ASR at least ``BackdoorVerdict/partlyAt`` and more than 3 binomial standard errors above
    /// the reference (base rate, ASR without poison).
    case partly
    /// Neither.
    case no
    /// The seed's model is at chance level: not judged.
    case atChance
}

/// Whether the backdoor took, seed by seed, against what a model scores without a backdoor:
/// the base rate (non-target clean images called the target without the trigger) and, where the
/// experiment has rows without poison, the highest ASR any of their seeds reached (the trigger's
/// own effect, which varies from seed to seed).
public struct BackdoorVerdict: Equatable, Sendable {
    /// A seed's ASR at least this: the backdoor takes (most triggered images flip to the target).
    public static let takesAt = ResultWarnings.backdoorTakesAt
    /// A seed's ASR at least this and clearly above its reference: it partly takes.
    public static let partlyAt = 0.1

    public var seeds: [UInt64]
    public var asr: [Double]
    public var outcomes: [SeedOutcome]
    /// The measured base rate (mean over seeds), nil when not measured.
    public var baseRate: Double?
    /// The highest ASR of the rows without poison (over their seeds), nil without such rows.
    public var withoutPoison: Double?

    public var takes: Int { outcomes.filter { $0 == .takes }.count }
    public var partly: Int { outcomes.filter { $0 == .partly }.count }
    /// Seeds at chance level, not judged.
    public var atChance: Int { outcomes.filter { $0 == .atChance }.count }
    /// Seeds disagree (a mean ± std would hide it).
    public var mixed: Bool { Set(outcomes.map { "\($0)" }).count > 1 }

    /// Classifies each seed's ASR against its reference, the larger of its base rate (`base`, nil
    /// where unknown) and `withoutPoison`. A seed partly takes only when its ASR is more than 3
    /// binomial standard errors (over `denominators` images) above it; a seed whose model is at
    /// chance level (`atChance`) is not judged.
    init(seeds: [UInt64], asr: [Double], denominators: [Int?], base: [Double?], withoutPoison: Double? = nil, atChance: [Bool] = []) {
        self.seeds = seeds
        self.asr = asr
        let known = base.compactMap { $0 }
        baseRate = known.isEmpty ? nil : known.reduce(0, +) / Double(known.count)
        self.withoutPoison = withoutPoison
        outcomes = asr.indices.map { i -> SeedOutcome in
            if i < atChance.count && atChance[i] { return .atChance }
            let a = asr[i]
            if a >= Self.takesAt { return .takes }
            guard a >= Self.partlyAt else { return .no }
            let references = [i < base.count ? base[i] : nil, withoutPoison].compactMap { $0 }
            guard let b = references.max(), let n = i < denominators.count ? denominators[i] : nil, n > 0 else { return .partly }
            let se = (max(b, 1 / Double(n)) * (1 - b) / Double(n)).squareRoot()
            return a - b > 3 * se ? .partly : .no
        }
    }

    /// `base rate 1.3 %, ASR without poison up to 14.4 %`.
    public var reference: String {
        var parts = [baseRate.map { String(format: "base rate %.1f %%", 100 * $0) } ?? "base rate not measured"]
        if let w = withoutPoison { parts.append(String(format: "ASR without poison up to %.1f %%", 100 * w)) }
        return parts.joined(separator: ", ")
    }

    /// `takes in 1 of 3 seeds, partly in 1 (ASR 20.3 / 1.2 / 3.1 %; base rate 1.3 %)`.
    public var sentence: String {
        let n = outcomes.count
        var s = takes == 0 && partly == 0
            ? "does not take in any of \(n) seed\(n == 1 ? "" : "s")"
            : "takes in \(takes) of \(n) seed\(n == 1 ? "" : "s")"
        if partly > 0 { s += ", partly in \(partly)" }
        if atChance > 0 { s += " (\(atChance) at chance level, not judged)" }
        return s + " (ASR " + perSeed(asr) + " %; " + reference + ")"
    }
}

/// `20.3 / 1.2 / 3.1`: each seed's value in percent, one decimal.
func perSeed(_ values: [Double]) -> String { values.map { String(format: "%.1f", 100 * $0) }.joined(separator: " / ") }

/// What the report says about one group beyond its numbers.
struct GroupFacts {
    /// Whether the backdoor took (groups with ASR measured).
    var verdict: BackdoorVerdict?
    /// Seeds whose clean top-1 is under twice the chance level.
    var nearChanceSeeds: Int
    /// All seeds under twice the chance level: the model learnt little; no finding about it.
    var atChance: Bool
    /// Why the defence's scorer is an oracle, or nil.
    var oracle: String?
}

/// A line of the findings: a sentence at a nesting level (0 top).
public struct Finding: Equatable, Sendable {
    public var text: String
    public var level: Int
}

/// The report of an experiment, computed once from its inputs: statistics, verdicts, findings,
/// tables and plot specifications. ``MarkdownRenderer`` and ``HTMLRenderer`` only lay it out.
public struct ReportModel {
    let inputs: ReportInputs
    public var results: ExperimentResults { inputs.results }
    public var directory: String { inputs.directory }
    /// The groups in the file's order.
    public let groups: [ReportGroup]
    /// The first evaluation set (curves) and the first with ASR (verdicts).
    let firstSet: String
    let asrSet: String?
    /// Chance top-1 of the verdict set (1/classes), when known.
    let chance: Double?
    /// Colour and marker per series.
    let styles: [String: (colour: String, marker: SVGPlot.Marker)]
    /// Per group (same index as ``groups``).
    private(set) var facts: [GroupFacts] = []
    /// What the selecting defences' rows caught, grouped like ``groups`` (groups without a
    /// selecting defence left out).
    private(set) var catchGroups: [[RowCatch]] = []

    init(inputs: ReportInputs) {
        self.inputs = inputs
        var groups: [ReportGroup] = []
        for row in inputs.results.rows {
            if let i = groups.firstIndex(where: { $0.series == row.series && $0.amount == row.amount }) {
                groups[i].rows.append(row)
            } else {
                groups.append(ReportGroup(defense: row.defense, variant: row.variant, amount: row.amount, rate: row.rate, poisoned: row.poisoned, rows: [row]))
            }
        }
        self.groups = groups
        let evaluation = inputs.results.config.evaluation
        firstSet = evaluation.first?.name ?? "test"
        asrSet = evaluation.first(where: \.asr)?.name
        chance = Self.chance(inputs.results, set: asrSet ?? firstSet)
        styles = ReportSeries.styles(uniqued(groups.map(\.series)))
        facts = groups.map { computeFacts($0) }
        catchGroups = groups.compactMap { g in
            let c = g.rows.compactMap(rowCatch)
            return c.isEmpty ? nil : c
        }
    }

    /// 1/classes of an evaluation set: from the results where they record it, else known for
    /// the built-in Fashion-MNIST sets (10 classes); nil otherwise.
    static func chance(_ results: ExperimentResults, set: String) -> Double? {
        if let classes = results.rows.lazy.compactMap({ $0.evaluations[set]?.classes }).first, classes > 0 { return 1 / Double(classes) }
        guard let spec = results.config.evaluation.first(where: { $0.name == set }) else { return nil }
        if spec.path == "fashion-mnist" || (spec.path == "builtin" && results.config.data.builtin == "fashion-mnist") { return 0.1 }
        return nil
    }

    // MARK: Statistics

    /// Mean and sample standard deviation (0 for one value).
    static func stats(_ values: [Double]) -> (mean: Double, std: Double)? {
        guard !values.isEmpty else { return nil }
        let mean = values.reduce(0, +) / Double(values.count)
        guard values.count > 1 else { return (mean, 0) }
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)
        return (mean, variance.squareRoot())
    }

    static func mean(_ values: [Double]) -> Double? { stats(values)?.mean }

    /// `mean ± std` in percent (sample std over seeds; just the value for one seed).
    static func percent(_ values: [Double]) -> String {
        guard let s = stats(values) else { return "–" }
        if values.count == 1 { return String(format: "%.2f", 100 * s.mean) }
        return String(format: "%.2f ± %.2f", 100 * s.mean, 100 * s.std)
    }

    /// The label of a poison amount tag (`rate0.02` → `2%`).
    static func amountLabel(_ tag: String) -> String {
        if tag.hasPrefix("rate"), let r = Double(tag.dropFirst(4)) { return PoisonAmountSpec.rate(r).description }
        if tag.hasPrefix("count"), let n = Int(tag.dropFirst(5)) { return PoisonAmountSpec.count(n).description }
        return tag
    }

    func name(_ g: ReportGroup) -> String { ReportSeries.displayName(g.series) }
    func traits(_ g: ReportGroup) -> ReportTraits { ReportSeries.traits(g.defense) }
    func style(_ series: String) -> (colour: String, marker: SVGPlot.Marker) { styles[series] ?? ("#000000", .init(.plus)) }
    func facts(_ g: ReportGroup) -> GroupFacts? { groups.firstIndex { $0.series == g.series && $0.amount == g.amount }.map { facts[$0] } }

    // MARK: Verdicts

    /// The variant whose attack a variant's rows use (nil: the file's attack).
    func attackVariant(_ variant: String?) -> String? {
        guard let v = results.config.variants.first(where: { $0.name == variant }) else { return nil }
        return v.attack.isEmpty ? nil : v.name
    }

    /// The variant whose plain CLIP rows a group is compared with: its own when it has them,
    /// else the file's own rows (`.some(nil)`) when it keeps the file's attack; `nil`: none.
    func baselineVariant(of g: ReportGroup) -> String?? {
        guard let name = g.variant, let v = results.config.variants.first(where: { $0.name == name }) else { return .some(nil) }
        if (v.defenses ?? results.config.defenses).contains(where: { ReportSeries.traits($0).isBaseline }) { return .some(name) }
        return v.attack.isEmpty ? .some(nil) : .none
    }

    /// The plain CLIP group a group is compared with (nil: none, or it is one).
    func baseline(of g: ReportGroup) -> ReportGroup? {
        guard !traits(g).isBaseline, case .some(let variant) = baselineVariant(of: g) else { return nil }
        return groups.first { ReportSeries.traits($0.defense).isBaseline && $0.variant == variant && $0.amount == g.amount && $0.isFinished }
    }

    /// The settings a group's rows trained with (a variant's resolved ones).
    /// The training settings of a group's rows (its defence and that defence's settings).
    func training(_ g: ReportGroup) -> TrainingConfig {
        let config = (try? results.config.resolved(variant: g.variant)) ?? results.config
        return (try? config.training(for: g.defense, file: inputs.directory)) ?? config.training
    }

    func computeFacts(_ g: ReportGroup) -> GroupFacts {
        var f = GroupFacts(verdict: nil, nearChanceSeeds: 0, atChance: false, oracle: traits(g).oracle(training(g)))
        let top1 = g.top1(asrSet ?? firstSet)
        if let chance {
            f.nearChanceSeeds = top1.filter { $0 < 2 * chance }.count
            f.atChance = !top1.isEmpty && f.nearChanceSeeds == top1.count
        }
        guard let set = asrSet, g.isFinished, g.poisoned > 0 else { return f }
        let rows = g.finished.filter { $0.evaluations[set]?.asr != nil }
        guard !rows.isEmpty else { return f }
        // Rows without poison, the group's own or else plain CLIP's: the trigger's own effect.
        let zero = groups.first { $0.series == g.series && $0.poisoned == 0 && $0.isFinished }
            ?? baseline(of: g).flatMap { b in groups.first { $0.series == b.series && $0.poisoned == 0 && $0.isFinished } }
        let chanceSeeds = rows.map { r in chance.map { c in (r.evaluations[set]?.top1 ?? 1) < 2 * c } ?? false }
        f.verdict = BackdoorVerdict(
            seeds: rows.map(\.seed), asr: rows.map { $0.evaluations[set]!.asr! }, denominators: rows.map { $0.evaluations[set]?.asrDenominator },
            base: rows.map { $0.evaluations[set]?.asrBaseRate }, withoutPoison: zero.flatMap { $0.asr(set).max() }, atChance: chanceSeeds)
        return f
    }

    /// The threshold under which a model counts as near chance (twice the chance level).
    var chanceNote: String {
        guard let chance else { return "" }
        return String(format: "chance %.0f %% on %d classes", 100 * chance, Int((1 / chance).rounded()))
    }
}
