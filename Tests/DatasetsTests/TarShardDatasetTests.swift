import Testing
@testable import Datasets

@Suite struct TarShardDatasetTests {
    /// Two shards: keys 000–002 in the first (002 truncated JPEG), 003–004 in the second
    /// (004 without a caption), plus an unrelated member.
    func makeShards(_ folder: TemporaryFolder) throws -> [String] {
        var first = TarWriter()
        for key in 0..<2 {
            first.add(name: "\(String(format: "%05d", key)).png", contents: try testImage(seed: key).pngData())
            first.add(name: "\(String(format: "%05d", key)).txt", contents: Array("caption \(key)\n".utf8))
            first.add(name: "\(String(format: "%05d", key)).cls", contents: Array("\(key + 5)".utf8))
        }
        first.add(name: "00002.jpg", contents: truncatedJPEG)
        first.add(name: "00002.txt", contents: Array("broken".utf8))
        first.add(name: "00002.cls", contents: Array("1".utf8))
        first.add(name: "00002.json", contents: Array("{}".utf8))
        var second = TarWriter()
        second.add(name: "sub/00003.png", contents: try testImage(seed: 3).pngData())
        second.add(name: "sub/00003.txt", contents: Array("caption 3".utf8))
        second.add(name: "sub/00003.cls", contents: Array("0".utf8))
        second.add(name: "sub/00004.png", contents: try testImage(seed: 4).pngData())
        return [folder.write("shards/00000.tar", bytes: first.finished()),
                folder.write("shards/00001.tar", bytes: second.finished())]
    }

    @Test func readsItemsAcrossShards() throws {
        let folder = TemporaryFolder()
        let paths = try makeShards(folder)
        let set = try TarShardDataset(paths: [folder.file("shards")])
        #expect(set.paths == paths)
        #expect(set.count == 5)
        #expect(set.hasLabels)
        let first = try set.sample(at: 1)
        #expect(first.caption == "caption 1")
        #expect(first.label == 6)
        #expect(first.image == testImage(seed: 1))
        let third = try set.sample(at: 3)
        #expect(third.caption == "caption 3")
        #expect(third.image == testImage(seed: 3))
        #expect(try set.record(at: 3).imageSource == "\(paths[1]):sub/00003.png")
    }

    @Test func brokenMembersFailWithReasons() throws {
        let folder = TemporaryFolder()
        let paths = try makeShards(folder)
        let set = try TarShardDataset(paths: paths)
        do {
            _ = try set.sample(at: 2)
            Issue.record("a truncated JPEG must not decode")
        } catch {
            guard case let .image(path, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(path == "\(paths[0]):00002.jpg")
        }
        #expect(throws: DataError.self) { try set.record(at: 4) }
    }

    @Test func corruptHeaderIsRejected() throws {
        let folder = TemporaryFolder()
        var writer = TarWriter()
        writer.add(name: "0.txt", contents: Array("x".utf8))
        var bytes = writer.finished()
        bytes[10] ^= 0xFF
        let path = folder.write("bad.tar", bytes: bytes)
        #expect(throws: DataError.self) { try TarShardDataset(paths: [path]) }
    }

    @Test func longNamesUseTheUstarPrefix() throws {
        let folder = TemporaryFolder()
        let deep = String(repeating: "d", count: 60) + "/" + String(repeating: "e", count: 60)
        var writer = TarWriter()
        writer.add(name: deep + "/k.png", contents: try testImage(seed: 9).pngData())
        writer.add(name: deep + "/k.txt", contents: Array("deep".utf8))
        let set = try TarShardDataset(paths: [folder.write("long.tar", bytes: writer.finished())])
        #expect(set.count == 1)
        #expect(try set.sample(at: 0).caption == "deep")
    }
}
