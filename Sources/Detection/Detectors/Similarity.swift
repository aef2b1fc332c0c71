import Foundation

/// `similarity`: the cosine similarity of image and caption under each model, as in similarity
/// filtering and SafeCLIP's split (low = the caption does not fit the image).
public struct SimilarityDetector: Detector {
    public static let name = "similarity"
    public static let displayName = "image–caption cosine"
    public static let about = "cosine similarity of image and caption under each --model (or the warm-up); column cosine, cosine_2, … per model."
    public static let options: [DetectorOption] = []
    public static let inputs: Set<DetectorInput> = [.similarity]
    public static let direction = ScoreDirection.lower
    public static let threshold = ThresholdRule.robustZ(3.5)
    public static func columns(models: Int) -> [String] { (0..<max(1, models)).map { $0 == 0 ? "cosine" : "cosine_\($0 + 1)" } }
    public static func scores(_ context: DetectionContext, settings: DetectorSettings) throws -> [[Double]] { context.similarity }
}
