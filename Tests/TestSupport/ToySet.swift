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

    /// Writes `count` images of coloured stripes named in their captions, and `train.csv`
    /// (`filepath,caption,label`). Returns the CSV's path.
    public static func write(in dir: URL, count: Int) throws -> String {
        let colours: [(String, (UInt8, UInt8, UInt8))] = [
            ("red", (220, 30, 30)), ("green", (30, 200, 40)), ("blue", (30, 40, 220)), ("yellow", (230, 220, 20)),
        ]
        var csv = "filepath,caption,label\n"
        for i in 0..<count {
            let (name, rgb) = colours[i % colours.count]
            var image = RGBImage(width: 20, height: 16, fill: (0, 0, 0))
            for y in 0..<16 where (y + i) % 3 != 0 {
                for x in 0..<20 {
                    let o = (y * 20 + x) * 3
                    image.pixels[o] = rgb.0
                    image.pixels[o + 1] = rgb.1
                    image.pixels[o + 2] = rgb.2
                }
            }
            let file = "img\(i).png"
            try image.write(toPath: dir.appendingPathComponent(file).path)
            csv += "\(file),a photo of something \(name),\(i % colours.count)\n"
        }
        let path = dir.appendingPathComponent("train.csv").path
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Writes one small grey PNG and returns its path.
    public static func writeImage(in dir: URL, name: String) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try RGBImage(width: 8, height: 8, fill: (128, 128, 128)).write(toPath: path)
        return path
    }
}
