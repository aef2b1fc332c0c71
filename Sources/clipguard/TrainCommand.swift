import ArgumentParser
import Foundation
import Torch
import Training

/// Settings shared by `train` and `finetune`; each flag overrides the config file's key.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Training CSV/TSV (image path + caption columns) or a folder with train.csv.")
    var data: String?
    @Option(help: "Model name (tiny-rn, tiny-vit, RN50, ViT-B-32, …) or a model config JSON.")
    var model: String?
    @Option(help: "Epochs (default: 10; finetune: 10).") var epochs: Int?
    @Option(name: .customLong("batch-size"), help: "Global batch size (default: 128; finetune: 64).") var batchSize: Int?
    @Option(help: "Peak learning rate (default: 5e-4; finetune: 1e-5).") var lr: Double?
    @Option(name: .customLong("warmup-steps"), help: "Linear warm-up steps (default: 100; finetune: 50).") var warmupSteps: Int?
    @Option(name: .customLong("weight-decay"), help: "AdamW weight decay (default: 0.1).") var weightDecay: Double?
    @Option(help: "AdamW β1 (default: 0.9).") var beta1: Double?
    @Option(help: "AdamW β2 (default: 0.999).") var beta2: Double?
    @Option(help: "AdamW ε (default: 1e-8).") var eps: Double?
    @Option(name: .customLong("grad-clip"), help: "Clip gradients to this global norm (default: off).") var gradClip: Double?
    @Option(help: "Micro-batches per optimizer step (default: 1).") var accumulation: Int?
    @Option(help: "fp32 or bf16 (default: fp32).") var precision: String?
    @Option(help: "Random seed: model init, data order, augmentation (default: 0).") var seed: UInt64?
    @Option(help: "cpu, cuda, cuda:N or auto (default: auto).") var device: String?
    @Option(help: "Image decoding threads (default: 2).") var workers: Int?
    @Option(help: "libtorch threads (default: all cores).") var threads: Int?
    @Option(name: .customLong("log-every"), help: "Print a progress line every N steps when not on a terminal (default: 50).")
    var logEvery: Int?
    @Option(name: .customLong("max-failure-fraction"), help: "Largest fraction of unreadable items per epoch before the run stops (default: 0.05).")
    var maxFailureFraction: Double?
    @Option(name: .customLong("eval-data"), help: "Labelled folder (or fashion-mnist, the built-in test split) for zero-shot evaluation during training (default: none).")
    var evalData: String?
    @Option(name: .customLong("eval-every"), help: "Evaluate every N epochs (default: 1).") var evalEvery: Int?
    @Option(name: .customLong("image-column"), help: "CSV column with image paths.") var imageColumn: String?
    @Option(name: .customLong("caption-column"), help: "CSV column with captions.") var captionColumn: String?
    @Option(help: "The poisoned set's manifest.json (default: the one next to the training CSV, if any).")
    var manifest: String?
    @Option(name: .customLong("similarity-batch-size"), help: "Batch size of the similarity passes of the defences that make them (default: 512).")
    var similarityBatchSize: Int?
    @Flag(inversion: .prefixedNo, help: "Shuffle the pairs every epoch (seeded); --no-shuffle keeps the data's row order (default: on).")
    var shuffle: Bool?
    @Flag(help: "Also write every step and epoch metric as TensorBoard event files to RUN_DIR/tensorboard (default: off).")
    var tensorboard = false
    @Option(help: "A YAML or JSON file with training settings.") var config: String?
    @Option(help: "Run folder (created).") var out: String
    @Flag(help: "Continue the run in --out from its checkpoint (`--resume latest` is accepted too). Settings that change the result must match the saved config.json.")
    var resume = false
    @Option(name: .customLong("stop-after-steps"), help: ArgumentHelp("Stop with a checkpoint after N steps (testing).", visibility: .hidden))
    var stopAfterSteps: Int?

    /// The configuration: `base` (or the config file, or the resumed run's config.json), then flags.
    ///
    /// - Parameters:
    ///   - defenseFlags: the defence's own flags (`--unimodal-epochs 2`), applied by its settings type.
    ///   - keyRenames: flags of this command that set a key under another name (finetune's
    ///     `--checkpoint` sets `init_weights`), for messages.
    ///   - refusingFinetuning: `train`: a fine-tuning defence (CleanCLIP) is refused with the command to use.
    func resolve(
        base: TrainingConfig, defenseFlags: [String], keyRenames: [String: String] = [:], refusingFinetuning: Bool = false,
        overrides: (inout TrainingConfig) -> Void
    ) throws -> TrainingConfig {
        var c: TrainingConfig
        if let config {
            c = try ConfigFile.load(TrainingConfig.self, path: config)
        } else if resume, FileManager.default.fileExists(atPath: out + "/config.json") {
            // A run folder of an earlier version keeps flat defence keys: read them without a note.
            c = try ConfigFile.load(TrainingConfig.self, path: out + "/config.json", notes: { _ in })
        } else {
            c = base
        }
        if let data { c.data = data }
        if let model { c.model = model }
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let lr { c.lr = lr }
        if let warmupSteps { c.warmupSteps = warmupSteps }
        if let weightDecay { c.weightDecay = weightDecay }
        if let beta1 { c.beta1 = beta1 }
        if let beta2 { c.beta2 = beta2 }
        if let eps { c.eps = eps }
        if let gradClip { c.gradClip = gradClip }
        if let accumulation { c.accumulation = accumulation }
        if let precision { c.precision = precision }
        if let seed { c.seed = seed }
        if let device { c.device = device }
        if let workers { c.workers = workers }
        if let threads { c.threads = threads }
        if let evalData { c.evalData = evalData }
        if let evalEvery { c.evalEvery = evalEvery }
        if let logEvery { c.logEvery = logEvery }
        if let maxFailureFraction { c.maxFailureFraction = maxFailureFraction }
        if let imageColumn { c.imageColumn = imageColumn }
        if let captionColumn { c.captionColumn = captionColumn }
        if let manifest { c.manifest = manifest }
        if let similarityBatchSize { c.similarityBatchSize = similarityBatchSize }
        if let shuffle { c.shuffle = shuffle }
        if tensorboard { c.tensorboard = true }
        overrides(&c)
        if refusingFinetuning && c.defense.finetunes {
            throw ValidationError(
                "\(config.map { "\($0): defense" } ?? "--defense") \(c.defense.name) fine-tunes a trained model: use clipguard finetune --checkpoint RUN/model.safetensors --data CLEAN.csv --out DIR")
        }
        try c.applyDefenseFlags(defenseFlags)
        do {
            try c.validate(file: config ?? "command line")
        } catch {
            throw ValidationError(UserWords.describe(error, renames: keyRenames))
        }
        return c
    }

    /// Trains with `settings` (plain CLIP or a defence) and prints the outcome.
    func train(_ settings: TrainingConfig, collective: any Collective = LocalCollective(), signals: StopSignal = StopSignal()) throws {
        // Only rank 0 draws the progress line; every rank still logs what it does.
        let reporter = ProgressReporter(quiet: collective.rank != 0)
        do {
            if collective.rank == 0, case .finished(let message) = try RunFolderGuard.check(out, kind: .training, resume: resume) {
                print(message)
                return
            }
            try TrainingDataCheck.check(data: settings.data)
            let dataWarning = TrainingDataCheck.warning(data: settings.data)
            if collective.rank == 0, let dataWarning { reporter.log("warning: \(dataWarning)") }
            let trainer = try Trainer(config: settings, runDirectory: out, resume: resume, collective: collective, reporter: reporter)
            trainer.stopAfterSteps = stopAfterSteps
            let summary = try trainer.run(stopSignal: signals)
            let weights = trainer.finalWeightsPath
            if summary.interrupted { throw ExitCode(130) }
            var line = "trained \(summary.progress.globalStep) steps in \(formatDuration(summary.progress.elapsedSeconds))"
            if let loss = summary.finalLoss { line += String(format: ", final loss %.4f", loss) }
            if let e = summary.lastEvaluation {
                line += String(format: ", zero-shot top-1 %.2f%% (n = %d)", 100 * e.top1, e.count)
            }
            // Every rank ends with the same weights; rank 0 reports them.
            if collective.rank == 0 {
                var result = trainer.result(of: summary)
                if let dataWarning { result.warnings.insert(dataWarning, at: 0) }
                try trainer.write(result)
                print(line)
                print("weights: \(weights)")
                if !result.warnings.isEmpty { print(ResultWarnings.text(result.warnings)) }
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct Train: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            abstract: "Train a CLIP model on image–caption pairs, optionally with a defence.",
            discussion: """
                Settings come from --config (YAML or JSON; every key is checked) and/or flags; flags \
                win. RUN_DIR receives config.json, metrics.jsonl, checkpoint.safetensors (after every \
                epoch and on Ctrl-C), model.safetensors (final weights), out.log (the console) and result.json \
                (the outcome and its warnings). --resume continues a stopped or killed run. --out must be a new or \
                empty folder or this command's own stopped run: nothing else is ever written into.

                Defences (README, "Defences"), --defense NAME:
                \(defenseList(finetunes: false))
                With a poison manifest (next to the CSV or --manifest) a defence that selects pairs logs how \
                many poisoned pairs it caught; similarity passes are saved under RUN_DIR/similarities/. In a \
                config file a defence's settings are the block named after it (safeclip: {unimodal_epochs: 2}).

                \(TrainingConfig.defenseFlagsHelp { !$0.finetunes })

                Examples:
                  clipguard data prepare fashion-mnist --out data/fm
                  clipguard train --data data/fm/train.csv --model tiny-vit \\
                    --epochs 5 --batch-size 128 --lr 1e-3 \\
                    --eval-data data/fm/eval --out runs/fm-clip
                  clipguard train --defense safeclip --data poisoned/train.csv \\
                    --model tiny-vit --epochs 10 --unimodal-epochs 2 \\
                    --clip-warmup-epochs 1 --out runs/fm-safeclip
                """
        )
    }

    @OptionGroup var options: TrainingOptions
    @Option(help: "Data-parallel worker processes on this machine (one per GPU, or CPU processes).") var nproc: Int?
    @Option(help: ArgumentHelp("The defence (default: none): \(Defense.allCases.filter { !$0.finetunes }.map(\.name).joined(separator: ", ")).", valueName: "name"))
    var defense: Defense?
    @Option(name: .customLong("init-weights"), help: "Start from these weights (model.safetensors, a checkpoint or an open_clip state_dict as safetensors) instead of a fresh model.")
    var initWeights: String?
    /// The defence's own flags (listed above), applied by its settings type.
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp(visibility: .private)) var defenseFlags: [String] = []

    /// The configuration the command line gives (config file, flags, defence flags), validated.
    func settings() throws -> TrainingConfig {
        try options.resolve(base: TrainingConfig(data: "", model: ""), defenseFlags: defenseFlags, refusingFinetuning: true) { c in
            if let defense { c.defense = defense }
            if let initWeights { c.initWeights = initWeights }
        }
    }

    func run() throws {
        let settings: TrainingConfig
        do {
            settings = try self.settings()
        } catch {
            FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
            throw ExitCode.failure
        }
        try options.trainAnywhere(settings, nproc: nproc)
    }
}

/// One line per defence of a command (those that fine-tune or those that train from scratch),
/// for its `--help`.
func defenseList(finetunes: Bool) -> String {
    Defense.allCases.filter { $0.finetunes == finetunes }.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n")
}

struct Finetune: ParsableCommand {
    /// The fine-tuning defence `--defense` defaults to (the first registered).
    static var defaultDefense: Defense { TrainingConfig.finetuneDefaults.defense }

    static var configuration: CommandConfiguration {
        CommandConfiguration(
            abstract: "Fine-tune a (possibly poisoned) CLIP model on clean pairs with a fine-tuning defence.",
            discussion: """
                Defences, --defense NAME (default: \(defaultDefense.name)):
                \(defenseList(finetunes: true))
                Defaults are each defence's reference schedule:
                \(TrainingConfig.finetuneDefaultsHelp)

                \(TrainingConfig.defenseFlagsHelp { $0.finetunes })

                Example:
                  clipguard finetune --checkpoint runs/fm-poisoned/model.safetensors --data data/fm-clean/train.csv \\
                    --defense \(defaultDefense.name) --out runs/fm-\(defaultDefense.name)
                """
        )
    }

    @OptionGroup var options: TrainingOptions
    @Option(help: "The weights to fine-tune (checkpoint.safetensors or model.safetensors).") var checkpoint: String?
    @Option(help: ArgumentHelp("The fine-tuning defence: \(Defense.allCases.filter(\.finetunes).map(\.name).joined(separator: ", ")).", valueName: "name"))
    var defense: Defense = Finetune.defaultDefense
    @Option(help: "Data-parallel worker processes on this machine (one per GPU, or CPU processes).") var nproc: Int?
    /// The defence's own flags (listed above), applied by its settings type.
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp(visibility: .private)) var defenseFlags: [String] = []

    /// The configuration the command line gives (config file, flags, defence flags), validated.
    func settings() throws -> TrainingConfig {
        let base = TrainingConfig.finetuneDefaults(for: defense)
        return try options.resolve(base: base, defenseFlags: defenseFlags, keyRenames: ["init_weights": "--checkpoint"]) { c in
            c.defense = defense
            if let checkpoint { c.initWeights = checkpoint }
        }
    }

    func run() throws {
        guard defense.finetunes else {
            let names = Defense.allCases.filter(\.finetunes).map(\.name).joined(separator: ", ")
            FileHandle.standardError.write(Data("error: --defense must be a fine-tuning defence for finetune (\(names)); \(defense.name) trains with clipguard train\n".utf8))
            throw ExitCode.failure
        }
        let settings: TrainingConfig
        do {
            settings = try self.settings()
        } catch {
            FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
            throw ExitCode.failure
        }
        try options.trainAnywhere(settings, nproc: nproc)
    }
}

extension TrainingOptions {
    /// Trains with `settings` in this process, on `nproc` local worker processes, or as one rank
    /// of a job that a launcher started (torchrun's `RANK`/`WORLD_SIZE`/`LOCAL_RANK`/
    /// `MASTER_ADDR`/`MASTER_PORT`, or SLURM's variables).
    ///
    /// A rank trains on the CPU, or — when the settings name a CUDA device (`cuda`, `cuda:N` or
    /// `auto` with a GPU) — on GPU `LOCAL_RANK` modulo the visible GPUs, with NCCL where this build
    /// has it (Gloo otherwise).
    func trainAnywhere(_ settings: TrainingConfig, nproc: Int?) throws {
        var console: ConsoleLog?
        defer { console?.finish() }
        do {
            if try LaunchEnvironment.fromEnvironment() == nil {
                // Before anything is written: the folder may be used (RunFolderGuard), the data is pairs.
                if case .finished(let message) = try RunFolderGuard.check(out, kind: .training, resume: resume) {
                    print(message)
                    return
                }
                try TrainingDataCheck.check(data: settings.data)
                console = ConsoleLog.start(folder: out)
            }
            if let nproc, nproc > 1 {
                try launchWorkers(nproc)
                return
            }
            guard let environment = try LaunchEnvironment.fromEnvironment(), environment.worldSize > 1 else {
                try train(settings)
                return
            }
            var device = try Device(parsing: settings.device)
            if case .cuda = device { device = .cuda(environment.localRank % max(1, Device.cudaDeviceCount)) }
            let group = try ProcessGroup.initialize(environment, backend: .preferred(for: device))
            let signals = StopSignal()
            do {
                try train(settings, collective: DistributedCollective(group: group, device: device), signals: signals)
            } catch let error as ExitCode where error.rawValue == 130 {
                // A launcher counts a worker that ends by the forwarded signal as stopped, not failed;
                // a worker stopped by a peer's request before its own signal arrived exits with 0.
                guard let sig = signals.received else { throw ExitCode.success }
                // (libdispatch's signal source keeps the signal blocked: unblock it to end by it.)
                var blocked = sigset_t()
                sigemptyset(&blocked)
                sigaddset(&blocked, sig)
                signal(sig, SIG_DFL)
                pthread_sigmask(SIG_UNBLOCK, &blocked, nil)
                raise(sig)
                throw error
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
            throw ExitCode.failure
        }
    }

    /// Starts `count` workers of this executable with the same arguments minus `--nproc`, and
    /// forwards SIGINT/SIGTERM to them (each writes its checkpoint share and stops).
    func launchWorkers(_ count: Int) throws {
        guard try LaunchEnvironment.fromEnvironment() == nil else {
            throw ValidationError("--nproc inside a launched job (RANK/WORLD_SIZE or SLURM variables are set)")
        }
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let i = arguments.firstIndex(of: "--nproc") {
            arguments.removeSubrange(i..<min(i + 2, arguments.count))
        }
        arguments.removeAll { $0.hasPrefix("--nproc=") }
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        let signals = StopSignal()
        let launcher = LocalLauncher(executable: executable, arguments: arguments, processCount: count)
        if try launcher.run(interruption: { signals.received }) != nil { throw ExitCode(130) }
    }
}

extension Defense: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { allCases.map(\.name) }
}
