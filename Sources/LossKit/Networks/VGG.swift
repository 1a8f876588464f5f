/// torchvision's VGG `features` (vgg11/13/16/19, with and without BatchNorm), as MMagic's
/// PerceptualVGG runs them: every conv 3×3 padding 1 with bias, then (for `_bn`) BatchNorm2d
/// eps 1e-5, then ReLU; max-pool 2×2 stride 2 after each block. Weights are torchvision's keys
/// `features.N.*` (the file's `classifier.*` is ignored, as PerceptualVGG drops it).
public enum VGGType: String, CaseIterable, Sendable {
    case vgg11, vgg13, vgg16, vgg19, vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn

    public var hasBatchNorm: Bool { rawValue.hasSuffix("_bn") }

    /// Convolutions per block (torchvision's configurations A, B, D, E).
    var blocks: [Int] {
        switch self {
        case .vgg11, .vgg11_bn: return [1, 1, 2, 2, 2]
        case .vgg13, .vgg13_bn: return [2, 2, 2, 2, 2]
        case .vgg16, .vgg16_bn: return [2, 2, 3, 3, 3]
        case .vgg19, .vgg19_bn: return [2, 2, 4, 4, 4]
        }
    }

    /// `features`, index by index, each with its conventional name (`conv3_4`, `relu5_4`,
    /// `pool4`; `bn2_1` for the BatchNorm after `conv2_1`).
    public var features: [(name: String, spec: LayerSpec)] {
        var out: [(String, LayerSpec)] = []
        var channels = 3
        for (b, convs) in blocks.enumerated() {
            let width = [64, 128, 256, 512, 512][b]
            for c in 1...convs {
                let id = "\(b + 1)_\(c)"
                out.append(("conv" + id, .conv(inChannels: channels, outChannels: width, kernel: 3, stride: 1, padding: 1, bias: true)))
                if hasBatchNorm { out.append(("bn" + id, .batchNorm(channels: width, eps: 1e-5))) }
                out.append(("relu" + id, .relu))
                channels = width
            }
            out.append(("pool\(b + 1)", .maxPool(kernel: 2, stride: 2, ceilMode: false)))
        }
        return out
    }

    /// The index of a layer given by index (`"34"`) or by name (`"relu5_4"`); nil for neither.
    public func layerIndex(_ name: String) -> Int? {
        let all = features
        if let i = Int(name), String(i) == name, i >= 0 { return i }
        return all.firstIndex { $0.name == name }
    }
}

/// The first layers of a VGG's `features`, built from a state dict (`features.N.*`), whose
/// outputs are taken at chosen indices.
public struct VGGFeatures {
    public let type: VGGType
    let layers: Sequential

    /// Layers 0...`last` of `type` from `weights` (unwrapped; `features.*` keys; other keys than
    /// `features.*` and `classifier.*` are an error, as are missing keys and wrong shapes).
    public init(_ type: VGGType, upTo last: Int, weights: StateDict, dtype: DType, batchNorm: BatchNormStatistics) throws {
        let all = type.features.map(\.spec)
        let specs = Array(all.prefix(last + 1))
        let sd = weights.unwrapped()
        // Strict over the whole features (a file of another VGG type is refused by its keys),
        // the classifier ignored; only layers 0...last are converted.
        try sd.checkStrict(Sequential.expectedWeights(all).map { ExpectedWeight("features." + $0.key, shape: $0.shape, optional: $0.optional) },
                           ignoringPrefixes: ["classifier."])
        self.type = type
        layers = try Sequential(specs, sd.scope("features"), dtype: dtype, batchNorm: batchNorm)
    }

    public func outputs(_ x: Tensor, at taps: [Int]) throws -> [Int: Tensor] { try layers.outputs(x, at: taps) }
}
