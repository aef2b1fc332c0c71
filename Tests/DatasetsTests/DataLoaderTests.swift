import Testing
@testable import Datasets

/// Flips every image horizontally with probability ½; used to check seeded augmentation.
struct RandomFlip: ImageAugmentation {
    func apply(_ image: RGBImage, rng: inout SplitMix64) -> RGBImage {
        guard rng.next() & 1 == 1 else { return image }
        var out = image
        for y in 0..<image.height {
            for x in 0..<image.width {
                for c in 0..<3 { out.pixels[(y * image.width + x) * 3 + c] = image.pixels[(y * image.width + image.width - 1 - x) * 3 + c] }
            }
        }
        return out
    }
}

@Suite struct DataLoaderTests {
    func config(_ change: (inout LoaderConfig) -> Void = { _ in }) -> LoaderConfig {
        var config = LoaderConfig(batchSize: 8, seed: 11, workers: 2, prefetch: 2, preprocessing: .squareResize(size: 4))
        change(&config)
        return config
    }

    @Test func everyItemOnceWithItsIndex() throws {
        let loader = try DataLoader(dataset: SyntheticDataset(count: 50), config: config())
        let (batches, report) = try collect(loader, epoch: 0)
        #expect(batches.map(\.count) == [8, 8, 8, 8, 8, 8, 2])
        let indices = batches.flatMap(\.indices)
        #expect(indices.sorted() == Array(0..<50))
        #expect(indices != Array(0..<50))  // shuffled
        for batch in batches {
            #expect(batch.captions == batch.indices.map { "item \($0)" })
            #expect(batch.labels == batch.indices.map { $0 % 3 })
            #expect(batch.images.count == batch.count * 3 * 4 * 4)
            #expect(batch.imageHeight == 4 && batch.imageWidth == 4)
        }
        // The images travel with their indices: item k's floats are those of its own image.
        let batch = batches[3]
        let expected = loader.config.preprocessing.apply(testImage(seed: batch.indices[5], width: 4, height: 4)).chwFloats()
        #expect(Array(batch.images[(5 * 48)..<(6 * 48)]) == expected)
        #expect(report.loaded == 50 && report.skipped == 0 && report.attempted == 50)
    }

    @Test func orderIsReproducibleAndChangesPerEpoch() throws {
        let loader = try DataLoader(dataset: SyntheticDataset(count: 40), config: config())
        let again = try DataLoader(dataset: SyntheticDataset(count: 40), config: config())
        #expect(loader.order(epoch: 0) == again.order(epoch: 0))
        #expect(loader.order(epoch: 0) != loader.order(epoch: 1))
        let otherSeed = try DataLoader(dataset: SyntheticDataset(count: 40), config: config { $0.seed = 12 })
        #expect(loader.order(epoch: 0) != otherSeed.order(epoch: 0))
        let unshuffled = try DataLoader(dataset: SyntheticDataset(count: 40), config: config { $0.shuffle = false })
        #expect(unshuffled.order(epoch: 3) == Array(0..<40))
        let first = try collect(loader, epoch: 1).batches.map(\.indices)
        let second = try collect(again, epoch: 1).batches.map(\.indices)
        #expect(first == second)
    }

    @Test(arguments: [1, 2, 3, 4])
    func shardsAreDisjointAndCoverTheSet(worldSize: Int) throws {
        var seen: [Int] = []
        for rank in 0..<worldSize {
            let loader = try DataLoader(dataset: SyntheticDataset(count: 37), config: config { $0.rank = rank; $0.worldSize = worldSize })
            let indices = try collect(loader, epoch: 2).batches.flatMap(\.indices)
            #expect(abs(indices.count - 37 / worldSize) <= 1)
            seen += indices
        }
        #expect(seen.count == 37)
        #expect(Set(seen) == Set(0..<37))
    }

    @Test(arguments: [2, 3, 4])
    func stepKGlobalBatchIsTheSameAtAnyWorldSize(worldSize: Int) throws {
        let single = try DataLoader(dataset: SyntheticDataset(count: 53), config: config { $0.batchSize = 12; $0.dropLast = true })
        let shards = try (0..<worldSize).map { rank in
            try DataLoader(dataset: SyntheticDataset(count: 53), config: config {
                $0.batchSize = 12 / worldSize; $0.rank = rank; $0.worldSize = worldSize; $0.dropLast = true
            })
        }
        for epoch in 0..<2 {
            let global = single.plannedBatches(epoch: epoch)
            let perRank = shards.map { $0.plannedBatches(epoch: epoch) }
            #expect(perRank.allSatisfy { $0.count == global.count })
            for (k, batch) in global.enumerated() {
                #expect(perRank.flatMap { $0[k] } == batch, "epoch \(epoch) step \(k)")
            }
        }
    }

    /// 55 items, global batch 8 on 2 ranks: the remainder of 7 gives rank 0 a full batch of 4
    /// (positions 0, 2, 4, 6) and rank 1 three; with drop-last both must drop theirs, or rank 0
    /// would take one more step than rank 1 and the collectives would no longer pair up.
    @Test func everyRankDropsTheRemainderAlike() throws {
        let shards = try (0..<2).map { rank in
            try DataLoader(dataset: SyntheticDataset(count: 55), config: config {
                $0.batchSize = 4; $0.rank = rank; $0.worldSize = 2; $0.dropLast = true
            })
        }
        #expect(shards.map { $0.plannedBatches(epoch: 0).count } == [6, 6])
        #expect(shards.allSatisfy { $0.plannedBatches(epoch: 0).allSatisfy { $0.count == 4 } })
        // Without drop-last the remainder is dealt out and every item is visited once.
        let kept = try (0..<2).map { rank in
            try DataLoader(dataset: SyntheticDataset(count: 55), config: config { $0.batchSize = 4; $0.rank = rank; $0.worldSize = 2 })
        }
        #expect(kept.map { $0.plannedBatches(epoch: 0).last!.count } == [4, 3])
        #expect(Set(kept.flatMap { $0.order(epoch: 0) }) == Set(0..<55))
    }

    @Test func batchesDoNotDependOnWorkerTiming() throws {
        let augment = config {
            $0.imageAugmentation = RandomFlip()
            $0.captionAugmentation = { caption, rng in caption + " #\(rng.next() % 1000)" }
        }
        var results: [[Batch]] = []
        for workers in [0, 1, 3] {
            var changed = augment
            changed.workers = workers
            changed.prefetch = workers == 3 ? 1 : 5
            results.append(try collect(DataLoader(dataset: SyntheticDataset(count: 30), config: changed), epoch: 4).batches)
        }
        for other in results.dropFirst() {
            #expect(other.map(\.indices) == results[0].map(\.indices))
            #expect(other.map(\.images) == results[0].map(\.images))
            #expect(other.map(\.captions) == results[0].map(\.captions))
        }
        // The augmentation did something, and differs between epochs.
        let flipped = results[0].flatMap(\.captions)
        #expect(flipped.allSatisfy { $0.contains(" #") })
        let nextEpoch = try collect(DataLoader(dataset: SyntheticDataset(count: 30), config: augment), epoch: 5).batches
        #expect(Set(nextEpoch.flatMap(\.captions)) != Set(flipped))
    }

    @Test func failuresAreSkippedCountedAndReported() throws {
        let failing: Set<Int> = [3, 17, 18]
        let loader = try DataLoader(dataset: SyntheticDataset(count: 40, failing: failing),
                                    config: config { $0.maxFailureFraction = 0.1; $0.reportedFailures = 2 })
        let (batches, report) = try collect(loader, epoch: 0)
        let indices = batches.flatMap(\.indices)
        #expect(Set(indices) == Set(0..<40).subtracting(failing))
        #expect(report.loaded == 37 && report.skipped == 3 && report.attempted == 40)
        #expect(report.failures.count == 2)
        #expect(report.failures.allSatisfy { failing.contains($0.index) && $0.source == "synthetic/\($0.index).png" })
        #expect(report.description.contains("and 1 more"))
    }

    @Test func tooManyFailuresStopTheEpoch() throws {
        let loader = try DataLoader(dataset: SyntheticDataset(count: 20, failing: Set(0..<5)),
                                    config: config { $0.maxFailureFraction = 0.2 })
        #expect(throws: DataError.self) { try collect(loader, epoch: 0) }
        let lenient = try DataLoader(dataset: SyntheticDataset(count: 20, failing: Set(0..<4)),
                                     config: config { $0.maxFailureFraction = 0.2 })
        #expect(try collect(lenient, epoch: 0).report.skipped == 4)
    }

    @Test func dropLastAndInvalidSettings() throws {
        let loader = try DataLoader(dataset: SyntheticDataset(count: 50), config: config { $0.dropLast = true })
        #expect(try collect(loader, epoch: 0).batches.map(\.count) == Array(repeating: 8, count: 6))
        #expect(throws: DataError.self) { try DataLoader(dataset: SyntheticDataset(count: 5), config: config { $0.batchSize = 0 }) }
        #expect(throws: DataError.self) { try DataLoader(dataset: SyntheticDataset(count: 5), config: config { $0.rank = 2; $0.worldSize = 2 }) }
    }

    @Test func droppingAnIteratorEarlyStopsItsWorkers() throws {
        let loader = try DataLoader(dataset: SyntheticDataset(count: 200), config: config())
        do {
            let iterator = loader.epoch(0)
            #expect(try iterator.next()?.count == 8)
        }
        // A second epoch still runs to the end.
        #expect(try collect(loader, epoch: 1).report.loaded == 200)
    }

    @Test func loadsACSVWithBrokenRowsEndToEnd() throws {
        let folder = TemporaryFolder()
        var writer = CSVWriter(header: ["filepath", "caption", "label"])
        for i in 0..<12 {
            folder.writePNG("img/\(i).png", seed: i, width: 7, height: 9)
            writer.append(row: ["img/\(i).png", "photo, number \(i)", String(i % 2)])
        }
        writer.append(row: ["img/missing.png", "gone", "0"])
        writer.append(row: ["too few"])
        try writer.write(toPath: folder.file("train.csv"))
        folder.write("img/broken.jpg", bytes: truncatedJPEG)
        let set = try CSVDataset(path: folder.file("train.csv"))
        let loader = try DataLoader(dataset: set, config: config { $0.maxFailureFraction = 0.5; $0.batchSize = 5 })
        let (batches, report) = try collect(loader, epoch: 0)
        #expect(report.loaded == 12 && report.skipped == 2)
        let sources = Set(report.failures.map(\.source))
        #expect(sources == [folder.file("img/missing.png"), "\(folder.file("train.csv")):15"])
        for batch in batches {
            #expect(batch.captions == batch.indices.map { "photo, number \($0)" })
            #expect(batch.labels == batch.indices.map { $0 % 2 })
        }
    }
}
