import Torch

/// A 2-D convolution (`torch.nn.Conv2d`) with square kernel, stride and padding.
///
/// Registers `weight` `[out, in / groups, k, k]` and, unless disabled, `bias` `[out]`, both
/// initialised like PyTorch: U(−1/√fanIn, 1/√fanIn) with fanIn = (in / groups)·k².
public struct Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int
    public let groups: Int

    public init(
        _ path: ParameterPath, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        groups: Int = 1, bias: Bool = true
    ) {
        precondition(inChannels % groups == 0 && outChannels % groups == 0, "Conv2d: channels not divisible by groups")
        let fanIn = inChannels / groups * kernelSize * kernelSize
        let bound = 1 / Double(fanIn).squareRoot()
        weight = path.parameter(
            "weight", uniform([outChannels, inChannels / groups, kernelSize, kernelSize], bound: bound, path: path))
        self.bias = bias ? path.parameter("bias", uniform([outChannels], bound: bound, path: path)) : nil
        self.stride = stride
        self.padding = padding
        self.groups = groups
    }

    /// - Parameter input: `[N, in, H, W]`. - Returns: `[N, out, H', W']`,
    ///   H' = ⌊(H + 2·padding − k) / stride⌋ + 1.
    public func callAsFunction(_ input: Tensor, training: Bool) -> Tensor {
        conv2d(
            input, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding), groups: groups)
    }
}

/// Batch normalisation over `[N, C, H, W]` (`torch.nn.BatchNorm2d`).
///
/// Parameters `weight` (ones) and `bias` (zeros), `[C]`; buffers `running_mean` (zeros),
/// `running_var` (ones), `[C]`, and `num_batches_tracked` (int64 scalar), as PyTorch. In
/// training, batch statistics normalise the input and the running statistics are updated in
/// place (`running ← (1 − momentum)·running + momentum·batch`, unbiased batch variance) and
/// `num_batches_tracked` is incremented; in eval the running statistics are used.
public struct BatchNorm2d: Module {
    public let weight: Tensor
    public let bias: Tensor
    public let runningMean: Tensor
    public let runningVar: Tensor
    public let numBatchesTracked: Tensor
    public let eps: Double
    public let momentum: Double

    public init(_ path: ParameterPath, features: Int, eps: Double = 1e-5, momentum: Double = 0.1) {
        let dtype = path.dtype
        weight = path.parameter("weight", Tensor.ones([features], dtype: dtype))
        bias = path.parameter("bias", Tensor.zeros([features], dtype: dtype))
        runningMean = path.buffer("running_mean", Tensor.zeros([features], dtype: dtype))
        runningVar = path.buffer("running_var", Tensor.ones([features], dtype: dtype))
        numBatchesTracked = path.buffer("num_batches_tracked", Tensor.zeros([], dtype: .int64))
        self.eps = eps
        self.momentum = momentum
    }

    /// - Parameter input: `[N, C, H, W]`. - Returns: `[N, C, H, W]`.
    public func callAsFunction(_ input: Tensor, training: Bool) -> Tensor {
        let output = batchNorm(
            input, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar, training: training,
            momentum: momentum, eps: eps)
        if training {
            noGrad {
                // Integer arithmetic keeps the counter exact (a float scalar would not cast back to int64).
                numBatchesTracked.subInPlace(Tensor.full([], value: -1, dtype: .int64, device: numBatchesTracked.device))
            }
        }
        return output
    }
}

/// Layer normalisation over the last dimension (`torch.nn.LayerNorm`), as open_clip's subclass.
///
/// Registers `weight` (ones) and `bias` (zeros), `[features]`. Half-precision inputs
/// (float16, bfloat16) are normalised in float32 and the result cast back to the input dtype;
/// float32 and float64 inputs are normalised in their own precision.
public struct LayerNorm: Module {
    public let weight: Tensor
    public let bias: Tensor
    public let features: Int
    public let eps: Double

    public init(_ path: ParameterPath, features: Int, eps: Double = 1e-5) {
        weight = path.parameter("weight", Tensor.ones([features], dtype: path.dtype))
        bias = path.parameter("bias", Tensor.zeros([features], dtype: path.dtype))
        self.features = features
        self.eps = eps
    }

    /// - Parameter input: `[..., features]`. - Returns: `[..., features]`, in the input's dtype.
    public func callAsFunction(_ input: Tensor, training: Bool) -> Tensor {
        let inputType = input.dtype
        let computeType: DType = inputType == .float64 ? .float64 : .float32
        let x = inputType == computeType ? input : input.to(computeType)
        let w = weight.dtype == computeType ? weight : weight.to(computeType)
        let b = bias.dtype == computeType ? bias : bias.to(computeType)
        let y = layerNorm(x, normalizedShape: [features], weight: w, bias: b, eps: eps)
        return inputType == computeType ? y : y.to(inputType)
    }
}

/// A lookup table of vectors (`torch.nn.Embedding`).
///
/// Registers `weight` `[count, dimensions]`, initialised N(0, 1) like PyTorch.
public struct Embedding {
    public let weight: Tensor

    public init(_ path: ParameterPath, count: Int, dimensions: Int) {
        weight = path.parameter("weight", normal([count, dimensions], std: 1, path: path))
    }

    /// - Parameter indices: int64 `[...]` in `0..<count`. - Returns: `[..., dimensions]`.
    public func callAsFunction(_ indices: Tensor) -> Tensor { embedding(indices, weight: weight) }
}

/// Applies layers in order (`torch.nn.Sequential`). Build each layer with `path / index` so
/// that its keys are PyTorch's (`mlp.0.weight`).
public struct Sequential: Module {
    public let layers: [any Module]

    public init(_ layers: [any Module]) { self.layers = layers }

    public func callAsFunction(_ input: Tensor, training: Bool) -> Tensor {
        layers.reduce(input) { x, layer in layer(x, training: training) }
    }
}

/// Exact (erf) GELU (`torch.nn.GELU()`), or the tanh approximation when `approximate` is set.
public struct GELU: Module {
    public let approximate: Bool
    public init(approximate: Bool = false) { self.approximate = approximate }
    public func callAsFunction(_ input: Tensor, training: Bool) -> Tensor {
        approximate ? input.geluTanh() : input.gelu()
    }
}

/// `x · sigmoid(1.702 x)`, the activation of OpenAI's CLIP weights (open_clip `QuickGELU`).
public struct QuickGELU: Module {
    public init() {}
    public func callAsFunction(_ input: Tensor, training: Bool) -> Tensor { input.quickGELU() }
}

/// `max(x, 0)`.
public struct ReLU: Module {
    public init() {}
    public func callAsFunction(_ input: Tensor, training: Bool) -> Tensor { input.relu() }
}

/// Inverted dropout (`torch.nn.Dropout`): active only when `training` is true.
///
/// Masks come from `generator` when given (reproducible), else libtorch's default generator.
public struct Dropout: Module {
    public let p: Double
    public let generator: Generator?

    public init(_ p: Double, generator: Generator? = nil) {
        precondition(p >= 0 && p <= 1, "Dropout: p = \(p) is not a probability")
        self.p = p
        self.generator = generator
    }

    public init(p: Double, generator: Generator? = nil) { self.init(p, generator: generator) }

    public func callAsFunction(_ input: Tensor, training: Bool) -> Tensor {
        guard training, p > 0 else { return input }
        return dropout(input, p: p, training: true, generator: generator)
    }
}

/// Returns its input unchanged (`torch.nn.Identity`).
public struct Identity: Module {
    public init() {}
    public func callAsFunction(_ input: Tensor, training: Bool) -> Tensor { input }
}
