/// How much of each poisoned image's trigger reaches the model input (`clipguard poison check`).
///
/// For every poisoned row the trigger's regions are laid out at the stored image's size (as the
/// generator laid them out) and pushed through the model's resize and crop; the fraction of the
/// trigger's pixels inside the model input is that row's survival. With model-input placement
/// it is 1 by construction; with original placement, centre crops cut patches on images whose
/// aspect ratio is not square, which is why the study's attack failed (SPEC §2).
public struct TriggerSurvivalReport: Codable, Sendable, Hashable, CustomStringConvertible {
    /// Survival over the rows of one orientation.
    public struct Group: Codable, Sendable, Hashable {
        public var rows: Int
        public var meanSurvival: Double
        public var shareBelowHalf: Double

        enum CodingKeys: String, CodingKey {
            case rows, meanSurvival = "mean_survival", shareBelowHalf = "share_below_half"
        }
    }

    public var geometry: ModelGeometry
    public var placement: TriggerPlacement
    public var rows: Int
    /// Mean over rows of the surviving fraction of the trigger.
    public var meanSurvival: Double
    public var minimumSurvival: Double
    /// Share of rows whose trigger keeps less than half its area.
    public var shareBelowHalf: Double
    /// Share of rows whose trigger is lost entirely.
    public var shareLost: Double
    /// By orientation of the stored image: `landscape`, `portrait`, `square`.
    public var byOrientation: [String: Group]
    /// Each row's survival, in manifest order.
    public var perRow: [Double]

    enum CodingKeys: String, CodingKey {
        case geometry, placement, rows, meanSurvival = "mean_survival", minimumSurvival = "minimum_survival"
        case shareBelowHalf = "share_below_half", shareLost = "share_lost", byOrientation = "by_orientation"
        case perRow = "per_row"
    }

    /// The survival of each poisoned row's trigger under `geometry`.
    ///
    /// - Throws: ``AttackError/invalidSetting(_:)`` for a manifest without an image trigger (targeted, pairing, caption backdoor).
    public init(manifest: PoisonManifest, geometry: ModelGeometry) throws(AttackError) {
        guard let trigger = manifest.trigger else {
            throw .invalidSetting("the manifest is of \(manifest.mode == .targeted ? "targeted poisoning" : "a \(manifest.mode.rawValue) attack"), which has no image trigger to check")
        }
        guard geometry.size > 0 else { throw .invalidSetting("image size must be positive, got \(geometry.size)") }
        self.geometry = geometry
        placement = manifest.placement
        perRow = manifest.rows.map { row in
            TriggerSurvival.fraction(of: trigger.regions(width: row.width, height: row.height, index: row.triggerIndex ?? 0),
                                     width: row.width, height: row.height, geometry: geometry)
        }
        rows = perRow.count
        func summary(_ values: [Double]) -> (mean: Double, below: Double) {
            guard !values.isEmpty else { return (0, 0) }
            return (values.reduce(0, +) / Double(values.count),
                    Double(values.filter { $0 < 0.5 }.count) / Double(values.count))
        }
        let all = summary(perRow)
        meanSurvival = all.mean
        shareBelowHalf = all.below
        minimumSurvival = perRow.min() ?? 0
        shareLost = perRow.isEmpty ? 0 : Double(perRow.filter { $0 == 0 }.count) / Double(perRow.count)
        var groups: [String: [Double]] = [:]
        for (row, value) in zip(manifest.rows, perRow) {
            let orientation = row.width > row.height ? "landscape" : row.width < row.height ? "portrait" : "square"
            groups[orientation, default: []].append(value)
        }
        byOrientation = groups.mapValues { values in
            let s = summary(values)
            return Group(rows: values.count, meanSurvival: s.mean, shareBelowHalf: s.below)
        }
    }

    public var description: String {
        func percent(_ x: Double) -> String { "\(Double(Int((x * 1000).rounded())) / 10)%" }
        var lines = [
            "trigger survival into the model input (\(geometry)), placement \(placement):",
            "rows: \(rows)",
            "mean surviving trigger area: \(percent(meanSurvival)) (minimum \(percent(minimumSurvival)))",
            "rows keeping under 50% of the trigger: \(percent(shareBelowHalf)); losing all of it: \(percent(shareLost))",
        ]
        for key in byOrientation.keys.sorted() {
            let g = byOrientation[key]!
            lines.append("  \(key): \(g.rows) rows, mean \(percent(g.meanSurvival)), under 50%: \(percent(g.shareBelowHalf))")
        }
        if rows > 0 && meanSurvival < 0.9 {
            lines.append("WARNING: most of the trigger does not reach the model; apply it at the model input "
                         + "(--placement model-input, the default) instead")
        }
        return lines.joined(separator: "\n")
    }
}
