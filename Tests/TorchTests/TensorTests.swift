import Testing
import TestSupport
@testable import Torch

@Suite struct TensorBasicsTests {
    @Test func shimLinksAndReportsExpectedVersion() {
        #expect(Runtime.torchVersion.hasPrefix("2."))
    }

    /// With freed memory retained, a large block freed and allocated again is the same memory
    /// (from the heap), and tensors stay correct.
    @Test func retainingFreedMemoryKeepsLargeTensorsWorking() {
        #expect(Runtime.retainFreedMemory())
        for _ in 0..<3 {
            let big = Tensor.full([64 << 20 / 4], value: 2)  // 64 MiB, above glibc's mmap threshold
            #expect(big.sum().item() == Double(64 << 20 / 4) * 2)
        }
    }

    @Test func roundTripsEveryDType() {
        let f: [Float] = [1.5, -2, 3.25, 0]
        #expect(Tensor(f, shape: [2, 2]).toArray(as: Float.self) == f)
        let d: [Double] = [1e-300, 2, -3]
        #expect(Tensor(d).toArray(as: Double.self) == d)
        let l: [Int64] = [Int64.max, -1, 0]
        #expect(Tensor(l).toArray(as: Int64.self) == l)
        let b: [Bool] = [true, false, true]
        #expect(Tensor(b).toArray(as: Bool.self) == b)
        let u: [UInt8] = [0, 255, 7]
        #expect(Tensor(u).toArray(as: UInt8.self) == u)
        let bf = Tensor(f).to(.bfloat16)
        #expect(bf.dtype == .bfloat16)
        #expect(bf.toArray(as: Float.self) == f)  // all exactly representable in bfloat16
    }

    @Test func shapeAndMetadata() {
        let x = Tensor.zeros([2, 3, 4])
        #expect(x.shape == [2, 3, 4])
        #expect(x.rank == 3)
        #expect(x.count == 24)
        #expect(x.dtype == .float32)
        #expect(x.device == .cpu)
        #expect(Tensor(scalar: 3).shape == [])
    }

    @Test func broadcastingArithmetic() {
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let b = Tensor([10, 20, 30] as [Float])
        #expect((a + b).toArray(as: Float.self) == [11, 22, 33, 14, 25, 36])
        #expect((a * 2 - 1).toArray(as: Float.self) == [1, 3, 5, 7, 9, 11])
        #expect((1 - a).toArray(as: Float.self) == [0, -1, -2, -3, -4, -5])
        #expect((6 / a).toArray(as: Float.self) == [6, 3, 2, 1.5, 1.2, 1])
        #expect(a.sum().item() == 21)
        #expect(a.mean(dim: 1).toArray(as: Float.self) == [2, 5])
        #expect(a.argmax(dim: 1).toArray(as: Int64.self) == [2, 2])
        #expect(a.max().item() == 6)
    }

    @Test func matmulAndViews() {
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let p = a.matmul(a.t)
        #expect(p.toArray(as: Float.self) == [14, 32, 32, 77])
        #expect(a.reshaped([3, 2]).shape == [3, 2])
        #expect(a.permuted([1, 0]).contiguous().toArray(as: Float.self) == [1, 4, 2, 5, 3, 6])
        #expect(a.narrowed(dim: 1, start: 1, length: 2).contiguous().toArray(as: Float.self) == [2, 3, 5, 6])
        #expect(Tensor.cat([a, a], dim: 0).shape == [4, 3])
        #expect(Tensor.stack([a, a], dim: 0).shape == [2, 2, 3])
        let idx = Tensor([2, 0] as [Int64])
        #expect(a.indexSelect(dim: 1, indices: idx).toArray(as: Float.self) == [3, 1, 6, 4])
        let (values, indices) = Tensor([3, 1, 4, 1, 5] as [Float]).topk(2)
        #expect(values.toArray(as: Float.self) == [5, 4])
        #expect(indices.toArray(as: Int64.self) == [4, 2])
    }

    @Test func autogradOfSimpleFunction() {
        let x = Tensor([1, 2, 3] as [Double]).requiringGrad()
        let y = (x * x).sum()
        y.backward()
        #expect(x.grad?.toArray(as: Double.self) == [2, 4, 6])
        x.zeroGrad()
        #expect(x.grad == nil)
        let z = noGrad { x * 2 }
        #expect(!z.requiresGrad)
    }

    @Test func autogradGradientsFunction() {
        let x = Tensor([0.5, -1] as [Double]).requiringGrad()
        let y = x.exp().sum()
        let g = gradients(of: [y], withRespectTo: [x])
        expectClose(g[0]!.toArray(), [0.5, -1.0].map { Foundation.exp($0) }, rtol: 1e-12)
    }

    @Test func libtorchErrorSurfacesAsThrownMessage() throws {
        let a = Tensor.zeros([2, 3]), b = Tensor.zeros([4, 5])
        let error = #expect(throws: TorchError.self) { try catchingTorchErrors { a.matmul(b).sum() } }
        let text = String(describing: error!)
        #expect(text.contains("matmul"))
        #expect(text.contains("cannot be multiplied"))
        // Capture ends cleanly: later ops work normally.
        #expect(a.sum().item() == 0)
    }

    @Test func wrongShapeOutsideCaptureStopsTheProcessWithMessage() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).matmul(Tensor.zeros([4, 5]))
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("libtorch: matmul"))
    }

    @Test func tensorsAreReleased() {
        let baseline = Runtime.threadTensorBalance
        do {
            let a = Tensor.randn([8, 8]).requiringGrad()
            let b = (a.matmul(a) + 1).relu().sum()
            b.backward()
            _ = b.item()
        }
        #expect(Runtime.threadTensorBalance == baseline)
    }

    @Test func seededGeneratorsReproduce() {
        let g1 = Generator(seed: 7), g2 = Generator(seed: 7)
        #expect(Tensor.randn([5], generator: g1).equals(Tensor.randn([5], generator: g2)))
        let state = g1.state
        let next = Tensor.rand([3], generator: g1)
        g1.state = state
        #expect(Tensor.rand([3], generator: g1).equals(next))
    }

    @Test func threadCountControl() {
        let previous = Runtime.threads
        Runtime.threads = 1
        #expect(Runtime.threads == 1)
        Runtime.threads = previous
    }
}

import Foundation
