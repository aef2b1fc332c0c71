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
        let base = finetune ? Self.finetuneDefaults : TrainingConfig(data: "", model: "")
        let mine = Self.flatValues(self), defaults = Self.flatValues(base)
        var words = ["clipguard", finetune ? "finetune" : "train"]
        // Another defence's settings have no flag here and change nothing.
        let inactive = Self.defenseKeys(except: defense)
        for key in mine.keys.sorted() where mine[key] != defaults[key] && !inactive.contains(key) {
            let value = mine[key] ?? ""
            switch key {
            case "defense":
                if !finetune { words += ["--defense", value] }
            case "init_weights":
                words += [finetune ? "--checkpoint" : "--init-weights", value]
            case "tensorboard":
                if value == "true" || value == "1" { words.append("--tensorboard") }
            case "shuffle", "memory_bank", "cross_augmented":
                let flag = key.replacingOccurrences(of: "_", with: "-")
                words.append(value == "true" || value == "1" ? "--\(flag)" : "--no-\(flag)")
            default:
                words += ["--" + key.replacingOccurrences(of: "_", with: "-"), value]
            }
        }
        return words + ["--out", out]
    }

    /// The keys of every defence's settings but `defense`'s.
    static func defenseKeys(except defense: Defense) -> Set<String> {
        let keys: [Defense: Set<String>] = [
            .safeclip: SafeCLIPSettings.keys.union(["similarity_batch_size"]), .roclip: RoCLIPSettings.keys,
            .filter: FilterSettings.keys.union(["similarity_batch_size"]), .cleanclip: CleanCLIPSettings.keys,
        ]
        return keys.filter { $0.key != defense }.values.reduce(Set()) { $0.union($1) }.subtracting(keys[defense] ?? [])
    }

    /// What `clipguard finetune` starts from (CleanCLIP's reference settings).
    public static var finetuneDefaults: TrainingConfig {
        TrainingConfig(data: "", model: "", epochs: 10, batchSize: 64, lr: 1e-5, warmupSteps: 50, defense: .cleanclip)
    }

    /// Every key of the configuration with its value as a command-line word (absent when unset;
    /// booleans may read `1`/`0` or `true`/`false`, as Foundation's JSON reader gives them).
    static func flatValues(_ config: TrainingConfig) -> [String: String] {
        guard let data = try? ConfigFile.jsonData(config), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return [:]
        }
        return object.compactMapValues { value -> String? in
            switch value {
            case let number as NSNumber: return "\(number)"
            case let string as String: return string
            default: return nil
            }
        }
    }
}
