import NN
import Torch

// Port of open_clip/src/open_clip/transformer.py (ResidualAttentionBlock, Transformer,
// VisionTransformer, TextTransformer): pre-LN blocks, parameter names and initialisation as there.

extension Activation {
    /// Applies the activation element-wise.
    func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .gelu: x.gelu()
        case .quickGELU: x.quickGELU()
        }
    }
}

/// A pre-LayerNorm transformer block (open_clip `ResidualAttentionBlock`):
/// `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))` with `mlp = c_proj(act(c_fc(x)))`.
struct ResidualAttentionBlock {
    let ln1: LayerNorm
    let attn: MultiheadAttention
    let ln2: LayerNorm
    let cFc: Linear
    let cProj: Linear
    let activation: Activation

    init(_ path: ParameterPath, width: Int, heads: Int, mlpRatio: Double, activation: Activation) {
        ln1 = LayerNorm(path / "ln_1", features: width)
        attn = MultiheadAttention(path / "attn", embedDim: width, numHeads: heads)
        ln2 = LayerNorm(path / "ln_2", features: width)
        let hidden = Int(Double(width) * mlpRatio)
        cFc = Linear(path / "mlp" / "c_fc", inputFeatures: width, outputFeatures: hidden)
        cProj = Linear(path / "mlp" / "c_proj", inputFeatures: hidden, outputFeatures: width)
        self.activation = activation
    }

    /// - Parameter x: `[N, L, width]`. - Returns: `[N, L, width]`.
    func callAsFunction(_ x: Tensor, causal: Bool, training: Bool) -> Tensor {
        let h = ln1(x, training: training)
        let y = x + attn(query: h, key: h, value: h, isCausal: causal, training: training)
        return y + cProj(activation(cFc(ln2(y, training: training))))
    }
}

/// A stack of ``ResidualAttentionBlock``s under `resblocks.N` (open_clip `Transformer`, batch-first).
struct TransformerStack {
    let blocks: [ResidualAttentionBlock]

    init(_ path: ParameterPath, width: Int, layers: Int, heads: Int, mlpRatio: Double, activation: Activation) {
        blocks = (0..<layers).map {
            ResidualAttentionBlock(
                path / "resblocks" / $0, width: width, heads: heads, mlpRatio: mlpRatio, activation: activation)
        }
    }

    func callAsFunction(_ x: Tensor, causal: Bool, training: Bool) -> Tensor {
        blocks.reduce(x) { h, block in block(h, causal: causal, training: training) }
    }
}

/// The ViT image tower (open_clip `VisionTransformer` with class-token pooling).
///
/// Patches are embedded by `conv1` (no bias), a `class_embedding` is prepended, the
/// `positional_embedding` added, then `ln_pre`, the transformer, `ln_post` on the class token
/// and `proj` (`[width, outputDim]`). The blocks keep PyTorch's default initialisation, as in
/// open_clip; `class_embedding`, `positional_embedding` and `proj` are N(0, 1/width).
public struct VisionTransformer: Module {
    public let config: ViTConfig
    let conv1: Conv2d
    let classEmbedding: Tensor
    let positionalEmbedding: Tensor
    let proj: Tensor
    let lnPre: LayerNorm
    let transformer: TransformerStack
    let lnPost: LayerNorm

    public init(_ path: ParameterPath, config: ViTConfig, outputDim: Int, activation: Activation) {
        self.config = config
        let width = config.width
        let scale = 1 / Double(width).squareRoot()
        classEmbedding = path.parameter("class_embedding", normal([width], std: scale, path: path))
        positionalEmbedding = path.parameter(
            "positional_embedding", normal([config.gridSize * config.gridSize + 1, width], std: scale, path: path))
        proj = path.parameter("proj", normal([width, outputDim], std: scale, path: path))
        conv1 = Conv2d(
            path / "conv1", inChannels: 3, outChannels: width, kernelSize: config.patchSize, stride: config.patchSize,
            bias: false)
        lnPre = LayerNorm(path / "ln_pre", features: width)
        transformer = TransformerStack(
            path / "transformer", width: width, layers: config.layers, heads: config.heads, mlpRatio: config.mlpRatio,
            activation: activation)
        lnPost = LayerNorm(path / "ln_post", features: width)
    }

    /// Image features before normalisation.
    /// - Parameter images: `[N, 3, S, S]` float, S = `config.imageSize`.
    /// - Returns: `[N, outputDim]`.
    public func callAsFunction(_ images: Tensor, training: Bool) -> Tensor {
        var x = conv1(images, training: training)  // [N, width, g, g]
        x = x.flattened(startDim: 2).transposed(1, 2)  // [N, g², width]
        let n = x.size(0)
        let width = x.size(2)
        let cls = classEmbedding.to(x.dtype).reshaped([1, 1, width]).expanded([n, 1, width])
        x = Tensor.cat([cls, x], dim: 1) + positionalEmbedding.to(x.dtype)
        x = lnPre(x, training: training)
        x = transformer(x, causal: false, training: training)
        let pooled = lnPost(x.select(dim: 1, index: 0), training: training)
        return pooled.matmul(proj)
    }
}

/// The causal text tower (open_clip `TextTransformer`, whose parameters `CLIP` keeps at the
/// top level: `token_embedding.weight`, `positional_embedding`, `transformer.resblocks.N.*`,
/// `ln_final.*`, `text_projection`).
///
/// Initialisation as open_clip: token embedding N(0, 0.02²), positional N(0, 0.01²),
/// attention input projections N(0, 1/width), output projections and `c_proj`
/// N(0, 1/(2·width·layers)), `c_fc` N(0, 1/(2·width)), `text_projection` N(0, 1/width).
public struct TextTransformer {
    public let config: TextConfig
    let tokenEmbedding: Embedding
    let positionalEmbedding: Tensor
    let transformer: TransformerStack
    let lnFinal: LayerNorm
    let textProjection: Tensor

    public init(_ path: ParameterPath, config: TextConfig, outputDim: Int, activation: Activation) {
        self.config = config
        let width = config.width
        positionalEmbedding = path.parameter(
            "positional_embedding", normal([config.contextLength, width], std: 0.01, path: path))
        textProjection = path.parameter(
            "text_projection", normal([width, outputDim], std: 1 / Double(width).squareRoot(), path: path))
        transformer = TransformerStack(
            path / "transformer", width: width, layers: config.layers, heads: config.heads, mlpRatio: config.mlpRatio,
            activation: activation)
        tokenEmbedding = Embedding(path / "token_embedding", count: config.vocabSize, dimensions: width)
        lnFinal = LayerNorm(path / "ln_final", features: width)

        reinitialise(tokenEmbedding.weight, std: 0.02, path: path)
        let attnStd = 1 / Double(width).squareRoot()
        let projStd = attnStd / Double(2 * config.layers).squareRoot()
        let fcStd = 1 / Double(2 * width).squareRoot()
        for block in transformer.blocks {
            reinitialise(block.attn.inProjWeight, std: attnStd, path: path)
            reinitialise(block.attn.outProj.weight, std: projStd, path: path)
            reinitialise(block.cFc.weight, std: fcStd, path: path)
            reinitialise(block.cProj.weight, std: projStd, path: path)
        }
    }

    /// Text features before normalisation: the final-LayerNorm output at each sequence's EOT
    /// token (its largest id), projected.
    /// - Parameter tokens: `[N, L]` int64, L ≤ `config.contextLength`.
    /// - Returns: `[N, outputDim]`.
    public func callAsFunction(_ tokens: Tensor, training: Bool) -> Tensor {
        let n = tokens.size(0)
        let length = tokens.size(1)
        var x = tokenEmbedding(tokens)  // [N, L, width]
        let positions =
            length == config.contextLength
            ? positionalEmbedding : positionalEmbedding.narrowed(dim: 0, start: 0, length: length)
        x = x + positions.to(x.dtype)
        x = transformer(x, causal: true, training: training)
        x = lnFinal(x, training: training)
        let width = x.size(2)
        let eot = tokens.argmax(dim: -1).reshaped([n, 1, 1]).expanded([n, 1, width])
        let pooled = x.gather(dim: 1, indices: eot).reshaped([n, width])
        return pooled.matmul(textProjection.to(pooled.dtype))
    }
}
