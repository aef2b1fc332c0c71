import Datasets
import Foundation
import Torch

/// Trigger consistency: images that share a small, exactly repeated region at the same place.
///
/// A patch trigger (Gu et al., "BadNets", 2017; the study's white square) is the same pixels at
/// the same position in every poisoned image, while natural image content rarely repeats exactly
/// except where it is flat background everywhere. Each image, at the model's input size S, is cut
/// into cells of side S/8 on a grid of stride S/16 (15 × 15 cells; any square of side ≥ 3S/16 − 1
/// covers a whole cell), and each cell's pixels, quantised to 32 levels, are hashed. For a cell
/// content h at grid position p, seen `n(p, h)` times at p among N images, the expected count is
/// taken from the ring of positions 4 grid steps away (just outside a trigger-sized square):
/// `m(p, h)` = the mean of `n(q, h)` over that ring, and the position-specific excess is
/// `e(p, h) = n(p, h) / (m(p, h) + 1) · (1 − n(p, h) / N)`. Content that is common around p as
/// well (flat background, bright garment interiors, frames) has a large `m`, content that nearly
/// every image has at p (a border) a small second factor, and a trigger — the same pixels at one
/// place in a small share of the images, rare around it — scores about its count. An image's
/// score sums the evidence of its repeated cells, `Σ_p log max(1, e(p, h_p))` over the cells seen
/// at least 3 times at their position: a patch covers several neighbouring cells, which all repeat
/// in the same images, while natural content that happens to repeat rarely does so in more than one
/// cell of an image. (Measured on Fashion-MNIST, the sum ranked a 0.5% patch campaign at AUROC 0.98
/// where the largest single cell gave 0.92.) Triggers drawn fresh per image (blended noise, WaNet)
/// repeat nowhere: this detector is blind to them, and since noise also removes the image's
/// natural repeats, such images even score below clean ones. Counts are kept in a fixed-size count-min
/// sketch (Cormode & Muthukrishnan, 2005, with conservative update), so memory does not grow with
/// the data set; below a few million cells the counts are exact with high probability.
public struct TriggerConsistency: Sendable {
    /// Cells per image side and positions per image.
    public static let gridSide = 15
    public static var positions: Int { gridSide * gridSide }

    /// The `P` cell hashes of a model-size image (`P = 225`).
    public static func cellHashes(_ image: RGBImage) -> [UInt32] {
        let size = min(image.width, image.height)
        let cell = max(1, size / 8), stride = max(1, size / 16)
        var out: [UInt32] = []
        out.reserveCapacity(positions)
        for gy in 0..<gridSide {
            for gx in 0..<gridSide {
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                let x0 = min(gx * stride, image.width - cell), y0 = min(gy * stride, image.height - cell)
                for y in y0..<(y0 + cell) {
                    let base = (y * image.width + x0) * 3
                    for o in base..<(base + cell * 3) {
                        hash = (hash ^ UInt64(image.pixels[o] >> 3)) &* 0x100_0000_01b3
                    }
                }
                out.append(UInt32(truncatingIfNeeded: hash ^ (hash >> 32)))
            }
        }
        return out
    }

    private var positional: CountMinSketch
    /// Images added.
    public private(set) var images = 0

    /// An empty counter (a sketch of `4 × width` 32-bit counters).
    public init(width: Int = 1 << 20) {
        positional = CountMinSketch(width: width)
    }

    private static func key(position: Int, hash: UInt32) -> UInt64 { UInt64(position) << 32 | UInt64(hash) }

    /// Counts one image's cells.
    public mutating func add(_ hashes: [UInt32]) {
        images += 1
        for (p, h) in hashes.enumerated() {
            positional.add(Self.key(position: p, hash: h))
        }
    }

    /// The score of one image's cells (after every image was added).
    public func score(_ hashes: [UInt32]) -> Double {
        var evidence = 0.0
        for (position, h) in hashes.enumerated() {
            let here = Double(positional.count(Self.key(position: position, hash: h)))
            guard here >= 3 else { continue }
            let ring = Self.rings[position]
            let around = ring.reduce(0.0) { $0 + Double(positional.count(Self.key(position: $1, hash: h))) } / Double(max(1, ring.count))
            evidence += log(max(1, here / (around + 1) * (1 - here / Double(max(images, 1)))))
        }
        return evidence
    }

    /// For each grid position, the positions at Chebyshev distance exactly 4 inside the grid.
    static let rings: [[Int]] = (0..<positions).map { p in
        let (y, x) = (p / gridSide, p % gridSide)
        var ring: [Int] = []
        for dy in -4...4 {
            for dx in -4...4 where max(abs(dx), abs(dy)) == 4 {
                let (yy, xx) = (y + dy, x + dx)
                if (0..<gridSide).contains(yy) && (0..<gridSide).contains(xx) { ring.append(yy * gridSide + xx) }
            }
        }
        return ring
    }
}

/// A count-min sketch with conservative update: `count(x)` ≥ the true count, equal to it unless
/// other keys collide with `x` in every row.
struct CountMinSketch: Sendable {
    let width: Int
    private var table: [UInt32]
    private static let depth = 4

    init(width: Int) {
        self.width = width
        table = [UInt32](repeating: 0, count: width * Self.depth)
    }

    private func slot(_ key: UInt64, row: Int) -> Int {
        var z = key &+ UInt64(row + 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return row * width + Int(z % UInt64(width))
    }

    mutating func add(_ key: UInt64) {
        let slots = (0..<Self.depth).map { slot(key, row: $0) }
        let current = slots.map { table[$0] }.min()!
        for s in slots where table[s] == current { table[s] = current &+ 1 }
    }

    func count(_ key: UInt64) -> UInt32 {
        (0..<Self.depth).map { table[slot(key, row: $0)] }.min()!
    }
}

/// `trigger`: ``TriggerConsistency`` over every image's cells.
public struct TriggerDetector: Detector {
    public static let name = "trigger"
    public static let displayName = "trigger consistency"
    public static let about = "small regions repeated exactly at the same place in many images (a pasted patch)."
    public static let options: [DetectorOption] = []
    public static let inputs: Set<DetectorInput> = [.cells]
    public static let direction = ScoreDirection.higher
    public static let threshold = ThresholdRule.robustZ(3.5)
    public static func columns(models: Int) -> [String] { ["trigger"] }
    public static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> [[Double]] {
        var counter = TriggerConsistency()
        try context.forEachImageCells { counter.add($0) }
        var scores: [Double] = []
        scores.reserveCapacity(context.rows)
        try context.forEachImageCells { scores.append(counter.score($0)) }
        return [scores]
    }
}
