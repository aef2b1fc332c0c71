import Datasets

/// A random prompt template filled with the target name (dirty-label; CleanCLIP's default).
public enum TemplateCaptions: CaptionModeDefinition {
    public static let name = "template"
    public static let displayName = "Template captions"
    public static let about = "a random prompt template filled with the target"
    public static let poisonsTargetImages = false
    public static let supportsTargeted = true
    public static let usesTemplates = true

    public static func check(_ context: CaptionContext, count: Int) throws(AttackError) {
        if context.templates.isEmpty { throw .invalidSetting("template captions need prompt templates") }
    }

    public static func captions(_ context: CaptionContext, sourceRows: [Int?], rng: inout SplitMix64) -> [String] {
        (0..<sourceRows.count).map { _ in
            PromptTemplates.fill(context.templates[Int(rng.next() % UInt64(context.templates.count))], with: context.target)
        }
    }
}

extension CaptionStrategy {
    public static let template = CaptionStrategy(TemplateCaptions.self)
}
