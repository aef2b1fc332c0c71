import Foundation

/// Finds the data files that `make setup` puts in `.deps/assets` (BPE vocabulary, zero-shot
/// templates and class names) at run time.
///
/// The folder is `$CLIPGUARD_ASSETS` if set; otherwise `share/clipguard/assets` beside the
/// executable's folder (the relocatable bundle of `make bundle`: `bin/clipguard`), then the first
/// `.deps/assets` found walking up from the executable's folder, then from the current directory.
///
/// ```swift
/// let path = try AssetLocator.path(of: "en_classnames.json")
/// ```
public enum AssetLocator {
    /// The environment variable that overrides the search.
    public static let environmentVariable = "CLIPGUARD_ASSETS"

    /// The assets folder, or an error saying what is missing and to run `make setup`.
    public static func folder(containing name: String? = nil) throws(DataError) -> String {
        let environment = ProcessInfo.processInfo.environment
        if environment[environmentVariable] == nil, let executable = executablePath() {
            let bundled = resolvePath("share/clipguard/assets", against: parentFolder(of: parentFolder(of: executable)))
            if pathKind(name.map { resolvePath($0, against: bundled) } ?? bundled) != .missing { return bundled }
        }
        return try folder(containing: name, environment: environment, searchingUpFrom: defaultSearchStarts())
    }

    /// The search itself, with its inputs explicit (for tests).
    ///
    /// - Parameters:
    ///   - environment: where ``environmentVariable`` is read; when set, only that folder counts.
    ///   - starts: folders from which `.deps/assets` is looked for, walking up to the root.
    public static func folder(containing name: String?, environment: [String: String], searchingUpFrom starts: [String])
        throws(DataError) -> String
    {
        if let override = environment[environmentVariable], !override.isEmpty {
            if let name, pathKind(resolvePath(name, against: override)) != .file {
                throw .missingResource(what: "\(name) in \(environmentVariable)=\(override)",
                                       hint: "point \(environmentVariable) at a folder holding it, or unset it and run `make setup`")
            }
            return override
        }
        for start in starts {
            var folder = start
            while true {
                let candidate = resolvePath(".deps/assets", against: folder)
                let wanted = name.map { resolvePath($0, against: candidate) } ?? candidate
                if pathKind(wanted) != .missing { return candidate }
                let parent = parentFolder(of: folder)
                if parent == folder || folder.isEmpty { break }
                folder = parent
            }
        }
        throw .missingResource(what: ".deps/assets\(name.map { "/" + $0 } ?? "") (searched upwards from \(starts.joined(separator: " and ")))",
                               hint: "run `make setup` in the ClipGuard checkout, or set \(environmentVariable) to a folder holding the assets")
    }

    /// The executable's folder and the current directory.
    static func defaultSearchStarts() -> [String] {
        (executablePath().map { [parentFolder(of: $0)] } ?? []) + [FileManager.default.currentDirectoryPath]
    }

    /// The running executable's path (`/proc/self/exe`, else `argv[0]` when it names a path).
    static func executablePath() -> String? {
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return executable
        }
        return CommandLine.arguments.first.flatMap { $0.contains("/") ? $0 : nil }
    }

    /// The full path of asset `name`.
    public static func path(of name: String) throws(DataError) -> String {
        resolvePath(name, against: try folder(containing: name))
    }

    /// ``path(of:)`` with the search inputs explicit (for tests).
    public static func path(of name: String, environment: [String: String], searchingUpFrom starts: [String])
        throws(DataError) -> String
    {
        resolvePath(name, against: try folder(containing: name, environment: environment, searchingUpFrom: starts))
    }
}
