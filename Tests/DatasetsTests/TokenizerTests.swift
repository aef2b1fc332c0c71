import Foundation
import Testing
@testable import Datasets

/// One line of Tests/Fixtures/tokenizer/corpus.jsonl (written by Scripts/make_tokenizer_fixtures.py).
private struct CorpusRecord: Decodable {
    let text: String
    /// open_clip `encode(text)`.
    let ids: [Int32]
    /// open_clip row for context 77, unpadded.
    let eot: [Int32]
    /// OpenAI simple_tokenizer, cut to 77 without EOT, unpadded.
    let plain: [Int32]
    /// ftfy's mojibake repair (`fix_encoding`) changes this text.
    let mojibake: Bool?
    /// OpenAI's dialect gives other ids than open_clip's for this text.
    let openai: Bool?
}

private enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizer")

    static func corpus() throws -> [CorpusRecord] {
        let data = try Data(contentsOf: directory.appendingPathComponent("corpus.jsonl"))
        let decoder = JSONDecoder()
        return try data.split(separator: UInt8(ascii: "\n")).map { try decoder.decode(CorpusRecord.self, from: Data($0)) }
    }
}

private func padded(_ ids: [Int32], to length: Int = 77) -> [Int32] { ids + [Int32](repeating: 0, count: length - ids.count) }

private func escaped(_ s: String) -> String { s.unicodeScalars.map { $0.escaped(asASCII: true) }.joined() }

@Suite struct TokenizerTests {
    static let openCLIP = Result { try CLIPTokenizer.load() }
    static let openAI = Result { try CLIPTokenizer.load(dialect: .openAI) }

    @Test func vocabularyShape() throws {
        let tok = try Self.openCLIP.get()
        #expect(tok.decode([CLIPTokenizer.startOfText, CLIPTokenizer.endOfText]) == "<start_of_text><end_of_text>")
        #expect(try Self.openAI.get().decode([CLIPTokenizer.endOfText]) == "<|endoftext|>")
        // Last merge of the file is "jeky ll</w>" (rank 48893, id 49405).
        #expect(tok.decode([49405]) == "jekyll ")
        #expect(tok.encode("jekyll") == [49405])
        #expect(tok.tokenize("a photo of a dog.").prefix(8) == [49406, 320, 1125, 539, 320, 1929, 269, 49407])
    }

    /// Every corpus string: `encode` and the 77-id `eot` row equal open_clip's.
    @Test func corpusMatchesOpenCLIP() throws {
        let tok = try Self.openCLIP.get()
        let corpus = try Fixtures.corpus()
        #expect(corpus.count >= 5000)
        var checkedMojibake = 0
        for record in corpus {
            #expect(tok.encode(record.text) == record.ids, "encode \(escaped(record.text))")
            #expect(tok.tokenize(record.text) == padded(record.eot), "eot row \(escaped(record.text))")
            if record.mojibake == true { checkedMojibake += 1 }
        }
        #expect(checkedMojibake >= 500)
    }

    /// Every corpus string: OpenAI's dialect with plain truncation equals OpenAI's simple_tokenizer.
    @Test func corpusMatchesOpenAIPlain() throws {
        let openAI = try Self.openAI.get(), openCLIP = try Self.openCLIP.get()
        var compared = 0
        for record in try Fixtures.corpus() {
            #expect(openAI.tokenize(record.text, truncation: .plain) == padded(record.plain), "plain \(escaped(record.text))")
            if record.openai != true {
                #expect(openCLIP.tokenize(record.text, truncation: .plain) == padded(record.plain))
            }
            compared += 1
        }
        #expect(compared >= 6000)
    }

    @Test func batchEqualsRows() throws {
        let tok = try Self.openCLIP.get()
        let texts = try Fixtures.corpus().prefix(3000).map(\.text)
        for (length, truncation) in [(77, CLIPTokenizer.Truncation.eot), (16, .plain), (5, .eot)] {
            let flat = tok.tokenize(batch: texts, contextLength: length, truncation: truncation)
            #expect(flat.count == texts.count * length)
            for (i, text) in texts.enumerated() where i % 7 == 0 {
                let row = Array(flat[(i * length)..<((i + 1) * length)])
                #expect(row == tok.tokenize(text, contextLength: length, truncation: truncation))
            }
        }
        #expect(tok.tokenize(batch: []).isEmpty)
    }

    @Test func truncationModes() throws {
        let tok = try Self.openCLIP.get()
        let text = "one two three four five six seven"
        let ids = tok.encode(text)
        #expect(ids.count == 7)
        #expect(tok.tokenize(text, contextLength: 5, truncation: .eot) == [49406] + ids.prefix(3) + [49407])
        #expect(tok.tokenize(text, contextLength: 5, truncation: .plain) == [49406] + ids.prefix(4))
        #expect(tok.tokenize(text, contextLength: 9, truncation: .plain) == [49406] + ids + [49407])
        #expect(tok.tokenize(text, contextLength: 10) == [49406] + ids + [49407, 0])
        #expect(tok.tokenize("", contextLength: 3) == [49406, 49407, 0])
        #expect(tok.tokenize(text, contextLength: 1, truncation: .eot) == [49407])
    }

    /// Properties over the corpus: rows have the context length, start with SOT, and in `eot`
    /// mode end with EOT followed only by zeros.
    @Test func rowInvariants() throws {
        let tok = try Self.openCLIP.get()
        for record in try Fixtures.corpus().prefix(2000) {
            let row = tok.tokenize(record.text)
            #expect(row.count == 77 && row[0] == CLIPTokenizer.startOfText)
            let end = try #require(row.lastIndex(of: CLIPTokenizer.endOfText))
            #expect(row[(end + 1)...].allSatisfy { $0 == 0 })
        }
    }

    @Test func decodeInvertsEncode() throws {
        let tok = try Self.openCLIP.get()
        #expect(tok.decode(tok.encode("A Photo of a DOG.")) == "a photo of a dog . ")
        #expect(tok.decode(tok.encode("café 東京 😀")) == "café 東京 😀 ")
    }

    @Test func mojibakeRepair() throws {
        let tok = try Self.openCLIP.get()
        #expect(tok.encode("cafÃ©") == tok.encode("café"))
        #expect(tok.encode("donâ€™t") == tok.encode("don't"))
        #expect(tok.encode("voilÃ le travail") == tok.encode("voilà le travail"))
        #expect(tok.encode("æ—¥æœ¬") == tok.encode("日本"))
        // The heuristic's prefilter is in use, and plain accented/CJK text is not "bad".
        #expect(!MojibakeData.shared.witness.isEmpty)
        #expect(!MojibakeData.shared.isBad(Array("naïve café 東京 — “quotes”".unicodeScalars)[...]))
        #expect(MojibakeData.shared.isBad(Array("cafÃ©".unicodeScalars)[...]))
    }

    @Test func cleaningDetails() throws {
        let tok = try Self.openCLIP.get()
        // Final sigma (Python str.lower), ligatures, fullwidth, curly quotes, entities, controls.
        #expect(tok.encode("ΟΔΟΣ") == tok.encode("οδος"))
        #expect(tok.encode("ΟΔΟΣ") != tok.encode("οδοσ"))
        #expect(tok.encode("ﬁsh") == tok.encode("fish"))
        #expect(tok.encode("ＬＯＵＤ") == tok.encode("loud"))
        #expect(tok.encode("it’s") == tok.encode("it's"))
        #expect(tok.encode("&amp;amp; x") == tok.encode("& x"))
        #expect(tok.encode("P&EACUTE;REZ") == tok.encode("pérez"))
        #expect(tok.encode("a\u{0}b\u{1B}[31mc") == tok.encode("abc"))
        #expect(tok.encode("e\u{301}") == tok.encode("é"))
        #expect(tok.encode("\u{AC54}\u{11AC}") == tok.encode("\u{AC59}"))  // Hangul LV + T
        #expect(tok.encode("  many \t\n spaces\u{3000}here ") == tok.encode("many spaces here"))
        #expect(tok.encode("<start_of_text>") == [CLIPTokenizer.startOfText])
        #expect(try Self.openAI.get().encode("<|endoftext|>") == [CLIPTokenizer.endOfText])
    }

    @Test func errorsNameTheFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("none.txt.gz").path
        #expect(throws: TokenizerError.self) { try CLIPTokenizer(vocabularyGzipAt: missing) }
        do {
            _ = try CLIPTokenizer(vocabularyGzipAt: missing)
        } catch {
            #expect("\(error)".contains(missing))
        }
        let short = dir.appendingPathComponent("short.txt").path
        try "#version: 0.2\na b\n".write(toFile: short, atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.malformedVocabulary(path: short, line: 3, reason: "expected 48894 merges after the header")) {
            try CLIPTokenizer(vocabularyGzipAt: short)
        }
    }

    @Test func concurrentEncodeIsConsistent() async throws {
        let tok = try Self.openCLIP.get()
        let texts = try Fixtures.corpus().prefix(400).map(\.text)
        let expected = texts.map { tok.encode($0) }
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask { texts.map { tok.encode($0) } == expected }
            }
            for await same in group { #expect(same) }
        }
    }

    @Test func assetLocation() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("assets-\(UUID().uuidString)")
        let nested = dir.appendingPathComponent("a/b")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let name = CLIPTokenizer.vocabularyFileName
        // Nothing above the temporary folder: the error says what to do.
        #expect(throws: DataError.self) {
            try AssetLocator.path(of: name, environment: [:], searchingUpFrom: [nested.path])
        }
        do {
            _ = try AssetLocator.path(of: name, environment: [:], searchingUpFrom: [nested.path])
        } catch {
            #expect("\(error)".contains("make setup"))
        }
        // A .deps/assets two levels up is found; CLIPGUARD_ASSETS wins and is the only place looked at.
        let assets = dir.appendingPathComponent(".deps/assets")
        try FileManager.default.createDirectory(at: assets, withIntermediateDirectories: true)
        try Data().write(to: assets.appendingPathComponent(name))
        #expect(try AssetLocator.path(of: name, environment: [:], searchingUpFrom: [nested.path]) == assets.appendingPathComponent(name).path)
        #expect(throws: DataError.self) {
            try AssetLocator.path(of: name, environment: ["CLIPGUARD_ASSETS": nested.path], searchingUpFrom: [nested.path])
        }
        #expect(try AssetLocator.path(of: name, environment: ["CLIPGUARD_ASSETS": assets.path], searchingUpFrom: []) == assets.appendingPathComponent(name).path)
    }

    /// The ASCII shortcut cleans exactly like the full pipeline wherever it applies.
    @Test func asciiShortcutAgreesWithFullCleaning() throws {
        let tok = try Self.openCLIP.get()
        var rng = SplitMix64(seed: 77)
        let alphabet = Array("aZ09 '!<>_-.,\t\n\r\u{0C}&;#\u{0B}\u{1C}\u{7F}sTlLdDmMvVrReE".unicodeScalars)
        var texts = try Fixtures.corpus().map(\.text)
        for _ in 0..<3000 {
            let n = Int(rng.next() % 24)
            texts.append(String(String.UnicodeScalarView((0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })))
        }
        var shortcuts = 0
        for text in texts {
            guard let fast = tok.model.asciiFastClean(text) else { continue }
            shortcuts += 1
            #expect(fast == TextCleaning.clean(text, whitespace: .pythonSplit), "\(escaped(text))")
            #expect(fast == TextCleaning.clean(text, whitespace: .regexSpace), "\(escaped(text))")
        }
        #expect(shortcuts > 3000)
    }
}
