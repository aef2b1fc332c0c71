import Foundation

/// Catches the two folders of a prepared set (`clipguard data prepare`) that `--data` is most
/// often given by mistake: `DIR/eval` (the held-out test split: training on it is legal but
/// makes every zero-shot figure on it meaningless) and `DIR/images` (image files only).
enum TrainingDataCheck {
    /// A warning for `--data` naming a prepared evaluation folder, or nil.
    static func warning(data: String) -> String? {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: data, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
        let parent = (data as NSString).deletingLastPathComponent
        let isEvaluationFolder = fm.fileExists(atPath: data + "/labels.csv") && fm.fileExists(atPath: data + "/classes.json")
        guard isEvaluationFolder else { return nil }
        let sibling = (parent.isEmpty ? "." : parent) + "/train.csv"
        return "--data \(data) is a labelled evaluation folder (labels.csv, classes.json) — for a prepared set, its held-out test split: a model trained on it has seen the images its zero-shot accuracy is measured on\(fm.fileExists(atPath: sibling) ? "; the training pairs are \(sibling)" : "")"
    }

    /// Throws for `--data` naming the image folder of a prepared set (it holds no pairs).
    static func check(data: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: data, isDirectory: &isDirectory), isDirectory.boolValue else { return }
        let standardized = (data as NSString).standardizingPath
        let parent = (standardized as NSString).deletingLastPathComponent
        let entries = (try? fm.contentsOfDirectory(atPath: data)) ?? []
        let hasPairs = entries.contains { $0 == "train.csv" || $0 == "labels.csv" || $0.hasSuffix(".tar") || $0.hasSuffix(".csv") || $0.hasSuffix(".tsv") }
        if !hasPairs, fm.fileExists(atPath: parent + "/train.csv") {
            throw TrainingDataError(message:
                "--data \(data) holds image files but no captions (no train.csv); it is the image folder of the prepared set in \(parent): give --data \(parent)/train.csv")
        }
    }
}

struct TrainingDataError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
