import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where this process sits in a data-parallel job, as a launcher describes it in environment
/// variables.
public struct LaunchEnvironment: Sendable, Hashable {
    /// Global index of this process, `0..<worldSize`.
    public var rank: Int
    /// Number of processes in the job.
    public var worldSize: Int
    /// Index of this process among those on its machine (selects `cuda(localRank)`).
    public var localRank: Int
    /// Host of rank 0, which serves the rendezvous store.
    public var masterAddress: String
    public var masterPort: Int

    public static let defaultMasterPort = 29500

    public init(rank: Int, worldSize: Int, localRank: Int, masterAddress: String, masterPort: Int) {
        self.rank = rank
        self.worldSize = worldSize
        self.localRank = localRank
        self.masterAddress = masterAddress
        self.masterPort = masterPort
    }

    /// Reads torchrun's (and ``LocalLauncher``'s) `RANK`, `WORLD_SIZE`, `LOCAL_RANK`,
    /// `MASTER_ADDR`, `MASTER_PORT`, or else SLURM's `SLURM_PROCID`, `SLURM_NTASKS`,
    /// `SLURM_LOCALID` with `MASTER_ADDR` or the first host of `SLURM_JOB_NODELIST`
    /// (`SLURM_NODELIST`).
    ///
    /// - Returns: nil when neither `RANK`/`WORLD_SIZE` nor `SLURM_PROCID`/`SLURM_NTASKS` is set
    ///   (a plain single-process run).
    /// - Throws: ``TorchError/invalidArgument(_:)`` naming the variable when one is malformed.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(TorchError) -> LaunchEnvironment? {
        func integer(_ key: String) throws(TorchError) -> Int? {
            guard let text = environment[key] else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 0 else {
                throw TorchError.invalidArgument("environment variable \(key)='\(text)' is not a non-negative integer")
            }
            return value
        }
        let port = try integer("MASTER_PORT") ?? defaultMasterPort
        guard (1...65535).contains(port) else {
            throw TorchError.invalidArgument("environment variable MASTER_PORT=\(port) is not in 1...65535")
        }
        let result: LaunchEnvironment
        if let rank = try integer("RANK"), let world = try integer("WORLD_SIZE") {
            result = LaunchEnvironment(
                rank: rank, worldSize: world, localRank: try integer("LOCAL_RANK") ?? rank,
                masterAddress: environment["MASTER_ADDR"] ?? "127.0.0.1", masterPort: port)
        } else if let rank = try integer("SLURM_PROCID"), let world = try integer("SLURM_NTASKS") {
            var master = environment["MASTER_ADDR"]
            if master == nil, let list = environment["SLURM_JOB_NODELIST"] ?? environment["SLURM_NODELIST"] {
                guard let first = firstHost(inSlurmNodeList: list) else {
                    throw TorchError.invalidArgument("environment variable SLURM_JOB_NODELIST='\(list)' names no host")
                }
                master = first
            }
            guard let master else {
                throw TorchError.invalidArgument("SLURM job without MASTER_ADDR or SLURM_JOB_NODELIST: cannot find rank 0's host")
            }
            result = LaunchEnvironment(
                rank: rank, worldSize: world, localRank: try integer("SLURM_LOCALID") ?? 0,
                masterAddress: master, masterPort: port)
        } else {
            return nil
        }
        guard result.worldSize >= 1, result.rank < result.worldSize else {
            throw TorchError.invalidArgument("rank \(result.rank) is outside a world of size \(result.worldSize)")
        }
        return result
    }

    /// The first host of a SLURM node list: `node[03-05,9],gpu1` → `node03`, `a,b` → `a`.
    public static func firstHost(inSlurmNodeList list: String) -> String? {
        var host = ""
        var index = list.startIndex
        while index < list.endIndex {
            let c = list[index]
            if c == "," { break }
            if c == "[" {
                guard let close = list[index...].firstIndex(of: "]") else { return nil }
                let inside = list[list.index(after: index)..<close]
                let firstRange = inside.split(separator: ",").first ?? ""
                let start = firstRange.split(separator: "-").first ?? ""
                guard !start.isEmpty else { return nil }
                host += start
                index = list.index(after: close)
                continue
            }
            host.append(c)
            index = list.index(after: index)
        }
        let trimmed = host.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }
}

/// Starts `processCount` copies of an executable on this machine as one data-parallel job,
/// like `torchrun --standalone --nproc-per-node N`.
///
/// Each worker gets `RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `LOCAL_WORLD_SIZE`,
/// `MASTER_ADDR=127.0.0.1` and `MASTER_PORT` (a free port unless given), plus
/// `OMP_NUM_THREADS=1` unless set (as torchrun does). Output lines of every worker (stdout and
/// stderr) are passed to `output` with the rank. When a worker exits with a nonzero status or
/// dies by a signal, the others get SIGTERM, then SIGKILL after ``gracePeriod``, and
/// ``run(output:interruption:)`` throws naming the first failed rank. Signals go to each
/// worker's process group (Foundation makes every worker a group leader), so a worker's own
/// children stop with it. Workers start with no signal blocked; note that they inherit ignored
/// signals (SIG_IGN, e.g. from Training's `StopSignal` in the launcher), so a worker that
/// wants to react to SIGTERM installs its own handler.
///
/// ```swift
/// let launcher = LocalLauncher(executable: URL(fileURLWithPath: CommandLine.arguments[0]),
///                              arguments: ["train", "--config", path], processCount: 2)
/// let stop = StopSignal()
/// try launcher.run(interruption: { stop.received })   // "[rank 0] step 1 …", "[rank 1] …"
/// ```
public struct LocalLauncher: Sendable {
    public var executable: URL
    public var arguments: [String]
    public var processCount: Int
    /// The rendezvous port; nil picks a free one with ``freePort()``.
    public var masterPort: Int?
    /// Extra environment variables for every worker (over this process's own).
    public var environment: [String: String]
    /// How long stopped workers get between SIGTERM and SIGKILL.
    public var gracePeriod: Duration
    /// The longest the whole job may run; nil for no limit.
    public var timeout: Duration?
    /// How long workers may take to exit after an interruption was forwarded to them.
    public var interruptionGrace: Duration = .seconds(120)

    public init(
        executable: URL, arguments: [String] = [], processCount: Int, masterPort: Int? = nil,
        environment: [String: String] = [:], gracePeriod: Duration = .seconds(5), timeout: Duration? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.processCount = processCount
        self.masterPort = masterPort
        self.environment = environment
        self.gracePeriod = gracePeriod
        self.timeout = timeout
    }

    /// Writes `[rank N] line` to standard output.
    public static let printPrefixed: @Sendable (Int, String) -> Void = { rank, line in
        let text = "[rank \(rank)] \(line)\n"
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Runs the job to completion.
    ///
    /// - Parameters:
    ///   - output: called with (rank, line) for each line a worker prints, from background
    ///     threads, serialized.
    ///   - interruption: polled every 20 ms; when it first returns a signal (e.g.
    ///     `StopSignal.received`), that signal is sent to every worker, which may then write a
    ///     checkpoint and exit; workers still running after ``interruptionGrace`` are killed.
    /// - Returns: the forwarded signal when the run was interrupted and every worker then exited
    ///   with status 0 or by that signal; nil when the job completed.
    /// - Throws: ``TorchError/distributed(_:)`` when a worker fails ("rank 1 exited with status
    ///   3", "rank 0 was killed by signal 9") or the job outlives ``timeout``;
    ///   ``TorchError/invalidArgument(_:)`` when the executable cannot be started.
    @discardableResult
    public func run(
        output: @escaping @Sendable (Int, String) -> Void = LocalLauncher.printPrefixed,
        interruption: (@Sendable () -> Int32?)? = nil
    ) throws(TorchError) -> Int32? {
        guard processCount >= 1 else { throw TorchError.invalidArgument("processCount must be at least 1, got \(processCount)") }
        let port: Int
        if let masterPort { port = masterPort } else { port = try LocalLauncher.freePort() }
        let exits = ExitLog()
        let emit = SerializedOutput(output)
        let readers = DispatchGroup()
        var processes: [Process] = []
        var groups: [pid_t?] = []  // the process group of each worker when it leads one

        var base = ProcessInfo.processInfo.environment
        for (key, value) in environment { base[key] = value }
        if base["OMP_NUM_THREADS"] == nil, processCount > 1 { base["OMP_NUM_THREADS"] = "1" }
        base["MASTER_ADDR"] = "127.0.0.1"
        base["MASTER_PORT"] = String(port)
        base["WORLD_SIZE"] = String(processCount)
        base["LOCAL_WORLD_SIZE"] = String(processCount)

        for rank in 0..<processCount {
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            var env = base
            env["RANK"] = String(rank)
            env["LOCAL_RANK"] = String(rank)
            process.environment = env
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            process.standardInput = FileHandle.nullDevice
            process.terminationHandler = { _ in exits.record(rank) }
            do {
                try Self.withEmptySignalMask { () throws(any Error) in try process.run() }
            } catch {
                Self.stop(processes, groups: groups, grace: gracePeriod)
                throw TorchError.invalidArgument("cannot start \(executable.path) for rank \(rank): \(error)")
            }
            processes.append(process)
            let pid = process.processIdentifier
            groups.append(getpgid(pid) == pid ? pid : nil)
            // The parent's copy of the write end must close, or the reader never sees EOF.
            try? pipe.fileHandleForWriting.close()
            let reader = pipe.fileHandleForReading
            readers.enter()
            DispatchQueue.global().async {
                var pending = Data()
                while true {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    pending.append(chunk)
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = pending[pending.startIndex..<newline]
                        emit(rank, String(decoding: line, as: UTF8.self))
                        pending = Data(pending[pending.index(after: newline)...])
                    }
                }
                if !pending.isEmpty { emit(rank, String(decoding: pending, as: UTF8.self)) }
                readers.leave()
            }
        }

        // Watch until every worker has exited, stopping the rest after the first failure.
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + $0 }
        var failure: String?
        var forwarded: Int32?
        var interruptDeadline: ContinuousClock.Instant?
        func firstFailure() -> String? {
            for rank in exits.order {
                guard let reason = Self.failureReason(processes[rank]) else { continue }
                // A worker ended by the signal we forwarded did what it was asked.
                if let forwarded, processes[rank].terminationReason == .uncaughtSignal,
                    processes[rank].terminationStatus == forwarded
                {
                    continue
                }
                return "rank \(rank) \(reason)"
            }
            return nil
        }
        while processes.contains(where: { $0.isRunning }) {
            if let reason = firstFailure() {
                failure = processCount > 1 ? "\(reason); the other workers were stopped" : reason
            } else if let deadline, clock.now >= deadline {
                failure = "the job timed out after \(timeout!); the workers were stopped"
            }
            if failure != nil {
                Self.stop(processes, groups: groups, grace: gracePeriod)
                break
            }
            if forwarded == nil, let interruption, let sig = interruption() {
                forwarded = sig
                interruptDeadline = clock.now + interruptionGrace
                for (p, group) in zip(processes, groups) where p.isRunning { Self.signal(p, group: group, sig) }
            }
            if let interruptDeadline, clock.now >= interruptDeadline {
                failure = "workers did not stop within \(interruptionGrace) of signal \(forwarded!); they were killed"
                Self.stop(processes, groups: groups, grace: .zero)
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        // Bounded: a process that inherited a worker's descriptors outside its group could keep
        // Foundation from seeing the worker exit.
        let settle = clock.now + .seconds(5)
        while processes.contains(where: { $0.isRunning }), clock.now < settle { Thread.sleep(forTimeInterval: 0.02) }
        // Drain what is still buffered in the pipes (bounded for the same reason).
        _ = readers.wait(timeout: .now() + 5)

        if failure == nil, let reason = firstFailure() { failure = reason }
        if let failure { throw TorchError.distributed(failure) }
        return forwarded
    }

    private static func failureReason(_ process: Process) -> String? {
        guard !process.isRunning else { return nil }
        switch process.terminationReason {
        case .exit: return process.terminationStatus == 0 ? nil : "exited with status \(process.terminationStatus)"
        case .uncaughtSignal: return "was killed by signal \(process.terminationStatus)"
        @unknown default: return "ended (\(process.terminationStatus))"
        }
    }

    /// SIGTERM to the running workers' process groups, SIGKILL to those still running after `grace`.
    ///
    /// Foundation starts each worker as the leader of its own process group and considers it
    /// running until every process that inherited its descriptors has exited, so whole groups
    /// are signalled (a worker's own children stop with it).
    private static func stop(_ processes: [Process], groups: [pid_t?], grace: Duration) {
        for (p, group) in zip(processes, groups) where p.isRunning { signal(p, group: group, SIGTERM) }
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        while processes.contains(where: { $0.isRunning }), clock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        for (p, group) in zip(processes, groups) where p.isRunning { signal(p, group: group, SIGKILL) }
    }

    /// Runs `body` with no signal blocked on this thread. Children inherit the spawning thread's
    /// signal mask, and Dispatch and Swift concurrency threads block most signals: a worker
    /// started from one would ignore SIGTERM and could only be killed.
    private static func withEmptySignalMask<R>(_ body: () throws(any Error) -> R) throws(any Error) -> R {
        var empty = sigset_t()
        var previous = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        return try body()
    }

    private static func signal(_ process: Process, group: pid_t?, _ signal: Int32) {
        if let group { kill(-group, signal) } else { kill(process.processIdentifier, signal) }
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
    public static func freePort() throws(TorchError) -> Int {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw TorchError.distributed("cannot create a socket to find a free port (errno \(errno))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw TorchError.distributed("cannot bind a socket to find a free port (errno \(errno))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Ranks in the order their processes exited.
private final class ExitLog: Sendable {
    private let ranks = Mutex<[Int]>([])
    func record(_ rank: Int) { ranks.withLock { $0.append(rank) } }
    var order: [Int] { ranks.withLock { $0 } }
}

/// Calls the user's output closure one line at a time.
private final class SerializedOutput: Sendable {
    private let lock = Mutex<Void>(())
    private let body: @Sendable (Int, String) -> Void
    init(_ body: @escaping @Sendable (Int, String) -> Void) { self.body = body }
    func callAsFunction(_ rank: Int, _ line: String) { lock.withLock { _ in body(rank, line) } }
}
