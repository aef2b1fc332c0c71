import Datasets

/// A solid square patch (SPEC §2 `patch`, the study's trigger; Gu et al., "BadNets", 2017).
///
/// ```swift
/// let patch = PatchTrigger()               // white, 50/224 of the side, bottom-right
/// let poisoned = patch.apply(to: image, index: 0)
/// ```
public struct PatchTrigger: PatchPlacedTrigger {
    public static let kind = "patch"
    public static let displayName = "Patch (BadNet square)"
    public static let about = "a solid square, white, 50/224 of the shorter side, bottom-right (the study's)."
    public static let size = TriggerSetting.patchSize(default: .fraction(50.0 / 224.0))
    public static let color = TriggerSetting.color("patch-color", help: "Patch colour: white, black, red, …, #RRGGBB or r,g,b.",
                                                   default: .white)
    public static let position = TriggerSetting.patchPosition(default: .bottomRight)
    public static let settings = [size.erased, color.erased, position.erased]
    public static let manifestParameters: [String: ManifestSchema.Node] = [
        "size": ManifestSchema.length, "color": .leaf, "position": .leaf, "seed": .leaf,
    ]

    /// The side of the square.
    public var size: TriggerLength
    public var color: TriggerColor
    public var position: PatchPosition
    /// Seeds the random positions (`position == .random`).
    public var seed: UInt64

    public init(size: TriggerLength = .fraction(50.0 / 224.0), color: TriggerColor = .white,
                position: PatchPosition = .bottomRight, seed: UInt64 = 0) {
        self.size = size; self.color = color; self.position = position; self.seed = seed
    }

    public init(options: TriggerOptions, seed: UInt64) {
        self.init(size: options[Self.size], color: options[Self.color], position: options[Self.position], seed: seed)
    }

    /// The image with the patch painted over it. `image` is at the geometry the model sees.
    public func apply(to image: RGBImage, index: Int) -> RGBImage {
        var out = image
        for rect in regions(width: image.width, height: image.height, index: index) {
            for y in rect.y..<(rect.y + rect.height) {
                for x in rect.x..<(rect.x + rect.width) {
                    let i = (y * image.width + x) * 3
                    out.pixels[i] = color.red; out.pixels[i + 1] = color.green; out.pixels[i + 2] = color.blue
                }
            }
        }
        return out
    }

    public func problem() -> String? { Self.size.problem(with: size).map { "\(Self.size.flag) \($0)" } }

    public var summary: String { "patch: \(color) square, side \(size), \(position.rawValue)" }
}

extension TriggerKind {
    public static let patch = TriggerKind(PatchTrigger.self)
}

extension Trigger {
    public static func patch(_ trigger: PatchTrigger) -> Trigger { Trigger(trigger) }
}
