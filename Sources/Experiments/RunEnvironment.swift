import Foundation

/// Where and with what an experiment's rows ran, as `results.json` records it for the report:
/// the checkout's commit, the tool's version, the CPU, the thread count and the device.
public struct RunEnvironment: Codable, Sendable, Equatable {
    /// `git describe --always --dirty` of the working directory's checkout (nil: not a checkout).
    public var commit: String?
    /// `clipguard 0.9.0 (libtorch 2.x)` (nil when the caller did not say).
    public var toolVersion: String?
    /// The CPU's model name (`/proc/cpuinfo` or `sysctl`), nil when unknown.
    public var cpu: String?
    /// Logical cores the process may use.
    public var cores: Int
    /// libtorch intra-op threads of training (`training.threads`; nil: all cores).
    public var threads: Int?
    /// `training.device` as the file gives it.
    public var device: String
    /// The operating system's version string.
    public var os: String

    enum CodingKeys: String, CodingKey {
        case commit, cpu, cores, threads, device, os
        case toolVersion = "tool_version"
    }

    public init(commit: String?, toolVersion: String?, cpu: String?, cores: Int, threads: Int?, device: String, os: String) {
        self.commit = commit
        self.toolVersion = toolVersion
        self.cpu = cpu
        self.cores = cores
        self.threads = threads
        self.device = device
        self.os = os
    }

    /// The environment of this process.
    public static func current(toolVersion: String?, threads: Int?, device: String) -> RunEnvironment {
        RunEnvironment(
            commit: gitDescription(), toolVersion: toolVersion, cpu: cpuModel(), cores: ProcessInfo.processInfo.activeProcessorCount,
            threads: threads, device: device, os: ProcessInfo.processInfo.operatingSystemVersionString)
    }

    /// One line for a report: `commit abc1234, clipguard 0.9.0, Intel Xeon … (2 cores), 2 threads, device cpu, Linux …`.
    public var summary: String {
        [
            "commit " + (commit ?? "unknown (not run from a git checkout)"),
            toolVersion ?? "tool version not recorded",
            (cpu ?? "CPU model unknown") + " (\(cores) core\(cores == 1 ? "" : "s") available)",
            threads.map { "\($0) training thread\($0 == 1 ? "" : "s")" } ?? "training threads: all cores",
            "device \(device)",
            os,
        ].joined(separator: ", ")
    }

    static func gitDescription() -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "describe", "--always", "--dirty", "--abbrev=12"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return nil
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    static func cpuModel() -> String? {
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("model name") {
                if let colon = line.firstIndex(of: ":") {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        #if os(macOS)
        var size = 0
        if sysctlbyname("machdep.cpu.brand_string", nil, &size, nil, 0) == 0, size > 0 {
            var buffer = [CChar](repeating: 0, count: size)
            if sysctlbyname("machdep.cpu.brand_string", &buffer, &size, nil, 0) == 0 { return String(cString: buffer) }
        }
        #endif
        return nil
    }
}
