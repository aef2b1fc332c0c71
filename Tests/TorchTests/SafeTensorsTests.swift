import Foundation
import TestSupport
import Testing
@testable import Torch

/// Helpers shared by the safetensors tests.
enum SafeTensorsTestSupport {
    static let fixtures = fixturesDirectory.appendingPathComponent("safetensors")

    static func fixturePath(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    /// A fresh empty directory, removed by the caller with `removeDirectory`.
    static func makeTemporaryDirectory() throws -> String {
        try TestSupport.makeTemporaryDirectory("safetensors-test").path
    }

    static func removeDirectory(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A safetensors file whose header is `header` verbatim (no padding) followed by `data`.
    static func file(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> [UInt8] {
        let headerBytes = Array(header.utf8)
        let length = headerLength ?? UInt64(headerBytes.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) } + headerBytes + data
    }

    /// Parses `bytes` expecting an error; returns it.
    static func parseError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> SafeTensorsError? {
        do {
            let file = try SafeTensorsFile.parse(bytes: bytes, name: "bad.safetensors")
            Issue.record("expected an error, parsed \(file.keys)", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    /// Expects parsing `bytes` to throw an error whose message names the file and contains every
    /// string in `mentions`; returns the error for further checks.
    @discardableResult
    static func expectRejected(
        _ bytes: [UInt8], mentioning mentions: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) -> SafeTensorsError? {
        guard let error = parseError(bytes, sourceLocation: sourceLocation) else { return nil }
        let message = error.description
        #expect(message.contains("bad.safetensors"), "\(message)", sourceLocation: sourceLocation)
        for mention in mentions {
            #expect(message.contains(mention), "message \"\(message)\" lacks \"\(mention)\"", sourceLocation: sourceLocation)
        }
        return error
    }

    /// The fixture's expected contents, written by Scripts/make_safetensors_fixtures.py.
    struct Expected: Decodable {
        struct Entry: Decodable {
            var dtype: String
            var shape: [Int]
            var values: [Double]?
        }
        var version: Int
        var metadata: [String: String]
        var tensors: [String: Entry]
    }

    static func expected(_ name: String) throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    /// Decodes little-endian row-major bytes of `dtype` to doubles (exact for every dtype here).
    static func values(_ tensor: TensorBytes) -> [Double] {
        let size = tensor.dtype.byteSize
        return stride(from: 0, to: tensor.bytes.count, by: size).map { start in
            var bits: UInt64 = 0
            for index in (0..<size).reversed() { bits = bits << 8 | UInt64(tensor.bytes[start + index]) }
            switch tensor.dtype {
            case .float32: return Double(Float(bitPattern: UInt32(bits)))
            case .float64: return Double(bitPattern: bits)
            case .float16: return Double(Float16(bitPattern: UInt16(bits)))
            case .bfloat16: return Double(Float(bitPattern: UInt32(bits) << 16))
            case .int64: return Double(Int64(bitPattern: bits))
            case .int32: return Double(Int32(truncatingIfNeeded: bits))
            case .int16: return Double(Int16(truncatingIfNeeded: bits))
            case .int8: return Double(Int8(truncatingIfNeeded: bits))
            case .uint8, .bool: return Double(bits)
            }
        }
    }

    /// Deterministic pseudo-random bytes.
    static func bytes(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }
}

@Suite("SafeTensors file format")
struct SafeTensorsFormatTests {
    typealias Support = SafeTensorsTestSupport

    @Test("dtype names map both ways")
    func dtypeNames() {
        for dtype in DType.allCases {
            #expect(DType(safeTensorsName: dtype.safeTensorsName) == dtype)
        }
        #expect(Set(DType.allCases.map(\.safeTensorsName)).count == DType.allCases.count)
        #expect(DType(safeTensorsName: "U16") == nil)
        #expect(DType(safeTensorsName: "f32") == nil)
    }

    @Test("every dtype and shape (scalar, zero-size) survives write then read")
    func roundTripEveryDType() throws {
        let shapes: [[Int]] = [[], [0], [3], [2, 0, 4], [2, 3], [1, 1, 1, 5]]
        var file = SafeTensorsFile(metadata: ["step": "12", "config": "{\"a\": [1, 2]}", "": "empty key", "ü": "\u{1}\n"])
        var seed: UInt64 = 1
        for dtype in DType.allCases {
            for (index, shape) in shapes.enumerated() {
                let count = shape.reduce(1, *) * dtype.byteSize
                seed += 1
                file.entries["\(dtype).\(index)"] = TensorBytes(dtype: dtype, shape: shape, bytes: Support.bytes(count: count, seed: seed))
            }
        }
        let directory = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(directory) }
        let path = directory + "/round.safetensors"
        try file.write(toPath: path)
        let back = try SafeTensorsFile.read(atPath: path)
        #expect(back == file)
        #expect(try SafeTensorsFile.parse(bytes: try file.serialized(), name: "memory") == file)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["round.safetensors"])
    }

    @Test("an empty file round-trips and matches Python's 16-byte layout")
    func emptyFile() throws {
        let bytes = try SafeTensorsFile().serialized()
        #expect(bytes == [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
        #expect(try SafeTensorsFile.parse(bytes: bytes, name: "empty") == SafeTensorsFile())
    }

    @Test("Python-written fixture: metadata, dtypes, shapes and values")
    func readsPythonFixture() throws {
        let expected = try Support.expected("all_dtypes.json")
        let file = try SafeTensorsFile.read(atPath: Support.fixturePath("all_dtypes.safetensors"))
        #expect(file.metadata == expected.metadata)
        #expect(file.keys == expected.tensors.keys.sorted())
        for (name, entry) in expected.tensors {
            let tensor = try #require(file[name])
            #expect(tensor.dtype.safeTensorsName == entry.dtype, "\(name)")
            #expect(tensor.shape == entry.shape, "\(name)")
            #expect(Support.values(tensor) == entry.values, "\(name)")
        }
        #expect(file["scalar"]?.shape == [])
        #expect(file["empty.rows"]?.bytes.isEmpty == true)
    }

    @Test("Swift writes byte-for-byte what Python's safetensors writes (one metadata key)")
    func matchesPythonBytes() throws {
        let path = Support.fixturePath("layout.safetensors")
        let python = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let file = try SafeTensorsFile.read(atPath: path)
        #expect(file.metadata == ["format": "pt"])
        #expect(try file.serialized() == python)
    }

    @Test("Swift lays out a Python state_dict file identically up to metadata key order")
    func matchesPythonLayout() throws {
        let path = Support.fixturePath("open_clip_tiny.safetensors")
        let python = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let file = try SafeTensorsFile.read(atPath: path)
        let swift = try file.serialized()
        #expect(swift.count == python.count)
        #expect(swift.prefix(8) == python.prefix(8))
        let dataStart = 8 + Int(python[0]) + Int(python[1]) << 8 + Int(python[2]) << 16
        #expect(swift[dataStart...] == python[dataStart...])
        func tensorOrder(_ bytes: [UInt8]) throws -> [String] {
            let json = try bytes.withUnsafeBytes { try JSONReader.parse(UnsafeRawBufferPointer(rebasing: $0[8..<dataStart])) }
            guard case .object(let members) = json else { return [] }
            return members.map(\.key).filter { $0 != "__metadata__" }
        }
        #expect(try tensorOrder(swift) == tensorOrder(python))
        #expect(try SafeTensorsFile.parse(bytes: swift, name: "swift") == file)
    }

    @Test("open_clip state_dict loads by name with its config metadata")
    func openClipStateDict() throws {
        let expected = try Support.expected("open_clip_tiny.json")
        let file = try SafeTensorsFile.read(atPath: Support.fixturePath("open_clip_tiny.safetensors"))
        #expect(file.keys == expected.tensors.keys.sorted())
        #expect(file.metadata == expected.metadata)
        for (name, entry) in expected.tensors {
            let tensor = try #require(file[name])
            #expect(tensor.dtype.safeTensorsName == entry.dtype, "\(name)")
            #expect(tensor.shape == entry.shape, "\(name)")
            if let values = entry.values {
                #expect(Support.values(tensor) == values, "\(name)")
            }
        }
        #expect(file["visual.conv1.weight"]?.shape == [1, 3, 3, 3])
        #expect(file["visual.bn1.num_batches_tracked"]?.dtype == .int64)
        let config = try JSONSerialization.jsonObject(with: Data(try #require(file.metadata["config"]).utf8)) as? [String: Any]
        #expect(config?["embed_dim"] as? Int == 8)
    }

    @Test("header keys in any order and with whitespace are accepted")
    func headerKeyOrder() throws {
        let header = """
             { "b" : { "data_offsets" : [ 4, 6 ], "shape" : [ 1 ], "dtype" : "F16", "extra": null },
              "__metadata__": {"k": "v\\u00e9\\ud83d\\ude00\\/"},
              "a": {"shape": [], "dtype": "I32", "data_offsets": [0, 4]} }\t\n
            """
        let file = try SafeTensorsFile.parse(bytes: Support.file(header: header, data: [1, 0, 0, 0, 0, 60]), name: "x")
        #expect(file.metadata == ["k": "vé😀/"])
        #expect(file["a"] == TensorBytes(dtype: .int32, shape: [], bytes: [1, 0, 0, 0]))
        #expect(file["b"] == TensorBytes(dtype: .float16, shape: [1], bytes: [0, 60]))
    }
}

@Suite("SafeTensors validation of malformed files")
struct SafeTensorsValidationTests {
    typealias Support = SafeTensorsTestSupport

    static let tensorA = #""a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#

    @Test("truncated inside the 8-byte header-length prefix")
    func truncatedPrefix() {
        let error = Support.expectRejected([8, 0, 0, 0, 0], mentioning: ["header", "5 bytes"])
        #expect(error == .missingHeaderLength(file: "bad.safetensors", fileSize: 5))
        Support.expectRejected([], mentioning: ["header"])
    }

    @Test("truncated inside the header")
    func truncatedHeader() throws {
        let full = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Support.fixturePath("all_dtypes.safetensors"))))
        let error = Support.expectRejected(Array(full.prefix(200)), mentioning: ["header", "truncated"])
        guard case .invalidHeaderLength = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("truncated inside the data names the tensor cut short")
    func truncatedData() throws {
        let full = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Support.fixturePath("all_dtypes.safetensors"))))
        // Python lays BOOL tensors out last, so the cut falls in "bool.vector".
        let error = Support.expectRejected(Array(full.dropLast(2)), mentioning: ["\"bool.vector\"", "truncated"])
        guard case .offsetsOutOfRange = error else { Issue.record("got \(String(describing: error))"); return }
        // Cut deeper, into the float64 data near the start: the last tensor in data order is named.
        let deeper = Support.expectRejected(Array(full.dropLast(40)), mentioning: ["truncated"])
        guard case .offsetsOutOfRange = deeper else { Issue.record("got \(String(describing: deeper))"); return }
    }

    @Test("header length larger than the file or than the format limit")
    func headerLengthTooLarge() {
        let header = "{\(Self.tensorA)}"
        let error = Support.expectRejected(
            Support.file(header: header, data: Array(repeating: 0, count: 8), headerLength: 10_000),
            mentioning: ["header", "10000"])
        #expect(error == .invalidHeaderLength(file: "bad.safetensors", headerLength: 10_000, fileSize: 8 + header.utf8.count + 8))
        Support.expectRejected(Support.file(header: "{}", headerLength: UInt64.max), mentioning: ["header", "\(UInt64.max)"])
        Support.expectRejected(Support.file(header: "{}", headerLength: 1 << 63), mentioning: ["header"])
    }

    @Test("data_offsets beyond the data buffer")
    func offsetsOutOfRange() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}}"#
        let error = Support.expectRejected(Support.file(header: header, data: Array(repeating: 0, count: 10)), mentioning: ["\"b\"", "[8, 12]"])
        #expect(error == .offsetsOutOfRange(file: "bad.safetensors", key: "b", begin: 8, end: 12, dataLength: 10))
        let huge = #"{"a":{"dtype":"U8","shape":[4],"data_offsets":[9223372036854775800,9223372036854775804]}}"#
        Support.expectRejected(Support.file(header: huge, data: [1, 2, 3, 4]), mentioning: ["\"a\""])
        let unrepresentable = #"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,99999999999999999999999]}}"#
        Support.expectRejected(Support.file(header: unrepresentable, data: [1, 2, 3, 4]), mentioning: ["\"a\"", "data_offsets"])
    }

    @Test("overlapping byte ranges")
    func overlapping() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        let error = Support.expectRejected(Support.file(header: header, data: Array(repeating: 0, count: 8)), mentioning: ["\"b\"", "\"a\"", "overlap"])
        #expect(error == .overlappingData(file: "bad.safetensors", key: "b", otherKey: "a"))
        let same = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        Support.expectRejected(Support.file(header: same, data: Array(repeating: 0, count: 8)), mentioning: ["overlap"])
    }

    @Test("gaps between, before and after tensors")
    func gaps() {
        let between = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[6,10]}}"#
        let error = Support.expectRejected(Support.file(header: between, data: Array(repeating: 0, count: 10)), mentioning: ["\"b\"", "[4, 6)"])
        #expect(error == .gapInData(file: "bad.safetensors", key: "b", gapStart: 4, gapEnd: 6))
        let before = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#
        Support.expectRejected(Support.file(header: before, data: Array(repeating: 0, count: 6)), mentioning: ["\"a\"", "[0, 2)"])
        let after = "{\(Self.tensorA)}"
        let trailing = Support.expectRejected(Support.file(header: after, data: Array(repeating: 0, count: 11)), mentioning: ["header", "3 bytes"])
        #expect(trailing == .trailingData(file: "bad.safetensors", unusedBytes: 3))
    }

    @Test("shape times dtype size disagrees with the byte range")
    func shapeMismatch() {
        let header = #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#
        let error = Support.expectRejected(Support.file(header: header, data: Array(repeating: 0, count: 20)), mentioning: ["\"w\"", "24", "20"])
        #expect(error == .byteLengthMismatch(file: "bad.safetensors", key: "w", shape: [2, 3], dtype: "F32", expected: 24, actual: 20))
        let overflow = #"{"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#
        Support.expectRejected(Support.file(header: overflow, data: Array(repeating: 0, count: 8)), mentioning: ["\"w\"", "too many elements"])
    }

    @Test("unknown and unsupported dtypes", arguments: ["Q4", "F8_E4M3", "U16", "f32", ""])
    func unknownDType(name: String) {
        let header = #"{"ok":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"q":{"dtype":"\#(name)","shape":[1],"data_offsets":[1,2]}}"#
        let error = Support.expectRejected(Support.file(header: header, data: [0, 0]), mentioning: ["\"q\"", "\"\(name)\""])
        #expect(error == .unknownDType(file: "bad.safetensors", key: "q", dtype: name))
    }

    @Test("bad JSON", arguments: [
        "{", "{\"a\":}", "{\"a\":{\"dtype\":\"F32\",}}", "{'a':1}", "{\"a\" 1}", "{\"a\":tru}", "{\"a\":\"\\x\"}",
        "{\"a\":\"\\ud800\"}", "{\"a\":01}", "{\"a\":1.}", "{} {}", "{\"a\":\"tab\tinside\"}", "", "   ",
        "{\"a\":1,\"a\":2}",
    ])
    func badJSON(header: String) {
        let error = Support.expectRejected(Support.file(header: header), mentioning: ["header", "JSON"])
        guard case .invalidHeader = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("invalid UTF-8 in the header")
    func invalidUTF8() {
        var bytes = Support.file(header: #"{"a?":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}"#)
        bytes[8 + 3] = 0xFF
        Support.expectRejected(bytes, mentioning: ["header", "UTF-8"])
    }

    @Test("deeply nested JSON is rejected without exhausting the stack")
    func deepNesting() {
        let header = "{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        Support.expectRejected(Support.file(header: header), mentioning: ["header", "nesting"])
    }

    @Test("a header that is not an object", arguments: ["[]", "\"a\"", "42", "null", "true"])
    func nonObjectHeader(header: String) {
        let error = Support.expectRejected(Support.file(header: header), mentioning: ["header", "object"])
        guard case .invalidHeader = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("malformed tensor entries name the key", arguments: [
        (#""dtype":"F32","shape":[1]"#, "data_offsets"),
        (#""shape":[1],"data_offsets":[0,4]"#, "dtype"),
        (#""dtype":"F32","data_offsets":[0,4]"#, "shape"),
        (#""dtype":7,"shape":[1],"data_offsets":[0,4]"#, "dtype"),
        (#""dtype":"F32","shape":[-1],"data_offsets":[0,4]"#, "shape"),
        (#""dtype":"F32","shape":[1.0],"data_offsets":[0,4]"#, "shape"),
        (#""dtype":"F32","shape":{},"data_offsets":[0,4]"#, "shape"),
        (#""dtype":"F32","shape":[1],"data_offsets":[4,0]"#, "data_offsets"),
        (#""dtype":"F32","shape":[1],"data_offsets":[0,4,8]"#, "data_offsets"),
        (#""dtype":"F32","shape":[1],"data_offsets":[0,"4"]"#, "data_offsets"),
    ])
    func malformedEntry(fields: String, mention: String) {
        let error = Support.expectRejected(Support.file(header: "{\"t.w\":{\(fields)}}", data: [0, 0, 0, 0]), mentioning: ["\"t.w\"", mention])
        guard case .invalidEntry = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("a tensor entry that is not an object")
    func nonObjectEntry() {
        Support.expectRejected(Support.file(header: "{\"t.w\":[1]}", data: []), mentioning: ["\"t.w\"", "object"])
    }

    @Test("metadata must map strings to strings")
    func badMetadata() {
        let error = Support.expectRejected(Support.file(header: #"{"__metadata__":{"step":3}}"#), mentioning: ["__metadata__", "\"step\"", "string"])
        #expect(error == .invalidMetadata(file: "bad.safetensors", key: "step", reason: "expected a string, found a number"))
        Support.expectRejected(Support.file(header: #"{"__metadata__":["x"]}"#), mentioning: ["__metadata__", "object"])
    }

    @Test("every truncation and random corruption of a valid file is handled without a crash")
    func corruptionNeverCrashes() throws {
        let full = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Support.fixturePath("all_dtypes.safetensors"))))
        for length in 0..<full.count {
            let error = Support.parseError(Array(full.prefix(length)))
            #expect(error != nil, "prefix of \(length) bytes was accepted")
        }
        var state: UInt64 = 99
        var accepted = 0
        for _ in 0..<2_000 {
            var bytes = full
            for _ in 0..<3 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let index = Int(state >> 33) % full.count
                bytes[index] = UInt8(truncatingIfNeeded: state >> 17)
            }
            if (try? SafeTensorsFile.parse(bytes: bytes, name: "fuzz")) != nil { accepted += 1 }
        }
        // Flips inside tensor data are legitimately accepted; header damage mostly is not.
        #expect(accepted < 2_000)
    }
}

@Suite("SafeTensors atomic writes")
struct SafeTensorsAtomicWriteTests {
    typealias Support = SafeTensorsTestSupport

    static let sample = SafeTensorsFile(
        metadata: ["step": "1"],
        entries: ["w": TensorBytes(dtype: .float32, shape: [2], bytes: [0, 0, 128, 63, 0, 0, 0, 64])])

    @Test("overwriting replaces the file and leaves no temporary file")
    func overwrite() throws {
        let directory = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(directory) }
        let path = directory + "/ckpt.safetensors"
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        try Self.sample.write(toPath: path)
        #expect(try SafeTensorsFile.read(atPath: path) == Self.sample)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["ckpt.safetensors"])
    }

    @Test("a failing tensor source leaves the existing file untouched and removes the temporary file")
    func failureMidWrite() throws {
        struct SourceFailed: Error {}
        let directory = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(directory) }
        let path = directory + "/ckpt.safetensors"
        try Self.sample.write(toPath: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        let short = PendingTensor(name: "a", dtype: .int64, shape: [1]) { body in try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let failing = PendingTensor(name: "b", dtype: .uint8, shape: [3]) { _ in throw SourceFailed() }
        let plan = try SafeTensorsPlan(metadata: [:], tensors: [failing], file: path)
        #expect(throws: SafeTensorsError.self) { try SafeTensorsIO.writeAtomically(plan, toPath: path) }
        // A source that hands over the wrong number of bytes is caught too.
        let shortPlan = try SafeTensorsPlan(metadata: [:], tensors: [short], file: path)
        do {
            try SafeTensorsIO.writeAtomically(shortPlan, toPath: path)
            Issue.record("short tensor data was written")
        } catch {
            #expect(error.description.contains("\"a\""))
            #expect(error.description.contains(path))
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["ckpt.safetensors"])
    }

    @Test("inconsistent tensors are rejected before anything is written")
    func invalidTensors() throws {
        let directory = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(directory) }
        let path = directory + "/ckpt.safetensors"
        try Self.sample.write(toPath: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        var wrongCount = Self.sample
        wrongCount.entries["v"] = TensorBytes(dtype: .float16, shape: [2, 2], bytes: [1, 2, 3])
        #expect(throws: SafeTensorsError.invalidTensor(
            file: path, key: "v", reason: "shape [2, 2] of F16 needs 8 bytes but 3 were given")) { try wrongCount.write(toPath: path) }
        var reserved = Self.sample
        reserved.entries["__metadata__"] = TensorBytes(dtype: .uint8, shape: [0], bytes: [])
        #expect(throws: SafeTensorsError.self) { try reserved.write(toPath: path) }
        var negative = Self.sample
        negative.entries["n"] = TensorBytes(dtype: .uint8, shape: [-1], bytes: [])
        #expect(throws: SafeTensorsError.self) { try negative.write(toPath: path) }

        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["ckpt.safetensors"])
    }

    @Test("a failing rename (target is a directory) removes the temporary file")
    func renameFails() throws {
        let directory = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(directory) }
        let target = directory + "/taken"
        try FileManager.default.createDirectory(atPath: target + "/inside", withIntermediateDirectories: true)
        do {
            try Self.sample.write(toPath: target)
            Issue.record("writing over a directory succeeded")
        } catch {
            #expect(error.description.contains(target))
            #expect(error.description.contains("rename"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["taken"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: target) == ["inside"])
    }

    @Test("a missing directory is an error naming the path")
    func missingDirectory() throws {
        let directory = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(directory) }
        let path = directory + "/no/such/dir/ckpt.safetensors"
        do {
            try Self.sample.write(toPath: path)
            Issue.record("write into a missing directory succeeded")
        } catch {
            #expect(error.description.contains(path))
        }
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile.read(atPath: path) }
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile.read(atPath: directory) }
    }

    @Test("paths split into directory and file name")
    func pathSplitting() {
        #expect(SafeTensorsIO.split("ckpt.safetensors") == (".", "ckpt.safetensors"))
        #expect(SafeTensorsIO.split("/ckpt.safetensors") == ("/", "ckpt.safetensors"))
        #expect(SafeTensorsIO.split("runs/a/ckpt") == ("runs/a", "ckpt"))
    }
}
