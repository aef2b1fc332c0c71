import Datasets

/// Blended-Triangles (PAR, Singh, Croce & Hein): a fixed grey pattern of right triangles — the
/// image tiled in square cells of side 14/224 of the shorter side, each cell split along its
/// diagonal into a lower-left triangle (diagonal included) of value 0.4 and an upper-right one of
/// 0.8 — blended as `x' = clip((1 − n_c)·x + n_c·p, 0, 1)` with `n_c = 0.15`.
///
/// PAR's pattern (`create_triangle_pattern(224, 14)` in `backdoor/utils.py`, stored as
/// `triangles_224_14.pt`) is the same for every image; so is this one (no random part).
public struct BlendedTrianglesTrigger: TriggerDefinition {
    public static let kind = "blended-triangles"
    public static let displayName = "Blended triangles"
    public static let about = "a fixed grey pattern of 14/224-side triangle cells (0.4 / 0.8), blended with n_c = 0.15 (PAR)."
    public static let weight = TriggerSetting.number("blend-weight", help: "Blend weight of the pattern.", default: 0.15, in: 0...1)
    public static let cellSize = TriggerSetting.length("triangle-size", help: "Side of a triangle cell: pixels or a fraction of the shorter side.",
                                                       default: .fraction(14.0 / 224.0))
    public static let settings = [weight.erased, cellSize.erased]
    public static let manifestParameters: [String: ManifestSchema.Node] = ["weight": .leaf, "triangle_size": ManifestSchema.length]

    public var weight: Double
    public var triangleSize: TriggerLength

    enum CodingKeys: String, CodingKey { case weight, triangleSize = "triangle_size" }

    public init(weight: Double = 0.15, triangleSize: TriggerLength = .fraction(14.0 / 224.0)) {
        self.weight = weight; self.triangleSize = triangleSize
    }

    public init(options: TriggerOptions, seed: UInt64) {
        self.init(weight: options[Self.weight], triangleSize: options[Self.cellSize])
    }

    /// The pattern's value (0…1) at pixel `(x, y)` for cells of side `cell`.
    static func value(x: Int, y: Int, cell: Int) -> Double { y % cell >= x % cell ? 0.4 : 0.8 }

    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        let cell = triangleSize.resolved(side: min(image.width, image.height))
        var out = image
        for y in 0..<image.height {
            for x in 0..<image.width {
                let p = 255 * Self.value(x: x, y: y, cell: cell)
                for c in 0..<3 {
                    let i = (y * image.width + x) * 3 + c
                    out.pixels[i] = quantized((1 - weight) * Double(image.pixels[i]) + weight * p)
                }
            }
        }
        return out
    }

    public func problem() -> String? {
        if let p = Self.weight.problem(with: weight) { return "\(Self.weight.flag) \(p)" }
        if let p = Self.cellSize.problem(with: triangleSize) { return "\(Self.cellSize.flag) \(p)" }
        return nil
    }

    public var summary: String { "blended-triangles: cells of side \(triangleSize), weight \(weight)" }
}

extension TriggerKind {
    public static let blendedTriangles = TriggerKind(BlendedTrianglesTrigger.self)
}
