import Foundation

/// What detectors read: the feature pass's cached outputs for the rows whose image was read (in
/// cache order; row `j` of every array is data-set row ``dataRows``[j]), and shared intermediate
/// results computed once for every detector that needs them.
public final class DetectionContext: @unchecked Sendable {
    /// The data-set row of each scored row.
    public let dataRows: [Int]
    /// `[rows, D]` normalised image features of the first model.
    public let features: FeatureMatrix
    /// Image–caption cosine similarity per model, each `[rows]`.
    public let similarity: [[Double]]
    /// The captions, `[rows]`.
    public let captions: [String]
    /// Seed of the detectors' random choices (clusterings, reference sets).
    public let seed: UInt64
    /// Options given by the user (the others have their defaults).
    public let settings: DetectorSettings
    /// Logs one line (silent with `--quiet`).
    public let log: (String) -> Void

    private let groupsProvider: () throws -> (groups: [Int], description: String)
    private let cellsProvider: (([UInt32]) -> Void) throws -> Void
    private var memo: [String: Any] = [:]
    private let lock = NSLock()

    /// - Parameters:
    ///   - groups: computes each row's caption group and says how (called at most once).
    ///   - cells: calls its argument with every row's ``TriggerConsistency/cellHashes(_:)``, in row
    ///     order (may be called more than once).
    public init(dataRows: [Int], features: FeatureMatrix, similarity: [[Double]], captions: [String], seed: UInt64,
                settings: DetectorSettings = DetectorSettings(), log: @escaping (String) -> Void = { _ in },
                groups: @escaping () throws -> (groups: [Int], description: String),
                cells: @escaping (([UInt32]) -> Void) throws -> Void) {
        self.dataRows = dataRows
        self.features = features
        self.similarity = similarity
        self.captions = captions
        self.seed = seed
        self.settings = settings
        self.log = log
        self.groupsProvider = groups
        self.cellsProvider = cells
    }

    /// Rows scored.
    public var rows: Int { dataRows.count }

    /// Each row's caption group (the zero-shot class of its caption among the class names, or a
    /// k-means group of the caption features), computed once.
    public func captionGroups() throws -> [Int] { try memoized("caption-groups") { try self.groupsProvider() }.groups }

    /// How ``captionGroups()`` grouped the rows; nil when no detector asked.
    public var groupingDescription: String? {
        lock.lock(); defer { lock.unlock() }
        return (memo["caption-groups"] as? (groups: [Int], description: String))?.description
    }

    /// Calls `body` with the trigger cell hashes of every row, in row order.
    public func forEachImageCells(_ body: ([UInt32]) -> Void) throws { try cellsProvider(body) }

    /// `compute()`'s value, computed once per key (for results several detectors share).
    public func memoized<T>(_ key: String, _ compute: () throws -> T) throws -> T {
        lock.lock()
        if let value = memo[key] as? T { lock.unlock(); return value }
        lock.unlock()
        let value = try compute()
        lock.lock(); memo[key] = value; lock.unlock()
        return value
    }
}
