import Datasets
import Foundation

/// The ground truth of a poisoned data set: what was poisoned, how, and every poisoned row.
///
/// `clipguard poison` writes it as `DIR/manifest.json` next to `DIR/train.csv`; evaluation reads
/// the ``trigger`` from it to apply the same trigger to test images, and ``rows`` say exactly
/// which training rows are poisoned. The file holds no timestamps, so the same inputs and seed
/// give a byte-identical file.
///
/// ```swift
/// let manifest = try PoisonManifest.load(path: "poisoned/manifest.json")
/// let triggered = manifest.trigger!.apply(to: testImage, index: 0)
/// ```
public struct PoisonManifest: Codable, Sendable, Hashable {
    /// The format version this code writes and reads.
    public static let currentVersion = 1

    /// What kind of poisoning produced the set.
    public enum Mode: String, Codable, Sendable {
        /// Backdoor: triggered images paired with captions naming the target.
        case backdoor
        /// Targeted poisoning: one image paired with many captions naming the adversarial class.
        case targeted
        /// A pairing attack on retrieval (mmPoison I–III): class-A captions paired with other
        /// images; no trigger. ``goals`` say what each goal's rows are.
        case pairing
        /// A caption-only backdoor: ``captionTrigger`` appended to captions of target images.
        case captionBackdoor = "caption-backdoor"
    }

    /// One goal of a retrieval attack and the poisoned rows that serve it.
    public struct Goal: Codable, Sendable, Hashable {
        /// Class A: whose captions were paired with other images (the target class for the
        /// caption trigger).
        public var captionClass: String
        /// Class B: the class of the images the attacked queries should retrieve.
        public var imageClass: String
        /// The classes' labels where the data has them.
        public var captionLabel: Int?
        public var imageLabel: Int?
        /// The one-image attack's image (absolute path); nil for the class attacks.
        public var targetImages: [String]?
        /// The poisoned rows of this goal (indices into `train.csv`'s data rows).
        public var rows: [Int]

        public init(captionClass: String, imageClass: String, captionLabel: Int?, imageLabel: Int?,
                    targetImages: [String]?, rows: [Int]) {
            self.captionClass = captionClass; self.imageClass = imageClass; self.captionLabel = captionLabel
            self.imageLabel = imageLabel; self.targetImages = targetImages; self.rows = rows
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case rows
            case captionClass = "caption_class", imageClass = "image_class", captionLabel = "caption_label"
            case imageLabel = "image_label", targetImages = "target_images"
        }
    }

    /// One poisoned row of `train.csv`.
    public struct Row: Codable, Sendable, Hashable {
        /// The row's 0-based position among the data rows of the poisoned `train.csv`.
        public var index: Int
        /// The poisoned image file, relative to the manifest's folder.
        public var image: String
        /// The image it was made from (absolute path).
        public var sourceImage: String
        /// The source's row in the clean training CSV, when it came from there.
        public var sourceRow: Int?
        public var caption: String
        /// The size of the written image (the model input for model-input placement).
        public var width: Int
        public var height: Int
        /// The index the trigger's per-image random parts were drawn with (nil when targeted).
        public var triggerIndex: Int?
        /// The patch squares in the written image's pixels (patch and noise-patch triggers; the
        /// other triggers cover the whole image). Recorded for readers without this code; they
        /// equal ``Trigger/regions(width:height:index:)`` at `triggerIndex`, which `load` checks.
        public var triggerRegions: [PixelRect]?

        public init(index: Int, image: String, sourceImage: String, sourceRow: Int?, caption: String,
                    width: Int, height: Int, triggerIndex: Int?, triggerRegions: [PixelRect]? = nil) {
            self.index = index; self.image = image; self.sourceImage = sourceImage; self.sourceRow = sourceRow
            self.caption = caption; self.width = width; self.height = height; self.triggerIndex = triggerIndex
            self.triggerRegions = triggerRegions
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case index, image, caption, width, height
            case sourceImage = "source_image", sourceRow = "source_row", triggerIndex = "trigger_index"
            case triggerRegions = "trigger_regions"
        }
    }

    public var version: Int
    public var mode: Mode
    /// The target class name (backdoor) or adversarial class name (targeted).
    public var target: String
    /// The target's integer label, where the data has a label column.
    public var targetLabel: Int?
    /// The trigger with every random part resolved (nil for targeted poisoning).
    public var trigger: Trigger?
    public var placement: TriggerPlacement
    public var captions: CaptionStrategy
    /// The prompt templates used for template captions.
    public var templates: [String]?
    public var seed: UInt64
    /// The clean training CSV (absolute path).
    public var sourceData: String
    /// Rows of the clean CSV; the poisoned CSV has `cleanRows + rows.count` rows, or `cleanRows`
    /// when a retrieval attack replaced rows in place (``pairing`` = ``PairPlacement/replace``).
    public var cleanRows: Int
    /// The requested poison rate, if the amount was given as a rate.
    public var rate: Double?
    /// How source images were chosen: `train` or the list file's path.
    public var source: String
    /// The chosen image (targeted poisoning).
    public var targetImage: String?
    /// The retrieval attack (pairing and caption-backdoor modes).
    public var attack: RetrievalAttackKind?
    /// Every goal of a retrieval attack with its rows (pairing and caption-backdoor modes).
    public var goals: [Goal]?
    /// The caption-only backdoor's trigger text.
    public var captionTrigger: String?
    /// Where a retrieval attack put its pairs: nil (absent from the file) = appended after the
    /// clean rows; ``PairPlacement/replace`` = in place of the clean rows their captions came from
    /// (each row's `index` is that clean row).
    public var pairing: PairPlacement?
    /// Which rows gave the pairing goals' captions: nil (absent) = by class label;
    /// ``CaptionRowChoice/naming`` = rows whose caption names class A.
    public var captionRows: CaptionRowChoice?
    public var rows: [Row]
    /// The surrogate-guided attack that chose or perturbed the poisons (nil: none).
    public var surrogate: SurrogateRecord?

    public init(mode: Mode, target: String, targetLabel: Int?, trigger: Trigger?, placement: TriggerPlacement,
                captions: CaptionStrategy, templates: [String]?, seed: UInt64, sourceData: String, cleanRows: Int,
                rate: Double?, source: String, targetImage: String?, rows: [Row],
                attack: RetrievalAttackKind? = nil, goals: [Goal]? = nil, captionTrigger: String? = nil, surrogate: SurrogateRecord? = nil,
                pairing: PairPlacement? = nil, captionRows: CaptionRowChoice? = nil) {
        version = Self.currentVersion
        self.mode = mode; self.target = target; self.targetLabel = targetLabel; self.trigger = trigger
        self.placement = placement; self.captions = captions; self.templates = templates; self.seed = seed
        self.sourceData = sourceData; self.cleanRows = cleanRows; self.rate = rate; self.source = source
        self.targetImage = targetImage; self.rows = rows
        self.attack = attack; self.goals = goals; self.captionTrigger = captionTrigger; self.surrogate = surrogate
        self.pairing = pairing; self.captionRows = captionRows
    }

    /// Rows of the poisoned CSV: the clean rows plus the appended poisoned ones, or the clean rows
    /// alone when the poison replaced rows in place.
    public var totalRows: Int { pairing == .replace ? cleanRows : cleanRows + rows.count }

    /// Whether the set attacks retrieval (pairing or caption backdoor) rather than classification.
    public var attacksRetrieval: Bool { mode == .pairing || mode == .captionBackdoor }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case version, mode, target, trigger, placement, captions, templates, seed, rate, source, rows, attack, goals, surrogate, pairing
        case captionRows = "caption_rows", targetLabel = "target_label", sourceData = "source_data", cleanRows = "clean_rows"
        case targetImage = "target_image", captionTrigger = "caption_trigger"
    }

    // MARK: Evaluation

    /// Evaluation item `item`'s model input with this manifest's trigger applied, as the
    /// poisoned training images got it: with model-input placement the image is brought to
    /// `geometry` and then triggered; with original placement (the study's) it is triggered at
    /// its own size and then brought to `geometry`.
    ///
    /// Per-image random parts (noise, random positions) use the index `-(item + 1)`, a stream
    /// disjoint from the training rows' (which use 0, 1, …), so no evaluation image gets the
    /// exact noise of a poisoned training image.
    ///
    /// ```swift
    /// let manifest = try PoisonManifest.load(path: "poisoned/manifest.json")
    /// let input = try manifest.triggeredInput(image, geometry: ModelGeometry(size: 224), item: 17)
    /// let floats = input.chwFloats()   // [3, 224, 224]
    /// ```
    /// - Throws: ``AttackError/invalidSetting(_:)`` for a targeted-poisoning manifest (no trigger).
    public func triggeredInput(_ image: RGBImage, geometry: ModelGeometry, item: Int) throws(AttackError) -> RGBImage {
        guard let trigger else { throw .invalidSetting("a \(mode.rawValue) manifest has no image trigger to apply") }
        let index = -(item + 1)
        switch placement {
        case .modelInput: return trigger.apply(to: geometry.preprocessing.apply(image), index: index)
        case .original: return geometry.preprocessing.apply(trigger.apply(to: image, index: index))
        }
    }

    // MARK: Reading and writing

    /// The manifest as pretty-printed JSON with sorted keys and a final newline.
    public func jsonData() throws(AttackError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do { return Array(try encoder.encode(self)) + [10] } catch {
            throw .invalidSetting("cannot encode the manifest: \(error)")
        }
    }

    /// Writes ``jsonData()`` to `path`.
    public func write(toPath path: String) throws(AttackError) {
        try writeFile(path, try jsonData())
    }

    /// Reads and validates a manifest.
    ///
    /// - Throws: ``AttackError/manifest(path:key:reason:)`` naming `path` and the offending key
    ///   for unreadable JSON, unknown or missing keys, values of the wrong type and invalid
    ///   values (an unknown version, bad trigger parameters, row indices out of range).
    public static func load(path: String) throws(AttackError) -> PoisonManifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .manifest(path: path, key: "", reason: fileExists(path) ? "cannot be read" : "file not found")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw .manifest(path: path, key: "", reason: "not valid JSON")
        }
        if let unknown = ManifestSchema.unknownKey(in: object) {
            throw .manifest(path: path, key: unknown, reason: "unknown key")
        }
        let manifest: PoisonManifest
        do { manifest = try JSONDecoder().decode(PoisonManifest.self, from: data) } catch let error as DecodingError {
            let (key, reason) = describe(error)
            throw .manifest(path: path, key: key, reason: reason)
        } catch {
            throw .manifest(path: path, key: "", reason: "\(error)")
        }
        try manifest.validate(path: path)
        return manifest
    }

    /// Checks the values; errors name `path` and the key.
    public func validate(path: String) throws(AttackError) {
        func fail(_ key: String, _ reason: String) -> AttackError { .manifest(path: path, key: key, reason: reason) }
        if version != Self.currentVersion {
            throw fail("version", "version \(version) is not supported (this build reads \(Self.currentVersion))")
        }
        if target.trimmingCharacters(in: .whitespaces).isEmpty { throw fail("target", "empty target name") }
        if let rate, !(rate >= 0 && rate <= 1) { throw fail("rate", "must be in [0, 1], got \(rate)") }
        if cleanRows < 0 { throw fail("clean_rows", "must be ≥ 0, got \(cleanRows)") }
        switch mode {
        case .backdoor:
            guard let trigger else { throw fail("trigger", "a backdoor manifest needs a trigger") }
            do { try trigger.validate() } catch { throw fail("trigger", error.description) }
        case .targeted:
            if trigger != nil { throw fail("trigger", "a targeted-poisoning manifest has no trigger") }
            if targetImage == nil { throw fail("target_image", "a targeted-poisoning manifest needs the target image") }
        case .pairing, .captionBackdoor:
            if trigger != nil { throw fail("trigger", "a \(mode.rawValue) manifest has no image trigger") }
            guard let attack else { throw fail("attack", "a \(mode.rawValue) manifest names its retrieval attack") }
            if attack.definition.mode != mode { throw fail("attack", "\(attack) makes \(attack.definition.mode.rawValue) sets, not \(mode.rawValue)") }
            guard let goals, !goals.isEmpty else { throw fail("goals", "a \(mode.rawValue) manifest lists its goals") }
            if mode == .captionBackdoor {
                guard let captionTrigger, !captionTrigger.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw fail("caption_trigger", "a caption-backdoor manifest needs its trigger text")
                }
            }
            let poisoned = Set(rows.map(\.index))
            var claimed = Set<Int>()
            for (g, goal) in goals.enumerated() {
                if goal.captionClass.trimmingCharacters(in: .whitespaces).isEmpty || goal.imageClass.trimmingCharacters(in: .whitespaces).isEmpty {
                    throw fail("goals[\(g)]", "empty class name")
                }
                for row in goal.rows {
                    if !poisoned.contains(row) { throw fail("goals[\(g)].rows", "row \(row) is not a poisoned row of the manifest") }
                    if !claimed.insert(row).inserted { throw fail("goals[\(g)].rows", "row \(row) belongs to two goals") }
                }
                if let images = goal.targetImages, images.isEmpty { throw fail("goals[\(g)].target_images", "empty list") }
            }
            if claimed != poisoned { throw fail("goals", "the goals' rows do not cover every poisoned row") }
        }
        try surrogate?.validate(path: path)
        if case .modelInput(let geometry) = placement, geometry.size <= 0 {
            throw fail("placement.geometry.size", "must be positive, got \(geometry.size)")
        }
        if (pairing != nil || captionRows != nil) && !attacksRetrieval {
            throw fail(pairing != nil ? "pairing" : "caption_rows", "only a retrieval attack's manifest (pairing, caption-backdoor) has it")
        }
        var seen = Set<Int>()
        let total = totalRows
        for (i, row) in rows.enumerated() {
            if !(0..<total).contains(row.index) {
                throw fail("rows[\(i)].index", "\(row.index) is outside the \(total) rows of the poisoned set")
            }
            if !seen.insert(row.index).inserted { throw fail("rows[\(i)].index", "row \(row.index) is listed twice") }
            if row.width <= 0 || row.height <= 0 {
                throw fail("rows[\(i)].width", "image size \(row.width)×\(row.height) is not positive")
            }
            if mode == .backdoor && row.triggerIndex == nil {
                throw fail("rows[\(i)].trigger_index", "missing (backdoor rows record their trigger index)")
            }
            if let regions = row.triggerRegions, let trigger, let triggerIndex = row.triggerIndex,
               regions != trigger.regions(width: row.width, height: row.height, index: triggerIndex) {
                throw fail("rows[\(i)].trigger_regions", "do not match the trigger's squares for a \(row.width)×\(row.height) "
                           + "image at trigger index \(triggerIndex) (edited manifest, or a different trigger)")
            }
        }
    }

    /// The JSON key path and a reason for a decoding error.
    private static func describe(_ error: DecodingError) -> (String, String) {
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let i = key.intValue { text += "[\(i)]" } else { text += text.isEmpty ? key.stringValue : ".\(key.stringValue)" }
            }
            return text
        }
        switch error {
        case let .keyNotFound(key, context):
            return (path(context.codingPath + [key]), "missing")
        case let .typeMismatch(type, context):
            return (path(context.codingPath), "expected a value of type \(type)")
        case let .valueNotFound(type, context):
            return (path(context.codingPath), "expected a value of type \(type), found null")
        case let .dataCorrupted(context):
            return (path(context.codingPath), context.debugDescription)
        @unknown default:
            return ("", "\(error)")
        }
    }
}

/// The keys each object of a manifest may have, to report unknown keys (which `JSONDecoder`
/// ignores) by their path. A trigger kind lists its own `parameters` keys
/// (``TriggerDefinition/manifestParameters``).
public enum ManifestSchema {
    public indirect enum Node: Sendable {
        case object([String: Node])
        case array(Node)
        /// An object whose allowed keys depend on its `kind` value.
        case tagged([String: [String: Node]])
        case leaf
    }

    /// A ``TriggerLength``: `{"pixels": N}` or `{"fraction": F}`.
    public static let length: Node = .object(["pixels": .leaf, "fraction": .leaf])

    static var trigger: Node {
        var kinds: [String: [String: Node]] = [:]
        for kind in TriggerRegistry.kinds { kinds[kind.kind] = ["kind": .leaf, "parameters": .object(kind.manifestParameters)] }
        return .tagged(kinds)
    }

    static let manifest: Node = {
        var top: [String: Node] = [:]
        for key in PoisonManifest.CodingKeys.allCases { top[key.rawValue] = .leaf }
        top["trigger"] = trigger
        var surrogate: [String: Node] = [:]
        for key in SurrogateRecord.CodingKeys.allCases { surrogate[key.rawValue] = .leaf }
        top["surrogate"] = .object(surrogate)
        top["placement"] = .tagged(["model-input": ["kind": .leaf, "geometry": .object(["resize": .leaf, "size": .leaf])],
                                    "original": ["kind": .leaf]])
        var row: [String: Node] = [:]
        for key in PoisonManifest.Row.CodingKeys.allCases { row[key.rawValue] = .leaf }
        row["trigger_regions"] = .array(.object(["x": .leaf, "y": .leaf, "width": .leaf, "height": .leaf]))
        top["rows"] = .array(.object(row))
        var goal: [String: Node] = [:]
        for key in PoisonManifest.Goal.CodingKeys.allCases { goal[key.rawValue] = .leaf }
        top["goals"] = .array(.object(goal))
        return .object(top)
    }()

    /// The path of the first key not allowed by the schema, or nil.
    static func unknownKey(in value: Any, node: Node = manifest, path: String = "") -> String? {
        func join(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
        switch node {
        case .leaf:
            return nil
        case .array(let element):
            guard let list = value as? [Any] else { return nil }
            for (i, item) in list.enumerated() {
                if let bad = unknownKey(in: item, node: element, path: "\(path)[\(i)]") { return bad }
            }
            return nil
        case .object(let keys):
            return unknownKey(in: value, keys: keys, path: path)
        case .tagged(let variants):
            guard let object = value as? [String: Any], let kind = object["kind"] as? String,
                  let keys = variants[kind] else { return nil }  // decoding reports a bad kind
            return unknownKey(in: value, keys: keys, path: path)
        }
    }

    private static func unknownKey(in value: Any, keys: [String: Node], path: String) -> String? {
        guard let object = value as? [String: Any] else { return nil }
        for key in object.keys.sorted() {
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            guard let child = keys[key] else { return childPath }
            if let bad = unknownKey(in: object[key]!, node: child, path: childPath) { return bad }
        }
        return nil
    }
}
