import Foundation
import Testing
import TestSupport

@testable import Defenses

/// One data set of Tests/Fixtures/defenses/gmm.json and scikit-learn's fit of it.
struct SklearnCase: Decodable {
    var values: [Double]
    var means: [Double]
    var variances: [Double]
    var weights: [Double]
    var score: Double
    var n_iter: Int
    var converged: Bool
    var posterior_largest: [Double]
}

struct GMMFixture: Decodable {
    var version: Int
    var sklearn: String
    var cases: [String: SklearnCase]
}

func loadGMMFixture() throws -> GMMFixture {
    let url = fixturesDirectory.appendingPathComponent("defenses/gmm.json")
    return try JSONDecoder().decode(GMMFixture.self, from: Data(contentsOf: url))
}

@Suite("GaussianMixture1D")
struct GaussianMixture1DTests {
    /// Components of `fit` sorted by mean, as (mean, variance, weight).
    func byMean(_ means: [Double], _ variances: [Double], _ weights: [Double]) -> [[Double]] {
        means.indices.sorted { means[$0] < means[$1] }.map { [means[$0], variances[$0], weights[$0]] }
    }

    @Test("matches scikit-learn on well-posed data", arguments: ["bimodal", "skewed", "spike", "two_values"])
    func matchesSklearn(name: String) throws {
        let fixture = try loadGMMFixture()
        #expect(fixture.version == 1)
        let c = try #require(fixture.cases[name])
        let fit = GaussianMixture1D().fit(c.values)
        #expect(fit.degenerate == nil)
        #expect(fit.converged == c.converged)
        // Same k-means partition ⇒ same EM trajectory ⇒ same iteration count.
        #expect(fit.iterations == c.n_iter, "EM iterations \(fit.iterations) vs sklearn \(c.n_iter)")
        let ours = byMean(fit.means, fit.variances, fit.weights)
        let theirs = byMean(c.means, c.variances, c.weights)
        expectClose(ours.flatMap { $0 }, theirs.flatMap { $0 }, rtol: 1e-9, atol: 1e-12)
        expectClose([fit.logLikelihood], [c.score], rtol: 1e-10, atol: 1e-12)
        expectClose(fit.posteriorOfLargestMean(c.values), c.posterior_largest, rtol: 1e-9, atol: 1e-12)
    }

    @Test("overlapping data: at least as likely as scikit-learn's fit")
    func overlapping() throws {
        let c = try #require(try loadGMMFixture().cases["unimodal"])
        let fit = GaussianMixture1D().fit(c.values)
        #expect(fit.degenerate == nil)
        #expect(fit.logLikelihood >= c.score - 1e-6)
        let p = fit.posteriorOfLargestMean(c.values)
        #expect(p.allSatisfy { $0.isFinite && (0...1).contains($0) })
    }

    @Test("posteriors over components sum to one and the larger-mean posterior rises with the value")
    func posteriorProperties() throws {
        let c = try #require(try loadGMMFixture().cases["bimodal"])
        let fit = GaussianMixture1D().fit(c.values)
        let p0 = fit.posterior(ofComponent: 0, c.values), p1 = fit.posterior(ofComponent: 1, c.values)
        expectClose(zip(p0, p1).map { $0 + $1 }, Array(repeating: 1, count: c.values.count), atol: 1e-12)
        let grid = stride(from: 0.1, through: 0.3, by: 0.01).map { $0 }
        let pg = fit.posteriorOfLargestMean(grid)
        #expect(zip(pg, pg.dropFirst()).allSatisfy { $0 <= $1 + 1e-12 })
        #expect(fit.means[fit.largestMeanComponent] == fit.means.max())
        expectClose([fit.weights.reduce(0, +)], [1], atol: 1e-12)
    }

    @Test("order of the values does not change the fit")
    func permutationInvariant() throws {
        let c = try #require(try loadGMMFixture().cases["skewed"])
        var rng = SplitMix(seed: 5)
        let shuffled = c.values.shuffled(using: &rng)
        let a = GaussianMixture1D().fit(c.values), b = GaussianMixture1D().fit(shuffled)
        let ours = byMean(a.means, a.variances, a.weights), theirs = byMean(b.means, b.variances, b.weights)
        expectClose(ours.flatMap { $0 }, theirs.flatMap { $0 }, rtol: 1e-9, atol: 1e-12)
    }

    @Test("degenerate inputs are reported and give uniform posteriors, never NaN", arguments: [
        ("empty", [Double]()),
        ("all equal", [Double](repeating: 0.3, count: 20)),
        ("one value", [0.5]),
        ("NaN", [0.1, 0.2, .nan, 0.9]),
        ("infinity", [0.1, .infinity, 0.3]),
    ])
    func degenerate(label: String, values: [Double]) {
        let fit = GaussianMixture1D().fit(values)
        #expect(fit.degenerate != nil, "\(label)")
        let p = fit.posteriorOfLargestMean(values)
        #expect(p.count == values.count)
        #expect(p.allSatisfy { $0 == 0.5 }, "\(label): \(p)")
        #expect(!fit.logLikelihood.isNaN && fit.means.allSatisfy(\.isFinite) && fit.variances.allSatisfy { $0 > 0 }, "\(label)")
    }

    @Test("three components when asked, weights sum to one")
    func threeComponents() {
        var rng = SplitMix(seed: 11)
        func normal(_ mu: Double, _ sigma: Double) -> Double {
            let u1 = max(Double(rng.next() >> 11) * 0x1p-53, 1e-300), u2 = Double(rng.next() >> 11) * 0x1p-53
            return mu + sigma * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
        let values = (0..<200).map { _ in normal(-1, 0.1) } + (0..<200).map { _ in normal(0, 0.1) } + (0..<200).map { _ in normal(1, 0.1) }
        let fit = GaussianMixture1D(options: .init(components: 3)).fit(values)
        #expect(fit.degenerate == nil)
        let means = fit.means.sorted()
        expectClose(means, [-1, 0, 1], atol: 0.03)
        expectClose([fit.weights.reduce(0, +)], [1], atol: 1e-12)
    }

    @Test("the result is Codable")
    func codable() throws {
        let fit = GaussianMixture1D().fit([0.1, 0.2, 0.3, 0.8, 0.9])
        let data = try JSONEncoder().encode(fit)
        #expect(try JSONDecoder().decode(GaussianMixture1D.FitResult.self, from: data) == fit)
    }
}

@Suite("GaussianMixture1D timing (measurement only)", .enabled(if: ProcessInfo.processInfo.environment["CLIPGUARD_MEASURE"] != nil))
struct GaussianMixture1DMeasurement {
    @Test("fit time for N = 500,000 (prints; no limit)")
    func fitTime() {
        var rng = SplitMix(seed: 1)
        let values = (0..<500_000).map { i -> Double in
            let u = Double(rng.next() >> 11) * 0x1p-53
            return i % 10 == 0 ? 0.05 + 0.05 * u : 0.2 + 0.2 * u
        }
        let clock = ContinuousClock()
        var fit: GaussianMixture1D.FitResult?
        let elapsed = clock.measure { fit = GaussianMixture1D().fit(values) }
        print("GMM fit of 500,000 values: \(elapsed), iterations \(fit!.iterations)")
        #expect(fit!.degenerate == nil)
    }
}
