import CLIP
import Datasets
import Foundation
import Torch
import Training

/// Rows `start..<start + count` of another data set, renumbered from 0.
struct RowRange: ImageTextDataset {
    let base: any ImageTextDataset
    let start: Int
    let count: Int
    var hasLabels: Bool { base.hasLabels }
    func record(at index: Int) throws(DataError) -> DataRecord { try base.record(at: start + index) }
    func sample(at index: Int) throws(DataError) -> DataSample { try base.sample(at: start + index) }
}

/// Cell hashes computed on the loader's worker threads, by chunk position.
final class CellStore: @unchecked Sendable {
    private let lock = NSLock()
    private var cells: [Int: [UInt32]] = [:]
    func set(_ index: Int, _ value: [UInt32]) { lock.lock(); cells[index] = value; lock.unlock() }
    func take(_ index: Int) -> [UInt32]? { lock.lock(); defer { lock.unlock() }; return cells.removeValue(forKey: index) }
}

/// What the feature pass computes for one chunk of rows, saved as `DIR/cache/chunk_NNNNNN.safetensors`.
///
/// Tensors: `rows` `[n]` int64 (the data-set rows whose image loaded), `image` `[n, D]` float32
/// (normalised image features of the first model), `similarity_M` `[n]` float32 (cosine of
/// image and caption under model M), `class` `[n]` int64 (zero-shot class of the caption, when
/// class names are known) or `text` `[n, D]` float32 (normalised caption features, otherwise),
/// `cells` `[n, 225]` int32 (``TriggerConsistency/cellHashes(_:)``, bit pattern of the UInt32s).
struct ChunkFeatures {
    var rows: [Int] = []
    var image: [Float] = []
    var similarity: [[Float]]
    var classes: [Int]?
    var text: [Float]?
    var cells: [UInt32] = []

    init(models: Int, withClasses: Bool) {
        similarity = Array(repeating: [], count: models)
        classes = withClasses ? [] : nil
        text = withClasses ? nil : []
    }

    func write(toPath path: String, dimension: Int) throws {
        let n = rows.count
        var tensors: [(String, Tensor)] = [
            ("rows", Tensor(rows.map(Int64.init), shape: [n])),
            ("image", Tensor(image, shape: [n, dimension])),
            ("cells", Tensor(cells.map { Int32(bitPattern: $0) }, shape: [n, TriggerConsistency.positions])),
        ]
        for (m, values) in similarity.enumerated() { tensors.append(("similarity_\(m)", Tensor(values, shape: [n]))) }
        if let classes { tensors.append(("class", Tensor(classes.map(Int64.init), shape: [n]))) }
        if let text { tensors.append(("text", Tensor(text, shape: [n, dimension]))) }
        let temporary = path + ".partial"
        try saveSafeTensors(tensors, toPath: temporary)
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }

    static func read(path: String, models: Int, withClasses: Bool, dimension: Int) throws -> ChunkFeatures {
        let file = try loadSafeTensors(atPath: path).tensors
        func tensor(_ name: String) throws -> Tensor {
            guard let t = file[name] else { throw DetectionError.cache(path: path, reason: "has no tensor \"\(name)\"") }
            return t
        }
        var chunk = ChunkFeatures(models: models, withClasses: withClasses)
        chunk.rows = try tensor("rows").toArray(as: Int64.self).map(Int.init)
        let n = chunk.rows.count
        chunk.image = try tensor("image").toArray(as: Float.self)
        chunk.cells = try tensor("cells").toArray(as: Int32.self).map { UInt32(bitPattern: $0) }
        for m in 0..<models { chunk.similarity[m] = try tensor("similarity_\(m)").toArray(as: Float.self) }
        if withClasses { chunk.classes = try tensor("class").toArray(as: Int64.self).map(Int.init) } else {
            chunk.text = try tensor("text").toArray(as: Float.self)
        }
        let sizes = [chunk.image.count, chunk.cells.count, chunk.text?.count ?? n * dimension]
            + chunk.similarity.map(\.count) + [chunk.classes?.count ?? n]
        let expected = [n * dimension, n * TriggerConsistency.positions, n * dimension] + Array(repeating: n, count: models + 1)
        guard sizes == expected else { throw DetectionError.cache(path: path, reason: "tensor sizes do not agree with its \(n) rows") }
        return chunk
    }
}

/// The models that score the pairs, and how to run them.
struct Scorers {
    var models: [CLIPModel]
    var tokenizer: CLIPTokenizer
    var device: Device
    /// `[D, C]` zero-shot class weights of the first model, when class names are known.
    var classWeights: Tensor?

    var imageSize: Int { models[0].config.vision.imageSize }
    var dimension: Int { models[0].config.embedDim }

    /// Features of one batch for every model.
    func process(_ batch: Batch, into chunk: inout ChunkFeatures) {
        let n = batch.count
        let images = Tensor(batch.images, shape: [n, 3, imageSize, imageSize]).to(device)
        noGrad {
            for (m, model) in models.enumerated() {
                let context = model.config.text.contextLength
                let ids = tokenizer.tokenize(batch: batch.captions, contextLength: context).map(Int64.init)
                let tokens = Tensor(ids, shape: [n, context]).to(device)
                let image = model.encodeImage(images, training: false).to(.float32).normalized(dim: -1)
                let text = model.encodeText(tokens, training: false).to(.float32).normalized(dim: -1)
                chunk.similarity[m] += (image * text).sum(dim: 1).to(.cpu).toArray(as: Float.self)
                guard m == 0 else { continue }
                chunk.image += image.to(.cpu).toArray(as: Float.self)
                if let classWeights {
                    chunk.classes! += text.matmul(classWeights).argmax(dim: 1).to(.cpu).toArray(as: Int64.self).map(Int.init)
                } else {
                    chunk.text! += text.to(.cpu).toArray(as: Float.self)
                }
            }
        }
    }
}

/// The streaming feature pass: rows are read chunk by chunk (images never outlive their batch),
/// every chunk's features are saved in `cacheFolder`, and chunks already there are skipped, so a
/// stopped run continues where it stopped.
struct FeaturePass {
    let dataset: any ImageTextDataset
    let scorers: Scorers
    let cacheFolder: String
    let chunkRows: Int
    let batchSize: Int
    let workers: Int
    let progress: DetectionProgress

    var chunkCount: Int { (dataset.count + chunkRows - 1) / chunkRows }
    func chunkPath(_ c: Int) -> String { cacheFolder + "/chunk_" + String(format: "%06d", c) + ".safetensors" }

    /// Computes the missing chunks; returns how many images failed to load in this session.
    func run() throws -> (failed: Int, examples: [String]) {
        var failed = 0, examples: [String] = []
        var done = (0..<chunkCount).filter { FileManager.default.fileExists(atPath: chunkPath($0)) }
            .reduce(0) { $0 + min(chunkRows, dataset.count - $1 * chunkRows) }
        if done > 0 { progress.log("feature cache: \(done) of \(dataset.count) rows already computed, continuing") }
        let started = Date(), doneBefore = done
        for c in 0..<chunkCount where !FileManager.default.fileExists(atPath: chunkPath(c)) {
            let start = c * chunkRows, count = min(chunkRows, dataset.count - start)
            let cells = CellStore()
            let loader = try DataLoader(
                dataset: RowRange(base: dataset, start: start, count: count),
                config: LoaderConfig(
                    batchSize: batchSize, shuffle: false, workers: workers, maxFailureFraction: 1,
                    preprocessing: .resizeCenterCrop(size: scorers.imageSize), reportedFailures: 5,
                    afterPreprocessing: { image, index in
                        cells.set(index, TriggerConsistency.cellHashes(image))
                        return image
                    }))
            var chunk = ChunkFeatures(models: scorers.models.count, withClasses: scorers.classWeights != nil)
            let epoch = loader.epoch(0)
            while let batch = try epoch.next() {
                scorers.process(batch, into: &chunk)
                for index in batch.indices {
                    chunk.rows.append(start + index)
                    chunk.cells += cells.take(index) ?? Array(repeating: 0, count: TriggerConsistency.positions)
                }
                let seen = done + (batch.indices.last.map { $0 + 1 } ?? 0)
                progress.update(done: seen, total: dataset.count, since: started, doneBefore: doneBefore)
            }
            failed += epoch.report.skipped
            examples += epoch.report.failures.prefix(max(0, 5 - examples.count)).map(\.description)
            try chunk.write(toPath: chunkPath(c), dimension: scorers.dimension)
            done += count
        }
        progress.finish()
        return (failed, examples)
    }
}

/// A progress bar for the feature pass: a redrawn line on a terminal, a line every 10% otherwise.
final class DetectionProgress {
    private let isTerminal: Bool
    private let quiet: Bool
    private var lastDraw = Date.distantPast
    private var lastDecile = -1
    private let start = Date()

    init(quiet: Bool = false, forceTerminal: Bool? = nil) {
        isTerminal = forceTerminal ?? stderrIsTerminal()
        self.quiet = quiet
    }

    func update(done: Int, total: Int, since: Date, doneBefore: Int) {
        guard !quiet, total > 0 else { return }
        let elapsed = Date().timeIntervalSince(since)
        let rate = elapsed > 0 ? Double(done - doneBefore) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : .nan
        let text = "features \(done)/\(total) rows  \(Int(rate)) rows/s  ETA \(formatDuration(eta))"
        if isTerminal {
            guard Date().timeIntervalSince(lastDraw) > 0.2 || done == total else { return }
            lastDraw = Date()
            let width = 24, filled = width * done / total
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[2K[\(bar)] \(text)".utf8))
        } else if 10 * done / total > lastDecile {
            lastDecile = 10 * done / total
            log(text)
        }
    }

    func finish() { if isTerminal && !quiet { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) } }

    func log(_ line: String) {
        guard !quiet else { return }
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        FileHandle.standardError.write(Data("[\(formatDuration(Date().timeIntervalSince(start)))] \(line)\n".utf8))
    }
}

/// Errors of `clipguard detect`, each naming the file or setting at fault.
public enum DetectionError: Error, CustomStringConvertible {
    case invalidSetting(String)
    case cache(path: String, reason: String)
    case data(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidSetting(let text): return text
        case let .cache(path, reason): return "\(path): \(reason)"
        case let .data(path, reason): return "\(path): \(reason)"
        }
    }
}
