import Testing
@testable import Datasets

@Suite struct EDATests {
    /// A WordNet of three synsets in WNDB format, with the licence-header lines WordNet has.
    func tinyWordNet(_ folder: TemporaryFolder) throws -> WordNet {
        folder.write("wn/data.noun", text: """
              1 This software and database is being provided to you, the LICENSEE, by
              2 Princeton University under the following license.
            00000001 06 n 03 sweater 0 jumper 0 pullover 0 000 | a knitted garment
            00000002 06 n 02 photo 0 photograph 0 000 | a picture
            00000003 06 n 02 ankle_boot 0 bootee 0 000 | a boot

            """)
        folder.write("wn/data.adj", text: "00000004 00 s 02 red(a) 0 crimson 0 000 | colour\n")
        return try WordNet(folder: folder.file("wn"))
    }

    @Test func readsSynsets() throws {
        let folder = TemporaryFolder()
        let wordNet = try tinyWordNet(folder)
        #expect(wordNet.synsetCount == 4)
        #expect(wordNet.synonyms(of: "Sweater") == ["jumper", "pullover"])
        #expect(wordNet.synonyms(of: "bootee") == ["ankle boot"])
        #expect(wordNet.synonyms(of: "red") == ["crimson"])
        #expect(wordNet.synonyms(of: "unknown").isEmpty)
        #expect(throws: DataError.self) { try WordNet(folder: folder.file("nowhere")) }
    }

    @Test func operationsDoWhatTheySay() throws {
        let folder = TemporaryFolder()
        let eda = EDA(wordNet: try tinyWordNet(folder), alpha: 0.1)
        let caption = "a photo of a red sweater"
        var rng = SplitMix64(seed: 3)
        let replaced = eda.apply(.synonymReplacement, to: caption, rng: &rng).split(separator: " ")
        #expect(replaced.count == 6)
        let changed = zip(replaced, caption.split(separator: " ")).filter { $0 != $1 }
        #expect(changed.count == 1)
        #expect(changed.allSatisfy { ["photo", "red", "sweater"].contains(String($0.1)) })

        let inserted = eda.apply(.randomInsertion, to: caption, rng: &rng).split(separator: " ")
        #expect(inserted.count == 7)
        let swapped = eda.apply(.randomSwap, to: caption, rng: &rng)
        #expect(swapped.split(separator: " ").sorted() == caption.split(separator: " ").sorted())
        for seed in 0..<20 {
            var r = SplitMix64(seed: UInt64(seed))
            let deleted = eda.apply(.randomDeletion, to: caption, rng: &r).split(separator: " ")
            #expect(!deleted.isEmpty && deleted.count <= 6)
        }
    }

    @Test func seededAndVaried() throws {
        let folder = TemporaryFolder()
        let eda = EDA(wordNet: try tinyWordNet(folder))
        let caption = "a photo of a red sweater on a table"
        func views(seed: UInt64) -> [String] {
            var rng = SplitMix64(seed: seed)
            return (0..<30).map { _ in eda.augment(caption, rng: &rng) }
        }
        #expect(views(seed: 5) == views(seed: 5))
        #expect(views(seed: 5) != views(seed: 6))
        #expect(Set(views(seed: 5)).count > 5)
    }

    @Test(.enabled(if: pathKind("/usr/share/wordnet/data.noun") == .file))
    func debianWordNet() throws {
        // Adverbs only: the whole database takes long to read in a debug build.
        let wordNet = try WordNet(parts: ["adv"])
        #expect(wordNet.synsetCount > 3_000)
        #expect(wordNet.synonyms(of: "quickly").contains("rapidly"))
    }
}
