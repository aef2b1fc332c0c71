import Foundation

extension CLIPConfig {
    /// Upper bounds on model configs, far above every open_clip model (the largest, ViT-bigG-14,
    /// has 2.5 B parameters, width 1,664, 48 layers, 256 tokens per image) yet low enough that
    /// no accepted config overflows an index or asks the allocator for terabytes.
    public enum Limits {
        /// Widths (`embed_dim`, tower widths).
        public static let maxWidth = 16_384
        /// Transformer blocks per tower, and blocks per ResNet stage.
        public static let maxLayers = 256
        /// Image side in pixels.
        public static let maxImageSize = 4_096
        /// Patches per image of a ViT (`(image_size / patch_size)²`).
        public static let maxImageTokens = 16_384
        /// The text context length in tokens.
        public static let maxContextLength = 4_096
        /// Rows of the token embedding.
        public static let maxVocabularySize = 1 << 21
        /// `mlp_ratio`.
        public static let maxMLPRatio = 64.0
        /// The estimated parameter count of the whole model.
        public static let maxParameters = 20_000_000_000.0
    }

    /// The model's parameter count estimated from the config alone (within a few percent for
    /// open_clip's models), as a `Double` so that no config can overflow it.
    public var estimatedParameterCount: Double {
        var parameters = Double(embedDim) * Double(text.width)
        switch vision {
        case .resnet(let r):
            // Bottlenecks: about 17·planes² per block at planes = width·2^stage (4× expansion).
            for (stage, depth) in r.layers.enumerated() {
                let planes = Double(r.width) * pow(2, Double(stage))
                parameters += 17 * planes * planes * Double(depth)
            }
            let pooled = Double(r.width) * 32
            parameters += 4 * pooled * pooled + pooled * Double(embedDim)
        case .vit(let v):
            let w = Double(v.width), grid = Double(v.imageSize / max(1, v.patchSize))
            parameters += Double(v.layers) * (4 + 2 * v.mlpRatio) * w * w
            parameters += Double(v.patchSize) * Double(v.patchSize) * 3 * w + (grid * grid + 1) * w + w * Double(embedDim)
        }
        let w = Double(text.width)
        parameters += Double(text.layers) * (4 + 2 * text.mlpRatio) * w * w
        parameters += (Double(text.vocabSize) + Double(text.contextLength)) * w
        return parameters
    }

    /// Checks every field against ``Limits`` and the model's estimated size against
    /// ``Limits/maxParameters``, before any tensor is made. Decoding a config runs this.
    ///
    /// - Throws: ``CLIPError/invalidConfig(file:key:reason:)`` naming the first field out of
    ///   bounds (`vision_cfg.image_size`) and the allowed range.
    public func validate() throws(CLIPError) {
        func check(_ key: String, _ value: Int, _ range: ClosedRange<Int>) throws(CLIPError) {
            guard range.contains(value) else {
                throw .invalidConfig(file: nil, key: key, reason: "\(value) is outside \(range.lowerBound)…\(range.upperBound)")
            }
        }
        func check(_ key: String, _ value: Double, _ range: ClosedRange<Double>) throws(CLIPError) {
            guard value.isFinite, range.contains(value) else {
                throw .invalidConfig(file: nil, key: key, reason: "\(value) is outside \(range.lowerBound)…\(range.upperBound)")
            }
        }
        try check("embed_dim", embedDim, 1...Limits.maxWidth)
        try check("init_logit_scale", initLogitScale, -100...100)
        switch vision {
        case .resnet(let r):
            try check("vision_cfg.width", r.width, 1...Limits.maxWidth / 32)
            try check("vision_cfg.head_width", r.headWidth, 1...r.width * 32)
            try check("vision_cfg.image_size", r.imageSize, 32...Limits.maxImageSize)
            for depth in r.layers { try check("vision_cfg.layers", depth, 1...Limits.maxLayers) }
        case .vit(let v):
            try check("vision_cfg.width", v.width, 1...Limits.maxWidth)
            try check("vision_cfg.head_width", v.headWidth, 1...v.width)
            try check("vision_cfg.layers", v.layers, 1...Limits.maxLayers)
            try check("vision_cfg.image_size", v.imageSize, 1...Limits.maxImageSize)
            try check("vision_cfg.patch_size", v.patchSize, 1...v.imageSize)
            try check("vision_cfg.mlp_ratio", v.mlpRatio, 1 / Double(v.width)...Limits.maxMLPRatio)
            let tokens = v.gridSize * v.gridSize
            guard tokens <= Limits.maxImageTokens else {
                throw .invalidConfig(
                    file: nil, key: "vision_cfg.patch_size",
                    reason: "\(v.patchSize) cuts a \(v.imageSize)-px image into \(tokens) patches, more than \(Limits.maxImageTokens)")
            }
        }
        try check("text_cfg.width", text.width, 1...Limits.maxWidth)
        try check("text_cfg.heads", text.heads, 1...text.width)
        try check("text_cfg.layers", text.layers, 1...Limits.maxLayers)
        try check("text_cfg.context_length", text.contextLength, 2...Limits.maxContextLength)
        try check("text_cfg.vocab_size", text.vocabSize, 1...Limits.maxVocabularySize)
        try check("text_cfg.mlp_ratio", text.mlpRatio, 1 / Double(text.width)...Limits.maxMLPRatio)
        let parameters = estimatedParameterCount
        guard parameters <= Limits.maxParameters else {
            throw .invalidConfig(
                file: nil, key: "",
                reason: String(
                    format: "the model would have about %.1f billion parameters (%.0f GB of float32), more than the limit of %.0f billion",
                    parameters / 1e9, parameters * 4 / 1e9, Limits.maxParameters / 1e9))
        }
    }
}
