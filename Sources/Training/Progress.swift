import Foundation

/// Reports training progress: a single redrawn line on a terminal, plain log lines otherwise.
public final class ProgressReporter {
    private let isTerminal: Bool
    private let logEvery: Int
    private var lastDraw = Date.distantPast
    private let start = Date()
    private let quiet: Bool

    /// - Parameters:
    ///   - logEvery: in plain mode, print every this many steps (and at each epoch's end).
    ///   - quiet: print nothing but epoch summaries.
    public init(logEvery: Int = 50, quiet: Bool = false, forceTerminal: Bool? = nil) {
        isTerminal = forceTerminal ?? stderrIsTerminal()
        self.logEvery = max(1, logEvery)
        self.quiet = quiet
    }

    /// One step's figures.
    public struct Step {
        public var epoch: Int
        public var epochs: Int
        public var stepInEpoch: Int
        public var stepsPerEpoch: Int
        public var globalStep: Int
        public var totalSteps: Int
        /// The latest loss read back from the device (nil before the first logging step).
        public var loss: Double?
        public var pairsPerSecond: Double
        public var learningRate: Double
        /// The part of the run (a defence's phase or segment), shown before the figures.
        public var phase: String?

        public init(
            epoch: Int, epochs: Int, stepInEpoch: Int, stepsPerEpoch: Int, globalStep: Int, totalSteps: Int,
            loss: Double?, pairsPerSecond: Double, learningRate: Double, phase: String? = nil
        ) {
            self.phase = phase
            self.epoch = epoch
            self.epochs = epochs
            self.stepInEpoch = stepInEpoch
            self.stepsPerEpoch = stepsPerEpoch
            self.globalStep = globalStep
            self.totalSteps = totalSteps
            self.loss = loss
            self.pairsPerSecond = pairsPerSecond
            self.learningRate = learningRate
        }
    }

    /// Shows the state after a step. In plain mode a line is printed when `logged` is true (the
    /// trainer's logging steps, whose figures are fresh) or, when `logged` is nil, every
    /// `logEvery` steps and at each epoch's end.
    public func update(_ s: Step, stepsThisSession: Int, secondsThisSession: Double, logged: Bool? = nil) {
        guard !quiet else { return }
        let remaining = s.totalSteps - s.globalStep
        let perStep = stepsThisSession > 0 ? secondsThisSession / Double(stepsThisSession) : 0
        let eta = formatDuration(perStep * Double(remaining))
        var head = "epoch \(s.epoch + 1)/\(s.epochs) step \(s.stepInEpoch)/\(s.stepsPerEpoch)"
        if let phase = s.phase, phase != "clip" { head += " [\(phase)]" }
        let loss = s.loss.map { String(format: "%.4f", $0) } ?? "–"
        let rate = s.loss == nil ? "–" : String(format: "%.0f", s.pairsPerSecond)
        let figures = String(format: "loss %@  %@ pairs/s  lr %.2e  ETA %@", loss, rate, s.learningRate, eta)
        if isTerminal {
            guard Date().timeIntervalSince(lastDraw) > 0.2 || s.stepInEpoch == s.stepsPerEpoch else { return }
            lastDraw = Date()
            let width = 24
            let done = s.totalSteps > 0 ? Int(Double(width) * Double(s.globalStep) / Double(s.totalSteps)) : 0
            let bar = String(repeating: "█", count: done) + String(repeating: "·", count: max(0, width - done))
            FileHandle.standardError.write(Data("\r\u{1B}[2K[\(bar)] \(head)  \(figures)".utf8))
        } else if logged ?? (s.globalStep % logEvery == 0 || s.stepInEpoch == s.stepsPerEpoch) {
            log("\(head)  \(figures)")
        }
    }

    /// Ends the progress line (on a terminal), so that what is printed next starts on its own line.
    public func finish() {
        if isTerminal && !quiet { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
    }

    /// Prints a line (ending any progress line first).
    public func log(_ line: String) {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
        let stamp = formatDuration(Date().timeIntervalSince(start))
        FileHandle.standardError.write(Data("[\(stamp)] \(line)\n".utf8))
    }
}

/// Whether standard error is a terminal; `CLIPGUARD_TERMINAL=1`/`0` says so for a process whose
/// standard error is a pipe to the console copier (`RUN_DIR/out.log`).
public func stderrIsTerminal() -> Bool {
    switch ProcessInfo.processInfo.environment["CLIPGUARD_TERMINAL"] {
    case "1": true
    case "0": false
    default: isatty(STDERR_FILENO) != 0
    }
}

/// `h:mm:ss` or `m:ss`.
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "--:--" }
    let total = Int(seconds.rounded())
    let h = total / 3600, m = (total % 3600) / 60, s = total % 60
    return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
}
