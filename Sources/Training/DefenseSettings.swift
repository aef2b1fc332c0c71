import Foundation

/// The settings of one defence: its config keys with defaults and validation, and its
/// command-line flags with their help.
///
/// A config file gives them nested under the defence's name (`safeclip: {unimodal_epochs: 1}`)
/// or, as earlier versions wrote them, flat at the top level (`unimodal_epochs: 1`). Each key is
/// also a flag of `clipguard train` (or `finetune` for a fine-tuning defence): `--` and the key
/// with `-` for `_` (`--unimodal-epochs 1`); a boolean key is a flag pair (`--memory-bank`,
/// `--no-memory-bank`). Key names are unique across all defences and the common keys
/// (`RegistryTests` checks it), so the flat form stays unambiguous.
///
/// ```swift
/// public struct ShieldSettings: DefenseSettings {
///     public var strength = 0.5
///     public init() {}
///     public static let keys = [SettingKey("shield_strength", help: "How hard the shield pushes (0.5).")]
///     public static var example: ShieldSettings { var s = ShieldSettings(); s.strength = 0.25; return s }
///     enum CodingKeys: String, CodingKey { case strength = "shield_strength" }
///     public func validate(file: String, in config: TrainingConfig) throws(ConfigError) { … }
/// }
/// ```
public protocol DefenseSettings: StrictConfig, Sendable, Equatable {
    /// Every key at its default (the reference setting).
    init()
    /// The config keys in the order `--help` lists them, each with its help line (which states
    /// the default).
    static var keys: [SettingKey] { get }
    /// A value that differs from the defaults in every key and passes validation with the
    /// common defaults (and `init_weights` for a fine-tuning defence): what `RegistryTests`
    /// round-trips through the config file and the command line.
    static var example: Self { get }
    /// Checks the values; the error names the key. `config` is the whole run's configuration
    /// (SafeCLIP's phases must fit in `epochs`).
    func validate(file: String, in config: TrainingConfig) throws(ConfigError)
}

extension DefenseSettings {
    public static var allowedKeys: Set<String> { Set(keys.map(\.name)) }

    /// Whether `other` holds the same settings.
    func isEqual(to other: any DefenseSettings) -> Bool { (other as? Self) == self }

    /// The key's command-line flag.
    static func flag(of key: SettingKey) -> String { "--" + key.name.replacingOccurrences(of: "_", with: "-") }
}

/// One config key of a defence's settings.
public struct SettingKey: Sendable, Equatable {
    /// The key in config files (`unimodal_epochs`).
    public var name: String
    /// The help line of its flag, with the default (`Unimodal warm-up epochs (5).`).
    public var help: String
    /// A boolean: the flags are `--KEY` and `--no-KEY` instead of `--KEY VALUE`.
    public var isBoolean: Bool
    /// The value's placeholder in `--help` (`n`, `x`, `path`, `posterior|similarity`).
    public var placeholder: String

    public init(_ name: String, help: String, boolean: Bool = false, placeholder: String = "value") {
        self.name = name
        self.help = help
        self.isBoolean = boolean
        self.placeholder = placeholder
    }
}

/// Plain CLIP's settings: none.
public struct NoDefenseSettings: DefenseSettings {
    public init() {}
    public static var keys: [SettingKey] { [] }
    public static var example: NoDefenseSettings { NoDefenseSettings() }
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws { _ = encoder.container(keyedBy: AnyCodingKey.self) }
    public func validate(file: String, in config: TrainingConfig) throws(ConfigError) {}
}

/// A defence's settings as a value of `TrainingConfig`: any ``DefenseSettings``, compared by
/// type and value.
struct DefenseSettingsBox: Sendable, Equatable {
    var value: any DefenseSettings
    static func == (a: DefenseSettingsBox, b: DefenseSettingsBox) -> Bool { a.value.isEqual(to: b.value) }
}

/// A coding key made from any string.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension DefenseSettings {
    /// Reads the settings of the defence `name` from a configuration object: from its nested
    /// block (`safeclip: {…}`) when there is one, else from flat keys at the top level (the form
    /// of earlier versions). A key given both ways is an error.
    static func read(from decoder: any Decoder, name: String) throws -> Self {
        let c = try decoder.container(keyedBy: AnyCodingKey.self)
        guard c.contains(AnyCodingKey(name)) else { return try Self(from: decoder) }
        if let both = keys.first(where: { c.contains(AnyCodingKey($0.name)) }) {
            throw DecodingError.dataCorruptedError(
                forKey: AnyCodingKey(both.name), in: c,
                debugDescription: "is given both at the top level and under '\(name):'; give it once (under '\(name):')")
        }
        return try c.decode(Self.self, forKey: AnyCodingKey(name))
    }

    /// Writes the settings as the nested block `name: {…}` (nothing for a defence without keys).
    func write(to encoder: any Encoder, name: String) throws {
        guard !Self.keys.isEmpty else { return }
        var c = encoder.container(keyedBy: AnyCodingKey.self)
        try c.encode(self, forKey: AnyCodingKey(name))
    }

    /// The settings with `key` set from a command-line word (`"2"`, `"similarity"`, `"true"`),
    /// decoded as a config file's value would be: the key's own checks and error messages apply.
    func setting(_ key: SettingKey, to word: String) throws -> Self {
        var object = (try JSONSerialization.jsonObject(with: JSONEncoder().encode(self)) as? [String: Any]) ?? [:]
        func decode(_ value: Any) throws -> Self {
            object[key.name] = value
            return try JSONDecoder().decode(Self.self, from: JSONSerialization.data(withJSONObject: object))
        }
        if key.isBoolean {
            guard let value = ["true": true, "1": true, "false": false, "0": false][word.lowercased()] else {
                throw SettingWordError(reason: "expected true or false, got '\(word)'")
            }
            return try decode(value)
        }
        let scalar: Any = Int(word).map { $0 as Any } ?? Double(word).map { $0 as Any } ?? word
        do {
            return try decode(scalar)
        } catch DecodingError.typeMismatch(let expected, _) where expected == String.self {
            return try decode(word)  // a number given for a text setting (`--filter-model 7`)
        } catch DecodingError.typeMismatch(let expected, _) {
            throw SettingWordError(reason: "expected \(expected == Int.self ? "an integer" : "a number"), got '\(word)'")
        } catch DecodingError.dataCorrupted(let context) {
            throw SettingWordError(reason: context.debugDescription)
        }
    }
}

/// A command-line value a setting does not take.
struct SettingWordError: Error { var reason: String }

/// Settings for every registered defence at once, as an experiment's `training` block gives
/// them (each defence's block, or flat keys as earlier versions wrote them); a row that trains
/// with a defence takes that defence's entry.
///
/// Encoded as one nested block per defence that has keys (`safeclip: {…}, roclip: {…}`).
public struct DefenseSettingsTable: Codable, Sendable, Equatable {
    private var values: [String: DefenseSettingsBox]

    /// Every defence at its defaults.
    public init() {
        values = Dictionary(uniqueKeysWithValues: Defense.allCases.map { ($0.name, DefenseSettingsBox(value: $0.defaultSettings)) })
    }

    /// The settings of `defense`.
    public subscript(defense: Defense) -> any DefenseSettings {
        get { values[defense.name]?.value ?? defense.defaultSettings }
        set {
            precondition(type(of: newValue) == defense.settingsType, "settings of another defence")
            values[defense.name] = DefenseSettingsBox(value: newValue)
        }
    }

    /// The settings of the defence whose settings type is `S` (its defaults if none is registered).
    public subscript<S: DefenseSettings>(type: S.Type) -> S {
        get { Defense.owning(S.self).flatMap { self[$0] as? S } ?? S() }
        set { if let owner = Defense.owning(S.self) { self[owner] = newValue } }
    }

    public init(from decoder: any Decoder) throws {
        values = [:]
        for defense in Defense.allCases {
            values[defense.name] = DefenseSettingsBox(value: try defense.settingsType.read(from: decoder, name: defense.name))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        for defense in Defense.allCases { try self[defense].write(to: encoder, name: defense.name) }
    }
}
