import ArgumentParser
import CLIP
import Foundation
import Torch

/// `clipguard model-info`: a model config's parameter counts and, optionally, the time of a
/// training forward and backward pass on random data.
struct ModelInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model-info",
        abstract: "Print a CLIP model's architecture and parameter counts; optionally time a training pass."
    )

    @Option(help: "Shipped config name (RN50, ViT-B-32, tiny-rn, …) or a path to an open_clip JSON config.")
    var model = "tiny-rn"

    @Flag(help: "List the shipped config names and exit.")
    var list = false

    @Flag(help: "Only check the config: print it as open_clip JSON (as we understand it) without building the model.")
    var configOnly = false

    @Option(help: "Time this many forward+backward passes (CLIP loss, training mode); 0 to skip.")
    var steps = 0

    @Option(help: "Batch size for --steps.")
    var batch = 128

    @Option(help: "libtorch intra-op threads (default: libtorch's choice).")
    var threads: Int?

    @Option(help: "Seed of the initialisation.")
    var seed: UInt64 = 0

    @Option(help: "Write the freshly initialised model's state_dict (open_clip names) to this safetensors file.")
    var save: String?

    @Flag(help: "Replace the --save file if it exists.")
    var force = false

    func validate() throws {
        try checkRange(steps, 0...10_000, option: "--steps")
        try checkRange(batch, 1...65_536, option: "--batch")
        if let threads { try checkRange(threads, 1...1_024, option: "--threads") }
        if let save { try checkOutputPath(save, option: "--save", force: force, inputs: [model]) }
    }

    func run() throws { try reportingErrors(runChecked) }

    private func runChecked() throws {
        if list {
            print(CLIPConfig.availableNames.joined(separator: "\n"))
            return
        }
        let config =
            model.hasSuffix(".json")
            ? try CLIPConfig(contentsOf: URL(fileURLWithPath: model)) : try CLIPConfig.named(model)
        if configOnly {
            print(String(decoding: try config.jsonData(), as: UTF8.self))
            return
        }
        try checkModelFitsMemory(config, source: model)
        let size = config.vision.imageSize
        if steps > 0 && batch * 3 * size * size * 4 > 1 << 33 {
            throw ValidationError("--batch \(batch) at \(size) px needs more than 8 GiB for the input images alone; use a smaller --batch")
        }
        if let threads { Runtime.threads = threads }
        let clip = CLIPModel(config: config, seed: seed)
        if let save { try clip.saveSafeTensors(toPath: save) }
        let entries = clip.store.trainableParameters()
        let vision = entries.filter { $0.name.hasPrefix("visual.") }.reduce(0) { $0 + $1.tensor.count }
        let tokenEmbedding = clip.store["token_embedding.weight"]?.count ?? 0
        let text = clip.parameterCount - vision - 1
        print("model            \(model)")
        switch clip.config.vision {
        case .resnet(let r):
            print("vision           ModifiedResNet layers \(r.layers), width \(r.width), \(r.imageSize) px")
        case .vit(let v):
            print("vision           ViT \(v.layers) layers, width \(v.width), patch \(v.patchSize), \(v.imageSize) px")
        }
        let t = clip.config.text
        print("text             \(t.layers) layers, width \(t.width), \(t.heads) heads, context \(t.contextLength)")
        print("embed_dim        \(clip.config.embedDim), activation \(clip.config.activation.rawValue)")
        print(
            "parameters       \(clip.parameterCount) (vision \(vision), text \(text) of which token embedding \(tokenEmbedding))"
        )
        guard steps > 0 else { return }

        let (images, tokens) = syntheticCLIPBatch(batch: batch, config: clip.config)
        var times: [Double] = []
        var cpuTimes: [Double] = []
        for _ in 0..<(steps + 1) {
            let start = Date()
            let cpuStart = processCPUSeconds()
            clip.store.zeroGrad()
            let out = clip.logits(images: images, texts: tokens, training: true)
            clipLoss(imageFeatures: out.imageFeatures, textFeatures: out.textFeatures, logLogitScale: clip.logLogitScale)
                .backward()
            times.append(Date().timeIntervalSince(start))
            cpuTimes.append(processCPUSeconds() - cpuStart)
        }
        let measured = times.dropFirst().sorted()
        let cpu = cpuTimes.dropFirst().sorted()
        func format(_ x: Double) -> String { String(format: "%.3f", x) }
        print(
            "forward+backward batch \(batch), \(Runtime.threads) threads, \(steps) steps after one warm-up: wall median \(format(measured[measured.count / 2])) s (min \(format(measured.first!))), CPU median \(format(cpu[cpu.count / 2])) s"
        )
    }
}

/// CPU time used by the whole process so far, in seconds (independent of other processes'
/// load, unlike wall time).
private func processCPUSeconds() -> Double { Double(clock()) / Double(CLOCKS_PER_SEC) }
