import CTorch

extension Tensor {
    /// Zeros of the given shape.
    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let (d, i) = device.code
        return make("zeros") { out in withInt64s(shape) { ct_zeros(out, $0, $1, dtype.rawValue, d, i) } }
    }

    /// Ones of the given shape.
    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let (d, i) = device.code
        return make("ones") { out in withInt64s(shape) { ct_ones(out, $0, $1, dtype.rawValue, d, i) } }
    }

    /// A tensor filled with `value`.
    public static func full(_ shape: [Int], value: Double, dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let (d, i) = device.code
        return make("full") { out in withInt64s(shape) { ct_full(out, $0, $1, value, dtype.rawValue, d, i) } }
    }

    /// Uninitialised storage of the given shape.
    public static func empty(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let (d, i) = device.code
        return make("empty") { out in withInt64s(shape) { ct_empty(out, $0, $1, dtype.rawValue, d, i) } }
    }

    /// `[start, start + step, …]` below `end` (`torch.arange`).
    public static func arange(
        _ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .int64, device: Device = .cpu
    ) -> Tensor {
        let (d, i) = device.code
        return make("arange") { ct_arange($0, start, end, step, dtype.rawValue, d, i) }
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive.
    public static func linspace(
        _ start: Double, _ end: Double, steps: Int, dtype: DType = .float32, device: Device = .cpu
    ) -> Tensor {
        let (d, i) = device.code
        return make("linspace") { ct_linspace($0, start, end, Int64(steps), dtype.rawValue, d, i) }
    }

    /// The `n × n` identity matrix.
    public static func eye(_ n: Int, dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let (d, i) = device.code
        return make("eye") { ct_eye($0, Int64(n), dtype.rawValue, d, i) }
    }

    /// Uniform samples in [0, 1); from `generator` when given, else libtorch's default generator.
    public static func rand(
        _ shape: [Int], dtype: DType = .float32, device: Device = .cpu, generator: Generator? = nil
    ) -> Tensor {
        let (d, i) = device.code
        return withExtendedLifetime(generator) {
            make("rand") { out in
                withInt64s(shape) { ct_rand(out, $0, $1, dtype.rawValue, d, i, generator?.handle) }
            }
        }
    }

    /// Standard normal samples.
    public static func randn(
        _ shape: [Int], dtype: DType = .float32, device: Device = .cpu, generator: Generator? = nil
    ) -> Tensor {
        let (d, i) = device.code
        return withExtendedLifetime(generator) {
            make("randn") { out in
                withInt64s(shape) { ct_randn(out, $0, $1, dtype.rawValue, d, i, generator?.handle) }
            }
        }
    }

    /// Uniform int64 samples in `low..<high`.
    public static func randint(
        _ low: Int, _ high: Int, shape: [Int], device: Device = .cpu, generator: Generator? = nil
    ) -> Tensor {
        let (d, i) = device.code
        return withExtendedLifetime(generator) {
            make("randint") { out in
                withInt64s(shape) { ct_randint(out, Int64(low), Int64(high), $0, $1, d, i, generator?.handle) }
            }
        }
    }

    /// A random permutation of `0..<n` (int64).
    public static func randperm(_ n: Int, device: Device = .cpu, generator: Generator? = nil) -> Tensor {
        let (d, i) = device.code
        return withExtendedLifetime(generator) {
            make("randperm") { ct_randperm($0, Int64(n), d, i, generator?.handle) }
        }
    }

    /// Samples 0/1 with the probabilities in `self` (same shape and dtype).
    public func bernoulli(generator: Generator? = nil) -> Tensor {
        withExtendedLifetime(generator) { Tensor.make("bernoulli") { ct_bernoulli($0, handle, generator?.handle) } }
    }

    /// Zeros with this tensor's shape, dtype and device.
    public func zerosLike() -> Tensor { Tensor.make("zeros_like") { ct_zeros_like($0, handle) } }
    /// Ones with this tensor's shape, dtype and device.
    public func onesLike() -> Tensor { Tensor.make("ones_like") { ct_ones_like($0, handle) } }
    /// `value` everywhere, with this tensor's shape, dtype and device.
    public func fullLike(_ value: Double) -> Tensor { Tensor.make("full_like") { ct_full_like($0, handle, value) } }
}

/// A seeded random-number generator owned by libtorch (`torch.Generator`).
///
/// Passing the same generator state to the same sequence of random ops reproduces their output.
public final class Generator {
    @usableFromInline let handle: OpaquePointer

    /// A new generator on `device` seeded with `seed`.
    public init(seed: UInt64, device: Device = .cpu) {
        var out: OpaquePointer?
        guard ct_generator_new(&out, seed, device.code.0) == 0, let out else {
            fatalError("libtorch: generator: \(lastErrorMessage())")
        }
        handle = out
    }

    deinit { ct_generator_free(handle) }

    /// The generator's full state as a uint8 tensor (save it to resume a stream).
    public var state: Tensor {
        get { Tensor.make("generator_get_state") { ct_generator_get_state(handle, $0) } }
        set { if ct_generator_set_state(handle, newValue.handle) != 0 { opFailed("generator_set_state") } }
    }
}
