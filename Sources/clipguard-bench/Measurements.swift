import CLIP
import Datasets
import Defenses
import Foundation
import NN
import Torch
import Training

/// One named measurement as the driver (`bench/run_bench.py`) sends it: a JSON object with
/// `name` plus the measurement's own keys (model, precision, batch, paths, …).
struct Spec {
    let fields: [String: Any]

    var name: String { fields["name"] as? String ?? "" }
    func string(_ key: String, _ fallback: String = "") -> String { fields[key] as? String ?? fallback }
    func int(_ key: String, _ fallback: Int) -> Int { (fields[key] as? NSNumber)?.intValue ?? fallback }
    var bf16: Bool { string("precision", "fp32") == "bf16" }

    /// The fields that decide what is set up (everything but the repetition counts).
    var setupKey: String {
        let kept = fields.filter { $0.key != "iters" && $0.key != "warmup" }
        let data = (try? JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Errors of the bench executable, naming the spec key or file at fault.
enum BenchError: Error, CustomStringConvertible {
    case badSpec(String)
    case data(String)

    var description: String {
        switch self {
        case .badSpec(let message): "bad measurement spec: \(message)"
        case .data(let message): message
        }
    }
}

/// A prepared measurement: `iteration` does one timed unit of work; `items` is how many
/// images, captions or steps one iteration handles (for rates).
struct Prepared {
    var iteration: () throws -> Void
    var items: Int
    var extra: [String: Any] = [:]
}

/// Builds the measurement a spec names.
func prepare(_ spec: Spec) throws -> Prepared {
    switch spec.name {
    case "step": return try prepareStep(spec)
    case "encode": return try prepareEncode(spec)
    case "decode_preprocess", "decode_safeclip": return try prepareDecode(spec)
    case "tokenize": return try prepareTokenize(spec)
    case "epoch_clip": return try prepareCLIPEpoch(spec)
    case "epoch_safeclip": return try prepareSafeCLIPEpoch(spec)
    case "gemm": return prepareGEMM(spec)
    default: throw BenchError.badSpec("unknown measurement name '\(spec.name)'")
    }
}

/// Random normalised-looking images `[n, 3, s, s]` and token rows `[n, L]` ending in EOT.
private func syntheticBatch(model: CLIPModel, batch n: Int) -> (images: Tensor, tokens: Tensor) {
    let s = model.config.vision.imageSize
    let context = model.config.text.contextLength
    let generator = Generator(seed: 0)
    let images = Tensor.randn([n, 3, s, s], generator: generator)
    var ids = [Int64](repeating: 0, count: n * context)
    var rng = SplitMix64(seed: 1)
    for row in 0..<n {
        let length = 8 + Int(rng.next() % UInt64(context - 9))
        ids[row * context] = Int64(CLIPTokenizer.startOfText)
        for j in 1..<length { ids[row * context + j] = Int64(rng.next() % 49000) }
        ids[row * context + length] = Int64(CLIPTokenizer.endOfText)
    }
    return (images, Tensor(ids, shape: [n, context]))
}

/// Whether a measurement runs the ResNet tower channels-last: `layout` "channels_last" or
/// "contiguous", or by default ("auto") what `clipguard` does on the CPU — channels-last for
/// ResNets.
private func usesChannelsLast(_ spec: Spec, model: CLIPModel) -> Bool {
    guard case .resnet = model.visual else { return false }
    return spec.string("layout", "auto") != "contiguous"
}

/// One training step — `Trainer.step` itself (``Trainer/step(on:loss:phase:beforeUpdate:)``:
/// forward of both towers, CLIP loss, backward, fused AdamW with open_clip's decay groups,
/// logit-scale clamp; a ResNet tower channels-last on the CPU, as `clipguard train` runs it) on
/// a fixed synthetic batch, followed by the read of a logging step (``Trainer/readSteps()``,
/// as PyTorch's side reads `loss.item()`). A `part` spec times one part of the step instead.
private func prepareStep(_ spec: Spec) throws -> Prepared {
    let precision = spec.bf16 ? "bf16" : "fp32"
    if let part = spec.fields["part"] as? String {
        let model = try CLIPModel.named(spec.string("model"), seed: 0)
        var (images, tokens) = syntheticBatch(model: model, batch: spec.int("batch", 32))
        if usesChannelsLast(spec, model: model) {
            model.useChannelsLast()
            images = images.channelsLast()
        }
        let optimizer = AdamW(
            groups: weightDecayGroups(model.store.trainableParameters(), weightDecay: 0.1), learningRate: 5e-4, fused: true)
        return Prepared(
            iteration: try stepPart(part, model: model, images: images, tokens: tokens, optimizer: optimizer, bf16: spec.bf16), items: 1,
            extra: ["parameters": model.parameterCount])
    }
    guard spec.string("layout", "auto") == "auto" else {
        throw BenchError.badSpec("a whole step runs as the trainer runs it (layout \"auto\"); other layouts are for `part` specs")
    }
    let config = TrainingConfig(
        data: "", model: spec.string("model"), epochs: 1, batchSize: spec.int("batch", 32), lr: 5e-4, warmupSteps: 0,
        weightDecay: 0.1, precision: precision, seed: 0, device: "cpu", threads: Runtime.threads)
    let trainer = try Trainer(stepsOnly: config)
    let model = trainer.model
    let (images, tokens) = syntheticBatch(model: model, batch: config.batchSize)
    var extra: [String: Any] = ["parameters": model.parameterCount]
    if usesChannelsLast(spec, model: model) {
        // The trainer's channels-last tower must compute what a contiguous one does: compare
        // eval-mode features with a fresh contiguous model of the same seed.
        let probe = images.narrowed(dim: 0, start: 0, length: min(8, images.size(0)))
        let contiguous = try CLIPModel.named(spec.string("model"), seed: 0)
        let before = inferenceMode { contiguous.encodeImage(probe) }
        let after = inferenceMode { model.encodeImage(probe) }
        extra["channels_last_max_abs_diff"] = inferenceMode { (after - before).abs().max().item() }
    }
    let input = ModelInput(images: images, tokens: tokens)
    return Prepared(
        iteration: {
            try trainer.step(on: [input])
            _ = try trainer.readSteps()
        }, items: 1, extra: extra)
}

/// One part of a training step, for `run_bench.py --profile` (bench_torch.py's `part_fn`):
/// image forward, image forward + backward, text forward + backward (of the features' mean
/// square), or the optimizer step alone on fixed gradients.
private func stepPart(
    _ part: String, model: CLIPModel, images: Tensor, tokens: Tensor, optimizer: AdamW, bf16: Bool
) throws -> () throws -> Void {
    // Forward + backward of one tower's features' mean square; gradients cleared after.
    func backward(_ features: @escaping () -> Tensor) -> () throws -> Void {
        {
            autocast(enabled: bf16) { features().to(.float32).square().mean() }.backward()
            optimizer.zeroGrad()
        }
    }
    switch part {
    case "image_forward":
        return { _ = autocast(enabled: bf16) { model.encodeImage(images, training: true).to(.float32).sum() }.item() }
    case "image_forward_backward":
        return backward { model.encodeImage(images, training: true) }
    case "text_forward_backward":
        return backward { model.encodeText(tokens, training: true) }
    case "optimizer":
        autocast(enabled: bf16) {
            model.encodeImage(images.narrowed(dim: 0, start: 0, length: 2), training: true).to(.float32).square().mean()
                + model.encodeText(tokens.narrowed(dim: 0, start: 0, length: 2), training: true).to(.float32).square().mean()
        }.backward()
        return { optimizer.step() }
    default:
        throw BenchError.badSpec("unknown step part '\(part)'")
    }
}

/// Image embeddings of a batch in inference mode (SafeCLIP's similarity pass).
private func prepareEncode(_ spec: Spec) throws -> Prepared {
    let model = try CLIPModel.named(spec.string("model"), seed: 0)
    let n = spec.int("batch", 256)
    var (images, _) = syntheticBatch(model: model, batch: n)
    if usesChannelsLast(spec, model: model) {
        model.useChannelsLast()
        images = images.channelsLast()
    }
    let bf16 = spec.bf16
    return Prepared(
        iteration: {
            let features = inferenceMode {
                autocast(enabled: bf16) { model.encodeImage(images).to(.float32).normalized(dim: -1) }
            }
            _ = features.sum().item()
        }, items: n)
}

/// Decoding every JPEG of a folder and producing the model's input floats, on one thread:
/// CLIP's resize + centre crop, or SafeCLIP's augmented view.
private func prepareDecode(_ spec: Spec) throws -> Prepared {
    let folder = spec.string("folder")
    let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".jpg") }.sorted()
    guard !files.isEmpty else { throw BenchError.data("\(folder): no .jpg files") }
    let blobs = try files.map { name -> [UInt8] in
        guard let data = FileManager.default.contents(atPath: folder + "/" + name) else {
            throw BenchError.data("\(folder)/\(name): unreadable")
        }
        return [UInt8](data)
    }
    let size = spec.int("size", 224)
    let augmented = spec.name == "decode_safeclip"
    let preprocessing = Preprocessing.resizeCenterCrop(size: size)
    let view = AugmentationPipeline.safeCLIPView(size: size)
    var rng = SplitMix64(seed: 0)
    var checksum: Float = 0
    if let part = spec.fields["part"] as? String {
        // Profiling (`part`): one stage alone — "decode", "transform" (on decoded images: the
        // crop/resize or the view, or one view stage given by `stage`), "floats" (normalised CHW).
        let images = try zip(blobs, files).map { try decodeImage(bytes: $0, name: $1) }
        let inputs = images.map { preprocessing.apply($0) }
        let stages = view.stages
        let stage = spec.fields["stage"] as? Int
        let transform: (RGBImage, inout SplitMix64) -> RGBImage = { image, rng in
            if let stage { return stages[stage].apply(image, rng: &rng) }
            return augmented ? view.apply(image, rng: &rng) : preprocessing.apply(image)
        }
        // A single stage past the crop sees crop-sized images, as in the pipeline.
        let sources = stage.map { $0 > 0 ? inputs : images } ?? images
        var buffer = [Float](repeating: 0, count: 3 * size * size)
        switch part {
        case "decode":
            return Prepared(iteration: { for (i, bytes) in blobs.enumerated() { checksum += Float(try decodeImage(bytes: bytes, name: files[i]).pixels[0]) } }, items: blobs.count)
        case "transform":
            return Prepared(iteration: { for image in sources { checksum += Float(transform(image, &rng).pixels[0]) } }, items: blobs.count)
        case "floats":
            return Prepared(iteration: { for input in inputs { input.writeCHWFloats(into: &buffer, offset: 0); checksum += buffer[0] } }, items: blobs.count)
        default:
            throw BenchError.badSpec("unknown decode part '\(part)'")
        }
    }
    // "dct_scaled": decode at the smallest M/8 DCT scale that keeps `size` px (JPEGScaling.eighths).
    let dctScaled = spec.fields["dct_scaled"] as? Bool ?? false
    return Prepared(
        iteration: {
            var buffer = [Float](repeating: 0, count: 3 * size * size)
            for (i, bytes) in blobs.enumerated() {
                let image = dctScaled
                    ? try decodeImage(bytes: bytes, name: files[i], minimumSide: size, scaling: .eighths)
                    : try decodeImage(bytes: bytes, name: files[i])
                let input = augmented ? view.apply(image, rng: &rng) : preprocessing.apply(image)
                input.writeCHWFloats(into: &buffer, offset: 0)
                checksum += buffer[i % buffer.count]
            }
        }, items: blobs.count)
}

/// Tokenising every line of a caption file to `[N, 77]`.
private func prepareTokenize(_ spec: Spec) throws -> Prepared {
    let path = spec.string("captions")
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw BenchError.data("\(path): unreadable") }
    let captions = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    let tokenizer = try CLIPTokenizer.load()
    if spec.string("mode") == "serial" {
        // One caption at a time on the calling thread (open_clip's tokenizer is single-threaded).
        return Prepared(
            iteration: {
                var total = 0
                for caption in captions { total += tokenizer.tokenize(caption, contextLength: 77).count }
                precondition(total == captions.count * 77)
            }, items: captions.count)
    }
    // `tokenize(batch:)` spreads the captions over all cores.
    return Prepared(
        iteration: {
            let ids = tokenizer.tokenize(batch: captions, contextLength: 77)
            precondition(ids.count == captions.count * 77)
        }, items: captions.count)
}

/// A whole epoch of plain-CLIP `Trainer` (data loading, tokenising, steps, metrics, checkpoint) in a
/// fresh run folder; model construction is not timed.
private func prepareCLIPEpoch(_ spec: Spec) throws -> Prepared {
    let csv = spec.string("data")
    let workRoot = spec.string("work")
    var run = 0
    let config = TrainingConfig(
        data: csv, model: spec.string("model", "tiny-rn"), epochs: 1, batchSize: spec.int("batch", 256), lr: 5e-4,
        warmupSteps: 5, precision: spec.string("precision", "fp32"), seed: 0, device: "cpu",
        workers: spec.int("workers", 2), threads: Runtime.threads, logEvery: 1000)
    var pending: Trainer?
    func fresh() throws -> Trainer {
        run += 1
        let folder = "\(workRoot)/swift-run-\(ProcessInfo.processInfo.processIdentifier)-\(run)"
        try? FileManager.default.removeItem(atPath: folder)
        return try Trainer(config: config, runDirectory: folder, reporter: ProgressReporter(quiet: true))
    }
    pending = try fresh()
    let items = pending!.trainingPairs / config.batchSize * config.batchSize
    return Prepared(
        iteration: {
            let trainer = try pending ?? fresh()
            pending = nil
            _ = try trainer.run()
            try? FileManager.default.removeItem(atPath: trainer.runDirectory)
            pending = try fresh()
        }, items: items)
}

/// An epoch of SafeCLIP phase 1: two SafeCLIP image views (two loaders over the same order
/// whose augmentations draw different random streams), the unimodal loss
/// (``DefenseLoss/unimodal(image1:image2:text1:text2:logLogitScale:)``), fused AdamW.
private func prepareSafeCLIPEpoch(_ spec: Spec) throws -> Prepared {
    let dataset = try openDataset(atPath: spec.string("data"))
    let model = try CLIPModel.named(spec.string("model", "tiny-rn"), seed: 0)
    let tokenizer = try CLIPTokenizer.load()
    let size = model.config.vision.imageSize
    let context = model.config.text.contextLength
    let batch = spec.int("batch", 256)
    let workers = spec.int("workers", 2)
    func loader(view: UInt64) throws -> DataLoader {
        try DataLoader(
            dataset: dataset,
            config: LoaderConfig(
                batchSize: batch, shuffle: true, seed: 0, dropLast: true, workers: max(1, workers / 2),
                preprocessing: .resizeCenterCrop(size: size),
                imageAugmentation: AugmentationPipeline([SkipDraws(count: view), AugmentationPipeline.safeCLIPView(size: size)])))
    }
    let first = try loader(view: 0), second = try loader(view: 1)
    let optimizer = AdamW(
        groups: weightDecayGroups(model.store.trainableParameters(), weightDecay: 0.1), learningRate: 5e-4, fused: true)
    let bf16 = spec.bf16
    var epoch = 0
    let items = first.plannedBatches(epoch: 0).count * batch
    return Prepared(
        iteration: {
            let one = first.epoch(epoch), two = second.epoch(epoch)
            epoch += 1
            while let a = try one.next(), let b = try two.next() {
                precondition(a.indices == b.indices, "the two views' loaders disagree on the order")
                let n = a.count
                let ids = tokenizer.tokenize(batch: a.captions, contextLength: context).map(Int64.init)
                let tokens = Tensor(ids, shape: [n, context])
                let images1 = Tensor(a.images, shape: [n, 3, size, size])
                let images2 = Tensor(b.images, shape: [n, 3, size, size])
                let loss = autocast(enabled: bf16) {
                    let i1 = model.encodeImage(images1, training: true).to(.float32).normalized(dim: -1)
                    let i2 = model.encodeImage(images2, training: true).to(.float32).normalized(dim: -1)
                    let t1 = model.encodeText(tokens, training: true).to(.float32).normalized(dim: -1)
                    let t2 = model.encodeText(tokens, training: true).to(.float32).normalized(dim: -1)
                    return DefenseLoss.unimodal(image1: i1, image2: i2, text1: t1, text2: t2, logLogitScale: model.logLogitScale)
                }
                loss.backward()
                optimizer.step()
                optimizer.zeroGrad()
                model.clampLogitScale()
                _ = loss.item()
            }
        }, items: items)
}

/// Advances the generator by `count` draws, so that two loaders with one seed give different views.
private struct SkipDraws: ImageAugmentation {
    let count: UInt64
    func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        for _ in 0..<count { _ = rng.next() }
        return image
    }
}

/// `[n, n] × [n, n]` matrix product in float32 or bfloat16: the GEMM peak.
private func prepareGEMM(_ spec: Spec) -> Prepared {
    let n = spec.int("n", 2048)
    let dtype: DType = spec.bf16 ? .bfloat16 : .float32
    let generator = Generator(seed: 0)
    let a = Tensor.randn([n, n], dtype: dtype, generator: generator)
    let b = Tensor.randn([n, n], dtype: dtype, generator: generator)
    return Prepared(
        iteration: { _ = inferenceMode { a.matmul(b) } }, items: 1, extra: ["flops": 2.0 * Double(n * n * n)])
}
