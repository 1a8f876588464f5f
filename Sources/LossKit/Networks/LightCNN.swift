/// `LightCNN(3).features` as MMagic's LightCNNFeatureLoss runs it: MaxFeature layers (a conv to
/// twice the channels, then the element-wise maximum of the two halves) and 2×2 max-pools in
/// ceil mode. Keys `features.N.filter.{weight,bias}`, checked strictly (as MMagic's
/// `load_checkpoint(strict=True)`), after a `state_dict` wrapper and a `module.` prefix are
/// taken off.
public struct LightCNNFeatures {
    public static let specs: [LayerSpec] = [
        .maxFeature(inChannels: 3, outChannels: 48, kernel: 5, stride: 1, padding: 2),
        .maxPool(kernel: 2, stride: 2, ceilMode: true),
        .maxFeature(inChannels: 48, outChannels: 48, kernel: 1, stride: 1, padding: 0),
        .maxFeature(inChannels: 48, outChannels: 96, kernel: 3, stride: 1, padding: 1),
        .maxPool(kernel: 2, stride: 2, ceilMode: true),
        .maxFeature(inChannels: 96, outChannels: 96, kernel: 1, stride: 1, padding: 0),
        .maxFeature(inChannels: 96, outChannels: 192, kernel: 3, stride: 1, padding: 1),
        .maxPool(kernel: 2, stride: 2, ceilMode: true),
        .maxFeature(inChannels: 192, outChannels: 192, kernel: 1, stride: 1, padding: 0),
        .maxFeature(inChannels: 192, outChannels: 128, kernel: 3, stride: 1, padding: 1),
        .maxFeature(inChannels: 128, outChannels: 128, kernel: 1, stride: 1, padding: 0),
        .maxFeature(inChannels: 128, outChannels: 128, kernel: 3, stride: 1, padding: 1),
        .maxPool(kernel: 2, stride: 2, ceilMode: true),
    ]

    let layers: Sequential

    public init(weights: StateDict, dtype: DType) throws {
        let sd = weights.unwrapped()
        try Self.check(sd)
        layers = try Sequential(Self.specs, sd.scope("features"), dtype: dtype)
    }

    /// The strict check of `sd` (unwrapped), converting nothing.
    public static func check(_ sd: StateDict) throws {
        try sd.checkStrict(Sequential.expectedWeights(specs).map { ExpectedWeight("features." + $0.key, shape: $0.shape) })
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try layers(x) }
    public func callAsFunction(_ xs: [Tensor]) throws -> [Tensor] { try layers(xs) }
}
