/// One item of a data set before decoding: where its image is, its caption, its class label.
public struct DataRecord: Sendable, Hashable {
    /// The item's position in its data set (0-based), kept end to end through shuffling and batching.
    public var index: Int
    /// A readable location of the image: a file path, or `shard.tar:key.jpg` for tar members.
    public var imageSource: String
    /// The caption (for classification sets: the class name).
    public var caption: String
    /// The class label, where the set has one.
    public var label: Int?

    public init(index: Int, imageSource: String, caption: String, label: Int? = nil) {
        self.index = index; self.imageSource = imageSource; self.caption = caption; self.label = label
    }
}

/// One decoded item: image, caption, optional label and the item's index in its data set.
public struct DataSample: Sendable, Hashable {
    /// The item's position in its data set (0-based).
    public var index: Int
    /// The decoded image, RGB HWC `UInt8`.
    public var image: RGBImage
    public var caption: String
    public var label: Int?

    public init(index: Int, image: RGBImage, caption: String, label: Int? = nil) {
        self.index = index; self.image = image; self.caption = caption; self.label = label
    }
}

/// A random-access set of image–caption(–label) items: CSV/TSV files, webdataset shards,
/// classification sets. Implementations are immutable and safe to read from many threads.
///
/// ```swift
/// let set = try CSVDataset(path: "train.csv")
/// let first = try set.sample(at: 0)   // decoded image, caption, label, index 0
/// ```
public protocol ImageTextDataset: Sendable {
    /// The number of items (including ones that may fail to decode).
    var count: Int { get }
    /// Whether items carry class labels.
    var hasLabels: Bool { get }
    /// The item's metadata without decoding its image. Throws for a malformed row.
    func record(at index: Int) throws(DataError) -> DataRecord
    /// The decoded item. Throws for a malformed row or a missing or corrupt image.
    func sample(at index: Int) throws(DataError) -> DataSample
}

/// A labelled evaluation set: class names and zero-shot prompt templates besides the items.
public protocol ClassificationDataset: ImageTextDataset {
    /// Class names in label order.
    var classNames: [String] { get }
    /// Zero-shot prompt templates, each containing `{c}` where the class name goes.
    var templates: [String] { get }
}

extension ImageTextDataset {
    /// Decodes the image of a record read from a file path, mapping image errors to `DataError.image`.
    func decodeFile(_ record: DataRecord) throws(DataError) -> DataSample {
        if pathKind(record.imageSource) == .missing {
            throw .image(path: record.imageSource, reason: "file not found")
        }
        do {
            let image = try decodeImage(atPath: record.imageSource)
            return DataSample(index: record.index, image: image, caption: record.caption, label: record.label)
        } catch {
            throw .image(path: record.imageSource, reason: error.reason)
        }
    }
}
