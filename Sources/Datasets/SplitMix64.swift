/// A small, fast, seedable random number generator (Steele, Lea & Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA 2014). Every random choice in the data pipeline,
/// the attacks and the defences draws from one of these, so that a seed reproduces a run.
///
/// ```swift
/// var rng = SplitMix64(seed: 42)
/// let coin = Bool.random(using: &rng)
/// ```
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable, Codable {
    /// The generator's whole state; saving it and restoring it resumes the stream exactly.
    public var state: UInt64

    /// Creates a generator whose stream is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A generator for an independent sub-stream, e.g. one per epoch or per data item:
    /// `SplitMix64(seed: 7).derived(epoch)` differs from `.derived(epoch + 1)`.
    public func derived(_ key: UInt64) -> SplitMix64 {
        var mixer = SplitMix64(seed: state ^ (key &* 0xD6E8_FEB8_6659_FD93))
        return SplitMix64(seed: mixer.next())
    }

    /// A uniform `Float` in [0, 1) with 24 random bits.
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// A uniform `Double` in [0, 1) with 53 random bits.
    public mutating func nextUnitDouble() -> Double { Double(next() >> 11) * 0x1p-53 }
}
