import ArgumentParser
import Foundation
import Torch

@main
struct ClipGuard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipguard",
        abstract: "Train, poison, defend and evaluate CLIP models.",
        version: ClipGuard.versionText,
        subcommands: [
            Info.self,
            DataCommand.self,
            Tokenize.self,
            Train.self,
            Finetune.self,
            Eval.self,
            PoisonCommand.self,
            ModelInfo.self,
            Embed.self,
            ExperimentCommand.self,
            ReportCommand.self,
        ]
    )

    /// The version `--version` prints: the tool's and the libtorch it runs on.
    static let toolVersion = "0.9.0"
    static var versionText: String { "clipguard \(toolVersion) (libtorch \(Runtime.torchVersion))" }

    static func main() async {
        OpenMPPolicy.ensurePassive()
        if ProcessInfo.processInfo.environment["CLIPGUARD_MALLOC"] != "system" { Runtime.retainFreedMemory() }
        await main(nil)
    }
}
