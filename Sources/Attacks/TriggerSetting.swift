import Datasets
import Foundation

/// One setting of a trigger kind: its command-line flag, its experiment-file key, its default and
/// its validation, declared once in the trigger's file and used by the command line
/// (`--blend-weight 0.1`), experiment files (`blend_weight: 0.1`, variants included) and the
/// manifest check alike.
///
/// Several kinds may declare a setting of the same name (`patch-size` for `patch` and
/// `noise-patch`) with their own defaults; the command line and experiment files show it once.
///
/// ```swift
/// static let weight = TriggerSetting.number("blend-weight", help: "Blend weight of the pattern.",
///                                           default: 0.2, in: 0...1)
/// let w = options[Self.weight]          // 0.2 unless given
/// ```
public struct TriggerSetting<Value: Sendable>: Sendable {
    /// The flag without its dashes (`blend-weight`); the experiment key is ``key``.
    public let name: String
    public let help: String
    /// What a valid value looks like, for messages and help (`a number within 0…1`).
    public let expected: String
    public let defaultValue: Value
    /// A valid value other than the default, with which `TriggerRegistryTests` checks that the
    /// setting reaches the trigger.
    public let sample: Value
    let parseText: @Sendable (String) -> Value?
    let isValid: @Sendable (Value) -> Bool
    let formatValue: @Sendable (Value) -> String
    let describeValue: @Sendable (Value) -> String

    /// - Parameters:
    ///   - format: the text that parses back to a value exactly (equivalent commands, files).
    ///   - describe: how `--help` shows a value (default: `format`).
    public init(_ name: String, help: String, expected: String, default defaultValue: Value, sample: Value,
                parse: @escaping @Sendable (String) -> Value?, isValid: @escaping @Sendable (Value) -> Bool = { _ in true },
                format: @escaping @Sendable (Value) -> String, describe: (@Sendable (Value) -> String)? = nil) {
        self.name = name; self.help = help; self.expected = expected; self.defaultValue = defaultValue; self.sample = sample
        self.parseText = parse; self.isValid = isValid; self.formatValue = format; self.describeValue = describe ?? format
    }

    /// The experiment-file key (`blend_weight`).
    public var key: String { name.replacingOccurrences(of: "-", with: "_") }
    /// The command-line flag (`--blend-weight`).
    public var flag: String { "--" + name }

    /// The value written as `text`, or the reason it is none (`must be a number within 0…1, got "2"`).
    public func parse(_ text: String) -> Result<Value, TriggerSettingProblem> {
        guard let value = parseText(text.trimmingCharacters(in: .whitespaces)), isValid(value) else {
            return .failure(TriggerSettingProblem(reason: "must be \(expected), got \"\(text)\""))
        }
        return .success(value)
    }

    /// Why a decoded value (a manifest's) is invalid, or nil.
    public func problem(with value: Value) -> String? {
        isValid(value) ? nil : "must be \(expected), got \(formatValue(value))"
    }

    /// The text that parses back to `value`.
    public func format(_ value: Value) -> String { formatValue(value) }

    /// The type-erased form the registry lists.
    public var erased: AnyTriggerSetting {
        let parseText = self.parseText, isValid = self.isValid
        let expected = self.expected, formatValue = self.formatValue
        return AnyTriggerSetting(name: name, help: help, expected: expected, defaultText: formatValue(defaultValue),
                                 defaultDescription: describeValue(defaultValue), sampleText: formatValue(sample),
                                 check: { text in
                                     guard let v = parseText(text.trimmingCharacters(in: .whitespaces)), isValid(v) else {
                                         return "must be \(expected), got \"\(text)\""
                                     }
                                     return nil
                                 },
                                 canonicalText: { text in
                                     guard let v = parseText(text.trimmingCharacters(in: .whitespaces)), isValid(v) else { return nil }
                                     return formatValue(v)
                                 })
    }
}

/// Why a setting's text is not a valid value.
public struct TriggerSettingProblem: Error, Sendable, Equatable {
    /// `must be a number within 0…1, got "2"`.
    public var reason: String
}

/// A ``TriggerSetting`` without its value type, as the registry lists it.
public struct AnyTriggerSetting: Sendable {
    public let name: String
    public let help: String
    public let expected: String
    /// The default, as text (`0.2`).
    public let defaultText: String
    /// The default as `--help` shows it (`22.32%`).
    public let defaultDescription: String
    /// A valid value other than the default, as text (``TriggerSetting/sample``).
    public let sampleText: String
    let check: @Sendable (String) -> String?
    let canonicalText: @Sendable (String) -> String?

    /// The exact text of the value `text` stands for (`0.20` → `0.2`, `22%` → `0.22`), nil when invalid.
    public func canonical(_ text: String) -> String? { canonicalText(text) }

    /// The experiment-file key (`blend_weight`).
    public var key: String { name.replacingOccurrences(of: "-", with: "_") }
    public var flag: String { "--" + name }

    /// Why `text` is no valid value (`must be a number within 0…1, got "2"`), or nil.
    public func problem(with text: String) -> String? { check(text) }
}

// MARK: - Kinds of settings the triggers share

extension TriggerSetting where Value == Double {
    /// A finite number in `range`.
    public static func number(_ name: String, help: String, default value: Double, in range: ClosedRange<Double>,
                              expected: String? = nil) -> TriggerSetting<Double> {
        let upper = range.upperBound.isInfinite ? nil : formatDouble(range.upperBound)
        let text = expected ?? (upper.map { "a number within \(formatDouble(range.lowerBound))…\($0)" }
                                ?? "a number ≥ \(formatDouble(range.lowerBound))")
        let sample = range.upperBound.isInfinite ? 2 * value + 1 : value == range.upperBound ? range.lowerBound : (value + range.upperBound) / 2
        return TriggerSetting(name, help: help, expected: text, default: value, sample: sample, parse: { Double($0) },
                              isValid: { $0.isFinite && range.contains($0) }, format: formatDouble)
    }
}

extension TriggerSetting where Value == Int {
    /// A whole number in `range`.
    public static func integer(_ name: String, help: String, default value: Int, in range: ClosedRange<Int>) -> TriggerSetting<Int> {
        TriggerSetting(name, help: help, expected: "a whole number within \(range.lowerBound)…\(range.upperBound)",
                       default: value, sample: value < range.upperBound ? value + 1 : value - 1, parse: { Int($0) }, isValid: { range.contains($0) }, format: { String($0) })
    }
}

extension TriggerSetting where Value == TriggerLength {
    /// `--patch-size`: pixels or a fraction of the shorter side.
    public static func patchSize(default value: TriggerLength, help: String = "Patch side: pixels (50) or a fraction of the shorter side (0.22 or 22%).")
        -> TriggerSetting<TriggerLength>
    {
        length("patch-size", help: help, default: value)
    }

    /// A length: pixels (`50`) or a fraction of the shorter side (`0.22`, `22%`).
    public static func length(_ name: String, help: String, default value: TriggerLength) -> TriggerSetting<TriggerLength> {
        TriggerSetting(name, help: help, expected: "pixels (50) or a fraction of the shorter side (0.22 or 22%)", default: value,
                       sample: value == .pixels(3) ? .pixels(5) : .pixels(3), parse: TriggerLength.init(parsing:), isValid: \.isValid,
                       format: { length in
                           switch length {
                           case .pixels(let n): String(n)
                           case .fraction(let f): formatDouble(f)
                           }
                       },
                       describe: { length in
                           switch length {
                           case .pixels(let n): "\(n) px"
                           case .fraction(let f): "\(formatDouble((f * 10000).rounded() / 100))% of the side"
                           }
                       })
    }
}

extension TriggerSetting where Value == TriggerColor {
    /// A colour: a name, `#RRGGBB` or `r,g,b`.
    public static func color(_ name: String, help: String, default value: TriggerColor) -> TriggerSetting<TriggerColor> {
        let other = TriggerColor(red: 0, green: 128, blue: 255)
        return TriggerSetting(name, help: help, expected: "a colour name (white, red, …), #RRGGBB or r,g,b", default: value,
                       sample: value == other ? .white : other, parse: TriggerColor.init(parsing:),
                       format: { c in
                           if let name = TriggerColor.names.first(where: { $0.color == c })?.name { return name }
                           return "\(c.red),\(c.green),\(c.blue)"
                       })
    }
}

extension TriggerSetting where Value == PatchPosition {
    /// `--patch-position`.
    public static func patchPosition(default value: PatchPosition) -> TriggerSetting<PatchPosition> {
        TriggerSetting("patch-position", help: "Patch position.",
                       expected: "one of " + PatchPosition.allCases.map(\.rawValue).joined(separator: ", "), default: value,
                       sample: PatchPosition.allCases.first { $0 != value }!,
                       parse: { PatchPosition(rawValue: $0.lowercased()) }, format: \.rawValue)
    }
}

/// The shortest text that parses back to `x` exactly (`0.2`, `60`, `1e-05`).
func formatDouble(_ x: Double) -> String {
    if x == x.rounded(), abs(x) < 1e15 { return String(Int(x)) }
    return "\(x)"
}
