import NN
import Torch

// Port of open_clip/src/open_clip/modified_resnet.py (Bottleneck, AttentionPool2d, ModifiedResNet):
// same layer structure, parameter names and initialisation; written from those facts.

/// A ResNet bottleneck block with anti-aliased downsampling (open_clip `Bottleneck`).
///
/// All convolutions have stride 1; when `stride > 1` an average pool follows the 3×3
/// convolution, and the shortcut is `downsample.0` (1×1 conv) after an average pool, with
/// `downsample.1` its batch norm.
struct Bottleneck: Module {
    static let expansion = 4
    let conv1: Conv2d, bn1: BatchNorm2d
    let conv2: Conv2d, bn2: BatchNorm2d
    let conv3: Conv2d, bn3: BatchNorm2d
    let downsample: (conv: Conv2d, bn: BatchNorm2d)?
    let stride: Int

    init(_ path: ParameterPath, inPlanes: Int, planes: Int, stride: Int) {
        let outPlanes = planes * Self.expansion
        conv1 = Conv2d(path / "conv1", inChannels: inPlanes, outChannels: planes, kernelSize: 1, bias: false)
        bn1 = BatchNorm2d(path / "bn1", features: planes)
        conv2 = Conv2d(path / "conv2", inChannels: planes, outChannels: planes, kernelSize: 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(path / "bn2", features: planes)
        conv3 = Conv2d(path / "conv3", inChannels: planes, outChannels: outPlanes, kernelSize: 1, bias: false)
        bn3 = BatchNorm2d(path / "bn3", features: outPlanes)
        if stride > 1 || inPlanes != outPlanes {
            let d = path / "downsample"
            downsample = (
                Conv2d(d / 0, inChannels: inPlanes, outChannels: outPlanes, kernelSize: 1, bias: false),
                BatchNorm2d(d / 1, features: outPlanes)
            )
        } else {
            downsample = nil
        }
        self.stride = stride
        // open_clip zeroes the last batch norm's gain so that each block starts as the identity.
        noGrad { bn3.weight.zeroInPlace() }
    }

    /// - Parameter input: `[N, inPlanes, H, W]`. - Returns: `[N, 4·planes, H/stride, W/stride]`.
    func callAsFunction(_ input: Tensor, training: Bool) -> Tensor {
        var out = bn1(conv1(input, training: training), training: training).relu()
        out = bn2(conv2(out, training: training), training: training).relu()
        if stride > 1 { out = avgPool2d(out, kernel: (stride, stride)) }
        out = bn3(conv3(out, training: training), training: training)
        var identity = input
        if let downsample {
            if stride > 1 { identity = avgPool2d(identity, kernel: (stride, stride)) }
            identity = downsample.bn(downsample.conv(identity, training: training), training: training)
        }
        return (out + identity).relu()
    }
}

/// Multi-head attention pooling of a feature map (open_clip `AttentionPool2d`).
///
/// The query is the mean of the spatial positions; keys and values are the mean and every
/// position, all with a learned positional embedding. Parameters: `positional_embedding`
/// `[HW + 1, C]`, `q_proj`, `k_proj`, `v_proj` (`[C, C]`) and `c_proj` (`[outputDim, C]`), with biases.
struct AttentionPool2d {
    let positionalEmbedding: Tensor
    let qProj: Linear, kProj: Linear, vProj: Linear, cProj: Linear
    let heads: Int

    init(_ path: ParameterPath, spatialDim: Int, embedDim: Int, heads: Int, outputDim: Int) {
        positionalEmbedding = path.parameter(
            "positional_embedding",
            normal([spatialDim * spatialDim + 1, embedDim], std: 1 / Double(embedDim).squareRoot(), path: path))
        kProj = Linear(path / "k_proj", inputFeatures: embedDim, outputFeatures: embedDim)
        qProj = Linear(path / "q_proj", inputFeatures: embedDim, outputFeatures: embedDim)
        vProj = Linear(path / "v_proj", inputFeatures: embedDim, outputFeatures: embedDim)
        cProj = Linear(path / "c_proj", inputFeatures: embedDim, outputFeatures: outputDim)
        self.heads = heads
        // open_clip: projection weights ~ N(0, 1/embedDim); biases keep Linear's initialisation.
        let std = 1 / Double(embedDim).squareRoot()
        for layer in [qProj, kProj, vProj, cProj] { reinitialise(layer.weight, std: std, path: path) }
    }

    /// - Parameter input: `[N, C, H, W]` with H·W + 1 positional embeddings. - Returns: `[N, outputDim]`.
    func callAsFunction(_ input: Tensor) -> Tensor {
        let n = input.size(0)
        let c = input.size(1)
        var x = input.flattened(startDim: 2).transposed(1, 2)  // [N, HW, C]
        x = Tensor.cat([x.mean(dim: 1, keepDim: true), x], dim: 1)  // [N, HW + 1, C]
        x = x + positionalEmbedding.to(x.dtype)
        let s = x.size(1)
        let headDim = c / heads
        // Only the first (mean) position's output is used, so only its query is computed. (As a
        // 2-d `[N, C]` input: a strided 3-d `[N, 1, C]` one sends bf16 autocast's linear through a
        // batched matmul that copies the weight N times — 2.3× the whole tiny-rn encode.)
        let q = qProj(x.narrowed(dim: 1, start: 0, length: 1).reshaped([n, c])).reshaped([n, 1, heads, headDim]).transposed(1, 2)
        let k = kProj(x).reshaped([n, s, heads, headDim]).transposed(1, 2)
        let v = vProj(x).reshaped([n, s, heads, headDim]).transposed(1, 2)
        let attended = scaledDotProductAttention(query: q, key: k, value: v)  // [N, heads, 1, headDim]
        return cProj(attended.reshaped([n, c]))
    }
}

/// The ModifiedResNet image tower of CLIP's RN50 family (open_clip `ModifiedResNet`).
///
/// A three-convolution stem with average pooling, four stages of anti-aliased bottlenecks
/// (`layer1` … `layer4`) and attention pooling (`attnpool`) to `outputDim`. Parameter names
/// under `path` are open_clip's (`conv1.weight`, `layer1.0.bn3.running_mean`,
/// `attnpool.c_proj.bias`, …).
public struct ModifiedResNet: Module {
    public let config: ResNetConfig
    let stem: [(conv: Conv2d, bn: BatchNorm2d)]
    let stages: [[Bottleneck]]
    let attnpool: AttentionPool2d

    public init(_ path: ParameterPath, config: ResNetConfig, outputDim: Int) {
        self.config = config
        let w = config.width
        stem = [(3, w / 2, 2), (w / 2, w / 2, 1), (w / 2, w, 1)].enumerated().map { i, spec in
            (
                Conv2d(
                    path / "conv\(i + 1)", inChannels: spec.0, outChannels: spec.1, kernelSize: 3, stride: spec.2,
                    padding: 1, bias: false),
                BatchNorm2d(path / "bn\(i + 1)", features: spec.1)
            )
        }
        var inPlanes = w
        var stages: [[Bottleneck]] = []
        for (i, blocks) in config.layers.enumerated() {
            let planes = w << i
            let stagePath = path / "layer\(i + 1)"
            var stage: [Bottleneck] = []
            for b in 0..<blocks {
                stage.append(
                    Bottleneck(stagePath / b, inPlanes: inPlanes, planes: planes, stride: b == 0 && i > 0 ? 2 : 1))
                inPlanes = planes * Bottleneck.expansion
            }
            stages.append(stage)
        }
        self.stages = stages
        attnpool = AttentionPool2d(
            path / "attnpool", spatialDim: config.imageSize / 32, embedDim: w * 32, heads: config.heads,
            outputDim: outputDim)
    }

    /// Image features before normalisation.
    /// - Parameter images: `[N, 3, S, S]` float, S = `config.imageSize`.
    /// - Returns: `[N, outputDim]`.
    /// Whether the convolution weights are channels-last (``CLIPModel/useChannelsLast()``).
    public var usesChannelsLast: Bool { stem[0].conv.weight.isChannelsLast }

    /// With channels-last weights (``CLIPModel/useChannelsLast()``) the input is turned
    /// channels-last too, so that no convolution reorders its input.
    public func callAsFunction(_ images: Tensor, training: Bool) -> Tensor {
        var x = usesChannelsLast && !images.isChannelsLast ? images.channelsLast() : images
        for (conv, bn) in stem { x = bn(conv(x, training: training), training: training).relu() }
        x = avgPool2d(x, kernel: (2, 2))
        for stage in stages {
            for block in stage { x = block(x, training: training) }
        }
        return attnpool(x)
    }
}

/// Overwrites `tensor` in place with N(0, std²) samples from the store's generator.
func reinitialise(_ tensor: Tensor, std: Double, path: ParameterPath) {
    let values = normal(tensor.shape, std: std, path: path)
    noGrad { tensor.copyInPlace(from: values) }
}
