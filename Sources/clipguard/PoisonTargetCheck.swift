import Datasets
import Foundation

/// Refuses a `poison --target` that is not a class name of the data's `classes.json` (a
/// misspelt target would write captions such as "this is a sneakers" and fail only at `eval`,
/// after training), unless the user says the target is custom.
enum PoisonTargetCheck {
    /// Throws a one-sentence error naming the known classes (and the near matches) when
    /// `classes.json` beside `data` exists and does not list `target` (case-insensitive).
    static func check(target: String, data: String, customTarget: Bool) throws {
        guard !customTarget else { return }
        let classesPath = ((data as NSString).deletingLastPathComponent as NSString).appendingPathComponent("classes.json")
        guard FileManager.default.fileExists(atPath: classesPath),
            let index = try? ClassIndex.read(fromPath: classesPath), !index.classes.isEmpty
        else { return }
        let wanted = target.trimmingCharacters(in: .whitespaces).lowercased()
        if index.classes.contains(where: { $0.lowercased() == wanted }) { return }
        throw PoisonTargetError(message:
            "--target '\(target)' is not a class of \(classesPath)\(didYouMean(target, in: index.classes)) (classes: \(index.classes.joined(separator: ", "))); pass --custom-target to poison with a caption word that is not one of its classes")
    }
}

struct PoisonTargetError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
