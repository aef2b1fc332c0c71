import Foundation

/// Settings of a ``DataLoader``.
public struct LoaderConfig: Sendable {
    /// Items per batch (the last batch of an epoch may be smaller unless `dropLast`; batches with
    /// failed items are smaller by the number that failed).
    public var batchSize: Int
    /// Whether to shuffle; the order is a function of `seed` and the epoch number.
    public var shuffle: Bool
    public var seed: UInt64
    /// This process's rank and the number of ranks: rank `r` takes positions `r, r+W, r+2W, …`
    /// of the epoch's order, so the ranks' shards are disjoint and cover the set.
    public var rank: Int
    public var worldSize: Int
    /// Whether to drop the last, partial batch of each epoch.
    public var dropLast: Bool
    /// Decoding threads; 0 decodes on the caller's thread.
    public var workers: Int
    /// The most batches decoded ahead of the consumer.
    public var prefetch: Int
    /// An epoch stops with ``DataError/tooManyFailures(_:allowedFraction:)`` once more than this
    /// fraction of its items failed.
    public var maxFailureFraction: Double
    /// Resizing to the batch's fixed size, applied after `imageAugmentation`.
    public var preprocessing: Preprocessing
    public var normalization: Normalization
    /// A seeded image augmentation applied before `preprocessing`, if any.
    public var imageAugmentation: (any ImageAugmentation)?
    /// Applied to each preprocessed (model-size) image with the item's data-set index, before
    /// normalisation: how evaluation adds an attack's trigger at the geometry the model sees.
    public var afterPreprocessing: (@Sendable (RGBImage, Int) -> RGBImage)?
    /// A seeded caption augmentation (e.g. ``EDA``), if any.
    public var captionAugmentation: (@Sendable (String, inout SplitMix64) -> String)?
    /// How many failures an epoch report lists in full.
    public var reportedFailures: Int

    public init(
        batchSize: Int = 64, shuffle: Bool = true, seed: UInt64 = 0, rank: Int = 0, worldSize: Int = 1,
        dropLast: Bool = false, workers: Int = 2, prefetch: Int = 4, maxFailureFraction: Double = 0.05,
        preprocessing: Preprocessing = .resizeCenterCrop(size: 224), normalization: Normalization = .clip,
        imageAugmentation: (any ImageAugmentation)? = nil,
        captionAugmentation: (@Sendable (String, inout SplitMix64) -> String)? = nil,
        reportedFailures: Int = 10, afterPreprocessing: (@Sendable (RGBImage, Int) -> RGBImage)? = nil
    ) {
        self.batchSize = batchSize; self.shuffle = shuffle; self.seed = seed; self.rank = rank
        self.worldSize = worldSize; self.dropLast = dropLast; self.workers = workers; self.prefetch = prefetch
        self.maxFailureFraction = maxFailureFraction; self.preprocessing = preprocessing
        self.normalization = normalization; self.imageAugmentation = imageAugmentation
        self.captionAugmentation = captionAugmentation; self.reportedFailures = reportedFailures
        self.afterPreprocessing = afterPreprocessing
    }
}

/// A batch handed from the loader's workers to the training loop.
public struct Batch: Sendable {
    /// Each item's index in the data set, `[N]`.
    public var indices: [Int]
    /// Images, `[N, 3, imageHeight, imageWidth]` float32, row-major, normalised.
    public var images: [Float]
    public var imageHeight: Int
    public var imageWidth: Int
    /// Captions, `[N]` (augmented if the loader augments captions).
    public var captions: [String]
    /// Class labels, `[N]`, when the data set has labels (-1 for an item without one).
    public var labels: [Int]?

    /// The number of items.
    public var count: Int { indices.count }
}

/// An item that was skipped, and why.
public struct ItemFailure: Sendable, Hashable, CustomStringConvertible {
    public var index: Int
    public var source: String
    public var reason: String
    public var description: String { "#\(index) \(source): \(reason)" }
}

/// What happened to one rank's items in one epoch.
public struct EpochDataReport: Sendable, Hashable, CustomStringConvertible {
    public var epoch: Int
    public var rank: Int
    /// Items tried so far (all of the rank's items once the epoch has ended).
    public var attempted: Int
    public var loaded: Int
    public var skipped: Int
    /// The first failures, in batch order (at most `LoaderConfig.reportedFailures`).
    public var failures: [ItemFailure]

    public var failureFraction: Double { attempted == 0 ? 0 : Double(skipped) / Double(attempted) }

    public var description: String {
        var text = "epoch \(epoch) rank \(rank): \(loaded) loaded, \(skipped) skipped"
        for failure in failures { text += "\n  skipped \(failure)" }
        if skipped > failures.count { text += "\n  … and \(skipped - failures.count) more" }
        return text
    }
}

/// Batches a data set for training or evaluation: seeded shuffling (a new order every epoch),
/// sharding by rank, decoding and augmentation on worker threads with bounded prefetch.
///
/// Batch contents depend only on the data, the configuration and the epoch, never on worker
/// timing: each item's augmentation draws from a generator derived from (seed, epoch, index), and
/// batches are delivered in order. Items that fail to load are skipped and listed in the epoch's
/// ``EpochDataReport``.
///
/// ```swift
/// let loader = try DataLoader(dataset: set, config: LoaderConfig(batchSize: 128, seed: 1))
/// let epoch = loader.epoch(0)
/// while let batch = try epoch.next() { train(batch) }
/// print(epoch.report)
/// ```
public struct DataLoader: Sendable {
    public let dataset: any ImageTextDataset
    public let config: LoaderConfig

    public init(dataset: any ImageTextDataset, config: LoaderConfig) throws(DataError) {
        guard config.batchSize > 0 else { throw .invalidArgument("batch size must be positive, got \(config.batchSize)") }
        guard config.worldSize > 0, (0..<config.worldSize).contains(config.rank) else {
            throw .invalidArgument("rank \(config.rank) is not in 0..<\(config.worldSize)")
        }
        guard config.workers >= 0, config.prefetch > 0 else {
            throw .invalidArgument("workers must be ≥ 0 and prefetch > 0 (got \(config.workers), \(config.prefetch))")
        }
        guard (0...1).contains(config.maxFailureFraction) else {
            throw .invalidArgument("maxFailureFraction must be in [0, 1], got \(config.maxFailureFraction)")
        }
        self.dataset = dataset
        self.config = config
    }

    /// The data-set indices this rank visits in `epoch`, in order (before batching).
    public func order(epoch: Int) -> [Int] {
        let (full, tail) = shard(epoch: epoch)
        return full.flatMap { $0 } + tail
    }

    /// The planned batches of `epoch` (indices per batch, before failures are removed).
    ///
    /// The epoch's shuffled order is cut into global batches of `batchSize · worldSize`, and
    /// rank r takes the r-th slice of `batchSize` of each, so step k's global batch (the ranks'
    /// k-th batches in rank order) is the same items in the same order at any world size. The
    /// remainder that fills no global batch is dealt out round-robin (positions r, r + W, …) as
    /// one last, smaller batch per rank, dropped with `dropLast` (on every rank alike, so that all
    /// ranks take the same number of steps even where the remainder gives one rank a full batch).
    public func plannedBatches(epoch: Int) -> [[Int]] {
        let (full, tail) = shard(epoch: epoch)
        return config.dropLast || tail.isEmpty ? full : full + [tail]
    }

    /// This rank's full batches of `epoch` and its share of the remainder (see ``plannedBatches(epoch:)``).
    private func shard(epoch: Int) -> (full: [[Int]], tail: [Int]) {
        var all = Array(0..<dataset.count)
        if config.shuffle {
            var rng = SplitMix64(seed: config.seed).derived(UInt64(truncatingIfNeeded: epoch))
            all.shuffle(using: &rng)
        }
        let local = config.batchSize
        let global = local * config.worldSize
        let full = all.count / global
        let batches = (0..<full).map { k in
            let start = k * global + config.rank * local
            return Array(all[start..<(start + local)])
        }
        let tail = Swift.stride(from: full * global + config.rank, to: all.count, by: config.worldSize).map { all[$0] }
        return (batches, tail)
    }

    /// Starts an epoch: workers begin decoding at once.
    ///
    /// - Parameter startingAtBatch: skip the first batches of the epoch's plan without loading
    ///   them (a run resumed in the middle of an epoch continues with exactly the batches it
    ///   had not yet seen).
    public func epoch(_ epoch: Int, startingAtBatch: Int = 0) -> EpochIterator {
        EpochIterator(loader: self, epoch: epoch, startingAtBatch: startingAtBatch)
    }

    /// Loads one batch: decode, augment, preprocess, normalise. Failures are returned, not thrown.
    func build(indices: [Int], epoch: Int) -> (batch: Batch, failures: [ItemFailure]) {
        let base = SplitMix64(seed: config.seed).derived(UInt64(truncatingIfNeeded: epoch) &+ 0x5EED)
        var batch = Batch(indices: [], images: [], imageHeight: 0, imageWidth: 0, captions: [],
                          labels: dataset.hasLabels ? [] : nil)
        var failures: [ItemFailure] = []
        for index in indices {
            do {
                let sample = try dataset.sample(at: index)
                var rng = base.derived(UInt64(index))
                var image = sample.image
                if let augmentation = config.imageAugmentation { image = augmentation.apply(image, rng: &rng) }
                image = config.preprocessing.apply(image)
                if let transform = config.afterPreprocessing { image = transform(image, index) }
                if batch.indices.isEmpty {
                    batch.imageHeight = image.height; batch.imageWidth = image.width
                    batch.images.reserveCapacity(indices.count * 3 * image.height * image.width)
                } else if image.height != batch.imageHeight || image.width != batch.imageWidth {
                    failures.append(ItemFailure(index: index, source: (try? dataset.record(at: index).imageSource) ?? "#\(index)",
                        reason: "preprocessed to \(image.width)x\(image.height), batch is \(batch.imageWidth)x\(batch.imageHeight)"))
                    continue
                }
                let caption = config.captionAugmentation.map { $0(sample.caption, &rng) } ?? sample.caption
                batch.images += image.chwFloats(normalization: config.normalization)
                batch.indices.append(index)
                batch.captions.append(caption)
                batch.labels?.append(sample.label ?? -1)
            } catch {
                let source: String
                switch error {
                case let .image(path, _), let .io(path, _), let .format(path, _): source = path
                case let .malformedRow(path, line, _): source = "\(path):\(line)"
                default: source = "#\(index)"
                }
                failures.append(ItemFailure(index: index, source: source, reason: Self.reason(of: error)))
            }
        }
        return (batch, failures)
    }

    private static func reason(of error: DataError) -> String {
        switch error {
        case let .image(_, reason), let .io(_, reason), let .format(_, reason), let .malformedRow(_, _, reason): return reason
        default: return error.description
        }
    }
}

/// State shared by an epoch's consumer and its worker threads, guarded by `condition`.
private final class EpochWork: @unchecked Sendable {
    let condition = NSCondition()
    let plan: [[Int]]
    let itemCount: Int
    var nextToStart = 0
    var delivered = 0
    var results: [Int: (batch: Batch, failures: [ItemFailure])] = [:]
    var cancelled = false

    init(plan: [[Int]], start: Int) {
        self.plan = plan
        itemCount = plan.reduce(0) { $0 + $1.count }
        nextToStart = min(max(0, start), plan.count)
        delivered = nextToStart
    }
}

/// The batches of one epoch, in order. Call ``next()`` until it returns `nil`, then read ``report``.
/// Dropping the iterator early stops its workers.
public final class EpochIterator {
    public let epoch: Int
    /// The epoch's report so far; complete once ``next()`` has returned `nil`.
    public private(set) var report: EpochDataReport
    private let loader: DataLoader
    private let work: EpochWork
    private var finished = false

    init(loader: DataLoader, epoch: Int, startingAtBatch: Int) {
        self.loader = loader
        self.epoch = epoch
        self.work = EpochWork(plan: loader.plannedBatches(epoch: epoch), start: startingAtBatch)
        self.report = EpochDataReport(epoch: epoch, rank: loader.config.rank, attempted: 0, loaded: 0, skipped: 0, failures: [])
        for _ in 0..<min(loader.config.workers, work.plan.count) {
            let work = self.work, loader = self.loader
            let thread = Thread { Self.workerLoop(work: work, loader: loader, epoch: epoch) }
            thread.name = "clipguard-data"
            thread.start()
        }
    }

    deinit { cancel() }

    /// The number of batches planned for the epoch (batches whose items all fail are left out).
    public var plannedBatchCount: Int { work.plan.count }

    /// Stops the workers; later calls of ``next()`` return `nil`.
    public func cancel() {
        work.condition.lock()
        work.cancelled = true
        work.condition.broadcast()
        work.condition.unlock()
        finished = true
    }

    private static func workerLoop(work: EpochWork, loader: DataLoader, epoch: Int) {
        while true {
            work.condition.lock()
            while !work.cancelled && work.nextToStart < work.plan.count
                && work.nextToStart >= work.delivered + loader.config.prefetch {
                work.condition.wait()
            }
            if work.cancelled || work.nextToStart >= work.plan.count {
                work.condition.unlock()
                return
            }
            let number = work.nextToStart
            work.nextToStart += 1
            work.condition.unlock()
            let result = loader.build(indices: work.plan[number], epoch: epoch)
            work.condition.lock()
            work.results[number] = result
            work.condition.broadcast()
            work.condition.unlock()
        }
    }

    /// The next batch, or `nil` at the end of the epoch.
    /// - Throws: ``DataError/tooManyFailures(_:allowedFraction:)`` once more than
    ///   `maxFailureFraction` of the epoch's items have failed.
    public func next() throws(DataError) -> Batch? {
        while !finished {
            guard work.delivered < work.plan.count else { finished = true; break }
            let number = work.delivered
            let result: (batch: Batch, failures: [ItemFailure])
            if loader.config.workers == 0 {
                result = loader.build(indices: work.plan[number], epoch: epoch)
                work.delivered += 1
            } else {
                work.condition.lock()
                while work.results[number] == nil && !work.cancelled { work.condition.wait() }
                guard let ready = work.results.removeValue(forKey: number) else {
                    work.condition.unlock()
                    finished = true
                    break
                }
                result = ready
                work.delivered += 1
                work.condition.broadcast()
                work.condition.unlock()
            }
            report.attempted += work.plan[number].count
            report.loaded += result.batch.count
            report.skipped += result.failures.count
            let room = max(0, loader.config.reportedFailures - report.failures.count)
            report.failures += result.failures.prefix(room)
            if Double(report.skipped) > loader.config.maxFailureFraction * Double(work.itemCount) {
                cancel()
                throw .tooManyFailures(report, allowedFraction: loader.config.maxFailureFraction)
            }
            if result.batch.count > 0 { return result.batch }
        }
        return nil
    }
}
