import Datasets

/// Some rows of a data set, in a given order, optionally with replacement captions.
///
/// Item `i` of the subset is row `rows[i]` of `base`; its ``DataRecord/index`` and
/// ``DataSample/index`` are `i` (the loader's batches report subset positions; map them back
/// through ``rows``). With `captions`, row `r`'s caption is `captions[r]` (a table over all of
/// `base`'s rows, e.g. EDA views computed once at load).
public struct SubsetDataset: ImageTextDataset {
    public let base: any ImageTextDataset
    /// Rows of `base`, in subset order.
    public let rows: [Int]
    /// Replacement captions indexed by `base` row, or nil to keep the originals.
    public let captions: [String]?

    public init(base: any ImageTextDataset, rows: [Int], captions: [String]? = nil) {
        precondition(captions == nil || captions!.count == base.count, "caption table must cover every row of the base set")
        self.base = base
        self.rows = rows
        self.captions = captions
    }

    public var count: Int { rows.count }
    public var hasLabels: Bool { base.hasLabels }

    public func record(at index: Int) throws(DataError) -> DataRecord {
        var record = try base.record(at: rows[index])
        record.index = index
        if let captions { record.caption = captions[rows[index]] }
        return record
    }

    public func sample(at index: Int) throws(DataError) -> DataSample {
        var sample = try base.sample(at: rows[index])
        sample.index = index
        if let captions { sample.caption = captions[rows[index]] }
        return sample
    }
}

/// An augmentation drawing from a generator derived with a fixed salt, so that two loaders with
/// the same seed produce two different (independent) views of the same items.
struct SaltedAugmentation: ImageAugmentation {
    let base: any ImageAugmentation
    let salt: UInt64

    func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        var derived = rng.derived(salt)
        return base.apply(image, rng: &derived)
    }
}
