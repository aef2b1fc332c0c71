import CTorch

/// Where a tensor's storage lives.
public enum Device: Sendable, Hashable, Codable, CustomStringConvertible {
    case cpu
    case cuda(Int)

    /// Whether libtorch was built with CUDA and sees at least one GPU.
    public static var cudaIsAvailable: Bool { ct_cuda_is_available() != 0 }

    /// Number of visible CUDA devices (0 without CUDA).
    public static var cudaDeviceCount: Int { Int(ct_cuda_device_count()) }

    /// The first GPU when there is one, the CPU otherwise.
    public static var best: Device { cudaIsAvailable ? .cuda(0) : .cpu }

    /// Parses `cpu`, `cuda`, `cuda:N` or `auto` (= ``best``).
    ///
    /// - Throws: ``TorchError/invalidArgument(_:)`` for an unknown name, and for a CUDA device
    ///   this build or machine does not have (a CPU-only libtorch, no visible GPU, or an index
    ///   beyond the GPUs seen), naming what is available.
    public init(parsing text: String) throws(TorchError) {
        switch text {
        case "cpu": self = .cpu
        case "cuda": self = .cuda(0)
        case "auto": self = .best
        default:
            if text.hasPrefix("cuda:"), let index = Int(text.dropFirst(5)), index >= 0 {
                self = .cuda(index)
            } else {
                throw TorchError.invalidArgument("unknown device '\(String(text.prefix(40)))' (expected cpu, cuda, cuda:N or auto)")
            }
        }
        if case .cuda(let index) = self {
            guard Device.cudaIsAvailable else {
                throw TorchError.invalidArgument(
                    "device '\(text)': this libtorch build or machine has no CUDA GPU; use --device cpu "
                        + "(or install the CUDA build with `make setup GPU=1` on a machine with a GPU)")
            }
            guard index < Device.cudaDeviceCount else {
                throw TorchError.invalidArgument(
                    "device '\(text)': only \(Device.cudaDeviceCount) CUDA device(s) are visible (cuda:0…cuda:\(Device.cudaDeviceCount - 1))")
            }
        }
    }

    var code: (Int32, Int32) {
        switch self {
        case .cpu: (Int32(CT_DEVICE_CPU), 0)
        case .cuda(let index): (Int32(CT_DEVICE_CUDA), Int32(index))
        }
    }

    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .cuda(let index): "cuda:\(index)"
        }
    }
}
