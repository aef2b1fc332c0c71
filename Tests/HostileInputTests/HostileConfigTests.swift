import CLIP
import Foundation
import TestSupport
import Testing
import Torch
import Training

/// Hostile model configs, training configs and weights: each is refused with the key named,
/// before any tensor is made.
@Suite struct HostileModelConfigTests {
    static let text = #""text_cfg": {"context_length": 8, "vocab_size": 500, "width": 8, "heads": 2, "layers": 1}"#
    static let vision = #""vision_cfg": {"image_size": 32, "layers": 1, "width": 8, "head_width": 4, "patch_size": 8}"#

    static let cases: [(json: String, key: String)] = [
        (#"{"embed_dim": -64, \#(vision), \#(text)}"#, "embed_dim"),
        (#"{"embed_dim": 0, \#(vision), \#(text)}"#, "embed_dim"),
        (#"{"embed_dim": 8, "vision_cfg": {"image_size": 32, "layers": 100000, "width": 8, "patch_size": 8, "head_width": 4}, \#(text)}"#, "vision_cfg.layers"),
        (#"{"embed_dim": 8, "vision_cfg": {"image_size": 100000, "layers": 1, "width": 8, "patch_size": 1, "head_width": 4}, \#(text)}"#, "image_size"),
        (#"{"embed_dim": 8, "vision_cfg": {"image_size": 4096, "layers": 1, "width": 8, "patch_size": 1, "head_width": 4}, \#(text)}"#, "vision_cfg.patch_size"),
        (#"{"embed_dim": 8, "vision_cfg": {"image_size": 32, "layers": 1, "width": 4611686018427387904, "patch_size": 8}, \#(text)}"#, "width"),
        (#"{"embed_dim": 8, "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 100000], "width": 8, "head_width": 8}, \#(text)}"#, "vision_cfg.layers"),
        (#"{"embed_dim": 8, "vision_cfg": {"image_size": 32, "layers": 1, "width": 8, "patch_size": 8, "head_width": 4, "mlp_ratio": 1e300}, \#(text)}"#, "mlp_ratio"),
        (#"{"embed_dim": 8, \#(vision), "text_cfg": {"context_length": 8, "vocab_size": 1000000000000, "width": 8, "heads": 2, "layers": 1}}"#, "text_cfg.vocab_size"),
        (#"{"embed_dim": 8, \#(vision), "text_cfg": {"context_length": 0, "vocab_size": 500, "width": 8, "heads": 2, "layers": 1}}"#, "context_length"),
        (#"{"embed_dim": 8, \#(vision), "text_cfg": {"context_length": 8, "vocab_size": 500, "width": 8, "heads": 0, "layers": 1}}"#, "heads"),
        (#"{"embed_dim": 8, \#(vision), "text_cfg": {"context_length": 8, "vocab_size": 500, "width": 8, "heads": 2, "layers": 100000}}"#, "text_cfg.layers"),
        (#"{"embed_dim": 8, "init_logit_scale": 1e308, \#(vision), \#(text)}"#, "init_logit_scale"),
        (#"{"embed_dim": 16384, "vision_cfg": {"image_size": 224, "layers": 256, "width": 16384, "patch_size": 14}, \#(text)}"#, "billion parameters"),
    ]

    @Test(arguments: cases.indices)
    func outOfBoundsFieldIsNamed(index: Int) throws {
        let (json, key) = Self.cases[index]
        let dir = try Workspace()
        defer { dir.remove() }
        let path = try dir.write("model.json", text: json)
        let message = thrownMessage { _ = try CLIPConfig(contentsOf: URL(fileURLWithPath: path)) }
        #expect(message.hasPrefix(path) && message.contains(key), "\(message)")
    }

    @Test func shippedConfigsPassTheBounds() throws {
        for name in CLIPConfig.availableNames { try CLIPConfig.named(name).validate() }
    }

    @Test func nonFiniteWeightsAreRefusedNamingTheTensor() throws {
        let config = try CLIPConfig.decode(Data(#"{"embed_dim": 8, \#(Self.vision), \#(Self.text)}"#.utf8))
        let model = CLIPModel(config: config, seed: 1)
        var tensors = Dictionary(uniqueKeysWithValues: model.store.stateDict().map { ($0.name, $0.tensor.copied()) })
        tensors["visual.proj"] = Tensor.full([8, 8], value: .nan)
        let message = thrownMessage { try CLIPModel(config: config).load(tensors, source: "nan.safetensors") }
        #expect(message.contains("nan.safetensors") && message.contains("visual.proj") && message.contains("64 NaN"), "\(message)")
        tensors["visual.proj"] = Tensor.full([8, 8], value: .infinity)
        #expect(thrownMessage { try CLIPModel(config: config).load(tensors) }.contains("visual.proj"))
    }

    @Test func metadataClaimingAHugeModelIsRefusedBeforeBuildingIt() throws {
        let dir = try Workspace()
        defer { dir.remove() }
        let path = dir.file("lying.safetensors")
        let huge = #"{"embed_dim": 8, \#(Self.vision), "text_cfg": {"context_length": 8, "vocab_size": 2000000, "width": 1024, "heads": 2, "layers": 1}}"#
        try saveSafeTensors(["w": Tensor.ones([4])], metadata: ["clip_config": huge], toPath: path)
        let message = thrownMessage { _ = try CLIPModel.fromSafeTensors(atPath: path) }
        #expect(message.contains(path) && message.contains("clip_config"), "\(message)")
    }

    @Test func unknownModelNameIsShortWithCloseNames() {
        let message = thrownMessage { _ = try CLIPConfig.named("RN5") }
        #expect(message.contains("did you mean RN50"), "\(message)")
        let long = thrownMessage { _ = try CLIPConfig.named(String(repeating: "visual.", count: 3000)) }
        #expect(long.utf8.count < 400, "\(long.utf8.count) bytes")
    }
}

@Suite struct HostileTrainingConfigTests {
    func decode(_ text: String) throws -> TrainingConfig {
        try ConfigFile.decode(TrainingConfig.self, from: text, file: "run.yaml")
    }

    @Test(arguments: [
        "[" + String(repeating: "[", count: 7_000) + String(repeating: "]", count: 7_001),
        "data: " + String(repeating: "{a: ", count: 7_000) + "1" + String(repeating: "}", count: 7_000),
        String(repeating: "- ", count: 7_000) + "x",
        (0..<300).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " 1",
        "description: it's " + String(repeating: "[", count: 7_000),
        "data: \"x\n" + String(repeating: "[", count: 7_000),
    ])
    func deepNestingIsRefusedBeforeParsing(text: String) {
        let message = thrownMessage { _ = try decode(text) }
        #expect(message.hasPrefix("run.yaml: ") && message.contains("nested deeper than 64"), "\(message.prefix(300))")
    }

    @Test(arguments: [
        ("epochs: 9223372036854775807", "epochs"),
        ("batch_size: 100000000", "batch_size"),
        ("threads: 100000", "threads"),
        ("threads: 0", "threads"),
        ("workers: 1000000", "workers"),
        ("unimodal_epochs: 9223372036854775807\nclip_warmup_epochs: 1\ndefense: safeclip", "unimodal_epochs"),
        ("lr: .inf", "lr"),
        ("warmup_steps: 9223372036854775807", "warmup_steps"),
        ("pool_size: 9223372036854775807\ndefense: roclip", "pool_size"),  // a defence's keys are checked when it runs
        ("accumulation: 9223372036854775807", "accumulation"),
    ])
    func impossibleValueIsNamed(line: String, key: String) throws {
        let config = try decode("data: x.csv\nmodel: tiny-vit\n\(line)\n")
        let message = thrownMessage { try config.validate(file: "run.yaml") }
        #expect(message == message.trimmingCharacters(in: .newlines) && message.contains("key '\(key)'"), "\(message)")
    }

    @Test func ordinaryNestedConfigStillReads() throws {
        let config = try decode("data: 'x.csv'\nmodel: tiny-vit\nepochs: 3\nlr: 1.0e-3\n")
        try config.validate()
        #expect(config.epochs == 3)
    }
}
