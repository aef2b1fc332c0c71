import Training

/// Everything the report knows about one kind of experiment row (a defence, or detect → drop →
/// retrain), read from the defence registry (``RowKind``, ``Defense``): the report code names no
/// defence, and a new defence needs no entry here.
struct ReportTraits: Sendable {
    /// The name readers see (`SafeCLIP`).
    var displayName: String
    /// Its colour in every plot.
    var colour: String
    /// Its marker in every plot.
    var marker: SVGPlot.Marker
    /// Plain CLIP: the row the defences are compared with.
    var isBaseline = false
    /// Fine-tunes the plain CLIP row of the same seed instead of training from scratch: its
    /// epochs are fine-tuning epochs, drawn on their own axis.
    var finetunes = false
    /// Chooses which pairs to trust and logs the poisoned pairs it caught.
    var selectsPairs = false
    /// When the row's settings make it score with an oracle model, why (nil: no oracle).
    var oracle: @Sendable (TrainingConfig) -> String? = { _ in nil }
}

/// The traits of every kind of row, and the colour and marker of every series of a report.
enum ReportSeries {
    /// The traits of a row's kind (`none`, `safeclip`, …, `detect`), from the defence registry
    /// (``RowKind``); an unknown name (a results file of another build) is shown as written.
    static func traits(_ defense: String) -> ReportTraits {
        guard let kind = RowKind(name: defense) else {
            return ReportTraits(displayName: defense, colour: "#000000", marker: .init(.plus))
        }
        return traits(kind)
    }

    /// The traits of a row's kind, as the registry describes it.
    static func traits(_ kind: RowKind) -> ReportTraits {
        ReportTraits(
            displayName: kind.displayName, colour: kind.colour, marker: .init(SVGPlot.MarkerShape(rawValue: kind.marker.rawValue) ?? .plus),
            isBaseline: kind == .plainCLIP, finetunes: kind.finetunes, selectsPairs: kind.pairSelection != nil,
            oracle: { ExperimentConfig.oracle(of: kind, training: $0) })
    }

    /// The name of a series (`safeclip@to-cap` → `SafeCLIP · to-cap`).
    static func displayName(_ series: String) -> String {
        let (defense, variant) = split(series)
        return traits(defense).displayName + (variant.map { " · " + $0 } ?? "")
    }

    /// A series' defence and variant.
    static func split(_ series: String) -> (defense: String, variant: String?) {
        guard let at = series.firstIndex(of: "@") else { return (series, nil) }
        return (String(series[..<at]), String(series[series.index(after: at)...]))
    }

    /// The colour of poisoned pairs (histograms); no series has it.
    static let poisonColour = "#D55E00"

    /// Colours for series beyond the defences' own: every pair of these and of the defences'
    /// colours differs by at least 22 in CIELAB ΔE76 (distinguishable side by side), and all are
    /// dark enough to read on white.
    static let palette = [
        "#332288", "#882255", "#117733", "#999933", "#AA4499", "#000000", "#EE6677", "#994F00", "#006CD1", "#40B0A6",
        "#D41159", "#004D40", "#8C564B", "#9467BD", "#33A02C", "#DDCC77",
    ]

    /// Markers in the order they are handed out.
    static let markers: [SVGPlot.Marker] =
        SVGPlot.MarkerShape.allCases.map { SVGPlot.Marker($0) } + SVGPlot.MarkerShape.allCases.filter(\.fillable).map { SVGPlot.Marker($0, filled: false) }

    /// A colour and a marker per series, in the order given: a defence's own when its plain
    /// series comes first, otherwise the first colour and marker no earlier series has. No two
    /// series share a colour, nor a marker, while there are fewer series than colours (22) and
    /// markers (22); beyond that no two share both.
    static func styles(_ series: [String]) -> [String: (colour: String, marker: SVGPlot.Marker)] {
        let own = series.map { traits(split($0).defense) }
        let colours = own.map(\.colour) + palette.filter { c in !own.contains { $0.colour == c } }
        let allMarkers = own.map(\.marker) + markers.filter { m in !own.contains { $0.marker == m } }
        var colourPool = Array(uniqued(colours)), markerPool = Array(uniqued(allMarkers))
        var out: [String: (colour: String, marker: SVGPlot.Marker)] = [:]
        var usedPairs = Set<String>()
        // Plain series (no variant) take their defence's own style first.
        for (s, t) in zip(series, own) where split(s).variant == nil && out[s] == nil {
            guard let c = colourPool.firstIndex(of: t.colour), let m = markerPool.firstIndex(of: t.marker) else { continue }
            out[s] = (t.colour, t.marker)
            colourPool.remove(at: c)
            markerPool.remove(at: m)
            usedPairs.insert(t.colour + t.marker.id)
        }
        var fallback = 0
        for s in series where out[s] == nil {
            if !colourPool.isEmpty && !markerPool.isEmpty {
                out[s] = (colourPool.removeFirst(), markerPool.removeFirst())
            } else {
                // More series than colours or markers: a pair no series has yet.
                let allColours = Array(uniqued(colours)), all = Array(uniqued(allMarkers))
                var style: (String, SVGPlot.Marker)
                repeat {
                    style = (allColours[fallback % allColours.count], all[(fallback / allColours.count + fallback) % all.count])
                    fallback += 1
                } while usedPairs.contains(style.0 + style.1.id) && fallback < allColours.count * all.count * 2
                out[s] = style
            }
            usedPairs.insert(out[s]!.colour + out[s]!.marker.id)
        }
        return out
    }
}

/// Distinct elements in first-seen order.
func uniqued<T: Hashable>(_ values: [T]) -> [T] {
    var seen = Set<T>()
    return values.filter { seen.insert($0).inserted }
}
