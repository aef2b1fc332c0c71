import Torch

/// A layer or model mapping one tensor to another.
///
/// The `training` flag is an argument rather than hidden state: dropout and batch norm behave
/// as asked at each call.
public protocol Module {
    func callAsFunction(_ input: Tensor, training: Bool) -> Tensor
}

extension Module {
    /// Inference-style call (`training: false`).
    public func callAsFunction(_ input: Tensor) -> Tensor { self(input, training: false) }
}

/// A fully connected layer, `y = x Wᵀ + b` (`torch.nn.Linear`).
///
/// Registers `weight` `[out, in]` and, unless disabled, `bias` `[out]`, initialised like
/// PyTorch: U(−1/√in, 1/√in) for both (Kaiming-uniform with a = √5).
public struct Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ path: ParameterPath, inputFeatures: Int, outputFeatures: Int, bias: Bool = true) {
        let bound = 1 / Double(inputFeatures).squareRoot()
        weight = path.parameter("weight", uniform([outputFeatures, inputFeatures], bound: bound, path: path))
        self.bias = bias ? path.parameter("bias", uniform([outputFeatures], bound: bound, path: path)) : nil
    }

    /// - Parameter input: `[..., in]`. - Returns: `[..., out]`.
    public func callAsFunction(_ input: Tensor, training: Bool) -> Tensor {
        linear(input, weight: weight, bias: bias)
    }
}

/// U(−bound, bound) samples from the store's generator, in the store's dtype.
public func uniform(_ shape: [Int], bound: Double, path: ParameterPath) -> Tensor {
    (Tensor.rand(shape, dtype: .float32, generator: path.generator) * (2 * bound) - bound).to(path.dtype)
}

/// N(0, std²) samples from the store's generator, in the store's dtype.
public func normal(_ shape: [Int], std: Double, path: ParameterPath) -> Tensor {
    (Tensor.randn(shape, dtype: .float32, generator: path.generator) * std).to(path.dtype)
}
