import Torch

/// Owns a model's parameters and buffers under their PyTorch `state_dict` names.
///
/// Layers are built from a ``ParameterPath`` (`store.root / "visual" / "conv1"`) and register
/// their tensors through it, so that the keys are exactly open_clip's (`visual.conv1.weight`)
/// and a checkpoint written by PyTorch loads by name. Registration order is kept: it is the
/// order of ``trainableParameters()`` and of saved files.
///
/// ```swift
/// let store = ParameterStore(seed: 0)
/// let fc = Linear(store.root / "fc", inputFeatures: 4, outputFeatures: 2)
/// store.trainableParameters().map(\.name)   // ["fc.weight", "fc.bias"]
/// ```
public final class ParameterStore {
    /// What a registered tensor is.
    public enum Kind: Sendable { case parameter, buffer }

    /// One registered tensor.
    public struct Entry {
        public let name: String
        public let tensor: Tensor
        public let kind: Kind
    }

    public private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]
    private var frozen: Set<String> = []

    /// Device on which layers create their tensors.
    public let device: Device
    /// Floating-point type of new parameters.
    public let dtype: DType
    /// Generator used by layers for initialisation; seeding the store fixes every initial value.
    public let generator: Generator

    public init(seed: UInt64 = 0, device: Device = .cpu, dtype: DType = .float32) {
        self.device = device
        self.dtype = dtype
        self.generator = Generator(seed: seed)
    }

    /// The empty path, from which every layer path starts.
    public var root: ParameterPath { ParameterPath(store: self, components: []) }

    /// Registers a trainable parameter (moved to the store's device, `requiresGrad = true`).
    @discardableResult
    public func parameter(_ name: String, _ initial: Tensor) -> Tensor {
        register(name, initial, kind: .parameter)
    }

    /// Registers a buffer: state saved with the model but not trained (BatchNorm running statistics).
    @discardableResult
    public func buffer(_ name: String, _ initial: Tensor) -> Tensor {
        register(name, initial, kind: .buffer)
    }

    private func register(_ name: String, _ initial: Tensor, kind: Kind) -> Tensor {
        precondition(index[name] == nil, "ParameterStore: '\(name)' registered twice")
        let tensor = noGrad { initial.to(dtype: initial.dtype, device: device).detached().contiguous() }
        if kind == .parameter { tensor.requiresGrad = true }
        index[name] = entries.count
        entries.append(Entry(name: name, tensor: tensor, kind: kind))
        return tensor
    }

    /// The tensor registered under `name`, if any.
    public subscript(name: String) -> Tensor? { index[name].map { entries[$0].tensor } }

    /// Every registered name, in registration order.
    public var names: [String] { entries.map(\.name) }

    /// Parameters that take part in training (not buffers, not frozen), in registration order.
    public func trainableParameters() -> [(name: String, tensor: Tensor)] {
        entries.filter { $0.kind == .parameter && !frozen.contains($0.name) }.map { ($0.name, $0.tensor) }
    }

    /// All parameters and buffers, in registration order (the `state_dict`).
    public func stateDict() -> [(name: String, tensor: Tensor)] { entries.map { ($0.name, $0.tensor) } }

    /// Total number of elements in parameters (not buffers).
    public var parameterCount: Int { entries.filter { $0.kind == .parameter }.reduce(0) { $0 + $1.tensor.count } }

    /// Stops training every parameter whose name starts with `prefix` (e.g. `"visual."`).
    public func freeze(prefix: String) {
        for entry in entries where entry.kind == .parameter && entry.name.hasPrefix(prefix) {
            frozen.insert(entry.name)
            entry.tensor.requiresGrad = false
        }
    }

    /// Undoes ``freeze(prefix:)`` for names starting with `prefix`.
    public func unfreeze(prefix: String) {
        for entry in entries where entry.kind == .parameter && entry.name.hasPrefix(prefix) {
            frozen.remove(entry.name)
            entry.tensor.requiresGrad = true
        }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for entry in entries where entry.kind == .parameter { entry.tensor.zeroGrad() }
    }

    /// Copies `tensors` into the registered tensors, by name and in place (converting dtype and device).
    ///
    /// - Parameter strict: when true, a registered name missing from `tensors` or a name in
    ///   `tensors` that is not registered is an error; shape mismatches are always errors.
    /// - Throws: ``TorchError/missingKeys(_:)``, ``TorchError/unexpectedKeys(_:)`` or
    ///   ``TorchError/shapeMismatch(key:expected:got:)``; nothing is copied when it throws.
    public func load(_ tensors: [String: Tensor], strict: Bool = true) throws(TorchError) {
        for entry in entries {
            if let source = tensors[entry.name], source.shape != entry.tensor.shape {
                throw .shapeMismatch(key: entry.name, expected: entry.tensor.shape, got: source.shape)
            }
        }
        if strict {
            let missing = entries.map(\.name).filter { tensors[$0] == nil }
            if !missing.isEmpty { throw .missingKeys(missing) }
            let unexpected = tensors.keys.filter { index[$0] == nil }.sorted()
            if !unexpected.isEmpty { throw .unexpectedKeys(unexpected) }
        }
        noGrad {
            for entry in entries {
                if let source = tensors[entry.name] { entry.tensor.copyInPlace(from: source) }
            }
        }
    }
}

/// A dotted prefix in a ``ParameterStore`` (`visual.transformer.resblocks.0`).
public struct ParameterPath {
    public let store: ParameterStore
    public let components: [String]

    /// The path one level down: `path / "conv1"`, `path / 3` (for `Sequential`-style indices).
    public static func / (path: ParameterPath, name: String) -> ParameterPath {
        ParameterPath(store: path.store, components: path.components + [name])
    }

    public static func / (path: ParameterPath, index: Int) -> ParameterPath { path / String(index) }

    /// The full dotted key of a tensor named `leaf` under this path.
    public func key(_ leaf: String) -> String { (components + [leaf]).joined(separator: ".") }

    /// Registers a parameter `leaf` under this path.
    @discardableResult
    public func parameter(_ leaf: String, _ initial: Tensor) -> Tensor { store.parameter(key(leaf), initial) }

    /// Registers a buffer `leaf` under this path.
    @discardableResult
    public func buffer(_ leaf: String, _ initial: Tensor) -> Tensor { store.buffer(key(leaf), initial) }

    /// The store's initialisation generator.
    public var generator: Generator { store.generator }
    /// The store's parameter dtype.
    public var dtype: DType { store.dtype }
}
