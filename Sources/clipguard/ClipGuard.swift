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
            Detect.self,
            Audit.self,
            Screen.self,
            ModelInfo.self,
            StepCheck.self,
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
        HelpWidth.configure()
        if ProcessInfo.processInfo.environment["CLIPGUARD_MALLOC"] != "system" { Runtime.retainFreedMemory() }
        await main(normalizedArguments(Array(CommandLine.arguments.dropFirst())))
    }

    /// The arguments with spellings that open_clip users type mapped to ours: `--resume latest`
    /// (open_clip resumes its latest checkpoint) is `--resume` (a run folder has one checkpoint).
    /// `poison --help` shows the flags of `poison generate`, the command `poison` runs.
    static func normalizedArguments(_ arguments: [String]) -> [String] {
        if arguments.first == "poison", arguments.count >= 2, ["--help", "-h", "help"].contains(arguments[1]) {
            return ["poison", "generate", "--help"]
        }
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            result.append(arguments[index])
            if arguments[index] == "--resume", index + 1 < arguments.count, arguments[index + 1] == "latest" { index += 1 }
            index += 1
        }
        return result.map { $0 == "--resume=latest" ? "--resume" : $0 }
    }
}
