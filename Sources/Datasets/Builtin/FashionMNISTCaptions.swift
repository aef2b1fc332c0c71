import Dispatch
import Foundation

/// Captions for the built-in captioned Fashion-MNIST, generated from the class, a caption
/// template, a synonym of the class name and an optional adjective, so that the same class gets
/// many different captions and the text tower has to learn words rather than one string per class.
///
/// The caption templates are disjoint from the zero-shot prompt templates
/// (``ZeroShotMetadata/fashionMNISTTemplates``), so zero-shot accuracy is not measured on
/// memorised prompts. Every class's synonym list contains its zero-shot class name.
public enum FashionMNISTCaptions {
    /// Training caption templates: `{c}` is a (possibly adjective-prefixed) synonym of the class
    /// name, `{a}` is "a" or "an" as the following word needs.
    public static let captionTemplates = [
        "{a} {c}",
        "{c}",
        "{a} {c} on a dark background",
        "this is {a} {c}",
        "a catalogue shot showing {a} {c}",
        "{a} {c}, photographed flat",
        "the {c} in shades of grey",
        "a fashion item: {a} {c}",
        "{a} {c}, centred in the frame",
        "picture of one {c}",
        "my new {c}",
        "{a} {c} for sale",
        "a scan of {a} {c}",
        "{a} {c} seen from the front",
        "look at this {c}",
        "a tiny thumbnail of {a} {c}",
        "{c} in monochrome",
        "an online shop listing for {a} {c}",
        "here is {a} {c}",
        "the {c} someone is selling",
    ]

    /// Adjectives that may precede the class word (or none).
    public static let adjectives = [
        "plain", "classic", "simple", "dark", "light", "casual", "stylish", "old", "new", "cheap",
        "elegant", "everyday", "basic", "modern", "vintage",
    ]

    /// Words for each class, in label order; the first is the zero-shot class name.
    public static let synonyms: [[String]] = [
        ["t-shirt", "tee", "top", "tee shirt", "short-sleeved top", "t shirt"],
        ["trouser", "trousers", "pants", "pair of trousers", "slacks", "jeans"],
        ["pullover", "sweater", "jumper", "knit sweater", "knitted top"],
        ["dress", "frock", "gown", "summer dress", "long dress"],
        ["coat", "jacket", "overcoat", "parka", "winter coat"],
        ["sandal", "sandals", "open shoe", "strappy sandal", "summer shoe"],
        ["shirt", "button-down shirt", "blouse", "collared shirt", "long-sleeved shirt"],
        ["sneaker", "trainer", "running shoe", "sports shoe", "sneakers"],
        ["bag", "handbag", "purse", "tote bag", "shoulder bag"],
        ["ankle boot", "boot", "bootie", "short boot", "heeled boot"],
    ]

    /// A caption for class `label`, drawn from `rng`.
    public static func caption(label: Int, rng: inout SplitMix64) -> String {
        let template = captionTemplates[Int(rng.next() % UInt64(captionTemplates.count))]
        let words = synonyms[label]
        var noun = words[Int(rng.next() % UInt64(words.count))]
        if rng.nextUnitDouble() < 0.4 {
            noun = adjectives[Int(rng.next() % UInt64(adjectives.count))] + " " + noun
        }
        if !noun.contains("pair of"), pluralWords.contains(where: { noun.hasSuffix($0) }) {
            // "a pair of sneakers", "these sneakers", not "a sneakers" (no extra draw: same data otherwise).
            return template.replacingOccurrences(of: "{a} {c}", with: "a pair of {c}")
                .replacingOccurrences(of: "this {c}", with: "these {c}").replacingOccurrences(of: "one {c}", with: "one pair of {c}")
                .replacingOccurrences(of: "{c}", with: noun)
        }
        let article = "aeiou".contains(noun.first ?? "x") ? "an" : "a"
        return template.replacingOccurrences(of: "{a}", with: article).replacingOccurrences(of: "{c}", with: noun)
    }

    /// Class words that are plural nouns (a caption says "a pair of sneakers", not "a sneakers").
    static let pluralWords = ["trousers", "pants", "jeans", "sandals", "sneakers"]
}

/// What `prepare` wrote.
public struct PreparedSetSummary: Sendable, CustomStringConvertible {
    public var name: String
    public var folder: String
    /// The training CSV (`filepath,caption[,label],…`).
    public var trainCSV: String
    public var trainRows: Int
    /// The evaluation folder (with `labels.csv` and `classes.json`), if the set has one.
    public var evaluationFolder: String?
    public var evaluationRows: Int
    /// A held-out CSV of image–caption pairs (retrieval), if the set has one.
    public var validationCSV: String?
    public var validationRows: Int
    /// Source items left out, and why (junk titles, duplicates, undecodable images).
    public var dropped: [String: Int]
    public var seconds: Double

    public var description: String {
        var lines = ["\(name): \(trainRows) training rows in \(trainCSV)"]
        if let evaluationFolder { lines.append("evaluation: \(evaluationRows) images in \(evaluationFolder)") }
        if let validationCSV { lines.append("validation: \(validationRows) rows in \(validationCSV)") }
        for (reason, count) in dropped.sorted(by: { $0.key < $1.key }) { lines.append("dropped \(count): \(reason)") }
        lines.append(String(format: "took %.2f s", seconds))
        return lines.joined(separator: "\n")
    }
}

/// Writes the built-in data sets in the layout users bring.
public enum BuiltinSets {
    /// Writes the captioned Fashion-MNIST to `folder`:
    /// - `train.csv`: `filepath,caption,label,source_index`, images under `images/train/`;
    /// - `eval/`: the real test split, `labels.csv` (`image,label`), `classes.json` (class names,
    ///   zero-shot templates), images under `eval/images/`;
    /// - `classes.json`: the same class index, plus the caption templates used for training.
    ///
    /// - Parameters:
    ///   - limit: training rows (a seeded random subset of the 60,000; all by default).
    ///   - evaluationLimit: test rows (a seeded subset of the 10,000; all by default).
    ///   - sourceFolder: where the IDX files are (default: the Debian package's folder).
    public static func prepareFashionMNIST(
        folder: String, limit: Int? = nil, evaluationLimit: Int? = nil, seed: UInt64 = 0,
        sourceFolder: String? = nil
    ) throws(DataError) -> PreparedSetSummary {
        let clock = ContinuousClock.now
        let train = try FashionMNISTDataset.standard(train: true, folder: sourceFolder)
        let test = try FashionMNISTDataset.standard(train: false, folder: sourceFolder)
        let trainPick = subset(count: train.count, limit: limit, rng: SplitMix64(seed: seed).derived(1))
        let testPick = subset(count: test.count, limit: evaluationLimit, rng: SplitMix64(seed: seed).derived(2))
        try makeDirectories(folder)
        let index = ClassIndex(classes: ZeroShotMetadata.fashionMNISTClassNames, templates: ZeroShotMetadata.fashionMNISTTemplates,
                               name: "fashion-mnist", captionTemplates: FashionMNISTCaptions.captionTemplates)

        let trainNames = trainPick.indices.map { imageName(prefix: "images/train", row: $0) }
        try writePNGs(folder: folder, names: trainNames) { row in train.data.image(at: trainPick[row]) }
        var csv = CSVWriter(header: ["filepath", "caption", "label", "source_index"])
        let captionBase = SplitMix64(seed: seed).derived(3)
        for (row, source) in trainPick.enumerated() {
            var rng = captionBase.derived(UInt64(row))
            let label = Int(train.data.labels[source])
            csv.append(row: [trainNames[row], FashionMNISTCaptions.caption(label: label, rng: &rng), String(label), String(source)])
        }
        let trainCSV = resolvePath("train.csv", against: folder)
        try csv.write(toPath: trainCSV)

        let evaluation = resolvePath("eval", against: folder)
        try makeDirectories(evaluation)
        let testNames = testPick.indices.map { imageName(prefix: "images", row: $0) }
        try writePNGs(folder: evaluation, names: testNames) { row in test.data.image(at: testPick[row]) }
        var labels = CSVWriter(header: ["image", "label", "source_index"])
        for (row, source) in testPick.enumerated() {
            labels.append(row: [testNames[row], String(test.data.labels[source]), String(source)])
        }
        try labels.write(toPath: resolvePath("labels.csv", against: evaluation))
        var evaluationIndex = index
        evaluationIndex.captionTemplates = nil
        try evaluationIndex.write(toPath: resolvePath("classes.json", against: evaluation))
        try index.write(toPath: resolvePath("classes.json", against: folder))
        let elapsed = ContinuousClock.now - clock
        return PreparedSetSummary(
            name: "fashion-mnist", folder: folder, trainCSV: trainCSV, trainRows: trainPick.count,
            evaluationFolder: evaluation, evaluationRows: testPick.count, validationCSV: nil, validationRows: 0,
            dropped: [:], seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
    }

    /// `limit` distinct indices of `0..<count` drawn with `rng`, in increasing order (all if `limit` is nil).
    static func subset(count: Int, limit: Int?, rng: SplitMix64) -> [Int] {
        guard let limit, limit < count else { return Array(0..<count) }
        var rng = rng
        var all = Array(0..<count)
        all.shuffle(using: &rng)
        return Array(all.prefix(max(0, limit))).sorted()
    }

    /// `prefix/012/012345.png`: a thousand files per sub-folder.
    static func imageName(prefix: String, row: Int, ext: String = "png") -> String {
        let folder = String(row / 1000)
        let padded = String(repeating: "0", count: max(0, 3 - folder.count)) + folder
        let file = String(row)
        return "\(prefix)/\(padded)/\(String(repeating: "0", count: max(0, 6 - file.count)))\(file).\(ext)"
    }

    /// Writes images `names[i] = image(i)` under `folder` as PNG, on all cores.
    static func writePNGs(folder: String, names: [String], image: @Sendable (Int) -> RGBImage) throws(DataError) {
        for sub in Set(names.map { parentFolder(of: $0) }) { try makeDirectories(resolvePath(sub, against: folder)) }
        let failure = FirstFailure()
        let chunk = 256
        let chunks = (names.count + chunk - 1) / chunk
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            for row in (c * chunk)..<min(names.count, (c + 1) * chunk) {
                let path = resolvePath(names[row], against: folder)
                do { try image(row).write(toPath: path) } catch {
                    failure.record(.io(path: path, reason: "\(error)"))
                    return
                }
            }
        }
        if let error = failure.error { throw error }
    }
}

/// The first error recorded by concurrent workers.
final class FirstFailure: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: DataError?
    func record(_ error: DataError) {
        lock.lock(); defer { lock.unlock() }
        if stored == nil { stored = error }
    }
    var error: DataError? { lock.lock(); defer { lock.unlock() }; return stored }
}
