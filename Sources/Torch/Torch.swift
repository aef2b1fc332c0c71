import CTorch

/// The libtorch release the shim was built against, as reported by libtorch itself.
public var torchVersion: String {
    var buffer = [CChar](repeating: 0, count: 64)
    _ = ct_torch_version(&buffer, buffer.count)
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
