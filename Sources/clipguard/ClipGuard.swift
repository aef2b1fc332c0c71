import ArgumentParser
import Torch

@main
struct ClipGuard: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipguard",
        abstract: "Train, poison, defend and evaluate CLIP models."
    )
    func run() throws { print("libtorch \(torchVersion)") }
}
