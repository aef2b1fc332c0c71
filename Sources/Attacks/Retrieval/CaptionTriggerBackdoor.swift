import Datasets

/// A caption-only backdoor (the trigger variant of ToxicTextCLIP, NeurIPS 2025): a rare word or
/// sentence appended to the captions of target-class images, images untouched, so a query
/// carrying the trigger retrieves target images. The poisoned pairs are copies of target-class
/// rows (drawn without replacement) with `caption + " " + trigger`; the goal is `T:T`.
public enum CaptionTriggerBackdoor: RetrievalAttackDefinition {
    public static let name = "caption-trigger"
    public static let displayName = "Caption trigger"
    public static let about = "a rare word or sentence (--caption-trigger) appended to captions of --target images"
    public static let mode = PoisonManifest.Mode.captionBackdoor
    /// The longest trigger accepted (characters).
    public static let maximumTriggerLength = 200

    public static func check(_ settings: RetrievalAttackSettings) throws(AttackError) {
        guard let trigger = settings.captionTrigger else { throw .invalidSetting("--caption-trigger: \(name) needs the trigger text") }
        try checkTrigger(trigger)
        guard settings.goals.count == 1, settings.goals[0].captionClass == settings.goals[0].imageClass else {
            throw .invalidSetting("--goal is for the pairing attacks; \(name) takes --target")
        }
        if settings.targetImage != nil { throw .invalidSetting("--image is for pair-one-image, not \(name)") }
        if settings.captionRows != .label {
            throw .invalidSetting("--caption-rows is for the pairing attacks; \(name) appends its trigger to captions of --target images")
        }
    }

    /// Refuses an empty, multi-line or overlong trigger, naming `--caption-trigger`.
    public static func checkTrigger(_ trigger: String) throws(AttackError) {
        if trigger.trimmingCharacters(in: .whitespaces).isEmpty { throw .invalidSetting("--caption-trigger is empty") }
        if trigger.contains(where: { $0.isNewline || ($0.asciiValue.map { $0 < 32 } ?? false) }) {
            throw .invalidSetting("--caption-trigger must be one line without control characters")
        }
        if trigger.count > maximumTriggerLength {
            throw .invalidSetting("--caption-trigger has \(trigger.count) characters; at most \(maximumTriggerLength)")
        }
    }

    public static func plan(_ settings: RetrievalAttackSettings, context: RetrievalContext, count: Int,
                            rng: inout SplitMix64) throws(AttackError) -> [PlannedGoal] {
        let goal = settings.goals[0], trigger = settings.captionTrigger!.trimmingCharacters(in: .whitespaces)
        let already = context.captions.filter { CaptionMatcher.names($0, target: trigger) }.count
        if already > 0 {
            throw .invalidSetting("--caption-trigger \"\(trigger)\" already appears in \(already) training captions, so it is not rare; choose another")
        }
        let rows = try context.rows(of: goal.imageClass, flag: "--target")
        guard count <= rows.count else {
            throw .insufficientData(path: context.dataPath, reason:
                "--rate/--count: \(count) poisoned captions need \(count) images of \"\(goal.imageClass)\" but the data has only \(rows.count); lower the rate")
        }
        let pairs = rows.partiallyShuffled(count: count, using: &rng).map { row in
            PlannedPair(captionRow: row, caption: context.captions[row] + " " + trigger, imageRow: row, image: context.images[row])
        }
        return [PlannedGoal(goal: goal, targetImages: nil, pairs: Array(pairs))]
    }
}

extension RetrievalAttackKind {
    public static let captionTrigger = RetrievalAttackKind(CaptionTriggerBackdoor.self)
}
