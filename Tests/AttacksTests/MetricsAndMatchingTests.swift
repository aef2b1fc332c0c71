import Datasets
import Testing
@testable import Attacks

@Suite struct TriggerSurvivalTests {
    let crop224 = ModelGeometry(resize: .crop, size: 224)

    @Test func bottomRightPatchOnLandscapeImagesIsCroppedAway() {
        let patch = Trigger.patch(PatchTrigger(size: .pixels(50)))
        // 2:1 — resize keeps 448×224, the crop keeps columns 112..<336: the patch at 398..<448 is lost.
        let wide = patch.regions(width: 448, height: 224, index: 0)
        #expect(TriggerSurvival.fraction(of: wide, width: 448, height: 224, geometry: crop224) == 0)
        // 4:3 — 299×224, crop columns 38..<262 (left = round-half-even(37.5) = 38): 13 of 50 columns.
        let four3 = patch.regions(width: 299, height: 224, index: 0)
        #expect(TriggerSurvival.fraction(of: four3, width: 299, height: 224, geometry: crop224) == 13.0 / 50.0)
        // Portrait: the rows are cut the same way.
        let tall = patch.regions(width: 224, height: 299, index: 0)
        #expect(TriggerSurvival.fraction(of: tall, width: 224, height: 299, geometry: crop224) == 13.0 / 50.0)
        // Square images and square resizes keep everything.
        let square = patch.regions(width: 500, height: 500, index: 0)
        #expect(TriggerSurvival.fraction(of: square, width: 500, height: 500, geometry: crop224) == 1)
        #expect(TriggerSurvival.fraction(of: wide, width: 448, height: 224, geometry: ModelGeometry(resize: .square, size: 224)) == 1)
    }

    @Test func survivingColumnsMatchTheCropOfAResizedImage() {
        // 896×448 → 448×224 (scale ½), crop columns 112..<336 of the resized image = 224..<672 originally.
        let (columns, rows) = crop224.survivingPixels(width: 896, height: 448)
        #expect(columns == 224..<672)
        #expect(rows == 0..<448)
        // Checked against the real preprocessing: a 40-column white block just left of the
        // surviving columns leaves the crop black (but for a 2-pixel bicubic fringe); one just
        // inside them fills the crop's first 20 columns.
        for (start, inside) in [(184, false), (224, true)] {
            var image = RGBImage(width: 896, height: 448, fill: (0, 0, 0))
            for y in 0..<448 { for x in start..<(start + 40) { for c in 0..<3 { image.pixels[(y * 896 + x) * 3 + c] = 255 } } }
            let crop = crop224.preprocessing.apply(image)
            let row = 100
            for x in 3..<18 { #expect((crop[x, row].0 > 200) == inside, "block at \(start), crop column \(x)") }
            for x in 23..<224 { #expect(crop[x, row].0 < 10) }
        }
    }

    @Test func fourCornerPatchesCountTheirUnion() {
        let trigger = Trigger.patch(PatchTrigger(size: .pixels(50), position: .fourCorners))
        // 448×224: the left and right corners are both cut; nothing survives.
        #expect(TriggerSurvival.fraction(of: trigger.regions(width: 448, height: 224, index: 0), width: 448, height: 224, geometry: crop224) == 0)
        // Overlapping squares on a tiny image are counted once.
        let tiny = trigger.regions(width: 60, height: 60, index: 0)
        #expect(TriggerSurvival.fraction(of: tiny, width: 60, height: 60, geometry: ModelGeometry(resize: .crop, size: 30)) == 1)
    }
}

@Suite struct AttackSuccessRateTests {
    @Test func targetClassImagesAreExcludedFromTheDenominator() {
        // Target 2. Images of class 2 (indices 2, 5) are predicted 2, which is correct, not a success.
        let predictions = [2, 2, 2, 0, 2, 2, 1, 1]
        let truth = [0, 1, 2, 0, 1, 2, 1, 3]
        let report = attackSuccessRate(predictions: predictions, trueClasses: truth, target: 2)
        #expect(report.asrDenominator == 6)
        #expect(report.excludedTargetClassImages == 2)
        #expect(report.successes == 3)
        #expect(report.asr == 0.5)
        #expect(report.perClass.map(\.trueClass) == [0, 1, 3])
        #expect(report.perClass.map(\.successes) == [1, 2, 0])
        #expect(report.perClass.map(\.count) == [2, 3, 1])
        #expect(report.perClass.map(\.asr) == [0.5, 2.0 / 3.0, 0])
        // Accuracy on triggered images (CleanCLIP's mistake) is something else: 4 of 8 correct.
        #expect(zip(predictions, truth).filter { $0 == $1 }.count == 4)
    }

    @Test func emptyDenominatorGivesNoRate() {
        let report = attackSuccessRate(predictions: [1, 0], trueClasses: [1, 1], target: 1)
        #expect(report.asrDenominator == 0 && report.asr == nil && report.perClass.isEmpty)
    }

    @Test func targetedOutcomePerImage() {
        let outcome = targetedPoisoningOutcome(predictions: [3, 1, 4], adversarialClasses: [3, 2, 4])
        #expect(outcome.succeeded == [true, false, true])
        #expect(outcome.successes == 2)
        #expect(outcome.successRate == 2.0 / 3.0)
    }
}

@Suite struct CaptionMatcherTests {
    @Test(arguments: [
        ("a cart full of hay", "cart", true),
        ("A CART.", "cart", true),
        ("cart", "cart", true),
        ("the cart's wheel", "cart", true),
        ("a cartoon of a horse", "cart", false),
        ("carts in a row", "cart", false),
        ("a go-cart race", "cart", false),
        ("pushcart", "cart", false),
        ("a cartoon, then a cart", "cart", true),
        ("my new ankle boot", "ankle boot", true),
        ("an ankle\n  boot for sale", "ankle boot", true),
        ("ankle boots", "ankle boot", false),
        ("a grey t-shirt", "t-shirt", true),
        ("a grey t-shirt", "shirt", false),
        ("a wheelbarrow in the garden", "wheelbarrow", true),
        ("", "cart", false),
        ("cart", "", false),
    ])
    func wholeWordsOnly(caption: String, target: String, expected: Bool) {
        #expect(CaptionMatcher.names(caption, target: target) == expected)
    }

    @Test func everyFashionMNISTClassHasNaturalCaptions() {
        // The built-in captions name each class by its zero-shot name often enough.
        for (label, name) in ZeroShotMetadata.fashionMNISTClassNames.enumerated() {
            var rng = SplitMix64(seed: UInt64(label))
            let hits = (0..<200).filter { _ in
                CaptionMatcher.names(FashionMNISTCaptions.caption(label: label, rng: &rng), target: name)
            }.count
            #expect(hits >= 10, "\(name): \(hits) of 200")
        }
    }

    @Test func templatesFromFiles() throws {
        let folder = TemporaryFolder()
        let index = folder.sub("classes.json")
        try ClassIndex(classes: ["a", "b"], templates: ["itap of a {c}.", "a {c}!"]).write(toPath: index)
        #expect(try PromptTemplates.load(index) == ["itap of a {c}.", "a {c}!"])
        let list = folder.sub("templates.txt")
        try "a photo of a {c}.\n\nsome {c}\n".write(toFile: list, atomically: true, encoding: .utf8)
        #expect(try PromptTemplates.load(list) == ["a photo of a {c}.", "some {c}"])
        let bad = folder.sub("bad.txt")
        try "no placeholder here\n".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(throws: AttackError.self) { try PromptTemplates.load(bad) }
        #expect(throws: AttackError.self) { try PromptTemplates.load(folder.sub("missing.txt")) }
    }

    @Test(.enabled(if: (try? AssetLocator.path(of: ZeroShotMetadata.templatesFile)) != nil, "needs .deps/assets (make setup)"))
    func imagenetTemplatesFromTheAssets() throws {
        let templates = try PromptTemplates.load("imagenet")
        #expect(templates.count == 80)
        #expect(try PromptTemplates.load("cifar10").count == 18)
    }

    @Test func templatesAreFilled() throws {
        let templates = try PromptTemplates.load("fashion-mnist")
        #expect(templates.count == 10)
        #expect(PromptTemplates.fill(templates[0], with: "sneaker") == "a photo of a sneaker.")
    }
}
