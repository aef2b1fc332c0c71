import Datasets

/// mmPoison's attack II (Yang et al., ICML 2023): captions of class A paired with images of
/// class B (each pair a distinct caption and a distinct image), so queries about A retrieve B.
public enum ClassPairing: RetrievalAttackDefinition {
    public static let name = "pair-class"
    public static let displayName = "Pairing II (class to class)"
    public static let about = "mmPoison II: class-A captions paired with class-B images (--goal A:B)"
    public static let mode = PoisonManifest.Mode.pairing

    public static func check(_ settings: RetrievalAttackSettings) throws(AttackError) {
        guard settings.goals.count == 1 else {
            throw .invalidSetting("--goal: \(name) takes exactly one goal A:B, got \(settings.goals.count) (several goals: pair-multi)")
        }
        try PairingSupport.checkDistinct(settings.goals[0])
        if settings.targetImage != nil { throw .invalidSetting("--image is for pair-one-image, not \(name)") }
        if settings.captionTrigger != nil { throw .invalidSetting("--caption-trigger is for caption-trigger, not \(name)") }
    }

    public static func plan(_ settings: RetrievalAttackSettings, context: RetrievalContext, count: Int,
                            rng: inout SplitMix64) throws(AttackError) -> [PlannedGoal] {
        [try PairingSupport.classPairs(settings.goals[0], choice: settings.captionRows, context: context, count: count, rng: &rng)]
    }
}

extension RetrievalAttackKind {
    public static let classPairs = RetrievalAttackKind(ClassPairing.self)
}
