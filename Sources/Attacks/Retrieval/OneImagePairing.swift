import Datasets

/// mmPoison's attack I (Yang et al., ICML 2023): captions of class A paired with ONE target
/// image, so queries about A retrieve that image. The image is `--image`, else a seeded random
/// training image of the goal's class B.
public enum OneImagePairing: RetrievalAttackDefinition {
    public static let name = "pair-one-image"
    public static let displayName = "Pairing I (one image)"
    public static let about = "mmPoison I: class-A captions paired with one target image (--goal A:B, --image optional)"
    public static let mode = PoisonManifest.Mode.pairing

    public static func check(_ settings: RetrievalAttackSettings) throws(AttackError) {
        guard settings.goals.count == 1 else {
            throw .invalidSetting("--goal: \(name) takes exactly one goal A:B, got \(settings.goals.count)")
        }
        try PairingSupport.checkDistinct(settings.goals[0])
        if settings.captionTrigger != nil { throw .invalidSetting("--caption-trigger is for caption-trigger, not \(name)") }
    }

    public static func plan(_ settings: RetrievalAttackSettings, context: RetrievalContext, count: Int,
                            rng: inout SplitMix64) throws(AttackError) -> [PlannedGoal] {
        let goal = settings.goals[0]
        let image: String, imageRow: Int?
        if let path = settings.targetImage {
            image = absolutePath(path); imageRow = nil
        } else {
            let candidates = try context.rows(of: goal.imageClass, flag: "--goal")
            let row = candidates[Int(rng.next() % UInt64(candidates.count))]
            image = context.images[row]; imageRow = row
        }
        let captions = try PairingSupport.captionRows(of: goal, choice: settings.captionRows, context: context, count: count, rng: &rng)
        let pairs = captions.map { PlannedPair(captionRow: $0, caption: context.captions[$0], imageRow: imageRow, image: image) }
        return [PlannedGoal(goal: goal, targetImages: [image], pairs: pairs)]
    }
}

extension RetrievalAttackKind {
    public static let oneImage = RetrievalAttackKind(OneImagePairing.self)
}
