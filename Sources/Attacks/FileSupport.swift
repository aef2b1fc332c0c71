import Foundation

/// `path` made absolute against the current directory and tidied (`.` and `..` removed).
func absolutePath(_ path: String) -> String {
    let url = path.hasPrefix("/") ? URL(fileURLWithPath: path)
        : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path)
    return url.standardizedFileURL.path
}

/// `relative` resolved against `folder` (absolute paths are kept).
func resolved(_ relative: String, against folder: String) -> String {
    relative.hasPrefix("/") ? relative : absolutePath((folder as NSString).appendingPathComponent(relative))
}

/// The folder holding `path`.
func folder(of path: String) -> String { (path as NSString).deletingLastPathComponent }

func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

func isDirectory(_ path: String) -> Bool {
    var directory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
}

/// The UTF-8 text of a file; the error names the file.
func readTextFile(_ path: String) throws(AttackError) -> String {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw .insufficientData(path: path, reason: fileExists(path) ? "cannot be read" : "file not found")
    }
    return String(decoding: data, as: UTF8.self)
}

/// Writes `bytes` to `path`, replacing it.
func writeFile(_ path: String, _ bytes: [UInt8]) throws(AttackError) {
    do { try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        throw .output(path: path, reason: "cannot write: \(error.localizedDescription)")
    }
}

func makeFolder(_ path: String) throws(AttackError) {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
        throw .output(path: path, reason: "cannot create the folder: \(error.localizedDescription)")
    }
}

/// The file `name` beside a data set — in the folder `data` names, or in the folder holding the
/// CSV `data` names — when it exists (`manifest.json`, `classes.json`, as `clipguard poison` and
/// `data prepare` write them).
public func fileBesideData(_ data: String, named name: String) -> String? {
    let folder = isDirectory(data) ? data : (data as NSString).deletingLastPathComponent
    let candidate = (folder.isEmpty ? "." : folder) + "/" + name
    return fileExists(candidate) ? candidate : nil
}
