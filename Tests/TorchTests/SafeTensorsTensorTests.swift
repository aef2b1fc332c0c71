import Foundation
import TestSupport
import Testing
@testable import Torch

@Suite("SafeTensors with Tensors")
struct SafeTensorsTensorTests {
    typealias Support = SafeTensorsTestSupport

    /// A tensor of `dtype` and `shape` holding deterministic bytes.
    static func tensor(_ dtype: DType, _ shape: [Int], seed: UInt64) -> Tensor {
        var bytes = Support.bytes(count: shape.reduce(1, *) * dtype.byteSize, seed: seed)
        if dtype == .bool { bytes = bytes.map { $0 & 1 } }
        // Keep float bit patterns away from NaN so that value comparisons stay meaningful.
        if dtype.isFloatingPoint { bytes = bytes.enumerated().map { $0.offset % dtype.byteSize == dtype.byteSize - 1 ? $0.element & 0x3F : $0.element } }
        return bytes.withUnsafeBytes { Tensor(copying: $0, shape: shape, dtype: dtype) }
    }

    @Test("save then load is the identity for every dtype, scalars and zero-size shapes")
    func roundTrip() throws {
        var named: [(String, Tensor)] = []
        var seed: UInt64 = 7
        for dtype in DType.allCases {
            for shape in [[], [0], [5], [2, 0, 3], [3, 4]] as [[Int]] {
                seed += 1
                named.append(("\(dtype)/\(shape)", Self.tensor(dtype, shape, seed: seed)))
            }
        }
        let directory = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(directory) }
        let path = directory + "/tensors.safetensors"
        try saveSafeTensors(named, metadata: ["step": "3"], toPath: path)
        let (tensors, metadata) = try loadSafeTensors(atPath: path)
        #expect(metadata == ["step": "3"])
        #expect(Set(tensors.keys) == Set(named.map(\.0)))
        for (name, original) in named {
            let loaded = try #require(tensors[name])
            #expect(loaded.dtype == original.dtype, "\(name)")
            #expect(loaded.shape == original.shape, "\(name)")
            #expect(loaded.bytes() == original.bytes(), "\(name)")
        }
    }

    @Test("non-contiguous tensors are saved in row-major order")
    func nonContiguous() throws {
        let base = Tensor([Float](arrayLiteral: 0, 1, 2, 3, 4, 5), shape: [2, 3])
        let transposed = base.transposed(0, 1)
        #expect(!transposed.isContiguous)
        let directory = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(directory) }
        let path = directory + "/t.safetensors"
        try saveSafeTensors(["t": transposed], toPath: path)
        let loaded = try #require(try loadSafeTensors(atPath: path).tensors["t"])
        #expect(loaded.shape == [3, 2])
        #expect(loaded.toArray(as: Float.self) == [0, 3, 1, 4, 2, 5])
    }

    @Test("Python fixture loads as tensors with the recorded values")
    func pythonFixture() throws {
        let expected = try Support.expected("all_dtypes.json")
        let (tensors, metadata) = try loadSafeTensors(atPath: Support.fixturePath("all_dtypes.safetensors"))
        #expect(metadata == expected.metadata)
        #expect(Set(tensors.keys) == Set(expected.tensors.keys))
        for (name, entry) in expected.tensors {
            let tensor = try #require(tensors[name])
            #expect(tensor.dtype.safeTensorsName == entry.dtype, "\(name)")
            #expect(tensor.shape == entry.shape, "\(name)")
            #expect(tensor.toArray(as: Double.self) == entry.values, "\(name)")
        }
    }

    @Test("open_clip state_dict loads by name")
    func openClip() throws {
        let expected = try Support.expected("open_clip_tiny.json")
        let (tensors, metadata) = try loadSafeTensors(atPath: Support.fixturePath("open_clip_tiny.safetensors"))
        #expect(metadata["step"] == "0")
        #expect(Set(tensors.keys) == Set(expected.tensors.keys))
        for (name, entry) in expected.tensors {
            let tensor = try #require(tensors[name])
            #expect(tensor.shape == entry.shape, "\(name)")
            if let values = entry.values { expectClose(tensor.toArray(as: Double.self), values, rtol: 0, atol: 0, name) }
        }
    }

    @Test("saving Python's tensors reproduces Python's file byte for byte")
    func matchesPythonBytes() throws {
        let reference = Support.fixturePath("layout.safetensors")
        let (tensors, metadata) = try loadSafeTensors(atPath: reference)
        let directory = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(directory) }
        let path = directory + "/layout.safetensors"
        try saveSafeTensors(tensors, metadata: metadata, toPath: path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(contentsOf: URL(fileURLWithPath: reference)))
    }

    @Test("malformed files and bad names throw errors naming file and key")
    func errors() throws {
        let directory = try Support.makeTemporaryDirectory()
        defer { Support.removeDirectory(directory) }
        let bad = directory + "/bad.safetensors"
        let header = #"{"visual.conv1.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#
        try Data(Support.file(header: header, data: Array(repeating: 0, count: 12))).write(to: URL(fileURLWithPath: bad))
        do {
            _ = try loadSafeTensors(atPath: bad)
            Issue.record("a truncated file loaded")
        } catch let error as SafeTensorsError {
            #expect(error.file == bad)
            #expect(error.key == "visual.conv1.weight")
            #expect(error.description.contains("visual.conv1.weight"))
        }

        let path = directory + "/dup.safetensors"
        let x = Tensor.zeros([2])
        #expect(throws: SafeTensorsError.invalidTensor(file: path, key: "x", reason: "name given more than once")) {
            try saveSafeTensors([("x", x), ("x", x)], toPath: path)
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
