import Foundation

/// The activation of the transformer MLPs.
public enum Activation: String, Codable, Sendable, CaseIterable {
    /// Exact (erf) GELU, open_clip's default.
    case gelu
    /// `x · sigmoid(1.702 x)`, the activation of OpenAI's released weights (open_clip `quick_gelu: true`).
    case quickGELU
}

/// A ModifiedResNet image tower (RN50 family).
public struct ResNetConfig: Sendable, Equatable {
    /// Bottleneck blocks in each of the four stages (`[3, 4, 6, 3]` for RN50).
    public var layers: [Int]
    /// Channels after the stem; the final feature map has `width · 32` channels.
    public var width: Int
    /// Channels per attention-pooling head (heads = `width · 32 / headWidth`).
    public var headWidth: Int
    /// Side of the square input images; a multiple of 32.
    public var imageSize: Int

    public init(layers: [Int], width: Int, headWidth: Int = 64, imageSize: Int) {
        self.layers = layers
        self.width = width
        self.headWidth = headWidth
        self.imageSize = imageSize
    }

    /// Attention-pooling heads.
    public var heads: Int { width * 32 / headWidth }
}

/// A VisionTransformer image tower (ViT-B/32 family).
public struct ViTConfig: Sendable, Equatable {
    /// Residual attention blocks.
    public var layers: Int
    public var width: Int
    /// Channels per attention head (heads = `width / headWidth`).
    public var headWidth: Int
    /// MLP hidden width as a multiple of `width`.
    public var mlpRatio: Double
    public var patchSize: Int
    /// Side of the square input images; a multiple of `patchSize`.
    public var imageSize: Int

    public init(layers: Int, width: Int, headWidth: Int = 64, mlpRatio: Double = 4, patchSize: Int, imageSize: Int) {
        self.layers = layers
        self.width = width
        self.headWidth = headWidth
        self.mlpRatio = mlpRatio
        self.patchSize = patchSize
        self.imageSize = imageSize
    }

    public var heads: Int { width / headWidth }
    /// Patches along each side.
    public var gridSize: Int { imageSize / patchSize }
}

/// The image tower: decided, as in open_clip, by whether `vision_cfg.layers` is a list (ResNet)
/// or a number (ViT).
public enum VisionConfig: Sendable, Equatable {
    case resnet(ResNetConfig)
    case vit(ViTConfig)

    /// Side of the square input images.
    public var imageSize: Int {
        switch self {
        case .resnet(let c): c.imageSize
        case .vit(let c): c.imageSize
        }
    }
}

/// The causal text transformer.
public struct TextConfig: Sendable, Equatable {
    /// Token positions; the tokenizer pads or truncates to this length.
    public var contextLength: Int
    public var vocabSize: Int
    public var width: Int
    public var heads: Int
    public var layers: Int
    public var mlpRatio: Double

    public init(
        contextLength: Int = 77, vocabSize: Int = 49408, width: Int = 512, heads: Int = 8, layers: Int = 12,
        mlpRatio: Double = 4
    ) {
        self.contextLength = contextLength
        self.vocabSize = vocabSize
        self.width = width
        self.heads = heads
        self.layers = layers
        self.mlpRatio = mlpRatio
    }
}

/// A CLIP model's architecture, read from and written to open_clip's JSON model configs.
///
/// The JSON uses open_clip's field names (`embed_dim`, `quick_gelu`, `vision_cfg.layers`,
/// `vision_cfg.width`, `vision_cfg.head_width`, `vision_cfg.mlp_ratio`, `vision_cfg.patch_size`,
/// `vision_cfg.image_size`, `text_cfg.context_length`, `text_cfg.vocab_size`, `text_cfg.width`,
/// `text_cfg.heads`, `text_cfg.layers`, `text_cfg.mlp_ratio`, `init_logit_scale`). Other fields
/// of open_clip's configs are accepted only at values that leave the architecture as built here
/// (`ls_init_value: null`, `pool_type: "tok"`, `proj_type: "linear"`, …); any other value, and
/// any field open_clip does not know, is an error naming the field.
///
/// ```swift
/// let config = try CLIPConfig.named("ViT-B-32")
/// config.embedDim                 // 512
/// if case .vit(let vit) = config.vision { vit.patchSize }   // 32
/// ```
public struct CLIPConfig: Codable, Sendable, Equatable {
    /// Size D of the shared embedding space.
    public var embedDim: Int
    public var activation: Activation
    public var vision: VisionConfig
    public var text: TextConfig
    /// Initial value of the learnable log logit scale (open_clip: ln(1/0.07)).
    public var initLogitScale: Double

    /// ln(1/0.07), CLIP's initial log logit scale.
    public static let defaultLogitScale = Foundation.log(1 / 0.07)

    public init(
        embedDim: Int, activation: Activation = .gelu, vision: VisionConfig, text: TextConfig,
        initLogitScale: Double = CLIPConfig.defaultLogitScale
    ) {
        self.embedDim = embedDim
        self.activation = activation
        self.vision = vision
        self.text = text
        self.initLogitScale = initLogitScale
    }

    // MARK: - Shipped configs

    /// Names of the configs shipped with the module (open_clip's plus `tiny-rn` and `tiny-vit`).
    /// Any name may also carry open_clip's `-quickgelu` suffix.
    ///
    /// | name | image tower | text tower | D | parameters |
    /// |---|---|---|---|---|
    /// | RN50 | ModifiedResNet [3,4,6,3], width 64, 224 px | 12 × 512, context 77 | 1024 | 102,007,137 |
    /// | RN101 | ModifiedResNet [3,4,23,3], width 64, 224 px | 12 × 512 | 512 | 119,688,033 |
    /// | RN50x4 | ModifiedResNet [4,6,10,6], width 80, 288 px | 12 × 640 | 640 | 178,300,601 |
    /// | ViT-B-32 | ViT 12 × 768, patch 32, 224 px | 12 × 512 | 512 | 151,277,313 |
    /// | ViT-B-16 | ViT 12 × 768, patch 16, 224 px | 12 × 512 | 512 | 149,620,737 |
    /// | tiny-rn | ModifiedResNet [1,1,1,1], width 32, 32 px (5.43 M) | 3 × 128, 2 heads, context 32 (6.96 M) | 256 | 12,383,281 |
    /// | tiny-vit | ViT 4 × 128, patch 4 (64 patches), 32 px (0.84 M) | 3 × 128, 2 heads, context 32 (6.96 M) | 256 | 7,797,121 |
    ///
    /// The counts equal open_clip's. In the tiny configs 6.32 M of the text parameters are the
    /// token embedding (49,408 × 128), which costs memory but almost no compute; the context of
    /// 32 tokens holds the built-in Fashion-MNIST captions (at most about 16 BPE tokens with
    /// start and end). One training forward and backward pass at batch 128 (CLIP loss, random
    /// data) is 0.56 CPU-seconds for tiny-rn and 0.72 for tiny-vit on one thread
    /// (`clipguard model-info --model tiny-rn --steps 5`).
    public static var availableNames: [String] {
        guard let url = configFolder, let files = try? FileManager.default.contentsOfDirectory(atPath: url.path)
        else { return [] }
        return files.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// The folder of the shipped configs: `share/clipguard/model_configs` beside the executable's
    /// folder in the relocatable bundle (`make bundle`: `bin/clipguard`), else this module's
    /// resources (found through `Bundle.module`, which only knows the build folder and the
    /// executable's own folder).
    static var configFolder: URL? {
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let bundled = URL(fileURLWithPath: executable).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("share/clipguard/model_configs")
            if FileManager.default.fileExists(atPath: bundled.path) { return bundled }
        }
        return Bundle.module.url(forResource: "model_configs", withExtension: nil)
    }

    /// A shipped config by name (`"RN50"`, `"ViT-B-32"`, `"tiny-vit"`); `"<name>-quickgelu"`
    /// gives the same architecture with QuickGELU, as open_clip's files of that name.
    /// - Throws: ``CLIPError/unknownModel(_:available:)``, or ``CLIPError/invalidConfig(file:key:reason:)``.
    public static func named(_ name: String) throws(CLIPError) -> CLIPConfig {
        let suffix = "-quickgelu"
        let base = name.hasSuffix(suffix) ? String(name.dropLast(suffix.count)) : name
        guard !base.contains("/"), let url = configFolder?.appendingPathComponent("\(base).json"),
            FileManager.default.fileExists(atPath: url.path)
        else { throw .unknownModel(name, available: availableNames) }
        var config = try CLIPConfig(contentsOf: url)
        if base != name { config.activation = .quickGELU }
        return config
    }

    /// Reads an open_clip-style JSON config file.
    /// - Throws: ``CLIPError/invalidConfig(file:key:reason:)`` naming the file and the field.
    public init(contentsOf url: URL) throws(CLIPError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            let missing = !FileManager.default.fileExists(atPath: url.path)
            throw .invalidConfig(
                file: url.path, key: "",
                reason: missing ? "no such model config file; give a shipped model name (see `clipguard model-info --list`) or an existing .json"
                    : "cannot read the model config: \(error.localizedDescription)")
        }
        do { self = try CLIPConfig.decode(data) } catch .invalidConfig(_, let key, let reason) {
            throw .invalidConfig(file: url.path, key: key, reason: reason)
        } catch { throw error }
    }

    /// Decodes JSON text; errors name the field but no file.
    public static func decode(_ data: Data) throws(CLIPError) -> CLIPConfig {
        do {
            let config = try JSONDecoder().decode(CLIPConfig.self, from: data)
            try config.validate()
            return config
        } catch let error as CLIPError {
            throw error
        } catch let error as DecodingError {
            throw CLIPError(error)
        } catch {
            throw .invalidConfig(file: nil, key: "", reason: "\(error)")
        }
    }

    /// The config as open_clip JSON (pretty-printed, keys sorted).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    // MARK: - Codable

    private static let topKeys: Set<String> = [
        "embed_dim", "quick_gelu", "vision_cfg", "text_cfg", "init_logit_scale", "init_logit_bias",
        "nonscalar_logit_scale", "custom_text", "multimodal_cfg",
    ]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.rejectUnknown(Self.topKeys)
        embedDim = try c.decode(Int.self, forKey: "embed_dim")
        activation = try c.decodeIfPresent(Bool.self, forKey: "quick_gelu") == true ? .quickGELU : .gelu
        initLogitScale = try c.decodeIfPresent(Double.self, forKey: "init_logit_scale") ?? Self.defaultLogitScale
        try c.require("init_logit_bias", .null, because: "a logit bias (SigLIP) is not supported")
        try c.require("nonscalar_logit_scale", .bool(false), because: "the logit scale is a scalar")
        try c.require(
            "custom_text", .bool(false), because: "CustomTextCLIP (text tower under 'text.') is not supported")
        try c.require("multimodal_cfg", .null, because: "CoCa's multimodal text decoder is not supported")
        vision = try c.decode(VisionConfigCoding.self, forKey: "vision_cfg").value
        text = try c.decode(TextConfigCoding.self, forKey: "text_cfg").value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.encode(embedDim, forKey: "embed_dim")
        if activation == .quickGELU { try c.encode(true, forKey: "quick_gelu") }
        if initLogitScale != Self.defaultLogitScale { try c.encode(initLogitScale, forKey: "init_logit_scale") }
        try c.encode(VisionConfigCoding(vision), forKey: "vision_cfg")
        try c.encode(TextConfigCoding(text), forKey: "text_cfg")
    }
}

// MARK: - Field-level coding

/// Fields of open_clip's vision and text configs that we accept only at the values given
/// (a value that leaves the architecture unchanged). Fields not listed here or in the
/// supported set are unknown.
private let visionFixed: [(String, [JSONValue], String)] = [
    ("ls_init_value", [.null], "layer scale is not supported"),
    ("patch_dropout", [.number(0)], "patch dropout is not supported"),
    ("attentional_pool", [.bool(false)], "attentional pooling is not supported"),
    ("no_ln_pre", [.bool(false)], "ln_pre is always present"),
    ("pos_embed_type", [.string("learnable")], "only learnable positional embeddings are supported"),
    ("final_ln_after_pool", [.bool(false)], "ln_post is applied before pooling"),
    ("pool_type", [.string("tok")], "only class-token pooling is supported"),
    ("timm_model_name", [.null], "timm towers are not supported"),
] + blockFixed
/// Options of the attention block, shared by both towers: accepted only at their defaults.
private let blockFixed: [(String, [JSONValue], String)] = [
    ("act_kwargs", [.null, .object([:])], "activation options are not supported"),
    ("norm_kwargs", [.null, .object([:])], "norm options are not supported"),
    ("block_type", [.null, .string("default")], "only the default attention block is supported"),
    ("qk_norm", [.bool(false)], "custom attention blocks are not supported"),
    ("scaled_cosine_attn", [.bool(false)], "custom attention blocks are not supported"),
    ("scale_heads", [.bool(false)], "custom attention blocks are not supported"),
    ("scale_attn_inner", [.bool(false)], "custom attention blocks are not supported"),
    ("scale_attn", [.bool(false)], "custom attention blocks are not supported"),
    ("scale_fc", [.bool(false)], "custom attention blocks are not supported"),
]
/// Fields that only matter for features we reject elsewhere (accepted with any value).
private let visionIgnored: Set<String> = [
    "attn_pooler_queries", "attn_pooler_heads", "output_tokens", "timm_model_pretrained", "timm_pool",
    "timm_proj", "timm_proj_bias", "timm_drop", "timm_drop_path",
]
private let visionSupported: Set<String> = ["layers", "width", "head_width", "mlp_ratio", "patch_size", "image_size"]

private let textFixed: [(String, [JSONValue], String)] = [
    ("ls_init_value", [.null], "layer scale is not supported"),
    ("embed_cls", [.bool(false)], "a class token (CoCa) is not supported"),
    ("no_causal_mask", [.bool(false)], "the text transformer is always causal"),
    ("final_ln_after_pool", [.bool(false)], "ln_final is applied before pooling"),
    ("pool_type", [.string("argmax")], "only EOT (argmax) pooling is supported"),
    ("proj_bias", [.bool(false)], "text_projection is a bias-free matrix"),
    ("proj_type", [.string("linear")], "text_projection is a bias-free matrix"),
    ("hf_model_name", [.null], "Hugging Face text towers are not supported"),
    ("hf_tokenizer_name", [.null], "only the OpenAI BPE tokenizer is supported"),
    ("tokenizer_mode", [.null], "only the OpenAI BPE tokenizer is supported"),
    ("tokenizer_kwargs", [.null, .object([:])], "tokenizer options are not supported"),
] + blockFixed
private let textIgnored: Set<String> = [
    "pad_id", "eos_id", "output_tokens", "hf_model_pretrained", "hf_proj_type", "hf_pooler_type",
]
private let textSupported: Set<String> = ["context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio"]

private struct VisionConfigCoding: Codable {
    let value: VisionConfig
    init(_ value: VisionConfig) { self.value = value }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.rejectUnknown(visionSupported.union(visionIgnored).union(visionFixed.map(\.0)))
        for (key, allowed, reason) in visionFixed { try c.require(key, allowed, because: reason) }
        let width = try c.decodeIfPresent(Int.self, forKey: "width") ?? 768
        let headWidth = try c.decodeIfPresent(Int.self, forKey: "head_width") ?? 64
        let imageSize = try c.decodeImageSize()
        try c.check("width", width > 0, "must be positive")
        try c.check("width", width <= CLIPConfig.Limits.maxWidth, "\(width) is more than \(CLIPConfig.Limits.maxWidth)")
        try c.check("head_width", headWidth > 0, "must be positive")
        try c.check("image_size", imageSize > 0 && imageSize <= CLIPConfig.Limits.maxImageSize, "\(imageSize) is outside 1…\(CLIPConfig.Limits.maxImageSize)")
        if let stages = try? c.decode([Int].self, forKey: "layers") {
            try c.check(
                "layers", stages.count == 4 && stages.allSatisfy { $0 > 0 }, "a ResNet needs four positive stage depths"
            )
            try c.check("image_size", imageSize % 32 == 0, "a ModifiedResNet needs a multiple of 32")
            try c.check("head_width", (width * 32) % headWidth == 0, "must divide width · 32 = \(width * 32)")
            value = .resnet(ResNetConfig(layers: stages, width: width, headWidth: headWidth, imageSize: imageSize))
        } else {
            let layers = try c.decodeIfPresent(Int.self, forKey: "layers") ?? 12
            guard let patch = try c.decodeIfPresent(Int.self, forKey: "patch_size") else {
                throw c.invalid("patch_size", "a VisionTransformer needs a patch size")
            }
            let mlpRatio = try c.decodeIfPresent(Double.self, forKey: "mlp_ratio") ?? 4
            try c.check("layers", layers > 0, "must be positive")
            try c.check("patch_size", patch > 0 && imageSize % patch == 0, "must divide image_size \(imageSize)")
            try c.check("head_width", width % headWidth == 0, "must divide width \(width)")
            try c.check("mlp_ratio", mlpRatio > 0, "must be positive")
            value = .vit(
                ViTConfig(
                    layers: layers, width: width, headWidth: headWidth, mlpRatio: mlpRatio, patchSize: patch,
                    imageSize: imageSize))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        switch value {
        case .resnet(let r):
            try c.encode(r.layers, forKey: "layers")
            try c.encode(r.width, forKey: "width")
            if r.headWidth != 64 { try c.encode(r.headWidth, forKey: "head_width") }
            try c.encode(r.imageSize, forKey: "image_size")
            try c.encodeNil(forKey: "patch_size")
        case .vit(let v):
            try c.encode(v.layers, forKey: "layers")
            try c.encode(v.width, forKey: "width")
            if v.headWidth != 64 { try c.encode(v.headWidth, forKey: "head_width") }
            if v.mlpRatio != 4 { try c.encode(v.mlpRatio, forKey: "mlp_ratio") }
            try c.encode(v.patchSize, forKey: "patch_size")
            try c.encode(v.imageSize, forKey: "image_size")
        }
    }
}

private struct TextConfigCoding: Codable {
    let value: TextConfig
    init(_ value: TextConfig) { self.value = value }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        try c.rejectUnknown(textSupported.union(textIgnored).union(textFixed.map(\.0)))
        for (key, allowed, reason) in textFixed { try c.require(key, allowed, because: reason) }
        let d = TextConfig()
        let t = TextConfig(
            contextLength: try c.decodeIfPresent(Int.self, forKey: "context_length") ?? d.contextLength,
            vocabSize: try c.decodeIfPresent(Int.self, forKey: "vocab_size") ?? d.vocabSize,
            width: try c.decodeIfPresent(Int.self, forKey: "width") ?? d.width,
            heads: try c.decodeIfPresent(Int.self, forKey: "heads") ?? d.heads,
            layers: try c.decodeIfPresent(Int.self, forKey: "layers") ?? d.layers,
            mlpRatio: try c.decodeIfPresent(Double.self, forKey: "mlp_ratio") ?? d.mlpRatio)
        for (key, v) in [
            ("context_length", t.contextLength), ("vocab_size", t.vocabSize), ("width", t.width), ("heads", t.heads),
            ("layers", t.layers),
        ] {
            try c.check(key, v > 0, "must be positive")
        }
        try c.check("heads", t.width % t.heads == 0, "must divide width \(t.width)")
        try c.check("mlp_ratio", t.mlpRatio > 0, "must be positive")
        value = t
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: AnyKey.self)
        try c.encode(value.contextLength, forKey: "context_length")
        try c.encode(value.vocabSize, forKey: "vocab_size")
        try c.encode(value.width, forKey: "width")
        try c.encode(value.heads, forKey: "heads")
        try c.encode(value.layers, forKey: "layers")
        if value.mlpRatio != 4 { try c.encode(value.mlpRatio, forKey: "mlp_ratio") }
    }
}

// MARK: - Helpers

struct AnyKey: CodingKey, ExpressibleByStringLiteral {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
    init(stringLiteral value: String) { stringValue = value }
}

/// Any JSON value, for comparing fields against the values we accept.
enum JSONValue: Decodable, Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? "\(Int(n))" : "\(n)"
        case .string(let s): "\"\(s)\""
        case .array(let a): "[\(a.map(\.description).joined(separator: ", "))]"
        case .object(let o): "{\(o.keys.sorted().map { "\"\($0)\": \(o[$0]!)" }.joined(separator: ", "))}"
        }
    }
}

extension KeyedDecodingContainer where K == AnyKey {
    func path(_ key: String) -> String {
        (codingPath.map(\.stringValue) + [key]).joined(separator: ".")
    }

    func invalid(_ key: String, _ reason: String) -> CLIPError {
        .invalidConfig(file: nil, key: path(key), reason: reason)
    }

    func check(_ key: String, _ condition: Bool, _ reason: String) throws(CLIPError) {
        if !condition { throw invalid(key, reason) }
    }

    func rejectUnknown(_ known: Set<String>) throws(CLIPError) {
        if let key = allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw invalid(key, "unknown field")
        }
    }

    /// Throws unless `key` is absent or holds one of `allowed`.
    func require(_ key: String, _ allowed: [JSONValue], because reason: String) throws {
        guard contains(AnyKey(stringValue: key)) else { return }
        let value = try decode(JSONValue.self, forKey: AnyKey(stringValue: key))
        if !allowed.contains(value) {
            let accepted = allowed.map(\.description).joined(separator: " or ")
            throw invalid(key, "unsupported value \(value) (\(reason); accepted: \(accepted))")
        }
    }

    func require(_ key: String, _ allowed: JSONValue, because reason: String) throws {
        try require(key, [allowed], because: reason)
    }

    /// `image_size` as an int, or a `[h, w]` pair with h == w.
    func decodeImageSize() throws -> Int {
        let key: AnyKey = "image_size"
        if let side = try? decodeIfPresent(Int.self, forKey: key) { return side }
        if let pair = try? decode([Int].self, forKey: key) {
            guard pair.count == 2, pair[0] == pair[1] else {
                throw invalid("image_size", "only square images are supported")
            }
            return pair[0]
        }
        guard contains(key) else { return 224 }
        throw invalid("image_size", "expected an integer")
    }
}

extension CLIPError {
    /// Maps a `DecodingError` to ``invalidConfig(file:key:reason:)`` with the dotted field path.
    init(_ error: DecodingError) {
        func path(_ codingPath: [any CodingKey], _ extra: (any CodingKey)? = nil) -> String {
            (codingPath + (extra.map { [$0] } ?? [])).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                .joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            self = .invalidConfig(file: nil, key: path(context.codingPath, key), reason: "required field is missing")
        case .typeMismatch(let type, let context):
            self = .invalidConfig(file: nil, key: path(context.codingPath), reason: "expected \(type)")
        case .valueNotFound(let type, let context):
            self = .invalidConfig(file: nil, key: path(context.codingPath), reason: "expected \(type), found null")
        case .dataCorrupted(let context):
            self = .invalidConfig(
                file: nil, key: path(context.codingPath), reason: "invalid JSON: \(context.debugDescription)")
        @unknown default:
            self = .invalidConfig(file: nil, key: "", reason: "\(error)")
        }
    }
}
