import Testing
import TestSupport
import Torch
@testable import NN

@Suite struct ParameterStoreTests {
    @Test func namesFollowPaths() {
        let store = ParameterStore(seed: 1)
        _ = Linear(store.root / "visual" / "proj", inputFeatures: 3, outputFeatures: 2)
        _ = Linear(store.root / "head" / 0, inputFeatures: 2, outputFeatures: 1, bias: false)
        #expect(store.names == ["visual.proj.weight", "visual.proj.bias", "head.0.weight"])
        #expect(store.parameterCount == 6 + 2 + 2)
    }

    @Test func seedFixesInitialisation() {
        let a = ParameterStore(seed: 3), b = ParameterStore(seed: 3), c = ParameterStore(seed: 4)
        let la = Linear(a.root / "fc", inputFeatures: 5, outputFeatures: 4)
        let lb = Linear(b.root / "fc", inputFeatures: 5, outputFeatures: 4)
        let lc = Linear(c.root / "fc", inputFeatures: 5, outputFeatures: 4)
        #expect(la.weight.equals(lb.weight))
        #expect(!la.weight.equals(lc.weight))
        let bound = 1 / Double(5).squareRoot()
        #expect(la.weight.abs().max().item() <= bound)
    }

    @Test func freezeByPrefix() {
        let store = ParameterStore()
        _ = Linear(store.root / "visual" / "fc", inputFeatures: 2, outputFeatures: 2)
        _ = Linear(store.root / "text" / "fc", inputFeatures: 2, outputFeatures: 2)
        store.freeze(prefix: "visual.")
        #expect(store.trainableParameters().map(\.name) == ["text.fc.weight", "text.fc.bias"])
        #expect(store["visual.fc.weight"]?.requiresGrad == false)
        store.unfreeze(prefix: "visual.")
        #expect(store.trainableParameters().count == 4)
    }

    @Test func loadChecksNamesAndShapes() throws {
        let store = ParameterStore()
        let fc = Linear(store.root / "fc", inputFeatures: 2, outputFeatures: 2)
        let w = Tensor([1, 2, 3, 4] as [Float], shape: [2, 2]), b = Tensor([5, 6] as [Float])
        #expect(throws: TorchError.missingKeys(["fc.bias"])) { try store.load(["fc.weight": w]) }
        #expect(throws: TorchError.unexpectedKeys(["extra"])) {
            try store.load(["fc.weight": w, "fc.bias": b, "extra": b])
        }
        #expect(throws: TorchError.shapeMismatch(key: "fc.bias", expected: [2], got: [2, 2])) {
            try store.load(["fc.weight": w, "fc.bias": w])
        }
        try store.load(["fc.weight": w, "fc.bias": b])
        #expect(fc.weight.toArray(as: Float.self) == [1, 2, 3, 4])
        #expect(fc.weight.requiresGrad)
        let y = fc(Tensor([1, 1] as [Float], shape: [1, 2]))
        #expect(y.toArray(as: Float.self) == [8, 13])
    }
}
