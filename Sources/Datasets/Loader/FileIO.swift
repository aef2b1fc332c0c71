import CCodecs

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only file opened once and read with positioned reads (`pread`), so that many threads
/// can read different ranges of it at the same time.
final class RandomAccessFile: Sendable {
    let path: String
    let size: Int
    private let descriptor: Int32

    init(path: String) throws(DataError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, reason: systemErrorMessage()) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let message = systemErrorMessage()
            close(fd)
            throw .io(path: path, reason: message)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .io(path: path, reason: "not a regular file")
        }
        self.path = path
        self.descriptor = fd
        self.size = Int(info.st_size)
    }

    deinit { close(descriptor) }

    /// Reads `count` bytes at `offset`; fewer only at the end of the file.
    func read(offset: Int, count: Int) throws(DataError) -> [UInt8] {
        if count <= 0 { return [] }
        var result = [UInt8](repeating: 0, count: count)
        var done = 0
        var failure: String?
        result.withUnsafeMutableBytes { buffer in
            while done < count {
                let got = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if got < 0 {
                    if errno == EINTR { continue }
                    failure = systemErrorMessage()
                    return
                }
                if got == 0 { return }
                done += got
            }
        }
        if let failure { throw .io(path: path, reason: failure) }
        if done < count { result.removeSubrange(done...) }
        return result
    }
}

func systemErrorMessage() -> String { String(cString: strerror(errno)) }

/// Reads a whole file into memory.
func readWholeFile(_ path: String) throws(DataError) -> [UInt8] {
    let file = try RandomAccessFile(path: path)
    return try file.read(offset: 0, count: file.size)
}

/// Reads a file, inflating it if it starts with the gzip magic bytes.
func readMaybeGzipFile(_ path: String) throws(DataError) -> [UInt8] {
    let bytes = try readWholeFile(path)
    if bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B {
        do { return try gunzip(bytes) } catch { throw .format(path: path, reason: error.reason) }
    }
    return bytes
}

/// Writes `bytes` to `path`, replacing it.
func writeWholeFile(_ path: String, _ bytes: [UInt8]) throws(DataError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw .io(path: path, reason: systemErrorMessage()) }
    defer { close(fd) }
    var done = 0
    var failure: String?
    bytes.withUnsafeBytes { buffer in
        while done < buffer.count {
            let wrote = write(fd, buffer.baseAddress! + done, buffer.count - done)
            if wrote < 0 {
                if errno == EINTR { continue }
                failure = systemErrorMessage()
                return
            }
            done += wrote
        }
    }
    if let failure { throw .io(path: path, reason: failure) }
}

/// Creates a directory and its parents (like `mkdir -p`).
func makeDirectories(_ path: String) throws(DataError) {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        current += "/" + part
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw .io(path: current, reason: "cannot create directory: \(systemErrorMessage())")
        }
    }
}

/// What a path names on disk.
enum PathKind { case missing, file, directory, other }

func pathKind(_ path: String) -> PathKind {
    var info = stat()
    guard stat(path, &info) == 0 else { return .missing }
    switch info.st_mode & S_IFMT {
    case S_IFREG: return .file
    case S_IFDIR: return .directory
    default: return .other
    }
}

/// The names in a directory (without "." and ".."), sorted bytewise for a stable order.
func directoryEntries(_ path: String) throws(DataError) -> [String] {
    guard let dir = opendir(path) else { throw .io(path: path, reason: systemErrorMessage()) }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
}

/// `folder/relative` unless `relative` is absolute.
func resolvePath(_ relative: String, against folder: String) -> String {
    if relative.hasPrefix("/") || folder.isEmpty { return relative }
    return folder.hasSuffix("/") ? folder + relative : folder + "/" + relative
}

/// The folder part of a path ("." for a bare name).
func parentFolder(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
}

/// The last component of a path.
func lastComponent(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return path }
    return String(path[path.index(after: slash)...])
}

/// An error from the gzip helpers: just its reason, the caller adds the file name.
struct CompressionFailure: Error { var reason: String }

/// Inflates a gzip or zlib stream.
func gunzip(_ bytes: [UInt8]) throws(CompressionFailure) -> [UInt8] {
    var output: UnsafeMutablePointer<UInt8>?
    var length = 0
    var message = [CChar](repeating: 0, count: 256)
    let rc = bytes.withUnsafeBufferPointer { input in
        cc_inflate(input.baseAddress, input.count, &output, &length, &message, message.count)
    }
    guard rc == 0, let output else {
        throw CompressionFailure(reason: String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    defer { cc_buffer_free(output) }
    return Array(UnsafeBufferPointer(start: output, count: length))
}

/// Compresses `bytes` as a zlib stream (RFC 1950), or as a gzip file when `gzip` is true.
func zlibDeflate(_ bytes: [UInt8], level: Int32 = 6, gzip: Bool = false) throws(CompressionFailure) -> [UInt8] {
    var output: UnsafeMutablePointer<UInt8>?
    var length = 0
    var message = [CChar](repeating: 0, count: 256)
    let rc = bytes.withUnsafeBufferPointer { input in
        cc_deflate(input.baseAddress, input.count, level, gzip ? 1 : 0, &output, &length, &message, message.count)
    }
    guard rc == 0, let output else {
        throw CompressionFailure(reason: String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    defer { cc_buffer_free(output) }
    return Array(UnsafeBufferPointer(start: output, count: length))
}
