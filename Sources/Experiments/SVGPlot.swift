import Foundation

/// A small SVG chart: line series and bars on linear axes with ticks, labels and a legend.
///
/// Enough for the report's curves (loss per step, accuracy and ASR per epoch, ASR per poison
/// rate), bar charts of final figures and histograms with a density drawn over them.
public struct SVGPlot {
    /// A polyline through `points` (x, y), with optional point markers.
    public struct Line {
        public var name: String
        public var points: [(Double, Double)]
        public var markers: Bool
        public var dashed: Bool
        public init(name: String, points: [(Double, Double)], markers: Bool = false, dashed: Bool = false) {
            self.name = name
            self.points = points
            self.markers = markers
            self.dashed = dashed
        }
    }

    /// Bars from `x0` to `x1` of height `y` (a histogram's bins).
    public struct Bars {
        public var name: String
        public var bins: [(x0: Double, x1: Double, y: Double)]
        public init(name: String, bins: [(x0: Double, x1: Double, y: Double)]) {
            self.name = name
            self.bins = bins
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var lines: [Line] = []
    public var bars: [Bars] = []
    /// Fixed y range (e.g. 0…100 for percentages); from the data when nil.
    public var yRange: ClosedRange<Double>?
    /// Category names for the x axis (bar charts): tick i is labelled `categories[i]`.
    public var categories: [String]?
    /// Ticks on whole numbers only (epochs).
    public var integerX = false
    public var width = 560.0
    public var height = 320.0

    public init(title: String, xLabel: String, yLabel: String) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    /// Colours of successive series (colour-blind-safe palette).
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

    static func label(_ v: Double) -> String {
        if abs(v - v.rounded()) < 1e-9 * max(1, abs(v)) && abs(v) < 1e9 { return String(Int(v.rounded())) }
        let a = abs(v)
        if a >= 0.01 && a < 1e5 {
            var s = String(format: "%.3f", v)
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
            return s
        }
        return String(format: "%.1e", v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The chart as an `<svg>` element.
    public func render() -> String {
        var xs: [Double] = [], ys: [Double] = bars.isEmpty ? [] : [0]
        for line in lines {
            for p in line.points { xs.append(p.0); ys.append(p.1) }
        }
        for b in bars {
            for bin in b.bins { xs.append(bin.x0); xs.append(bin.x1); ys.append(bin.y) }
        }
        let finiteX = xs.filter { $0.isFinite }, finiteY = ys.filter { $0.isFinite }
        var xLo = finiteX.min() ?? 0, xHi = finiteX.max() ?? 1
        if categories != nil { xLo = -0.5; xHi = Double((categories?.count ?? 1) - 1) + 0.5 }
        if xHi <= xLo { xLo -= 0.5; xHi += 0.5 }
        var yLo = yRange?.lowerBound ?? (finiteY.min() ?? 0), yHi = yRange?.upperBound ?? (finiteY.max() ?? 1)
        if yRange == nil {
            let pad = (yHi - yLo) * 0.05
            yLo -= pad
            yHi += pad
        }
        if yHi <= yLo { yLo -= 0.5; yHi += 0.5 }

        let left = 62.0, right = 16.0, top = 30.0
        let legendRows = Double((lines.count + bars.count + 2) / 3)
        let bottom = 46.0 + 16 * legendRows
        let plotW = width - left - right, plotH = height - top - bottom
        let xSpan: Double = xHi - xLo, ySpan: Double = yHi - yLo
        func px(_ x: Double) -> Double {
            let t: Double = (x - xLo) / xSpan
            return left + t * plotW
        }
        func py(_ y: Double) -> Double {
            let t: Double = (y - yLo) / ySpan
            return top + (1 - t) * plotH
        }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(f(width / 2))\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">\(Self.escape(title))</text>\n"
        // Grid and ticks.
        for t in Self.ticks(yLo, yHi) {
            let y = py(t)
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y))\" stroke=\"#e4e4e4\"/>\n"
            s += "<text x=\"\(f(left - 5))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(Self.label(t))</text>\n"
        }
        if let categories {
            for (i, name) in categories.enumerated() {
                s += "<text x=\"\(f(px(Double(i))))\" y=\"\(f(top + plotH + 14))\" text-anchor=\"middle\">\(Self.escape(name))</text>\n"
            }
        } else {
            for t in Self.ticks(xLo, xHi, count: 6, minimumStep: integerX ? 1 : 0) {
                let x = px(t)
                s += "<line x1=\"\(f(x))\" y1=\"\(f(top + plotH))\" x2=\"\(f(x))\" y2=\"\(f(top + plotH + 4))\" stroke=\"#333\"/>\n"
                s += "<text x=\"\(f(x))\" y=\"\(f(top + plotH + 15))\" text-anchor=\"middle\">\(Self.label(t))</text>\n"
            }
        }
        s += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
        s += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH + 31))\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>\n"
        s += "<text transform=\"translate(14 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(yLabel))</text>\n"

        // Series.
        var legend: [(String, String, Bool)] = []
        var colourIndex = 0
        for b in bars {
            let colour = Self.palette[colourIndex % Self.palette.count]
            colourIndex += 1
            legend.append((b.name, colour, true))
            for bin in b.bins where bin.y.isFinite {
                let x0 = px(bin.x0), x1 = px(bin.x1), y = py(bin.y), y0 = py(max(yLo, 0))
                s += "<rect x=\"\(f(x0))\" y=\"\(f(min(y, y0)))\" width=\"\(f(max(0.5, x1 - x0)))\" height=\"\(f(abs(y0 - y)))\" fill=\"\(colour)\" fill-opacity=\"0.55\"/>\n"
            }
        }
        for line in lines {
            let colour = Self.palette[colourIndex % Self.palette.count]
            colourIndex += 1
            legend.append((line.name, colour, false))
            let pts = line.points.filter { $0.0.isFinite && $0.1.isFinite }
            guard !pts.isEmpty else { continue }
            let path = pts.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
            let dash = line.dashed ? " stroke-dasharray=\"5 3\"" : ""
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.8\"\(dash)/>\n"
            if line.markers || pts.count == 1 {
                for p in pts { s += "<circle cx=\"\(f(px(p.0)))\" cy=\"\(f(py(p.1)))\" r=\"3\" fill=\"\(colour)\"/>\n" }
            }
        }
        // Legend below the axis label, three entries a row.
        for (i, entry) in legend.enumerated() {
            let x = left + Double(i % 3) * (plotW / 3), y = top + plotH + 46 + Double(i / 3) * 16
            if entry.2 {
                s += "<rect x=\"\(f(x))\" y=\"\(f(y - 8))\" width=\"14\" height=\"9\" fill=\"\(entry.1)\" fill-opacity=\"0.55\"/>\n"
            } else {
                s += "<line x1=\"\(f(x))\" y1=\"\(f(y - 4))\" x2=\"\(f(x + 14))\" y2=\"\(f(y - 4))\" stroke=\"\(entry.1)\" stroke-width=\"2.5\"/>\n"
            }
            s += "<text x=\"\(f(x + 19))\" y=\"\(f(y))\">\(Self.escape(entry.0))</text>\n"
        }
        s += "</svg>"
        return s
    }

    /// A grouped bar chart: one group per category, one bar per series.
    public static func groupedBars(
        title: String, yLabel: String, categories: [String], series: [(name: String, values: [Double?])], yRange: ClosedRange<Double>? = nil
    ) -> SVGPlot {
        var plot = SVGPlot(title: title, xLabel: "", yLabel: yLabel)
        plot.categories = categories
        plot.yRange = yRange
        let n = Double(max(1, series.count))
        let groupWidth = 0.8
        for (j, s) in series.enumerated() {
            var bins: [(x0: Double, x1: Double, y: Double)] = []
            for (i, v) in s.values.enumerated() {
                guard let v else { continue }
                let x0 = Double(i) - groupWidth / 2 + Double(j) * groupWidth / n
                bins.append((x0, x0 + groupWidth / n * 0.92, v))
            }
            plot.bars.append(Bars(name: s.name, bins: bins))
        }
        return plot
    }

    /// Histogram bins of `values` over `range` (counts, or densities when `density`).
    public static func histogram(_ values: [Double], range: ClosedRange<Double>, bins: Int, density: Bool = false) -> [(x0: Double, x1: Double, y: Double)] {
        let width = (range.upperBound - range.lowerBound) / Double(bins)
        var counts = [Double](repeating: 0, count: bins)
        for v in values where v.isFinite {
            let i = min(bins - 1, max(0, Int((v - range.lowerBound) / width)))
            counts[i] += 1
        }
        let scale = density && !values.isEmpty ? 1 / (Double(values.count) * width) : 1
        return counts.enumerated().map { (range.lowerBound + Double($0.offset) * width, range.lowerBound + Double($0.offset + 1) * width, $0.element * scale) }
    }
}
