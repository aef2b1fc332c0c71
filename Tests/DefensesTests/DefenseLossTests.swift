import Foundation
import Testing
import TestSupport
import Torch

@testable import CLIP
import Defenses

/// Tests/Fixtures/defenses/losses.safetensors, written by Scripts/make_defense_fixtures.py.
final class LossFixture {
    let tensors: [String: Tensor]

    /// - Parameter file: a fixture file of `Tests/Fixtures/defenses/` (PAR's: `par.safetensors`).
    init(file: String = "losses.safetensors") throws {
        let path = fixturesDirectory.appendingPathComponent("defenses/" + file).path
        let (tensors, metadata) = try loadSafeTensors(atPath: path)
        #expect(metadata["version"] == "1")
        self.tensors = tensors
    }

    subscript(_ name: String) -> Tensor {
        guard let t = tensors[name] else { fatalError("fixture has no tensor \(name)") }
        return t
    }

    /// Fresh leaf copies of `names`, requiring gradients.
    func leaves(_ names: [String]) -> [String: Tensor] {
        Dictionary(uniqueKeysWithValues: names.map { ($0, self[$0].copied().detached().requiringGrad()) })
    }

    /// Runs `loss` on fresh leaves and compares its value and every input gradient with `name.*`.
    func check(_ name: String, inputs: [String], sourceLocation: SourceLocation = #_sourceLocation, _ loss: ([String: Tensor]) -> Tensor) {
        let v = leaves(inputs)
        let value = loss(v)
        expectClose(value, self["\(name).loss"], rtol: 1e-12, atol: 1e-12, "\(name) value", sourceLocation: sourceLocation)
        let grads = gradients(of: [value], withRespectTo: inputs.map { v[$0]! })
        for (input, grad) in zip(inputs, grads) {
            let expected = self["\(name).grad.\(input)"]
            expectClose(grad ?? expected.zerosLike(), expected, rtol: 1e-10, atol: 1e-12, "\(name) d/d\(input)", sourceLocation: sourceLocation)
        }
    }
}

/// Central-difference check of `loss` in float64 against autograd for every input element.
func checkFiniteDifferences(
    _ inputs: [Tensor], epsilon: Double = 1e-6, tolerance: Double = 1e-6,
    sourceLocation: SourceLocation = #_sourceLocation, _ loss: ([Tensor]) -> Tensor
) {
    let leaves = inputs.map { $0.copied().detached().requiringGrad() }
    let analytic = gradients(of: [loss(leaves)], withRespectTo: leaves)
    for (k, input) in inputs.enumerated() {
        let base: [Double] = input.toArray()
        var numeric = [Double](repeating: 0, count: base.count)
        for i in base.indices {
            func value(at x: Double) -> Double {
                var moved = base
                moved[i] = x
                var args = inputs
                args[k] = Tensor(moved, shape: input.shape)
                return noGrad { loss(args).item() }
            }
            numeric[i] = (value(at: base[i] + epsilon) - value(at: base[i] - epsilon)) / (2 * epsilon)
        }
        let a: [Double] = analytic[k].map { $0.toArray() } ?? [Double](repeating: 0, count: base.count)
        expectClose(a, numeric, rtol: tolerance, atol: tolerance, "input \(k)", sourceLocation: sourceLocation)
    }
}

@Suite("Defence losses")
struct DefenseLossTests {
    let every = ["image1", "image2", "text1", "text2", "logit_scale"]

    @Test("CLIP loss matches PyTorch")
    func clip() throws {
        let f = try LossFixture()
        f.check("clip", inputs: ["image1", "text1", "logit_scale"]) {
            clipLoss(imageFeatures: $0["image1"]!, textFeatures: $0["text1"]!, logLogitScale: $0["logit_scale"]!)
        }
    }

    @Test("SafeCLIP unimodal loss matches PyTorch")
    func unimodal() throws {
        let f = try LossFixture()
        f.check("unimodal", inputs: every) {
            DefenseLoss.unimodal(image1: $0["image1"]!, image2: $0["image2"]!, text1: $0["text1"]!, text2: $0["text2"]!, logLogitScale: $0["logit_scale"]!)
        }
    }

    @Test("SafeCLIP unimodal loss with NNCLR banks matches PyTorch; view 1 gets no gradient; banks take view 1")
    func unimodalBank() throws {
        let f = try LossFixture()
        let imageBank = NearestNeighborBank(storage: f["bank_image"], writePosition: 0)
        let textBank = NearestNeighborBank(storage: f["bank_text"], writePosition: 0)
        #expect(imageBank.nearestIndices(to: f["image1"]).toArray(as: Int64.self) == f["unimodal_bank.nearest_image_index"].toArray(as: Int64.self))
        #expect(textBank.nearestIndices(to: f["text1"]).toArray(as: Int64.self) == f["unimodal_bank.nearest_text_index"].toArray(as: Int64.self))
        f.check("unimodal_bank", inputs: every) {
            DefenseLoss.unimodal(
                image1: $0["image1"]!, image2: $0["image2"]!, text1: $0["text1"]!, text2: $0["text2"]!,
                logLogitScale: $0["logit_scale"]!, imageBank: imageBank, textBank: textBank)
        }
        // After the call, the first B rows of each bank are the batch's first views.
        expectClose(imageBank.storage.narrowed(dim: 0, start: 0, length: 4), f["image1"], atol: 1e-12)
        expectClose(textBank.storage.narrowed(dim: 0, start: 0, length: 4), f["text1"], atol: 1e-12)
        expectClose(imageBank.storage.narrowed(dim: 0, start: 4, length: 1), f["bank_image"].narrowed(dim: 0, start: 4, length: 1), atol: 1e-12)
        #expect(imageBank.writePosition == 4)
    }

    @Test("SafeCLIP cross-augmented CLIP loss matches PyTorch")
    func crossAugmented() throws {
        let f = try LossFixture()
        f.check("cross_aug", inputs: every) {
            DefenseLoss.crossAugmentedCLIP(image1: $0["image1"]!, image2: $0["image2"]!, text1: $0["text1"]!, text2: $0["text2"]!, logLogitScale: $0["logit_scale"]!)
        }
    }

    @Test("CleanCLIP loss matches PyTorch")
    func cleanCLIP() throws {
        let f = try LossFixture()
        let lambda = f["cleanclip.lambda"].item()
        f.check("cleanclip", inputs: every) {
            DefenseLoss.cleanCLIP(
                image: $0["image1"]!, text: $0["text1"]!, augmentedImage: $0["image2"]!, augmentedText: $0["text2"]!,
                logLogitScale: $0["logit_scale"]!, lambda: lambda)
        }
    }

    @Test("RoCLIP matched loss matches PyTorch and enqueues the batch's texts")
    func roclip() throws {
        let f = try LossFixture()
        let pool = RoCLIPPool(bank: NearestNeighborBank(storage: f["pool"], writePosition: 3))
        #expect(pool.bank.nearestIndices(to: f["image1"]).toArray(as: Int64.self) == f["roclip.nearest_index"].toArray(as: Int64.self))
        f.check("roclip", inputs: ["image1", "logit_scale"]) {
            DefenseLoss.roclipMatched(image: $0["image1"]!, text: f["text1"], logLogitScale: $0["logit_scale"]!, pool: pool)
        }
        // Rows 3, 4, 5, 0 now hold text1 (ring buffer wraps).
        let rows = Tensor.cat([pool.bank.storage.narrowed(dim: 0, start: 3, length: 3), pool.bank.storage.narrowed(dim: 0, start: 0, length: 1)])
        expectClose(rows, f["text1"], atol: 1e-12)
        #expect(pool.bank.writePosition == 1)
        #expect([1, 2, 3, 4].map(pool.isMatchingEpoch) == [false, true, false, true])
    }

    @Test("finite differences agree with autograd for every loss (float64, B = 3, D = 2)")
    func finiteDifferences() {
        let generator = Generator(seed: 17)
        let views = (0..<4).map { _ in Tensor.randn([3, 2], dtype: .float64, generator: generator) }
        let scale = Tensor(scalar: 0.8, dtype: .float64)
        let inputs = views + [scale]
        checkFiniteDifferences(inputs) { DefenseLoss.unimodal(image1: $0[0], image2: $0[1], text1: $0[2], text2: $0[3], logLogitScale: $0[4]) }
        checkFiniteDifferences(inputs) { DefenseLoss.crossAugmentedCLIP(image1: $0[0], image2: $0[1], text1: $0[2], text2: $0[3], logLogitScale: $0[4]) }
        checkFiniteDifferences(inputs) {
            DefenseLoss.cleanCLIP(image: $0[0], text: $0[2], augmentedImage: $0[1], augmentedText: $0[3], logLogitScale: $0[4], lambda: 0.5)
        }
        checkFiniteDifferences([views[0], views[2], scale]) { clipLoss(imageFeatures: $0[0], textFeatures: $0[1], logLogitScale: $0[2]) }
    }

    @Test("losses are invariant under a joint permutation of the batch and non-negative")
    func permutation() {
        let generator = Generator(seed: 23)
        let views = (0..<4).map { _ in Tensor.randn([5, 3], dtype: .float64, generator: generator).normalized(dim: 1) }
        let scale = Tensor(scalar: log(1 / 0.07), dtype: .float64)
        let order = Tensor([Int64(3), 0, 4, 1, 2])
        let permuted = views.map { $0.indexSelect(dim: 0, indices: order) }
        func all(_ v: [Tensor]) -> [Double] {
            [
                DefenseLoss.unimodal(image1: v[0], image2: v[1], text1: v[2], text2: v[3], logLogitScale: scale).item(),
                DefenseLoss.crossAugmentedCLIP(image1: v[0], image2: v[1], text1: v[2], text2: v[3], logLogitScale: scale).item(),
                DefenseLoss.cleanCLIP(image: v[0], text: v[2], augmentedImage: v[1], augmentedText: v[3], logLogitScale: scale).item(),
                clipLoss(imageFeatures: v[0], textFeatures: v[2], logLogitScale: scale).item(),
            ]
        }
        let a = all(views), b = all(permuted)
        expectClose(a, b, rtol: 1e-12, atol: 1e-12)
        #expect(a.allSatisfy { $0 >= 0 })
    }
}

@Suite("NearestNeighborBank")
struct NearestNeighborBankTests {
    @Test("seeded start: unit rows, same seed same bank")
    func seeded() {
        let a = NearestNeighborBank(capacity: 8, dimension: 4, seed: 1)
        let b = NearestNeighborBank(capacity: 8, dimension: 4, seed: 1)
        let c = NearestNeighborBank(capacity: 8, dimension: 4, seed: 2)
        #expect(a.storage.equals(b.storage))
        #expect(!a.storage.equals(c.storage))
        expectClose(a.storage.norm(2, dims: [1]), Tensor.ones([8]), atol: 1e-6)
    }

    @Test("FIFO: the oldest rows are replaced first, across the wrap, and batches larger than the bank keep their tail")
    func fifo() {
        let bank = NearestNeighborBank(capacity: 4, dimension: 2, seed: 3, dtype: .float64)
        func rows(_ angles: [Double]) -> Tensor {
            Tensor(angles.flatMap { [cos($0), sin($0)] }, shape: [angles.count, 2])
        }
        bank.enqueue(rows([0.1, 0.2, 0.3]))
        bank.enqueue(rows([0.4, 0.5]))  // 0.4 → row 3, 0.5 → row 0
        expectClose(bank.storage, rows([0.5, 0.2, 0.3, 0.4]), atol: 1e-12)
        #expect(bank.writePosition == 1)
        bank.enqueue(rows([1, 2, 3, 4, 5, 6]))  // six rows from row 1 into four: 1, 2 overwritten by 5, 6
        expectClose(bank.storage, rows([4, 5, 6, 3]), atol: 1e-12)
        #expect(bank.writePosition == 3)
        // Enqueued rows are normalised.
        bank.enqueue(Tensor([3.0, 4.0], shape: [1, 2]))
        expectClose(bank.storage.narrowed(dim: 0, start: 3, length: 1), Tensor([0.6, 0.8], shape: [1, 2]), atol: 1e-12)
    }

    @Test("look-up returns the most cosine-similar row, detached, whatever the query's norm")
    func lookup() {
        let storage = Tensor([1.0, 0, 0, 1, -1, 0, 0.6, 0.8], shape: [4, 2])
        let bank = NearestNeighborBank(storage: storage, writePosition: 2)
        let queries = Tensor([10.0, 1, -3, 0.1, 0.5, 0.7], shape: [3, 2]).requiringGrad()
        #expect(bank.nearestIndices(to: queries).toArray(as: Int64.self) == [0, 2, 3])
        let nearest = bank.nearest(to: queries)
        #expect(!nearest.requiresGrad)
        expectClose(nearest, Tensor([1.0, 0, -1, 0, 0.6, 0.8], shape: [3, 2]), atol: 1e-12)
        #expect(bank.nearest(to: queries.to(.float32)).dtype == .float32)
    }
}

@Suite("Defence losses: leaks and misuse")
struct DefenseLossHygieneTests {
    @Test("a bank step with loss and backward leaves no tensors behind")
    func noLeak() {
        let bank = NearestNeighborBank(capacity: 6, dimension: 3, seed: 4, dtype: .float64)
        let generator = Generator(seed: 8)
        func step() {
            let views = (0..<4).map { _ in Tensor.randn([2, 3], dtype: .float64, generator: generator).normalized(dim: 1).requiringGrad() }
            let scale = Tensor(scalar: 1, dtype: .float64).requiringGrad()
            let loss = DefenseLoss.unimodal(
                image1: views[0], image2: views[1], text1: views[2], text2: views[3], logLogitScale: scale,
                imageBank: bank, textBank: bank)
            loss.backward()
        }
        step()
        let baseline = Runtime.threadTensorBalance
        for _ in 0..<3 { step() }
        #expect(Runtime.threadTensorBalance == baseline)
    }

    @Test("mismatched feature shapes stop the process with a message")
    func shapeMismatch() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = clipLoss(imageFeatures: Tensor.zeros([3, 2]), textFeatures: Tensor.zeros([4, 2]), logLogitScale: Tensor(scalar: 0))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("clipLoss: features must both be [N, D]"))
    }
}
