import ArgumentParser
import Experiments
import Datasets
import Foundation
import Training

/// `clipguard experiment run|validate`.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Run a whole comparison (data, poisoning, defences × seeds × rates, evaluation, report) from one file.",
        subcommands: [Run.self, Validate.self]
    )

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run an experiment file; finished rows are skipped and a stopped row resumes from its checkpoint.",
            discussion: """
                DIR receives experiment.json, data/ (prepared and poisoned sets), rows/ID/ (one training run and \
                result.json per defence × seed × poison amount), results.json, report.md and report.html. Run the \
                same command again to continue a stopped experiment.

                --threads sets libtorch's threads for the runner's own passes (evaluation, detection, \
                surrogates); a row trains with the file's training.threads when the file names it, since \
                seeds repeat bit for bit only at the same thread count (the equivalent commands carry it).

                Example:
                  clipguard experiment run experiments/demo.yaml --out runs/demo
                """
        )

        @Argument(help: "The experiment file (YAML or JSON).") var file: String
        @Option(help: "The experiment folder (created; re-use it to continue).") var out: String
        @OptionGroup var threads: ThreadsOption
        @Option(name: .customLong("stop-after-steps"), help: ArgumentHelp("Stop each row after N steps (testing).", visibility: .hidden))
        var stopAfterSteps: Int?

        func run() throws {
            threads.apply()
            var console: ConsoleLog?
            defer { console?.finish() }
            do {
                let config = try ExperimentConfig.load(path: file)
                _ = try RunFolderGuard.check(out, kind: .experiment)
                console = ConsoleLog.start(folder: out)
                let runner = ExperimentRunner(config: config, configPath: file, directory: out)
                runner.stopSignal = StopSignal()
                runner.stopAfterSteps = stopAfterSteps
                runner.toolVersion = ClipGuard.versionText
                let start = Date()
                let results = try runner.run()
                let report = ReportWriter(directory: runner.directory, results: results)
                print(report.textTable())
                let warnings = report.warnings()
                if !warnings.isEmpty { print("\n" + ResultWarnings.text(warnings)) }
                print("\nexperiment took \(formatDuration(Date().timeIntervalSince(start))) (this session)")
                print("report: \(runner.directory)/report.html (and report.md, results.json)")
            } catch let error as ExperimentError {
                FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
                if case .interrupted = error { throw ExitCode(130) }
                throw ExitCode.failure
            } catch {
                FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
                throw ExitCode.failure
            }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an experiment file without running it: keys, types, values, model, data paths.",
            discussion: """
                Missing data paths are errors; with --allow-missing-data they are listed as warnings, so that a \
                file for data this machine lacks (experiments/study-cc3m.yaml) can still be checked.
                """
        )

        @Argument(help: "The experiment file.") var file: String
        @Flag(name: .customLong("allow-missing-data"), help: "Report missing data paths as warnings instead of errors.")
        var allowMissingData = false

        func run() throws {
            let config: ExperimentConfig
            do {
                config = try ExperimentConfig.load(path: file)
            } catch {
                FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
                throw ExitCode.failure
            }
            var problems = 0
            let missing = ExperimentRunner.missingPaths(config)
            for m in missing {
                FileHandle.standardError.write(Data("\(allowMissingData ? "warning" : "error"): \(file): missing \(m)\n".utf8))
            }
            if !allowMissingData { problems += missing.count }
            for p in ExperimentRunner.surrogateProblems(config) {
                FileHandle.standardError.write(Data("error: \(file): \(p)\n".utf8))
                problems += 1
            }
            guard problems == 0 else { throw ExitCode.failure }
            let rows = config.rows.count
            print("\(file): valid — \(rows) row\(rows == 1 ? "" : "s") (\(config.defenses.count) defences × \(config.seeds.count) seeds × \(config.attack.amounts.count) poison amounts\(config.variants.isEmpty ? "" : ", then \(config.variants.count) variant\(config.variants.count == 1 ? "" : "s")")), model \(config.model)\(missing.isEmpty ? "" : ", \(missing.count) data path(s) missing")")
        }
    }
}

/// `clipguard report DIR`: regenerate an experiment's report from its results.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Regenerate DIR/report.md and DIR/report.html from DIR/results.json and the run folders.",
        discussion: "For a `clipguard detect` folder (DIR/summary.json): DIR/report.html with ROC curves and score histograms. For one training run (`train`/`finetune` RUN_DIR): RUN_DIR/report.md and report.html with its outcome, warnings, epochs and loss curve."
    )

    @Argument(help: "An experiment folder, a clipguard detect output folder, or a training run folder.") var directory: String
    @Option(
        name: .customLong("leaderboard"),
        help: "Also write the attack × defence leaderboard (README.md, index.html, triggers/) of the experiment into this folder.")
    var leaderboard: String?
    @Option(
        name: .customLong("with"),
        help: "With --leaderboard: another experiment folder whose board follows as a section of the same page (e.g. the fine-tuning threat model); repeatable.")
    var with: [String] = []

    func validate() throws {
        if !with.isEmpty && leaderboard == nil { throw ValidationError("--with adds a section to the leaderboard page: give --leaderboard OUT too") }
    }

    func run() throws {
        do {
            if let leaderboard {
                let boards = try ([directory] + with).map { try Leaderboard(directory: experimentFolder($0)) }
                try Leaderboard.write(boards, to: leaderboard)
                let sizes = boards.map { "\($0.attacks.count) attacks × \($0.defenses.count) defences" }.joined(separator: "; ")
                print("leaderboard: \(leaderboard)/README.md (\(sizes))")
            }
            if DetectionReport.isDetectionFolder(experimentFolder(directory)) {
                let report = try DetectionReport(directory: experimentFolder(directory))
                try report.write()
                for (name, auroc) in report.aurocs() { print("\(name): AUROC \(String(format: "%.3f", auroc))") }
                print("report: \(report.directory)/report.html")
                return
            }
            let folder = experimentFolder(directory)
            if !FileManager.default.fileExists(atPath: folder + "/results.json"), RunReport.isRunFolder(folder) {
                let report = try RunReport(directory: folder)
                try report.write()
                report.summaryLines().forEach { print($0) }
                if !report.warnings().isEmpty { print(ResultWarnings.text(report.warnings())) }
                print("report: \(directory)/report.html (and report.md)")
                return
            }
            let report = try ReportWriter(directory: experimentFolder(directory))
            try report.write()
            print(report.textTable())
            print("report: \(report.directory)/report.html")
        } catch let error as DecodingError {
            let file = experimentFolder(directory) + "/results.json"
            FileHandle.standardError.write(Data(
                "error: \(file): \(describeDecodingError(error)); run `clipguard experiment run` again to rewrite it\n".utf8))
            throw ExitCode.failure
        } catch {
            FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// An experiment folder as an absolute path (results.json stores absolute paths).
func experimentFolder(_ path: String) -> String {
    let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    return (full as NSString).standardizingPath
}
