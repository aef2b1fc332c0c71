import Torch

/// A FIFO memory of unit-norm embeddings with nearest-neighbour look-up (NNCLR, Dwibedi et al.,
/// ICCV 2021), as SafeCLIP's optional unimodal memory bank (size 256) and RoCLIP's caption pool use it.
///
/// Facts from the reference (lightly's `MemoryBankModule`/`NNMemoryBankModule`, used by
/// SafeCLIP/src/memory_bank.py and RoCLIP model/src/memory_bank.py): the bank starts full of random
/// unit vectors; a look-up returns, for each query, the bank row with the largest cosine
/// similarity, detached; the look-up uses the bank *before* the batch is added.
///
/// One deliberate difference: lightly drops the part of a batch that does not fit before the end
/// of the buffer and restarts at row 0; this is a true ring buffer, so every enqueued row is kept
/// until `capacity` newer rows replace it.
///
/// Reference type: the trainer holds one per modality and checkpoints ``storage`` and
/// ``writePosition``.
///
/// ```swift
/// let bank = NearestNeighborBank(capacity: 256, dimension: 1024, seed: 7)
/// let positives = bank.nearest(to: view1)   // [B, D], no gradient
/// bank.enqueue(view1)
/// ```
public final class NearestNeighborBank {
    /// Number of rows.
    public let capacity: Int
    /// `[capacity, D]` unit-norm rows (no gradient).
    public private(set) var storage: Tensor
    /// The row the next enqueued embedding goes to (the oldest row).
    public private(set) var writePosition: Int

    /// A bank of `capacity` seeded random unit vectors.
    ///
    /// - Parameters:
    ///   - capacity: number of rows (SafeCLIP 256, RoCLIP 21,845).
    ///   - dimension: embedding size D.
    ///   - seed: seed of the initial random rows.
    ///   - dtype: floating-point dtype of the rows.
    ///   - device: where the rows live.
    public init(capacity: Int, dimension: Int, seed: UInt64, dtype: DType = .float32, device: Device = .cpu) {
        precondition(capacity > 0 && dimension > 0, "bank needs capacity > 0 and dimension > 0")
        self.capacity = capacity
        let generator = Generator(seed: seed)
        self.storage = noGrad {
            Tensor.randn([capacity, dimension], dtype: dtype, generator: generator).normalized(dim: 1).to(device)
        }
        self.writePosition = 0
    }

    /// Restores a bank saved from ``storage`` and ``writePosition``.
    ///
    /// - Parameters:
    ///   - storage: `[capacity, D]` rows (normalised again here).
    ///   - writePosition: in `0..<capacity`.
    public init(storage: Tensor, writePosition: Int) {
        precondition(storage.rank == 2 && storage.size(0) > 0, "bank storage must be [capacity, D], got \(storage.shape)")
        precondition((0..<storage.size(0)).contains(writePosition), "writePosition \(writePosition) out of range")
        self.capacity = storage.size(0)
        self.storage = noGrad { storage.detached().normalized(dim: 1).copied() }
        self.writePosition = writePosition
    }

    /// Embedding size D.
    public var dimension: Int { storage.size(1) }

    /// Index of the most cosine-similar row for each query (the first on ties).
    ///
    /// - Parameter queries: `[B, D]`, any norm.
    /// - Returns: `[B]` int64.
    public func nearestIndices(to queries: Tensor) -> Tensor {
        precondition(queries.rank == 2 && queries.size(1) == dimension, "queries must be [B, \(dimension)], got \(queries.shape)")
        return noGrad {
            let q = queries.detached().to(dtype: storage.dtype, device: storage.device).normalized(dim: 1)
            return q.matmul(storage.t).argmax(dim: 1)
        }
    }

    /// The most cosine-similar row for each query, detached.
    ///
    /// - Parameter queries: `[B, D]`.
    /// - Returns: `[B, D]` unit rows in the queries' dtype, no gradient.
    public func nearest(to queries: Tensor) -> Tensor {
        let index = nearestIndices(to: queries)
        return noGrad { storage.indexSelect(dim: 0, indices: index).to(dtype: queries.dtype, device: queries.device) }
    }

    /// Writes the normalised, detached rows of `embeddings` at the write position, oldest first
    /// out; a batch larger than the bank leaves its last `capacity` rows.
    ///
    /// - Parameter embeddings: `[B, D]`.
    public func enqueue(_ embeddings: Tensor) {
        precondition(embeddings.rank == 2 && embeddings.size(1) == dimension, "embeddings must be [B, \(dimension)], got \(embeddings.shape)")
        noGrad {
            let rows = embeddings.detached().to(dtype: storage.dtype, device: storage.device).normalized(dim: 1)
            var offset = 0
            let count = rows.size(0)
            while offset < count {
                let n = min(count - offset, capacity - writePosition)
                storage.narrowed(dim: 0, start: writePosition, length: n)
                    .copyInPlace(from: rows.narrowed(dim: 0, start: offset, length: n))
                offset += n
                writePosition = (writePosition + n) % capacity
            }
        }
    }
}
