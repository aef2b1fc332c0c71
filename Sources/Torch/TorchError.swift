import CTorch

/// Errors raised at the boundaries of the Torch module: failed libtorch calls caught with
/// ``catchingTorchErrors(_:)``, checkpoint files, device selection and parameter loading.
public enum TorchError: Error, CustomStringConvertible, Equatable {
    /// libtorch refused an operation; the message is libtorch's own.
    case libtorch(String)
    case invalidArgument(String)
    /// A checkpoint or parameter file could not be used; `file` names it, `key` the tensor when known.
    case checkpoint(file: String, key: String?, reason: String)
    case missingKeys([String])
    case unexpectedKeys([String])
    case shapeMismatch(key: String, expected: [Int], got: [Int])
    /// A process group or launched worker failed; the message names the rank (e.g.
    /// "rank 1: allreduce timed out after 30 s", "rank 1 exited with status 3").
    case distributed(String)

    public var description: String {
        switch self {
        case .libtorch(let message): "libtorch: \(message)"
        case .invalidArgument(let message): message
        case .checkpoint(let file, let key, let reason):
            if let key { "\(file): tensor '\(key)': \(reason)" } else { "\(file): \(reason)" }
        case .missingKeys(let keys): "missing keys: \(keys.joined(separator: ", "))"
        case .unexpectedKeys(let keys): "unexpected keys: \(keys.joined(separator: ", "))"
        case .shapeMismatch(let key, let expected, let got):
            "shape mismatch for '\(key)': expected \(expected), got \(got)"
        case .distributed(let message): message
        }
    }
}

/// Runs `body` so that a failing libtorch op does not trap: the first failure is recorded, later
/// ops see undefined tensors, and the error is thrown when `body` returns.
///
/// Outside this scope a failing op is a programming error and stops the process with
/// libtorch's message. Use it at boundaries where inputs come from users (a model config that
/// yields incompatible shapes, a checkpoint, a CLI command).
///
/// ```swift
/// let y = try catchingTorchErrors { a.matmul(b) }   // throws TorchError.libtorch("mat1 and mat2 shapes cannot be multiplied …")
/// ```
public func catchingTorchErrors<R>(_ body: () throws -> R) throws -> R {
    ct_capture_begin()
    var ended = false
    defer { if !ended { endCapture() } }
    let result = try body()
    ended = true
    if let message = endCapture() { throw TorchError.libtorch(message) }
    return result
}

@discardableResult
private func endCapture() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    guard ct_capture_end(&buffer, buffer.count) != 0 else { return nil }
    return string(fromCBuffer: buffer)
}

/// The message of the last failed shim call on this thread.
@usableFromInline
func lastErrorMessage() -> String {
    guard let message = ct_last_error() else { return "unknown error" }
    return String(cString: message)
}

/// Handles a failed shim call in an op: records it inside ``catchingTorchErrors(_:)``, traps otherwise.
@usableFromInline
func opFailed(_ op: StaticString) {
    let message = lastErrorMessage()
    if ct_capture_active() != 0 {
        ct_capture_record("\(op): \(message)")
    } else {
        fatalError("libtorch: \(op): \(message)")
    }
}

/// Decodes a NUL-terminated C string held in a Swift array.
@usableFromInline
func string(fromCBuffer buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
