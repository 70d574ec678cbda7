import Foundation
import Spill

/// The chart of a `batchrun bench` report: wall time and peak RSS against records, two
/// panels on log-log scales, as a self-contained SVG file a browser opens. With one
/// setting there is a line per stage and the total; with a sweep of settings, a line per
/// setting for the total time and for the highest stage RSS. Each point carries a
/// tooltip with its exact value.
public enum ScaleChart {
    struct Series {
        var name: String
        var color: String
        var dashed: Bool
        var points: [(x: Double, y: Double, tip: String)]
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    public static func svg(_ report: ScaleReport) -> String {
        let settings = uniqueSettings(report)
        var timeSeries: [Series] = []
        var memorySeries: [Series] = []
        if settings.count == 1 {
            let results = report.results.sorted { $0.records < $1.records }
            for (i, stage) in (ScaleBench.stages + [ScaleBench.total]).enumerated() {
                let color = palette[i % palette.count]
                let dashed = stage == ScaleBench.total
                timeSeries.append(Series(name: stage, color: color, dashed: dashed, points: results.compactMap { r in
                    r.stage(stage).map { (Double(r.records), $0.medianSeconds, "\(ScaleBench.formatCount(r.records)) records, \(stage): \(String(format: "%.3f", $0.medianSeconds)) s median") }
                }))
                if stage != ScaleBench.total {
                    memorySeries.append(Series(name: stage, color: color, dashed: false, points: results.compactMap { r in
                        r.stage(stage).map { (Double(r.records), Double($0.peakRSSBytes) / 1_048_576, "\(ScaleBench.formatCount(r.records)) records, \(stage): peak RSS \(ByteSize.format($0.peakRSSBytes))") }
                    }))
                }
            }
        } else {
            for (i, s) in settings.enumerated() {
                let color = palette[i % palette.count]
                let results = report.results.filter { $0.batchRows == s.batchRows && $0.memoryLimitBytes == s.memoryLimitBytes }.sorted { $0.records < $1.records }
                let name = "batch \(s.batchRows), \(s.memoryLimit)"
                timeSeries.append(Series(name: name, color: color, dashed: false, points: results.compactMap { r in
                    r.stage(ScaleBench.total).map { (Double(r.records), $0.medianSeconds, "\(ScaleBench.formatCount(r.records)) records, \(name): \(String(format: "%.3f", $0.medianSeconds)) s") }
                }))
                memorySeries.append(Series(name: name, color: color, dashed: false, points: results.compactMap { r in
                    r.stage(ScaleBench.total).map { (Double(r.records), Double($0.peakRSSBytes) / 1_048_576, "\(ScaleBench.formatCount(r.records)) records, \(name): peak RSS \(ByteSize.format($0.peakRSSBytes))") }
                }))
            }
        }

        let panelWidth = 440.0, panelHeight = 300.0, left = 70.0, top = 84.0, gap = 110.0
        let width = left + panelWidth * 2 + gap + 30
        // The legend flows in rows under the panels; entries are about 7 px per character.
        var legend: [(x: Double, row: Int)] = []
        var lx = left, row = 0
        for s in timeSeries {
            let w = 44 + Double(s.name.count) * 7
            if lx + w > width - 20 && lx > left { lx = left; row += 1 }
            legend.append((lx, row))
            lx += w + 16
        }
        let height = top + panelHeight + 60 + Double(row + 1) * 20 + 10
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="24" font-size="16" font-weight="bold">batchrun bench: time and peak memory against records (log scales)</text>
        <text x="\(left)" y="44" fill="#555">\(escape(subtitle(report, settings: settings)))</text>

        """
        out += panel(title: settings.count == 1 ? "median wall time per stage (s)" : "median wall time of the pipeline (s)",
                     series: timeSeries, x: left, y: top, width: panelWidth, height: panelHeight, yFormat: { formatAxis($0) })
        out += panel(title: settings.count == 1 ? "peak RSS per stage (MiB)" : "peak RSS, highest stage (MiB)",
                     series: memorySeries, x: left + panelWidth + gap, y: top, width: panelWidth, height: panelHeight, yFormat: { formatAxis($0) })
        // The legend: one entry per time series (the memory panel uses the same colors).
        for (s, place) in zip(timeSeries, legend) {
            let ly = top + panelHeight + 60 + Double(place.row) * 20
            out += "<line x1=\"\(fmt(place.x))\" y1=\"\(fmt(ly - 4))\" x2=\"\(fmt(place.x + 24))\" y2=\"\(fmt(ly - 4))\" stroke=\"\(s.color)\" stroke-width=\"2.5\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>"
            out += "<text x=\"\(fmt(place.x + 32))\" y=\"\(fmt(ly))\">\(escape(s.name))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    struct Setting {
        var batchRows: Int
        var memoryLimit: String
        var memoryLimitBytes: Int
    }

    static func uniqueSettings(_ report: ScaleReport) -> [Setting] {
        var out: [Setting] = []
        for r in report.results where !out.contains(where: { $0.batchRows == r.batchRows && $0.memoryLimitBytes == r.memoryLimitBytes }) {
            out.append(Setting(batchRows: r.batchRows, memoryLimit: r.memoryLimit, memoryLimitBytes: r.memoryLimitBytes))
        }
        return out
    }

    static func subtitle(_ report: ScaleReport, settings: [Setting]) -> String {
        var parts = ["\(report.machine.cores) cores, \(ByteSize.format(report.machine.memoryBytes))",
                     "\(report.settings.threads) thread(s)", report.settings.compression,
                     "median of \(report.settings.repeats)"]
        if settings.count == 1, let s = settings.first { parts.append("batch \(s.batchRows), --memory-limit \(s.memoryLimit)") }
        parts.append(report.createdAt)
        return parts.joined(separator: " · ")
    }

    /// One log-log panel with its frame, grid, ticks, lines and points.
    static func panel(title: String, series: [Series], x: Double, y: Double, width: Double, height: Double,
                      yFormat: (Double) -> String) -> String {
        let xs = series.flatMap { $0.points.map(\.x) }.filter { $0 > 0 }
        let ys = series.flatMap { $0.points.map(\.y) }.filter { $0 > 0 }
        var out = "<text x=\"\(fmt(x))\" y=\"\(fmt(y - 10))\" font-weight=\"bold\">\(escape(title))</text>\n"
        out += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(width))\" height=\"\(fmt(height))\" fill=\"none\" stroke=\"#999\"/>\n"
        guard let xMin = xs.min(), let xMax = xs.max(), let yMin = ys.min(), let yMax = ys.max() else {
            return out + "<text x=\"\(fmt(x + 10))\" y=\"\(fmt(y + 20))\">no measurements</text>\n"
        }
        let (x0, x1) = logRange(xMin, xMax)
        let (y0, y1) = logRange(yMin, yMax)
        func px(_ v: Double) -> Double { x + (log10(v) - log10(x0)) / (log10(x1) - log10(x0)) * width }
        func py(_ v: Double) -> Double { y + height - (log10(v) - log10(y0)) / (log10(y1) - log10(y0)) * height }
        for t in ticks(x0, x1) {
            out += "<line x1=\"\(fmt(px(t)))\" y1=\"\(fmt(y))\" x2=\"\(fmt(px(t)))\" y2=\"\(fmt(y + height))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(fmt(px(t)))\" y=\"\(fmt(y + height + 16))\" text-anchor=\"middle\">\(ScaleBench.formatCount(Int(t.rounded())))</text>\n"
        }
        for t in ticks(y0, y1) {
            out += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(py(t)))\" x2=\"\(fmt(x + width))\" y2=\"\(fmt(py(t)))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(fmt(x - 6))\" y=\"\(fmt(py(t) + 4))\" text-anchor=\"end\">\(escape(yFormat(t)))</text>\n"
        }
        out += "<text x=\"\(fmt(x + width / 2))\" y=\"\(fmt(y + height + 36))\" text-anchor=\"middle\" fill=\"#555\">records</text>\n"
        for s in series where !s.points.isEmpty {
            let path = s.points.filter { $0.x > 0 && $0.y > 0 }.map { "\(fmt(px($0.x))),\(fmt(py($0.y)))" }.joined(separator: " ")
            out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2.5\"\(s.dashed ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            for p in s.points where p.x > 0 && p.y > 0 {
                out += "<circle cx=\"\(fmt(px(p.x)))\" cy=\"\(fmt(py(p.y)))\" r=\"4\" fill=\"\(s.color)\"><title>\(escape(p.tip))</title></circle>\n"
            }
        }
        return out
    }

    /// A range around [lo, hi] on a log scale with some room at both ends; a single
    /// value gets a decade around it.
    static func logRange(_ lo: Double, _ hi: Double) -> (Double, Double) {
        if hi / lo < 1.01 { return (lo / 3.16, hi * 3.16) }
        let pad = pow(hi / lo, 0.06)
        return (lo / pad, hi * pad)
    }

    /// Tick values m × 10^k inside [lo, hi]: powers of ten when that gives three ticks or
    /// more, else 1, 2, 5, else every whole mantissa, else every half; in a range too
    /// narrow for those, evenly spaced round values.
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let mantissas: [[Double]] = [[1], [1, 2, 5], Array(stride(from: 1.0, through: 9, by: 1)), Array(stride(from: 1.0, through: 9.5, by: 0.5))]
        var chosen: [Double] = []
        for set in mantissas {
            chosen = []
            var decade = pow(10, floor(log10(lo)))
            while decade <= hi {
                for m in set where decade * m >= lo && decade * m <= hi { chosen.append(decade * m) }
                decade *= 10
            }
            if chosen.count >= 3 { return chosen }
        }
        // A narrow range: evenly spaced ticks at a round step.
        let raw = (hi - lo) / 4
        let magnitude = pow(10, floor(log10(raw)))
        let step = ([1.0, 2, 2.5, 5, 10].first { $0 * magnitude >= raw } ?? 10) * magnitude
        return Array(stride(from: (lo / step).rounded(.up) * step, through: hi, by: step))
    }

    static func formatAxis(_ v: Double) -> String {
        if v >= 1000 { return ScaleBench.formatCount(Int(v.rounded())) }
        if v >= 1 { return String(format: "%g", (v * 100).rounded() / 100) }
        return String(format: "%g", v)
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
