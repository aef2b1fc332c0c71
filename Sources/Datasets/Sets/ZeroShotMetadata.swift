import Foundation

/// Class names and zero-shot prompt templates of the evaluation sets.
///
/// ImageNet's 80 templates and class names, and the CIFAR-10/100 templates, come from the
/// clip_benchmark files in `.deps/assets` (see ``AssetLocator``); CIFAR class names, which those
/// files lack, and Fashion-MNIST's names and templates are defined here.
public enum ZeroShotMetadata {
    /// The templates file in the assets folder.
    public static let templatesFile = "en_zeroshot_classification_templates.json"
    /// The class-names file in the assets folder.
    public static let classNamesFile = "en_classnames.json"

    /// The prompt templates stored under `key` (e.g. `"imagenet1k"`: 80, `"cifar10"`: 18).
    public static func templates(for key: String) throws(DataError) -> [String] {
        try stringList(file: templatesFile, key: key)
    }

    /// The class names stored under `key` (e.g. `"imagenet1k"`: 1,000).
    public static func classNames(for key: String) throws(DataError) -> [String] {
        try stringList(file: classNamesFile, key: key)
    }

    private static func stringList(file: String, key: String) throws(DataError) -> [String] {
        let path = try AssetLocator.path(of: file)
        let bytes = try readWholeFile(path)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw .format(path: path, reason: "not a JSON object")
        }
        guard let list = object[key] as? [String] else {
            throw .format(path: path, reason: "no list of strings under key \"\(key)\"")
        }
        return list
    }

    /// CIFAR-10's class names in label order.
    public static let cifar10ClassNames = [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ]

    /// CIFAR-100's fine class names in label order.
    public static let cifar100ClassNames = [
        "apple", "aquarium fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle",
        "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle",
        "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur",
        "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard",
        "lamp", "lawn mower", "leopard", "lion", "lizard", "lobster", "man", "maple tree", "motorcycle", "mountain",
        "mouse", "mushroom", "oak tree", "orange", "orchid", "otter", "palm tree", "pear", "pickup truck", "pine tree",
        "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket",
        "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
        "squirrel", "streetcar", "sunflower", "sweet pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
        "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow tree", "wolf", "woman", "worm",
    ]

    /// Fashion-MNIST's class names in label order, as used in prompts.
    public static let fashionMNISTClassNames = [
        "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot",
    ]

    /// Our zero-shot prompt templates for Fashion-MNIST. None of them is a caption template used to
    /// train on the built-in captioned Fashion-MNIST (``FashionMNISTCaptions/captionTemplates``).
    public static let fashionMNISTTemplates = [
        "a photo of a {c}.",
        "a black and white photo of a {c}.",
        "a low resolution photo of a {c}.",
        "a grayscale picture of the {c}.",
        "a blurry photo of a {c}.",
        "a photo of the {c}.",
        "a small photo of a {c}.",
        "a cropped photo of a {c}.",
        "a close-up photo of a {c}.",
        "an item of clothing or footwear: a {c}.",
    ]
}
