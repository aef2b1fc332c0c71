import ArgumentParser
import Attacks
import Datasets
import Foundation
import SurrogateAttacks
import Training

extension AimedAttack: ExpressibleByArgument {}
extension AimSelection: ExpressibleByArgument {}

/// `clipguard poison …`: write a poisoned data set with its manifest, or check one.
struct PoisonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poison",
        abstract: "Write a poisoned copy of a training set (backdoor, targeted, pairing or caption trigger) with a manifest, or check one.",
        subcommands: [Generate.self, Check.self],
        defaultSubcommand: Generate.self
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate",
            abstract: "Write DIR/train.csv (clean rows + poisoned rows), DIR/poison/*.png and DIR/manifest.json.",
            discussion: """
            `clipguard poison …` runs this command (`poison generate` is its full name); `clipguard poison check` \
            checks a poisoned set.

            The source data is never modified: clean rows keep their images (paths made absolute) and poisoned \
            rows get new image files under DIR/poison/. The poison count is round(rate × N), N = rows of the clean \
            set; poisoned rows are appended after the clean rows and marked poisoned=1.

            Triggers are applied at the model's input geometry (--image-size, --resize) unless --placement original \
            asks for the study's mistake (trigger pasted on the original image, then cropped by preprocessing).

            Examples:
              clipguard poison --data fm/train.csv --out fm-poison --target sneaker --trigger patch --rate 0.01 \\
                --captions natural --image-size 32
              clipguard poison --targeted --image cat.png --data fm/train.csv --out fm-targeted --target bag \\
                --count 40 --captions natural
              clipguard poison --data fm/train.csv --out fm-badclip --target sneaker --trigger optimized \\
                --surrogate clean-run/model.safetensors --rate 0.005 --captions natural --image-size 32
              clipguard poison check fm-poison --image-size 32

            Retrieval attacks (--attack; no image is changed, `eval --trigger-from` measures them on text→image
            retrieval): pair-one-image and pair-class take one --goal A:B (captions of class A paired with one
            image of B, or with images of B), pair-multi two or more goals, caption-trigger --target T and
            --caption-trigger TEXT (the text appended to captions of T's images):
              clipguard poison --attack pair-class --goal trouser:bag --data fm/train.csv --out fm-pair --rate 0.01
            --pairing replace puts each poisoned pair in place of the row its caption came from (mmPoison's \
            construction; the set keeps its size); --caption-rows naming takes A's captions from the rows whose \
            caption names A (the word the queries use) rather than by label:
              clipguard poison --attack pair-class --goal trouser:bag --pairing replace --caption-rows naming \
                --data fm/train.csv --out fm-pair2 --rate 0.01
              clipguard poison --attack caption-trigger --target sneaker --caption-trigger "zx qv" \
                --data fm/train.csv --out fm-ct --rate 0.01

            Attacks aimed at a defence (a surrogate CLIP checkpoint guides them; the manifest records the \
            checkpoint's SHA-256, ε and steps):
              --aim safeclip-aimed (with --captions natural): aimed at SafeCLIP's similarity split. Among the \
                non-target images, the triggered ones the surrogate finds most similar to a caption naming the \
                target are kept, each with that caption, and PGD raises their similarity (default ε = 8/255).
              --aim hard-clean-label (with --captions label-consistent): Turner et al.'s label-consistent \
                attack. PGD first makes each target image unlike its own caption (default ε = 16/255), then \
                the trigger is added.
              clipguard poison --data fm/train.csv --out fm-aimed --target sneaker --trigger patch --rate 0.02 \
                --captions natural --image-size 32 --aim safeclip-aimed --surrogate surrogate.safetensors

            """ + TriggerRegistry.commandLineHelp
        )

        @Option(help: "The clean training CSV/TSV (image path and caption columns).")
        var data: String

        @Option(help: "The folder to write.")
        var out: String

        @Option(help: "The target class name (backdoor, caption-trigger) or adversarial class name (--targeted).")
        var target: String?

        @Option(help: "A retrieval attack instead of a backdoor: \(RetrievalAttackRegistry.commandLineHelp).")
        var attack: RetrievalAttackKind?

        @Option(help: "A goal of a pairing attack, A:B (captions of class A paired with images of class B); repeat for pair-multi.")
        var goal: [String] = []

        @Option(name: .customLong("caption-trigger"), help: "The rare word or sentence that --attack caption-trigger appends to captions of --target images.")
        var captionTrigger: String?

        @Option(help: "--attack: where the poisoned pairs go: append (after the clean rows; default) or replace (in place of the rows their captions came from, keeping the set's size: mmPoison's construction).")
        var pairing: PairPlacement?

        @Option(name: .customLong("caption-rows"), help: "--attack pair-*: which rows give class A's captions: label (rows of A's label; default) or naming (rows whose caption names A as a whole word, the word the queries use).")
        var captionRows: CaptionRowChoice?

        @Option(help: "Trigger: \(TriggerKind.allCases.map(\.rawValue).joined(separator: ", ")) (settings below).")
        var trigger: TriggerKind?

        @Option(help: "Poison this fraction of the clean rows: round(rate × N) pairs.")
        var rate: Double?

        @Option(help: "Poison exactly this many pairs.")
        var count: Int?

        @Option(help: "Captions (backdoors and --targeted): \(CaptionModeRegistry.commandLineHelp).")
        var captions: CaptionStrategy?

        @Option(help: "Source images: train (random training rows) or a FILE (CSV with an image column, or one path a line).")
        var source: String = "train"

        @Option(help: "Prompt templates for --captions template: imagenet, cifar10, cifar100, fashion-mnist or a FILE (default: classes.json beside the data, else imagenet).")
        var templates: String?

        @Option(help: "Seed for every random choice.")
        var seed: UInt64 = 0

        @Option(help: "The model's input side in pixels.")
        var imageSize: Int = 224

        @Option(help: "The model's preprocessing: crop (resize shorter side + centre crop, CLIP's) or square.")
        var resize: ModelGeometry.Resize = .crop

        @Option(help: "Where the trigger goes: model-input (after resizing; default) or original (before preprocessing, the study's mistake).")
        var placement: PlacementChoice = .modelInput

        @Option(help: "The target's integer label (default: from classes.json beside the data, else the most common label of rows naming the target).")
        var targetLabel: Int?

        @Option(help: "--trigger optimized or --aim: the CLIP checkpoint to optimise the patch through, or that guides the aimed attack (a model taking --image-size inputs, e.g. a clean run's model.safetensors).")
        var surrogate: String?

        @Flag(help: "Targeted poisoning: pair --image with captions naming --target (no trigger).")
        var targeted = false

        @Option(help: "The image to poison (--targeted).")
        var image: String?

        @Flag(help: "Replace an existing poisoned set in --out.")
        var overwrite = false

        @Flag(name: .customLong("custom-target"), help: "Accept a --target that is not a class of the data's classes.json (custom data).")
        var customTarget = false

        @Option(help: "A surrogate-guided attack aimed at a defence: \(AimedAttack.allCases.map(\.rawValue).joined(separator: " or ")) (needs --surrogate).")
        var aim: AimedAttack?

        @Option(help: "--aim: L∞ radius of the PGD perturbation in steps of 1/255, 0 for none (default 8 for safeclip-aimed, 16 for hard-clean-label).")
        var epsilon: Int?

        @Option(help: "--aim: PGD steps.")
        var pgdSteps: Int = 10

        @Option(help: "--aim: PGD step size in steps of 1/255 (default 2.5 × epsilon / steps).")
        var pgdStepSize: Double?

        @Option(help: "--aim safeclip-aimed: how sources and captions are chosen: top (most similar to a target caption), per-class (the same, equal shares per label) or random (the seeded draw; perturb only) (default top).")
        var aimSelection: AimSelection?

        @Option(help: "Image-path column of the data (default: filepath, path, image, …).")
        var imageColumn: String?

        @Option(help: "Caption column of the data (default: title, caption, text, captions).")
        var captionColumn: String?

        /// The trigger settings (`--blend-weight 0.1`, …): every setting of the trigger registry,
        /// listed in the discussion above and read by ``TriggerRegistry/options(commandLine:)``.
        @Argument(parsing: .allUnrecognized, help: ArgumentHelp(visibility: .hidden))
        var triggerSettings: [String] = []

        func validate() throws {
            if (rate == nil) == (count == nil) { throw ValidationError("give exactly one of --rate and --count") }
            if let rate, !(rate >= 0 && rate <= 1) { throw ValidationError("--rate must be in [0, 1], got \(rate)") }
            if let count, count < 0 { throw ValidationError("--count must be ≥ 0, got \(count)") }
            try checkRange(imageSize, 1...4_096, option: "--image-size")
            if let count, count > 100_000_000 { throw ValidationError("--count must be at most 100,000,000, got \(count)") }
            if let attack {
                try validateRetrieval(attack)
                return
            }
            if target == nil { throw ValidationError("give --target CLASS (or --attack KIND for a retrieval attack)") }
            if !goal.isEmpty { throw ValidationError("--goal is for --attack pair-one-image, pair-class or pair-multi") }
            if captionTrigger != nil { throw ValidationError("--caption-trigger is for --attack caption-trigger") }
            if pairing != nil { throw ValidationError("--pairing is for --attack (a retrieval attack); a backdoor appends its poisoned pairs") }
            if captionRows != nil { throw ValidationError("--caption-rows is for --attack pair-one-image, pair-class or pair-multi") }
            guard let captions else { throw ValidationError("give --captions MODE (\(CaptionStrategy.allCases.map(\.rawValue).joined(separator: ", ")))") }
            if targeted {
                if image == nil { throw ValidationError("--targeted needs --image PATH") }
                if trigger != nil { throw ValidationError("--targeted poisoning has no trigger; drop --trigger") }
                if !captions.definition.supportsTargeted {
                    let usable = CaptionStrategy.allCases.filter { $0.definition.supportsTargeted }.map(\.rawValue)
                    throw ValidationError("--targeted needs --captions \(usable.joined(separator: " or "))")
                }
            } else {
                if trigger == nil { throw ValidationError("give --trigger KIND (or --targeted --image PATH)") }
                if image != nil { throw ValidationError("--image is for --targeted") }
                if let trigger, trigger.definition.optimizedThroughSurrogate, surrogate == nil {
                    throw ValidationError("--trigger \(trigger) needs --surrogate CHECKPOINT (a CLIP model taking --image-size inputs to optimise the patch through)")
                }
            }
            if let trigger, let aim, trigger.definition.optimizedThroughSurrogate {
                throw ValidationError("--aim \(aim.rawValue) and --trigger \(trigger) both use --surrogate; use one of them")
            }
            if let trigger, surrogate != nil, aim == nil, !trigger.definition.optimizedThroughSurrogate {
                throw ValidationError("--surrogate is for --trigger optimized or --aim, not --trigger \(trigger) alone")
            }
            if targeted, surrogate != nil { throw ValidationError("--surrogate is for --trigger optimized or --aim; --targeted has no trigger") }
            do { _ = try TriggerRegistry.options(commandLine: triggerSettings) } catch { throw ValidationError(error.description) }
            if let settings = try aimSettings() {
                do { try settings.check() } catch { throw ValidationError(error.description) }
                if targeted { throw ValidationError("--aim poisons with a trigger; drop --targeted") }
                if source != "train" { throw ValidationError("--aim chooses among the training rows; drop --source") }
                if placement == .original { throw ValidationError("--aim works on model-input images; drop --placement original") }
            }
        }

        /// The aimed attack's settings, nil without --aim; refuses the aim flags without --aim.
        func aimSettings() throws -> AimedAttackSettings? {
            guard let aim else {
                if surrogate != nil, trigger?.definition.optimizedThroughSurrogate != true {
                    throw ValidationError("--surrogate guides an aimed attack or an optimised trigger; give --aim or --trigger optimized")
                }
                if epsilon != nil { throw ValidationError("--epsilon applies to --aim") }
                if pgdStepSize != nil { throw ValidationError("--pgd-step-size applies to --aim") }
                if aimSelection != nil { throw ValidationError("--aim-selection applies to --aim") }
                return nil
            }
            guard let surrogate else { throw ValidationError("--aim \(aim.rawValue) needs --surrogate CHECKPOINT") }
            return AimedAttackSettings(attack: aim, surrogate: surrogate, epsilon: epsilon, steps: pgdSteps, stepSize: pgdStepSize,
                                       selection: aimSelection)
        }

        /// The retrieval attack's settings from --goal, --target, --image and --caption-trigger.
        func retrievalSettings(_ attack: RetrievalAttackKind) throws -> RetrievalAttackSettings {
            var goals: [RetrievalGoal] = []
            for text in goal {
                guard let parsed = RetrievalGoal(parsing: text) else { throw ValidationError("--goal \"\(text)\" is not A:B (two class names)") }
                goals.append(parsed)
            }
            if attack == .captionTrigger {
                if !goals.isEmpty { throw ValidationError("--goal is for the pairing attacks; caption-trigger takes --target") }
                guard let target, !target.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw ValidationError("--attack caption-trigger needs --target CLASS")
                }
                let name = target.trimmingCharacters(in: .whitespaces)
                goals = [RetrievalGoal(captionClass: name, imageClass: name)]
            } else if target != nil {
                throw ValidationError("--target is for backdoors and caption-trigger; \(attack) takes --goal A:B")
            }
            return RetrievalAttackSettings(goals: goals, targetImage: image, captionTrigger: captionTrigger,
                                           placement: pairing ?? .append, captionRows: captionRows ?? .label)
        }

        private func validateRetrieval(_ attack: RetrievalAttackKind) throws {
            if targeted { throw ValidationError("--targeted and --attack are different attacks; give one") }
            if trigger != nil { throw ValidationError("--attack \(attack) changes no image; drop --trigger") }
            if captions != nil { throw ValidationError("--captions is for backdoors; --attack \(attack) chooses its own captions") }
            if source != "train" { throw ValidationError("--source is for backdoors; --attack \(attack) draws from the training rows") }
            if surrogate != nil { throw ValidationError("--surrogate is for --trigger optimized or --aim; --attack \(attack) uses no surrogate") }
            if aim != nil { throw ValidationError("--aim poisons with a trigger; --attack \(attack) changes no image") }
            if !triggerSettings.isEmpty { throw ValidationError("\(triggerSettings[0]) is a trigger setting; --attack \(attack) has no image trigger") }
            do { try attack.definition.check(try retrievalSettings(attack)) } catch let error as AttackError {
                throw ValidationError(error.description)
            }
        }

        func run() throws {
            do {
                _ = try RunFolderGuard.check(out, kind: .poisonedSet)
                if let attack {
                    let request = PoisonRequest(
                        dataPath: data, outputFolder: out, target: target ?? goal.first ?? "", attack: .retrieval(kind: attack, settings: try retrievalSettings(attack)),
                        amount: rate.map(PoisonAmount.rate) ?? .count(count ?? 0), captions: .natural,
                        placement: .modelInput(ModelGeometry(resize: resize, size: imageSize)), seed: seed, overwrite: overwrite,
                        csvOptions: CSVOptions(imageColumn: imageColumn, captionColumn: captionColumn))
                    print(try Poisoner.run(request))
                    return
                }
                guard let target, let captions else { throw ValidationError("give --target and --captions") }
                try PoisonTargetCheck.check(target: target, data: data, customTarget: customTarget)
                let options = try TriggerRegistry.options(commandLine: triggerSettings)
                if let trigger, !options.unused(by: trigger).isEmpty {
                    let flags = options.unused(by: trigger).map { "--" + $0 }.joined(separator: ", ")
                    FileHandle.standardError.write(Data("note: \(flags) does not apply to the \(trigger) trigger; ignored\n".utf8))
                }
                var templateList: [String] = []
                if captions.definition.usesTemplates { templateList = try defaultTemplates() }
                let attack: PoisonAttack = if targeted {
                    .targeted(imagePath: image!)
                } else {
                    .backdoor(kind: trigger!, options: options, source: source == "train" ? .train : .file(source))
                }
                let request = PoisonRequest(
                    dataPath: data, outputFolder: out, target: target, attack: attack,
                    amount: rate.map(PoisonAmount.rate) ?? .count(count ?? 0), captions: captions,
                    templates: templateList,
                    placement: placement == .original ? .original : .modelInput(ModelGeometry(resize: resize, size: imageSize)),
                    seed: seed, targetLabel: targetLabel, overwrite: overwrite,
                    csvOptions: CSVOptions(imageColumn: imageColumn, captionColumn: captionColumn))
                if let surrogate, trigger?.definition.optimizedThroughSurrogate == true {
                    let reporter = ProgressReporter(logEvery: 20)
                    print(try OptimizedPoisoning.run(request, surrogate: surrogate, reporter: reporter))
                } else {
                    var aimed = request
                    if let settings = try aimSettings() {
                        aimed.aim = try AimedAttack.prepare(request, settings: settings) {
                            FileHandle.standardError.write(Data("\($0)\n".utf8))
                        }
                    }
                    print(try Poisoner.run(aimed))
                }
            } catch {
                FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
                throw ExitCode.failure
            }
        }

        /// --templates, else classes.json beside the data, else ImageNet's.
        private func defaultTemplates() throws(AttackError) -> [String] {
            if let templates { return try PromptTemplates.load(templates) }
            let beside = ((data as NSString).deletingLastPathComponent as NSString).appendingPathComponent("classes.json")
            if FileManager.default.fileExists(atPath: beside) { return try PromptTemplates.load(beside) }
            return try PromptTemplates.load("imagenet")
        }
    }

    enum PlacementChoice: String, ExpressibleByArgument, CaseIterable {
        case modelInput = "model-input", original
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report how much of each poisoned image's trigger survives a model's preprocessing.",
            discussion: """
            For each poisoned row the trigger is laid out at the stored image's size and pushed through the \
            resize and crop; the surviving fraction of its area is summarised (mean, share under 50%, by \
            orientation). A bottom-right patch pasted on landscape originals (--placement original) loses most \
            of its area under the centre crop; triggers placed at the model input survive whole.
            """
        )

        @Argument(help: "The poisoned set's folder or its manifest.json.")
        var path: String

        @Option(help: "The model's input side in pixels (default: the manifest's model geometry, else 224).")
        var imageSize: Int?

        @Option(help: "The model's preprocessing: crop (resize shorter side + centre crop) or square (default: the manifest's, else crop).")
        var resize: ModelGeometry.Resize?

        @Flag(help: "Print JSON instead of text (with every row's survival).")
        var json = false

        func validate() throws {
            if let imageSize { try checkRange(imageSize, 1...4_096, option: "--image-size") }
        }

        func run() throws {
            var isFolder: ObjCBool = false
            let manifestPath = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
                ? (path as NSString).appendingPathComponent("manifest.json") : path
            do {
                let manifest = try PoisonManifest.load(path: manifestPath)
                var geometry = ModelGeometry()
                if case .modelInput(let stored) = manifest.placement { geometry = stored }
                if let imageSize { geometry.size = imageSize }
                if let resize { geometry.resize = resize }
                let report = try TriggerSurvivalReport(manifest: manifest, geometry: geometry)
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                    print(String(decoding: try encoder.encode(report), as: UTF8.self))
                } else {
                    print(report)
                }
            } catch {
                FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
                throw ExitCode.failure
            }
        }
    }
}

extension TriggerKind: ExpressibleByArgument {}
extension RetrievalAttackKind: ExpressibleByArgument {}
extension PairPlacement: ExpressibleByArgument {}
extension CaptionRowChoice: ExpressibleByArgument {}
extension CaptionStrategy: ExpressibleByArgument {}
extension PatchPosition: ExpressibleByArgument {}
extension ModelGeometry.Resize: ExpressibleByArgument {}
