import Datasets

/// A fixed smooth warp (WaNet, Nguyen & Tran, ICLR 2021): a `k × k` field of offsets, upsampled
/// bicubically (align_corners) to the image size, added to the identity sampling grid scaled by
/// `strength / H`, clamped to [−1, 1] and sampled bilinearly (align_corners), as WaNet's
/// `F.grid_sample(x, grid, align_corners=True)`.
///
/// The field is drawn once from the seed (uniform in [−1, 1], divided by its mean absolute
/// value, as WaNet does) and stored, so evaluation warps with exactly the same field.
public struct WaNetTrigger: TriggerDefinition {
    public static let kind = "wanet"
    public static let displayName = "WaNet warp"
    public static let about = "a fixed smooth warp field (k = 4, s = 0.5), stored in the manifest."
    public static let strengthSetting = TriggerSetting.number("warp-strength", help: "WaNet warp strength s.", default: 0.5,
                                                              in: 0...Double.infinity)
    public static let gridSetting = TriggerSetting.integer("warp-grid", help: "WaNet control grid side k.", default: 4, in: 2...1024)
    public static let settings = [strengthSetting.erased, gridSetting.erased]
    public static let manifestParameters: [String: ManifestSchema.Node] = ["grid_size": .leaf, "strength": .leaf, "field": .leaf]

    /// The field's grid side `k` (4; CleanCLIP used 224).
    public var gridSize: Int
    /// The warp strength `s` (0.5; CleanCLIP used 1).
    public var strength: Double
    /// `[k, k, 2]` row-major offsets; the last axis is (horizontal, vertical), in units of
    /// the normalised grid before the `strength / H` scale.
    public var field: [Double]

    enum CodingKeys: String, CodingKey { case gridSize = "grid_size", strength, field }

    public init(gridSize: Int, strength: Double, field: [Double]) {
        self.gridSize = gridSize; self.strength = strength; self.field = field
    }

    public init(options: TriggerOptions, seed: UInt64) {
        self = .random(gridSize: options[Self.gridSetting], strength: options[Self.strengthSetting], seed: seed)
    }

    /// A field drawn from `seed`.
    public static func random(gridSize: Int = 4, strength: Double = 0.5, seed: UInt64) -> WaNetTrigger {
        var rng = SplitMix64(seed: seed)
        var field = (0..<(gridSize * gridSize * 2)).map { _ in rng.nextUnitDouble() * 2 - 1 }
        let meanAbs = field.reduce(0) { $0 + abs($1) } / Double(max(1, field.count))
        if meanAbs > 0 { field = field.map { $0 / meanAbs } }
        return WaNetTrigger(gridSize: gridSize, strength: strength, field: field)
    }

    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        let (w, h) = (image.width, image.height)
        guard w > 1 && h > 1 else { return image }
        let k = gridSize
        // Bicubic upsampling (align_corners) of each offset channel to [h, w], separably.
        let rowsX = cubicWeights(inputCount: k, outputCount: h)
        let colsX = cubicWeights(inputCount: k, outputCount: w)
        var out = image
        let scale = strength / Double(h)
        for y in 0..<h {
            for x in 0..<w {
                var offset = (0.0, 0.0)
                for (ri, rw) in rowsX[y] {
                    for (ci, cw) in colsX[x] {
                        let base = (ri * k + ci) * 2
                        offset.0 += rw * cw * field[base]
                        offset.1 += rw * cw * field[base + 1]
                    }
                }
                let gx = min(1, max(-1, -1 + 2 * Double(x) / Double(w - 1) + scale * offset.0))
                let gy = min(1, max(-1, -1 + 2 * Double(y) / Double(h - 1) + scale * offset.1))
                let px = (gx + 1) / 2 * Double(w - 1), py = (gy + 1) / 2 * Double(h - 1)
                let x0 = min(w - 1, Int(px.rounded(.down))), y0 = min(h - 1, Int(py.rounded(.down)))
                let x1 = min(w - 1, x0 + 1), y1 = min(h - 1, y0 + 1)
                let tx = px - Double(x0), ty = py - Double(y0)
                for c in 0..<3 {
                    func p(_ xx: Int, _ yy: Int) -> Double { Double(image.pixels[(yy * w + xx) * 3 + c]) }
                    let top = p(x0, y0) * (1 - tx) + p(x1, y0) * tx
                    let bottom = p(x0, y1) * (1 - tx) + p(x1, y1) * tx
                    out.pixels[(y * w + x) * 3 + c] = quantized(top * (1 - ty) + bottom * ty)
                }
            }
        }
        return out
    }

    /// For each output position, the (input index, weight) pairs of PyTorch's bicubic
    /// interpolation with `align_corners=True` (cubic convolution, A = −0.75, indices clamped).
    private func cubicWeights(inputCount: Int, outputCount: Int) -> [[(Int, Double)]] {
        let a = -0.75
        func near(_ t: Double) -> Double { ((a + 2) * t - (a + 3)) * t * t + 1 }
        func far(_ t: Double) -> Double { ((a * t - 5 * a) * t + 8 * a) * t - 4 * a }
        let ratio = outputCount > 1 ? Double(inputCount - 1) / Double(outputCount - 1) : 0
        return (0..<outputCount).map { o in
            let real = ratio * Double(o)
            let i = Int(real.rounded(.down))
            let t = real - Double(i)
            let weights = [far(t + 1), near(t), near(1 - t), far(2 - t)]
            return (0..<4).map { n in (min(inputCount - 1, max(0, i - 1 + n)), weights[n]) }
        }
    }

    public func problem() -> String? {
        if let p = Self.gridSetting.problem(with: gridSize) { return "grid size k (\(Self.gridSetting.flag)) \(p)" }
        if let p = Self.strengthSetting.problem(with: strength) { return "warp strength (\(Self.strengthSetting.flag)) \(p)" }
        if field.count != gridSize * gridSize * 2 {
            return "the field has \(field.count) values, k×k×2 = \(gridSize * gridSize * 2) expected"
        }
        if field.contains(where: { !$0.isFinite }) { return "the field holds a non-finite value" }
        return nil
    }

    public var summary: String { "wanet: k = \(gridSize), s = \(strength)" }
}

extension TriggerKind {
    public static let wanet = TriggerKind(WaNetTrigger.self)
}

extension Trigger {
    public static func wanet(_ trigger: WaNetTrigger) -> Trigger { Trigger(trigger) }
}
