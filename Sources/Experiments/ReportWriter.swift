import Attacks
import Datasets
import Foundation
import SurrogateAttacks
import Training

/// Writes `DIR/report.md` (plots linked as SVG files in `DIR/plots/`) and a self-contained
/// `DIR/report.html` (inline SVG plots, images as data URIs, no network) from `DIR/results.json`
/// and the rows' run folders.
///
/// The pieces: ``ReportInputs`` reads the files once (metrics through the trainer's own record
/// types), ``ReportModel`` computes statistics, verdicts, findings, tables and plot
/// specifications once, ``document`` lays them out as sections, and ``MarkdownRenderer`` and
/// ``HTMLRenderer`` format that one document. What the report knows about each defence lives in
/// ``ReportSeries``.
public struct ReportWriter {
    public let model: ReportModel
    public var directory: String { model.directory }
    public var results: ExperimentResults { model.results }

    public init(directory: String, results: ExperimentResults) {
        model = ReportModel(inputs: ReportInputs(directory: directory, results: results))
    }

    /// Reads `DIR/results.json`. The file stores absolute paths; when the experiment folder was
    /// moved or copied since, paths under its old location are read under `directory` instead.
    public init(directory: String) throws {
        self.init(directory: directory, results: try ReportInputs.loadResults(directory: directory))
    }

    /// The display name of a row's defence or series (`safeclip@to-cap` → `SafeCLIP · to-cap`).
    static func defenseName(_ series: String) -> String { ReportSeries.displayName(series) }

    /// The results table as rows of cells (header first).
    public func table() -> [[String]] { model.table }
    /// The results table as plain text for a terminal.
    public func textTable() -> String { model.textTable }
    /// The table of what the selecting defences caught (header first; empty when none selects).
    public func detectionTable() -> [[String]] { model.detectionTable }
    /// The plots, rendered, with their captions.
    public func plots() -> [(caption: String, svg: String)] { model.figures.map { ($0.caption, $0.plot.render()) } }

    /// Up to `limit` poisoned training images (as the model sees them) of the most poisoned set.
    func poisonedImages(limit: Int = 10) -> [(path: String, caption: String)] {
        guard let set = results.poisonedSets.filter({ $0.poisoned > 0 }).max(by: { $0.poisoned < $1.poisoned }),
            let manifest = try? PoisonManifest.load(path: set.manifest)
        else { return [] }
        return manifest.rows.prefix(limit).map { (set.folder + "/" + $0.image, $0.caption) }
    }

    /// The optimised patches (`trigger.png` beside a poisoned set's manifest, `trigger: optimized`),
    /// one per distinct image, captioned with the set they poisoned.
    func triggerPatches() -> [(path: String, caption: String)] {
        var seen: Set<Data> = []
        return results.poisonedSets.compactMap { set in
            let path = set.folder + "/" + OptimizedPoisoning.patchFile
            guard let data = FileManager.default.contents(atPath: path), seen.insert(data).inserted else { return nil }
            let size = (try? decodeImage(atPath: path)).map { " (\($0.width)×\($0.height) px)" } ?? ""
            return (path, "the optimised patch\(size)" + (set.variant.map { " of variant \($0)" } ?? ""))
        }
    }

    /// The images the report shows: poisoned training images, then the optimised patches.
    func reportImages() -> [(path: String, caption: String)] { poisonedImages() + triggerPatches() }

    // MARK: Writing

    /// Writes report.md, report.html and `plots/` (every plot as an SVG file and the poisoned
    /// images, which report.md shows, so the Markdown reads on its own wherever it is copied).
    public func write() throws {
        let figures = model.figures
        let document = self.document(figures: figures)
        let svg = Dictionary(uniqueKeysWithValues: figures.enumerated().map { ($0.offset + 1, $0.element.plot.render()) })
        let folder = directory + "/plots"
        let fm = FileManager.default
        try? fm.removeItem(atPath: folder)
        try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (number, text) in svg { try text.write(toFile: folder + "/" + plotFileName(number), atomically: true, encoding: .utf8) }
        for (i, image) in reportImages().enumerated() {
            guard let data = fm.contents(atPath: image.path) else { continue }
            try data.write(to: URL(fileURLWithPath: folder + "/" + imageFileName(i + 1)), options: .atomic)
        }
        try MarkdownRenderer.render(document).write(toFile: directory + "/report.md", atomically: true, encoding: .utf8)
        try HTMLRenderer.render(document, svg: svg).write(toFile: directory + "/report.html", atomically: true, encoding: .utf8)
    }

    /// The report as Markdown (plots linked as `plots/plot-NN.svg`).
    public func markdown() -> String { MarkdownRenderer.render(document(figures: model.figures)) }

    /// The report as one HTML page with everything inline.
    public func html() -> String { HTMLRenderer.render(document(figures: model.figures), svg: [:]) }

    // MARK: The document

    /// `text` with paths below the current directory written relative to it (the report of
    /// `clipguard report runs/x`, run from a checkout, names `runs/x/data/…`, not this machine's
    /// absolute folders).
    func shown(_ text: String) -> String { relativeToWorkingDirectory(text) }

    /// How the experiment was run and how long its rows took.
    func runLine() -> String {
        let finished = results.rows.filter { $0.status == "finished" }
        let seconds = finished.reduce(0.0) { $0 + ($1.trainingSeconds ?? 0) + ($1.evaluationSeconds ?? 0) }
        return shown(
            "Command: `clipguard experiment run \(results.configFile) --out \(directory)`; \(finished.count) of \(results.config.rows.count) rows finished, their training and evaluation took \(formatDuration(seconds)) in all (the sum over rows, data preparation and poisoning not counted).")
    }

    /// Where the rows ran.
    func environmentLine() -> String {
        guard let env = results.environment else {
            return "Run on: not recorded (results.json was written by a version that did not record the commit, version and machine)."
        }
        return "Run on: " + env.summary + "."
    }

    func dataLines() -> [String] {
        var lines: [String] = []
        let c = results.config
        if let b = c.data.builtin {
            lines.append("Training data: built-in `\(b)` (\(c.data.limit.map { "\($0) rows" } ?? "all rows"), seed \(c.data.seed)), `\(results.trainCSV)`.")
        } else {
            lines.append("Training data: `\(results.trainCSV)`.")
        }
        for p in results.poisonedSets {
            lines.append("Poisoned set \(ReportModel.amountLabel(p.amount))\(p.variant.map { " (attack of variant \($0))" } ?? ""): \(p.cleanRows) clean + \(p.poisoned) poisoned pairs = \(p.cleanRows + p.poisoned) (`\(p.csv)`).")
            if let record = (try? PoisonManifest.load(path: p.manifest))?.surrogate {
                lines.append("Aimed attack of that set: \(record.summary).")
            }
        }
        let a = c.attack
        lines.append(
            "Attack: trigger `\(a.trigger.rawValue)` (\(a.triggerDescription)), target \"\(a.target)\", captions `\(a.captions.rawValue)`, placement `\(a.placement)` at \(a.imageSize) px.")
        for e in c.evaluation {
            lines.append("Evaluation `\(e.name)`: `\(results.evaluationSets[e.name] ?? e.path)`\(e.limit.map { ", first \($0) images" } ?? "")\(e.asr ? ", with ASR" : "").")
        }
        let t = c.training
        lines.append(
            "Model `\(c.model)`; \(t.epochs) epochs, batch \(t.batchSize), lr \(t.lr), warm-up \(t.warmupSteps) steps, weight decay \(t.weightDecay), \(t.precision); seeds \(c.seeds.map(String.init).joined(separator: ", ")).")
        for v in c.variants {
            let changes = v.attack.sorted { $0.key < $1.key }.map { "attack.\($0.key) = \($0.value.text)" }
                + v.training.sorted { $0.key < $1.key }.map { "training.\($0.key) = \($0.value.text)" }
            var rows: [String] = []
            if let d = v.defenses { rows.append("defences " + d.map(\.displayName).joined(separator: ", ")) }
            if let r = v.rates { rows.append("rates " + r.map { PoisonAmountSpec.rate($0).description }.joined(separator: ", ")) }
            if let seeds = v.seeds { rows.append("seeds " + seeds.map(String.init).joined(separator: ", ")) }
            lines.append(
                "Variant `\(v.name)`\(v.description.map { ": " + $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "")"
                    + " (\((rows + (changes.isEmpty ? ["no other settings: rows named as the file's own"] : changes)).joined(separator: "; "))).")
        }
        return lines.map(shown)
    }

    func configText() -> String {
        (try? String(contentsOfFile: results.configFile, encoding: .utf8))
            ?? (try? String(decoding: ConfigFile.jsonData(results.config), as: UTF8.self)) ?? ""
    }

    /// The report's sections, in reading order: the bottom line first, then the warnings.
    func document(figures: [ReportFigure]) -> ReportDocument {
        typealias Section = ReportDocument.Section
        var sections: [Section] = []
        if let d = results.config.description { sections.append(Section(title: nil, blocks: [.paragraph(d)])) }
        sections.append(Section(title: "Bottom line", blocks: [.paragraph(model.bottomLine.joined(separator: " "))]))
        let warnings = model.warnings
        if !warnings.isEmpty { sections.append(Section(title: "Warnings", blocks: [.warnings(warnings)])) }
        sections.append(Section(title: "Run", blocks: [
            .paragraph(runLine()), .paragraph(environmentLine()),
            .paragraph("Updated \(results.updated). `report.md` links its plots from `plots/`; `report.html` in the same folder has them inline."),
        ]))
        sections.append(Section(title: "Results", blocks: [
            .paragraph("Mean ± sample standard deviation over seeds where there are several; where the seeds disagree on whether the backdoor took, each seed's ASR follows. ASR = share of non-target test images that, with the trigger, are classified as the target; its base rate = the same share without the trigger."),
            .table(model.table),
        ]))
        let findings = model.findings
        if !findings.isEmpty { sections.append(Section(title: "Findings", blocks: [.list(findings)])) }
        let caught = model.detectionTable
        if !caught.isEmpty {
            sections.append(Section(title: "Poisoned pairs caught", blocks: [
                .paragraph("By the defences that select pairs, against the poison manifest, beside what a random set of the same size catches (poisoned pairs × flagged share of all pairs); AUROC of each score (lower similarity or posterior = more suspicious; 0.5 = chance, 1 = perfect)."),
                .table(caught),
            ]))
        }
        let safe = model.safeSetTable
        if !safe.isEmpty {
            sections.append(Section(title: "Poisons in SafeCLIP's safe set", blocks: [
                .paragraph("Per SafeCLIP row and selection: poisoned pairs in the safe set (trained with the CLIP loss) of all poisoned pairs, and after \"random\" the safe set's share of all pairs — the share a random split of the same size would give the poisons. An attack aimed at SafeCLIP wants the poisons' share high from the first selection on."),
                .table(safe),
            ]))
        }
        if !figures.isEmpty {
            sections.append(Section(title: "Plots", blocks: [.figures(figures.enumerated().map { ($0.offset + 1, $0.element) })]))
        }
        sections.append(Section(title: "Rows", blocks: [.table(model.rowTable)]))
        var data: [ReportDocument.Block] = [.list(dataLines().map { Finding(text: $0, level: 0) })]
        let images = reportImages()
        if !images.isEmpty {
            let patches = triggerPatches().isEmpty ? "" : ", then the optimised patch the trigger pastes"
            data += [.paragraph("Poisoned training images, as the model sees them\(patches) (copies in `plots/`):"), .images(images)]
        }
        sections.append(Section(title: "Data and attack", blocks: data))
        sections.append(Section(title: "Configuration (`\(shown(results.configFile))`)", blocks: [.code(language: "yaml", text: configText())]))
        sections.append(Section(title: "Equivalent commands", blocks: [
            .code(language: "sh", text: shown(results.commands.joined(separator: "\n"))),
            .paragraph("Regenerate this report with `clipguard report \(shown(directory))`."),
        ]))
        return ReportDocument(title: "Experiment: \(results.name)", sections: sections)
    }
}
