import Datasets
import Foundation

/// Small synthetic training data written by tests.
public enum ToySet {
    /// A CLIP small enough to train in seconds: 16 px ViT, 2 blocks of width 64 per tower.
    public static let microModelConfig = """
        {"embed_dim": 64,
         "vision_cfg": {"image_size": 16, "layers": 2, "width": 64, "patch_size": 4, "head_width": 32},
         "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}
        """

    static let colours: [(name: String, rgb: (UInt8, UInt8, UInt8))] = [
        ("red", (220, 30, 30)), ("green", (30, 200, 40)), ("blue", (30, 40, 220)), ("yellow", (230, 220, 20)),
    ]

    /// Horizontal stripes of `rgb` on black, every `period`-th row left black (shifted by `shift`).
    static func stripes(width: Int, height: Int, rgb: (UInt8, UInt8, UInt8), period: Int, shift: Int) -> RGBImage {
        var image = RGBImage(width: width, height: height, fill: (0, 0, 0))
        for y in 0..<height where (y + shift) % period != 0 {
            for x in 0..<width {
                let o = (y * width + x) * 3
                image.pixels[o] = rgb.0
                image.pixels[o + 1] = rgb.1
                image.pixels[o + 2] = rgb.2
            }
        }
        return image
    }

    /// Writes `count` images of coloured stripes named in their captions, and `train.csv`
    /// (`filepath,caption,label`). Returns the CSV's path.
    public static func write(in dir: URL, count: Int) throws -> String {
        var csv = "filepath,caption,label\n"
        for i in 0..<count {
            let colour = colours[i % colours.count]
            let file = "img\(i).png"
            try stripes(width: 20, height: 16, rgb: colour.rgb, period: 3, shift: i)
                .write(toPath: dir.appendingPathComponent(file).path)
            csv += "\(file),a photo of something \(colour.name),\(i % colours.count)\n"
        }
        let path = dir.appendingPathComponent("train.csv").path
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Writes a labelled evaluation folder `eval/` (`labels.csv`, `classes.json`) of `count`
    /// striped 16 × 16 images in the four colours. Returns the folder's path.
    public static func writeEvaluationSet(in dir: URL, count: Int) throws -> String {
        let folder = dir.appendingPathComponent("eval")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var labels = "image,label\n"
        for i in 0..<count {
            try stripes(width: 16, height: 16, rgb: colours[i % colours.count].rgb, period: 4, shift: i)
                .write(toPath: folder.appendingPathComponent("e\(i).png").path)
            labels += "e\(i).png,\(i % colours.count)\n"
        }
        try labels.write(to: folder.appendingPathComponent("labels.csv"), atomically: true, encoding: .utf8)
        try ClassIndex(classes: colours.map(\.name), templates: ["a photo of something {c}"])
            .write(toPath: folder.appendingPathComponent("classes.json").path)
        return folder.path
    }

    /// Writes one small grey PNG and returns its path.
    public static func writeImage(in dir: URL, name: String) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try RGBImage(width: 8, height: 8, fill: (128, 128, 128)).write(toPath: path)
        return path
    }
}
