import Datasets

/// mmPoison's attack III (Yang et al., ICML 2023): several A→B goals at once, each poisoned as
/// attack II. The poison count is split evenly over the goals (the first goals get the
/// remainder), so every goal gets `count / goals` pairs or one more.
public enum MultiGoalPairing: RetrievalAttackDefinition {
    public static let name = "pair-multi"
    public static let displayName = "Pairing III (several goals)"
    public static let about = "mmPoison III: several goals at once (--goal A:B --goal C:D …)"
    public static let mode = PoisonManifest.Mode.pairing

    public static func check(_ settings: RetrievalAttackSettings) throws(AttackError) {
        guard settings.goals.count >= 2 else {
            throw .invalidSetting("--goal: \(name) takes two or more goals A:B, got \(settings.goals.count) (one goal: pair-class)")
        }
        var captionClasses = Set<String>()
        for goal in settings.goals {
            try PairingSupport.checkDistinct(goal)
            if !captionClasses.insert(goal.captionClass.lowercased()).inserted {
                throw .invalidSetting("--goal: two goals attack the captions of \"\(goal.captionClass)\"; each goal needs its own caption class")
            }
        }
        if settings.targetImage != nil { throw .invalidSetting("--image is for pair-one-image, not \(name)") }
        if settings.captionTrigger != nil { throw .invalidSetting("--caption-trigger is for caption-trigger, not \(name)") }
    }

    public static func plan(_ settings: RetrievalAttackSettings, context: RetrievalContext, count: Int,
                            rng: inout SplitMix64) throws(AttackError) -> [PlannedGoal] {
        let goals = settings.goals
        var planned: [PlannedGoal] = []
        for (g, goal) in goals.enumerated() {
            let share = count / goals.count + (g < count % goals.count ? 1 : 0)
            planned.append(try PairingSupport.classPairs(goal, choice: settings.captionRows, context: context, count: share, rng: &rng))
        }
        return planned
    }
}

extension RetrievalAttackKind {
    public static let multiGoal = RetrievalAttackKind(MultiGoalPairing.self)
}
