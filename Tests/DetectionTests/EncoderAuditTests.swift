import Detection
import Foundation
import TestSupport
import Testing
import Torch

/// DECREE's trigger inversion (`clipguard audit`): the loss and its gradient, the adaptive search
/// and the verdict on encoders whose answer is known by construction.
@Suite struct EncoderAuditTests {
    /// A tiny float64 encoder: `tanh((x − 0.5)·W1)·W2` over the flattened image.
    static func tinyEncoder(pixels: Int, hidden: Int = 6, out: Int = 4, seed: UInt64) -> (Tensor) -> Tensor {
        let g = Generator(seed: seed)
        let w1 = Tensor.randn([pixels, hidden], dtype: .float64, generator: g) * (1 / Double(pixels).squareRoot())
        let w2 = Tensor.randn([hidden, out], dtype: .float64, generator: g)
        return { x in ((x - 0.5).flattened(startDim: 1).matmul(w1)).tanh().matmul(w2) }
    }

    @Test func selfSimilarityIsTheMeanOffDiagonalCosine() {
        let e = Tensor.randn([5, 3], dtype: .float64, generator: Generator(seed: 3))
        let rows: [[Double]] = (0..<5).map { e.select(dim: 0, index: $0).toArray(as: Double.self) }
        var total = 0.0
        for i in 0..<5 {
            for j in 0..<5 where i != j {
                let dot = zip(rows[i], rows[j]).map(*).reduce(0, +)
                let ni = rows[i].map { $0 * $0 }.reduce(0, +).squareRoot(), nj = rows[j].map { $0 * $0 }.reduce(0, +).squareRoot()
                total += dot / (ni * nj)
            }
        }
        expectClose([EncoderAudit.selfSimilarity(e).item()], [total / 20], rtol: 1e-12, atol: 1e-12)
    }

    @Test func maskAndPatternStayInsideTheUnitInterval() {
        let w = Tensor([-40.0, -1, 0, 1, 40], shape: [5])
        let (m, p) = EncoderAudit.maskAndPattern(maskLogits: w, patternLogits: w)
        let values = m.toArray(as: Double.self) + p.toArray(as: Double.self)
        #expect(values.allSatisfy { $0 >= 0 && $0 <= 1 })
        expectClose([m.toArray(as: Double.self)[2]], [0.5], atol: 1e-12)
    }

    /// The loss's autograd gradient w.r.t. the mask and pattern logits equals float64 central
    /// finite differences on a tiny encoder, entry by entry.
    @Test func lossGradientMatchesFiniteDifferences() {
        let h = 4, w = 4, n = 5
        let encode = Self.tinyEncoder(pixels: 3 * h * w, seed: 11)
        let g = Generator(seed: 5)
        let images = Tensor.rand([n, 3, h, w], dtype: .float64, generator: g) * 0.9 + 0.05
        let maskLogits = (Tensor.randn([h, w], dtype: .float64, generator: g) * 0.7).requiringGrad()
        let patternLogits = (Tensor.randn([3, h, w], dtype: .float64, generator: g) * 0.7).requiringGrad()
        let lambda = 0.013
        let loss = withGrad {
            EncoderAudit.loss(images: images, maskLogits: maskLogits, patternLogits: patternLogits, lambda: lambda, encode: encode).loss
        }
        let grads = gradients(of: [loss], withRespectTo: [maskLogits, patternLogits])
        guard let gw = grads[0], let gq = grads[1] else {
            Issue.record("no gradient")
            return
        }
        func value(_ wv: [Double], _ qv: [Double]) -> Double {
            noGrad {
                EncoderAudit.loss(
                    images: images, maskLogits: Tensor(wv, shape: [h, w]), patternLogits: Tensor(qv, shape: [3, h, w]),
                    lambda: lambda, encode: encode
                ).loss.item()
            }
        }
        let w0 = maskLogits.detached().toArray(as: Double.self), q0 = patternLogits.detached().toArray(as: Double.self)
        let step = 1e-6
        var numericW: [Double] = [], numericQ: [Double] = []
        for i in w0.indices {
            var plus = w0, minus = w0
            plus[i] += step
            minus[i] -= step
            numericW.append((value(plus, q0) - value(minus, q0)) / (2 * step))
        }
        for i in q0.indices {
            var plus = q0, minus = q0
            plus[i] += step
            minus[i] -= step
            numericQ.append((value(w0, plus) - value(w0, minus)) / (2 * step))
        }
        expectClose(gw.toArray(as: Double.self), numericW, rtol: 1e-5, atol: 1e-8, "mask logits")
        expectClose(gq.toArray(as: Double.self), numericQ, rtol: 1e-5, atol: 1e-8, "pattern logits")
        // The gradient is not trivially zero.
        #expect(gw.abs().max().item() > 1e-4 && gq.abs().max().item() > 1e-4)
    }

    /// A synthetic "backdoored" encoder whose output is swamped by one direction when the 2×2
    /// bottom-right corner is white needs a mask of about 4/64 of the image; a clean (linear,
    /// centred) encoder needs nearly all of it. The verdict separates them at 0.1.
    @Test func verdictSeparatesABackdooredFromACleanSyntheticEncoder() throws {
        let side = 8, n = 32
        let images = Tensor.rand([n, 3, side, side], dtype: .float32, generator: Generator(seed: 1))
        let g = Generator(seed: 2)
        let a = Tensor.randn([3 * side * side, 8], generator: g) * (1 / Double(3 * side * side).squareRoot())
        let v = Tensor.randn([1, 8], generator: g)
        let clean: (Tensor) -> Tensor = { x in (x - 0.5).flattened(startDim: 1).matmul(a) }
        let backdoored: (Tensor) -> Tensor = { x in
            let corner = x.narrowed(dim: 2, start: side - 2, length: 2).narrowed(dim: 3, start: side - 2, length: 2)
            let s = corner.mean(dims: [1, 2, 3]).unsqueezed(dim: 1)  // [N, 1]
            return clean(x) + (s * s * s * s * s * s * s * s * 200.0).matmul(v)
        }
        var options = EncoderAuditOptions()
        options.maxEpochs = 300
        options.batchSize = 32
        options.seed = 7
        let suspicious = try EncoderAudit.run(images: images, options: options, encode: backdoored)
        let benign = try EncoderAudit.run(images: images, options: options, encode: clean)
        #expect(suspicious.reached)
        #expect(suspicious.pl1 < 0.1, "backdoored PL1 \(suspicious.pl1)")
        #expect(benign.pl1 > 0.5, "clean PL1 \(benign.pl1)")
        #expect(EncoderAudit.isSuspicious(pl1: suspicious.pl1, threshold: 0.1))
        #expect(!EncoderAudit.isSuspicious(pl1: benign.pl1, threshold: 0.1))
        // The inverted mask sits on the corner.
        var cornerMass = 0.0, total = 0.0
        for y in 0..<side {
            for x in 0..<side {
                let m = Double(suspicious.mask[y * side + x])
                total += m
                if y >= side - 2 && x >= side - 2 { cornerMass += m }
            }
        }
        #expect(cornerMass / total > 0.5, "corner holds \(cornerMass) of \(total)")
        #expect(suspicious.mask.count == side * side && suspicious.pattern.count == 3 * side * side)
    }

    @Test func sameSeedGivesTheSameTrigger() throws {
        let images = Tensor.rand([6, 3, 4, 4], generator: Generator(seed: 4))
        let encode = Self.tinyEncoder(pixels: 48, seed: 9)
        var options = EncoderAuditOptions()
        options.maxEpochs = 20
        options.seed = 3
        let one = try EncoderAudit.run(images: images.to(.float64), options: options, encode: encode)
        let two = try EncoderAudit.run(images: images.to(.float64), options: options, encode: encode)
        #expect(one.mask == two.mask && one.pattern == two.pattern && one.pl1 == two.pl1)
        options.seed = 4
        let other = try EncoderAudit.run(images: images.to(.float64), options: options, encode: encode)
        #expect(other.mask != one.mask)
    }

    @Test func fewerThanTwoImagesAreRefused() {
        #expect(throws: (any Error).self) {
            try EncoderAudit.run(images: Tensor.rand([1, 3, 4, 4]), encode: { $0.flattened(startDim: 1) })
        }
    }
}
