import ArgumentParser
import Torch

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the libtorch version, thread counts and devices."
    )

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        print("libtorch \(torchVersion)")
    }
}
