import Datasets
import Foundation

extension Poisoner {
    /// Writes the poisoned set of a retrieval attack (``PoisonAttack/retrieval(kind:settings:)``):
    /// the clean rows, then the planned pairs as new rows (``PairPlacement/append``), or the clean
    /// rows with each planned pair in place of the row its caption came from
    /// (``PairPlacement/replace``, mmPoison's construction: the set keeps its size); and a manifest
    /// whose ``PoisonManifest/goals`` list every goal with its rows. No image is written or
    /// changed: a poisoned row points at the clean image it pairs with (absolute path), a copy of
    /// that image's row with the new caption.
    ///
    /// Random choices draw from `SplitMix64(seed:)`'s sub-stream 1, so a seed reproduces the set
    /// byte for byte.
    static func runRetrieval(_ request: PoisonRequest, kind: RetrievalAttackKind,
                             settings: RetrievalAttackSettings) throws(AttackError) -> PoisonSummary {
        let definition = kind.definition
        try definition.check(settings)
        let paths = try checkRequest(request)
        let clean = try CleanSet(path: paths.data, target: paths.target, options: request.csvOptions)
        let count = request.amount.count(cleanRows: clean.count)
        guard count >= 0 else { throw .invalidSetting("poison count must be ≥ 0, got \(count)") }
        let context = retrievalContext(clean: clean, dataPath: paths.data, goals: settings.goals)
        var rng = SplitMix64(seed: request.seed).derived(1)
        let planned = try definition.plan(settings, context: context, count: count, rng: &rng)

        var sizes: [String: (Int, Int)] = [:]
        var rows: [PoisonManifest.Row] = [], sources: [Source] = [], goals: [PoisonManifest.Goal] = []
        func label(_ name: String) -> Int? {
            clean.dataset.hasLabels ? context.classes.firstIndex { $0.lowercased() == name.lowercased() } : nil
        }
        // With `--pairing replace` each clean row holds at most one poisoned pair: the goal that claimed it.
        var claimed: [Int: RetrievalGoal] = [:]
        for plan in planned {
            var goalRows: [Int] = []
            for pair in plan.pairs {
                if sizes[pair.image] == nil {
                    let image = try decodeSource(pair.image)
                    sizes[pair.image] = (image.width, image.height)
                }
                let (width, height) = sizes[pair.image]!
                let index = settings.placement == .replace ? pair.captionRow : clean.count + rows.count
                if settings.placement == .replace {
                    if let earlier = claimed[index] {
                        throw .invalidSetting("--pairing replace: goals \(earlier) and \(plan.goal) both drew the caption of row \(index), which can hold one poisoned pair; give goals whose caption rows do not overlap or use --pairing append")
                    }
                    claimed[index] = plan.goal
                }
                rows.append(PoisonManifest.Row(index: index, image: pair.image, sourceImage: pair.image, sourceRow: pair.imageRow,
                                               caption: pair.caption, width: width, height: height, triggerIndex: nil))
                sources.append(Source(image: pair.image, row: pair.imageRow))
                goalRows.append(index)
            }
            if let images = plan.targetImages {
                for image in images where sizes[image] == nil { sizes[image] = (0, 0); _ = try decodeSource(image) }
            }
            goals.append(PoisonManifest.Goal(captionClass: plan.goal.captionClass, imageClass: plan.goal.imageClass,
                                             captionLabel: label(plan.goal.captionClass), imageLabel: label(plan.goal.imageClass),
                                             targetImages: plan.targetImages, rows: goalRows))
        }
        let poisonFolder = resolved("poison", against: paths.out)
        if request.overwrite && fileExists(poisonFolder) {
            do { try FileManager.default.removeItem(atPath: poisonFolder) } catch {
                throw .output(path: poisonFolder, reason: "cannot remove the old poisoned images: \(error.localizedDescription)")
            }
        }
        try makeFolder(paths.out)
        try writeCSV(request, clean: clean, rows: rows, sources: sources, label: nil, to: paths.csv)
        let rate: Double? = if case .rate(let r) = request.amount { r } else { nil }
        let first = settings.goals[0]
        let manifest = PoisonManifest(
            mode: definition.mode, target: first.imageClass, targetLabel: label(first.imageClass), trigger: nil,
            placement: request.placement, captions: .natural, templates: nil, seed: request.seed, sourceData: paths.data,
            cleanRows: clean.count, rate: rate, source: "train", targetImage: planned.first?.targetImages?.first, rows: rows,
            attack: kind, goals: goals, captionTrigger: settings.captionTrigger?.trimmingCharacters(in: .whitespaces),
            pairing: settings.placement == .append ? nil : settings.placement,
            captionRows: settings.captionRows == .label ? nil : settings.captionRows)
        try manifest.validate(path: paths.manifest)
        try manifest.write(toPath: paths.manifest)
        return PoisonSummary(manifest: manifest, manifestPath: paths.manifest, csvPath: paths.csv,
                             captionsNamingTarget: clean.naming.count, eligibleSources: clean.count,
                             labelOrigin: nil, smallestSourceSide: nil)
    }

    /// The classes of the clean set and each class's rows: by label where the data has a label
    /// column and a classes.json beside it; otherwise (or for a goal class classes.json lacks)
    /// rows whose caption names the class.
    static func retrievalContext(clean: CleanSet, dataPath: String, goals: [RetrievalGoal]) -> RetrievalContext {
        let classesPath = resolved("classes.json", against: folder(of: dataPath))
        let classes = (fileExists(classesPath) ? try? ClassIndex.read(fromPath: classesPath) : nil)?.classes ?? []
        var byClass: [String: [Int]] = [:]
        if clean.dataset.hasLabels && !classes.isEmpty {
            for (i, record) in clean.records.enumerated() {
                if let label = record.label, classes.indices.contains(label) { byClass[classes[label].lowercased(), default: []].append(i) }
            }
        } else {
            let names = classes.isEmpty ? goals.flatMap { [$0.captionClass, $0.imageClass] } : classes
            for name in names where byClass[name.lowercased()] == nil {
                byClass[name.lowercased()] = clean.records.indices.filter { CaptionMatcher.names(clean.records[$0].caption, target: name) }
            }
        }
        return RetrievalContext(captions: clean.records.map(\.caption), images: clean.records.map(\.imageSource), classes: classes,
                                rowsByClass: byClass, dataPath: dataPath,
                                classOrigin: classes.isEmpty ? "the training captions" : classesPath)
    }
}
