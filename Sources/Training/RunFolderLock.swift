import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An exclusive lock on a run folder (`RUN_DIR/.lock`, `flock`), held for the life of a run so
/// that two processes never write into the same folder. The kernel releases the lock when its
/// process ends in any way (kill -9 included), so a stale `.lock` file never blocks a new run;
/// the file holds the owner's process id for the message a refused run prints.
final class RunFolderLock {
    private let descriptor: Int32
    let path: String

    /// Takes the lock or throws ``TrainingError/runFolder(path:reason:)`` naming the holder.
    init(folder: String) throws {
        path = folder + "/.lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw TrainingError.runFolder(path: folder, reason: "cannot create its lock file .lock (\(String(cString: strerror(errno))))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw TrainingError.runFolder(
                path: folder,
                reason: "is in use by another clipguard run\(holder.isEmpty ? "" : " (process \(holder))"); wait for it to end or choose another --out")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// Removes what interrupted atomic writes left behind (`.NAME.tmp-PID-N` files, as the
    /// safetensors writer names them). Call only while holding the lock: no live writer then.
    static func removeTemporaryFiles(in folder: String, reporter: ProgressReporter) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] where name.hasPrefix(".") && name.contains(".tmp-") {
            if (try? fm.removeItem(atPath: folder + "/" + name)) != nil {
                reporter.log("\(folder): removed \(name), left by an interrupted write")
            }
        }
    }
}
