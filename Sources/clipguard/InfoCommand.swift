import ArgumentParser
import Foundation
import Torch

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the libtorch version, thread counts and devices."
    )

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "Also print libtorch's build configuration (BLAS, oneDNN, OpenMP).")
    var verbose = false

    func run() throws {
        var devices = ["cpu"]
        for index in 0..<Device.cudaDeviceCount { devices.append("cuda:\(index)") }
        let facts: [(String, Any)] = [
            ("libtorch", Runtime.torchVersion),
            ("tested_libtorch", Runtime.testedTorchVersions),
            ("threads", Runtime.threads),
            ("interop_threads", Runtime.interopThreads),
            ("cpu_cores", ProcessInfo.processInfo.activeProcessorCount),
            ("cuda_available", Device.cudaIsAvailable),
            ("omp_wait_policy", ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] ?? "(libgomp default)"),
            ("malloc", ProcessInfo.processInfo.environment["CLIPGUARD_MALLOC"] == "system" ? "system" : "retain freed memory"),
            ("devices", devices),
        ]
        if json {
            var object = Dictionary(uniqueKeysWithValues: facts)
            if verbose { object["configuration"] = Runtime.configuration }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            print(String(decoding: data, as: UTF8.self))
        } else {
            for (key, value) in facts {
                let text = (value as? [String])?.joined(separator: ", ") ?? "\(value)"
                print("\(key.padding(toLength: 18, withPad: " ", startingAt: 0)) \(text)")
            }
            if verbose { print(Runtime.configuration) }
        }
        if !Runtime.testedTorchVersions.contains(Runtime.torchVersion) {
            FileHandle.standardError.write(Data(
                "warning: libtorch \(Runtime.torchVersion) is not one of the tested releases (\(Runtime.testedTorchVersions.joined(separator: ", ")))\n".utf8))
        }
    }
}
