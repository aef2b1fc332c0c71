import Foundation

/// A K-component mixture of univariate Gaussians fitted by expectation–maximisation, in `Double`.
///
/// SafeCLIP (Yang, Gao & Mirzasoleiman, ICML 2024) fits a 2-component mixture to the cosine
/// similarities of all training pairs each epoch and uses the posterior of the component with the
/// larger mean as the probability that a pair is clean. The official code calls scikit-learn's
/// `GaussianMixture(n_components=2, random_state=0)` (SafeCLIP/src/samplers.py,
/// `fit_gmm_to_cos_sim`); the defaults there are what ``Options`` defaults to: tolerance 1e-3 on
/// the change of the mean log-likelihood, at most 100 iterations, `reg_covar` 1e-6 added to every
/// variance, and a k-means initialisation.
///
/// Each fit runs EM from several starts and keeps the one with the highest final mean
/// log-likelihood; a later start replaces an earlier one only if it is better by more than
/// `tolerance`, so that starts reaching the same optimum return the first (k-means) start's fit:
/// 1. 1-D k-means (Lloyd) seeded at evenly spaced quantiles — on ordinary data the same partition
///    scikit-learn's k-means finds, hence the same EM trajectory;
/// 2. `options.randomStarts` starts whose means are distinct data values drawn with a seeded
///    generator, equal weights and the pooled variance.
///
/// The M-step and stopping rule follow scikit-learn's: `n_k = Σ r_ik + 10·ε`, `μ_k = Σ r_ik x_i / n_k`,
/// `σ²_k = Σ r_ik (x_i − μ_k)² / n_k + varianceFloor`, `π_k = n_k / N`; the loop stops when the mean
/// log-likelihood computed in the E-step changes by less than `tolerance`.
///
/// Degenerate inputs never produce NaN. They are reported in ``FitResult/degenerate`` and get the
/// uninformative posterior `1/K` for every value:
/// - empty input; any non-finite value (NaN, ±∞);
/// - fewer than K distinct values (for example all values equal);
/// - a component that ends with (numerically) zero weight.
///
/// ```swift
/// let fit = GaussianMixture1D().fit(similarities)
/// let clean = fit.posteriorOfLargestMean(similarities)   // p_i of SafeCLIP
/// ```
///
/// ### See Also
/// - ``SafeSetSchedule``
public struct GaussianMixture1D: Sendable, Codable, Equatable {
    /// Fitting options; defaults are scikit-learn's `GaussianMixture` defaults with K = 2.
    public struct Options: Sendable, Codable, Equatable {
        /// Number of components K (≥ 1).
        public var components: Int = 2
        /// Stop when the mean log-likelihood changes by less than this (scikit-learn `tol`).
        public var tolerance: Double = 1e-3
        /// Most EM iterations per start (scikit-learn `max_iter`).
        public var maxIterations: Int = 100
        /// Added to every variance after each M-step (scikit-learn `reg_covar`).
        public var varianceFloor: Double = 1e-6
        /// Number of seeded random starts in addition to the k-means start.
        public var randomStarts: Int = 2
        /// Seed of the random starts.
        public var seed: UInt64 = 0

        public init(
            components: Int = 2, tolerance: Double = 1e-3, maxIterations: Int = 100,
            varianceFloor: Double = 1e-6, randomStarts: Int = 2, seed: UInt64 = 0
        ) {
            self.components = components
            self.tolerance = tolerance
            self.maxIterations = maxIterations
            self.varianceFloor = varianceFloor
            self.randomStarts = randomStarts
            self.seed = seed
        }
    }

    /// The fitted mixture.
    public struct FitResult: Sendable, Codable, Equatable {
        /// Component means, in the order the fit produced them (not sorted).
        public var means: [Double]
        /// Component variances, each at least the variance floor.
        public var variances: [Double]
        /// Mixing weights, summing to 1.
        public var weights: [Double]
        /// Mean per-value log-likelihood of the data under the final parameters.
        public var logLikelihood: Double
        /// EM iterations of the start that was kept.
        public var iterations: Int
        /// Whether the kept start met the tolerance before `maxIterations`.
        public var converged: Bool
        /// Why the fit is not trustworthy, or nil. When set, posteriors are uniform (1/K).
        public var degenerate: String?

        /// Index of the component with the largest mean (the "clean" component in SafeCLIP).
        public var largestMeanComponent: Int {
            means.indices.max { means[$0] < means[$1] } ?? 0
        }

        /// Posterior probability of component `k` for each value (uniform 1/K if degenerate).
        ///
        /// - Parameters:
        ///   - k: a component index in `0..<means.count`.
        ///   - values: the values to score (usually the ones fitted).
        /// - Returns: one probability in [0, 1] per value; non-finite values get 1/K.
        public func posterior(ofComponent k: Int, _ values: [Double]) -> [Double] {
            precondition(means.indices.contains(k), "component \(k) out of range 0..<\(means.count)")
            let uniform = 1 / Double(means.count)
            if degenerate != nil { return Array(repeating: uniform, count: values.count) }
            let logNorms = zip(weights, variances).map { w, v in Foundation.log(w) - 0.5 * Foundation.log(2 * Double.pi * v) }
            var logJoint = [Double](repeating: 0, count: means.count)
            return values.map { x in
                guard x.isFinite else { return uniform }
                for j in means.indices {
                    let d = x - means[j]
                    logJoint[j] = logNorms[j] - 0.5 * d * d / variances[j]
                }
                let total = logSumExp(logJoint)
                return Foundation.exp(logJoint[k] - total)
            }
        }

        /// Posterior of the component with the largest mean: SafeCLIP's `p_i`.
        public func posteriorOfLargestMean(_ values: [Double]) -> [Double] {
            posterior(ofComponent: largestMeanComponent, values)
        }
    }

    /// The options every fit uses.
    public var options: Options

    /// A mixture fitter with the given options.
    public init(options: Options = Options()) {
        precondition(options.components >= 1, "components must be at least 1")
        precondition(options.maxIterations >= 1, "maxIterations must be at least 1")
        precondition(options.varianceFloor > 0, "varianceFloor must be positive")
        self.options = options
    }

    /// Fits the mixture to `values` by EM from several starts; see the type's discussion.
    public func fit(_ values: [Double]) -> FitResult {
        let k = options.components
        if values.isEmpty { return fallback(values, reason: "empty input") }
        let nonFinite = values.count(where: { !$0.isFinite })
        if nonFinite > 0 { return fallback(values, reason: "\(nonFinite) non-finite value(s) in the input") }
        let distinct = Set(values).count
        if distinct < k { return fallback(values, reason: "\(distinct) distinct value(s), fewer than \(k) components") }

        let sorted = values.sorted()
        var starts: [Parameters] = [kMeansStart(values, sorted: sorted)]
        var rng = SplitMix(seed: options.seed)
        let distinctValues = Array(Set(values)).sorted()
        let pooled = Self.variance(values) + options.varianceFloor
        for _ in 0..<options.randomStarts {
            var chosen = Set<Int>()
            while chosen.count < k { chosen.insert(Int(rng.next() % UInt64(distinctValues.count))) }
            let means = chosen.sorted().map { distinctValues[$0] }
            starts.append(Parameters(means: means, variances: Array(repeating: pooled, count: k), weights: Array(repeating: 1 / Double(k), count: k)))
        }

        var best: FitResult?
        for start in starts {
            let result = runEM(values, from: start)
            // A later start must beat the kept one by more than the tolerance: starts that reach
            // the same optimum keep the k-means start's result, which is scikit-learn's.
            if best == nil || result.logLikelihood > best!.logLikelihood + options.tolerance { best = result }
        }
        var result = best!
        if let empty = result.weights.firstIndex(where: { $0 < 1e-10 }) {
            result.degenerate = "component \(empty) is empty (weight \(result.weights[empty]))"
        }
        return result
    }

    // MARK: - EM

    struct Parameters {
        var means: [Double]
        var variances: [Double]
        var weights: [Double]
    }

    /// Hard k-means partition (Lloyd, seeded at quantiles (j + ½)/K), turned into parameters by one
    /// M-step, as scikit-learn's `init_params="kmeans"` does.
    ///
    /// In 1-D the clusters of ascending centres are contiguous runs of the sorted values, so each
    /// Lloyd step is K binary searches on `sorted` plus prefix sums. A value equidistant from two
    /// centres joins the lower one.
    func kMeansStart(_ values: [Double], sorted: [Double]) -> Parameters {
        let k = options.components, n = values.count
        var centers = (0..<k).map { j in sorted[min(n - 1, Int((Double(j) + 0.5) / Double(k) * Double(n)))] }
        var prefix = [Double](repeating: 0, count: n + 1)
        for i in 0..<n { prefix[i + 1] = prefix[i] + sorted[i] }
        /// First sorted position that belongs to a cluster above `j` (values closer to `centers[j + 1]`).
        func boundary(_ j: Int, _ c: [Double]) -> Int {
            var lo = 0, hi = n
            while lo < hi {
                let mid = (lo + hi) / 2
                if abs(sorted[mid] - c[j]) <= abs(sorted[mid] - c[j + 1]) { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }
        for _ in 0..<300 {
            var ends = (0..<(k - 1)).map { boundary($0, centers) } + [n]
            for j in 1..<k { ends[j] = max(ends[j], ends[j - 1]) }
            var next = centers
            var begin = 0
            for j in 0..<k {
                if ends[j] > begin { next[j] = (prefix[ends[j]] - prefix[begin]) / Double(ends[j] - begin) }
                begin = ends[j]
            }
            if next == centers { break }
            centers = next
        }
        var responsibilities = [Double](repeating: 0, count: n * k)
        for (i, x) in values.enumerated() {
            var label = 0
            while label < k - 1 && abs(x - centers[label]) > abs(x - centers[label + 1]) { label += 1 }
            responsibilities[i * k + label] = 1
        }
        return mStep(values, responsibilities: responsibilities)
    }

    /// scikit-learn's M-step for diagonal 1-D Gaussians; `responsibilities` is row-major `[N, K]`.
    func mStep(_ values: [Double], responsibilities: [Double]) -> Parameters {
        let k = options.components, n = values.count
        var nk = [Double](repeating: 10 * Double.ulpOfOne, count: k)
        var sums = [Double](repeating: 0, count: k)
        var squares = [Double](repeating: 0, count: k)
        values.withUnsafeBufferPointer { x in
            responsibilities.withUnsafeBufferPointer { r in
                for i in 0..<n {
                    for j in 0..<k {
                        nk[j] += r[i * k + j]
                        sums[j] += r[i * k + j] * x[i]
                    }
                }
                let means = (0..<k).map { sums[$0] / nk[$0] }
                for i in 0..<n {
                    for j in 0..<k {
                        let d = x[i] - means[j]
                        squares[j] += r[i * k + j] * d * d
                    }
                }
            }
        }
        let means = (0..<k).map { sums[$0] / nk[$0] }
        let variances = (0..<k).map { squares[$0] / nk[$0] + options.varianceFloor }
        return Parameters(means: means, variances: variances, weights: nk.map { $0 / Double(n) })
    }

    /// E-step: fills `responsibilities` (`[N, K]`) and returns the mean log-likelihood.
    func eStep(_ values: [Double], _ p: Parameters, responsibilities: inout [Double]) -> Double {
        let k = options.components
        let logNorms = (0..<k).map { Foundation.log(p.weights[$0]) - 0.5 * Foundation.log(2 * Double.pi * p.variances[$0]) }
        let halfPrecisions = p.variances.map { 0.5 / $0 }
        var total = 0.0
        var row = [Double](repeating: 0, count: k)
        values.withUnsafeBufferPointer { x in
            responsibilities.withUnsafeMutableBufferPointer { r in
                for i in 0..<x.count {
                    var m = -Double.infinity
                    for j in 0..<k {
                        let d = x[i] - p.means[j]
                        row[j] = logNorms[j] - d * d * halfPrecisions[j]
                        m = Swift.max(m, row[j])
                    }
                    var sum = 0.0
                    for j in 0..<k { sum += Foundation.exp(row[j] - m) }
                    let norm = m + Foundation.log(sum)
                    total += norm
                    for j in 0..<k { r[i * k + j] = Foundation.exp(row[j] - norm) }
                }
            }
        }
        return total / Double(values.count)
    }

    func runEM(_ values: [Double], from start: Parameters) -> FitResult {
        var p = start
        var r = [Double](repeating: 0, count: values.count * options.components)
        var lowerBound = -Double.infinity
        var iterations = 0, converged = false
        for iteration in 1...options.maxIterations {
            iterations = iteration
            let previous = lowerBound
            lowerBound = eStep(values, p, responsibilities: &r)
            p = mStep(values, responsibilities: r)
            if abs(lowerBound - previous) < options.tolerance { converged = true; break }
        }
        let finalLikelihood = eStep(values, p, responsibilities: &r)
        return FitResult(
            means: p.means, variances: p.variances, weights: p.weights, logLikelihood: finalLikelihood,
            iterations: iterations, converged: converged, degenerate: nil)
    }

    /// The uniform fallback for degenerate input: every component gets the finite values' mean and
    /// variance (plus the floor) and weight 1/K.
    func fallback(_ values: [Double], reason: String) -> FitResult {
        let k = options.components
        let finite = values.filter(\.isFinite)
        let mean = finite.isEmpty ? 0 : finite.reduce(0, +) / Double(finite.count)
        let variance = Self.variance(finite) + options.varianceFloor
        var logLikelihood = 0.0
        if !finite.isEmpty {
            let s = finite.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            logLikelihood = -0.5 * Foundation.log(2 * Double.pi * variance) - 0.5 * s / variance / Double(finite.count)
        }
        return FitResult(
            means: Array(repeating: mean, count: k), variances: Array(repeating: variance, count: k),
            weights: Array(repeating: 1 / Double(k), count: k), logLikelihood: logLikelihood,
            iterations: 0, converged: false, degenerate: reason)
    }

    /// Population variance (0 for fewer than two values).
    static func variance(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
    }
}

/// `log Σ exp(x_j)`, stable for large or very negative entries.
func logSumExp(_ x: [Double]) -> Double {
    guard let m = x.max(), m.isFinite else { return x.max() ?? -.infinity }
    return m + Foundation.log(x.reduce(0) { $0 + Foundation.exp($1 - m) })
}

/// SplitMix64 (Steele, Lea & Flood 2014), the project's seeded generator, kept private to this
/// module so that Defenses depends only on Torch and NN.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
