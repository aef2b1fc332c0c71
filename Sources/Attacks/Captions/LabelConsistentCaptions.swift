import Datasets

/// Images whose own caption already names the target, caption and label kept (Turner et al.
/// 2019): the poison is consistent with its caption, only the trigger is added.
public enum LabelConsistentCaptions: CaptionModeDefinition {
    public static let name = "label-consistent"
    public static let displayName = "Label-consistent"
    public static let about = "the target's own images, captions kept"
    public static let poisonsTargetImages = true
    public static let supportsTargeted = false

    public static func captions(_ context: CaptionContext, sourceRows: [Int?], rng: inout SplitMix64) -> [String] {
        sourceRows.map { row in row.map { context.captions[$0] } ?? "" }
    }
}

extension CaptionStrategy {
    public static let labelConsistent = CaptionStrategy(LabelConsistentCaptions.self)
}
