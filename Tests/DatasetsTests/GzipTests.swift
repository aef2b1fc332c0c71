import Testing
@testable import Datasets

@Suite struct GzipTests {
    let text = Array(String(repeating: "Fashion-MNIST is gzip'd IDX. ", count: 500).utf8)

    @Test func roundTripsGzipAndZlib() throws {
        #expect(try gunzip(zlibDeflate(text, gzip: true)) == text)
        #expect(try gunzip(zlibDeflate(text)) == text)
    }

    @Test func concatenatedMembersAreJoined() throws {
        let both = try zlibDeflate(Array("first ".utf8), gzip: true) + zlibDeflate(Array("second".utf8), gzip: true)
        #expect(try gunzip(both) == Array("first second".utf8))
    }

    @Test func truncatedAndCorruptInputFail() throws {
        let packed = try zlibDeflate(text, gzip: true)
        #expect(throws: CompressionFailure.self) { try gunzip(Array(packed.prefix(packed.count / 2))) }
        var corrupt = packed
        corrupt[12] ^= 0xFF
        corrupt[13] ^= 0xFF
        #expect(throws: CompressionFailure.self) { try gunzip(corrupt) }
        #expect(throws: CompressionFailure.self) { try gunzip([]) }
    }
}
