import ArgumentParser
import Foundation
import Torch

@main
struct ClipGuard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clipguard",
        abstract: "Train, poison, defend and evaluate CLIP models.",
        subcommands: [
            Info.self,
            DataCommand.self,
            Tokenize.self,
            Train.self,
            Finetune.self,
            Eval.self,
            PoisonCommand.self,
            ModelInfo.self,
            StepCheck.self,
            Embed.self,
            ExperimentCommand.self,
            ReportCommand.self,
        ]
    )

    static func main() async {
        OpenMPPolicy.ensurePassive()
        if ProcessInfo.processInfo.environment["CLIPGUARD_MALLOC"] != "system" { Runtime.retainFreedMemory() }
        await main(nil)
    }
}
