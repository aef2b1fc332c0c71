/// Errors from reading, decoding, encoding and writing images. Every message names the file.
public enum ImageError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file could not be read.
    case readFailed(path: String, reason: String)
    /// The bytes are neither JPEG nor PNG (checked by magic bytes).
    case unknownFormat(path: String)
    /// libjpeg or libpng rejected the data (corrupt or truncated file).
    case decodeFailed(path: String, reason: String)
    /// The header declares more pixels than ``ImageLimits/maxPixels``; nothing was decoded.
    case tooLarge(path: String, reason: String)
    /// A limit setting (such as `CLIPGUARD_MAX_IMAGE_PIXELS`) is not usable.
    case invalidSetting(String)
    /// Encoding failed; `path` is the destination, or `"<memory>"`.
    case encodeFailed(path: String, reason: String)
    /// The destination's extension is not `.png`, `.jpg` or `.jpeg`.
    case unsupportedExtension(path: String)
    /// Writing or renaming the file failed.
    case writeFailed(path: String, reason: String)

    /// The file the error concerns.
    public var path: String {
        switch self {
        case .readFailed(let p, _), .unknownFormat(let p), .decodeFailed(let p, _),
            .encodeFailed(let p, _), .unsupportedExtension(let p), .writeFailed(let p, _), .tooLarge(let p, _):
            return p
        case .invalidSetting: return ""
        }
    }

    /// The description without the leading "path: ", for messages that name the file already.
    public var reason: String {
        let text = description
        return !path.isEmpty && text.hasPrefix(path + ": ") ? String(text.dropFirst(path.count + 2)) : text
    }

    public var description: String {
        switch self {
        case .readFailed(let p, let r): return "\(p): cannot read image file: \(r)"
        case .unknownFormat(let p): return "\(p): not a JPEG or PNG file (unrecognised magic bytes)"
        case .decodeFailed(let p, let r): return "\(p): corrupt or truncated image: \(r)"
        case .tooLarge(let p, let r):
            return "\(p): image too large (\(r)); raise \(ImageLimits.environmentVariable) (0 = no limit) if the file is trusted"
        case .invalidSetting(let message): return message
        case .encodeFailed(let p, let r): return "\(p): cannot encode image: \(r)"
        case .unsupportedExtension(let p): return "\(p): unsupported image extension (use .png, .jpg or .jpeg)"
        case .writeFailed(let p, let r): return "\(p): cannot write image file: \(r)"
        }
    }
}
