import Foundation
import TestSupport
import Testing
import Training
@testable import clipguard

/// Every registered defence through the real command-line parser: the equivalent command of a
/// configuration (``TrainingConfig/commandLine(out:)``) parsed back by `clipguard train` (or
/// `finetune`) gives the same configuration, and the help texts list what each command takes.
@Suite struct DefenseRegistryCLITests {
    /// The configuration `words` (`clipguard train …`) gives, as the command resolves it.
    static func parse(_ words: [String]) throws -> TrainingConfig {
        #expect(words.prefix(1) == ["clipguard"])
        let arguments = Array(words.dropFirst(2))
        switch words[1] {
        case "train": return try Train.parse(arguments).settings()
        case "finetune": return try Finetune.parse(arguments).settings()
        default: throw NotATrainingCommand()
        }
    }

    /// A configuration with every common setting changed a little and the defence's example.
    static func config(_ defense: Defense) -> TrainingConfig {
        var c = TrainingConfig(
            data: "d.csv", model: "tiny-vit", epochs: 6, batchSize: 16, lr: 1e-3, warmupSteps: 5, seed: 4, device: "cpu",
            logEvery: 7, defense: defense, similarityBatchSize: 64)
        if defense.finetunes { c.initWeights = "poisoned.safetensors" }
        c.shuffle = false
        c.settings = defense.settingsType.example
        return c
    }

    @Test(arguments: Defense.allCases)
    func equivalentCommandParsesBackToTheSameConfiguration(defense: Defense) throws {
        let config = Self.config(defense)
        let words = config.commandLine(out: "runs/x")
        #expect(words[1] == (defense.finetunes ? "finetune" : "train"))
        let parsed: TrainingConfig
        do {
            parsed = try Self.parse(words)
        } catch {
            Issue.record("\(defense): \(words.joined(separator: " ")): \(error)")
            return
        }
        #expect(parsed == config, "\(defense): \(words.joined(separator: " "))")
        // Every setting the example changes is on the command line as its flag.
        for key in defense.settingsType.keys {
            let flag = "--" + key.name.replacingOccurrences(of: "_", with: "-")
            #expect(words.contains { $0 == flag || $0 == "--no-" + flag.dropFirst(2) }, "\(defense): \(flag) missing from \(words)")
        }
        // The defaults need no defence flag (where they are valid alone: the filter needs its model).
        var plain = config
        plain.settings = defense.defaultSettings
        plain.epochs = 10
        if (try? plain.validate()) != nil {
            let words = plain.commandLine(out: "runs/x")
            #expect(!defense.settingsType.keys.contains { key in words.contains { $0.hasSuffix(key.name.replacingOccurrences(of: "_", with: "-")) } })
            #expect(try Self.parse(words) == plain)
        }
    }

    @Test func defenceFlagsAreCheckedAndNamed() throws {
        func failure(_ arguments: [String]) -> String? {
            do {
                _ = try Train.parse(["--data", "d.csv", "--model", "tiny-vit", "--out", "o"] + arguments).settings()
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(failure(["--defense", "safeclip", "--unimodal-epochs=2", "--no-memory-bank"]) == nil)
        #expect(failure(["--defense", "safeclip", "--unimodal-epochs", "two"])?.contains("--unimodal-epochs: expected an integer") == true)
        #expect(failure(["--defense", "safeclip", "--safe-ranking", "psychic"])?.contains("unknown value 'psychic'") == true)
        #expect(failure(["--defense", "safeclip", "--pool-size", "5"])?.contains("--pool-size is a setting of roclip") == true)
        #expect(failure(["--pool-size", "5"])?.contains("not of none") == true)
        #expect(failure(["--defense", "safeclip", "--unimodal-epochs"])?.contains("needs a value") == true)
        #expect(failure(["--epoch", "5"])?.contains("unknown option '--epoch'") == true)
        #expect(failure(["--defense", "safeclip", "--no-bank-size"])?.contains("unknown option") == true)
        let finetune = try Finetune.parse(["--data", "d.csv", "--checkpoint", "w.safetensors", "--out", "o", "--inmodal-weight", "0.5"]).settings()
        #expect(finetune.defense.finetunes && finetune.cleanCLIP.inmodalWeight == 0.5)
    }

    @Test func helpListsEachCommandsDefencesAndTheirFlags() throws {
        let clipguard = try builtExecutable(named: "clipguard")
        let train = try runCommand(clipguard, ["train", "--help"]).stdout
        let finetune = try runCommand(clipguard, ["finetune", "--help"]).stdout
        for defense in Defense.allCases {
            let (mine, other) = defense.finetunes ? (finetune, train) : (train, finetune)
            #expect(mine.contains("\(defense.name): "), "\(defense) missing from its command's help")
            #expect(!other.contains("  \(defense.name): "), "\(defense) listed by the other command")
            for key in defense.settingsType.keys {
                let flag = "--" + key.name.replacingOccurrences(of: "_", with: "-")
                #expect(mine.contains(flag) && !other.contains(flag), "\(defense): \(flag)")
            }
        }
    }
}

private struct NotATrainingCommand: Error {}
