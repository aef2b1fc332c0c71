import ArgumentParser
import Datasets
import Foundation

/// `clipguard tokenize`: CLIP BPE ids for captions, one JSON array per caption.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print CLIP BPE token ids for captions (open_clip-compatible).",
        discussion: """
            Each caption is cleaned as open_clip does (ftfy fix_text, HTML unescape, white-space \
            collapse, lower case), encoded with bpe_simple_vocab_16e6.txt.gz and printed as one JSON \
            array per line: <start_of_text>=49406, the ids, <end_of_text>=49407, zero padding to the \
            context length. The vocabulary is found in $CLIPGUARD_ASSETS or in .deps/assets \
            (run `make setup`).

            Examples:
              clipguard tokenize "a photo of a dog."
              clipguard tokenize --context-length 16 --truncate plain "a very long caption ..."
              clipguard tokenize --stdin --json < captions.txt
            """
    )

    @Option(help: "Ids per caption; shorter captions are zero-padded, longer ones truncated.")
    var contextLength = CLIPTokenizer.defaultContextLength

    @Option(
        name: .customLong("truncate"),
        help: "Truncation of long captions: 'eot' (open_clip: the last kept id becomes <end_of_text>) or 'plain' (cut, as OpenAI/CyCLIP code does)."
    )
    var truncation = "eot"

    @Option(help: "Cleaning conventions: 'open_clip' (default) or 'openai' (OpenAI's simple_tokenizer: <|endoftext|> literals, regex white space).")
    var dialect = "open_clip"

    @Flag(help: "Read captions from standard input, one per line, instead of the arguments.")
    var stdin = false

    @Flag(help: "Print the raw BPE ids only: no <start_of_text>/<end_of_text>, no padding, no truncation.")
    var raw = false

    @Flag(help: "Print one JSON object per caption, {\"text\": …, \"ids\": […]}, instead of a bare array.")
    var json = false

    @Flag(help: "Print throughput instead of ids: captions per second for one thread (`tokenize`) and for `tokenize(batch:)` on all cores, each from a cold cache.")
    var benchmark = false

    @Argument(help: "Captions to tokenize (ignored with --stdin).")
    var texts: [String] = []

    func validate() throws {
        try checkRange(contextLength, 1...65_536, option: "--context-length")
        guard CLIPTokenizer.Truncation(rawValue: truncation) != nil else {
            throw ValidationError("--truncate must be 'eot' or 'plain', not '\(truncation)'")
        }
        guard CLIPTokenizer.Dialect(rawValue: dialect) != nil else {
            throw ValidationError("--dialect must be 'open_clip' or 'openai', not '\(dialect)'")
        }
        if !stdin && texts.isEmpty { throw ValidationError("give captions as arguments, or --stdin") }
    }

    func run() throws {
        let tokenizer: CLIPTokenizer
        do {
            tokenizer = try CLIPTokenizer.load(dialect: CLIPTokenizer.Dialect(rawValue: dialect)!)
        } catch {
            FileHandle.standardError.write(Data("clipguard tokenize: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let mode = CLIPTokenizer.Truncation(rawValue: truncation)!
        if benchmark {
            var captions = texts
            if stdin { while let line = readLine(strippingNewline: true) { captions.append(line) } }
            try runBenchmark(captions, mode)
            return
        }
        var output = Output()
        if stdin {
            var chunk: [String] = []
            chunk.reserveCapacity(8192)
            while let line = readLine(strippingNewline: true) {
                chunk.append(line)
                if chunk.count == 8192 {
                    emit(chunk, tokenizer, mode, &output)
                    chunk.removeAll(keepingCapacity: true)
                }
            }
            emit(chunk, tokenizer, mode, &output)
        } else {
            emit(texts, tokenizer, mode, &output)
        }
        output.flush()
    }

    private func runBenchmark(_ captions: [String], _ mode: CLIPTokenizer.Truncation) throws {
        let dialect = CLIPTokenizer.Dialect(rawValue: dialect)!
        func cpuSeconds(_ clock: clockid_t) -> Double {
            var t = timespec()
            clock_gettime(clock, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
        }
        func wallSeconds() -> Double { cpuSeconds(CLOCK_MONOTONIC) }
        var checksum: Int64 = 0
        let single = try CLIPTokenizer.load(dialect: dialect)
        var wall = wallSeconds(), cpu = cpuSeconds(CLOCK_THREAD_CPUTIME_ID)
        for caption in captions { checksum &+= Int64(single.tokenize(caption, contextLength: contextLength, truncation: mode).count) }
        let singleWall = wallSeconds() - wall, singleCPU = cpuSeconds(CLOCK_THREAD_CPUTIME_ID) - cpu
        let batched = try CLIPTokenizer.load(dialect: dialect)
        wall = wallSeconds()
        cpu = cpuSeconds(CLOCK_PROCESS_CPUTIME_ID)
        checksum &+= Int64(batched.tokenize(batch: captions, contextLength: contextLength, truncation: mode).count)
        let batchWall = wallSeconds() - wall, batchCPU = cpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - cpu
        let n = Double(captions.count)
        print("captions: \(captions.count) (checksum \(checksum))")
        print("one thread: \(Int(n / singleWall)) captions/s wall, \(Int(n / singleCPU)) per CPU-second")
        print("batch on \(ProcessInfo.processInfo.activeProcessorCount) cores: \(Int(n / batchWall)) captions/s wall, \(Int(n / batchCPU)) per CPU-second")
    }

    private func emit(_ captions: [String], _ tokenizer: CLIPTokenizer, _ mode: CLIPTokenizer.Truncation, _ output: inout Output) {
        guard !captions.isEmpty else { return }
        if raw {
            let rows = captions.map { tokenizer.encode($0) }
            for (text, row) in zip(captions, rows) { output.write(text: text, ids: row[...], json: json) }
            return
        }
        let flat = tokenizer.tokenize(batch: captions, contextLength: contextLength, truncation: mode)
        for (i, text) in captions.enumerated() {
            output.write(text: text, ids: flat[(i * contextLength)..<((i + 1) * contextLength)], json: json)
        }
    }
}

/// Buffered standard output.
private struct Output {
    private var buffer: [UInt8] = []

    mutating func write(text: String, ids: ArraySlice<Int32>, json: Bool) {
        if json {
            buffer.append(contentsOf: Array("{\"text\":".utf8))
            appendJSONString(text)
            buffer.append(contentsOf: Array(",\"ids\":".utf8))
        }
        buffer.append(UInt8(ascii: "["))
        var first = true
        for id in ids {
            if !first { buffer.append(UInt8(ascii: ",")) }
            first = false
            appendDecimal(id)
        }
        buffer.append(UInt8(ascii: "]"))
        if json { buffer.append(UInt8(ascii: "}")) }
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count > 1 << 20 { flush() }
    }

    private mutating func appendDecimal(_ value: Int32) {
        var v = Int(value)
        if v < 0 {
            buffer.append(UInt8(ascii: "-"))
            v = -v
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[n] = UInt8(48 + v % 10)
                v /= 10
                n += 1
            } while v > 0
            for k in stride(from: n - 1, through: 0, by: -1) { buffer.append(d[k]) }
        }
    }

    private mutating func appendJSONString(_ s: String) {
        buffer.append(UInt8(ascii: "\""))
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": buffer.append(contentsOf: Array("\\\"".utf8))
            case "\\": buffer.append(contentsOf: Array("\\\\".utf8))
            case "\n": buffer.append(contentsOf: Array("\\n".utf8))
            case "\r": buffer.append(contentsOf: Array("\\r".utf8))
            case "\t": buffer.append(contentsOf: Array("\\t".utf8))
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    buffer.append(contentsOf: Array(("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8))
                } else {
                    buffer.append(contentsOf: Array(String(scalar).utf8))
                }
            }
        }
        buffer.append(UInt8(ascii: "\""))
    }

    mutating func flush() {
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}
