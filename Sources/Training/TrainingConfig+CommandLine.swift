import Foundation

extension TrainingConfig {
    /// The `clipguard` command that trains with exactly these settings into `out`:
    /// `clipguard train …` (or `clipguard finetune …` for a fine-tuning defence), with a flag for
    /// every setting that differs from the command's own defaults.
    ///
    /// ```swift
    /// config.commandLine(out: "runs/a")   // ["clipguard", "train", "--data", "d.csv", …, "--out", "runs/a"]
    /// ```
    public func commandLine(out: String) -> [String] {
        let finetune = defense.finetunes
        var words = ["clipguard", finetune ? "finetune" : "train"]
        if defense != (finetune ? Self.finetuneDefaults : TrainingConfig(data: "", model: "")).defense { words += ["--defense", defense.name] }
        var base = finetune ? Self.finetuneDefaults(for: defense) : TrainingConfig(data: "", model: "")
        base.defense = defense
        let mine = Self.flatValues(self), defaults = Self.flatValues(base)
        let settingKeys = Dictionary(uniqueKeysWithValues: defense.settingsType.keys.map { ($0.name, $0) })
        for key in mine.keys.sorted() where key != "defense" && mine[key] != defaults[key] {
            let value = mine[key] ?? ""
            let isTrue = value == "true" || value == "1"
            if let setting = settingKeys[key] {
                let flag = defense.settingsType.flag(of: setting)
                words += setting.isBoolean ? [isTrue ? flag : "--no-" + String(flag.dropFirst(2))] : [flag, value]
                continue
            }
            switch key {
            case "init_weights":
                words += [finetune ? "--checkpoint" : "--init-weights", value]
            case "tensorboard":
                if isTrue { words.append("--tensorboard") }
            case "shuffle":
                words.append(isTrue ? "--shuffle" : "--no-shuffle")
            default:
                words += ["--" + key.replacingOccurrences(of: "_", with: "-"), value]
            }
        }
        return words + ["--out", out]
    }

    /// What `clipguard finetune` starts from (CleanCLIP's reference schedule: 10 epochs, batch 64,
    /// lr 1e-5, 50 warm-up steps), with the first registered fine-tuning defence.
    public static var finetuneDefaults: TrainingConfig {
        TrainingConfig(
            data: "", model: "", epochs: 10, batchSize: 64, lr: 1e-5, warmupSteps: 50,
            defense: Defense.allCases.first(where: \.finetunes) ?? Defense.allCases[0])
    }

    /// What `clipguard finetune --defense NAME` starts from: ``finetuneDefaults`` with the
    /// defence's reference training keys (``TrainingObjective/referenceTraining(_:)``).
    public static func finetuneDefaults(for defense: Defense) -> TrainingConfig {
        var base = finetuneDefaults
        base.defense = defense
        defense.objectiveType.referenceTraining(&base)
        return base
    }

    /// One line per fine-tuning defence for `finetune --help`: the schedule it starts from.
    public static var finetuneDefaultsHelp: String {
        Defense.allCases.filter(\.finetunes).map { d in
            let c = finetuneDefaults(for: d)
            return "  \(d.name): batch \(c.batchSize), lr \(c.lr), \(c.epochs) epochs, \(c.warmupSteps) warm-up steps, "
                + "weight decay \(c.weightDecay), betas (\(c.beta1), \(c.beta2))"
        }.joined(separator: "\n")
    }

    /// Every key of the configuration with its value as a command-line word (absent when unset;
    /// booleans may read `1`/`0` or `true`/`false`, as Foundation's JSON reader gives them). The
    /// defence's settings block is flattened: its keys appear as at the top level.
    static func flatValues(_ config: TrainingConfig) -> [String: String] {
        guard let data = try? ConfigFile.jsonData(config), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return [:]
        }
        var flat = object
        if let block = object[config.defense.name] as? [String: Any] {
            flat[config.defense.name] = nil
            flat.merge(block) { a, _ in a }
        }
        return flat.compactMapValues { value -> String? in
            switch value {
            case let number as NSNumber: return "\(number)"
            case let string as String: return string
            default: return nil
            }
        }
    }

    /// Sets the configured defence's settings from its command-line flags (`--unimodal-epochs 2`,
    /// `--unimodal-epochs=2`, `--memory-bank`, `--no-memory-bank`), as `clipguard train` and
    /// `finetune` receive them.
    ///
    /// - Throws: ``DefenseFlagError`` naming the flag: an unknown flag, a flag of another
    ///   defence, a missing or ill-typed value.
    public mutating func applyDefenseFlags(_ words: [String]) throws(DefenseFlagError) {
        let type = defense.settingsType
        var settings = self.settings
        var i = 0
        while i < words.count {
            let word = words[i]
            i += 1
            guard word.hasPrefix("--") else { throw DefenseFlagError("unexpected argument '\(word)'") }
            let (flag, attached) = word.firstIndex(of: "=").map { (String(word[..<$0]), Optional(String(word[word.index(after: $0)...]))) } ?? (word, nil)
            let negated = flag.hasPrefix("--no-")
            let name = (negated ? String(flag.dropFirst(5)) : String(flag.dropFirst(2))).replacingOccurrences(of: "-", with: "_")
            guard let key = type.keys.first(where: { $0.name == name && (!negated || $0.isBoolean) }) else {
                if let owner = Defense.allCases.first(where: { d in d != defense && d.settingsType.keys.contains { $0.name == name } }) {
                    let command = owner.finetunes ? "clipguard finetune" : "clipguard train"
                    throw DefenseFlagError("\(flag) is a setting of \(owner.name), not of \(defense.name) (\(command) --defense \(owner.name))")
                }
                throw DefenseFlagError("unknown option '\(flag)'")
            }
            let value: String
            if key.isBoolean {
                if attached != nil { throw DefenseFlagError("\(flag) takes no value (use \(flag) or --no-\(flag.dropFirst(2)))") }
                value = negated ? "false" : "true"
            } else if let attached {
                value = attached
            } else {
                guard i < words.count else { throw DefenseFlagError("\(flag) needs a value (\(key.placeholder))") }
                value = words[i]
                i += 1
            }
            do {
                settings = try Self.setting(key, of: settings, to: value)
            } catch {
                throw DefenseFlagError("\(flag): \(error.reason)")
            }
        }
        self.settings = settings
    }

    private static func setting(_ key: SettingKey, of settings: some DefenseSettings, to word: String) throws(SettingWordError) -> any DefenseSettings {
        do {
            return try settings.setting(key, to: word)
        } catch let error as SettingWordError {
            throw error
        } catch {
            throw SettingWordError(reason: "\(error)")
        }
    }

    /// The help of a command's defence flags: per defence (those `include` accepts), a heading
    /// and one line per key, as `clipguard train --help` and `finetune --help` show them.
    public static func defenseFlagsHelp(include: (Defense) -> Bool) -> String {
        Defense.allCases.filter(include).compactMap { d -> String? in
            let keys = d.settingsType.keys
            guard !keys.isEmpty else { return nil }
            let lines = keys.map { key -> String in
                let flag = d.settingsType.flag(of: key)
                let usage = key.isBoolean ? "\(flag), --no-\(flag.dropFirst(2))" : "\(flag) <\(key.placeholder)>"
                return "  \(usage)\n      \(key.help)"
            }
            return "\(d.displayName) (--defense \(d.name)):\n" + lines.joined(separator: "\n")
        }.joined(separator: "\n\n")
    }
}

/// A defence flag the command line cannot apply; the message names the flag.
public struct DefenseFlagError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
