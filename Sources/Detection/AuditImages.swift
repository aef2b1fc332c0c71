import Attacks
import Datasets
import Foundation
import Torch

/// Unlabelled images read from a folder for `clipguard audit` and `clipguard screen`: every
/// PNG/JPEG file below the folder (sorted by path), a seeded sample of at most `limit`, each resized
/// and centre-cropped to the model's input size.
public struct AuditImageSet: Sendable {
    /// The files read, in the order of the images.
    public var paths: [String]
    /// `[H, W, 3]` images at the model's input size.
    public var images: [RGBImage]
    /// Image files that could not be decoded (skipped), with the reason.
    public var skipped: [String]

    /// The image files below `folder`, sorted by path.
    /// - Throws: one sentence naming the folder when it does not exist, is a file, or holds no image.
    public static func listFiles(in folder: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) else {
            throw DataError.invalidArgument("\(folder): no such folder")
        }
        guard isDirectory.boolValue else { throw DataError.invalidArgument("\(folder) is a file; give a folder of PNG or JPEG images") }
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else {
            throw DataError.invalidArgument("\(folder): cannot list the folder")
        }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            if ImageFormat.forPath(relative) != nil { files.append((folder as NSString).appendingPathComponent(relative)) }
        }
        guard !files.isEmpty else { throw DataError.invalidArgument("\(folder) holds no PNG or JPEG images") }
        return files.sorted()
    }

    /// Reads a seeded sample of at most `limit` of `files` (all when `limit` is nil), in path order.
    ///
    /// - Parameters:
    ///   - size: the model's input side; images are resized (shorter side) and centre-cropped.
    /// - Throws: when none of the chosen files can be decoded.
    public static func read(files: [String], limit: Int?, size: Int, seed: UInt64) throws -> AuditImageSet {
        var chosen = files
        if let limit, limit < files.count {
            var rng = SplitMix64(seed: seed)
            for i in 0..<limit { chosen.swapAt(i, i + Int(rng.next() % UInt64(chosen.count - i))) }
            chosen = Array(chosen[0..<limit]).sorted()
        }
        var set = AuditImageSet(paths: [], images: [], skipped: [])
        let preprocessing = Preprocessing.resizeCenterCrop(size: size)
        for path in chosen {
            do {
                set.images.append(preprocessing.apply(try decodeImage(atPath: path, minimumSide: size)))
                set.paths.append(path)
            } catch {
                set.skipped.append("\(error)")
            }
        }
        guard !set.images.isEmpty else {
            throw DataError.invalidArgument("none of the \(chosen.count) images could be read (first: \(set.skipped.first ?? "?"))")
        }
        return set
    }

    /// The images as `[N, 3, S, S]` float32 pixel values in [0, 1] (not normalised).
    public func tensor(transform: ((RGBImage, Int) throws -> RGBImage)? = nil) rethrows -> Tensor {
        guard let first = images.first else { return Tensor.zeros([0, 3, 1, 1]) }
        let plane = 3 * first.width * first.height
        var buffer = [Float](repeating: 0, count: images.count * plane)
        let identity = Normalization(mean: [0, 0, 0], std: [1, 1, 1])
        for (i, image) in images.enumerated() {
            let input = try transform?(image, i) ?? image
            input.writeCHWFloats(into: &buffer, offset: i * plane, normalization: identity)
        }
        return Tensor(buffer, shape: [images.count, 3, first.height, first.width])
    }
}

/// `[N, 3, H, W]` pixel values in [0, 1] normalised with CLIP's mean and standard deviation
/// (what ``CLIP/CLIPModel/encodeImage(_:training:)`` expects), differentiably.
public func clipNormalized(_ pixels: Tensor) -> Tensor {
    let mean = Tensor(Normalization.clip.mean.map(Double.init), shape: [1, 3, 1, 1]).to(dtype: pixels.dtype, device: pixels.device)
    let std = Tensor(Normalization.clip.std.map(Double.init), shape: [1, 3, 1, 1]).to(dtype: pixels.dtype, device: pixels.device)
    return (pixels - mean) / std
}
