import Foundation
import NN
import Torch

/// The image tower of a ``CLIPModel``.
public enum VisionTower {
    case resnet(ModifiedResNet)
    case vit(VisionTransformer)

    /// - Parameter images: `[N, 3, S, S]` float. - Returns: `[N, D]` unnormalised features.
    public func callAsFunction(_ images: Tensor, training: Bool) -> Tensor {
        switch self {
        case .resnet(let tower): tower(images, training: training)
        case .vit(let tower): tower(images, training: training)
        }
    }
}

/// What ``CLIPModel/logits(images:texts:training:)`` returns (open_clip's `CLIP.forward` as a struct).
public struct CLIPOutput {
    /// L2-normalised image embeddings, `[N, D]`.
    public let imageFeatures: Tensor
    /// L2-normalised text embeddings, `[M, D]`.
    public let textFeatures: Tensor
    /// The logit multiplier `exp(logit_scale)`, a scalar tensor (differentiable w.r.t. the parameter).
    public let logitMultiplier: Tensor
    /// `logitMultiplier · imageFeatures · textFeaturesᵀ`, `[N, M]`.
    public let logitsPerImage: Tensor
    /// The transpose, `[M, N]`.
    public let logitsPerText: Tensor
}

/// A CLIP model with open_clip's architecture and `state_dict` names.
///
/// Build one from a config (``CLIPModel/named(_:seed:device:dtype:)``, ``init(configFile:seed:device:dtype:)``
/// or ``init(config:seed:device:dtype:)``); it is initialised as open_clip initialises a new
/// model, from the store's seeded generator. An open_clip `state_dict` written as safetensors
/// loads by name with ``loadSafeTensors(atPath:)``, and ``saveSafeTensors(toPath:)`` writes a file
/// open_clip's `load_state_dict` accepts.
///
/// ```swift
/// let model = try CLIPModel.named("tiny-vit", seed: 0)
/// let out = model.logits(images: images, texts: tokens)   // images [N, 3, 32, 32], tokens [N, 32] int64
/// let loss = clipLoss(imageFeatures: out.imageFeatures, textFeatures: out.textFeatures, logLogitScale: model.logLogitScale)
/// ```
public struct CLIPModel {
    public let config: CLIPConfig
    /// Every parameter and buffer under its open_clip name.
    public let store: ParameterStore
    public let visual: VisionTower
    public let text: TextTransformer
    /// The learnable *log* logit scale (`logit_scale`, a scalar; initialised to `config.initLogitScale`);
    /// the logits are multiplied by its exponential.
    public let logLogitScale: Tensor

    /// A new model with open_clip's initialisation drawn from `seed`.
    public init(config: CLIPConfig, seed: UInt64 = 0, device: Device = .cpu, dtype: DType = .float32) {
        self.config = config
        let store = ParameterStore(seed: seed, device: device, dtype: dtype)
        self.store = store
        let root = store.root
        switch config.vision {
        case .resnet(let c):
            visual = .resnet(ModifiedResNet(root / "visual", config: c, outputDim: config.embedDim))
        case .vit(let c):
            visual = .vit(
                VisionTransformer(root / "visual", config: c, outputDim: config.embedDim, activation: config.activation)
            )
        }
        text = TextTransformer(root, config: config.text, outputDim: config.embedDim, activation: config.activation)
        logLogitScale = root.parameter("logit_scale", Tensor(scalar: config.initLogitScale, dtype: dtype))
    }

    /// A new model from a shipped config (``CLIPConfig/named(_:)``).
    public static func named(
        _ name: String, seed: UInt64 = 0, device: Device = .cpu, dtype: DType = .float32
    ) throws(CLIPError) -> CLIPModel {
        CLIPModel(config: try CLIPConfig.named(name), seed: seed, device: device, dtype: dtype)
    }

    /// A new model from an open_clip-style JSON config file.
    public init(configFile: String, seed: UInt64 = 0, device: Device = .cpu, dtype: DType = .float32) throws(CLIPError)
    {
        self.init(
            config: try CLIPConfig(contentsOf: URL(fileURLWithPath: configFile)), seed: seed, device: device,
            dtype: dtype)
    }

    /// Total number of trainable elements (buffers excluded).
    public var parameterCount: Int { store.parameterCount }

    // MARK: - Encoding

    /// Image embeddings as open_clip's `encode_image` returns them (not normalised).
    /// - Parameters:
    ///   - images: `[N, 3, S, S]` float (the store's dtype), S = `config.vision.imageSize`,
    ///     normalised with CLIP's mean and standard deviation.
    ///   - training: batch norm uses batch statistics and updates its running statistics.
    /// - Returns: `[N, D]`, D = `config.embedDim`.
    public func encodeImage(_ images: Tensor, training: Bool = false) -> Tensor {
        let s = config.vision.imageSize
        precondition(
            images.rank == 4 && images.size(1) == 3 && images.size(2) == s && images.size(3) == s,
            "CLIPModel.encodeImage: expected [N, 3, \(s), \(s)] images, got \(images.shape)")
        return visual(images, training: training)
    }

    /// Text embeddings as open_clip's `encode_text` returns them (not normalised).
    /// - Parameters:
    ///   - tokens: `[N, L]` int64 token ids, L ≤ `config.text.contextLength`, each row holding its
    ///     EOT token as its largest id (the tokenizer's output).
    /// - Returns: `[N, D]`.
    public func encodeText(_ tokens: Tensor, training: Bool = false) -> Tensor {
        precondition(
            tokens.rank == 2 && tokens.size(1) <= config.text.contextLength && !tokens.dtype.isFloatingPoint,
            "CLIPModel.encodeText: expected [N, ≤\(config.text.contextLength)] integer tokens, got \(tokens.shape) \(tokens.dtype)"
        )
        return text(tokens.to(.int64), training: training)
    }

    /// Normalised features of both modalities and their scaled similarity logits.
    /// - Parameters:
    ///   - images: `[N, 3, S, S]` float.
    ///   - texts: `[M, L]` int64 tokens.
    public func logits(images: Tensor, texts: Tensor, training: Bool = false) -> CLIPOutput {
        let imageFeatures = encodeImage(images, training: training).normalized(dim: -1)
        let textFeatures = encodeText(texts, training: training).normalized(dim: -1)
        let scale = logLogitScale.exp()
        let perImage = scale * imageFeatures.matmul(textFeatures.t)
        return CLIPOutput(
            imageFeatures: imageFeatures, textFeatures: textFeatures, logitMultiplier: scale, logitsPerImage: perImage,
            logitsPerText: perImage.t)
    }

    /// Moves the ResNet image tower's convolution weights to channels-last memory order in place
    /// (PyTorch's `model.to(memory_format=torch.channels_last)`): oneDNN's CPU convolutions then
    /// run on NHWC activations without reordering. Values, names and saved files are unchanged;
    /// a no-op for ViT towers (their single patch convolution gains nothing).
    /// ``encodeImage(_:training:)`` then turns its input channels-last as well.
    public func useChannelsLast() {
        guard case .resnet = visual else { return }
        for (name, tensor) in store.stateDict() where tensor.rank == 4 && name.hasPrefix("visual.") {
            tensor.setData(tensor.channelsLast())
        }
    }

    /// Whether ``useChannelsLast()`` has moved the ResNet tower to channels-last.
    public var usesChannelsLast: Bool {
        guard case .resnet(let tower) = visual else { return false }
        return tower.usesChannelsLast
    }

    /// Clamps `logit_scale` into [0, ln 100] in place (call after each optimiser step).
    public func clampLogitScale() { CLIP.clampLogitScale(logLogitScale) }

    // MARK: - Weights

    /// Copies `tensors` (an open_clip `state_dict`) into the model by name.
    ///
    /// - Parameter source: names the file in error messages.
    /// - Throws: ``CLIPError/incompatibleWeights(source:missing:unexpected:mismatched:)`` listing
    ///   every missing, unexpected and mis-shaped key, or ``CLIPError/nonFiniteWeights(source:key:count:)``
    ///   for a tensor holding NaN or ±inf; nothing is copied then.
    public func load(_ tensors: [String: Tensor], source: String? = nil) throws(CLIPError) {
        var missing: [String] = []
        var mismatched: [CLIPError.ShapeMismatch] = []
        for (name, tensor) in store.stateDict() {
            guard let given = tensors[name] else {
                missing.append(name)
                continue
            }
            if given.shape != tensor.shape {
                mismatched.append(.init(key: name, expected: tensor.shape, got: given.shape))
            }
        }
        let known = Set(store.names)
        let unexpected = tensors.keys.filter { !known.contains($0) }.sorted()
        guard missing.isEmpty, unexpected.isEmpty, mismatched.isEmpty else {
            throw .incompatibleWeights(source: source, missing: missing, unexpected: unexpected, mismatched: mismatched)
        }
        for name in store.names {
            guard let given = tensors[name], given.dtype.isFloatingPoint else { continue }
            let finite = given.isFinite()
            if finite.all().item() == 0 {
                let bad = given.count - Int(finite.to(.int64).sum().item())
                throw .nonFiniteWeights(source: source, key: name, count: bad)
            }
        }
        do { try store.load(tensors, strict: true) } catch {
            throw .incompatibleWeights(source: source, missing: [], unexpected: [], mismatched: [])
        }
    }

    /// Loads a safetensors file holding an open_clip `state_dict` (or one we saved).
    /// - Throws: the reader's errors for unreadable files, ``CLIPError`` for keys that do not fit.
    public func loadSafeTensors(atPath path: String) throws {
        let file = try Torch.loadSafeTensors(atPath: path)
        try load(file.tensors, source: path)
    }

    /// Writes the `state_dict` (parameters and buffers, open_clip names) as safetensors, with the
    /// config as JSON under the metadata key `clip_config`.
    public func saveSafeTensors(toPath path: String) throws {
        let json = String(decoding: try config.jsonData(), as: UTF8.self)
        try Torch.saveSafeTensors(
            store.stateDict().map { ($0.name, $0.tensor) }, metadata: ["format": "pt", "clip_config": json],
            toPath: path)
    }

    /// A model built from the `clip_config` metadata of a file written by ``saveSafeTensors(toPath:)``,
    /// with the file's weights.
    public static func fromSafeTensors(atPath path: String, device: Device = .cpu, dtype: DType = .float32) throws
        -> CLIPModel
    {
        let file = try Torch.loadSafeTensors(atPath: path)
        guard let json = file.metadata["clip_config"] else {
            throw CLIPError.invalidConfig(file: path, key: "clip_config", reason: "no config in the file's metadata")
        }
        let config: CLIPConfig
        do { config = try CLIPConfig.decode(Data(json.utf8)) } catch .invalidConfig(_, let key, let reason) {
            throw CLIPError.invalidConfig(file: path, key: key, reason: reason)
        } catch { throw error }
        // A config that describes a much larger model than the file holds would allocate it
        // before the shapes are compared; refuse it first.
        let stored = file.tensors.values.reduce(0.0) { $0 + Double($1.count) }
        if config.estimatedParameterCount > 1.5 * stored + 1_000_000 {
            throw CLIPError.invalidConfig(
                file: path, key: "clip_config",
                reason: "describes a model of about \(Int(config.estimatedParameterCount)) parameters but the file holds \(Int(stored)) values")
        }
        let model = CLIPModel(config: config, device: device, dtype: dtype)
        try model.load(file.tensors, source: path)
        return model
    }
}
