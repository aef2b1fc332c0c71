import ArgumentParser
import Defenses
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
    @Option(name: .customLong("eval-data"), help: "Labelled folder for zero-shot evaluation during training (default: none).")
    var evalData: String?
    @Option(name: .customLong("eval-every"), help: "Evaluate every N epochs (default: 1).") var evalEvery: Int?
    @Option(name: .customLong("image-column"), help: "CSV column with image paths.") var imageColumn: String?
    @Option(name: .customLong("caption-column"), help: "CSV column with captions.") var captionColumn: String?
    @Option(help: "The poisoned set's manifest.json (default: the one next to the training CSV, if any).")
    var manifest: String?
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
    func resolve(base: TrainingConfig, overrides: (inout TrainingConfig) -> Void) throws -> TrainingConfig {
        var c: TrainingConfig
        if let config {
            c = try ConfigFile.load(TrainingConfig.self, path: config)
        } else if resume, FileManager.default.fileExists(atPath: out + "/config.json") {
            c = try ConfigFile.load(TrainingConfig.self, path: out + "/config.json")
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
        if let shuffle { c.shuffle = shuffle }
        if tensorboard { c.tensorboard = true }
        overrides(&c)
        try c.validate(file: config ?? "command line")
        return c
    }

    /// Trains with `settings` (plain CLIP or a defence) and prints the outcome.
    func train(_ settings: TrainingConfig, collective: any Collective = LocalCollective(), signals: StopSignal = StopSignal()) throws {
        // Only rank 0 draws the progress line; every rank still logs what it does.
        let reporter = ProgressReporter(quiet: collective.rank != 0)
        do {
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
                print(line)
                print("weights: \(weights)")
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
    static let configuration = CommandConfiguration(
        abstract: "Train a CLIP model on image–caption pairs, optionally with a defence.",
        discussion: """
            Settings come from --config (YAML or JSON; every key is checked) and/or flags; flags \
            win. RUN_DIR receives config.json, metrics.jsonl, checkpoint.safetensors (after every \
            epoch and on Ctrl-C) and model.safetensors (final weights). --resume continues a \
            stopped or killed run.

            Defences (README, "Defences"): --defense safeclip (three phases: unimodal warm-up, CLIP \
            warm-up, mixed training on a safe/risky split), roclip (caption pool matching), filter (drop \
            the lowest-similarity pairs under --filter-model). With a poison manifest (next to the CSV or \
            --manifest) each selection logs how many poisoned pairs it caught; similarity passes are saved \
            under RUN_DIR/similarities/.

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

    @OptionGroup var options: TrainingOptions
    @Option(help: "Data-parallel worker processes on this machine (one per GPU, or CPU processes).") var nproc: Int?
    @Option(help: "none, safeclip, roclip or filter (cleanclip: use clipguard finetune).") var defense: Defense?
    @OptionGroup(title: "SafeCLIP (with --defense safeclip)") var safeCLIP: SafeCLIPOptions
    @OptionGroup(title: "RoCLIP (with --defense roclip)") var roCLIP: RoCLIPOptions
    @OptionGroup(title: "Similarity filter (with --defense filter)") var filter: FilterOptions
    @Option(name: .customLong("similarity-batch-size"), help: "SafeCLIP and filter: batch size of the similarity passes (512).")
    var similarityBatchSize: Int?
    @Option(name: .customLong("init-weights"), help: "Start from these weights (model.safetensors, a checkpoint or an open_clip state_dict as safetensors) instead of a fresh model.")
    var initWeights: String?

    func run() throws {
        let settings: TrainingConfig
        do {
            settings = try options.resolve(base: TrainingConfig(data: "", model: "")) { c in
                if let defense { c.defense = defense }
                if let initWeights { c.initWeights = initWeights }
                if let similarityBatchSize { c.similarityBatchSize = similarityBatchSize }
                safeCLIP.apply(to: &c.safeCLIP)
                roCLIP.apply(to: &c.roCLIP)
                filter.apply(to: &c.filter)
            }
        } catch {
            FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
            throw ExitCode.failure
        }
        if settings.defense.finetunes {
            FileHandle.standardError.write(Data("error: CleanCLIP fine-tunes a trained model: use clipguard finetune\n".utf8))
            throw ExitCode.failure
        }
        try options.trainAnywhere(settings, nproc: nproc)
    }
}

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a (possibly poisoned) CLIP model on clean pairs with CleanCLIP.",
        discussion: """
            Loss: CLIP loss on the original pairs + λ · ½ [in-modal image loss + in-modal text loss] against \
            an augmented view (AutoAugment for images, EDA for captions). Defaults are CleanCLIP's reference \
            settings: batch 64, lr 1e-5, 10 epochs, 50 warm-up steps, λ = 1.

            Example:
              clipguard finetune --checkpoint runs/fm-poisoned/model.safetensors --data data/fm-clean/train.csv \\
                --defense cleanclip --out runs/fm-cleanclip
            """
    )

    @OptionGroup var options: TrainingOptions
    @Option(help: "The weights to fine-tune (checkpoint.safetensors or model.safetensors).") var checkpoint: String?
    @Option(help: "The fine-tuning defence (cleanclip).") var defense: Defense = .cleanclip
    @Option(name: .customLong("inmodal-weight"), help: "In-modal weight λ (1).") var inmodalWeight: Double?
    @Option(help: "Data-parallel worker processes on this machine (one per GPU, or CPU processes).") var nproc: Int?

    func run() throws {
        guard defense.finetunes else {
            FileHandle.standardError.write(Data("error: --defense must be cleanclip for finetune\n".utf8))
            throw ExitCode.failure
        }
        var base = TrainingConfig.finetuneDefaults
        base.defense = defense
        let settings: TrainingConfig
        do {
            settings = try options.resolve(base: base) { c in
                c.defense = defense
                if let checkpoint { c.initWeights = checkpoint }
                if let inmodalWeight { c.cleanCLIP.inmodalWeight = inmodalWeight }
            }
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
        do {
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

extension Defense: ExpressibleByArgument {}
extension SafeSetSchedule.Ranking: ExpressibleByArgument {}
extension SafeCLIPSettings.SafeGrowth: ExpressibleByArgument {}
extension SafeCLIPSettings.RiskyTraining: ExpressibleByArgument {}

/// SafeCLIP's flags (`train --defense safeclip`); each overrides the config file's key.
struct SafeCLIPOptions: ParsableArguments {
    @Option(name: .customLong("unimodal-epochs"), help: "Unimodal warm-up epochs (5).") var unimodalEpochs: Int?
    @Option(name: .customLong("clip-warmup-epochs"), help: "CLIP warm-up epochs (1).") var clipWarmupEpochs: Int?
    @Option(name: .customLong("clip-warmup-lr"), help: "Constant lr of the CLIP warm-up (5e-6).") var clipWarmupLR: Double?
    @Option(name: .customLong("gmm-threshold"), help: "Posterior threshold of the first selection (0.9).") var gmmThreshold: Double?
    @Option(name: .customLong("safe-increment"), help: "Safe fraction increment per epoch (0.01).") var safeIncrement: Double?
    @Option(name: .customLong("safe-cap"), help: "Safe fraction cap (0.85).") var safeCap: Double?
    @Flag(name: .customLong("memory-bank"), inversion: .prefixedNo, help: "NNCLR memory bank in the unimodal loss (off).")
    var memoryBank: Bool?
    @Option(name: .customLong("bank-size"), help: "Memory bank size (256).") var bankSize: Int?
    @Flag(name: .customLong("cross-augmented"), inversion: .prefixedNo, help: "Cross-augmented CLIP loss on the safe set (on).")
    var crossAugmented: Bool?
    @Option(name: .customLong("safe-ranking"), help: "Rank later selections by the mixture posterior (the reference) or by similarity (default: posterior).")
    var safeRanking: SafeSetSchedule.Ranking?
    @Option(name: .customLong("safe-growth"), help: "Grow the safe fraction by --safe-increment per epoch (increment) or linearly to --safe-cap at the last epoch (to-cap) (default: increment).")
    var safeGrowth: SafeCLIPSettings.SafeGrowth?
    @Option(name: .customLong("risky-training"), help: "What phase 3 trains the risky pairs on: unimodal (the reference), none, or clip (an ablation) (default: unimodal).")
    var riskyTraining: SafeCLIPSettings.RiskyTraining?

    func apply(to s: inout SafeCLIPSettings) {
        if let unimodalEpochs { s.unimodalEpochs = unimodalEpochs }
        if let clipWarmupEpochs { s.clipWarmupEpochs = clipWarmupEpochs }
        if let clipWarmupLR { s.clipWarmupLR = clipWarmupLR }
        if let gmmThreshold { s.gmmThreshold = gmmThreshold }
        if let safeIncrement { s.safeIncrement = safeIncrement }
        if let safeCap { s.safeCap = safeCap }
        if let memoryBank { s.memoryBank = memoryBank }
        if let bankSize { s.bankSize = bankSize }
        if let crossAugmented { s.crossAugmented = crossAugmented }
        if let safeRanking { s.safeRanking = safeRanking }
        if let safeGrowth { s.safeGrowth = safeGrowth }
        if let riskyTraining { s.riskyTraining = riskyTraining }
    }
}

/// RoCLIP's flags (`train --defense roclip`).
struct RoCLIPOptions: ParsableArguments {
    @Option(name: .customLong("pool-size"), help: "Caption pool size (21845).") var poolSize: Int?
    @Option(name: .customLong("match-every"), help: "Match to pool captions every K-th epoch (2).") var matchEvery: Int?

    func apply(to s: inout RoCLIPSettings) {
        if let poolSize { s.poolSize = poolSize }
        if let matchEvery { s.matchEvery = matchEvery }
    }
}

/// The similarity filter's flags (`train --defense filter`).
struct FilterOptions: ParsableArguments {
    @Option(name: .customLong("filter-model"), help: "Weights that score the pairs.") var filterModel: String?
    @Option(name: .customLong("filter-fraction"), help: "Fraction of lowest-similarity pairs dropped (0.1).") var filterFraction: Double?

    func apply(to s: inout FilterSettings) {
        if let filterModel { s.model = filterModel }
        if let filterFraction { s.fraction = filterFraction }
    }
}
