import Foundation

/// AutoAugment with the ImageNet policy (Cubuk et al., "AutoAugment: Learning Augmentation
/// Policies from Data", CVPR 2019), as torchvision's `AutoAugment(AutoAugmentPolicy.IMAGENET)`:
/// one of 25 sub-policies chosen uniformly; each of its two operations is applied with its
/// probability, at its magnitude bin (10 bins), with a random sign for signed operations.
/// Geometric operations use nearest-neighbour sampling and black fill.
public struct AutoAugmentImageNet: ImageAugmentation, Hashable {
    /// One operation of a sub-policy.
    public enum Operation: String, Sendable, Hashable, CaseIterable {
        case shearX, rotate, color, contrast, sharpness, posterize, solarize, autoContrast, equalize, invert
    }

    /// A sub-policy step: operation, probability, magnitude bin (nil for magnitude-free ops).
    public typealias Step = (operation: Operation, probability: Double, bin: Int?)

    /// torchvision's ImageNet policy, in its order.
    public static let policy: [(Step, Step)] = [
        ((.posterize, 0.4, 8), (.rotate, 0.6, 9)),
        ((.solarize, 0.6, 5), (.autoContrast, 0.6, nil)),
        ((.equalize, 0.8, nil), (.equalize, 0.6, nil)),
        ((.posterize, 0.6, 7), (.posterize, 0.6, 6)),
        ((.equalize, 0.4, nil), (.solarize, 0.2, 4)),
        ((.equalize, 0.4, nil), (.rotate, 0.8, 8)),
        ((.solarize, 0.6, 3), (.equalize, 0.6, nil)),
        ((.posterize, 0.8, 5), (.equalize, 1.0, nil)),
        ((.rotate, 0.2, 3), (.solarize, 0.6, 8)),
        ((.equalize, 0.6, nil), (.posterize, 0.4, 6)),
        ((.rotate, 0.8, 8), (.color, 0.4, 0)),
        ((.rotate, 0.4, 9), (.equalize, 0.6, nil)),
        ((.equalize, 0.0, nil), (.equalize, 0.8, nil)),
        ((.invert, 0.6, nil), (.equalize, 1.0, nil)),
        ((.color, 0.6, 4), (.contrast, 1.0, 8)),
        ((.rotate, 0.8, 8), (.color, 1.0, 2)),
        ((.color, 0.8, 8), (.solarize, 0.8, 7)),
        ((.sharpness, 0.4, 7), (.invert, 0.6, nil)),
        ((.shearX, 0.6, 5), (.equalize, 1.0, nil)),
        ((.color, 0.4, 0), (.equalize, 0.6, nil)),
        ((.equalize, 0.4, nil), (.solarize, 0.2, 4)),
        ((.solarize, 0.6, 5), (.autoContrast, 0.6, nil)),
        ((.invert, 0.6, nil), (.equalize, 1.0, nil)),
        ((.color, 0.6, 4), (.contrast, 1.0, 8)),
        ((.equalize, 0.8, nil), (.equalize, 0.6, nil)),
    ]

    public init() {}

    /// The magnitude of `operation` at `bin` (0…9) and whether it takes a random sign,
    /// following torchvision's `_augmentation_space(10, …)`.
    public static func magnitude(_ operation: Operation, bin: Int) -> (value: Double, signed: Bool) {
        let t = Double(bin) / 9
        switch operation {
        case .shearX: return (0.3 * t, true)
        case .rotate: return (30 * t, true)
        case .color, .contrast, .sharpness: return (0.9 * t, true)
        case .posterize: return (Double(8 - Int((Double(bin) / 2.25).rounded(.toNearestOrEven))), false)
        case .solarize: return (255 * (1 - t), false)
        case .autoContrast, .equalize, .invert: return (0, false)
        }
    }

    /// Applies one operation at a signed magnitude.
    public static func apply(_ operation: Operation, magnitude m: Double, to image: RGBImage) -> RGBImage {
        switch operation {
        case .shearX: return image.shearedX(m)
        case .rotate: return image.rotated(degrees: m)
        case .color: return image.adjustedSaturation(1 + m)
        case .contrast: return image.adjustedContrast(1 + m)
        case .sharpness: return image.adjustedSharpness(1 + m)
        case .posterize: return image.posterized(bits: Int(m))
        case .solarize: return image.solarized(threshold: m)
        case .autoContrast: return image.autocontrasted()
        case .equalize: return image.equalized()
        case .invert: return image.inverted()
        }
    }

    public func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        let (first, second) = Self.policy[rng.index(below: Self.policy.count)]
        let probabilities = (rng.nextUnitDouble(), rng.nextUnitDouble())
        let negate = (rng.chance(0.5), rng.chance(0.5))
        var out = image
        for (step, draw, flip) in [(first, probabilities.0, negate.0), (second, probabilities.1, negate.1)] {
            // torchvision applies an op when its uniform draw is <= p.
            guard draw <= step.probability else { continue }
            var value = 0.0
            if let bin = step.bin {
                let (v, signed) = Self.magnitude(step.operation, bin: bin)
                value = signed && flip ? -v : v
            }
            out = Self.apply(step.operation, magnitude: value, to: out)
        }
        return out
    }
}
