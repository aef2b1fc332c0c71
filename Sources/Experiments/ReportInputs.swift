import Foundation
import Training

/// Everything a report reads, read once: `results.json` (with paths moved along when the folder
/// was moved) and, per finished row, its `metrics.jsonl` decoded through the trainer's own record
/// types (``MetricsFile``) and its first and last similarity files.
struct ReportInputs {
    var directory: String
    var results: ExperimentResults
    /// Per row id: the run's typed metrics (empty when the file is absent).
    var metrics: [String: MetricsFile]
    /// Per row id: the first and last similarity file (SafeCLIP's first and last selection, or
    /// the filter's one file); unreadable files are left out.
    var similarityFiles: [String: [(name: String, file: SimilarityFile)]]
    /// Per `detect` row id: what its cut dropped, from `run-detect/summary.json` (absent without a manifest).
    var detectCuts: [String: DetectCut]

    /// What a `detect` row's cut dropped: pairs, and poisoned pairs by the manifest.
    struct DetectCut: Equatable {
        var dropped: Int, kept: Int, poisonedDropped: Int, poisonedKept: Int

        /// Reads the `clean` part of a detect summary; nil when it is absent or has no manifest counts.
        static func read(summary path: String) -> DetectCut? {
            guard let data = FileManager.default.contents(atPath: path),
                  let clean = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["clean"] as? [String: Any],
                  let dropped = clean["dropped"] as? Int, let kept = clean["kept"] as? Int,
                  let pd = clean["poisoned_dropped"] as? Int, let pk = clean["poisoned_kept"] as? Int else { return nil }
            return DetectCut(dropped: dropped, kept: kept, poisonedDropped: pd, poisonedKept: pk)
        }
    }

    init(directory: String, results: ExperimentResults) {
        self.directory = directory
        self.results = results
        var metrics: [String: MetricsFile] = [:]
        var similarity: [String: [(name: String, file: SimilarityFile)]] = [:]
        var cuts: [String: DetectCut] = [:]
        for row in results.rows where row.status == "finished" {
            let run = directory + "/rows/" + row.id + "/run"
            metrics[row.id] = (try? MetricsFile.read(path: run + "/metrics.jsonl")) ?? MetricsFile()
            similarity[row.id] = Self.similarityFiles(folder: run + "/similarities")
            if row.defense == .detect { cuts[row.id] = DetectCut.read(summary: run + "-detect/summary.json") }
        }
        self.metrics = metrics
        self.similarityFiles = similarity
        self.detectCuts = cuts
    }

    /// Reads `DIR/results.json`. The file stores absolute paths; when the experiment folder was
    /// moved or copied since, paths under its old location are read under `directory` instead.
    static func loadResults(directory: String) throws -> ExperimentResults {
        var results = try ExperimentResults.load(directory: directory)
        if let old = formerDirectory(of: results, now: directory) {
            func moved(_ path: String) -> String { path.hasPrefix(old + "/") ? directory + path.dropFirst(old.count) : path }
            for i in results.poisonedSets.indices {
                results.poisonedSets[i].folder = moved(results.poisonedSets[i].folder)
                results.poisonedSets[i].csv = moved(results.poisonedSets[i].csv)
                results.poisonedSets[i].manifest = moved(results.poisonedSets[i].manifest)
            }
            results.trainCSV = moved(results.trainCSV)
            results.evaluationSets = results.evaluationSets.mapValues(moved)
        }
        return results
    }

    /// The folder the experiment was written in, when it differs from `now`: found from a
    /// poisoned set's folder (`OLD/data/poison-TAG`) or the prepared training CSV
    /// (`OLD/data/clean/train.csv`) that no longer exists where results.json says.
    static func formerDirectory(of results: ExperimentResults, now: String) -> String? {
        let recorded = results.poisonedSets.map(\.folder) + [results.trainCSV]
        for path in recorded where !FileManager.default.fileExists(atPath: path) {
            guard let range = path.range(of: "/data/", options: .backwards) else { continue }
            let old = String(path[..<range.lowerBound])
            if old != now && FileManager.default.fileExists(atPath: now + path[range.lowerBound...]) { return old }
        }
        return nil
    }

    /// The first and last `*.json` of a similarities folder, by epoch (`epoch_N.json`; the
    /// filter's `filter.json` is epoch 0).
    static func similarityFiles(folder: String) -> [(name: String, file: SimilarityFile)] {
        func epoch(_ name: String) -> Int { name.hasPrefix("epoch_") ? Int(name.dropFirst(6).dropLast(5)) ?? 0 : 0 }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".json") }
            .sorted { (epoch($0), $0) < (epoch($1), $1) }
        let chosen = names.count > 1 ? [names.first!, names.last!] : names
        return chosen.compactMap { name in (try? SimilarityFile.read(path: folder + "/" + name)).map { (name, $0) } }
    }

    /// A finished row's typed metrics.
    func metrics(_ row: RowResult) -> MetricsFile { metrics[row.id] ?? MetricsFile() }

    /// A finished row's similarity files.
    func similarities(_ row: RowResult) -> [(name: String, file: SimilarityFile)] { similarityFiles[row.id] ?? [] }
}
