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
        }
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
///   label (label-consistent rows keep their own); other columns are copied from the source row.
/// - `poison/`: the poisoned images, PNG. With model-input placement they are at the model's
///   geometry (`size × size`) with the trigger applied after resizing; with original placement
///   they keep the source's size.
/// - `manifest.json`: ``PoisonManifest``.
///
/// Every random choice draws from `SplitMix64(seed:)` sub-streams, so a seed reproduces the set
/// byte for byte.
public enum Poisoner {
    /// Builds the poisoned set described by `request`.
    ///
    /// - Throws: ``AttackError`` for bad settings, data that cannot serve the request (no
    ///   caption names the target, too few source images), unreadable images and failed writes.
    public static func run(_ request: PoisonRequest) throws(AttackError) -> PoisonSummary {
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

        // Read the clean set.
        let dataset: CSVDataset
        var fields: [[String]] = [], records: [DataRecord] = []
        do {
            dataset = try CSVDataset(path: dataPath, options: request.csvOptions)
            fields.reserveCapacity(dataset.count); records.reserveCapacity(dataset.count)
            for i in 0..<dataset.count {
                fields.append(Array(try dataset.fields(at: i).prefix(dataset.columnNames.count)))
                records.append(try dataset.record(at: i))
            }
        } catch { throw .data(error) }
        let cleanRows = dataset.count
        let namesTarget = records.map { CaptionMatcher.names($0.caption, target: target) }
        let naming = namesTarget.indices.filter { namesTarget[$0] }
        let count = request.amount.count(cleanRows: cleanRows)
        guard count >= 0 else { throw .invalidSetting("poison count must be ≥ 0, got \(count)") }

        let root = SplitMix64(seed: request.seed)
        var sourceRNG = root.derived(1), captionRNG = root.derived(2)

        // Captions available.
        if request.captions == .natural && naming.isEmpty && count > 0 {
            throw .insufficientData(path: dataPath, reason:
                "no training caption names \"\(target)\" as a whole word, so natural captions are impossible; "
                + "use --captions template")
        }
        if request.captions == .template && request.templates.isEmpty {
            throw .invalidSetting("template captions need prompt templates")
        }

        // Label.
        var targetLabel = request.targetLabel
        var labelOrigin: String? = targetLabel == nil ? nil : "--target-label"
        if targetLabel == nil {
            let classesPath = resolved("classes.json", against: folder(of: dataPath))
            if fileExists(classesPath), let index = try? ClassIndex.read(fromPath: classesPath),
               let found = index.classes.firstIndex(where: { $0.lowercased() == target.lowercased() }) {
                targetLabel = found
                labelOrigin = classesPath
            } else if dataset.hasLabels {
                var votes: [Int: Int] = [:]
                for i in naming { if let label = records[i].label { votes[label, default: 0] += 1 } }
                if let best = votes.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }) {
                    targetLabel = best.key
                    labelOrigin = "the most common label of rows naming the target"
                }
            }
        }
        if dataset.hasLabels && targetLabel == nil && request.captions != .labelConsistent && count > 0 {
            throw .insufficientData(path: dataPath, reason:
                "the data has a label column but the label of \"\(target)\" is unknown; pass --target-label")
        }

        // Sources.
        struct Source { var image: String; var row: Int? }
        var sources: [Source] = []
        var eligible = 0
        var trigger: Trigger?
        var sourceName = "train"
        var targetImage: String?
        switch request.attack {
        case let .backdoor(kind, options, source):
            trigger = try options.makeTrigger(kind: kind, seed: root.derived(3).state)
            var candidates: [Source]
            switch (source, request.captions) {
            case (.train, .labelConsistent):
                candidates = naming.map { Source(image: records[$0].imageSource, row: $0) }
            case (.train, _):
                // Images of the target class teach nothing about the trigger: leave out rows
                // whose caption names the target or whose label is the target's.
                candidates = records.indices.filter { i in
                    !namesTarget[i] && (targetLabel == nil || records[i].label != targetLabel)
                }.map { Source(image: records[$0].imageSource, row: $0) }
            case (.file, .labelConsistent):
                throw .invalidSetting("label-consistent captions keep the sources' own captions, so they need --source train")
            case (.file(let list), _):
                sourceName = absolutePath(list)
                candidates = try listedImages(sourceName).map { Source(image: $0, row: nil) }
            }
            eligible = candidates.count
            guard count <= candidates.count else {
                let what = request.captions == .labelConsistent
                    ? "training rows whose caption names \"\(target)\"" : source == .train
                    ? "training rows not of \"\(target)\"" : "listed images"
                throw .insufficientData(path: source == .train ? dataPath : sourceName,
                                        reason: "\(count) poisoned pairs need \(count) source images, but there are only \(candidates.count) \(what)")
            }
            sources = Array(candidates.partiallyShuffled(count: count, using: &sourceRNG))
        case .targeted(let imagePath):
            if request.captions == .labelConsistent {
                throw .invalidSetting("targeted poisoning pairs one image with new captions: use --captions natural or template")
            }
            let path = absolutePath(imagePath)
            targetImage = path
            sourceName = "target-image"
            eligible = 1
            sources = Array(repeating: Source(image: path, row: nil), count: count)
        }

        // Captions.
        var captions: [String] = []
        switch request.captions {
        case .labelConsistent:
            captions = sources.map { records[$0.row!].caption }
        case .template:
            captions = (0..<count).map { _ in
                PromptTemplates.fill(request.templates[Int(captionRNG.next() % UInt64(request.templates.count))], with: target)
            }
        case .natural:
            if case .targeted = request.attack, naming.count >= count {
                // Distinct captions where there are enough (Carlini & Terzis).
                captions = naming.partiallyShuffled(count: count, using: &captionRNG).map { records[$0].caption }
            } else {
                captions = (0..<count).map { _ in records[naming[Int(captionRNG.next() % UInt64(naming.count))]].caption }
            }
        }

        // Output folder.
        let poisonFolder = resolved("poison", against: out)
        if request.overwrite && fileExists(poisonFolder) {
            do { try FileManager.default.removeItem(atPath: poisonFolder) } catch {
                throw .output(path: poisonFolder, reason: "cannot remove the old poisoned images: \(error.localizedDescription)")
            }
        }
        try makeFolder(poisonFolder)

        // Images.
        let placement = request.placement
        let finalTrigger = trigger
        var rows: [PoisonManifest.Row] = []
        var smallestSourceSide: Int?
        switch request.attack {
        case .backdoor:
            let names = (0..<count).map { "poison/\(padded($0)).png" }
            let sources = sources
            let sizes = try writeImages(count: count, out: out, names: names) { k throws(AttackError) in
                var image = try decodeSource(sources[k].image)
                let sourceSide = min(image.width, image.height)
                if case .modelInput(let geometry) = placement { image = geometry.preprocessing.apply(image) }
                return (finalTrigger!.apply(to: image, index: k), sourceSide)
            }
            smallestSourceSide = sizes.map(\.2).min()
            rows = (0..<count).map { k in
                PoisonManifest.Row(index: cleanRows + k, image: names[k], sourceImage: sources[k].image,
                                   sourceRow: sources[k].row, caption: captions[k], width: sizes[k].0,
                                   height: sizes[k].1, triggerIndex: k,
                                   triggerRegions: finalTrigger!.localRegions(width: sizes[k].0, height: sizes[k].1, index: k))
            }
        case .targeted(let imagePath):
            let name = "poison/target.png"
            var image = try decodeSource(absolutePath(imagePath))
            smallestSourceSide = min(image.width, image.height)
            if case .modelInput(let geometry) = placement { image = geometry.preprocessing.apply(image) }
            let imagePath = resolved(name, against: out)
            do { try image.write(toPath: imagePath) } catch { throw .image(path: imagePath, reason: "\(error)") }
            rows = (0..<count).map { k in
                PoisonManifest.Row(index: cleanRows + k, image: name, sourceImage: sources[k].image, sourceRow: nil,
                                   caption: captions[k], width: image.width, height: image.height, triggerIndex: nil)
            }
        }

        // CSV.
        var header = dataset.columnNames
        let poisonedColumn = header.firstIndex(of: "poisoned") ?? { header.append("poisoned"); return header.count - 1 }()
        var writer = CSVWriter(header: header)
        for i in 0..<cleanRows {
            var row = fields[i] + Array(repeating: "", count: header.count - fields[i].count)
            row[dataset.imageColumnIndex] = records[i].imageSource
            row[poisonedColumn] = "0"
            writer.append(row: row)
        }
        for (k, poisoned) in rows.enumerated() {
            var row = sources[k].row.map { fields[$0] } ?? Array(repeating: "", count: dataset.columnNames.count)
            row += Array(repeating: "", count: header.count - row.count)
            row[dataset.imageColumnIndex] = poisoned.image
            if let captionColumn = dataset.captionColumnIndex { row[captionColumn] = poisoned.caption }
            if let labelColumn = dataset.labelColumnIndex, request.captions != .labelConsistent || row[labelColumn].isEmpty {
                row[labelColumn] = targetLabel.map(String.init) ?? row[labelColumn]
            }
            row[poisonedColumn] = "1"
            writer.append(row: row)
        }
        do { try writer.write(toPath: csvPath) } catch { throw .output(path: csvPath, reason: "\(error)") }

        let rate: Double? = if case .rate(let r) = request.amount { r } else { nil }
        let manifest = PoisonManifest(
            mode: finalTrigger == nil ? .targeted : .backdoor, target: target, targetLabel: targetLabel,
            trigger: finalTrigger, placement: placement, captions: request.captions,
            templates: request.captions == .template ? request.templates : nil, seed: request.seed,
            sourceData: dataPath, cleanRows: cleanRows, rate: rate, source: sourceName, targetImage: targetImage,
            rows: rows)
        try manifest.validate(path: manifestPath)
        try manifest.write(toPath: manifestPath)
        return PoisonSummary(manifest: manifest, manifestPath: manifestPath, csvPath: csvPath,
                             captionsNamingTarget: naming.count, eligibleSources: eligible, labelOrigin: labelOrigin,
                             smallestSourceSide: smallestSourceSide)
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
