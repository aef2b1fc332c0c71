// clipguard-bench: ClipGuard's side of `make bench`.
//
// Reads one JSON measurement spec per line on stdin (see bench/run_bench.py) and answers each
// with one JSON line: the seconds of every timed iteration plus items per iteration. A spec's
// set-up (model, optimizer, data) is kept while consecutive specs share it, so the driver can
// interleave ClipGuard and PyTorch repetitions without rebuilding models; `{"name": "release"}`
// drops it. `{"name": "prepare_fmnist", "folder": …, "limit": …}` writes the captioned
// Fashion-MNIST the epoch measurements train on.
//
// Usage: clipguard-bench --threads 2 < specs.jsonl
import Datasets
import Foundation
import Torch

/// Writes one JSON object as a line on stdout.
func emit(_ object: [String: Any]) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

var threads = 2
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--threads":
        guard let value = arguments.popFirst().flatMap(Int.init), value > 0 else {
            FileHandle.standardError.write(Data("--threads needs a positive integer\n".utf8))
            exit(2)
        }
        threads = value
    default:
        FileHandle.standardError.write(Data("usage: clipguard-bench [--threads N] < specs.jsonl\n".utf8))
        exit(2)
    }
}
Runtime.threads = threads
// As `clipguard` runs (see Runtime.retainFreedMemory); CLIPGUARD_MALLOC=system measures without.
let retainsFreedMemory = ProcessInfo.processInfo.environment["CLIPGUARD_MALLOC"] != "system" && Runtime.retainFreedMemory()

var current: (key: String, prepared: Prepared, warmedUp: Bool)?
while let line = readLine() {
    guard !line.isEmpty else { continue }
    do {
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw BenchError.badSpec("not a JSON object: \(line)")
        }
        let spec = Spec(fields: object)
        switch spec.name {
        case "release":
            current = nil
            emit(["ok": true])
            continue
        case "info":
            emit([
                "torch": Runtime.torchVersion, "threads": Runtime.threads, "interop_threads": Runtime.interopThreads,
                "retains_freed_memory": retainsFreedMemory,
            ])
            continue
        case "prepare_fmnist":
            let summary = try BuiltinSets.prepareFashionMNIST(
                folder: spec.string("folder"), limit: spec.int("limit", 4096), evaluationLimit: spec.int("eval_limit", 100))
            emit(["ok": true, "train_csv": summary.trainCSV, "rows": summary.trainRows])
            continue
        default: break
        }
        // A measurement may ask for its own thread count (1 for per-core figures).
        Runtime.threads = spec.int("threads", threads)
        defer { Runtime.threads = threads }
        let key = spec.setupKey
        if current?.key != key {
            current = nil
            let start = ContinuousClock.now
            current = (key, try prepare(spec), false)
            FileHandle.standardError.write(Data("[swift] set up \(spec.name) in \(start.duration(to: .now))\n".utf8))
        }
        guard var state = current else { continue }
        if !state.warmedUp {
            for _ in 0..<spec.int("warmup", 1) { try state.prepared.iteration() }
            state.warmedUp = true
            current = state
        }
        var times: [Double] = []
        for _ in 0..<spec.int("iters", 3) {
            let start = ContinuousClock.now
            try state.prepared.iteration()
            let elapsed = start.duration(to: .now)
            times.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
        var answer: [String: Any] = ["times": times, "items": state.prepared.items]
        for (k, v) in state.prepared.extra { answer[k] = v }
        emit(answer)
    } catch {
        emit(["error": "\(error)"])
    }
}
