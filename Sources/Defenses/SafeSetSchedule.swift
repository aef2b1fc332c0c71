import Foundation

/// One epoch's split of the training set into a safe set (CLIP loss) and a risky set (unimodal loss).
public struct SafeSetSelection: Sendable, Codable, Equatable {
    /// How the safe set was chosen.
    public enum Rule: String, Sendable, Codable {
        /// First mixed epoch: every pair with `p_i ≥ threshold`.
        case threshold
        /// Later mixed epochs: the `⌊r·N⌋` pairs with the largest `p_i`.
        case topFraction
    }

    /// Zero-based index of this selection among the mixed (phase-3) epochs.
    public var mixedEpoch: Int
    /// The rule that produced this split.
    public var rule: Rule
    /// The fraction `r` of pairs selected as safe (for the threshold rule: the measured fraction).
    public var fraction: Double
    /// Safe pair indices, ascending.
    public var safe: [Int]
    /// Risky pair indices (every index not in `safe`), ascending.
    public var risky: [Int]
}

/// SafeCLIP's safe-set schedule (SPEC §3, phase 3) as a resumable state machine.
///
/// Call ``select(posteriors:similarities:)`` once per mixed epoch with the clean-component
/// posteriors `p_i` of all N pairs (from ``GaussianMixture1D``). The state holds everything a
/// resumed run needs, so save it (it is `Codable`) with the checkpoint.
///
/// What the official code does (SafeCLIP/src/main.py, the `else:` branch of the epoch loop), and
/// therefore what this does:
/// 1. First mixed epoch: safe = `{i : p_i ≥ threshold}` (0.9); `r = |safe| / N`.
/// 2. Every later mixed epoch: pairs sorted by `p_i` descending; safe = the first `⌊r·N⌋`.
/// 3. **Right after each selection** (the first one included) and before that epoch's training,
///    `r ← min(r + increment, cap)` (0.01, 0.85). So the second mixed epoch already uses
///    `min(r₁ + 0.01, 0.85)`, the third `min(r₁ + 0.02, 0.85)`, and so on. If `r₁ > cap` the
///    second epoch drops to `cap`: the official code does that too, and we keep it.
///
/// Deliberate differences, all documented choices rather than copies:
/// - Ties in `p_i` are broken by larger similarity first, then smaller index (the official code
///   sorts by similarity and then calls an unstable `argsort` on `p_i`, so its tie order is
///   unspecified). Pass `similarities: nil` to break ties by index only.
/// - `r` is a `Double` and `⌊r·N⌋` is taken with a 1e-9 relative slack, so that 0.15 + 0.01 + …
///   does not lose a pair to rounding (the official `r` is a float32 tensor).
/// - Resuming works: the official code restarts `r` from the `--filter_ratio` argument (0.15).
///
/// ```swift
/// var schedule = SafeSetSchedule()
/// let split = schedule.select(posteriors: p, similarities: s)   // epoch 1 of phase 3
/// // train unimodal on split.risky, then CLIP on split.safe
/// ```
///
/// ### See Also
/// - ``GaussianMixture1D``
/// - ``SafeCLIPLearningRate``
public struct SafeSetSchedule: Sendable, Codable, Equatable {
    /// Posterior threshold of the first mixed epoch (official 0.9).
    public var threshold: Double
    /// Added to `r` after each selection (official `update_filter_ratio` 0.01).
    public var increment: Double
    /// Upper bound of `r` after an increment (official `cap_filter_ratio` 0.85).
    public var cap: Double
    /// The fraction the next top-fraction selection will use; nil before the first selection.
    public private(set) var nextFraction: Double?
    /// Number of selections made so far.
    public private(set) var selectionsMade: Int

    /// A schedule that has made no selection yet.
    public init(threshold: Double = 0.9, increment: Double = 0.01, cap: Double = 0.85) {
        precondition((0...1).contains(threshold) && increment >= 0 && (0...1).contains(cap))
        self.threshold = threshold
        self.increment = increment
        self.cap = cap
        self.nextFraction = nil
        self.selectionsMade = 0
    }

    /// Chooses this epoch's safe and risky sets and advances the state.
    ///
    /// - Parameters:
    ///   - posteriors: `p_i` for every pair `i` in `0..<N` (values in [0, 1]).
    ///   - similarities: the pairs' cosine similarities (same count), used only to break ties.
    /// - Returns: the split, with both index lists ascending.
    public mutating func select(posteriors: [Double], similarities: [Double]? = nil) -> SafeSetSelection {
        if let similarities { precondition(similarities.count == posteriors.count, "similarities and posteriors differ in count") }
        let n = posteriors.count
        var isSafe = [Bool](repeating: false, count: n)
        let rule: SafeSetSelection.Rule
        let fraction: Double
        if let r = nextFraction {
            rule = .topFraction
            fraction = r
            let count = Self.safeCount(fraction: r, total: n)
            for i in Self.ranking(posteriors: posteriors, similarities: similarities).prefix(count) { isSafe[i] = true }
        } else {
            rule = .threshold
            // The official code keeps p_i ≥ 0.9 and p_i > 0 (`new_weights > 0`); the second
            // condition only matters for threshold 0.
            for i in 0..<n where posteriors[i] >= threshold && posteriors[i] > 0 { isSafe[i] = true }
            fraction = n == 0 ? 0 : Double(isSafe.count(where: { $0 })) / Double(n)
        }
        nextFraction = min(fraction + increment, cap)
        let selection = SafeSetSelection(
            mixedEpoch: selectionsMade, rule: rule, fraction: fraction,
            safe: (0..<n).filter { isSafe[$0] }, risky: (0..<n).filter { !isSafe[$0] })
        selectionsMade += 1
        return selection
    }

    /// How top-fraction selections rank the pairs.
    public enum Ranking: String, Sendable, Codable, CaseIterable {
        /// By the posterior of the larger-mean mixture component, as the reference code does. With
        /// two components of different variances the posterior is not monotone in similarity: a
        /// wide high-mean component can own the far-left tail.
        case posterior
        /// By cosine similarity (monotone). The first selection still uses the posterior threshold.
        case similarity
    }

    /// Changes the increment after the first selection and recomputes the next fraction from
    /// `fraction` (the first selection's r), so that a schedule can be made to reach its cap at
    /// a given epoch: with M mixed epochs, `increment = (cap − r₁) / (M − 1)`.
    public mutating func retarget(increment: Double, after fraction: Double) {
        precondition(increment >= 0, "retarget: negative increment")
        self.increment = increment
        nextFraction = min(fraction + increment, cap)
    }

    /// One SafeCLIP selection from raw similarities: fits `mixture` to them, takes the posterior
    /// of the larger-mean component as `p_i`, and selects with similarities as tie-breakers
    /// (with `ranking: .similarity`, top-fraction selections rank by similarity instead).
    ///
    /// A degenerate fit (see ``GaussianMixture1D``) gives `p_i = 1/K` for every pair, so a first
    /// epoch with a degenerate fit selects nothing (r = 0) and later epochs fall back to the
    /// similarity order.
    ///
    /// - Parameters:
    ///   - similarities: cosine similarity of every pair `0..<N` under the current model.
    ///   - mixture: the mixture fitter (default: 2 components, scikit-learn's settings).
    /// - Returns: the split and the fit (log it: means, weights, degenerate).
    public mutating func select(
        similarities: [Double], mixture: GaussianMixture1D = GaussianMixture1D(), ranking: Ranking = .posterior
    ) -> (selection: SafeSetSelection, fit: GaussianMixture1D.FitResult) {
        let fit = mixture.fit(similarities)
        let posteriors = fit.posteriorOfLargestMean(similarities)
        let scores = ranking == .similarity && nextFraction != nil ? similarities : posteriors
        return (select(posteriors: scores, similarities: similarities), fit)
    }

    /// `⌊r·N⌋` with a 1e-9 relative slack against floating-point drift, clamped to `0...N`.
    public static func safeCount(fraction: Double, total: Int) -> Int {
        let exact = fraction * Double(total)
        return max(0, min(total, Int((exact + 1e-9 * max(1, exact)).rounded(.down))))
    }

    /// Pair indices ordered by `p_i` descending, then similarity descending, then index ascending.
    /// Non-finite posteriors rank last.
    public static func ranking(posteriors: [Double], similarities: [Double]?) -> [Int] {
        func key(_ x: Double) -> Double { x.isNaN ? -.infinity : x }
        return posteriors.indices.sorted { a, b in
            let pa = key(posteriors[a]), pb = key(posteriors[b])
            if pa != pb { return pa > pb }
            if let s = similarities {
                let sa = key(s[a]), sb = key(s[b])
                if sa != sb { return sa > sb }
            }
            return a < b
        }
    }

    /// The safe-set sizes of the next `epochs` selections if the schedule continues from its
    /// current state, without changing it. Needs at least one selection made (`r` known).
    ///
    /// - Parameters:
    ///   - epochs: how many further mixed epochs to project.
    ///   - total: N, the number of pairs.
    /// - Returns: `⌊r_e·N⌋` for each projected epoch, in order.
    public func projectedSafeCounts(epochs: Int, total: Int) -> [Int] {
        guard var r = nextFraction else { preconditionFailure("projectedSafeCounts needs the first selection (r is not known yet)") }
        var counts: [Int] = []
        for _ in 0..<max(0, epochs) {
            counts.append(Self.safeCount(fraction: r, total: total))
            r = min(r + increment, cap)
        }
        return counts
    }
}
