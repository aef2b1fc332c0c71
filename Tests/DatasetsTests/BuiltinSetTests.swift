import Foundation
import Testing
@testable import Datasets

@Suite struct BuiltinSetTests {
    @Test func captionTemplatesAreDisjointFromZeroShotPrompts() {
        let prompts = Set(ZeroShotMetadata.fashionMNISTTemplates.map { $0.lowercased() })
        for template in FashionMNISTCaptions.captionTemplates {
            let asPrompt = template.replacingOccurrences(of: "{a}", with: "a")
            #expect(!prompts.contains(asPrompt.lowercased()) && !prompts.contains(asPrompt.lowercased() + "."))
        }
        // Every class's words include its zero-shot class name.
        for (label, name) in ZeroShotMetadata.fashionMNISTClassNames.enumerated() {
            #expect(FashionMNISTCaptions.synonyms[label].first == name)
        }
    }

    @Test func captionsVaryWithinAClass() {
        var rng = SplitMix64(seed: 1)
        let captions = (0..<200).map { _ in FashionMNISTCaptions.caption(label: 2, rng: &rng) }
        #expect(Set(captions).count > 60)
        #expect(captions.allSatisfy { caption in FashionMNISTCaptions.synonyms[2].contains { caption.contains($0) } })
        #expect(!captions.contains { $0.contains("{") })
        #expect(!captions.contains { $0.contains(" a ankle") || $0.hasPrefix("a ankle") })
    }

    @Test func preparesFashionMNISTInTheUserLayout() throws {
        let source = TemporaryFolder()
        try writeTinyFashionMNIST(source, prefix: "train", count: 30)
        try writeTinyFashionMNIST(source, prefix: "t10k", count: 12)
        let out = TemporaryFolder()
        let summary = try BuiltinSets.prepareFashionMNIST(folder: out.file("fm"), limit: 20, evaluationLimit: 10, seed: 4,
                                                          sourceFolder: source.path)
        #expect(summary.trainRows == 20 && summary.evaluationRows == 10)
        let train = try CSVDataset(path: out.file("fm/train.csv"))
        #expect(train.count == 20 && train.hasLabels)
        let original = try FashionMNISTDataset.standard(train: true, folder: source.path)
        for index in [0, 7, 19] {
            let fields = try train.fields(at: index)
            let sourceIndex = try #require(Int(fields[3]))
            let sample = try train.sample(at: index)
            #expect(sample.label == sourceIndex % 10)
            #expect(sample.image == original.data.image(at: sourceIndex))
        }
        let evaluation = try ImageFolderDataset(path: out.file("fm/eval"))
        #expect(evaluation.count == 10)
        #expect(evaluation.classNames == ZeroShotMetadata.fashionMNISTClassNames)
        #expect(evaluation.templates == ZeroShotMetadata.fashionMNISTTemplates)
        let index = try ClassIndex.read(fromPath: out.file("fm/classes.json"))
        #expect(index.captionTemplates == FashionMNISTCaptions.captionTemplates)
        #expect(inspectDataset(evaluation).readable == 10)
        // Same seed, same set.
        let again = try BuiltinSets.prepareFashionMNIST(folder: out.file("fm2"), limit: 20, evaluationLimit: 10, seed: 4,
                                                        sourceFolder: source.path)
        #expect(again.trainRows == 20)
        #expect(try String(contentsOfFile: out.file("fm/train.csv"), encoding: .utf8)
                == String(contentsOfFile: out.file("fm2/train.csv"), encoding: .utf8))
    }

    @Test func missingFashionMNISTNamesThePackage() {
        do {
            _ = try BuiltinSets.prepareFashionMNIST(folder: "/tmp/unused", sourceFolder: "/nonexistent")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("dataset-fashion-mnist"))
        }
    }

    static func svg(title: String, keywords: [String], creator: String = "someone") -> String {
        """
        <?xml version="1.0"?>
        <svg xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
          <metadata><rdf:RDF><cc:Work rdf:about="">
            <dc:title>\(title)</dc:title>
            <dc:description>drawn by hand</dc:description>
            <dc:subject><rdf:Bag>\(keywords.map { "<rdf:li>\($0)</rdf:li>" }.joined())</rdf:Bag></dc:subject>
            <dc:creator><cc:Agent><dc:title>\(creator)</dc:title></cc:Agent></dc:creator>
          </cc:Work></rdf:RDF></metadata>
          <rect width="10" height="10"/>
        </svg>
        """
    }

    @Test func parsesOpenClipArtMetadata() {
        let metadata = OpenClipArtMetadata(svg: Self.svg(title: "Red  apple &amp; leaf", keywords: ["fruit", "clip art", "apple", "food"]))
        #expect(metadata.title == "Red apple & leaf")
        #expect(metadata.keywords == ["fruit", "clip art", "apple", "food"])
        #expect(metadata.description == "drawn by hand")
        #expect(metadata.caption() == "Red apple & leaf, fruit, food")
        let creatorFirst = OpenClipArtMetadata(svg: """
            <svg><dc:creator><cc:Agent><dc:title>bob</dc:title></cc:Agent></dc:creator><dc:title>Sailing boat</dc:title></svg>
            """)
        #expect(creatorFirst.title == "Sailing boat")
        let prefixed = OpenClipArtMetadata(title: "Clipart by Nicu Buculei - piggy_bank", keywords: ["hash(0x874e7bc)", "money", "mapsym", "Piggy", "\u{E3}\u{82}\u{E2}\u{BA}"], description: "")
        #expect(prefixed.caption() == "piggy bank, money")  // "Piggy" is already in the title
        for junk in ["", "Untitled", "untitled-3", "drawing-12", "image123", "Layer 1", "foo.svg", "12", "ab",
                     "Lemon SVG theme", "Part of the Flat Icon Collection (Wed Aug 25 23:29:46 2004)", "blueberry - iconset",
                     "Various Cliparts", "Clipart by Nicu Buculei - fc23"] {
            #expect(OpenClipArtMetadata(title: junk, keywords: ["x"], description: "").caption() == nil, "\(junk)")
        }
    }

    @Test func preparesOpenClipArtDroppingJunkAndDuplicates() throws {
        let root = TemporaryFolder()
        let titles = ["Blue bicycle", "Untitled", "Green tree", "Green tree copy", "Old lamp", "card", "card", "card"]
        for (i, title) in titles.enumerated() {
            // Item 3's PNG is byte-identical to item 2's: a duplicate across categories.
            let seed = i == 3 ? 2 : i
            root.writePNG("png/cat\(i % 2)/item\(i).png", seed: seed)
            root.write("svg/cat\(i % 2)/item\(i).svg", text: Self.svg(title: title, keywords: ["kw\(i)"]))
        }
        root.writePNG("png/cat0/orphan.png", seed: 9)
        let out = TemporaryFolder()
        let summary = try BuiltinSets.prepareOpenClipArt(folder: out.file("oca"), seed: 1, root: root.path, maxTitleRepeats: 2)
        #expect(summary.trainRows + summary.validationRows == 3)
        #expect(summary.dropped == ["junk or missing title": 1, "duplicate image": 1, "no SVG with metadata": 1,
                                    "collection title shared by over 2 drawings": 3])
        let set = try CSVDataset(path: out.file("oca/train.csv"))
        let captions = Set(try (0..<set.count).map { try set.sample(at: $0).caption })
        #expect(captions == ["Blue bicycle, kw0", "Green tree, kw2", "Old lamp, kw4"])
        #expect(throws: DataError.self) { try BuiltinSets.prepareOpenClipArt(folder: out.file("x"), root: out.file("none")) }
    }
}
