// File input and atomic output for safetensors, on POSIX calls.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

enum SafeTensorsIO {
    /// The message for the current `errno`.
    static func errnoMessage(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }

    /// Reads the whole regular file at `path` with as few `read` calls as the kernel allows.
    ///
    /// If the file shrinks while it is read, the bytes read so far are returned and the
    /// layout validation reports the truncation.
    static func readWholeFile(atPath path: String) throws(SafeTensorsError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(file: path, operation: "open", message: errnoMessage()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .io(file: path, operation: "stat", message: errnoMessage()) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .io(file: path, operation: "open", message: "not a regular file")
        }
        let size = Int(info.st_size)
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { storage, initialized in
            initialized = 0
            while initialized < size {
                let count = read(fd, storage.baseAddress! + initialized, size - initialized)
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if count == 0 { return }  // the file shrank
                initialized += count
            }
        }
        if failure != 0 { throw .io(file: path, operation: "read", message: errnoMessage(failure)) }
        return bytes
    }

    /// Writes all of `buffer` to `fd`, retrying short writes.
    private static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(SafeTensorsError) {
        var written = 0
        while written < buffer.count {
            let count = write(fd, buffer.baseAddress! + written, buffer.count - written)
            if count < 0 {
                if errno == EINTR { continue }
                throw .io(file: path, operation: "write", message: errnoMessage())
            }
            written += count
        }
    }

    /// Splits `path` into its directory (`.` when it has none) and its last component.
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }

    /// Writes `plan` and its tensors' bytes to a fresh temporary file beside `path`, flushes it
    /// to disk and renames it over `path`. On any failure the temporary file is removed.
    static func writeAtomically(_ plan: SafeTensorsPlan, toPath path: String) throws(SafeTensorsError) {
        let (directory, name) = split(path)
        var temporaryPath = ""
        var fd: Int32 = -1
        for attempt in 0..<100 {
            temporaryPath = "\(directory)/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 { break }
            if errno != EEXIST || attempt == 99 {
                throw .io(file: path, operation: "create temporary file \(temporaryPath)", message: errnoMessage())
            }
        }
        do throws(SafeTensorsError) {
            try plan.prefixAndHeader.withUnsafeBytesTyped { (header) throws(SafeTensorsError) in try writeAll(fd, header, path: path) }
            for (tensor, byteCount) in plan.tensors {
                do {
                    try tensor.withBytes { (bytes) throws(SafeTensorsError) in
                        guard bytes.count == byteCount else { throw plan.byteCountError(tensor, actual: bytes.count) }
                        try writeAll(fd, bytes, path: path)
                    }
                } catch let error as SafeTensorsError {
                    throw error
                } catch {
                    throw .invalidTensor(file: path, key: tensor.name, reason: "reading its data failed: \(error)")
                }
            }
            guard fsync(fd) == 0 else { throw .io(file: path, operation: "fsync", message: errnoMessage()) }
            let closed = close(fd)
            fd = -1
            guard closed == 0 else { throw .io(file: path, operation: "close", message: errnoMessage()) }
            guard rename(temporaryPath, path) == 0 else {
                throw .io(file: path, operation: "rename from \(temporaryPath)", message: errnoMessage())
            }
        } catch {
            if fd >= 0 { close(fd) }
            unlink(temporaryPath)
            throw error
        }
        // Make the rename itself durable; failure here leaves a complete file, so it is ignored.
        let directoryFD = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` with a typed error (the standard one only rethrows `any Error`).
    func withUnsafeBytesTyped<R>(
        _ body: (UnsafeRawBufferPointer) throws(SafeTensorsError) -> R
    ) throws(SafeTensorsError) -> R {
        try withUnsafeBytes { raw in Result { () throws(SafeTensorsError) in try body(raw) } }.get()
    }
}
