import Foundation

/// What a command that writes a run folder may do with the folder `--out` names: start a run,
/// continue its own stopped run, or nothing — a folder holding anything else is never written.
///
/// Every command that writes a folder (`train`, `finetune`, `detect`, `poison`, `experiment run`)
/// asks ``RunFolderGuard/check(_:kind:resume:)`` before it writes a byte, so that a folder of
/// notes, a data folder or a finished run is refused with one sentence naming what is there and
/// the ways out, instead of being trained into.
public enum RunFolderGuard {
    /// The kinds of folders the commands write, each with the names its command writes.
    public enum Kind: Sendable {
        /// `train`/`finetune`: config.json, metrics.jsonl, checkpoint.safetensors, model.safetensors, …
        case training
        /// `detect`: cache/, warmup/, scores.csv, summary.json, report.html.
        case detection
        /// `poison`: train.csv, manifest.json, poison/, classes.json.
        case poisonedSet
        /// `experiment run`: experiment.json, data/, rows/, surrogate/ (an optimised trigger's), results.json, report.*.
        case experiment

        /// The command, for messages.
        var command: String {
            switch self {
            case .training: "training run"
            case .detection: "clipguard detect folder"
            case .poisonedSet: "poisoned set"
            case .experiment: "experiment folder"
            }
        }

        /// Entries (first path component) the command itself writes in its folder.
        var ownNames: Set<String> {
            let common: Set<String> = [".lock", "out.log", ".DS_Store"]
            switch self {
            case .training:
                return common.union([
                    "config.json", "metrics.jsonl", "checkpoint.safetensors", "model.safetensors", "tensorboard", "similarities",
                    "result.json", "report.md", "report.html", "plots",
                ])
            case .detection:
                return common.union(["cache", "warmup", "scores.csv", "summary.json", "report.html", "plots"])
            case .poisonedSet:
                return common.union(["train.csv", "manifest.json", "poison", "classes.json"])
            case .experiment:
                return common.union(["experiment.json", "data", "rows", "results.json", "report.md", "report.html", "plots", "surrogate"])
            }
        }
    }

    /// What the command does with the folder.
    public enum Decision: Equatable, Sendable {
        /// The folder does not exist or is empty: start a run there.
        case start
        /// The folder holds this command's stopped run: continue it.
        case resume
        /// The folder holds this command's own run that stopped before anything worth keeping
        /// (a training run before its first checkpoint): start it again.
        case restart
        /// `--resume` named a training run that is finished: nothing to do (the message says so).
        case finished(String)
    }

    /// Decides what `kind`'s command may do with `folder`, or throws
    /// ``TrainingError/runFolder(path:reason:)`` with one sentence naming what is there and the
    /// ways out. Reads only; writes nothing.
    ///
    /// - Parameters:
    ///   - folder: the folder `--out` names.
    ///   - kind: the command's kind of folder.
    ///   - resume: whether the user passed `--resume` (training only; the other commands continue
    ///     their own folders when run again with the same arguments).
    public static func check(_ folder: String, kind: Kind, resume: Bool = false) throws(TrainingError) -> Decision {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = fm.fileExists(atPath: folder, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue {
            throw .runFolder(path: folder, reason: "is a file, not a folder; choose another --out")
        }
        let entries = exists ? ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).sorted() : []
        // A folder holding only the lock and the console log (a run that failed before it wrote
        // anything else) counts as empty.
        let meaningful = entries.filter { $0 != ".lock" && $0 != ".DS_Store" && !($0.hasPrefix(".") && $0.contains(".tmp-")) }
        if meaningful.allSatisfy({ $0 == "out.log" }) {
            if resume {
                throw .runFolder(
                    path: folder,
                    reason: exists
                        ? "holds no run to resume (no checkpoint.safetensors); start one there without --resume"
                        : "does not exist: there is no run to resume; check the path, or start a run there without --resume")
            }
            return .start
        }
        let foreign = meaningful.filter { !kind.ownNames.contains($0) }
        if !foreign.isEmpty {
            throw .runFolder(
                path: folder,
                reason: "already holds files that are not a \(kind.command) (\(listed(foreign))); nothing there is changed: choose another --out\(kind == .training ? ", or pass --resume to continue a stopped run in a run folder" : "")")
        }
        switch kind {
        case .training: return try checkTraining(folder, entries: Set(meaningful), resume: resume)
        case .detection:
            if entries.contains("summary.json") || entries.contains("scores.csv") {
                throw .runFolder(
                    path: folder,
                    reason: "holds a finished detect run (\(listed(meaningful))); it is never overwritten: choose another --out (`clipguard report \(folder)` redraws its report)")
            }
            return .resume
        case .poisonedSet:
            // Poison's own --overwrite decides about an existing set (train.csv, manifest.json).
            return .restart
        case .experiment:
            guard entries.contains("experiment.json") else {
                throw .runFolder(
                    path: folder, reason: "holds \(listed(meaningful)) but no experiment.json: it is not an experiment folder; choose another --out")
            }
            return .resume
        }
    }

    private static func checkTraining(_ folder: String, entries: Set<String>, resume: Bool) throws(TrainingError) -> Decision {
        let epochs = completedEpochs(folder)
        let saved = try? ConfigFile.load(TrainingConfig.self, path: folder + "/config.json")
        let progress = saved.map { " (\(epochs) of \($0.epochs) epochs)" } ?? ""
        if entries.contains("model.safetensors") {
            let message = "holds a finished run\(progress) with its final weights model.safetensors"
            if resume { return .finished("\(folder): \(message); there is nothing to resume") }
            throw .runFolder(path: folder, reason: "\(message); a finished run is never restarted: choose another --out")
        }
        if entries.contains("checkpoint.safetensors") {
            if resume { return .resume }
            throw .runFolder(
                path: folder,
                reason: "already holds a stopped run with a checkpoint\(progress); pass --resume to continue it, or choose another --out")
        }
        // No checkpoint and no final weights: a run stopped before its first checkpoint, or one whose
        // files were deleted, or a config.json that is not ours.
        if entries.contains("config.json") && saved == nil {
            throw .runFolder(
                path: folder,
                reason: "holds a config.json that is not a clipguard training configuration; nothing there is changed: choose another --out")
        }
        if epochs > 0 {
            throw .runFolder(
                path: folder,
                reason: "holds a run that completed \(epochs) epoch\(epochs == 1 ? "" : "s") (metrics.jsonl) but whose checkpoint.safetensors and model.safetensors are missing; it is not overwritten: choose another --out")
        }
        if resume {
            throw .runFolder(
                path: folder,
                reason: "no checkpoint.safetensors to resume from (the run stopped before its first checkpoint); start it again without --resume, or choose another --out")
        }
        return .restart
    }

    /// Epochs that a run's `metrics.jsonl` records as completed (`epoch_end` records).
    static func completedEpochs(_ folder: String) -> Int {
        guard let data = FileManager.default.contents(atPath: folder + "/metrics.jsonl") else { return 0 }
        var count = 0
        for line in data.split(separator: UInt8(ascii: "\n")) {
            if let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any], object["epoch_end"] != nil { count += 1 }
        }
        return count
    }

    /// Up to four names, folders with a trailing slash, then how many more.
    static func listed(_ names: [String]) -> String {
        let shown = names.prefix(4).map { name in name }
        let more = names.count > 4 ? ", and \(names.count - 4) more" : ""
        return shown.joined(separator: ", ") + more
    }
}
