/// What a run trains: plain CLIP (`none`) or a defence against poisoning (SPEC §3–4).
///
/// This is the registry of objectives: each case names the ``TrainingObjective`` that implements
/// it. A new defence is one file with its objective (and its settings, if any) plus its case
/// and objective type here.
public enum Defense: String, CaseIterable, Sendable, Codable {
    /// Plain CLIP: the CLIP loss on every pair.
    case none
    /// SafeCLIP: unimodal warm-up, CLIP warm-up, then a safe/risky split every epoch.
    case safeclip
    /// RoCLIP: every k-th epoch each image is matched to its nearest pool caption.
    case roclip
    /// Similarity filtering: drop the lowest-similarity pairs under a given model, then CLIP.
    case filter
    /// CleanCLIP: fine-tune a (possibly poisoned) model with CLIP + in-modal losses.
    case cleanclip

    /// The objective that trains this defence.
    var objectiveType: any TrainingObjective.Type {
        switch self {
        case .none: CLIPObjective.self
        case .safeclip: SafeCLIPObjective.self
        case .roclip: RoCLIPObjective.self
        case .filter: FilterObjective.self
        case .cleanclip: CleanCLIPObjective.self
        }
    }

    /// Whether the defence fine-tunes `init_weights` (`clipguard finetune`) instead of training
    /// from scratch.
    public var finetunes: Bool { self == .cleanclip }
}
