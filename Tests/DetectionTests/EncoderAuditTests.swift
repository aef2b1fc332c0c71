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

    /// `images` random 8×8 images `[N, 3, 8, 8]` and two synthetic encoders `[N, 3, 8, 8] → [N, 8]`:
    /// a clean linear one (centred pixels times a fixed matrix) and a "backdoored" one, the clean
    /// output plus one fixed direction scaled by the 8th power of the 2×2 bottom-right corner's mean,
    /// so a white corner swamps everything else.
    static func syntheticEncoders(images n: Int) -> (images: Tensor, clean: (Tensor) -> Tensor, backdoored: (Tensor) -> Tensor) {
        let side = 8
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
        return (images, clean, backdoored)
    }

    /// A synthetic "backdoored" encoder whose output is swamped by one direction when the 2×2
    /// bottom-right corner is white needs a mask of about 4/64 of the image; a clean (linear,
    /// centred) encoder needs nearly all of it. The verdict separates them at 0.1.
    @Test func verdictSeparatesABackdooredFromACleanSyntheticEncoder() throws {
        let side = 8
        let (images, clean, backdoored) = Self.syntheticEncoders(images: 32)
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

    /// Nearest upsampling by whole cells repeats each grid value over its block and crops the
    /// blocks past the image, for a mask `[h, w]` and a pattern `[3, h, w]`.
    @Test func upsampledRepeatsEachCellOverItsBlock() {
        let grid = Tensor((0..<6).map(Double.init), shape: [2, 3])
        let up = EncoderAudit.upsampled(grid, cell: 2, height: 3, width: 5)
        #expect(up.shape == [3, 5])
        let values = up.contiguous().toArray(as: Double.self)
        for y in 0..<3 { for x in 0..<5 { #expect(values[y * 5 + x] == Double((y / 2) * 3 + x / 2), "(\(y), \(x))") } }
        let pattern = Tensor((0..<24).map(Double.init), shape: [3, 2, 4])
        let upPattern = EncoderAudit.upsampled(pattern, cell: 3, height: 6, width: 11)
        #expect(upPattern.shape == [3, 6, 11])
        let p = upPattern.contiguous().toArray(as: Double.self)
        for c in 0..<3 { for y in 0..<6 { for x in 0..<11 { #expect(p[(c * 6 + y) * 11 + x] == Double(c * 8 + (y / 3) * 4 + x / 3)) } } }
        #expect(EncoderAudit.upsampled(grid, cell: 1, height: 2, width: 3).contiguous().toArray(as: Double.self) == (0..<6).map(Double.init))
        #expect(EncoderAudit.gridSize(32, cell: 5) == 7 && EncoderAudit.gridSize(32, cell: 4) == 8)
    }

    /// With a coarse mask (cells of 2 pixels on a 5 × 5 image, so the last cells are cropped) the
    /// loss's gradient w.r.t. the `[3, 3]` mask and `[3, 3, 3]` pattern logits equals float64 central
    /// finite differences.
    @Test func coarseMaskGradientMatchesFiniteDifferences() {
        let side = 5, cell = 2, grid = 3, n = 4
        let encode = Self.tinyEncoder(pixels: 3 * side * side, seed: 21)
        let g = Generator(seed: 6)
        let images = Tensor.rand([n, 3, side, side], dtype: .float64, generator: g) * 0.9 + 0.05
        let w0 = (Tensor.randn([grid, grid], dtype: .float64, generator: g) * 0.7).toArray(as: Double.self)
        let q0 = (Tensor.randn([3, grid, grid], dtype: .float64, generator: g) * 0.7).toArray(as: Double.self)
        let lambda = 0.02
        func loss(_ wv: [Double], _ qv: [Double], grad: Bool) -> (Tensor, Tensor, Tensor) {
            let w = Tensor(wv, shape: [grid, grid]), q = Tensor(qv, shape: [3, grid, grid])
            let (wl, ql) = grad ? (w.requiringGrad(), q.requiringGrad()) : (w, q)
            let value = withGrad { EncoderAudit.loss(images: images, maskLogits: wl, patternLogits: ql, lambda: lambda, cell: cell, encode: encode).loss }
            return (value, wl, ql)
        }
        let (value, wl, ql) = loss(w0, q0, grad: true)
        let grads = gradients(of: [value], withRespectTo: [wl, ql])
        guard let gw = grads[0], let gq = grads[1] else {
            Issue.record("no gradient")
            return
        }
        let step = 1e-6
        func numeric(_ base: [Double], _ f: ([Double]) -> Double) -> [Double] {
            base.indices.map { i in
                var plus = base, minus = base
                plus[i] += step
                minus[i] -= step
                return (f(plus) - f(minus)) / (2 * step)
            }
        }
        let numericW = numeric(w0) { wv in noGrad { loss(wv, q0, grad: false).0.item() } }
        let numericQ = numeric(q0) { qv in noGrad { loss(w0, qv, grad: false).0.item() } }
        expectClose(gw.toArray(as: Double.self), numericW, rtol: 1e-5, atol: 1e-8, "mask cells")
        expectClose(gq.toArray(as: Double.self), numericQ, rtol: 1e-5, atol: 1e-8, "pattern cells")
        #expect(gw.abs().max().item() > 1e-4 && gq.abs().max().item() > 1e-4)
    }

    /// A run with `maskCell` returns a full-resolution mask that is constant on every cell, the same
    /// for the same seed; a cell larger than the image is refused.
    @Test func coarseMaskRunIsBlockwiseConstantAndDeterministic() throws {
        let images = Tensor.rand([6, 3, 6, 6], dtype: .float64, generator: Generator(seed: 4))
        let encode = Self.tinyEncoder(pixels: 108, seed: 9)
        var options = EncoderAuditOptions()
        options.maxEpochs = 15
        options.seed = 3
        options.maskCell = 3
        let one = try EncoderAudit.run(images: images, options: options, encode: encode)
        let two = try EncoderAudit.run(images: images, options: options, encode: encode)
        #expect(one.mask == two.mask && one.pattern == two.pattern && one.pl1 == two.pl1)
        #expect(one.mask.count == 36 && one.pattern.count == 108 && one.height == 6 && one.width == 6)
        for y in 0..<6 { for x in 0..<6 { #expect(one.mask[y * 6 + x] == one.mask[(y / 3 * 3) * 6 + x / 3 * 3]) } }
        #expect(Set(one.mask).count > 1)
        options.maskCell = 7
        #expect(throws: (any Error).self) { try EncoderAudit.run(images: images, options: options, encode: encode) }
        options.maskCell = 0
        #expect(throws: (any Error).self) { try EncoderAudit.run(images: images, options: options, encode: encode) }
    }

    /// The square scan's similarity of an entry equals the self-similarity of images pasted by hand
    /// (loops over pixels), it covers the grid with the last start flush with the edge, and on the
    /// synthetic backdoored encoder its best square is the white one on the trigger corner.
    @Test func squareScanMatchesHandPastedImagesAndFindsTheCorner() throws {
        let side = 8, n = 16
        let (images, clean, backdoored) = Self.syntheticEncoders(images: n)
        let scan = try EncoderAudit.squareScan(images: images, side: 3, stride: 2, encode: backdoored)
        // Starts 0, 2, 4 and 5 (flush) in each direction, 11 colours.
        #expect(scan.count == 16 * 11)
        #expect(Set(scan.map(\.y)) == [0, 2, 4, 5] && Set(scan.map(\.x)) == [0, 2, 4, 5])
        #expect(zip(scan, scan.dropFirst()).allSatisfy { $0.similarity >= $1.similarity })
        let best = try #require(scan.first)
        #expect(best.y == 5 && best.x == 5 && best.color == [1, 1, 1], "best \(best)")
        // An entry re-measured on images pasted pixel by pixel.
        let entry = try #require(scan.first { $0.y == 2 && $0.x == 4 && $0.color == [1, 0, 1] })
        var pixels = images.contiguous().toArray(as: Float.self)
        for i in 0..<n { for c in 0..<3 { for y in 2..<5 { for x in 4..<7 { pixels[((i * 3 + c) * side + y) * side + x] = Float(entry.color[c]) } } } }
        let pasted = Tensor(pixels, shape: [n, 3, side, side])
        expectClose([entry.similarity], [EncoderAudit.selfSimilarity(backdoored(pasted).to(.float64)).item()], rtol: 1e-6, atol: 1e-6)
        #expect(throws: (any Error).self) { try EncoderAudit.squareScan(images: images, side: 9, stride: 1, encode: clean) }
        #expect(throws: (any Error).self) { try EncoderAudit.squareScan(images: images, side: 2, stride: 0, encode: clean) }
    }

    @Test func fewerThanTwoImagesAreRefused() {
        #expect(throws: (any Error).self) {
            try EncoderAudit.run(images: Tensor.rand([1, 3, 4, 4]), encode: { $0.flattened(startDim: 1) })
        }
    }

    @Test func scanSpikeJudgesTheBestSideAgainstTheOthersByHand() throws {
        // Four sides; side 7 has the highest self-cos and a spike (0.9 over 0.5 = 1.8); the other
        // sides' ratios are 1.1, 1.2 and 1.0: median 1.1, MAD 0.1, scale 0.14826, z = 0.7 / 0.14826.
        func entries(_ values: [Double], side: Int) -> [SquareScanEntry] {
            values.map { SquareScanEntry(y: 0, x: 0, side: side, color: [1, 1, 1], similarity: $0) }
        }
        let scans: [(side: Int, entries: [SquareScanEntry])] = [
            (4, entries([0.55, 0.54, 0.53, 0.52, 0.5], side: 4)),
            (5, entries([0.6, 0.58, 0.56, 0.55, 0.5], side: 5)),
            (7, entries([0.9, 0.8, 0.7, 0.6, 0.5, 0.4], side: 7)),
            (10, entries([0.7, 0.7, 0.7, 0.7, 0.7], side: 10)),
        ]
        let spike = try EncoderAudit.scanSpike(scans)
        #expect(spike.bestSide == 7)
        #expect(spike.ratios.map(\.side) == [4, 5, 7, 10])
        #expect(abs(spike.ratios[2].ratio - 1.8) < 1e-12 && abs(spike.ratios[0].ratio - 1.1) < 1e-12)
        #expect(abs(spike.z - 0.7 / (1.4826 * 0.1)) < 1e-9, "z \(spike.z)")
        #expect(spike.backdoored)
        // A flat response: the best side's ratio is one of the others' — no spike.
        var flat = scans
        flat[2] = (7, entries([0.9, 0.89, 0.88, 0.87, 0.86], side: 7))
        let calm = try EncoderAudit.scanSpike(flat)
        #expect(calm.bestSide == 7 && !calm.backdoored && calm.z < EncoderAudit.spikeCut)
        // Too few sides or squares: one sentence, no trap.
        #expect(throws: TorchError.self) { try EncoderAudit.scanSpike(Array(scans.prefix(2))) }
        #expect(throws: TorchError.self) { try EncoderAudit.scanSpike(scans.map { ($0.side, Array($0.entries.prefix(3))) }) }
    }
}
