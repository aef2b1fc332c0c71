import Foundation
import TestSupport
import Testing
import Torch

@testable import CLIP

/// Fixtures written by open_clip through Scripts/make_clip_fixtures.py.
enum ClipFixtures {
    static let directory = fixturesDirectory.appendingPathComponent("clip")
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func tensors(_ name: String) throws -> [String: Tensor] {
        let file = try loadSafeTensors(atPath: path(name))
        #expect(file.metadata["version"] == "1", "fixture \(name) has an unexpected version")
        return file.tensors
    }

    /// The fixture model, built from its config file and loaded with open_clip's weights.
    static func model(_ kind: String) throws -> CLIPModel {
        let model = try CLIPModel(configFile: path("fixture-\(kind).json"), seed: 99)
        try model.loadSafeTensors(atPath: path("fixture-\(kind).safetensors"))
        return model
    }
}

/// Checks `max |actual − expected| ≤ 1e-4 · max |expected|` (the relative error of the whole tensor)
/// and elementwise closeness with the same tolerance.
func expectRelativelyClose(
    _ actual: Tensor, _ expected: Tensor, _ what: String, tolerance: Double = 1e-4,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let scale = expected.abs().max().item()
    expectClose(actual, expected, rtol: tolerance, atol: tolerance * scale, what, sourceLocation: sourceLocation)
}

@Suite struct CLIPFixtureTests {
    @Test(arguments: ["rn", "vit"])
    func openClipWeightsGiveOpenClipFeatures(kind: String) throws {
        let model = try ClipFixtures.model(kind)
        let io = try ClipFixtures.tensors("fixture-\(kind)-io.safetensors")
        let images = try #require(io["images"])
        let tokens = try #require(io["tokens"])
        try noGrad {
            expectRelativelyClose(model.encodeImage(images), try #require(io["image_features"]), "image features")
            expectRelativelyClose(model.encodeText(tokens), try #require(io["text_features"]), "text features")
        }
    }

    @Test func resnetTrainingModeUsesBatchStatisticsAndUpdatesRunningStatistics() throws {
        let model = try ClipFixtures.model("rn")
        let io = try ClipFixtures.tensors("fixture-rn-io.safetensors")
        let features = noGrad { model.encodeImage(try! #require(io["images"]), training: true) }
        expectRelativelyClose(features, try #require(io["image_features_train"]), "train-mode image features")
        let runningMean = try #require(model.store["visual.bn1.running_mean"])
        expectRelativelyClose(runningMean, try #require(io["visual.bn1.running_mean"]), "running mean after one step")
        #expect(
            model.store["visual.bn1.num_batches_tracked"]?.itemInt() == io["visual.bn1.num_batches_tracked"]?.itemInt())
    }

    @Test func clipLossValueAndGradientsMatchOpenClip() throws {
        let f = try ClipFixtures.tensors("loss.safetensors")
        let imageRaw = try #require(f["image_raw"]).copied().requiringGrad()
        let textRaw = try #require(f["text_raw"]).copied().requiringGrad()
        let logitScale = try #require(f["logit_scale"]).copied().requiringGrad()
        let loss = clipLoss(
            imageFeatures: imageRaw.normalized(dim: -1), textFeatures: textRaw.normalized(dim: -1),
            logLogitScale: logitScale)
        loss.backward()
        expectRelativelyClose(loss, try #require(f["loss"]), "loss", tolerance: 1e-5)
        expectRelativelyClose(try #require(imageRaw.grad), try #require(f["grad_image_raw"]), "d loss / d image")
        expectRelativelyClose(try #require(textRaw.grad), try #require(f["grad_text_raw"]), "d loss / d text")
        expectRelativelyClose(
            try #require(logitScale.grad), try #require(f["grad_logit_scale"]), "d loss / d logit_scale")
    }

    @Test func infoNCEValueAndGradientsMatchPyTorch() throws {
        let f = try ClipFixtures.tensors("loss.safetensors")
        let queryRaw = try #require(f["query_raw"]).copied().requiringGrad()
        let keyRaw = try #require(f["key_raw"]).copied().requiringGrad()
        let logitScale = try #require(f["nce_logit_scale"]).copied().requiringGrad()
        let loss = infoNCE(queryRaw.normalized(dim: -1), keyRaw.normalized(dim: -1), logLogitScale: logitScale)
        loss.backward()
        expectRelativelyClose(loss, try #require(f["nce_loss"]), "InfoNCE", tolerance: 1e-5)
        expectRelativelyClose(try #require(queryRaw.grad), try #require(f["grad_query_raw"]), "d / d queries")
        expectRelativelyClose(try #require(keyRaw.grad), try #require(f["grad_key_raw"]), "d / d keys")
        expectRelativelyClose(try #require(logitScale.grad), try #require(f["grad_nce_logit_scale"]), "d / d scale")
    }

    @Test func missingUnexpectedAndMisshapedKeysAreReportedByName() throws {
        let model = try CLIPModel(configFile: ClipFixtures.path("fixture-vit.json"))
        var weights = try ClipFixtures.tensors("fixture-vit.safetensors")
        weights["visual.proj"] = nil
        weights["text_projection"] = nil
        weights["visual.extra.weight"] = Tensor.zeros([2])
        weights["ln_final.weight"] = Tensor.ones([7])
        let before = try #require(model.store["visual.class_embedding"]).copied()
        #expect {
            try model.load(weights, source: "w.safetensors")
        } throws: { error in
            guard
                case .incompatibleWeights(let source, let missing, let unexpected, let mismatched) = error as? CLIPError
            else { return false }
            return source == "w.safetensors" && missing.sorted() == ["text_projection", "visual.proj"]
                && unexpected == ["visual.extra.weight"]
                && mismatched == [.init(key: "ln_final.weight", expected: [32], got: [7])]
        }
        // Nothing was copied.
        #expect(try #require(model.store["visual.class_embedding"]).equals(before))
        let message = CLIPError.incompatibleWeights(
            source: "w.safetensors", missing: ["visual.proj"], unexpected: ["x"],
            mismatched: [.init(key: "ln_final.weight", expected: [32], got: [7])]
        ).description
        #expect(message.contains("visual.proj") && message.contains("unexpected keys: x") && message.contains("[7]"))
    }

    @Test(arguments: ["RN50", "ViT-B-32"])
    func parameterNamesAndShapesEqualOpenClips(name: String) throws {
        struct Listing: Decodable {
            let model: String
            let parameters: [[Entry]]
            enum Entry: Decodable {
                case name(String)
                case shape([Int])
                init(from decoder: any Decoder) throws {
                    let c = try decoder.singleValueContainer()
                    if let s = try? c.decode(String.self) {
                        self = .name(s)
                    } else {
                        self = .shape(try c.decode([Int].self))
                    }
                }
            }
        }
        let data = try Data(contentsOf: ClipFixtures.directory.appendingPathComponent("\(name)-params.json"))
        let listing = try JSONDecoder().decode(Listing.self, from: data)
        var expected: [String: [Int]] = [:]
        for entry in listing.parameters {
            guard entry.count == 2, case .name(let key) = entry[0], case .shape(let shape) = entry[1] else {
                Issue.record("malformed entry in \(name)-params.json")
                continue
            }
            expected[key] = shape
        }
        let model = try CLIPModel.named(name)
        var actual: [String: [Int]] = [:]
        for (key, tensor) in model.store.stateDict() { actual[key] = tensor.shape }
        #expect(Set(actual.keys).subtracting(expected.keys).sorted() == [], "keys open_clip does not have")
        #expect(Set(expected.keys).subtracting(actual.keys).sorted() == [], "open_clip keys we lack")
        for (key, shape) in expected where actual[key] != nil && actual[key] != shape {
            Issue.record("\(key): ours \(actual[key]!), open_clip \(shape)")
        }
    }
}
