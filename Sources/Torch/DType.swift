import CTorch

/// Element type of a ``Tensor``.
public enum DType: Int32, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case float32 = 0, float64 = 1, bfloat16 = 2, float16 = 3
    case int64 = 4, int32 = 5, uint8 = 6, bool = 7, int8 = 8, int16 = 9

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .bfloat16, .float16, .int16: 2
        case .uint8, .bool, .int8: 1
        }
    }

    /// Whether the type holds floating-point values.
    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float64, .bfloat16, .float16: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        case .bfloat16: "bfloat16"
        case .float16: "float16"
        case .int64: "int64"
        case .int32: "int32"
        case .uint8: "uint8"
        case .bool: "bool"
        case .int8: "int8"
        case .int16: "int16"
        }
    }
}

/// A Swift scalar type that maps one-to-one onto a ``DType``, for moving data in and out of tensors.
public protocol TensorScalar: Sendable {
    static var dtype: DType { get }
}
extension Float: TensorScalar { public static var dtype: DType { .float32 } }
extension Double: TensorScalar { public static var dtype: DType { .float64 } }
extension Int64: TensorScalar { public static var dtype: DType { .int64 } }
extension Int32: TensorScalar { public static var dtype: DType { .int32 } }
extension UInt8: TensorScalar { public static var dtype: DType { .uint8 } }
extension Int8: TensorScalar { public static var dtype: DType { .int8 } }
extension Int16: TensorScalar { public static var dtype: DType { .int16 } }
extension Bool: TensorScalar { public static var dtype: DType { .bool } }
