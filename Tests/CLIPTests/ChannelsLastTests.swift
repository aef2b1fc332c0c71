import Foundation
import TestSupport
import Testing
import Torch
@testable import CLIP

@Suite struct ChannelsLastTests {
    @Test func setDataKeepsIdentityAndTakesTheNewLayout() {
        let p = Tensor.randn([2, 3, 4, 4], generator: Generator(seed: 1)).requiringGrad()
        let before = p.detached().copied()
        noGrad { p.setData(p.detached().channelsLast()) }
        #expect(p.requiresGrad)
        #expect(!p.isContiguous)  // NHWC strides
        #expect(p.equals(before))
        (p * 2).sum().backward()
        #expect(p.grad?.shape == [2, 3, 4, 4])
    }

    @Test func channelsLastResNetGivesTheSameFeatures() throws {
        let model = try CLIPModel.named("tiny-rn", seed: 3)
        let images = Tensor.randn([2, 3, 32, 32], generator: Generator(seed: 4))
        let reference = inferenceMode { model.encodeImage(images) }
        model.useChannelsLast()
        let after = inferenceMode { model.encodeImage(images) }
        expectClose(after, reference, rtol: 1e-4, atol: 1e-5)
        // Saved weights are unchanged in value and name.
        #expect(model.store.names.contains("visual.conv1.weight"))
    }
}
