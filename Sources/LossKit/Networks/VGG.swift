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

    /// Layers 0...`last` of `type` from `weights` (unwrapped): torchvision's `features.*` keys,
    /// whose other keys than `classifier.*` are an error, as are missing keys and wrong shapes;
    /// or a saved MMagic PerceptualLoss (`vgg.vgg_layers.N.*`, which holds `features[:n]` only:
    /// checked strictly up to its last layer, `vgg.mean`/`vgg.std` and `vgg_style.*` ignored).
    public init(_ type: VGGType, upTo last: Int, weights: StateDict, dtype: DType, batchNorm: BatchNormStatistics) throws {
        let sd = weights.unwrapped()
        let scope = try Self.check(type, upTo: last, weights: sd)
        self.type = type
        layers = try Sequential(Array(type.features.map(\.spec).prefix(last + 1)), sd.scope(scope), dtype: dtype, batchNorm: batchNorm)
    }

    /// Checks `sd` (unwrapped) for layers 0...`last` of `type` as `init` takes them, without
    /// converting anything; gives the scope the layers are under.
    public static func check(_ type: VGGType, upTo last: Int, weights sd: StateDict) throws -> String {
        let all = type.features.map(\.spec)
        let scope: String, checked: [LayerSpec], ignored: [String]
        if sd.keys.contains(where: { $0.hasPrefix("vgg.vgg_layers.") }) {
            // The layers it kept: up to the last index it has tensors for (at least `last`).
            let kept = sd.keys.compactMap { k in k.dropFirst("vgg.vgg_layers.".count).split(separator: ".").first.flatMap { Int($0) } }.max() ?? 0
            (scope, checked, ignored) = ("vgg.vgg_layers", Array(all.prefix(max(kept, last) + 1)), ["vgg.mean", "vgg.std", "vgg_style."])
        } else {
            // Strict over the whole features (a file of another VGG type is refused by its
            // keys), the classifier ignored; only layers 0...last are converted.
            (scope, checked, ignored) = ("features", all, ["classifier."])
        }
        try sd.checkStrict(Sequential.expectedWeights(checked).map { ExpectedWeight(scope + "." + $0.key, shape: $0.shape, optional: $0.optional) },
                           ignoringPrefixes: ignored)
        return scope
    }

    public func outputs(_ x: Tensor, at taps: [Int]) throws -> [Int: Tensor] { try layers.outputs(x, at: taps) }
    public func outputs(_ xs: [Tensor], at taps: [Int]) throws -> [[Int: Tensor]] { try layers.outputs(xs, at: taps) }
}
