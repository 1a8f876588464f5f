/// The layers of the fixed (pretrained) networks that losses run: VGG, LightCNN, and those to
/// come. Each layer is a composition of LossKit's differentiable ops, so gradients (and second
/// derivatives) come from the engine; no layer has a backward rule of its own.
///
/// A network is described by `LayerSpec`s (what torch's `nn.Sequential` holds, index by index),
/// from which come both the state-dict keys and shapes it needs (`expectedWeights`, checked
/// strictly against the file before anything is converted) and the built layers (`build`),
/// which take their tensors from the layer's scope of the `StateDict`.
public enum LayerSpec: Equatable, Sendable {
    /// `nn.Conv2d(inChannels, outChannels, kernel, stride, padding, bias:)`, square kernels.
    case conv(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, bias: Bool)
    /// `nn.BatchNorm2d(channels, eps)`, affine, with running statistics in the file.
    case batchNorm(channels: Int, eps: Double)
    case relu
    /// `nn.MaxPool2d(kernel, stride, ceil_mode:)`.
    case maxPool(kernel: Int, stride: Int, ceilMode: Bool)
    /// LightCNN's `MaxFeature`: `filter` = Conv2d(in, 2·out, kernel, stride, padding), then the
    /// element-wise maximum of the two channel halves.
    case maxFeature(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int)

    /// The tensors the layer takes from its scope, keys relative to it.
    public var expectedWeights: [ExpectedWeight] {
        switch self {
        case let .conv(i, o, k, _, _, bias):
            return [ExpectedWeight("weight", shape: [o, i, k, k])] + (bias ? [ExpectedWeight("bias", shape: [o])] : [])
        case let .batchNorm(c, _):
            return ["weight", "bias", "running_mean", "running_var"].map { ExpectedWeight($0, shape: [c]) }
                + [ExpectedWeight("num_batches_tracked", shape: [], optional: true)]
        case .relu, .maxPool:
            return []
        case let .maxFeature(i, o, k, _, _):
            return [ExpectedWeight("filter.weight", shape: [2 * o, i, k, k]), ExpectedWeight("filter.bias", shape: [2 * o])]
        }
    }

    /// The layer, its tensors taken from `sd` (the layer's scope) in `dtype`.
    public func build(_ sd: StateDict, dtype: DType, batchNorm mode: BatchNormStatistics) throws -> NetworkLayer {
        switch self {
        case let .conv(i, o, k, s, p, bias):
            return Conv2d(weight: try sd.tensor("weight", shape: [o, i, k, k], dtype: dtype),
                          bias: bias ? try sd.tensor("bias", shape: [o], dtype: dtype) : nil, stride: s, padding: p)
        case let .batchNorm(c, eps):
            return BatchNorm2d(weight: try sd.tensor("weight", shape: [c], dtype: dtype), bias: try sd.tensor("bias", shape: [c], dtype: dtype),
                               runningMean: try sd.tensor("running_mean", shape: [c], dtype: dtype),
                               runningVar: try sd.tensor("running_var", shape: [c], dtype: dtype), eps: eps, statistics: mode)
        case .relu:
            return ReLU()
        case let .maxPool(k, s, ceil):
            return MaxPool2d(kernel: k, stride: s, ceilMode: ceil)
        case let .maxFeature(i, o, k, s, p):
            let filter = sd.scope("filter")
            return MaxFeature(filter: Conv2d(weight: try filter.tensor("weight", shape: [2 * o, i, k, k], dtype: dtype),
                                             bias: try filter.tensor("bias", shape: [2 * o], dtype: dtype), stride: s, padding: p))
        }
    }
}

/// Which statistics a BatchNorm layer normalises with.
public enum BatchNormStatistics: String, Sendable, CaseIterable {
    /// The batch's own mean and (biased) variance over N, H, W, as torch in training mode;
    /// gradients flow through them. What MMagic's PerceptualLoss does (it never calls eval()).
    case batch
    /// The file's running mean and variance (torch in eval mode).
    case running
}

/// A layer of a fixed network.
public protocol NetworkLayer {
    func callAsFunction(_ x: Tensor) throws -> Tensor
    /// The layer applied to each of several inputs (a loss's prediction and target), each result
    /// as the one-input call gives it; a layer may share work between them.
    func callAsFunction(_ xs: [Tensor]) throws -> [Tensor]
}

extension NetworkLayer {
    public func callAsFunction(_ xs: [Tensor]) throws -> [Tensor] { try xs.map { try self($0) } }
}

public struct Conv2d: NetworkLayer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int
    /// The weight is fixed, so its Winograd transform is made once (per orientation and dtype).
    let winogradCache = WinogradFilterCache()

    public init(weight: Tensor, bias: Tensor?, stride: Int, padding: Int) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try self([x])[0] }

    /// One kernel call for all inputs of one shape: the Winograd filters are transformed once for them.
    public func callAsFunction(_ xs: [Tensor]) throws -> [Tensor] {
        if let x = xs.first, xs.contains(where: { $0.shape != x.shape || $0.dtype != x.dtype }) {
            return try xs.map { try self([$0])[0] }
        }
        return try conv2d(xs, weight, bias: bias, stride: (stride, stride), padding: (padding, padding), winogradCache: winogradCache)
    }
}

public struct BatchNorm2d: NetworkLayer {
    public let weight: Tensor, bias: Tensor, runningMean: Tensor, runningVar: Tensor
    public let eps: Double
    public let statistics: BatchNormStatistics

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == weight.count else {
            throw TensorError.shapeMismatch(op: "batch_norm", shapes: [x.shape, weight.shape])
        }
        let c = [1, weight.count, 1, 1]
        let mean: Tensor, variance: Tensor
        switch statistics {
        case .batch:
            mean = try x.mean(dims: [0, 2, 3], keepdim: true)
            variance = try (x - mean).square().mean(dims: [0, 2, 3], keepdim: true)
        case .running:
            mean = try runningMean.reshape(c)
            variance = try runningVar.reshape(c)
        }
        let scale = try weight.reshape(c) / (variance + eps).sqrt()
        return try (x - mean) * scale + bias.reshape(c)
    }
}

public struct ReLU: NetworkLayer {
    public func callAsFunction(_ x: Tensor) throws -> Tensor { x.relu() }
}

public struct MaxPool2d: NetworkLayer {
    public let kernel: Int, stride: Int
    public let ceilMode: Bool

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try maxPool2d(x, kernel: (kernel, kernel), stride: (stride, stride), ceilMode: ceilMode)
    }
}

public struct MaxFeature: NetworkLayer {
    public let filter: Conv2d

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try self([x])[0] }

    public func callAsFunction(_ xs: [Tensor]) throws -> [Tensor] {
        try filter(xs).map { y in
            let halves = try y.chunk(2, dim: 1)
            return try maximum(halves[0], halves[1])
        }
    }
}

/// torch's `nn.Sequential` of `specs`, index i taking its tensors from the state dict's scope
/// `i` (`features.0.weight` is layer 0's `weight` in the scope `features`).
public struct Sequential {
    public let specs: [LayerSpec]
    public let layers: [NetworkLayer]

    /// Every key the layers take, under their indices (`0.weight`), for a strict check.
    public static func expectedWeights(_ specs: [LayerSpec]) -> [ExpectedWeight] {
        specs.enumerated().flatMap { i, spec in
            spec.expectedWeights.map { ExpectedWeight("\(i).\($0.key)", shape: $0.shape, optional: $0.optional) }
        }
    }

    public init(_ specs: [LayerSpec], _ sd: StateDict, dtype: DType, batchNorm: BatchNormStatistics = .running) throws {
        self.specs = specs
        layers = try specs.enumerated().map { i, spec in try spec.build(sd.scope(i), dtype: dtype, batchNorm: batchNorm) }
    }

    /// The output of every layer in `taps` (by index), running layers 0...max(taps).
    public func outputs(_ x: Tensor, at taps: [Int]) throws -> [Int: Tensor] { try outputs([x], at: taps)[0] }

    /// `outputs(xs[i], at: taps)` for each input, layer by layer: each layer runs on every input
    /// before the next layer starts, so that a layer's shared work (the Winograd filters) is
    /// done once for all inputs while it is at hand.
    public func outputs(_ xs: [Tensor], at taps: [Int]) throws -> [[Int: Tensor]] {
        var out = [[Int: Tensor]](repeating: [:], count: xs.count)
        guard let last = taps.max() else { return out }
        var h = xs
        let wanted = Set(taps)
        for i in 0...last {
            h = try layers[i](h)
            if wanted.contains(i) { for k in h.indices { out[k][i] = h[k] } }
        }
        return out
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try self([x])[0] }

    /// Every input through all layers, layer by layer (as `outputs(_:at:)`).
    public func callAsFunction(_ xs: [Tensor]) throws -> [Tensor] {
        try layers.reduce(xs) { h, layer in try layer(h) }
    }
}
