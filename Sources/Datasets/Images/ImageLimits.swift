import Foundation

/// Limits that protect the image decoders from hostile files ("decompression bombs").
///
/// A JPEG or PNG header can declare any size up to 65,535 × 65,535 (JPEG) or 2³¹ − 1 per side
/// (PNG) in a file of a few hundred bytes; decoding it would allocate gigabytes. Every decoder
/// reads the header first and refuses an image whose width × height exceeds ``maxPixels``
/// before it allocates a pixel buffer, with ``ImageError/tooLarge(path:reason:)``.
///
/// The default, 178,956,970 pixels (a 13,377 × 13,377 square), is PIL's `MAX_IMAGE_PIXELS`;
/// the environment variable `CLIPGUARD_MAX_IMAGE_PIXELS` sets another at start-up (`0`
/// disables the check), and ``maxPixels`` may be changed at any time.
///
/// ```swift
/// ImageLimits.maxPixels = 50_000_000   // refuse anything above 50 megapixels
/// ```
public enum ImageLimits {
    /// PIL's default `Image.MAX_IMAGE_PIXELS`.
    public static let defaultMaxPixels = 178_956_970

    /// The environment variable read at start-up.
    public static let environmentVariable = "CLIPGUARD_MAX_IMAGE_PIXELS"

    /// The largest width × height any decoder accepts; 0 means no limit.
    public static var maxPixels: Int {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = max(0, newValue) } }
    }

    /// The limit given by `CLIPGUARD_MAX_IMAGE_PIXELS` in `environment`, else the default.
    /// - Throws: ``ImageError/invalidSetting(_:)`` when the variable is not a non-negative integer.
    public static func limit(fromEnvironment environment: [String: String]) throws(ImageError) -> Int {
        guard let text = environment[environmentVariable] else { return defaultMaxPixels }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 0 else {
            throw .invalidSetting(
                "\(environmentVariable)=\(text) is not a pixel count; give a non-negative integer (0 = no limit)")
        }
        return value
    }

    private static let storage = LockedValue(
        (try? limit(fromEnvironment: ProcessInfo.processInfo.environment)) ?? defaultMaxPixels)
}

/// A value guarded by a lock, for process-wide settings read from many threads.
final class LockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
