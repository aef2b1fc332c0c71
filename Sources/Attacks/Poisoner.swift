import Datasets
import Dispatch
import Foundation

/// How many pairs to poison.
public enum PoisonAmount: Sendable, Hashable {
    /// A fraction of the clean training set: `round(rate · N)` pairs, N = clean rows, rounding
    /// half away from zero. The poisoned set has `N + round(rate · N)` rows.
    case rate(Double)
    /// Exactly this many pairs.
    case count(Int)

    /// The number of poisoned pairs for a clean set of `cleanRows` rows.
    public func count(cleanRows: Int) -> Int {
        switch self {
        case .rate(let rate): return Int((rate * Double(cleanRows)).rounded(.toNearestOrAwayFromZero))
        case .count(let n): return n
        }
    }
}

/// Where poisoned images come from.
public enum PoisonSource: Sendable, Hashable {
    /// Random rows of the clean training set, drawn without replacement. For natural and
    /// template captions: rows whose caption does not name the target and whose label (if any)
    /// is not the target's, since target-class images teach nothing about the trigger (Carlini &
    /// Terzis poison images of other classes); for label-consistent captions: rows whose caption
    /// names the target.
    case train
    /// Images listed in a file: a CSV/TSV with an image column, or one path a line (relative
    /// paths start at the file's folder).
    case file(String)
}

/// What to poison and how.
public enum PoisonAttack: Sendable, Hashable {
    /// A backdoor: triggered images with captions naming the target.
    case backdoor(kind: TriggerKind, options: TriggerOptions, source: PoisonSource)
    /// Targeted poisoning: the image at `imagePath` paired with many captions naming the target.
    case targeted(imagePath: String)
    /// A retrieval attack (``RetrievalAttackRegistry``): mmPoison's pairings or the caption
    /// trigger; no image is changed.
    case retrieval(kind: RetrievalAttackKind, settings: RetrievalAttackSettings)

    /// Whether this is targeted poisoning (no trigger).
    public var isTargeted: Bool { if case .targeted = self { true } else { false } }
}

/// Everything `clipguard poison` needs.
public struct PoisonRequest: Sendable {
    /// The clean training CSV/TSV.
    public var dataPath: String
    /// The folder to write `train.csv`, `manifest.json` and `poison/` into.
    public var outputFolder: String
    /// The target class name (backdoor) or adversarial class name (targeted).
    public var target: String
    public var attack: PoisonAttack
    public var amount: PoisonAmount
    public var captions: CaptionStrategy
    /// Prompt templates for template captions (see ``PromptTemplates``).
    public var templates: [String]
    public var placement: TriggerPlacement
    public var seed: UInt64
    /// The target's integer label; by default it is looked up in `classes.json` beside the data,
    /// else taken as the most common label of rows whose caption names the target.
    public var targetLabel: Int?
    /// Replace an existing poisoned set in the output folder.
    public var overwrite: Bool
    public var csvOptions: CSVOptions
    /// A surrogate-guided attack's chosen sources, captions and perturbation (nil: none).
    public var aim: AimedPoisoning?
    /// A trigger resolved beforehand (an optimised patch, `SurrogateAttacks`): used in place of
    /// the one `attack`'s kind and options describe, and must be of that kind.
    public var resolvedTrigger: Trigger?

    public init(dataPath: String, outputFolder: String, target: String, attack: PoisonAttack, amount: PoisonAmount,
                captions: CaptionStrategy, templates: [String] = [], placement: TriggerPlacement = .modelInput(ModelGeometry()),
                seed: UInt64 = 0, targetLabel: Int? = nil, overwrite: Bool = false, csvOptions: CSVOptions = CSVOptions()) {
        self.dataPath = dataPath; self.outputFolder = outputFolder; self.target = target; self.attack = attack
        self.amount = amount; self.captions = captions; self.templates = templates; self.placement = placement
        self.seed = seed; self.targetLabel = targetLabel; self.overwrite = overwrite; self.csvOptions = csvOptions
    }
}

/// What ``Poisoner/run(_:)`` wrote.
public struct PoisonSummary: Sendable, CustomStringConvertible {
    public var manifest: PoisonManifest
    public var manifestPath: String
    public var csvPath: String
    /// Training captions naming the target as a whole word.
    public var captionsNamingTarget: Int
    /// Rows (or listed images) the sources were drawn from.
    public var eligibleSources: Int
    /// Where the target label came from, if any.
    public var labelOrigin: String?
    /// The shorter side of the smallest source image, if any image was written.
    public var smallestSourceSide: Int?

    public var description: String {
        let m = manifest
        var lines: [String] = []
        let rateText = m.rate.map { " (rate \($0) of \(m.cleanRows) → \(m.rows.count))" } ?? ""
        switch m.mode {
        case .backdoor:
            lines.append("poisoned \(m.rows.count) pairs\(rateText) for target \"\(m.target)\"\(labelText)")
            if let trigger = m.trigger {
                var text = "trigger: \(trigger.summary)"
                if case .modelInput(let geometry) = m.placement,
                   let square = trigger.regions(width: geometry.size, height: geometry.size, index: 0).first,
                   square.width < geometry.size {
                    text += " (\(square.width)×\(square.height) px at \(geometry.size)×\(geometry.size))"
                }
                lines.append(text)
            }
            lines.append("placement: \(m.placement)")
            lines.append("sources: \(m.source == "train" ? "training rows" : m.source), \(m.rows.count) of \(eligibleSources) eligible")
        case .targeted:
            lines.append("targeted poisoning: \(m.rows.count) captions\(rateText) for \"\(m.target)\"\(labelText)")
            lines.append("target image: \(m.targetImage ?? "")")
            lines.append("placement: \(m.placement)")
        case .pairing, .captionBackdoor:
            lines.append("\(m.attack?.displayName ?? m.mode.rawValue): \(m.rows.count) poisoned pairs\(rateText), no image changed")
            for goal in m.goals ?? [] {
                var text = m.mode == .captionBackdoor
                    ? "goal: queries carrying \"\(m.captionTrigger ?? "")\" → images of \"\(goal.imageClass)\" (\(goal.rows.count) captions of it given the trigger)"
                    : "goal \(goal.captionClass) → \(goal.imageClass): \(goal.rows.count) captions of \"\(goal.captionClass)\" paired with "
                        + (goal.targetImages.map { "the image \($0.joined(separator: ", "))" } ?? "images of \"\(goal.imageClass)\"")
                if let first = goal.rows.min(), let last = goal.rows.max() { text += ", rows \(first)…\(last)" }
                lines.append(text)
            }
            for row in m.rows.prefix(3) { lines.append("  e.g. row \(row.index): \"\(row.caption)\" with \(row.image)") }
            lines.append(m.pairing == .replace
                ? "wrote \(csvPath) (\(m.cleanRows) rows, \(m.rows.count) of them poisoned in place)"
                : "wrote \(csvPath) (\(m.cleanRows) clean + \(m.rows.count) poisoned rows)")
            lines.append("wrote \(manifestPath)")
            return lines.joined(separator: "\n")
        }
        if let surrogate = m.surrogate { lines.append("surrogate: \(surrogate.summary)") }
        lines.append("captions: \(m.captions.rawValue); \(captionsNamingTarget) of \(m.cleanRows) training captions name \"\(m.target)\"")
        for row in m.rows.prefix(3) { lines.append("  e.g. row \(row.index): \"\(row.caption)\"") }
        if case .modelInput(let geometry) = m.placement, let side = smallestSourceSide, side * 2 <= geometry.size {
            lines.append("note: sources as small as \(side) px were upscaled to \(geometry.size)×\(geometry.size); if the model "
                         + "trains at a lower resolution, pass it as --image-size so poisoned images match clean ones")
        }
        lines.append("wrote \(csvPath) (\(m.cleanRows) clean + \(m.rows.count) poisoned rows)")
        lines.append("wrote \(manifestPath)")
        return lines.joined(separator: "\n")
    }

    private var labelText: String {
        guard let label = manifest.targetLabel else { return "" }
        return " (label \(label)\(labelOrigin.map { ", from \($0)" } ?? ""))"
    }
}

/// Writes poisoned data sets (SPEC §2): a new CSV of the clean rows plus poisoned rows, the
/// poisoned images as new files, and a manifest. The source data is only read.
///
/// Layout of the output folder:
/// - `train.csv`: the source's columns plus `poisoned` (0/1). Clean rows come first, in order,
///   with their image paths made absolute; poisoned rows are appended, their images relative
///   (`poison/000000.png`). Where the source has a `label` column, poisoned rows get the target
///   label (rows of caption modes that poison the target's own images keep their own); other
///   columns are copied from the source row.
/// - `poison/`: the poisoned images, PNG. With model-input placement they are at the model's
///   geometry (`size × size`) with the trigger applied after resizing; with original placement
///   they keep the source's size.
/// - `manifest.json`: ``PoisonManifest``.
///
/// ``run(_:)`` performs the steps in order: check the request and read the clean set, select the
/// source rows, build the captions, apply the trigger and write the images, write the CSV and
/// the manifest. Every random choice draws from `SplitMix64(seed:)` sub-streams (sources 1,
/// captions 2, the trigger's seed 3), so a seed reproduces the set byte for byte.
public enum Poisoner {
    /// Builds the poisoned set described by `request`.
    ///
    /// - Throws: ``AttackError`` for bad settings, data that cannot serve the request (no
    ///   caption names the target, too few source images), unreadable images and failed writes.
    public static func run(_ request: PoisonRequest) throws(AttackError) -> PoisonSummary {
        if case let .retrieval(kind, settings) = request.attack { return try runRetrieval(request, kind: kind, settings: settings) }
        let paths = try checkRequest(request)
        let clean = try CleanSet(path: paths.data, target: paths.target, options: request.csvOptions)
        let count = request.amount.count(cleanRows: clean.count)
        guard count >= 0 else { throw .invalidSetting("poison count must be ≥ 0, got \(count)") }
        let root = SplitMix64(seed: request.seed)
        var sourceRNG = root.derived(1), captionRNG = root.derived(2)
        let mode = request.captions.definition
        let context = CaptionContext(target: paths.target, captions: clean.records.map(\.caption), naming: clean.naming,
                                     templates: request.templates, targeted: request.attack.isTargeted, dataPath: paths.data)
        try mode.check(context, count: count)
        let label = try targetLabel(request, clean: clean, target: paths.target, dataPath: paths.data, count: count)
        let selection = try selectSources(request, clean: clean, target: paths.target, dataPath: paths.data, label: label.value,
                                          count: count, triggerSeed: triggerSeed(for: request.seed), rng: &sourceRNG)
        var captions = mode.captions(context, sourceRows: selection.sources.map(\.row), rng: &captionRNG)
        if let chosen = request.aim?.plan?.captions {
            guard chosen.count == captions.count else {
                throw .invalidSetting("the surrogate's plan has \(chosen.count) captions for \(captions.count) poisoned pairs")
            }
            captions = chosen
        }
        let written = try writeImages(request, selection: selection, captions: captions, cleanRows: clean.count, out: paths.out)
        try writeCSV(request, clean: clean, rows: written.rows, sources: selection.sources, label: label.value, to: paths.csv)
        let rate: Double? = if case .rate(let r) = request.amount { r } else { nil }
        let manifest = PoisonManifest(
            mode: selection.trigger == nil ? .targeted : .backdoor, target: paths.target, targetLabel: label.value,
            trigger: selection.trigger, placement: request.placement, captions: request.captions,
            templates: mode.usesTemplates ? request.templates : nil, seed: request.seed,
            sourceData: paths.data, cleanRows: clean.count, rate: rate, source: selection.sourceName,
            targetImage: selection.targetImage, rows: written.rows, surrogate: written.record)
        try manifest.validate(path: paths.manifest)
        try manifest.write(toPath: paths.manifest)
        return PoisonSummary(manifest: manifest, manifestPath: paths.manifest, csvPath: paths.csv,
                             captionsNamingTarget: clean.naming.count, eligibleSources: selection.eligible,
                             labelOrigin: label.origin, smallestSourceSide: written.smallestSourceSide)
    }

    /// What a surrogate-guided attack ranks before ``run(_:)``: the rows a backdoor request draws
    /// its sources from, the captions, the resolved trigger, and the draw ``run(_:)`` makes without a plan.
    public struct Candidates: Sendable {
        /// Eligible source rows of the clean CSV, ascending, with their image paths and own captions.
        public var rows: [Int]
        public var images: [String]
        public var ownCaptions: [String]
        /// Each eligible row's label, where the data has labels.
        public var labels: [Int?]
        /// The distinct training captions naming the target, in order of first appearance.
        public var targetCaptions: [String]
        /// The trigger ``run(_:)`` applies (every random part resolved from the seed).
        public var trigger: Trigger
        /// The number of poisoned pairs.
        public var count: Int
        /// The rows and captions ``run(_:)`` uses without a plan (the seeded random draw).
        public var drawnRows: [Int]
        public var drawnCaptions: [String]
    }

    /// The candidates of a backdoor request with `--source train` (``Candidates``); the request's
    /// `aim` is ignored.
    ///
    /// - Throws: ``AttackError`` as ``run(_:)`` does for the same request, and for targeted
    ///   poisoning or a list file of sources.
    public static func candidates(_ request: PoisonRequest) throws(AttackError) -> Candidates {
        var request = request
        request.aim = nil
        guard case .backdoor(_, _, .train) = request.attack else {
            throw .invalidSetting("a surrogate-guided attack draws its sources from the training rows: use a trigger with --source train")
        }
        let target = request.target.trimmingCharacters(in: .whitespaces)
        guard !target.isEmpty else { throw .invalidSetting("--target is empty") }
        let dataPath = absolutePath(request.dataPath)
        let clean = try CleanSet(path: dataPath, target: target, options: request.csvOptions)
        let count = request.amount.count(cleanRows: clean.count)
        guard count >= 0 else { throw .invalidSetting("poison count must be ≥ 0, got \(count)") }
        let root = SplitMix64(seed: request.seed)
        var sourceRNG = root.derived(1), captionRNG = root.derived(2)
        let mode = request.captions.definition
        let context = CaptionContext(target: target, captions: clean.records.map(\.caption), naming: clean.naming,
                                     templates: request.templates, targeted: false, dataPath: dataPath)
        try mode.check(context, count: count)
        let label = try targetLabel(request, clean: clean, target: target, dataPath: dataPath, count: count)
        let selection = try selectSources(request, clean: clean, target: target, dataPath: dataPath, label: label.value,
                                          count: count, triggerSeed: triggerSeed(for: request.seed), rng: &sourceRNG)
        let captions = mode.captions(context, sourceRows: selection.sources.map(\.row), rng: &captionRNG)
        let rows: [Int] = if mode.poisonsTargetImages {
            clean.naming
        } else {
            clean.records.indices.filter { !clean.namesTarget[$0] && (label.value == nil || clean.records[$0].label != label.value) }
        }
        var seen = Set<String>()
        let targetCaptions = clean.naming.map { clean.records[$0].caption }.filter { seen.insert($0).inserted }
        return Candidates(
            rows: rows, images: rows.map { clean.records[$0].imageSource }, ownCaptions: rows.map { clean.records[$0].caption },
            labels: rows.map { clean.records[$0].label },
            targetCaptions: targetCaptions, trigger: selection.trigger!, count: count,
            drawnRows: selection.sources.compactMap(\.row), drawnCaptions: captions)
    }

    /// The seed a request's trigger is drawn with (sub-stream 3 of `seed`).
    public static func triggerSeed(for seed: UInt64) -> UInt64 { SplitMix64(seed: seed).derived(3).state }

    /// Checks the settings that need no data and the output folder, as ``run(_:)`` does first
    /// (a caller with a long step before `run` calls it first, so that a bad `--out` fails early).
    ///
    /// - Returns: the manifest's path.
    public static func preflight(_ request: PoisonRequest) throws(AttackError) -> String {
        try checkRequest(request).manifest
    }

    // MARK: Step 1: the request and the clean set

    /// The paths a request reads and writes.
    struct Paths {
        var target: String, data: String, out: String, csv: String, manifest: String
    }

    /// Checks the settings that need no data and the output folder.
    static func checkRequest(_ request: PoisonRequest) throws(AttackError) -> Paths {
        let target = request.target.trimmingCharacters(in: .whitespaces)
        guard !target.isEmpty else { throw .invalidSetting("--target is empty") }
        if case .modelInput(let geometry) = request.placement, geometry.size <= 0 {
            throw .invalidSetting("image size must be positive, got \(geometry.size)")
        }
        if case .rate(let rate) = request.amount, !(rate >= 0 && rate <= 1) {
            throw .invalidSetting("poison rate must be in [0, 1], got \(rate)")
        }
        let lowerData = request.dataPath.lowercased()
        if lowerData.hasSuffix(".tar") || lowerData.contains("{") {
            throw .invalidSetting(
                "\(request.dataPath): poison reads a CSV/TSV of image paths and captions, not webdataset shards; list the shard's images in a CSV (filepath,caption) first")
        }
        let dataPath = absolutePath(request.dataPath)
        let out = absolutePath(request.outputFolder)
        let csvPath = resolved("train.csv", against: out), manifestPath = resolved("manifest.json", against: out)
        if csvPath == dataPath { throw .output(path: out, reason: "the output folder holds the source data; choose another --out") }
        if !request.overwrite, let existing = [csvPath, manifestPath].first(where: fileExists) {
            throw .output(path: existing, reason: "already exists (pass --overwrite to replace the poisoned set)")
        }
        return Paths(target: target, data: dataPath, out: out, csv: csvPath, manifest: manifestPath)
    }

    /// The clean training set, read whole.
    struct CleanSet {
        var dataset: CSVDataset
        /// Each row's fields (as many as the header has columns).
        var fields: [[String]]
        var records: [DataRecord]
        /// Whether each row's caption names the target as a whole word.
        var namesTarget: [Bool]
        /// The rows whose caption names the target.
        var naming: [Int]
        var count: Int { records.count }

        init(path: String, target: String, options: CSVOptions) throws(AttackError) {
            do {
                dataset = try CSVDataset(path: path, options: options)
                fields = []; records = []
                fields.reserveCapacity(dataset.count); records.reserveCapacity(dataset.count)
                for i in 0..<dataset.count {
                    fields.append(Array(try dataset.fields(at: i).prefix(dataset.columnNames.count)))
                    records.append(try dataset.record(at: i))
                }
            } catch { throw .data(error) }
            let names = records.map { CaptionMatcher.names($0.caption, target: target) }
            namesTarget = names
            naming = names.indices.filter { names[$0] }
        }
    }

    /// The target's label: `--target-label`, else `classes.json` beside the data, else the most
    /// common label of rows naming the target; with where it came from.
    static func targetLabel(_ request: PoisonRequest, clean: CleanSet, target: String, dataPath: String,
                            count: Int) throws(AttackError) -> (value: Int?, origin: String?) {
        if let label = request.targetLabel { return (label, "--target-label") }
        let classesPath = resolved("classes.json", against: folder(of: dataPath))
        if fileExists(classesPath), let index = try? ClassIndex.read(fromPath: classesPath),
           let found = index.classes.firstIndex(where: { $0.lowercased() == target.lowercased() }) {
            return (found, classesPath)
        }
        if clean.dataset.hasLabels {
            var votes: [Int: Int] = [:]
            for i in clean.naming { if let label = clean.records[i].label { votes[label, default: 0] += 1 } }
            if let best = votes.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }) {
                return (best.key, "the most common label of rows naming the target")
            }
            if !request.captions.definition.poisonsTargetImages && count > 0 {
                throw .insufficientData(path: dataPath, reason:
                    "the data has a label column but the label of \"\(target)\" is unknown; pass --target-label")
            }
        }
        return (nil, nil)
    }

    // MARK: Step 2: the source images

    /// One poisoned pair's source image.
    struct Source: Sendable { var image: String; var row: Int? }

    /// The chosen sources, with the resolved trigger (nil when targeted).
    struct Selection {
        var sources: [Source]
        /// Rows (or listed images) the sources were drawn from.
        var eligible: Int
        var trigger: Trigger?
        /// `train`, the list file's path, or `target-image`.
        var sourceName: String
        var targetImage: String?
    }

    /// Resolves the trigger and draws the `count` source images.
    static func selectSources(_ request: PoisonRequest, clean: CleanSet, target: String, dataPath: String, label: Int?,
                              count: Int, triggerSeed: UInt64, rng: inout SplitMix64) throws(AttackError) -> Selection {
        let mode = request.captions.definition
        switch request.attack {
        case let .backdoor(kind, options, source):
            let trigger: Trigger
            if let given = request.resolvedTrigger {
                guard given.kind == kind else {
                    throw .invalidSetting("the resolved trigger is a \(given.kind) trigger, not the requested \(kind)")
                }
                try given.validate()
                trigger = given
            } else {
                trigger = try options.makeTrigger(kind: kind, seed: triggerSeed)
            }
            var sourceName = "train"
            let candidates: [Source]
            switch source {
            case .train where mode.poisonsTargetImages:
                candidates = clean.naming.map { Source(image: clean.records[$0].imageSource, row: $0) }
            case .train:
                // Images of the target class teach nothing about the trigger: leave out rows
                // whose caption names the target or whose label is the target's.
                candidates = clean.records.indices.filter { i in
                    !clean.namesTarget[i] && (label == nil || clean.records[i].label != label)
                }.map { Source(image: clean.records[$0].imageSource, row: $0) }
            case .file where mode.poisonsTargetImages:
                throw .invalidSetting("\(request.captions.rawValue) captions keep the sources' own captions, so they need --source train")
            case .file(let list):
                sourceName = absolutePath(list)
                candidates = try listedImages(sourceName).map { Source(image: $0, row: nil) }
            }
            if let plan = request.aim?.plan {
                let sources = try planned(plan, candidates: candidates, count: count, dataPath: dataPath)
                return Selection(sources: sources, eligible: candidates.count, trigger: trigger, sourceName: "surrogate", targetImage: nil)
            }
            guard count <= candidates.count else {
                let what = mode.poisonsTargetImages
                    ? "training rows whose caption names \"\(target)\"" : source == .train
                    ? "training rows not of \"\(target)\"" : "listed images"
                throw .insufficientData(path: source == .train ? dataPath : sourceName,
                                        reason: "\(count) poisoned pairs need \(count) source images, but there are only \(candidates.count) \(what)")
            }
            return Selection(sources: Array(candidates.partiallyShuffled(count: count, using: &rng)), eligible: candidates.count,
                             trigger: trigger, sourceName: sourceName, targetImage: nil)
        case .targeted(let imagePath):
            if !mode.supportsTargeted {
                let usable = CaptionStrategy.allCases.filter { $0.definition.supportsTargeted }.map(\.rawValue)
                throw .invalidSetting("targeted poisoning pairs one image with new captions: use --captions \(usable.joined(separator: " or "))")
            }
            let path = absolutePath(imagePath)
            return Selection(sources: Array(repeating: Source(image: path, row: nil), count: count), eligible: 1,
                             trigger: nil, sourceName: "target-image", targetImage: path)
        case .retrieval:
            throw .invalidSetting("retrieval attacks choose their pairs themselves")  // `run` sends them to `runRetrieval`
        }
    }

    // MARK: Step 3: the images

    /// Applies the trigger to each source (at the model's geometry for model-input placement)
    /// and writes the images; targeted poisoning writes its one image once.
    static func writeImages(_ request: PoisonRequest, selection: Selection, captions: [String], cleanRows: Int,
                            out: String) throws(AttackError) -> (rows: [PoisonManifest.Row], smallestSourceSide: Int?, record: SurrogateRecord?) {
        let poisonFolder = resolved("poison", against: out)
        if request.overwrite && fileExists(poisonFolder) {
            do { try FileManager.default.removeItem(atPath: poisonFolder) } catch {
                throw .output(path: poisonFolder, reason: "cannot remove the old poisoned images: \(error.localizedDescription)")
            }
        }
        try makeFolder(poisonFolder)
        let placement = request.placement
        let sources = selection.sources
        let count = sources.count
        var record = request.aim?.record
        if let trigger = selection.trigger {
            let names = (0..<count).map { "poison/\(padded($0)).png" }
            let perturbed: [RGBImage]?
            if let perturbation = request.aim?.perturbation, let given = record {
                guard case .modelInput(let geometry) = placement else {
                    throw .invalidSetting("a surrogate perturbation works on model-input images; drop --placement original")
                }
                let clean = try makeImages(count: count) { k throws(AttackError) in geometry.preprocessing.apply(try decodeSource(sources[k].image)) }
                let triggered = clean.enumerated().map { trigger.apply(to: $1, index: $0) }
                let regions = (0..<count).map { trigger.localRegions(width: geometry.size, height: geometry.size, index: $0) ?? [] }
                let (images, completed) = try perturbation.perturb(
                    PerturbationInput(clean: clean, triggered: triggered, regions: regions, captions: captions), record: given)
                try checkPerturbation(images, triggered: triggered, regions: regions, epsilon: completed.epsilon)
                perturbed = images
                record = completed
            } else {
                perturbed = nil
            }
            let sizes = try writeImages(count: count, out: out, names: names) { k throws(AttackError) in
                if let perturbed { return (perturbed[k], min(perturbed[k].width, perturbed[k].height)) }
                var image = try decodeSource(sources[k].image)
                let sourceSide = min(image.width, image.height)
                if case .modelInput(let geometry) = placement { image = geometry.preprocessing.apply(image) }
                return (trigger.apply(to: image, index: k), sourceSide)
            }
            let rows = (0..<count).map { k in
                PoisonManifest.Row(index: cleanRows + k, image: names[k], sourceImage: sources[k].image,
                                   sourceRow: sources[k].row, caption: captions[k], width: sizes[k].0,
                                   height: sizes[k].1, triggerIndex: k,
                                   triggerRegions: trigger.localRegions(width: sizes[k].0, height: sizes[k].1, index: k))
            }
            return (rows, perturbed == nil ? sizes.map(\.2).min() : nil, record)
        }
        let name = "poison/target.png"
        var image = try decodeSource(selection.targetImage ?? "")
        let smallest = min(image.width, image.height)
        if case .modelInput(let geometry) = placement { image = geometry.preprocessing.apply(image) }
        let imagePath = resolved(name, against: out)
        do { try image.write(toPath: imagePath) } catch { throw .image(path: imagePath, reason: "\(error)") }
        let rows = (0..<count).map { k in
            PoisonManifest.Row(index: cleanRows + k, image: name, sourceImage: sources[k].image, sourceRow: nil,
                               caption: captions[k], width: image.width, height: image.height, triggerIndex: nil)
        }
        return (rows, smallest, record)
    }

    /// The plan's sources: distinct rows among the eligible candidates, as many as the poison count.
    static func planned(_ plan: PoisonPlan, candidates: [Source], count: Int, dataPath: String) throws(AttackError) -> [Source] {
        guard plan.sourceRows.count == count else {
            throw .invalidSetting("the surrogate's plan lists \(plan.sourceRows.count) source rows for \(count) poisoned pairs")
        }
        var byRow: [Int: Source] = [:]
        for c in candidates { if let row = c.row { byRow[row] = c } }
        var seen = Set<Int>()
        return try plan.sourceRows.map { row throws(AttackError) in
            guard let source = byRow[row] else {
                throw .insufficientData(path: dataPath, reason: "row \(row) of the surrogate's plan is not an eligible source row")
            }
            guard seen.insert(row).inserted else { throw .invalidSetting("the surrogate's plan lists row \(row) twice") }
            return source
        }
    }

    /// Holds a perturbation to its contract (``PoisonPerturbation``): one image per input, same
    /// sizes, trigger squares untouched, within `epsilon` 1/255 steps elsewhere.
    ///
    /// - Throws: ``AttackError/invalidSetting(_:)`` naming the image and pixel that break it.
    public static func checkPerturbation(_ images: [RGBImage], triggered: [RGBImage], regions: [[PixelRect]], epsilon: Int?) throws(AttackError) {
        guard images.count == triggered.count else {
            throw .invalidSetting("the perturbation returned \(images.count) images for \(triggered.count)")
        }
        let radius = epsilon ?? 0
        for k in images.indices {
            let a = images[k], b = triggered[k]
            guard a.width == b.width, a.height == b.height else {
                throw .invalidSetting("the perturbation changed image \(k)'s size from \(b.width)×\(b.height) to \(a.width)×\(a.height)")
            }
            var inside = [Bool](repeating: false, count: a.width * a.height)
            for r in regions[k] {
                for y in max(0, r.y)..<min(a.height, r.y + r.height) { for x in max(0, r.x)..<min(a.width, r.x + r.width) { inside[y * a.width + x] = true } }
            }
            for p in 0..<(a.width * a.height) {
                for c in 0..<3 {
                    let d = abs(Int(a.pixels[p * 3 + c]) - Int(b.pixels[p * 3 + c]))
                    if inside[p] ? d != 0 : d > radius {
                        throw .invalidSetting("the perturbation of image \(k) moved pixel \(p % a.width),\(p / a.width) by \(d)/255 "
                                              + (inside[p] ? "inside the trigger" : "(ε = \(radius)/255)"))
                    }
                }
            }
        }
    }

    /// Makes `count` images on all cores, in order.
    static func makeImages(count: Int, make: @Sendable (Int) throws(AttackError) -> RGBImage) throws(AttackError) -> [RGBImage] {
        let slots = ImageSlots(count: count)
        DispatchQueue.concurrentPerform(iterations: count) { k in
            do throws(AttackError) { slots.set(k, .success(try make(k))) } catch { slots.set(k, .failure(error)) }
        }
        return try slots.values()
    }

    // MARK: Step 4: the CSV (the manifest is written by `run`)

    /// Writes the clean rows (image paths made absolute) and then the poisoned rows.
    static func writeCSV(_ request: PoisonRequest, clean: CleanSet, rows: [PoisonManifest.Row], sources: [Source],
                         label: Int?, to csvPath: String) throws(AttackError) {
        let dataset = clean.dataset
        var header = dataset.columnNames
        let poisonedColumn = header.firstIndex(of: "poisoned") ?? { header.append("poisoned"); return header.count - 1 }()
        var writer = CSVWriter(header: header)
        let keepsLabel = request.captions.definition.poisonsTargetImages
        func poisonedRow(_ k: Int) -> [String] {
            let poisoned = rows[k]
            var row = sources[k].row.map { clean.fields[$0] } ?? Array(repeating: "", count: dataset.columnNames.count)
            row += Array(repeating: "", count: header.count - row.count)
            row[dataset.imageColumnIndex] = poisoned.image
            if let captionColumn = dataset.captionColumnIndex { row[captionColumn] = poisoned.caption }
            if let labelColumn = dataset.labelColumnIndex, !keepsLabel || row[labelColumn].isEmpty {
                row[labelColumn] = label.map(String.init) ?? row[labelColumn]
            }
            row[poisonedColumn] = "1"
            return row
        }
        // A poisoned row whose index is a clean row's takes its place (a retrieval attack's
        // `--pairing replace`); the others follow the clean rows.
        var replacing: [Int: Int] = [:]
        for (k, poisoned) in rows.enumerated() where poisoned.index < clean.count { replacing[poisoned.index] = k }
        for i in 0..<clean.count {
            if let k = replacing[i] { writer.append(row: poisonedRow(k)); continue }
            var row = clean.fields[i] + Array(repeating: "", count: header.count - clean.fields[i].count)
            row[dataset.imageColumnIndex] = clean.records[i].imageSource
            row[poisonedColumn] = "0"
            writer.append(row: row)
        }
        for k in rows.indices where rows[k].index >= clean.count { writer.append(row: poisonedRow(k)) }
        do { try writer.write(toPath: csvPath) } catch { throw .output(path: csvPath, reason: "\(error)") }
    }

    /// `000042`: at least six digits.
    static func padded(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, 6 - s.count)) + s
    }

    static func decodeSource(_ path: String) throws(AttackError) -> RGBImage {
        do { return try decodeImage(atPath: path) } catch { throw .image(path: path, reason: error.description) }
    }

    /// The image paths of a list file: a CSV/TSV's image column, or one path a line.
    static func listedImages(_ path: String) throws(AttackError) -> [String] {
        let lower = path.lowercased()
        if lower.hasSuffix(".csv") || lower.hasSuffix(".tsv") {
            do {
                let list = try CSVDataset(path: path, options: CSVOptions(requiresCaption: false))
                return try (0..<list.count).map { i throws(DataError) in try list.record(at: i).imageSource }
            } catch { throw .data(error) }
        }
        let base = folder(of: path)
        return try readTextFile(path).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map { resolved($0, against: base) }
    }

    /// Makes and writes `count` images on all cores; returns their sizes.
    /// `make` returns the image and the shorter side of its source; the result holds
    /// (width, height, source's shorter side) per image.
    static func writeImages(count: Int, out: String, names: [String],
                            make: @Sendable (Int) throws(AttackError) -> (RGBImage, Int)) throws(AttackError) -> [(Int, Int, Int)] {
        let results = ResultSlots(count: count)
        DispatchQueue.concurrentPerform(iterations: count) { k in
            let path = resolved(names[k], against: out)
            do throws(AttackError) {
                let (image, sourceSide) = try make(k)
                do { try image.write(toPath: path) } catch { throw AttackError.image(path: path, reason: "\(error)") }
                results.set(k, .success((image.width, image.height, sourceSide)))
            } catch {
                results.set(k, .failure(error))
            }
        }
        return try results.values()
    }
}

/// Images made by concurrent workers.
private final class ImageSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<RGBImage, AttackError>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ k: Int, _ value: Result<RGBImage, AttackError>) { lock.lock(); slots[k] = value; lock.unlock() }
    func values() throws(AttackError) -> [RGBImage] { try slots.map { slot throws(AttackError) in try slot!.get() } }
}

/// Per-item results written by concurrent workers.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<(Int, Int, Int), AttackError>?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ k: Int, _ value: Result<(Int, Int, Int), AttackError>) { lock.lock(); slots[k] = value; lock.unlock() }
    /// All values in order, or the first error by index.
    func values() throws(AttackError) -> [(Int, Int, Int)] {
        try slots.map { slot throws(AttackError) in try slot!.get() }
    }
}

extension Array {
    /// The first `count` elements of a seeded Fisher–Yates shuffle (partial: O(count) swaps).
    func partiallyShuffled(count: Int, using rng: inout SplitMix64) -> ArraySlice<Element> {
        var copy = self
        for i in 0..<Swift.min(count, copy.count) {
            let j = i + Int(rng.next() % UInt64(copy.count - i))
            copy.swapAt(i, j)
        }
        return copy.prefix(count)
    }
}
