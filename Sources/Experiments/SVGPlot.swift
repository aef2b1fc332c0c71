import Foundation

/// A small SVG chart: line series, point series with error bars, bars, shaded x-bands and
/// vertical marks on a linear or logarithmic x axis, with ticks, labels and a legend.
///
/// Enough for the report's curves (loss per step, accuracy and ASR per epoch), scatter plots
/// (clean accuracy against ASR, ASR against the poison rate on a log axis), bar charts of final
/// figures with their values written on the bars, ROC curves and count histograms.
///
/// The y axis starts at 0 (or below, for negative data) unless `yRange` says otherwise or
/// `yFromZero` is switched off; the x axis spans the data unless `xRange` is set.
///
/// ```swift
/// var plot = SVGPlot(title: "ASR against poison rate", xLabel: "poison rate %", yLabel: "ASR %")
/// plot.xScale = .log
/// plot.lines.append(.init(name: "CLIP", points: [(0.05, 4), (5, 88)], connected: false, colour: "#555555"))
/// let svg = plot.render()
/// ```
public struct SVGPlot {
    /// A series through `points` (x, y): a polyline, or only markers when not `connected`.
    public struct Line {
        public var name: String
        public var points: [(Double, Double)]
        public var markers: Bool
        /// An SVG `stroke-dasharray` (nil: solid).
        public var dash: String?
        /// Draw the polyline (false: markers only, for values that are not a continuum).
        public var connected: Bool
        /// Fixed colour (nil: the next palette colour).
        public var colour: String?
        public var opacity: Double
        /// ± half-widths of error bars at each point (x, y), or nil.
        public var errors: [(x: Double, y: Double)]?
        /// Text written beside each point, or nil.
        public var pointLabels: [String]?
        /// Whether the series has a legend entry.
        public var inLegend: Bool
        /// The shape of its markers (a filled circle when nil).
        public var marker: Marker?

        public init(
            name: String, points: [(Double, Double)], markers: Bool = false, dashed: Bool = false, dash: String? = nil,
            connected: Bool = true, colour: String? = nil, opacity: Double = 1, errors: [(x: Double, y: Double)]? = nil,
            pointLabels: [String]? = nil, inLegend: Bool = true, marker: Marker? = nil
        ) {
            self.marker = marker
            self.name = name
            self.points = points
            self.markers = markers || !connected
            self.dash = dash ?? (dashed ? "5 3" : nil)
            self.connected = connected
            self.colour = colour
            self.opacity = opacity
            self.errors = errors
            self.pointLabels = pointLabels
            self.inLegend = inLegend
        }
    }

    /// Bars from `x0` to `x1` of height `y` (a histogram's bins, or a bar chart's bars).
    public struct Bars {
        public var name: String
        public var bins: [(x0: Double, x1: Double, y: Double)]
        /// Fixed colour (nil: the next palette colour).
        public var colour: String?
        public var opacity: Double
        /// Write each bar's value above it (a zero bar shows "0").
        public var valueLabels: Bool
        /// Formats a value label.
        public var format: @Sendable (Double) -> String
        /// ± half-heights of error bars per bin, or nil.
        public var errors: [Double]?

        public init(
            name: String, bins: [(x0: Double, x1: Double, y: Double)], colour: String? = nil, opacity: Double = 0.55,
            valueLabels: Bool = false, format: @escaping @Sendable (Double) -> String = { SVGPlot.label($0) }, errors: [Double]? = nil
        ) {
            self.name = name
            self.bins = bins
            self.colour = colour
            self.opacity = opacity
            self.valueLabels = valueLabels
            self.format = format
            self.errors = errors
        }
    }

    /// A shaded x-range behind the data (a training phase).
    public struct Band {
        public var x0: Double
        public var x1: Double
        public var label: String
        public var colour: String
        public init(x0: Double, x1: Double, label: String, colour: String) {
            self.x0 = x0
            self.x1 = x1
            self.label = label
            self.colour = colour
        }
    }

    /// A vertical line across the plot at `x` (a threshold), labelled at its top.
    public struct Mark {
        public var x: Double
        public var label: String
        public var dash: String?
        public init(x: Double, label: String, dash: String? = nil) {
            self.x = x
            self.label = label
            self.dash = dash
        }
    }

    /// How x values map to the axis.
    public enum Scale: Sendable { case linear, log }

    /// The outline of a marker.
    public enum MarkerShape: String, CaseIterable, Sendable, Hashable {
        case circle, square, diamond, triangleUp = "triangle-up", triangleDown = "triangle-down", triangleLeft = "triangle-left"
        case triangleRight = "triangle-right", pentagon, hexagon, star, plus, cross

        /// Whether the shape has an inside (plus and cross are strokes only).
        public var fillable: Bool { self != .plus && self != .cross }
    }

    /// A point marker: a shape, filled or drawn as an outline.
    public struct Marker: Hashable, Sendable {
        public var shape: MarkerShape
        public var filled: Bool
        public init(_ shape: MarkerShape, filled: Bool = true) {
            self.shape = shape
            self.filled = filled && shape.fillable
        }
        /// `square`, `square-open`.
        public var id: String { shape.rawValue + (filled || !shape.fillable ? "" : "-open") }
    }

    /// A marker of radius `r` at (`x`, `y`) pixels; `attributes` are added to the element.
    static func markerSVG(_ marker: Marker, x: Double, y: Double, r: Double = 3.2, colour: String, attributes: String = "") -> String {
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        let paint = marker.filled ? "fill=\"\(colour)\"" : "fill=\"white\" stroke=\"\(colour)\" stroke-width=\"1.4\""
        func polygon(_ points: [(Double, Double)]) -> String {
            "<path d=\"M" + points.map { "\(f(x + $0.0)) \(f(y + $0.1))" }.joined(separator: "L") + "Z\" \(paint)\(attributes)/>"
        }
        func regular(_ n: Int, radius: Double, rotation: Double = -Double.pi / 2) -> [(Double, Double)] {
            (0..<n).map { k in
                let a = rotation + 2 * Double.pi * Double(k) / Double(n)
                return (radius * cos(a), radius * sin(a))
            }
        }
        switch marker.shape {
        case .circle:
            return "<circle cx=\"\(f(x))\" cy=\"\(f(y))\" r=\"\(f(r))\" \(paint)\(attributes)/>"
        case .square: return polygon([(-r * 0.9, -r * 0.9), (r * 0.9, -r * 0.9), (r * 0.9, r * 0.9), (-r * 0.9, r * 0.9)])
        case .diamond: return polygon([(0, -r * 1.3), (r * 1.1, 0), (0, r * 1.3), (-r * 1.1, 0)])
        case .triangleUp: return polygon(regular(3, radius: r * 1.35))
        case .triangleDown: return polygon(regular(3, radius: r * 1.35, rotation: Double.pi / 2))
        case .triangleLeft: return polygon(regular(3, radius: r * 1.35, rotation: Double.pi))
        case .triangleRight: return polygon(regular(3, radius: r * 1.35, rotation: 0))
        case .pentagon: return polygon(regular(5, radius: r * 1.15))
        case .hexagon: return polygon(regular(6, radius: r * 1.1))
        case .star:
            let outer = regular(5, radius: r * 1.5), inner = regular(5, radius: r * 0.65, rotation: -Double.pi / 2 + Double.pi / 5)
            return polygon((0..<5).flatMap { [outer[$0], inner[$0]] })
        case .plus:
            let a = r * 1.3
            return "<path d=\"M\(f(x - a)) \(f(y))H\(f(x + a))M\(f(x)) \(f(y - a))V\(f(y + a))\" stroke=\"\(colour)\" stroke-width=\"1.8\" fill=\"none\"\(attributes)/>"
        case .cross:
            let a = r * 1.0
            return "<path d=\"M\(f(x - a)) \(f(y - a))L\(f(x + a)) \(f(y + a))M\(f(x - a)) \(f(y + a))L\(f(x + a)) \(f(y - a))\" stroke=\"\(colour)\" stroke-width=\"1.8\" fill=\"none\"\(attributes)/>"
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var lines: [Line] = []
    public var bars: [Bars] = []
    public var bands: [Band] = []
    public var marks: [Mark] = []
    /// Fixed y range (e.g. 0…100 for percentages); from the data when nil.
    public var yRange: ClosedRange<Double>?
    /// Fixed x range; from the data when nil.
    public var xRange: ClosedRange<Double>?
    /// With `yRange` nil: the y axis includes 0.
    public var yFromZero = true
    /// With `xRange` nil on a linear axis: the x axis includes 0 (steps, epochs).
    public var xFromZero = false
    public var xScale = Scale.linear
    /// Category names for the x axis (bar charts): tick i is labelled `categories[i]`.
    public var categories: [String]?
    /// Ticks on whole numbers only (epochs).
    public var integerX = false
    public var width = 560.0
    /// Height of the chart without its legend (the legend adds a row per three entries).
    public var height = 320.0

    public init(title: String, xLabel: String, yLabel: String) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    /// Colours of successive series without a fixed colour (colour-blind-safe palette).
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

    /// "Nice" tick values covering `lo…hi` (about `count` of them).
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5, minimumStep: Double = 0) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = max((hi - lo) / Double(count), minimumStep)
        let magnitude = pow(10, floor(log10(raw)))
        var step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        if minimumStep >= 1 { step = step.rounded(.up) }
        var values: [Double] = []
        var v = (lo / step).rounded(.up) * step
        while v <= hi + step * 1e-9 {
            values.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return values
    }

    /// Ticks of a log axis over `lo…hi` (both > 0): 1, 2 and 5 times the powers of ten inside
    /// the range, or every 1…9 multiple when that gives fewer than three.
    static func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
        guard lo > 0, hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        func candidates(_ multiples: [Double]) -> [Double] {
            var out: [Double] = []
            for decade in Int(floor(log10(lo)))...Int(ceil(log10(hi))) {
                for m in multiples {
                    let v = m * pow(10, Double(decade))
                    if v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9) { out.append(v) }
                }
            }
            return out
        }
        let coarse = candidates([1, 2, 5])
        return coarse.count >= 3 ? coarse : candidates([1, 2, 3, 4, 5, 6, 7, 8, 9])
    }

    /// A short decimal label (`0`, `0.05`, `12.5`, `1.0e-05`).
    public static func label(_ v: Double) -> String {
        if abs(v - v.rounded()) < 1e-9 * max(1, abs(v)) && abs(v) < 1e9 { return String(Int(v.rounded())) }
        let a = abs(v)
        if a >= 1e-4 && a < 1e5 {
            var s = String(format: "%.6f", v)
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
            // At most three significant decimals beyond the leading ones.
            if let dot = s.firstIndex(of: "."), let first = s[s.index(after: dot)...].firstIndex(where: { $0 != "0" }) {
                let keep = s.index(first, offsetBy: 3, limitedBy: s.endIndex) ?? s.endIndex
                if keep < s.endIndex { s = String(format: "%.\(s.distance(from: s.index(after: dot), to: keep))f", v) }
                while s.hasSuffix("0") { s.removeLast() }
                if s.hasSuffix(".") { s.removeLast() }
            }
            return s
        }
        return String(format: "%.1e", v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A legend entry: name, colour, how it is drawn (bar, band, line or point) and dash.
    struct LegendEntry: Equatable {
        enum Kind { case bar, band, line, point }
        var name: String
        var colour: String
        var kind: Kind
        var dash: String?
        var opacity: Double
        var marker: Marker?
    }

    /// The series' colours in drawing order (bars first, then lines), fixed or from the palette.
    func colours() -> (bars: [String], lines: [String]) {
        var next = 0
        func take(_ fixed: String?) -> String {
            if let fixed { return fixed }
            defer { next += 1 }
            return Self.palette[next % Self.palette.count]
        }
        let b = bars.map { take($0.colour) }
        let l = lines.map { take($0.colour) }
        return (b, l)
    }

    /// The distinct legend entries, in drawing order (bands, bars, lines).
    func legend() -> [LegendEntry] {
        let (barColours, lineColours) = colours()
        var entries: [LegendEntry] = []
        func add(_ e: LegendEntry) { if !entries.contains(e) { entries.append(e) } }
        for band in bands { add(LegendEntry(name: band.label, colour: band.colour, kind: .band, dash: nil, opacity: 1, marker: nil)) }
        for (b, colour) in zip(bars, barColours) { add(LegendEntry(name: b.name, colour: colour, kind: .bar, dash: nil, opacity: b.opacity, marker: nil)) }
        for (line, colour) in zip(lines, lineColours) where line.inLegend {
            add(LegendEntry(name: line.name, colour: colour, kind: line.connected ? .line : .point, dash: line.dash, opacity: line.opacity, marker: line.markers ? line.marker ?? Marker(.circle) : nil))
        }
        return entries
    }

    /// The chart as an `<svg>` element.
    public func render() -> String {
        let log = xScale == .log && categories == nil
        var xs: [Double] = [], ys: [Double] = []
        for line in lines {
            for (i, p) in line.points.enumerated() {
                let e: (x: Double, y: Double) = line.errors.flatMap { i < $0.count ? $0[i] : nil } ?? (0, 0)
                xs += [p.0 - e.x, p.0 + e.x]
                ys += [p.1 - e.y, p.1 + e.y]
            }
        }
        for b in bars {
            for (i, bin) in b.bins.enumerated() {
                let e = b.errors.flatMap { i < $0.count ? $0[i] : nil } ?? 0
                xs += [bin.x0, bin.x1]
                ys += [bin.y - e, bin.y + e]
            }
        }
        let finiteX = xs.filter { $0.isFinite && (!log || $0 > 0) }, finiteY = ys.filter { $0.isFinite }
        // x axis (in log10 units on a log axis).
        func tx(_ x: Double) -> Double { log ? log10(x) : x }
        var xLo: Double, xHi: Double
        if let categories {
            xLo = -0.5
            xHi = Double(categories.count - 1) + 0.5
        } else if let xRange {
            xLo = tx(xRange.lowerBound)
            xHi = tx(xRange.upperBound)
        } else {
            xLo = tx(finiteX.min() ?? (log ? 0.1 : 0))
            xHi = tx(finiteX.max() ?? (log ? 10 : 1))
            if xFromZero && !log { xLo = min(0, xLo) }
            if log {
                // A little room beyond the outermost points.
                let pad = max(0.1, (xHi - xLo) * 0.06)
                xLo -= pad
                xHi += pad
            }
        }
        if xHi <= xLo { xLo -= 0.5; xHi += 0.5 }
        var yLo = yRange?.lowerBound ?? (finiteY.min() ?? 0), yHi = yRange?.upperBound ?? (finiteY.max() ?? 1)
        if yRange == nil {
            if yFromZero { yLo = min(0, yLo); yHi = max(0, yHi) }
            let labelled = bars.contains(where: \.valueLabels) || lines.contains { $0.pointLabels != nil }
            let pad = (yHi - yLo) * (labelled ? 0.1 : 0.05)
            if !(yFromZero && yLo == 0) { yLo -= pad }
            yHi += pad
        }
        if yHi <= yLo { yLo -= 0.5; yHi += 0.5 }

        let legendEntries = legend()
        // Three legend entries a row, fewer when the names are long (about 6.2 px a character).
        let longest = Double(legendEntries.map(\.name.count).max() ?? 0)
        let legendColumns = max(1, min(3, Int((width - 78) / (longest * 6.2 + 30))))
        let legendRows = Double((legendEntries.count + legendColumns - 1) / legendColumns)
        let totalHeight = height + 16 * max(0, legendRows - 1)
        let left = 62.0, right = 16.0, top = 30.0, bottom = 62.0
        let plotW = width - left - right, plotH = height - top - bottom
        let xSpan = xHi - xLo, ySpan = yHi - yLo
        func px(_ x: Double) -> Double { left + (tx(x) - xLo) / xSpan * plotW }
        func pxCategory(_ x: Double) -> Double { left + (x - xLo) / xSpan * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - yLo) / ySpan) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func clampX(_ x: Double) -> Double { min(left + plotW, max(left, x)) }
        let X: (Double) -> Double = categories == nil ? px : pxCategory
        // An error bar from a to b (pixels) at c, cut at the plot's edges (no cap where cut).
        func errorBar(at c: Double, from a: Double, to b: Double, vertical: Bool, colour: String, extra: String = "") -> String {
            let (lo, hi) = vertical ? (top, top + plotH) : (left, left + plotW)
            let a2 = min(hi, max(lo, a)), b2 = min(hi, max(lo, b))
            var d = vertical ? "M\(f(c)) \(f(a2))V\(f(b2))" : "M\(f(a2)) \(f(c))H\(f(b2))"
            for (end, cut) in [(a2, a2 != a), (b2, b2 != b)] where !cut {
                d += vertical ? "M\(f(c - 3)) \(f(end))h6" : "M\(f(end)) \(f(c - 3))v6"
            }
            return "<path class=\"errorbar\" d=\"\(d)\" stroke=\"\(colour)\" fill=\"none\"\(extra)/>\n"
        }

        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(totalHeight))\" viewBox=\"0 0 \(Int(width)) \(Int(totalHeight))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(f(width / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">\(Self.escape(title))</text>\n"
        // Bands behind everything.
        for band in bands {
            let x0 = clampX(X(band.x0)), x1 = clampX(X(band.x1))
            guard x1 > x0 else { continue }
            s += "<rect class=\"band\" x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(x1 - x0))\" height=\"\(f(plotH))\" fill=\"\(band.colour)\" data-label=\"\(Self.escape(band.label))\"/>\n"
        }
        // Grid and ticks.
        for t in Self.ticks(yLo, yHi) {
            let y = py(t)
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y))\" stroke=\"#e4e4e4\"/>\n"
            s += "<text x=\"\(f(left - 5))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(Self.label(t))</text>\n"
        }
        if let categories {
            for (i, name) in categories.enumerated() {
                s += "<text x=\"\(f(pxCategory(Double(i))))\" y=\"\(f(top + plotH + 14))\" text-anchor=\"middle\">\(Self.escape(name))</text>\n"
            }
        } else {
            let ticks = log ? Self.logTicks(pow(10, xLo), pow(10, xHi)) : Self.ticks(xLo, xHi, count: 6, minimumStep: integerX ? 1 : 0)
            for t in ticks {
                let x = px(t)
                if log { s += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH))\" stroke=\"#eeeeee\"/>\n" }
                s += "<line x1=\"\(f(x))\" y1=\"\(f(top + plotH))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH + 4))\" stroke=\"#333\"/>\n"
                s += "<text class=\"xtick\" x=\"\(f(x))\" y=\"\(f(top + plotH + 15))\" text-anchor=\"middle\">\(Self.label(t))</text>\n"
            }
        }
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        let xTitle = log && !xLabel.isEmpty ? xLabel + " (log scale)" : xLabel
        s += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH + 31))\" text-anchor=\"middle\">\(Self.escape(xTitle))</text>\n"
        s += "<text transform=\"translate(14 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"

        // Series.
        let (barColours, lineColours) = colours()
        let y0 = py(max(yLo, 0))
        for (b, colour) in zip(bars, barColours) {
            for (i, bin) in b.bins.enumerated() where bin.y.isFinite {
                let x0 = X(bin.x0), x1 = X(bin.x1), y = py(bin.y)
                s += "<rect class=\"bar\" x=\"\(f(x0))\" y=\"\(f(min(y, y0)))\" width=\"\(f(max(0.5, x1 - x0)))\" height=\"\(f(abs(y0 - y)))\" fill=\"\(colour)\" fill-opacity=\"\(b.opacity)\" data-value=\"\(Self.label(bin.y))\"/>\n"
                var labelY = min(y, y0)
                if let e = b.errors.flatMap({ i < $0.count ? $0[i] : nil }), e > 0 {
                    let xm = (x0 + x1) / 2, ya = py(bin.y - e), yb = py(bin.y + e)
                    s += errorBar(at: xm, from: ya, to: yb, vertical: true, colour: "#222")
                    labelY = min(labelY, max(top + 10, yb))
                }
                if b.valueLabels {
                    s += "<text class=\"value\" x=\"\(f((x0 + x1) / 2))\" y=\"\(f(labelY - 3))\" text-anchor=\"middle\" font-size=\"10\">\(Self.escape(b.format(bin.y)))</text>\n"
                }
            }
        }
        for (line, colour) in zip(lines, lineColours) {
            let indexed = line.points.enumerated().filter { $0.element.0.isFinite && $0.element.1.isFinite && (!log || $0.element.0 > 0) }
            guard !indexed.isEmpty else { continue }
            let opacity = line.opacity < 1 ? " opacity=\"\(line.opacity)\"" : ""
            if line.connected && indexed.count > 1 {
                let path = indexed.map { "\(f(X($0.element.0))),\(f(py($0.element.1)))" }.joined(separator: " ")
                let dash = line.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
                s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.8\"\(dash)\(opacity)/>\n"
            }
            for (i, p) in indexed {
                let cx = X(p.0), cy = py(p.1)
                if let errors = line.errors, i < errors.count {
                    let e = errors[i]
                    if e.y > 0 {
                        let ya = py(p.1 - e.y), yb = py(p.1 + e.y)
                        s += errorBar(at: cx, from: ya, to: yb, vertical: true, colour: colour, extra: opacity)
                    }
                    if e.x > 0 {
                        let xa = X(p.0 - e.x), xb = X(p.0 + e.x)
                        s += errorBar(at: cy, from: xa, to: xb, vertical: false, colour: colour, extra: opacity)
                    }
                }
                if line.markers || indexed.count == 1 {
                    let m = line.marker ?? Marker(.circle)
                    let data = " class=\"marker\" data-series=\"\(Self.escape(line.name))\" data-marker=\"\(m.id)\" data-x=\"\(p.0)\" data-y=\"\(p.1)\"" + opacity
                    s += Self.markerSVG(m, x: cx, y: cy, colour: colour, attributes: data) + "\n"
                }
                if let labels = line.pointLabels, i < labels.count, !labels[i].isEmpty {
                    // Right of and above the point; left of it near the right edge, below it near the top.
                    let atRight = cx > left + plotW * 0.85
                    let lx = atRight ? cx - 5 : cx + 5, ly = cy < top + 14 ? cy + 13 : cy - 5
                    s += "<text class=\"pointlabel\" x=\"\(f(lx))\" y=\"\(f(ly))\" text-anchor=\"\(atRight ? "end" : "start")\" font-size=\"10\" fill=\"\(colour)\">\(Self.escape(labels[i]))</text>\n"
                }
            }
        }
        // Marks above the series.
        for mark in marks where mark.x.isFinite && (!log || mark.x > 0) {
            let x = X(mark.x)
            guard x >= left - 0.5, x <= left + plotW + 0.5 else { continue }
            let dash = mark.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
            s += "<line class=\"mark\" x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH))\" stroke=\"#000\" stroke-width=\"1.2\"\(dash)/>\n"
            let anchor = x > left + plotW * 0.75 ? "end" : "start"
            s += "<text x=\"\(f(anchor == "end" ? x - 3 : x + 3))\" y=\"\(f(top + 11))\" text-anchor=\"\(anchor)\" font-size=\"10\">\(Self.escape(mark.label))</text>\n"
        }
        // Legend below the axis label, three entries a row.
        for (i, entry) in legendEntries.enumerated() {
            let x = left + Double(i % legendColumns) * (plotW / Double(legendColumns)), y = top + plotH + 46 + Double(i / legendColumns) * 16
            switch entry.kind {
            case .bar, .band:
                let stroke = entry.kind == .band ? " stroke=\"#999\"" : ""
                s += "<rect x=\"\(f(x))\" y=\"\(f(y - 8))\" width=\"14\" height=\"9\" fill=\"\(entry.colour)\" fill-opacity=\"\(entry.opacity)\"\(stroke)/>\n"
            case .line:
                let dash = entry.dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
                s += "<line x1=\"\(f(x))\" y1=\"\(f(y - 4))\" x2=\"\(f(x + 14))\" y2=\"\(f(y - 4))\" stroke=\"\(entry.colour)\" stroke-width=\"2.5\"\(dash) opacity=\"\(entry.opacity)\"/>\n"
                if let m = entry.marker { s += Self.markerSVG(m, x: x + 7, y: y - 4, colour: entry.colour, attributes: " class=\"legend-marker\" data-marker=\"\(m.id)\"") + "\n" }
            case .point:
                let m = entry.marker ?? Marker(.circle)
                s += Self.markerSVG(m, x: x + 7, y: y - 4, colour: entry.colour, attributes: " class=\"legend-marker\" data-marker=\"\(m.id)\"") + "\n"
            }
            s += "<text x=\"\(f(x + 19))\" y=\"\(f(y))\">\(Self.escape(entry.name))</text>\n"
        }
        s += "</svg>"
        return s
    }

    /// A grouped bar chart: one group per category, one bar per series, each bar labelled with
    /// its value (`errors`: ± half-heights, e.g. the std over seeds).
    public static func groupedBars(
        title: String, yLabel: String, categories: [String],
        series: [(name: String, values: [Double?], colour: String?, errors: [Double?])], yRange: ClosedRange<Double>? = nil,
        format: @escaping @Sendable (Double) -> String = { SVGPlot.label($0) }
    ) -> SVGPlot {
        var plot = SVGPlot(title: title, xLabel: "", yLabel: yLabel)
        plot.categories = categories
        plot.yRange = yRange
        let n = Double(max(1, series.count))
        let groupWidth = 0.8
        for (j, s) in series.enumerated() {
            var bins: [(x0: Double, x1: Double, y: Double)] = []
            var errors: [Double] = []
            for (i, v) in s.values.enumerated() {
                guard let v else { continue }
                let x0 = Double(i) - groupWidth / 2 + Double(j) * groupWidth / n
                bins.append((x0, x0 + groupWidth / n * 0.92, v))
                errors.append((i < s.errors.count ? s.errors[i] : nil) ?? 0)
            }
            plot.bars.append(Bars(name: s.name, bins: bins, colour: s.colour, opacity: 0.8, valueLabels: true, format: format, errors: errors))
        }
        return plot
    }

    /// Histogram bins of `values` over `range`: the number of values in each bin (a value equal
    /// to the upper bound falls in the last bin).
    public static func histogram(_ values: [Double], range: ClosedRange<Double>, bins: Int) -> [(x0: Double, x1: Double, y: Double)] {
        let width = (range.upperBound - range.lowerBound) / Double(bins)
        var counts = [Double](repeating: 0, count: bins)
        for v in values where v.isFinite {
            let i = min(bins - 1, max(0, Int((v - range.lowerBound) / width)))
            counts[i] += 1
        }
        return counts.enumerated().map { (range.lowerBound + Double($0.offset) * width, range.lowerBound + Double($0.offset + 1) * width, $0.element) }
    }
}
