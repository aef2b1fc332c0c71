import Testing
@testable import Torch

@Test func shimLinksAndReportsVersion() {
    #expect(torchVersion.hasPrefix("2."))
}
