import Testing
@testable import Datasets

@Suite struct InspectionTests {
    @Test func countsReadableSkippedAndCaptionLengths() throws {
        let folder = TemporaryFolder()
        folder.writePNG("a.png", seed: 1)
        folder.writePNG("b.png", seed: 2)
        folder.write("c.jpg", bytes: truncatedJPEG)
        let csv = folder.write("t.csv", text: "image,caption\na.png,one two three\nb.png,one\nc.jpg,x y\nmissing.png,a b c d\nshort\n")
        let report = inspectDataset(try openDataset(atPath: csv), sampleCount: 2)
        #expect(report.rows == 5 && report.checked == 5)
        #expect(report.readable == 2)
        #expect(report.skipped == 3)
        #expect(report.failures.map(\.index) == [2, 3, 4])
        #expect(report.failures[2].source == "\(csv):6")
        #expect(report.captionWords.minimum == 1 && report.captionWords.maximum == 4)
        #expect(report.captionWords.median == 2.5)
        #expect(report.samples.map(\.index) == [0, 2])
        #expect(report.samples[0].size == "6x5")
        #expect(report.text.contains("readable images: 2"))
    }

    @Test func opensEachFormatByPath() throws {
        let folder = TemporaryFolder()
        folder.writePNG("set/cat/a.png", seed: 1)
        #expect(try openDataset(atPath: folder.file("set")) is ImageFolderDataset)
        var writer = TarWriter()
        writer.add(name: "0.png", contents: try testImage(seed: 0).pngData())
        writer.add(name: "0.txt", contents: Array("zero".utf8))
        let tar = folder.write("s.tar", bytes: writer.finished())
        #expect(try openDataset(atPath: tar).count == 1)
        #expect(throws: DataError.self) { try openDataset(atPath: folder.file("nothing.csv")) }
    }
}
