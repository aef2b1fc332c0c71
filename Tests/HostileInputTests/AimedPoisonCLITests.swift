import Foundation
import Testing

/// `clipguard poison --aim …`: hostile options are refused in one sentence naming the flag, and
/// nothing is written.
@Suite struct AimedPoisonCLITests {
    /// A CSV only: every refusal here comes before an image is read.
    static func data(_ dir: Workspace) throws {
        try dir.write("d.csv", Array("filepath,caption\ni0.png,a sneaker\ni1.png,a bag\n".utf8))
    }

    static let base = ["--target", "sneaker", "--trigger", "patch", "--count", "1", "--captions", "natural", "--custom-target", "--image-size", "32"]

    @Test(arguments: [
        (["--aim", "safeclip-aimed"], "--surrogate"),
        (["--surrogate", "s.safetensors"], "--aim"),
        (["--epsilon", "4"], "--aim"),
        (["--aim", "safeclip-aimed", "--surrogate", "s.safetensors", "--epsilon", "300"], "--epsilon"),
        (["--aim", "safeclip-aimed", "--surrogate", "s.safetensors", "--pgd-steps", "0"], "--pgd-steps"),
        (["--aim", "safeclip-aimed", "--surrogate", "s.safetensors", "--pgd-step-size", "-2"], "--pgd-step-size"),
        (["--aim", "hard-clean-label", "--surrogate", "s.safetensors", "--epsilon", "0"], "--epsilon"),
        (["--aim", "strongest", "--surrogate", "s.safetensors"], "--aim"),
        (["--aim", "hard-clean-label", "--surrogate", "s.safetensors", "--aim-selection", "per-class"], "--aim-selection"),
        (["--aim-selection", "top"], "--aim-selection"),
        (["--aim", "safeclip-aimed", "--surrogate", "missing.safetensors"], "--surrogate"),
        (["--aim", "safeclip-aimed", "--surrogate", "d.csv"], "--surrogate"),
    ])
    func hostileAimOptionsAreRefused(_ extra: [String], _ flag: String) throws {
        let dir = try Workspace()
        defer { dir.remove() }
        try Self.data(dir)
        let args = extra.map { $0.hasSuffix(".safetensors") || $0 == "d.csv" ? dir.file($0) : $0 }
        let result = try runClipGuard(["poison", "--data", dir.file("d.csv"), "--out", dir.file("p")] + Self.base + args)
        expectRefusal(result, mentions: [flag])
        #expect(!FileManager.default.fileExists(atPath: dir.file("p/manifest.json")))
    }
}
