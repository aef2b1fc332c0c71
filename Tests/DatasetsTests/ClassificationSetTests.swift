import Testing
@testable import Datasets

@Suite struct ClassificationSetTests {
    @Test func labelsCSVFolder() throws {
        let folder = TemporaryFolder()
        folder.writePNG("eval/images/0.png", seed: 0)
        folder.writePNG("eval/images/1.png", seed: 1)
        folder.write("eval/labels.csv", text: "image,label\nimages/0.png,1\nimages/1.png,0\nimages/2.png,5\n")
        try ClassIndex(classes: ["cat", "dog"], templates: ["a photo of a {c}."]).write(toPath: folder.file("eval/classes.json"))
        let set = try ImageFolderDataset(path: folder.file("eval"))
        #expect(set.count == 3)
        #expect(set.classNames == ["cat", "dog"])
        #expect(set.templates == ["a photo of a {c}."])
        let sample = try set.sample(at: 0)
        #expect(sample.label == 1)
        #expect(sample.caption == "dog")
        #expect(sample.image == testImage(seed: 0))
        #expect(throws: DataError.malformedRow(path: folder.file("eval/labels.csv"), line: 4, reason: "label 5 is not in 0..<2")) {
            try set.record(at: 2)
        }
    }

    @Test func classSubFolders() throws {
        let folder = TemporaryFolder()
        folder.writePNG("set/n002_zebra/a.png", seed: 1)
        folder.writePNG("set/n001_ant/b.png", seed: 2)
        folder.writePNG("set/n001_ant/c.png", seed: 3)
        folder.write("set/n001_ant/notes.txt", text: "not an image")
        let set = try ImageFolderDataset(path: folder.file("set"), templates: ["{c}"])
        #expect(set.classNames == ["n001 ant", "n002 zebra"])
        #expect(set.count == 3)
        #expect(try (0..<3).map { try set.record(at: $0).label } == [0, 0, 1])
        #expect(try set.sample(at: 2).image == testImage(seed: 1))
    }

    @Test(arguments: [CIFARDataset.Kind.cifar10, .cifar100])
    func cifarBinary(kind: CIFARDataset.Kind) throws {
        let folder = TemporaryFolder()
        var bytes: [UInt8] = []
        for item in 0..<3 {
            if kind == .cifar100 { bytes.append(UInt8(item)) }  // coarse label
            bytes.append(UInt8(item * 3))
            for channel in 0..<3 {
                for pixel in 0..<1024 { bytes.append(UInt8(truncatingIfNeeded: item * 50 + channel * 10 + pixel)) }
            }
        }
        let path = folder.write("test_batch.bin", bytes: bytes)
        let set = try CIFARDataset(kind: kind, paths: [path, path], templates: ["a photo of a {c}."])
        #expect(set.count == 6)
        let sample = try set.sample(at: 4)
        #expect(sample.label == 3)
        #expect(sample.caption == set.classNames[3])
        #expect(sample.image.width == 32 && sample.image.height == 32)
        // Pixel 5 of item 1: R, G, B come from the three planes.
        #expect(Array(sample.image.pixels[15..<18]) == [55, 65, 75])
        let bad = folder.write("bad.bin", bytes: Array(bytes.dropLast()))
        #expect(throws: DataError.self) { try CIFARDataset(kind: kind, paths: [bad], templates: []) }
    }

    @Test func fashionMNISTFromGzipIDX() throws {
        let folder = TemporaryFolder()
        try writeTinyFashionMNIST(folder, prefix: "train", count: 4)
        let set = try FashionMNISTDataset.standard(train: true, folder: folder.path)
        #expect(set.count == 4)
        let sample = try set.sample(at: 2)
        #expect(sample.label == 2)
        #expect(sample.caption == "pullover")
        #expect(sample.image.width == 28)
        #expect(sample.image.pixels[0] == sample.image.pixels[1])  // grey replicated
        #expect(set.templates.count == 10)
        #expect(throws: DataError.self) { try FashionMNISTDataset.standard(train: false, folder: folder.path) }
    }

    @Test(.enabled(if: pathKind("/var/lib/dpkg/info/dataset-fashion-mnist.list") == .file))
    func findsTheInstalledPackage() throws {
        let folder = FashionMNISTDataset.installedFolder()
        #expect(pathKind(folder + "/t10k-labels-idx1-ubyte.gz") == .file)
        let test = try FashionMNISTDataset.standard(train: false)
        #expect(test.count == 10_000)
        #expect(Set(test.data.labels).count == 10)
    }

    @Test(.enabled(if: (try? AssetLocator.folder(containing: ZeroShotMetadata.templatesFile)) != nil))
    func zeroShotTemplatesFromAssets() throws {
        #expect(try ZeroShotMetadata.templates(for: "imagenet1k").count == 80)
        #expect(try ZeroShotMetadata.templates(for: "cifar10").count == 18)
        #expect(try ZeroShotMetadata.classNames(for: "imagenet1k").count == 1000)
        #expect(throws: DataError.self) { try ZeroShotMetadata.templates(for: "no-such-set") }
    }

    @Test func missingAssetNamesMakeSetup() {
        do {
            _ = try AssetLocator.path(of: "no-such-asset.bin")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("make setup"))
            #expect(error.description.contains("no-such-asset.bin"))
        }
    }
}

/// Writes gzip'd IDX files `<prefix>-images-idx3-ubyte.gz` / `<prefix>-labels-idx1-ubyte.gz`
/// with `count` 28×28 images; image i has label i % 10 and pixels (i + p) % 256.
func writeTinyFashionMNIST(_ folder: TemporaryFolder, prefix: String, count: Int) throws {
    func be32(_ value: Int) -> [UInt8] { [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    var images = be32(2051) + be32(count) + be32(28) + be32(28)
    for i in 0..<count { for p in 0..<784 { images.append(UInt8((i + p) % 256)) } }
    let labels = be32(2049) + be32(count) + (0..<count).map { UInt8($0 % 10) }
    folder.write("\(prefix)-images-idx3-ubyte.gz", bytes: try zlibDeflate(images, gzip: true))
    folder.write("\(prefix)-labels-idx1-ubyte.gz", bytes: try zlibDeflate(labels, gzip: true))
}
