import ArgumentParser
import CLIP
import Datasets
import Foundation

/// Checks an output path before a command writes it: an existing file is kept unless `force`,
/// and an input of the command is never overwritten, even with `force`.
///
/// - Parameters:
///   - path: the file the command will write.
///   - option: the flag that named it (`--output`), for the message.
///   - inputs: files the command reads.
/// - Throws: `ValidationError` with one sentence naming the file and what to do.
func checkOutputPath(_ path: String, option: String, force: Bool, inputs: [String?]) throws {
    let target = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    for case let input? in inputs
    where URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath().path == target {
        throw ValidationError("\(option) \(path) is also an input of this command; write to another file")
    }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
        if isDirectory.boolValue { throw ValidationError("\(option) \(path) is a folder; give a file name") }
        if !force { throw ValidationError("\(option) \(path) already exists; pass --force to replace it, or choose another file") }
    }
}

/// Checks a count-like option against an inclusive range, with a message naming the option.
func checkRange(_ value: Int, _ range: ClosedRange<Int>, option: String) throws {
    guard range.contains(value) else {
        throw ValidationError("\(option) must be within \(range.lowerBound)…\(range.upperBound), got \(value)")
    }
}

/// Refuses a model whose token embedding is smaller than the CLIP tokenizer's vocabulary
/// (token ids up to 49,407), which would index past the embedding.
func checkTokenizerFits(_ config: CLIPConfig, source: String) throws {
    let needed = CLIPTokenizer.vocabularySize
    if config.text.vocabSize < needed {
        throw ValidationError(
            "\(source): text_cfg.vocab_size is \(config.text.vocabSize), smaller than the CLIP tokenizer's \(needed) tokens; this model cannot encode captions")
    }
}

/// Refuses a model whose float32 weights alone would not fit in this machine's memory, before
/// any tensor is made (the kernel would kill the process part-way through otherwise).
func checkModelFitsMemory(_ config: CLIPConfig, source: String) throws {
    let bytes = config.estimatedParameterCount * 4
    let memory = Double(ProcessInfo.processInfo.physicalMemory)
    if bytes > memory / 2 {
        throw ValidationError(String(
            format: "%@: the model has about %.2f billion parameters (%.1f GB of float32 weights), more than half of this machine's %.1f GB of memory",
            source, config.estimatedParameterCount / 1e9, bytes / 1e9, memory / 1e9))
    }
}

/// One sentence for an error that reaches a command: Foundation's file errors name the file and
/// the reason, JSON coding errors the key, instead of their debug dumps.
func describeForUser(_ error: any Error) -> String {
    switch error {
    case is DecodingError, is EncodingError:
        return describeDecodingError(error)
    case let cocoa as CocoaError:
        let path = (cocoa.userInfo[NSFilePathErrorKey] as? String) ?? cocoa.filePath ?? cocoa.url?.path
        let reason: String
        switch cocoa.code {
        case .fileWriteFileExists: reason = "already exists; remove it or choose another name"
        case .fileNoSuchFile, .fileReadNoSuchFile: reason = "no such file or folder"
        case .fileWriteNoPermission, .fileReadNoPermission: reason = "permission denied"
        case .fileWriteOutOfSpace: reason = "the disk is full"
        default: reason = cocoa.localizedDescription
        }
        return path.map { "\($0): \(reason)" } ?? reason
    default:
        return "\(error)"
    }
}

/// Runs a command body, printing `error: …` (one sentence, see ``describeForUser(_:)``) and
/// exiting with status 1 on failure.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("error: \(describeForUser(error))\n".utf8))
        throw ExitCode.failure
    }
}
