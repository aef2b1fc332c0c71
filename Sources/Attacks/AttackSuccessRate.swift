/// The attack success rate of a backdoor over triggered evaluation images (SPEC §2).
///
/// `ASR = #{pred = target, true ≠ target} / #{true ≠ target}`: images whose true class *is* the
/// target are excluded, since predicting the target for them is correct, not an attack success.
/// (CleanCLIP's evaluation compares triggered predictions with the true labels, which is
/// accuracy, not ASR; this does not.)
public struct AttackSuccessReport: Codable, Sendable, Hashable {
    /// ASR over one true class.
    public struct ClassRate: Codable, Sendable, Hashable {
        public var trueClass: Int
        /// Images of this class predicted as the target.
        public var successes: Int
        /// Images of this class.
        public var count: Int
        /// `successes / count`, nil when there are none.
        public var asr: Double? { count > 0 ? Double(successes) / Double(count) : nil }

        enum CodingKeys: String, CodingKey { case trueClass = "true_class", successes, count }
    }

    public var target: Int
    /// Triggered images whose true class is not the target and that were predicted as the target.
    public var successes: Int
    /// Evaluation images whose true class is not the target (the ASR denominator).
    public var asrDenominator: Int
    /// Evaluation images of the target class, left out of the denominator.
    public var excludedTargetClassImages: Int
    /// Per true class (the target class excluded), in class order; classes without images are omitted.
    public var perClass: [ClassRate]

    /// `successes / asrDenominator`, nil when the denominator is 0.
    public var asr: Double? { asrDenominator > 0 ? Double(successes) / Double(asrDenominator) : nil }

    enum CodingKeys: String, CodingKey {
        case target, successes, asrDenominator = "asr_denominator"
        case excludedTargetClassImages = "excluded_target_class_images", perClass = "per_class"
    }
}

/// The attack success rate of triggered predictions.
///
/// - Parameters:
///   - predictions: predicted class of each triggered evaluation image, `[N]`.
///   - trueClasses: true class of each image, `[N]`.
///   - target: the attack's target class.
/// - Returns: ASR, its denominator (images whose true class is not the target) and per-class ASR.
///
/// ```swift
/// let report = attackSuccessRate(predictions: [3, 3, 1, 3], trueClasses: [0, 3, 1, 2], target: 3)
/// // report.asr == 2/3, report.asrDenominator == 3 (the image of class 3 is excluded)
/// ```
public func attackSuccessRate(predictions: [Int], trueClasses: [Int], target: Int) -> AttackSuccessReport {
    precondition(predictions.count == trueClasses.count,
                 "attackSuccessRate: \(predictions.count) predictions for \(trueClasses.count) labels")
    var successes = 0, denominator = 0, excluded = 0
    var perClass: [Int: (successes: Int, count: Int)] = [:]
    for (predicted, truth) in zip(predictions, trueClasses) {
        if truth == target { excluded += 1; continue }
        denominator += 1
        let hit = predicted == target
        if hit { successes += 1 }
        perClass[truth, default: (0, 0)].count += 1
        if hit { perClass[truth]!.successes += 1 }
    }
    let rates = perClass.keys.sorted().map { c in
        AttackSuccessReport.ClassRate(trueClass: c, successes: perClass[c]!.successes, count: perClass[c]!.count)
    }
    return AttackSuccessReport(target: target, successes: successes, asrDenominator: denominator,
                               excludedTargetClassImages: excluded, perClass: rates)
}

/// The outcome of targeted poisoning (SPEC §2): whether each target image's zero-shot top-1
/// is the adversarial class.
public struct TargetedPoisoningOutcome: Codable, Sendable, Hashable {
    /// For each target image, whether it was classified as its adversarial class.
    public var succeeded: [Bool]
    public var successes: Int { succeeded.filter { $0 }.count }
    /// The fraction of target images classified as their adversarial class, nil for none.
    public var successRate: Double? { succeeded.isEmpty ? nil : Double(successes) / Double(succeeded.count) }
}

/// Targeted-poisoning success: `predictions[i] == adversarialClasses[i]` for each target image.
///
/// - Parameters:
///   - predictions: zero-shot top-1 class of each target image, `[M]`.
///   - adversarialClasses: the class each image was poisoned towards, `[M]`.
public func targetedPoisoningOutcome(predictions: [Int], adversarialClasses: [Int]) -> TargetedPoisoningOutcome {
    precondition(predictions.count == adversarialClasses.count,
                 "targetedPoisoningOutcome: \(predictions.count) predictions for \(adversarialClasses.count) targets")
    return TargetedPoisoningOutcome(succeeded: zip(predictions, adversarialClasses).map { $0 == $1 })
}
