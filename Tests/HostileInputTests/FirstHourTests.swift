import Datasets
import Foundation
import TestSupport
import Testing
import Training

/// The first hour of a new user (issue 25): a folder that is not the command's own unfinished run
/// is never written (every file's bytes unchanged), `--resume` needs a run, a finished run says so,
/// and messages name the flag, the YAML line or what a file is.
@Suite struct FirstHourTests {
    /// Runs `arguments` in a fresh workspace prepared by `prepare`; expects a refusal mentioning
    /// `mentions` and every file's bytes unchanged (nothing added, nothing removed).
    func refusal(
        _ arguments: (Workspace) throws -> [String], mentions: (Workspace) -> [String], prepare: (Workspace) throws -> Void,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let dir = try Workspace()
        defer { dir.remove() }
        try prepare(dir)
        let before = dir.snapshot()
        let result = try runClipGuard(try arguments(dir))
        expectRefusal(result, mentions: mentions(dir), sourceLocation: sourceLocation)
        #expect(dir.snapshot() == before, "files changed", sourceLocation: sourceLocation)
    }

    /// A folder of someone's notes, with a `config.json` that is not a training configuration.
    static func notes(_ dir: Workspace) throws {
        try dir.write("notes/config.json", text: #"{"my": "notes"}"#)
        try dir.write("notes/todo.txt", text: "write the paper\n")
    }

    /// A training CSV of two pairs (never read by the refused commands).
    static func data(_ dir: Workspace) throws {
        try dir.write("img.png", RGBImage(width: 8, height: 8, fill: (200, 10, 10)).pngData())
        try dir.write("d.csv", text: "filepath,caption\nimg.png,a red sneaker\nimg.png,a red bag\n")
    }

    static let experiment = """
        name: x
        data: {builtin: fashion-mnist, limit: 100}
        attack: {target: sneaker, trigger: patch, rate: 0.02, captions: natural, image_size: 32}
        defenses: [none]
        model: micro-vit
        training: {epochs: 1}
        evaluation:
          - {name: fashion-mnist, path: builtin}
        seeds: [1]
        """

    // MARK: Nothing overwritten

    @Test(arguments: ["train", "finetune", "detect", "poison", "experiment"])
    func everyCommandRefusesAFolderOfNotes(command: String) throws {
        try refusal(
            { dir in
                let notes = dir.file("notes"), data = dir.file("d.csv")
                switch command {
                case "train": return ["train", "--data", data, "--model", "micro-vit", "--out", notes]
                case "finetune": return ["finetune", "--checkpoint", dir.file("img.png"), "--data", data, "--model", "micro-vit", "--out", notes]
                case "detect": return ["detect", "--data", data, "--out", notes]
                case "poison":
                    return ["poison", "--data", data, "--out", notes, "--target", "sneaker", "--trigger", "patch", "--count", "1", "--captions", "natural"]
                default: return ["experiment", "run", dir.file("x.yaml"), "--out", notes]
                }
            },
            mentions: { [$0.file("notes"), "todo.txt", "another --out"] },
            prepare: { dir in
                try Self.notes(dir)
                try Self.data(dir)
                try dir.write("x.yaml", text: Self.experiment)
            })
    }

    @Test func trainRefusesAPreparedDataFolder() throws {
        try refusal(
            { ["train", "--data", $0.file("fm/train.csv"), "--model", "micro-vit", "--out", $0.file("fm")] },
            mentions: { [$0.file("fm"), "images", "train.csv", "--resume"] },
            prepare: { dir in
                try dir.write("fm/images/a.png", RGBImage(width: 8, height: 8, fill: (1, 2, 3)).pngData())
                try dir.write("fm/train.csv", text: "filepath,caption\nimages/a.png,a bag\n")
            })
    }

    /// A run folder as `train` leaves it, with `model.safetensors` (finished) or without.
    static func runFolder(_ dir: Workspace, model: Bool, checkpoint: Bool, epochsDone: Int) throws {
        try dir.write("run/config.json", text: #"{"data": "\#(dir.file("d.csv"))", "model": "micro-vit", "epochs": 2, "warmup_steps": 1}"#)
        var metrics = ""
        for e in 0..<epochsDone { metrics += #"{"epoch_end": \#(e + 1), "step": \#(e + 1), "loaded": 2, "skipped": 0}"# + "\n" }
        try dir.write("run/metrics.jsonl", text: metrics)
        if model { try dir.write("run/model.safetensors", text: "weights") }
        if checkpoint { try dir.write("run/checkpoint.safetensors", text: "checkpoint") }
    }

    @Test func aFinishedRunWhoseCheckpointWasDeletedIsNeverRestarted() throws {
        try refusal(
            { ["train", "--data", $0.file("d.csv"), "--model", "micro-vit", "--epochs", "2", "--out", $0.file("run")] },
            mentions: { [$0.file("run"), "finished", "never restarted", "another --out"] },
            prepare: { dir in
                try Self.data(dir)
                try Self.runFolder(dir, model: true, checkpoint: false, epochsDone: 2)
            })
    }

    @Test func aRunWithoutItsWeightsIsNotStartedAgain() throws {
        try refusal(
            { ["train", "--data", $0.file("d.csv"), "--model", "micro-vit", "--epochs", "2", "--out", $0.file("run")] },
            mentions: { [$0.file("run"), "completed 2 epochs", "missing"] },
            prepare: { dir in
                try Self.data(dir)
                try Self.runFolder(dir, model: false, checkpoint: false, epochsDone: 2)
            })
    }

    @Test func aStoppedRunNeedsResume() throws {
        try refusal(
            { ["train", "--data", $0.file("d.csv"), "--model", "micro-vit", "--epochs", "2", "--out", $0.file("run")] },
            mentions: { [$0.file("run"), "--resume", "another --out"] },
            prepare: { dir in
                try Self.data(dir)
                try Self.runFolder(dir, model: false, checkpoint: true, epochsDone: 1)
            })
    }

    @Test func resumeOfAFinishedRunSaysSoAndWritesNothing() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        try Self.data(dir)
        try Self.runFolder(dir, model: true, checkpoint: true, epochsDone: 2)
        let before = dir.snapshot()
        let result = try runClipGuard(["train", "--out", dir.file("run"), "--resume"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("finished run (2 of 2 epochs)") && result.stdout.contains("nothing to resume"), "\(result.stdout)")
        #expect(!result.stdout.contains("resuming") && !result.stderr.contains("resuming"))
        #expect(dir.snapshot() == before)
    }

    @Test func resumeNeedsAnExistingFolder() throws {
        try refusal(
            { ["train", "--data", $0.file("d.csv"), "--model", "micro-vit", "--out", $0.file("nothing-here"), "--resume"] },
            mentions: { [$0.file("nothing-here"), "does not exist", "without --resume"] },
            prepare: { try Self.data($0) })
    }

    @Test func detectRefusesItsOwnFinishedFolder() throws {
        try refusal(
            { ["detect", "--data", $0.file("d.csv"), "--out", $0.file("det")] },
            mentions: { [$0.file("det"), "finished detect run", "another --out"] },
            prepare: { dir in
                try Self.data(dir)
                try dir.write("det/summary.json", text: "{}")
                try dir.write("det/scores.csv", text: "row\n")
            })
    }

    @Test func experimentRefusesAFolderWithoutExperimentJSON() throws {
        try refusal(
            { ["experiment", "run", $0.file("x.yaml"), "--out", $0.file("exp")] },
            mentions: { [$0.file("exp"), "no experiment.json"] },
            prepare: { dir in
                try dir.write("x.yaml", text: Self.experiment)
                try dir.write("exp/results.json", text: "{}")
            })
    }

    // MARK: Messages in the user's words

    @Test(arguments: [("t.csv", "filepath,caption\na.png,a cat\n", "a CSV file"), ("c.json", #"{"epochs": 2}"#, "a JSON file"),
                      ("m.jsonl", "{\"step\": 1}\n{\"step\": 2}\n", "a JSON Lines file"), ("n.yaml", "model: micro-vit\n", "a YAML file")])
    func aFileThatIsNotACheckpointIsNamedForWhatItIs(name: String, text: String, kind: String) throws {
        try refusal(
            { ["eval", "--checkpoint", $0.file(name), "--dataset", "fashion-mnist", "--limit", "5"] },
            mentions: { [$0.file(name), "is \(kind), not a checkpoint"] }, prepare: { try $0.write(name, text: text) })
    }

    @Test func aPNGIsNotACheckpoint() throws {
        try refusal(
            { ["eval", "--checkpoint", $0.file("x.png"), "--dataset", "fashion-mnist", "--limit", "5"] },
            mentions: { [$0.file("x.png"), "is a PNG image, not a checkpoint"] },
            prepare: { try $0.write("x.png", RGBImage(width: 4, height: 4, fill: (1, 1, 1)).pngData()) })
    }

    @Test func aMisspeltTriggerGetsADidYouMeanWithItsLine() throws {
        try refusal(
            { ["experiment", "validate", $0.file("x.yaml")] },
            mentions: { [$0.file("x.yaml"), "attack.trigger", "line 3", "'pach'", "did you mean patch"] },
            prepare: { try $0.write("x.yaml", text: Self.experiment.replacingOccurrences(of: "trigger: patch", with: "trigger: pach")) })
    }

    @Test func aMisspeltKeyGetsADidYouMeanWithItsLine() throws {
        try refusal(
            { ["train", "--config", $0.file("t.yaml"), "--out", $0.file("run")] },
            mentions: { [$0.file("t.yaml"), "batch_sise", "line 3", "did you mean batch_size"] },
            prepare: { try $0.write("t.yaml", text: "data: x.csv\nmodel: micro-vit\nbatch_sise: 8\n") })
    }

    @Test(arguments: [(["--epochs", "0"], "--epochs: must be at least 1"), (["--batch-size", "1"], "--batch-size: must be at least 2"),
                      (["--defense", "filter"], "--filter-model")])
    func flagErrorsNameTheFlag(extra: [String], mention: String) throws {
        let dir = try Workspace()
        defer { dir.remove() }
        try Self.data(dir)
        let result = try runClipGuard(["train", "--data", dir.file("d.csv"), "--model", "micro-vit", "--out", dir.file("run")] + extra)
        expectRefusal(result, mentions: [mention])
        #expect(!result.stderr.contains("key '"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("run")))
    }

    @Test func trainWithCleanCLIPPointsToFinetune() throws {
        try refusal(
            { ["train", "--defense", "cleanclip", "--data", $0.file("d.csv"), "--model", "micro-vit", "--out", $0.file("run")] },
            mentions: { _ in ["--defense cleanclip", "clipguard finetune --checkpoint"] }, prepare: { try Self.data($0) })
    }

    @Test func poisonRefusesATargetThatIsNotAClass() throws {
        try refusal(
            { ["poison", "--data", $0.file("d.csv"), "--out", $0.file("p"), "--target", "sneakers", "--trigger", "patch", "--count", "1",
               "--captions", "natural"] },
            mentions: { [$0.file("classes.json"), "'sneakers'", "did you mean sneaker", "--custom-target"] },
            prepare: { dir in
                try Self.data(dir)
                try ClassIndex(classes: ["bag", "sneaker"], templates: ["a photo of a {c}."]).write(toPath: dir.file("classes.json"))
            })
    }

    @Test func aCustomTargetIsAcceptedWithTheFlag() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        try Self.data(dir)
        try ClassIndex(classes: ["bag", "sneaker"], templates: ["a photo of a {c}."]).write(toPath: dir.file("classes.json"))
        let result = try runClipGuard([
            "poison", "--data", dir.file("d.csv"), "--out", dir.file("p"), "--target", "green", "--custom-target", "--trigger", "patch",
            "--count", "1", "--captions", "template", "--image-size", "8",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.file("p/manifest.json")))
    }

    @Test func theImageFolderOfAPreparedSetIsNamed() throws {
        try refusal(
            { ["train", "--data", $0.file("fm/images"), "--model", "micro-vit", "--out", $0.file("run")] },
            mentions: { [$0.file("fm/images"), "no train.csv", "--data \($0.file("fm"))/train.csv"] },
            prepare: { dir in
                try dir.write("fm/images/train/a.png", RGBImage(width: 8, height: 8, fill: (1, 2, 3)).pngData())
                try dir.write("fm/train.csv", text: "filepath,caption\nimages/train/a.png,a bag\n")
            })
    }

    @Test(arguments: ["eval", "detect", "embed", "experiment run", "train", "finetune", "model-info"])
    func everyCommandThatComputesTakesThreads(command: String) throws {
        let result = try runClipGuard(command.split(separator: " ").map(String.init) + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("--threads"), "\(command) --help lacks --threads")
    }

    @Test func threadsIsChecked() throws {
        let result = try runClipGuard(["eval", "--checkpoint", "x.safetensors", "--dataset", "fashion-mnist", "--threads", "0"])
        expectRefusal(result, mentions: ["--threads"])
    }

    // MARK: Help

    @Test func helpOffATerminalIsNotWrapped() throws {
        let result = try runClipGuard(["finetune", "--help"])
        #expect(result.status == 0)
        // The example is one line of the help, as written (wider than 80 columns).
        #expect(result.stdout.contains(
            "clipguard finetune --checkpoint runs/fm-poisoned/model.safetensors --data data/fm-clean/train.csv \\"), "\(result.stdout)")
        let narrow = try runClipGuard(["finetune", "--help"], environment: ["COLUMNS": "60"])
        #expect(narrow.stdout.split(separator: "\n").allSatisfy { $0.count <= 60 }, "COLUMNS is the user's choice")
    }

    @Test func poisonHelpShowsItsFlags() throws {
        let result = try runClipGuard(["poison", "--help"])
        #expect(result.status == 0)
        for flag in ["--data", "--target", "--trigger", "--rate", "--captions", "--custom-target"] {
            #expect(result.stdout.contains(flag), "poison --help lacks \(flag)")
        }
    }

    @Test func finetuneHelpListsOnlyWhatItAccepts() throws {
        let result = try runClipGuard(["finetune", "--help"])
        let line = result.stdout.split(separator: "\n").first { $0.contains("--defense") } ?? ""
        #expect(line.contains("cleanclip") && !line.contains("safeclip") && !line.contains("roclip"), "\(line)")
    }
}

/// A user's first runs end to end on a toy set: warnings in the output and `result.json`, the
/// warm-up used in `config.json`, `out.log`, a finished run left alone; `detect`'s files and lines;
/// `eval`'s ASR base rate and every recall K.
@Suite(.serialized) struct FirstHourRunTests {
    static func toyRun(_ dir: Workspace) throws -> (data: String, model: String, eval: String) {
        let data = try ToySet.write(in: dir.url, count: 48)
        let model = try dir.write("micro.json", text: ToySet.microModelConfig)
        let eval = try ToySet.writeEvaluationSet(in: dir.url, count: 16)
        return (data, model, eval)
    }

    @Test func aShortRunWarnsRecordsItsWarmupAndKeepsItsConsole() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let toy = try Self.toyRun(dir)
        let run = dir.file("run")
        let arguments = [
            "train", "--data", toy.data, "--model", toy.model, "--epochs", "2", "--batch-size", "8", "--eval-data", toy.eval,
            "--workers", "1", "--threads", "1", "--device", "cpu", "--out", run,
        ]
        let result = try runClipGuard(arguments, seconds: 240)
        #expect(result.status == 0, "\(result.stderr)")
        // 48 pairs / 8 = 6 steps per epoch, 12 steps: the default 100-step warm-up is cut to 11.
        #expect(result.stdout.contains("warning: the warm-up (100 steps, --warmup-steps) is not shorter than the run (12 steps)"), "\(result.stdout)")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json"))) as? [String: Any])
        #expect(config["warmup_steps"] as? Int == 100 && config["warmup_steps_used"] as? Int == 11)
        let saved = try JSONDecoder().decode(RunResult.self, from: Data(contentsOf: URL(fileURLWithPath: run + "/result.json")))
        #expect(saved.steps == 12 && saved.classes == 4 && saved.warnings.contains { $0.contains("warm-up") })
        let log = try String(contentsOfFile: run + "/out.log", encoding: .utf8)
        #expect(log.contains("trained 12 steps") && log.contains("epoch 2: zero-shot top-1") && log.contains("warning: the warm-up"), "\(log)")
        #expect(!log.contains("\u{1B}") && !log.contains("\r"))

        // Not again without --resume; with --resume it is finished; nothing changes either way.
        let before = dir.snapshot()
        expectRefusal(try runClipGuard(arguments), mentions: [run, "finished run (2 of 2 epochs)", "never restarted"])
        let resumed = try runClipGuard(["train", "--out", run, "--resume"])
        #expect(resumed.status == 0 && resumed.stdout.contains("nothing to resume"), "\(resumed.stdout)\(resumed.stderr)")
        #expect(dir.snapshot() == before)
        // The config.json with the recorded warm-up is read back (resume loads it).
        #expect(try ConfigFile.load(TrainingConfig.self, path: run + "/config.json").warmupSteps == 100)

        // `clipguard report RUN_DIR` for this one run.
        let report = try runClipGuard(["report", run])
        #expect(report.status == 0, "\(report.stderr)")
        let markdown = try String(contentsOfFile: run + "/report.md", encoding: .utf8)
        #expect(markdown.contains("## Warnings") && markdown.contains("warm-up") && markdown.contains("| 2 | 12 |"), "\(markdown)")
        #expect(FileManager.default.fileExists(atPath: run + "/report.html") && FileManager.default.fileExists(atPath: run + "/plots/loss.svg"))
    }

    @Test func dataPrepareLimitAppliesToTheTestSplit() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let both = try runClipGuard(["data", "prepare", "fashion-mnist", "--out", dir.file("a"), "--limit", "12"], seconds: 120)
        #expect(both.status == 0, "\(both.stderr)")
        #expect(try String(contentsOfFile: dir.file("a/eval/labels.csv"), encoding: .utf8).split(separator: "\n").count == 13)
        let own = try runClipGuard(["data", "prepare", "fashion-mnist", "--out", dir.file("b"), "--limit", "12", "--eval-limit", "5"], seconds: 120)
        #expect(own.status == 0, "\(own.stderr)")
        #expect(try String(contentsOfFile: dir.file("b/eval/labels.csv"), encoding: .utf8).split(separator: "\n").count == 6)
    }

    @Test func trainingOnAPreparedEvaluationFolderWarns() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let toy = try Self.toyRun(dir)
        // A labelled evaluation folder trains (its captions come from the templates) but says what it is.
        let result = try runClipGuard(
            ["train", "--data", toy.eval, "--model", toy.model, "--epochs", "1", "--batch-size", "8", "--warmup-steps", "1",
             "--workers", "1", "--threads", "1", "--out", dir.file("run")], seconds: 240)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("warning: --data \(toy.eval) is a labelled evaluation folder"), "\(result.stdout)")
    }

    @Test func detectWritesWhatItsColumnsHoldAndNoSignalLine() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let toy = try Self.toyRun(dir)
        let poison = try runClipGuard([
            "poison", "--data", toy.data, "--out", dir.file("p"), "--target", "red", "--trigger", "patch", "--count", "4",
            "--captions", "natural", "--image-size", "16",
        ])
        #expect(poison.status == 0, "\(poison.stderr)")
        let out = dir.file("det")
        let arguments = [
            "detect", "--data", dir.file("p/train.csv"), "--out", out, "--detectors", "similarity,trigger", "--warmup-epochs", "1",
            "--warmup-clip-epochs", "1", "--warmup-batch-size", "8", "--workers", "1", "--threads", "1", "--device", "cpu",
        ]
        let result = try runClipGuard(arguments, seconds: 300)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("stopped by") && !result.stdout.contains("stopped by"), "\(result.stderr)")
        let lines = try String(contentsOfFile: out + "/scores.csv", encoding: .utf8).split(separator: "\n")
        #expect(lines.first?.hasSuffix(",combined,rank,poisoned") == true, "\(lines.first ?? "")")
        #expect(lines.dropFirst().filter { $0.hasSuffix(",1") }.count == 4)
        #expect(FileManager.default.fileExists(atPath: out + "/out.log"))
        // A finished detect folder is not written again.
        let before = dir.snapshot()
        expectRefusal(try runClipGuard(arguments), mentions: [out, "finished detect run"])
        #expect(dir.snapshot() == before)

        // eval: ASR with its base rate, in text and JSON.
        let weights = out + "/warmup/detector.safetensors"
        let text = try runClipGuard(["eval", "--checkpoint", weights, "--dataset", toy.eval, "--trigger-from", dir.file("p/manifest.json")])
        #expect(text.status == 0 && text.stdout.contains("base rate without the trigger"), "\(text.stdout)\(text.stderr)")
        let json = try runClipGuard(["eval", "--checkpoint", weights, "--dataset", toy.eval, "--trigger-from", dir.file("p/manifest.json"), "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let base = try #require(object["asr_base_rate"] as? Double)
        let successes = try #require(object["asr_base_successes"] as? Int), denominator = try #require(object["asr_denominator"] as? Int)
        #expect(denominator == 12 && abs(base - Double(successes) / Double(denominator)) < 1e-12)
        let retrieval = try runClipGuard(["eval", "--checkpoint", weights, "--retrieval", toy.data])
        #expect(retrieval.stdout.contains("R@1 ") && retrieval.stdout.contains("R@5 ") && retrieval.stdout.contains("R@10 "), "\(retrieval.stdout)")
    }
}

/// The rules of ``ResultWarnings``, at the points the project measured.
@Suite struct ResultWarningRuleTests {
    @Test func anEmptySafeSetInARunFolderIsFound() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        try dir.write("run/config.json", text: #"{"data": "x.csv", "model": "micro-vit", "epochs": 3, "defense": "safeclip", "unimodal_epochs": 1, "clip_warmup_epochs": 1}"#)
        try dir.write("run/metrics.jsonl", text: """
            {"epoch_end": 1, "step": 10, "loaded": 100, "skipped": 0, "zeroshot_top1": 0.11}
            {"selection_epoch": 3, "step": 20, "safe_count": 0, "risky_count": 1020}
            {"epoch_end": 3, "step": 30, "loaded": 100, "skipped": 0, "zeroshot_top1": 0.12}

            """)
        let warnings = ResultWarnings.forRun(folder: dir.file("run"), classes: 10)
        #expect(warnings.contains { $0.contains("no pair in the safe set (0 of 1020)") }, "\(warnings)")
        #expect(warnings.contains { $0.contains("near chance: zero-shot top-1 12.0 %") }, "\(warnings)")
    }

    @Test func trainTakesTheBuiltInEvaluationName() throws {
        let set = try openClassificationSet(atPath: "fashion-mnist")
        #expect(set.classNames.count == 10 && set.count == 10_000)
    }

    @Test func builtInCaptionsNeverSayASneakers() throws {
        // "a sneakers", "an old jeans", "this trousers", "one sandals" (an adjective may come between).
        let singular = try NSRegularExpression(pattern: #"\b(a|an|this|one) ([a-z-]+ )?(sneakers|trousers|pants|jeans|sandals)\b"#)
        var rng = SplitMix64(seed: 3)
        var plural = 0
        for label in [1, 5, 7] {
            for _ in 0..<400 {
                let caption = FashionMNISTCaptions.caption(label: label, rng: &rng)
                let range = NSRange(caption.startIndex..., in: caption)
                #expect(singular.firstMatch(in: caption, range: range) == nil, "\(caption)")
                if caption.contains("a pair of") { plural += 1 }
            }
        }
        #expect(plural > 20)
    }

    @Test func poisonAmountFollowsTheMeasuredSetting() {
        // docs/study-small: takes at 200 of 10,000 over 6 epochs, partly at 100, not at 50.
        #expect(ResultWarnings.poisonAmount(poisoned: 200, pairs: 10_200, epochs: 6) == nil)
        #expect(ResultWarnings.poisonAmount(poisoned: 100, pairs: 10_100, epochs: 6)?.contains("only partly") == true)
        #expect(ResultWarnings.poisonAmount(poisoned: 50, pairs: 10_050, epochs: 6)?.contains("too few") == true)
        // The README's old Attacks example: 2 % of 1,000 pairs for 2 epochs is 40 presentations, not 1,200.
        let small = ResultWarnings.poisonAmount(poisoned: 20, pairs: 1_020, epochs: 2)
        #expect(small?.contains("too few") == true && small?.contains("seen 40 times") == true, "\(small ?? "nil")")
        #expect(ResultWarnings.poisonAmount(poisoned: 0, pairs: 1_000, epochs: 2) == nil)
        // A run whose own ASR shows the backdoor took refutes the estimate (60,000 pairs at 0.3 %,
        // experiments/dao-full-set.yaml: 96–100 %); one below the verdict's 50 % keeps it.
        #expect(ResultWarnings.poisonAmount(poisoned: 180, pairs: 60_180, epochs: 20, asr: 0.98) == nil)
        #expect(ResultWarnings.poisonAmount(poisoned: 180, pairs: 60_180, epochs: 20, asr: 0.49)?.contains("too few") == true)
    }

    @Test func aRunWhoseBackdoorTookGetsNoPoisonAmountWarning() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        try dir.write("run/config.json", text: #"{"data": "x.csv", "model": "micro-vit", "epochs": 2}"#)
        for (asr, warns) in [(0.2, true), (0.9, false)] {
            try dir.write("run/metrics.jsonl", text: """
                {"epoch_end": 1, "step": 10, "loaded": 100, "skipped": 0, "zeroshot_top1": 0.8, "asr": 0.95}
                {"epoch_end": 2, "step": 20, "loaded": 100, "skipped": 0, "zeroshot_top1": 0.8, "asr": \(asr)}

                """)
            let warnings = ResultWarnings.forRun(folder: dir.file("run"), classes: 10, poisoned: 20, pairs: 1_020)
            #expect(warnings.contains { $0.hasPrefix("too few poisoned pairs") } == warns, "ASR \(asr): \(warnings)")
        }
    }

    @Test func nearChanceIsBelowTwiceChance() {
        #expect(ResultWarnings.nearChance(top1: 0.166, classes: 10) != nil)
        #expect(ResultWarnings.nearChance(top1: 0.25, classes: 10) == nil)
        #expect(ResultWarnings.nearChance(top1: 0.55, classes: 4) == nil)
        #expect(ResultWarnings.nearChance(top1: 0.45, classes: 4) != nil)
    }

    @Test func warmupLongerThanTheRun() {
        #expect(ResultWarnings.usedWarmup(asked: 100, totalSteps: 14) == 13)
        #expect(ResultWarnings.usedWarmup(asked: 10, totalSteps: 14) == 10)
        #expect(ResultWarnings.warmup(asked: 100, totalSteps: 14)?.contains("cut to 13 steps") == true)
        #expect(ResultWarnings.warmup(asked: 10, totalSteps: 14) == nil)
    }

    @Test func safeSetEmptyOrNearTotal() {
        #expect(ResultWarnings.safeSet(safe: 0, total: 1_020, epoch: 3)?.contains("0 of 1020") == true)
        #expect(ResultWarnings.safeSet(safe: 1_010, total: 1_020, epoch: 3) != nil)
        #expect(ResultWarnings.safeSet(safe: 500, total: 1_020, epoch: 3) == nil)
    }

    @Test func invertedDetector() {
        #expect(ResultWarnings.invertedDetector("similarity", auroc: 0.2)?.contains("0.200") == true)
        #expect(ResultWarnings.invertedDetector("similarity", auroc: 0.45) == nil)
        #expect(ResultWarnings.invertedDetector("similarity", auroc: .nan) == nil)
    }

    @Test func nearMatchesFindMisspellings() {
        #expect(nearMatches("pach", in: ["patch", "noise-patch", "blended", "sig", "wanet"]).first == "patch")
        #expect(nearMatches("batch_sise", in: ["batch_size", "bank_size", "seed"]).first == "batch_size")
        #expect(nearMatches("zzzzzz", in: ["patch", "sig"]).isEmpty)
        #expect(didYouMean("sneakers", in: ["sneaker", "bag"]) == "; did you mean sneaker?")
    }

    @Test func weightsFileKinds() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let csv = try dir.write("a.csv", text: "filepath,caption\nx.png,a cat\n")
        let tsv = try dir.write("a.tsv", text: "filepath\tcaption\nx.png\ta cat\n")
        let png = try dir.write("a.png", RGBImage(width: 2, height: 2, fill: (0, 0, 0)).pngData())
        #expect(WeightsFileKind.otherFormat(atPath: csv) == "a CSV file")
        #expect(WeightsFileKind.otherFormat(atPath: tsv) == "a TSV file")
        #expect(WeightsFileKind.otherFormat(atPath: png) == "a PNG image")
        // A real safetensors file is not called anything else.
        let weights = dir.file("w.safetensors")
        let result = try runClipGuard(["model-info", "--model", "micro-vit", "--save", weights])
        #expect(result.status == 0)
        #expect(WeightsFileKind.otherFormat(atPath: weights) == nil)
    }
}
