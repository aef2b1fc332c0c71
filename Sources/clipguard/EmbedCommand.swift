import ArgumentParser
import CLIP
import Datasets
import Foundation
import Torch

/// `clipguard embed`: image and text features of a CLIP model, as open_clip's `encode_image`
/// and `encode_text` return them, written to a safetensors file.
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed images and captions with a CLIP model (open_clip-compatible weights).",
        discussion: """
            Images are decoded, resized (shorter side) and centre-cropped to the model's image size with \
            bicubic interpolation and normalised with CLIP's mean and standard deviation, as open_clip's \
            preprocessing does; captions are tokenized with the open_clip BPE tokenizer and padded to the \
            model's context length. Features are unnormalised unless --normalize is given.

            The output holds `image_features` [images, D] and `text_features` [captions, D] (float32),
            and `tokens` [captions, context] (int64).

            Examples:
              clipguard embed --model RN50 --weights rn50.safetensors --image cat.jpg --text "a cat" --output f.safetensors
              clipguard embed --weights ours.safetensors --text "a dress" --output f.safetensors
            """
    )

    @Option(
        help: "Shipped config name or an open_clip JSON config path; optional when the weights carry a clip_config.")
    var model: String?

    @Option(help: "A safetensors file with an open_clip state_dict (or one saved by clipguard).")
    var weights: String?

    @Option(name: .customLong("image"), help: "An image file (PNG or JPEG); repeat for more.")
    var images: [String] = []

    @Option(name: .customLong("text"), help: "A caption; repeat for more.")
    var texts: [String] = []

    @Option(help: "Where to write the features (safetensors).")
    var output: String

    @Flag(help: "L2-normalise the features.")
    var normalize = false

    @Flag(help: "Replace the --output file if it exists (never an input file).")
    var force = false

    @OptionGroup var threads: ThreadsOption

    func validate() throws {
        if images.isEmpty && texts.isEmpty { throw ValidationError("give at least one --image or --text") }
        if model == nil && weights == nil { throw ValidationError("give --model, --weights, or both") }
        if images.count + texts.count > 100_000 { throw ValidationError("at most 100,000 --image and --text values in one call") }
        try checkOutputPath(output, option: "--output", force: force, inputs: [model, weights] + images)
    }

    func run() throws {
        threads.apply()
        try reportingErrors(runChecked)
    }

    private func runChecked() throws {
        let clip: CLIPModel
        if let model {
            let config = model.hasSuffix(".json") ? try CLIPConfig(contentsOf: URL(fileURLWithPath: model)) : try CLIPConfig.named(model)
            try checkModelFitsMemory(config, source: model)
            clip = CLIPModel(config: config)
            if let weights { try clip.loadSafeTensors(atPath: weights) }
        } else {
            clip = try CLIPModel.fromSafeTensors(atPath: weights!)
        }
        if !texts.isEmpty { try checkTokenizerFits(clip.config, source: weights ?? model ?? "the model") }
        var outputs: [(String, Tensor)] = []
        try catchingTorchErrors {
            try noGrad {
                if !images.isEmpty {
                    let size = clip.config.vision.imageSize
                    var buffer = [Float](repeating: 0, count: images.count * 3 * size * size)
                    for (i, path) in images.enumerated() {
                        let image = Preprocessing.resizeCenterCrop(size: size).apply(try decodeImage(atPath: path))
                        image.writeCHWFloats(into: &buffer, offset: i * 3 * size * size)
                    }
                    let features = clip.encodeImage(Tensor(buffer, shape: [images.count, 3, size, size]))
                    outputs.append(("image_features", normalize ? features.normalized(dim: -1) : features))
                }
                if !texts.isEmpty {
                    let context = clip.config.text.contextLength
                    let tokenizer = try CLIPTokenizer.load()
                    let ids = texts.flatMap { tokenizer.tokenize($0, contextLength: context).map(Int64.init) }
                    let tokens = Tensor(ids, shape: [texts.count, context])
                    let features = clip.encodeText(tokens)
                    outputs.append(("text_features", normalize ? features.normalized(dim: -1) : features))
                    outputs.append(("tokens", tokens))
                }
            }
        }
        try saveSafeTensors(outputs, metadata: ["images": images.joined(separator: "\n")], toPath: output)
        for (name, tensor) in outputs { print("\(name) \(tensor.shape)") }
    }
}
