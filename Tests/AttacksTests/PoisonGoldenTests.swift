import Datasets
import Foundation
import Testing
@testable import Attacks

/// Poisoned sets made by today's generator, hashed: a refactor of the attack code must leave
/// every output of a given seed byte for byte as it was (CSV, manifest and the images' pixels).
///
/// The expected hashes were computed with the generator as it stood before the trigger registry
/// (commit "Attacks: golden hashes of poisoned sets"), so they pin the old behaviour, not the new.
/// Text files are hashed with the temporary folder's path replaced by `<ROOT>`; images by their
/// decoded size and pixels (PNG bytes depend on the zlib build, the pixels do not).
@Suite struct PoisonGoldenTests {
    /// FNV-1a, 64 bits.
    struct Hasher64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        mutating func add(_ bytes: some Sequence<UInt8>) {
            for b in bytes { value = (value ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        }
        var hex: String { String(value, radix: 16) }
    }

    /// The hash of every file under `folder`, in path order.
    static func hash(folder: String, root: String) throws -> String {
        var hasher = Hasher64()
        let files = try snapshot(folder).keys.sorted()
        for name in files {
            let path = folder + "/" + name
            hasher.add(Array(name.utf8) + [0])
            if name.hasSuffix(".png") {
                let image = try decodeImage(atPath: path)
                hasher.add(Array("\(image.width)x\(image.height)".utf8))
                hasher.add(image.pixels)
            } else {
                let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: root, with: "<ROOT>")
                hasher.add(Array(text.utf8))
            }
            hasher.add([0])
        }
        return hasher.hex
    }

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var trigger: TriggerKind?
        var options: [String: String] = [:]
        var captions: CaptionStrategy
        var placement: TriggerPlacement = .modelInput(ModelGeometry(resize: .crop, size: 16))
        var expected: String
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "patch-default-natural", trigger: .patch, captions: .natural, expected: "f1ee68b46368fffa"),
        Case(name: "patch-random-red-template", trigger: .patch,
             options: ["patch-position": "random", "patch-color": "red", "patch-size": "3"], captions: .template, expected: "1b9eed4fbcb9af7e"),
        Case(name: "patch-corners-label-consistent", trigger: .patch,
             options: ["patch-position": "four-corners", "patch-size": "25%"], captions: .labelConsistent, expected: "d7aa9bd6f14650be"),
        Case(name: "patch-original-placement", trigger: .patch, captions: .natural, placement: .original, expected: "985e820ebe442af6"),
        Case(name: "patch-square-resize", trigger: .patch, captions: .natural,
             placement: .modelInput(ModelGeometry(resize: .square, size: 20)), expected: "ddccc2d83a130d59"),
        Case(name: "noise-patch-natural", trigger: .noisePatch, captions: .natural, expected: "87d7aec0c6e464cc"),
        Case(name: "noise-patch-corner-template", trigger: .noisePatch,
             options: ["patch-position": "top-left", "patch-size": "5"], captions: .template, expected: "5897d9ebab35cdec"),
        Case(name: "blended-template", trigger: .blended, options: ["blend-weight": "0.3"], captions: .template, expected: "5b735ef8fb0c7879"),
        Case(name: "blended-default-natural", trigger: .blended, captions: .natural, expected: "21c77d1f85255be2"),
        Case(name: "sig-label-consistent", trigger: .sig,
             options: ["sig-amplitude": "40", "sig-frequency": "3", "blend-weight": "0.25"], captions: .labelConsistent, expected: "82cc035f575f1d67"),
        Case(name: "sig-default-natural", trigger: .sig, captions: .natural, expected: "dea5a1e7dbb32e65"),
        Case(name: "wanet-natural", trigger: .wanet, options: ["warp-grid": "3", "warp-strength": "1"], captions: .natural, expected: "717a6927f4eb6c72"),
        Case(name: "wanet-default-template", trigger: .wanet, captions: .template, expected: "ba9a774fd0a6ed13"),
        Case(name: "targeted-natural", trigger: nil, captions: .natural, expected: "9b895eb5b48e0dda"),
        Case(name: "targeted-template", trigger: nil, captions: .template, expected: "2bb15fc541858342"),
    ]

    @Test(arguments: cases)
    func poisonedSetIsByteIdenticalToTheRecordedOne(_ c: Case) throws {
        let set = try SyntheticSet(rows: 24)
        let out = set.folder.sub("out")
        var request = set.request(out: out, amount: .count(5), captions: c.captions, seed: 7, placement: c.placement,
                                  options: try Self.options(c.options))
        if let kind = c.trigger {
            request.attack = .backdoor(kind: kind, options: try Self.options(c.options), source: .train)
        } else {
            let image = set.folder.sub("victim.png")
            try gradientImage(width: 20, height: 10, seed: 99).write(toPath: image)
            request.attack = .targeted(imagePath: image)
        }
        _ = try Poisoner.run(request)
        let hash = try Self.hash(folder: out, root: set.folder.path)
        #expect(hash == c.expected, "\(c.name): hash \(hash)")
    }

    /// The trigger options from their command-line names, read as `clipguard poison` reads them.
    static func options(_ values: [String: String]) throws -> TriggerOptions {
        try TriggerRegistry.options(commandLine: values.keys.sorted().flatMap { ["--" + $0, values[$0]!] })
    }
}
