import Foundation
import Torch
import Training

#if canImport(Glibc)
    import Glibc
#endif

/// Copies everything the command prints (standard output and standard error) into
/// `RUN_DIR/out.log` as well as to the console, as open_clip's trainer writes its `out.log`.
///
/// The progress line that a terminal redraws in place (`\r`, `ESC[2K`) is written to the file
/// only as the lines that end it, so the log reads as the plain console output. The file is
/// appended to: a resumed run adds its session after the earlier ones. Whether standard error
/// was a terminal is passed on in `CLIPGUARD_TERMINAL`, so the progress bar stays a bar.
final class ConsoleLog: @unchecked Sendable {
    private var saved: [Int32] = []
    private var threads: [Thread] = []
    private let done = DispatchGroup()
    private let lock = NSLock()

    /// Starts copying into `folder/out.log`, or returns nil when this process is one worker of a
    /// launched job (its launcher writes the log). The file is created once the command has
    /// created the folder (after its inputs were checked: a refused or failed start leaves no
    /// folder); what was printed before is written then.
    static func start(folder: String) -> ConsoleLog? {
        if ProcessInfo.processInfo.environment["CLIPGUARD_CONSOLE_LOG"] != nil { return nil }
        if (try? LaunchEnvironment.fromEnvironment()) != nil { return nil }
        return ConsoleLog(path: folder + "/out.log", folder: folder)
    }

    private let path: String
    private let folder: String
    private var file: FileHandle?
    private var pending: [UInt8] = []

    private init(path: String, folder: String) {
        self.path = path
        self.folder = folder
        setenv("CLIPGUARD_TERMINAL", isatty(STDERR_FILENO) != 0 ? "1" : "0", 0)
        setenv("CLIPGUARD_CONSOLE_LOG", "1", 1)  // children (workers) print through this process
        fflush(nil)
        for fd in [STDOUT_FILENO, STDERR_FILENO] {
            var ends: [Int32] = [0, 0]
            guard pipe(&ends) == 0 else { continue }
            let original = dup(fd)
            dup2(ends[1], fd)
            close(ends[1])
            saved.append(original)
            let reader = ends[0]
            done.enter()
            let thread = Thread { [self] in
                self.copy(from: reader, to: original)
                self.done.leave()
            }
            thread.start()
            threads.append(thread)
        }
    }

    /// Appends `bytes` to the log, opening it once the folder exists (else keeping them).
    private func append(_ bytes: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        pending += bytes
        if file == nil {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else { return }
            if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            file = FileHandle(forWritingAtPath: path)
            _ = try? file?.seekToEnd()
        }
        guard let file, !pending.isEmpty else { return }
        file.write(Data(pending))
        pending.removeAll()
    }

    /// Reads `source` until end of file, writing every byte to `console` and the plain lines to the log.
    private func copy(from source: Int32, to console: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var line: [UInt8] = []
        var escape = false
        while true {
            let n = read(source, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            var offset = 0
            while offset < n {
                let written = buffer.withUnsafeBytes { write(console, $0.baseAddress! + offset, n - offset) }
                if written <= 0 { break }
                offset += written
            }
            var out: [UInt8] = []
            for byte in buffer[0..<n] {
                if escape {
                    if (0x40...0x7E).contains(byte) && byte != UInt8(ascii: "[") { escape = false }
                    continue
                }
                switch byte {
                case 0x1B: escape = true
                case UInt8(ascii: "\r"): line.removeAll()
                case UInt8(ascii: "\n"):
                    out += line + [byte]
                    line.removeAll()
                default: line.append(byte)
                }
            }
            if !out.isEmpty { append(out) }
        }
        close(source)
    }

    /// Restores the console and waits until everything printed is in the file.
    func finish() {
        fflush(nil)
        for (fd, original) in zip([STDOUT_FILENO, STDERR_FILENO], saved) {
            dup2(original, fd)  // closes the pipe's last write end: its reader sees the end
        }
        _ = done.wait(timeout: .now() + 5)
        for original in saved { close(original) }
        append([])
        lock.lock()
        try? file?.close()
        lock.unlock()
    }
}
