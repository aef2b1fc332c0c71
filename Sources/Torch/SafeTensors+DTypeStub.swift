// TEMPORARY: stands in for the lead's `DType` (Sources/Torch/Tensor*.swift) until it is merged.
// Delete this file when merging main.

/// A tensor element type.
public enum DType: Int32, Sendable, CaseIterable {
    case float32, float64, bfloat16, float16, int64, int32, uint8, bool, int8, int16

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .bfloat16, .float16, .int16: 2
        case .uint8, .bool, .int8: 1
        }
    }
}
