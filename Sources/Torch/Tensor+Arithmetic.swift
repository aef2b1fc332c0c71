import CTorch

@usableFromInline
enum BinaryOp: Int32 {
    case add = 0, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, logicalAnd, logicalOr
    case remainder, atan2, floorDivide
}

@usableFromInline
enum UnaryOp: Int32 {
    case neg = 0, exp, log, sqrt, rsqrt, abs, sin, cos, tanh, sigmoid, relu, gelu, geluTanh, quickGELU
    case sign, floor, ceil, round, reciprocal, square, logicalNot, erf, isnan, isfinite, log1p, expm1, silu
}

extension Tensor {
    @inlinable
    func binary(_ op: BinaryOp, _ other: Tensor) -> Tensor {
        Tensor.make("binary") { ct_binary($0, op.rawValue, handle, other.handle) }
    }

    @inlinable
    func binary(_ op: BinaryOp, _ scalar: Double) -> Tensor {
        Tensor.make("binary_scalar") { ct_binary_scalar($0, op.rawValue, handle, scalar) }
    }

    @inlinable
    func unary(_ op: UnaryOp) -> Tensor { Tensor.make("unary") { ct_unary($0, op.rawValue, handle) } }

    // MARK: Operators (broadcasting, as in PyTorch)

    public static func + (a: Tensor, b: Tensor) -> Tensor { a.binary(.add, b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.binary(.sub, b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.binary(.mul, b) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { a.binary(.div, b) }
    public static func + (a: Tensor, b: Double) -> Tensor { a.binary(.add, b) }
    public static func - (a: Tensor, b: Double) -> Tensor { a.binary(.sub, b) }
    public static func * (a: Tensor, b: Double) -> Tensor { a.binary(.mul, b) }
    public static func / (a: Tensor, b: Double) -> Tensor { a.binary(.div, b) }
    public static func + (a: Double, b: Tensor) -> Tensor { b.binary(.add, a) }
    public static func * (a: Double, b: Tensor) -> Tensor { b.binary(.mul, a) }
    public static func - (a: Double, b: Tensor) -> Tensor {
        Tensor.make("rsub") { ct_scalar_binary($0, BinaryOp.sub.rawValue, a, b.handle) }
    }
    public static func / (a: Double, b: Tensor) -> Tensor {
        Tensor.make("rdiv") { ct_scalar_binary($0, BinaryOp.div.rawValue, a, b.handle) }
    }
    public static prefix func - (a: Tensor) -> Tensor { a.unary(.neg) }

    /// Element-wise power.
    public func pow(_ exponent: Double) -> Tensor { binary(.pow, exponent) }
    public func pow(_ exponent: Tensor) -> Tensor { binary(.pow, exponent) }
    public func maximum(_ other: Tensor) -> Tensor { binary(.maximum, other) }
    public func minimum(_ other: Tensor) -> Tensor { binary(.minimum, other) }
    public func remainder(_ other: Double) -> Tensor { binary(.remainder, other) }
    public func floorDivide(_ other: Double) -> Tensor { binary(.floorDivide, other) }
    public func atan2(_ other: Tensor) -> Tensor { binary(.atan2, other) }

    // MARK: Comparisons (bool results)

    public func eq(_ other: Tensor) -> Tensor { binary(.eq, other) }
    public func ne(_ other: Tensor) -> Tensor { binary(.ne, other) }
    public func lt(_ other: Tensor) -> Tensor { binary(.lt, other) }
    public func le(_ other: Tensor) -> Tensor { binary(.le, other) }
    public func gt(_ other: Tensor) -> Tensor { binary(.gt, other) }
    public func ge(_ other: Tensor) -> Tensor { binary(.ge, other) }
    public func eq(_ other: Double) -> Tensor { binary(.eq, other) }
    public func ne(_ other: Double) -> Tensor { binary(.ne, other) }
    public func lt(_ other: Double) -> Tensor { binary(.lt, other) }
    public func le(_ other: Double) -> Tensor { binary(.le, other) }
    public func gt(_ other: Double) -> Tensor { binary(.gt, other) }
    public func ge(_ other: Double) -> Tensor { binary(.ge, other) }
    public func logicalAnd(_ other: Tensor) -> Tensor { binary(.logicalAnd, other) }
    public func logicalOr(_ other: Tensor) -> Tensor { binary(.logicalOr, other) }
    public func logicalNot() -> Tensor { unary(.logicalNot) }

    // MARK: Unary functions

    public func exp() -> Tensor { unary(.exp) }
    public func log() -> Tensor { unary(.log) }
    public func log1p() -> Tensor { unary(.log1p) }
    public func expm1() -> Tensor { unary(.expm1) }
    public func sqrt() -> Tensor { unary(.sqrt) }
    public func rsqrt() -> Tensor { unary(.rsqrt) }
    public func abs() -> Tensor { unary(.abs) }
    public func sin() -> Tensor { unary(.sin) }
    public func cos() -> Tensor { unary(.cos) }
    public func tanh() -> Tensor { unary(.tanh) }
    public func sigmoid() -> Tensor { unary(.sigmoid) }
    public func relu() -> Tensor { unary(.relu) }
    /// Exact (erf) GELU.
    public func gelu() -> Tensor { unary(.gelu) }
    /// GELU with the tanh approximation.
    public func geluTanh() -> Tensor { unary(.geluTanh) }
    /// `x * sigmoid(1.702 x)`, the activation of OpenAI's CLIP weights.
    public func quickGELU() -> Tensor { unary(.quickGELU) }
    public func silu() -> Tensor { unary(.silu) }
    public func sign() -> Tensor { unary(.sign) }
    public func floor() -> Tensor { unary(.floor) }
    public func ceil() -> Tensor { unary(.ceil) }
    public func rounded() -> Tensor { unary(.round) }
    public func reciprocal() -> Tensor { unary(.reciprocal) }
    public func square() -> Tensor { unary(.square) }
    public func erf() -> Tensor { unary(.erf) }
    public func isNaN() -> Tensor { unary(.isnan) }
    public func isFinite() -> Tensor { unary(.isfinite) }

    /// Clamps into `[min, max]`; either bound may be omitted.
    public func clamped(min lower: Double? = nil, max upper: Double? = nil) -> Tensor {
        Tensor.make("clamp") {
            ct_clamp($0, handle, lower ?? 0, upper ?? 0, lower == nil ? 0 : 1, upper == nil ? 0 : 1)
        }
    }

    /// `condition ? self : other`, element-wise with broadcasting.
    public func `where`(_ condition: Tensor, else other: Tensor) -> Tensor {
        Tensor.make("where") { ct_where($0, condition.handle, handle, other.handle) }
    }

    /// `value` where `mask` is true, `self` elsewhere.
    public func maskedFill(_ mask: Tensor, value: Double) -> Tensor {
        Tensor.make("masked_fill") { ct_masked_fill($0, handle, mask.handle, value) }
    }

    // MARK: In-place updates (use inside `noGrad {}` on parameters)

    /// `self += other * alpha`.
    public func addInPlace(_ other: Tensor, alpha: Double = 1) {
        mutate("add_") { ct_add_scaled_(handle, other.handle, alpha) }
    }
    public func subInPlace(_ other: Tensor) { mutate("sub_") { ct_binary_(BinaryOp.sub.rawValue, handle, other.handle) } }
    public func mulInPlace(_ other: Tensor) { mutate("mul_") { ct_binary_(BinaryOp.mul.rawValue, handle, other.handle) } }
    public func divInPlace(_ other: Tensor) { mutate("div_") { ct_binary_(BinaryOp.div.rawValue, handle, other.handle) } }
    public func addInPlace(_ scalar: Double) { mutate("add_") { ct_binary_scalar_(BinaryOp.add.rawValue, handle, scalar) } }
    public func mulInPlace(_ scalar: Double) { mutate("mul_") { ct_binary_scalar_(BinaryOp.mul.rawValue, handle, scalar) } }
    public func divInPlace(_ scalar: Double) { mutate("div_") { ct_binary_scalar_(BinaryOp.div.rawValue, handle, scalar) } }
    /// `self += value * a * b`.
    public func addcmulInPlace(_ a: Tensor, _ b: Tensor, value: Double = 1) {
        mutate("addcmul_") { ct_addcmul_(handle, a.handle, b.handle, value) }
    }
    /// `self += value * a / b`.
    public func addcdivInPlace(_ a: Tensor, _ b: Tensor, value: Double = 1) {
        mutate("addcdiv_") { ct_addcdiv_(handle, a.handle, b.handle, value) }
    }
    /// `self += weight * (end - self)`.
    public func lerpInPlace(_ end: Tensor, weight: Double) { mutate("lerp_") { ct_lerp_(handle, end.handle, weight) } }
    public func clampInPlace(min lower: Double? = nil, max upper: Double? = nil) {
        mutate("clamp_") { ct_clamp_(handle, lower ?? 0, upper ?? 0, lower == nil ? 0 : 1, upper == nil ? 0 : 1) }
    }
    /// Copies `source` (broadcast, converted) into this tensor's storage.
    public func copyInPlace(from source: Tensor) { mutate("copy_") { ct_copy_(handle, source.handle) } }
    /// Makes this tensor use `source`'s storage, shape and strides while staying the same
    /// tensor for autograd and for everyone holding it (PyTorch's `tensor.data = source`), e.g. to
    /// move a parameter to channels-last memory order in place.
    public func setData(_ source: Tensor) { mutate("set_data") { ct_set_data(handle, source.handle) } }
    public func fillInPlace(_ value: Double) { mutate("fill_") { ct_fill_(handle, value) } }
    public func zeroInPlace() { mutate("zero_") { ct_zero_(handle) } }
}
