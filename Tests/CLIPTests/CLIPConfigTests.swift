import Foundation
import Testing

@testable import CLIP

@Suite struct CLIPConfigTests {
    @Test func shippedConfigsDecode() throws {
        let names = CLIPConfig.availableNames
        #expect(Set(["RN50", "RN101", "RN50x4", "ViT-B-32", "ViT-B-16", "tiny-rn", "tiny-vit"]).isSubset(of: names))
        for name in names { _ = try CLIPConfig.named(name) }

        let rn50 = try CLIPConfig.named("RN50")
        #expect(rn50.embedDim == 1024 && rn50.activation == .gelu)
        #expect(rn50.vision == .resnet(ResNetConfig(layers: [3, 4, 6, 3], width: 64, imageSize: 224)))
        #expect(rn50.text == TextConfig())
        let vit = try CLIPConfig.named("ViT-B-32")
        #expect(vit.vision == .vit(ViTConfig(layers: 12, width: 768, patchSize: 32, imageSize: 224)))
        #expect(try CLIPConfig.named("RN50x4").vision.imageSize == 288)
        #expect(try CLIPConfig.named("ViT-B-16-quickgelu").activation == .quickGELU)
        #expect(throws: CLIPError.self) { try CLIPConfig.named("ViT-Q-99") }
    }

    @Test func encodingRoundTripsAndUsesOpenClipNames() throws {
        for name in ["RN50", "ViT-B-16-quickgelu", "tiny-vit"] {
            let config = try CLIPConfig.named(name)
            let data = try config.jsonData()
            #expect(try CLIPConfig.decode(data) == config)
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(Set(object.keys).isSubset(of: ["embed_dim", "quick_gelu", "vision_cfg", "text_cfg"]))
            let text = try #require(object["text_cfg"] as? [String: Any])
            #expect(text["context_length"] != nil && text["vocab_size"] != nil)
        }
    }

    private func error(_ json: String) -> CLIPError? {
        do {
            _ = try CLIPConfig.decode(Data(json.utf8))
            return nil
        } catch { return error }
    }

    private let text = #""text_cfg": {"context_length": 8, "vocab_size": 10, "width": 8, "heads": 2, "layers": 1}"#

    @Test func unknownFieldsAreRejectedByName() {
        let top = error(
            #"{"embed_dim": 8, "colour": 1, "vision_cfg": {"layers": 1, "width": 8, "head_width": 4, "patch_size": 4, "image_size": 8}, \#(text)}"#
        )
        #expect(top == .invalidConfig(file: nil, key: "colour", reason: "unknown field"))
        let nested = error(
            #"{"embed_dim": 8, "vision_cfg": {"layers": 1, "width": 8, "head_width": 4, "patch_size": 4, "image_size": 8, "heads": 2}, \#(text)}"#
        )
        #expect(nested == .invalidConfig(file: nil, key: "vision_cfg.heads", reason: "unknown field"))
    }

    @Test func unsupportedValuesAreRejectedWithReasons() throws {
        let e = try #require(
            error(
                #"{"embed_dim": 8, "vision_cfg": {"layers": 1, "width": 8, "head_width": 4, "patch_size": 4, "image_size": 8, "ls_init_value": 0.1}, \#(text)}"#
            ))
        guard case .invalidConfig(_, let key, let reason) = e else {
            Issue.record("\(e)")
            return
        }
        #expect(key == "vision_cfg.ls_init_value" && reason.contains("unsupported value 0.1"))
        // Fields at their default values are accepted.
        #expect(
            error(
                #"{"embed_dim": 8, "vision_cfg": {"layers": 1, "width": 8, "head_width": 4, "patch_size": 4, "image_size": 8, "ls_init_value": null, "pool_type": "tok"}, \#(text)}"#
            ) == nil)
        let hf = try #require(
            error(
                #"{"embed_dim": 8, "vision_cfg": {"layers": 1, "width": 8, "head_width": 4, "patch_size": 4, "image_size": 8}, "text_cfg": {"hf_model_name": "roberta-base"}}"#
            ))
        #expect(hf.description.contains("text_cfg.hf_model_name"))
        let pair = try #require(
            error(
                #"{"embed_dim": 8, "vision_cfg": {"layers": 1, "width": 8, "head_width": 4, "patch_size": 4, "image_size": [8, 16]}, \#(text)}"#
            ))
        #expect(pair.description.contains("vision_cfg.image_size"))
    }

    @Test func openClipModelFamiliesWeDoNotBuildAreNamed() {
        for (json, key) in [
            (#"{"embed_dim": 8, "init_logit_bias": -10}"#, "init_logit_bias"),
            (#"{"embed_dim": 8, "custom_text": true}"#, "custom_text"),
            (#"{"embed_dim": 8, "multimodal_cfg": {"width": 8}}"#, "multimodal_cfg"),
        ] {
            let description = error(json)?.description ?? ""
            #expect(description.contains("'\(key)': unsupported value"), "\(description)")
        }
    }

    @Test func invalidArchitecturesAreRejected() {
        let noPatch = error(
            #"{"embed_dim": 8, "vision_cfg": {"layers": 2, "width": 8, "head_width": 4, "image_size": 8}, \#(text)}"#)
        #expect(noPatch?.description.contains("vision_cfg.patch_size") == true)
        let stages = error(
            #"{"embed_dim": 8, "vision_cfg": {"layers": [1, 1, 1], "width": 8, "image_size": 32}, \#(text)}"#)
        #expect(stages?.description.contains("vision_cfg.layers") == true)
        let heads = error(
            #"{"embed_dim": 8, "vision_cfg": {"layers": 1, "width": 8, "head_width": 4, "patch_size": 4, "image_size": 8}, "text_cfg": {"width": 10, "heads": 3}}"#
        )
        #expect(heads?.description.contains("text_cfg.heads") == true)
        let missing = error(
            #"{"vision_cfg": {"layers": 1, "width": 8, "head_width": 4, "patch_size": 4, "image_size": 8}, \#(text)}"#)
        #expect(missing == .invalidConfig(file: nil, key: "embed_dim", reason: "required field is missing"))
        let wrongType = error(
            #"{"embed_dim": "big", "vision_cfg": {"layers": 1, "width": 8, "head_width": 4, "patch_size": 4, "image_size": 8}, \#(text)}"#
        )
        #expect(wrongType?.description.contains("embed_dim") == true)
    }

    @Test func fileErrorsNameTheFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID().uuidString).json")
        try Data(#"{"embed_dim": 8, "quick_gelu": true, "oops": 1}"#.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: CLIPError.invalidConfig(file: url.path, key: "oops", reason: "unknown field")) {
            try CLIPConfig(contentsOf: url)
        }
    }
}
