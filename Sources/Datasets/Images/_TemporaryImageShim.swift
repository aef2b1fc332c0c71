// TEMPORARY: a minimal stand-in for the image I/O that another branch writes in
// Sources/Datasets/Images/. The lead deletes this file at merge. It decodes and encodes 8-bit PNG
// only (JPEG input is rejected), resizes by nearest neighbour, and exists so that the data sets
// and loader compile and can be tested before the real implementation lands.
import CCodecs

public struct RGBImage: Sendable, Hashable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]
    public init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width; self.height = height; self.pixels = pixels
    }
}

public enum ImageError: Error, CustomStringConvertible {
    case unreadable(String, String)
    case corrupt(String, String)
    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): \(reason)"
        case let .corrupt(path, reason): return "\(path): \(reason)"
        }
    }
}

public enum Normalization: Sendable { case clip, unit }

public protocol ImageAugmentation: Sendable {
    func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage
}

public func decodeImage(atPath path: String, minimumSide: Int? = nil) throws(ImageError) -> RGBImage {
    let bytes: [UInt8]
    do { bytes = try readWholeFile(path) } catch { throw .unreadable(path, error.description) }
    return try decodeImage(bytes: bytes, name: path, minimumSide: minimumSide)
}

public func decodeImage(bytes: [UInt8], name: String, minimumSide: Int? = nil) throws(ImageError) -> RGBImage {
    if bytes.count >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8 {
        throw .corrupt(name, "JPEG is not supported by the temporary image shim")
    }
    guard bytes.count > 8, bytes[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
        throw .corrupt(name, "not a PNG or JPEG file")
    }
    func be32(_ i: Int) -> Int {
        Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
    }
    var pos = 8, width = 0, height = 0, colorType = -1
    var idat: [UInt8] = []
    var ended = false
    while pos + 8 <= bytes.count {
        let length = be32(pos)
        let type = String(decoding: bytes[(pos + 4)..<(pos + 8)], as: UTF8.self)
        guard pos + 12 + length <= bytes.count else { throw .corrupt(name, "truncated PNG chunk \(type)") }
        let body = bytes[(pos + 8)..<(pos + 8 + length)]
        if type == "IHDR" {
            width = be32(pos + 8); height = be32(pos + 12)
            guard body[body.startIndex + 8] == 8 else { throw .corrupt(name, "shim decodes 8-bit PNG only") }
            colorType = Int(body[body.startIndex + 9])
        } else if type == "IDAT" {
            idat += body
        } else if type == "IEND" {
            ended = true; break
        }
        pos += 12 + length
    }
    guard ended else { throw .corrupt(name, "truncated PNG (no IEND)") }
    let channels: Int
    switch colorType {
    case 0: channels = 1
    case 2: channels = 3
    case 4: channels = 2
    case 6: channels = 4
    default: throw .corrupt(name, "shim does not decode PNG colour type \(colorType)")
    }
    let raw: [UInt8]
    do { raw = try gunzip(idat) } catch { throw .corrupt(name, error.reason) }
    let stride = width * channels
    guard raw.count >= height * (stride + 1) else { throw .corrupt(name, "short PNG image data") }
    var plane = [UInt8](repeating: 0, count: height * stride)
    for y in 0..<height {
        let filter = raw[y * (stride + 1)]
        for x in 0..<stride {
            let value = raw[y * (stride + 1) + 1 + x]
            let a = x >= channels ? Int(plane[y * stride + x - channels]) : 0
            let b = y > 0 ? Int(plane[(y - 1) * stride + x]) : 0
            let c = (x >= channels && y > 0) ? Int(plane[(y - 1) * stride + x - channels]) : 0
            let predictor: Int
            switch filter {
            case 0: predictor = 0
            case 1: predictor = a
            case 2: predictor = b
            case 3: predictor = (a + b) / 2
            case 4:
                let p = a + b - c
                let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                predictor = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
            default: throw .corrupt(name, "bad PNG filter \(filter)")
            }
            plane[y * stride + x] = UInt8(truncatingIfNeeded: Int(value) + predictor)
        }
    }
    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) {
        switch channels {
        case 1, 2:
            let g = plane[i * channels]
            rgb[i * 3] = g; rgb[i * 3 + 1] = g; rgb[i * 3 + 2] = g
        default:
            for k in 0..<3 { rgb[i * 3 + k] = plane[i * channels + k] }
        }
    }
    let image = RGBImage(width: width, height: height, pixels: rgb)
    if let minimumSide, min(width, height) < minimumSide {
        throw .corrupt(name, "image \(width)x\(height) is smaller than \(minimumSide) px")
    }
    return image
}

extension RGBImage {
    public func pngData() throws(ImageError) -> [UInt8] {
        var raw = [UInt8](); raw.reserveCapacity(height * (width * 3 + 1))
        for y in 0..<height {
            raw.append(0)
            raw += pixels[(y * width * 3)..<((y + 1) * width * 3)]
        }
        let compressed: [UInt8]
        do { compressed = try zlibDeflate(raw) } catch { throw .corrupt("png", error.reason) }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func chunk(_ type: String, _ body: [UInt8]) {
            let typeBytes = Array(type.utf8)
            let n = UInt32(body.count)
            out += [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
            out += typeBytes + body
            let crc = (typeBytes + body).withUnsafeBufferPointer { cc_crc32(0, $0.baseAddress, $0.count) }
            out += [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
        }
        let w = UInt32(width), h = UInt32(height)
        chunk("IHDR", [UInt8(w >> 24), UInt8(w >> 16 & 0xFF), UInt8(w >> 8 & 0xFF), UInt8(w & 0xFF),
                       UInt8(h >> 24), UInt8(h >> 16 & 0xFF), UInt8(h >> 8 & 0xFF), UInt8(h & 0xFF), 8, 2, 0, 0, 0])
        chunk("IDAT", compressed)
        chunk("IEND", [])
        return out
    }

    public func write(toPath path: String, jpegQuality: Int = 90) throws(ImageError) {
        guard path.lowercased().hasSuffix(".png") else { throw .unreadable(path, "shim writes PNG only") }
        let data = try pngData()
        do { try writeWholeFile(path, data) } catch { throw .unreadable(path, error.description) }
    }

    public func chwFloats(normalization: Normalization = .clip) -> [Float] {
        let mean: [Float] = normalization == .clip ? [0.48145466, 0.4578275, 0.40821073] : [0, 0, 0]
        let std: [Float] = normalization == .clip ? [0.26862954, 0.26130258, 0.27577711] : [1, 1, 1]
        var out = [Float](repeating: 0, count: width * height * 3)
        for c in 0..<3 {
            for i in 0..<(width * height) {
                out[c * width * height + i] = (Float(pixels[i * 3 + c]) / 255 - mean[c]) / std[c]
            }
        }
        return out
    }
}

public enum Preprocessing: Sendable {
    case resizeCenterCrop(size: Int), squareResize(size: Int)
    public func apply(_ image: RGBImage) -> RGBImage {
        let size: Int
        switch self {
        case let .resizeCenterCrop(s), let .squareResize(s): size = s
        }
        var out = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            for x in 0..<size {
                let sx = min(image.width - 1, x * image.width / size)
                let sy = min(image.height - 1, y * image.height / size)
                for c in 0..<3 { out[(y * size + x) * 3 + c] = image.pixels[(sy * image.width + sx) * 3 + c] }
            }
        }
        return RGBImage(width: size, height: size, pixels: out)
    }
}
