import Datasets

/// Training captions that name the target as a whole word (the study's; Carlini & Terzis 2022),
/// drawn with replacement; targeted poisoning draws distinct ones where there are enough.
public enum NaturalCaptions: CaptionModeDefinition {
    public static let name = "natural"
    public static let displayName = "Natural captions"
    public static let about = "training captions naming the target"
    public static let poisonsTargetImages = false
    public static let supportsTargeted = true

    public static func check(_ context: CaptionContext, count: Int) throws(AttackError) {
        if context.naming.isEmpty && count > 0 {
            throw .insufficientData(path: context.dataPath, reason:
                "no training caption names \"\(context.target)\" as a whole word, so natural captions are impossible; "
                + "use --captions template")
        }
    }

    public static func captions(_ context: CaptionContext, sourceRows: [Int?], rng: inout SplitMix64) -> [String] {
        let count = sourceRows.count, naming = context.naming
        if context.targeted && naming.count >= count {
            // Distinct captions where there are enough (Carlini & Terzis).
            return naming.partiallyShuffled(count: count, using: &rng).map { context.captions[$0] }
        }
        return (0..<count).map { _ in context.captions[naming[Int(rng.next() % UInt64(naming.count))]] }
    }
}

extension CaptionStrategy {
    public static let natural = CaptionStrategy(NaturalCaptions.self)
}
