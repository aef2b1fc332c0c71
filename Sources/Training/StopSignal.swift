import Foundation
import Synchronization

/// Turns SIGINT and SIGTERM into a flag that the training loop polls between steps, so that a
/// run can write a checkpoint and exit cleanly instead of dying in the middle of a write.
///
/// A second signal while the first is being handled ends the process at once.
public final class StopSignal: @unchecked Sendable {
    // `sources` is written only in init and read only in deinit; the flag is atomic.
    private let state = SignalState()
    private var sources: [any DispatchSourceSignal] = []

    /// Installs handlers for `signals` for the lifetime of the object.
    public init(signals: [Int32] = [SIGINT, SIGTERM]) {
        let state = self.state
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                if state.record(sig) > 1 {
                    FileHandle.standardError.write(Data("\nsecond signal: exiting without a checkpoint\n".utf8))
                    exit(128 + sig)
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        for source in sources { source.cancel() }
    }

    /// The signal received, or nil while none has been.
    public var received: Int32? { state.received }

    /// Acts as if `sig` had been received (tests use it to stop a run at a chosen step).
    public func request(_ sig: Int32 = SIGINT) { _ = state.record(sig) }

    /// Asks the run to stop with a checkpoint at the next step because its caller planned it
    /// there (`detect`'s warm-up ends before SafeCLIP's first selection): no signal, so the
    /// trainer prints no "stopped by signal … resume with --resume" line.
    public func finish() { planned.store(true, ordering: .sequentiallyConsistent) }

    /// Whether ``finish()`` was called.
    public var finishRequested: Bool { planned.load(ordering: .sequentiallyConsistent) }

    private let planned = Atomic<Bool>(false)
}

private final class SignalState: Sendable {
    private let count = Atomic<Int32>(0)
    private let last = Atomic<Int32>(0)

    func record(_ sig: Int32) -> Int32 {
        last.store(sig, ordering: .sequentiallyConsistent)
        return count.add(1, ordering: .sequentiallyConsistent).newValue
    }

    var received: Int32? {
        count.load(ordering: .sequentiallyConsistent) > 0 ? last.load(ordering: .sequentiallyConsistent) : nil
    }
}
