import ArgumentParser
import Torch

/// `--threads N`: libtorch's intra-op thread pool, for every command that computes
/// (README, "Threads"); unset, libtorch uses all cores.
struct ThreadsOption: ParsableArguments {
    @Option(help: "libtorch threads (default: all cores).") var threads: Int?

    func validate() throws {
        if let threads { try checkRange(threads, 1...1_024, option: "--threads") }
    }

    /// Sets the pool when `--threads` was given.
    func apply() {
        if let threads { Runtime.threads = threads }
    }
}
