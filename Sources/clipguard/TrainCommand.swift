import ArgumentParser
import Foundation
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a CLIP model on image–caption pairs.",
        discussion: """
            Settings come from --config (YAML or JSON; every key is checked) and/or flags; flags win.
            RUN_DIR receives config.json, metrics.jsonl, checkpoint.safetensors (after every epoch and on
            Ctrl-C) and model.safetensors (final weights). --resume continues a stopped or killed run.

            Example:
              clipguard data prepare fashion-mnist --out data/fm
              clipguard train --data data/fm/train.csv --model tiny-vit --epochs 5 --batch-size 128 \\
                --lr 1e-3 --eval-data data/fm/test --out runs/fm-clip
            """
    )

    @Option(help: "Training CSV/TSV (image path + caption columns) or a folder with train.csv.")
    var data: String?
    @Option(help: "Model name (tiny-rn, tiny-vit, RN50, ViT-B-32, …) or a model config JSON.")
    var model: String?
    @Option(help: "Epochs.") var epochs: Int?
    @Option(name: .customLong("batch-size"), help: "Global batch size.") var batchSize: Int?
    @Option(help: "Peak learning rate.") var lr: Double?
    @Option(name: .customLong("warmup-steps"), help: "Linear warm-up steps.") var warmupSteps: Int?
    @Option(name: .customLong("weight-decay"), help: "AdamW weight decay.") var weightDecay: Double?
    @Option(name: .customLong("grad-clip"), help: "Clip gradients to this global norm.") var gradClip: Double?
    @Option(help: "Micro-batches per optimizer step.") var accumulation: Int?
    @Option(help: "fp32 or bf16.") var precision: String?
    @Option(help: "Random seed (model init, data order, augmentation).") var seed: UInt64?
    @Option(help: "cpu, cuda, cuda:N or auto.") var device: String?
    @Option(help: "Image decoding threads.") var workers: Int?
    @Option(help: "libtorch threads.") var threads: Int?
    @Option(name: .customLong("eval-data"), help: "Labelled folder for zero-shot evaluation during training.")
    var evalData: String?
    @Option(name: .customLong("eval-every"), help: "Evaluate every N epochs.") var evalEvery: Int?
    @Option(name: .customLong("image-column"), help: "CSV column with image paths.") var imageColumn: String?
    @Option(name: .customLong("caption-column"), help: "CSV column with captions.") var captionColumn: String?
    @Option(help: "A YAML or JSON file with training settings.") var config: String?
    @Option(help: "Run folder (created).") var out: String
    @Flag(help: "Continue the run in --out from its checkpoint.") var resume = false
    @Option(name: .customLong("stop-after-steps"), help: ArgumentHelp("Stop with a checkpoint after N steps (testing).", visibility: .hidden))
    var stopAfterSteps: Int?

    func resolvedConfig() throws -> TrainingConfig {
        var c: TrainingConfig
        if let config {
            c = try ConfigFile.load(TrainingConfig.self, path: config)
        } else if resume, FileManager.default.fileExists(atPath: out + "/config.json") {
            c = try ConfigFile.load(TrainingConfig.self, path: out + "/config.json")
        } else {
            c = TrainingConfig(data: "", model: "")
        }
        if let data { c.data = data }
        if let model { c.model = model }
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let lr { c.lr = lr }
        if let warmupSteps { c.warmupSteps = warmupSteps }
        if let weightDecay { c.weightDecay = weightDecay }
        if let gradClip { c.gradClip = gradClip }
        if let accumulation { c.accumulation = accumulation }
        if let precision { c.precision = precision }
        if let seed { c.seed = seed }
        if let device { c.device = device }
        if let workers { c.workers = workers }
        if let threads { c.threads = threads }
        if let evalData { c.evalData = evalData }
        if let evalEvery { c.evalEvery = evalEvery }
        if let imageColumn { c.imageColumn = imageColumn }
        if let captionColumn { c.captionColumn = captionColumn }
        try c.validate(file: config ?? "command line")
        return c
    }

    func run() throws {
        do {
            let settings = try resolvedConfig()
            let trainer = try CLIPTrainer(config: settings, runDirectory: out, resume: resume)
            trainer.stopAfterSteps = stopAfterSteps
            let signals = StopSignal()
            let summary = try trainer.run(stopSignal: signals)
            if summary.interrupted { throw ExitCode(130) }
            var line = "trained \(summary.progress.globalStep) steps in \(formatDuration(summary.progress.elapsedSeconds))"
            if let loss = summary.finalLoss { line += String(format: ", final loss %.4f", loss) }
            if let e = summary.lastEvaluation {
                line += String(format: ", zero-shot top-1 %.2f%% (n = %d)", 100 * e.top1, e.count)
            }
            print(line)
            print("weights: \(trainer.finalWeightsPath)")
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
