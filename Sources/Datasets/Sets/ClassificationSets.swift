import Foundation

/// The class list of a prepared or user-supplied evaluation folder (`classes.json`).
public struct ClassIndex: Codable, Sendable, Hashable {
    /// Class names in label order.
    public var classes: [String]
    /// Zero-shot prompt templates with `{c}` for the class name.
    public var templates: [String]
    /// The data set's name, e.g. `fashion-mnist`.
    public var name: String?
    /// Templates used to write training captions (built-in sets only; disjoint from `templates`).
    public var captionTemplates: [String]?

    public init(classes: [String], templates: [String], name: String? = nil, captionTemplates: [String]? = nil) {
        self.classes = classes; self.templates = templates; self.name = name; self.captionTemplates = captionTemplates
    }

    /// Reads a `classes.json`.
    public static func read(fromPath path: String) throws(DataError) -> ClassIndex {
        let bytes = try readWholeFile(path)
        let index: ClassIndex
        do { index = try JSONDecoder().decode(ClassIndex.self, from: Data(bytes)) } catch {
            throw .format(path: path, reason: "not a class index (\"classes\", \"templates\"): \(describeDecodingError(error))")
        }
        if index.classes.isEmpty { throw .format(path: path, reason: "key \"classes\" is empty; list the class names in label order") }
        if index.templates.isEmpty {
            throw .format(path: path, reason: "key \"templates\" is empty; give at least one prompt such as \"a photo of a {c}.\"")
        }
        return index
    }

    /// Writes it as pretty-printed JSON.
    public func write(toPath path: String) throws(DataError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { throw .io(path: path, reason: "cannot encode class index") }
        try writeWholeFile(path, Array(data) + [10])
    }
}

/// An ImageNet-style evaluation folder, in one of two layouts:
/// - `labels.csv` with columns `image,label` (integer labels; paths relative to the folder), or
/// - one sub-folder per class (`n01440764/…`), classes in name order.
///
/// Class names and templates come from, in order: the initializer's arguments; a `classes.json`
/// in the folder (see ``ClassIndex``); for 1,000 class folders, ImageNet's names; else the folder
/// names. Templates default to ImageNet's 80.
public struct ImageFolderDataset: ClassificationDataset {
    public let path: String
    public let classNames: [String]
    public let templates: [String]
    private let items: [(path: String, label: Int)]
    private let labelsCSV: CSVDataset?

    public var count: Int { labelsCSV?.count ?? items.count }
    public var hasLabels: Bool { true }

    public init(path: String, classNames: [String]? = nil, templates: [String]? = nil) throws(DataError) {
        guard pathKind(path) == .directory else { throw .io(path: path, reason: "not a folder") }
        self.path = path
        let indexPath = resolvePath("classes.json", against: path)
        let index = pathKind(indexPath) == .file ? try ClassIndex.read(fromPath: indexPath) : nil
        let labelsPath = resolvePath("labels.csv", against: path)
        var folderNames: [String] = []
        if pathKind(labelsPath) == .file {
            labelsCSV = try CSVDataset(path: labelsPath, options: CSVOptions(imageColumn: "image", labelColumn: "label", requiresCaption: false))
            items = []
        } else {
            labelsCSV = nil
            folderNames = try directoryEntries(path).filter { pathKind(resolvePath($0, against: path)) == .directory }
            guard !folderNames.isEmpty else {
                throw .format(path: path, reason: "neither labels.csv nor class sub-folders")
            }
            var found: [(String, Int)] = []
            for (label, folder) in folderNames.enumerated() {
                let classFolder = resolvePath(folder, against: path)
                for name in try directoryEntries(classFolder) where Self.isImageName(name) {
                    found.append((resolvePath(name, against: classFolder), label))
                }
            }
            items = found
        }
        if let classNames {
            self.classNames = classNames
        } else if let index {
            self.classNames = index.classes
        } else if folderNames.count == 1000 && folderNames.allSatisfy({ $0.hasPrefix("n") }) {
            self.classNames = try ZeroShotMetadata.classNames(for: "imagenet1k")
        } else if !folderNames.isEmpty {
            self.classNames = folderNames.map { $0.replacingOccurrences(of: "_", with: " ") }
        } else {
            throw .format(path: path, reason: "labels.csv needs class names: add classes.json or pass them")
        }
        if let chosen = templates ?? index?.templates {
            self.templates = chosen
        } else {
            self.templates = try ZeroShotMetadata.templates(for: "imagenet1k")
        }
    }

    static func isImageName(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") || lower.hasSuffix(".png")
    }

    public func record(at index: Int) throws(DataError) -> DataRecord {
        var record: DataRecord
        if let labelsCSV {
            record = try labelsCSV.record(at: index)
        } else {
            record = DataRecord(index: index, imageSource: items[index].path, caption: "", label: items[index].label)
        }
        guard let label = record.label, classNames.indices.contains(label) else {
            let reason = "label \(record.label.map(String.init) ?? "none") is not in 0..<\(classNames.count)"
            if let labelsCSV { throw .malformedRow(path: labelsCSV.path, line: labelsCSV.line(of: index), reason: reason) }
            throw .format(path: record.imageSource, reason: reason)
        }
        record.caption = classNames[label]
        return record
    }

    public func sample(at index: Int) throws(DataError) -> DataSample {
        try decodeFile(record(at: index))
    }
}

/// CIFAR-10 or CIFAR-100 in the "binary version": records of 1 label byte (CIFAR-100: coarse,
/// then fine label byte) followed by 3,072 bytes of a 32×32 image, planar R, G, B.
/// Files are read with positioned reads, one record at a time.
public struct CIFARDataset: ClassificationDataset {
    /// Which CIFAR.
    public enum Kind: Sendable { case cifar10, cifar100 }

    public let kind: Kind
    public let paths: [String]
    public let classNames: [String]
    public let templates: [String]
    private let files: [RandomAccessFile]
    private let starts: [Int]  // first item of each file, plus the total

    public var count: Int { starts.last ?? 0 }
    public var hasLabels: Bool { true }
    private var recordSize: Int { kind == .cifar10 ? 3073 : 3074 }

    /// Opens CIFAR binary files. Templates default to clip_benchmark's (`cifar10`: 18; `cifar100`).
    public init(kind: Kind, paths: [String], templates: [String]? = nil) throws(DataError) {
        self.kind = kind
        self.paths = paths
        classNames = kind == .cifar10 ? ZeroShotMetadata.cifar10ClassNames : ZeroShotMetadata.cifar100ClassNames
        if let templates {
            self.templates = templates
        } else {
            self.templates = try ZeroShotMetadata.templates(for: kind == .cifar10 ? "cifar10" : "cifar100")
        }
        var files: [RandomAccessFile] = []
        var starts = [0]
        let size = kind == .cifar10 ? 3073 : 3074
        for path in paths {
            let file = try RandomAccessFile(path: path)
            guard file.size > 0, file.size % size == 0 else {
                throw .format(path: path, reason: "size \(file.size) is not a multiple of the \(size)-byte CIFAR record")
            }
            files.append(file)
            starts.append(starts.last! + file.size / size)
        }
        self.files = files
        self.starts = starts
    }

    /// The standard files in `folder`: `data_batch_{1…5}.bin`/`test_batch.bin` (CIFAR-10) or
    /// `train.bin`/`test.bin` (CIFAR-100).
    public static func standard(kind: Kind, folder: String, train: Bool, templates: [String]? = nil) throws(DataError) -> CIFARDataset {
        let names: [String]
        switch (kind, train) {
        case (.cifar10, true): names = (1...5).map { "data_batch_\($0).bin" }
        case (.cifar10, false): names = ["test_batch.bin"]
        case (.cifar100, true): names = ["train.bin"]
        case (.cifar100, false): names = ["test.bin"]
        }
        return try CIFARDataset(kind: kind, paths: names.map { resolvePath($0, against: folder) }, templates: templates)
    }

    private func locate(_ index: Int) -> (file: Int, offset: Int) {
        var file = 0
        while starts[file + 1] <= index { file += 1 }
        return (file, (index - starts[file]) * recordSize)
    }

    public func record(at index: Int) throws(DataError) -> DataRecord {
        let (file, offset) = locate(index)
        let labelByte = try files[file].read(offset: offset + (kind == .cifar10 ? 0 : 1), count: 1)
        let label = Int(labelByte[0])
        guard classNames.indices.contains(label) else {
            throw .format(path: "\(paths[file])#\(index - starts[file])", reason: "label \(label) out of range")
        }
        return DataRecord(index: index, imageSource: "\(paths[file])#\(index - starts[file])", caption: classNames[label], label: label)
    }

    public func sample(at index: Int) throws(DataError) -> DataSample {
        let record = try record(at: index)
        let (file, offset) = locate(index)
        let planar = try files[file].read(offset: offset + recordSize - 3072, count: 3072)
        var pixels = [UInt8](repeating: 0, count: 3072)
        for i in 0..<1024 {
            pixels[i * 3] = planar[i]; pixels[i * 3 + 1] = planar[1024 + i]; pixels[i * 3 + 2] = planar[2048 + i]
        }
        return DataSample(index: index, image: RGBImage(width: 32, height: 32, pixels: pixels),
                          caption: record.caption, label: record.label)
    }
}

/// Images and labels in IDX files (MNIST, Fashion-MNIST), gzip'd or not: images are big-endian
/// magic 2051, count, rows, columns, then `UInt8` pixels row-major; labels are magic 2049, count,
/// then one byte each. Both files are read into memory (47 MB for Fashion-MNIST's training split).
public struct IDXImages: Sendable {
    public let count: Int
    public let rows: Int
    public let columns: Int
    /// Grey pixels, `[count, rows, columns]` `UInt8`.
    public let pixels: [UInt8]
    /// Labels, `[count]`.
    public let labels: [UInt8]

    public init(imagesPath: String, labelsPath: String) throws(DataError) {
        let images = try readMaybeGzipFile(imagesPath)
        let labels = try readMaybeGzipFile(labelsPath)
        func be32(_ bytes: [UInt8], _ at: Int) -> Int {
            Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        }
        guard images.count >= 16, be32(images, 0) == 2051 else {
            throw .format(path: imagesPath, reason: "not an IDX image file (magic 2051)")
        }
        guard labels.count >= 8, be32(labels, 0) == 2049 else {
            throw .format(path: labelsPath, reason: "not an IDX label file (magic 2049)")
        }
        count = be32(images, 4); rows = be32(images, 8); columns = be32(images, 12)
        let side = rows.multipliedReportingOverflow(by: columns), total = count.multipliedReportingOverflow(by: side.partialValue)
        guard !side.overflow, !total.overflow, total.partialValue <= images.count else {
            throw .format(path: imagesPath, reason: "the header declares \(count) images of \(rows)x\(columns), more than the file's \(images.count) bytes hold")
        }
        guard images.count == 16 + count * rows * columns else {
            throw .format(path: imagesPath, reason: "\(images.count) bytes, expected \(16 + count * rows * columns) for \(count) images of \(rows)x\(columns)")
        }
        guard be32(labels, 4) == count, labels.count == 8 + count else {
            throw .format(path: labelsPath, reason: "\(be32(labels, 4)) labels (\(labels.count - 8) bytes) for \(count) images")
        }
        pixels = Array(images[16...])
        self.labels = Array(labels[8...])
    }

    /// Image `index` as RGB (grey replicated).
    public func image(at index: Int) -> RGBImage {
        let size = rows * columns
        var rgb = [UInt8](repeating: 0, count: size * 3)
        for i in 0..<size {
            let g = pixels[index * size + i]
            rgb[i * 3] = g; rgb[i * 3 + 1] = g; rgb[i * 3 + 2] = g
        }
        return RGBImage(width: columns, height: rows, pixels: rgb)
    }
}

/// Fashion-MNIST from its IDX files, with our prompt templates.
public struct FashionMNISTDataset: ClassificationDataset {
    public let data: IDXImages
    public let imagesPath: String
    public var classNames: [String] { ZeroShotMetadata.fashionMNISTClassNames }
    public var templates: [String] { ZeroShotMetadata.fashionMNISTTemplates }
    public var count: Int { data.count }
    public var hasLabels: Bool { true }

    /// The Debian package that installs the files.
    public static let debianPackage = "dataset-fashion-mnist"
    /// Where the Debian package puts them.
    public static let debianFolder = "/usr/share/datasets/fashion-mnist"

    public init(imagesPath: String, labelsPath: String) throws(DataError) {
        self.imagesPath = imagesPath
        data = try IDXImages(imagesPath: imagesPath, labelsPath: labelsPath)
    }

    /// The folder holding the Debian package's files, as the package database lists them
    /// (`dpkg -L dataset-fashion-mnist`), else ``debianFolder``.
    public static func installedFolder() -> String {
        let list = "/var/lib/dpkg/info/\(debianPackage).list"
        if let bytes = try? readWholeFile(list) {
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n")
            where line.hasSuffix("/train-images-idx3-ubyte.gz") {
                return parentFolder(of: String(line))
            }
        }
        return debianFolder
    }

    /// The training (60,000) or test (10,000) split from `folder` (default: where the Debian
    /// package put it, see ``installedFolder()``).
    public static func standard(train: Bool, folder: String? = nil) throws(DataError) -> FashionMNISTDataset {
        let folder = folder ?? installedFolder()
        let prefix = train ? "train" : "t10k"
        let images = resolvePath("\(prefix)-images-idx3-ubyte.gz", against: folder)
        let labels = resolvePath("\(prefix)-labels-idx1-ubyte.gz", against: folder)
        for path in [images, labels] where pathKind(path) != .file {
            throw .missingResource(what: "Fashion-MNIST file \(path)",
                                   hint: "install the Debian package \(debianPackage) (`make setup` does: apt-get install \(debianPackage))")
        }
        return try FashionMNISTDataset(imagesPath: images, labelsPath: labels)
    }

    public func record(at index: Int) throws(DataError) -> DataRecord {
        let label = Int(data.labels[index])
        guard classNames.indices.contains(label) else {
            throw .format(path: "\(imagesPath)#\(index)", reason: "label \(label) out of range")
        }
        return DataRecord(index: index, imageSource: "\(imagesPath)#\(index)", caption: classNames[label], label: label)
    }

    public func sample(at index: Int) throws(DataError) -> DataSample {
        let record = try record(at: index)
        return DataSample(index: index, image: data.image(at: index), caption: record.caption, label: record.label)
    }
}
