import CCodecs
import Foundation

/// The container formats the codecs handle.
public enum ImageFormat: String, Sendable, Hashable, Codable {
    case jpeg, png

    /// The format of `bytes` from its magic bytes, or nil if it is neither.
    public static func sniff(_ bytes: [UInt8]) -> ImageFormat? {
        if bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF { return .jpeg }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if bytes.count >= 8 && Array(bytes[0..<8]) == png { return .png }
        return nil
    }

    /// The format implied by a path's extension (`.png`, `.jpg`, `.jpeg`, any case), or nil.
    public static func forPath(_ path: String) -> ImageFormat? {
        switch (path as NSString).pathExtension.lowercased() {
        case "png": return .png
        case "jpg", "jpeg": return .jpeg
        default: return nil
        }
    }
}

private let errorCapacity = 512

/// Calls a C codec function that reports failure with an error string; returns its code and message.
private func callCodec(_ body: (UnsafeMutablePointer<CChar>) -> Int32) -> (code: Int32, message: String)? {
    var buffer = [CChar](repeating: 0, count: errorCapacity)
    let rc = buffer.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    if rc == 0 { return nil }
    let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    return (rc, message.isEmpty ? "unknown error" : message)
}

/// Decodes a JPEG or PNG file to RGB (the format is sniffed from its magic bytes).
///
/// PNG transparency is composited on white. With `minimumSide`, a JPEG is decoded with
/// libjpeg's DCT-domain scaling (1/2, 1/4 or 1/8 by default, M/8 with `scaling: .eighths`), the
/// largest reduction that keeps the shorter side ≥ `minimumSide`; this is much faster when the
/// image is later resized to that size.
///
/// ```swift
/// let image = try decodeImage(atPath: "cat.jpg", minimumSide: 224)
/// ```
/// - Throws: ``ImageError`` naming `path` if the file cannot be read, is not JPEG/PNG, is corrupt
///   or truncated, or declares more pixels than ``ImageLimits/maxPixels``.
public func decodeImage(atPath path: String, minimumSide: Int? = nil, scaling: JPEGScaling = .powersOfTwo) throws(ImageError) -> RGBImage {
    let bytes: [UInt8]
    do {
        bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe))
    } catch {
        throw .readFailed(path: path, reason: "\(error.localizedDescription)")
    }
    return try decodeImage(bytes: bytes, name: path, minimumSide: minimumSide, scaling: scaling)
}

/// The DCT-domain scales a JPEG may be decoded at when a minimum side is given.
public enum JPEGScaling: Sendable, Hashable {
    /// 1/2, 1/4 or 1/8, as PIL's `Image.draft` (the pixels PIL's draft mode gives).
    case powersOfTwo
    /// M/8 for M = 1…7 (libjpeg-turbo): the smallest decode that keeps the minimum side, e.g.
    /// 5/8 of a 500×375 photo for a 224-px model (313×235) where 1/2 would be too small. Faster
    /// than a full decode and a smaller resize after it, but the pixels differ from PIL's full
    /// decode + bicubic resize (DCT-domain downscaling instead of the first part of the filter).
    case eighths
}

/// Decodes JPEG or PNG bytes to RGB; `name` (a path or archive member) is used in error messages.
///
/// The header's size is checked against ``ImageLimits/maxPixels`` before any pixel buffer is
/// allocated.
///
/// - Throws: ``ImageError`` naming `name` if the bytes are not JPEG/PNG, are corrupt or truncated,
///   or declare more pixels than the limit (``ImageError/tooLarge(path:reason:)``).
/// ### See Also
/// ``decodeImage(atPath:minimumSide:)``
public func decodeImage(bytes: [UInt8], name: String, minimumSide: Int? = nil, scaling: JPEGScaling = .powersOfTwo) throws(ImageError) -> RGBImage {
    guard let format = ImageFormat.sniff(bytes) else { throw .unknownFormat(path: name) }
    var width: Int32 = 0, height: Int32 = 0
    var out: UnsafeMutablePointer<UInt8>? = nil
    let limit = UInt64(ImageLimits.maxPixels)
    let failure = bytes.withUnsafeBufferPointer { data in
        callCodec { err in
            switch format {
            case .jpeg:
                return cc_jpeg_decode(
                    data.baseAddress, data.count, Int32(clamping: minimumSide ?? 0), scaling == .eighths ? 1 : 0, limit,
                    &width, &height, &out, err, errorCapacity)
            case .png:
                return cc_png_decode(data.baseAddress, data.count, limit, &width, &height, &out, err, errorCapacity)
            }
        }
    }
    defer { cc_image_free(out) }
    if let failure {
        if failure.code == CC_IMAGE_TOO_LARGE { throw .tooLarge(path: name, reason: failure.message) }
        throw .decodeFailed(path: name, reason: failure.message)
    }
    let count = Int(width) * Int(height) * 3
    let pixels = [UInt8](UnsafeBufferPointer(start: out, count: count))
    return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
}

extension RGBImage {
    /// The image encoded as an 8-bit RGB PNG (lossless).
    /// - Throws: ``ImageError/encodeFailed(path:reason:)`` for an empty image.
    public func pngData() throws(ImageError) -> [UInt8] {
        try encoded(format: .png, quality: 0, name: "<memory>")
    }

    /// The image encoded as a baseline JPEG, 4:2:0, at `quality` (1–100, libjpeg's scale).
    /// - Throws: ``ImageError/encodeFailed(path:reason:)`` for an empty image.
    public func jpegData(quality: Int = 90) throws(ImageError) -> [UInt8] {
        try encoded(format: .jpeg, quality: quality, name: "<memory>")
    }

    private func encoded(format: ImageFormat, quality: Int, name: String) throws(ImageError) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        let (w, h) = (Int32(width), Int32(height))
        let failure = pixels.withUnsafeBufferPointer { rgb in
            callCodec { err in
                switch format {
                case .png: return cc_png_encode(rgb.baseAddress, w, h, &out, &size, err, errorCapacity)
                case .jpeg:
                    return cc_jpeg_encode(
                        rgb.baseAddress, w, h, Int32(clamping: quality), &out, &size, err, errorCapacity)
                }
            }
        }
        defer { cc_image_free(out) }
        if let failure { throw .encodeFailed(path: name, reason: failure.message) }
        return [UInt8](UnsafeBufferPointer(start: out, count: size))
    }

    /// Writes the image as PNG or JPEG, chosen by the extension of `path`, atomically: the bytes
    /// go to a temporary file in the same folder, which is then renamed over `path`.
    ///
    /// - Throws: ``ImageError`` naming `path` for an unknown extension or a failed write.
    public func write(toPath path: String, jpegQuality: Int = 90) throws(ImageError) {
        guard let format = ImageFormat.forPath(path) else { throw .unsupportedExtension(path: path) }
        let bytes = try encoded(format: format, quality: jpegQuality, name: path)
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw .writeFailed(path: path, reason: error.localizedDescription)
        }
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .writeFailed(path: path, reason: reason)
        }
    }
}
