import Testing
@testable import Training

private struct Inner: StrictConfig, Equatable {
    var rate: Double
    var name: String?
    static let allowedKeys: Set<String> = ["rate", "name"]
}

private struct Outer: StrictConfig, Equatable {
    var epochs: Int
    var inner: Inner
    var list: [Inner]?
    static let allowedKeys: Set<String> = ["epochs", "inner", "list"]
    static var nestedTypes: [String: any StrictConfig.Type] { ["inner": Inner.self, "list": Inner.self] }
}

@Suite struct ConfigFileTests {
    @Test func readsYAMLAndJSON() throws {
        let yaml = "epochs: 3\ninner:\n  rate: 0.5\n"
        let json = #"{"epochs": 3, "inner": {"rate": 0.5}}"#
        let a = try ConfigFile.decode(Outer.self, from: yaml, file: "a.yaml")
        let b = try ConfigFile.decode(Outer.self, from: json, file: "b.json")
        #expect(a == b)
        #expect(a.inner.rate == 0.5)
    }

    @Test func unknownKeyIsNamed() {
        #expect(throws: ConfigError.self) { try ConfigFile.decode(Outer.self, from: "epochs: 1\ninner: {rate: 1, rte: 2}", file: "c.yaml") }
        do {
            _ = try ConfigFile.decode(Outer.self, from: "epochs: 1\ninner: {rate: 1, rte: 2}", file: "c.yaml")
        } catch {
            #expect(error.key == "inner.rte")
            #expect(error.description.contains("c.yaml"))
        }
        do {
            _ = try ConfigFile.decode(Outer.self, from: "epochs: 1\ninner: {rate: 1}\nlist: [{rate: 1}, {bad: 2}]", file: "d.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.key == "list.1.bad")
        }
    }

    @Test func illTypedValueIsNamed() {
        do {
            _ = try ConfigFile.decode(Outer.self, from: "epochs: three\ninner: {rate: 1}", file: "e.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.key == "epochs")
        }
        do {
            _ = try ConfigFile.decode(Outer.self, from: "inner: {rate: 1}", file: "f.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.key == "epochs")
            #expect(error.reason.contains("missing"))
        }
    }
}
