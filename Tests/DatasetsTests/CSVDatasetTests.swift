import Foundation
import Testing
@testable import Datasets

@Suite struct CSVDatasetTests {
    @Test func quotedCaptionsWithCommasAndNewlines() throws {
        let folder = TemporaryFolder()
        folder.writePNG("img/a.png", seed: 1)
        folder.writePNG("img/b.png", seed: 2)
        let csv = folder.write("train.csv", text: """
            filepath,caption,extra
            img/a.png,"a dog, a cat, and ""quotes""
            across two lines",x
            img/b.png,plain caption,y

            """)
        let set = try CSVDataset(path: csv)
        #expect(set.count == 2)
        #expect(set.columnNames == ["filepath", "caption", "extra"])
        let first = try set.record(at: 0)
        #expect(first.caption == "a dog, a cat, and \"quotes\"\nacross two lines")
        #expect(first.imageSource == folder.file("img/a.png"))
        #expect(set.line(of: 1) == 4)
        let second = try set.sample(at: 1)
        #expect(second.caption == "plain caption")
        #expect(second.image == testImage(seed: 2))
        #expect(second.index == 1)
    }

    @Test func rowWithTooFewColumnsIsReportedWithItsLine() throws {
        let folder = TemporaryFolder()
        folder.writePNG("a.png", seed: 1)
        let csv = folder.write("bad.csv", text: "image,caption,label\na.png,fine,0\nonly-one-column\na.png,x,notanumber\n")
        let set = try CSVDataset(path: csv)
        #expect(set.count == 3)
        #expect(set.hasLabels)
        #expect(try set.record(at: 0).label == 0)
        #expect(throws: DataError.malformedRow(path: csv, line: 3, reason: "1 column, the header has 3")) {
            try set.record(at: 1)
        }
        do {
            _ = try set.record(at: 2)
            Issue.record("expected an error for a non-integer label")
        } catch {
            guard case let .malformedRow(_, line, reason) = error else { Issue.record("wrong error \(error)"); return }
            #expect(line == 4)
            #expect(reason.contains("notanumber"))
        }
    }

    @Test func tsvWithConfiguredColumnsAndImageRoot() throws {
        let folder = TemporaryFolder()
        folder.writePNG("root/x.png", seed: 3)
        let tsv = folder.write("meta/data.tsv", text: "id\ttitle\tfilepath\n7\ta \"quoted\" word, kept\tx.png\n")
        let set = try CSVDataset(path: tsv, options: CSVOptions(imageRoot: folder.file("root")))
        #expect(set.separator == 9)
        let record = try set.record(at: 0)
        #expect(record.caption == "a \"quoted\" word, kept")
        #expect(record.imageSource == folder.file("root/x.png"))
        let custom = try CSVDataset(path: tsv, options: CSVOptions(imageColumn: "filepath", captionColumn: "id"))
        #expect(try custom.record(at: 0).caption == "7")
        #expect(throws: DataError.self) { try CSVDataset(path: tsv, options: CSVOptions(captionColumn: "nope")) }
    }

    @Test func missingAndCorruptImagesFailWithTheirPath() throws {
        let folder = TemporaryFolder()
        folder.write("broken.jpg", bytes: truncatedJPEG)
        let csv = folder.write("t.csv", text: "path,text\nmissing.png,gone\nbroken.jpg,truncated\n")
        let set = try CSVDataset(path: csv)
        for index in 0..<2 {
            do {
                _ = try set.sample(at: index)
                Issue.record("item \(index) should fail")
            } catch {
                guard case let .image(path, _) = error else { Issue.record("wrong error \(error)"); continue }
                #expect(path == folder.file(index == 0 ? "missing.png" : "broken.jpg"))
            }
        }
    }

    @Test func unterminatedQuoteAndEmptyFile() throws {
        let folder = TemporaryFolder()
        let csv = folder.write("u.csv", text: "image,caption\na.png,\"never closed\n")
        let set = try CSVDataset(path: csv)
        #expect(set.count == 1)
        #expect(throws: DataError.malformedRow(path: csv, line: 2, reason: "unterminated quoted field")) { try set.record(at: 0) }
        let empty = folder.write("e.csv", text: "")
        #expect(throws: DataError.self) { try CSVDataset(path: empty) }
    }

    @Test func crlfLineEndingsAndBlankLines() throws {
        let folder = TemporaryFolder()
        let csv = folder.write("w.csv", text: "image,caption\r\na.png,one\r\n\r\nb.png,two\r\n")
        let set = try CSVDataset(path: csv)
        #expect(set.count == 2)
        #expect(try set.record(at: 1).caption == "two")
        #expect(set.line(of: 1) == 4)
    }

    @Test func writerRoundTrips() throws {
        let folder = TemporaryFolder()
        var writer = CSVWriter(header: ["filepath", "caption"])
        let captions = ["plain", "with, comma", "with \"quote\"", "two\nlines", ""]
        for (i, caption) in captions.enumerated() { writer.append(row: ["\(i).png", caption]) }
        let path = folder.file("w.csv")
        try writer.write(toPath: path)
        let set = try CSVDataset(path: path)
        #expect(try (0..<set.count).map { try set.record(at: $0).caption } == captions)
    }

    @Test func largeFileKeepsOffsetsNotRows() throws {
        // 20,000 rows, scanned in 1 MiB chunks, with records crossing chunk boundaries.
        let folder = TemporaryFolder()
        var writer = CSVWriter(header: ["image", "caption"])
        for i in 0..<20_000 { writer.append(row: ["\(i).png", "caption number \(i), padded \(String(repeating: "x", count: i % 90))"]) }
        let path = folder.file("big.csv")
        try writer.write(toPath: path)
        let set = try CSVDataset(path: path)
        #expect(set.count == 20_000)
        for i in [0, 1, 9_999, 12_345, 19_999] {
            #expect(try set.record(at: i).caption.hasPrefix("caption number \(i),"))
        }
    }
}
