import Attacks
import CLIP
import Datasets
import Foundation
import Torch

/// A CLIP model an attacker trained on data like the victim's, used to choose and perturb poisons
/// (`clipguard poison --aim … --surrogate CHECKPOINT`). It reads a `model.safetensors` written by
/// `clipguard train` (or an experiment's `surrogate: clean`), records the file's SHA-256, and
/// embeds images given as 8-bit pixels through the same normalisation training uses.
public final class Surrogate: @unchecked Sendable {
    public let model: CLIPModel
    public let tokenizer: CLIPTokenizer
    /// The checkpoint (absolute path) and its SHA-256 (64 lower-case hex digits).
    public let path: String
    public let sha256: String
    /// The model's input side in pixels.
    public var imageSize: Int { model.config.vision.imageSize }
    private let mean: Tensor, std: Tensor

    /// Loads `path` on the CPU.
    ///
    /// - Throws: ``AttackError/invalidSetting(_:)`` naming `--surrogate` when the file is missing
    ///   or is not a CLIP model written by ClipGuard.
    public init(path: String) throws(AttackError) {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        guard let bytes = FileManager.default.contents(atPath: absolute) else {
            throw .invalidSetting("--surrogate \(path): file not found or unreadable")
        }
        do {
            model = try CLIPModel.fromSafeTensors(atPath: absolute)
            tokenizer = try CLIPTokenizer.load()
        } catch {
            throw .invalidSetting("--surrogate \(path): not a ClipGuard CLIP checkpoint (\(error))")
        }
        self.path = (absolute as NSString).standardizingPath
        sha256 = SHA256.hex(bytes)
        let n = Normalization.clip
        mean = Tensor(n.mean, shape: [1, 3, 1, 1])
        std = Tensor(n.std, shape: [1, 3, 1, 1])
    }

    /// Wraps a model already in memory (tests); `sha256` names it in records.
    public init(model: CLIPModel, name: String, sha256: String) throws {
        self.model = model
        tokenizer = try CLIPTokenizer.load()
        path = name
        self.sha256 = sha256
        let n = Normalization.clip
        mean = Tensor(n.mean, shape: [1, 3, 1, 1]).to(model.logLogitScale.dtype)
        std = Tensor(n.std, shape: [1, 3, 1, 1]).to(model.logLogitScale.dtype)
    }

    /// Images as a `[N, 3, S, S]` tensor of values in [0, 1] (the model's dtype), S = their side.
    public func pixels(_ images: [RGBImage]) -> Tensor {
        let side = images.first?.width ?? imageSize
        var values = [Float](repeating: 0, count: images.count * 3 * side * side)
        let plane = side * side
        for (i, image) in images.enumerated() {
            for p in 0..<plane { for c in 0..<3 { values[i * 3 * plane + c * plane + p] = Float(image.pixels[p * 3 + c]) / 255 } }
        }
        return Tensor(values, shape: [images.count, 3, side, side]).to(model.logLogitScale.dtype)
    }

    /// Unit-norm image embeddings `[N, D]` of pixel values `x` `[N, 3, S, S]` in [0, 1]; keeps
    /// the autograd graph (call inside `withGrad` to differentiate with respect to `x`).
    public func imageFeatures(_ x: Tensor) -> Tensor {
        model.encodeImage((x - mean) / std, training: false).normalized(dim: -1)
    }

    /// Unit-norm text embeddings `[N, D]` of `captions`, without a graph.
    public func textFeatures(_ captions: [String]) -> Tensor {
        let context = model.config.text.contextLength
        var parts: [Tensor] = []
        for start in stride(from: 0, to: captions.count, by: 256) {
            let chunk = Array(captions[start..<min(start + 256, captions.count)])
            let ids = tokenizer.tokenize(batch: chunk, contextLength: context).map(Int64.init)
            parts.append(noGrad { model.encodeText(Tensor(ids, shape: [chunk.count, context])).normalized(dim: -1) })
        }
        return parts.count == 1 ? parts[0] : Tensor.cat(parts, dim: 0)
    }

    /// Cosine similarity of each image with its own caption, `[N]` as Doubles.
    public func pairSimilarities(images: [RGBImage], captions: [String]) -> [Double] {
        var out: [Double] = []
        for start in stride(from: 0, to: images.count, by: 256) {
            let end = min(start + 256, images.count)
            let f = noGrad { imageFeatures(pixels(Array(images[start..<end]))) }
            let t = textFeatures(Array(captions[start..<end]))
            out += (f * t).sum(dim: 1).to(.float64).toArray(as: Double.self)
        }
        return out
    }

    /// Refuses images of another side than the model's, naming `--image-size`.
    func checkSide(_ side: Int) throws(AttackError) {
        guard side == imageSize else {
            throw .invalidSetting("--surrogate \(path) takes \(imageSize)×\(imageSize) images but the poisons are \(side)×\(side); pass --image-size \(imageSize)")
        }
    }
}
