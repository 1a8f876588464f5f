import Foundation

/// MMagic `PerceptualLoss` (PerceptualVGG): distances between VGG features of the prediction
/// and of the ground truth, and between their Gram matrices.
///
/// `x`, `gt` (N,3,H,W): with `norm_img`, `(v+1)/2`; with `use_input_norm`, `(v−mean)/std`
/// (ImageNet's, as float32 constants as MMagic holds them). Features are the outputs of the
/// requested layers of `features[:max+1]` (for a conv index, before its ReLU), gt's detached.
/// perceptual = `Σ_k crit(f_k(x), f_k(gt))·w_k · perceptual_weight` (ascending layer order);
/// style = `Σ_k crit(G(f_k(x)), G(f_k(gt)))·ws_k · style_weight` with `G(f) = F·Fᵀ/(c·h·w)`,
/// `F` = f as (n, c, h·w). `layer_weights_style` defaults to `layer_weights`, whose features are
/// then reused; when it differs, a second pass computes its layers. A part whose weight is not
/// positive is absent.
///
/// MMagic's quirks kept: `vgg_type in pretrained` is a substring test for `torchvision://`
/// names; the network is never put in eval mode, so the `_bn` variants normalise with batch
/// statistics (x's batch and gt's batch separately) — `batch_norm: "running"` (losscli's
/// addition) uses the file's running statistics instead. Layers may be named (`relu5_4`,
/// `conv5_4`, `pool4`) as well as indexed (`"35"`); `describe PerceptualLoss` lists them.
public struct PerceptualLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "PerceptualLoss", summary: "VGG feature (perceptual) and Gram-matrix (style) distances between pred and gt.",
        details: "perceptual = perceptual_weight * sum_k w_k*crit(f_k(x), f_k(gt)); style = style_weight * sum_k ws_k*crit(G(f_k(x)), G(f_k(gt))), "
            + "G(f) = F F^T/(c*h*w). Inputs (v+1)/2 with norm_img, then ImageNet-normalised with use_input_norm; gt detached. "
            + "_bn types use batch statistics as in MMagic (never eval()), or the file's with batch_norm=\"running\". "
            + "Layer keys: torchvision features indices (\"34\") or names. " + PerceptualLoss.layerTable,
        parameters: [
            .init("layer_weights", .floatMap, default: nil, doc: "Layer (index or name, e.g. \"34\" or \"conv5_4\") -> weight of its perceptual distance."),
            .init("layer_weights_style", .floatMap, default: .null, doc: "Layer -> weight of its style distance; null: layer_weights."),
            .init("vgg_type", .choice(VGGType.allCases.map(\.rawValue)), default: .string("vgg19"), doc: "torchvision's VGG."),
            .init("use_input_norm", .bool, default: .bool(true), doc: "Normalise by ImageNet's mean and std."),
            .init("perceptual_weight", .float, default: .double(1), doc: "Multiplies the perceptual part; 0: no such part."),
            .init("style_weight", .float, default: .double(1), doc: "Multiplies the style part; 0: no such part."),
            .init("norm_img", .bool, default: .bool(true), doc: "Map inputs from [-1, 1] to [0, 1] first."),
            .init("pretrained", .weights, default: .string("torchvision://vgg19"),
                  doc: "The VGG's weights: a path, or torchvision://vggNN[_bn] for torchvision's cached file."),
            .init("criterion", .choice(["l1", "mse"], caseInsensitive: true), default: .string("l1"), doc: "Distance (mean-reduced)."),
            .init("batch_norm", .choice(BatchNormStatistics.allCases.map(\.rawValue)), default: .string("batch"),
                  doc: "losscli's addition: the _bn types' statistics; batch (MMagic's behaviour) or running (the file's)."),
        ],
        inputs: [.tensor("x", doc: "Prediction (N,3,H,W)."), .tensor("gt", doc: "Ground truth (N,3,H,W); detached.")],
        partNames: ["perceptual", "style"])

    /// Every type's layer names, for `describe`.
    static var layerTable: String {
        "Layers: " + VGGType.allCases.map { t in
            t.rawValue + ": " + t.features.enumerated().filter { !$0.element.name.hasPrefix("bn") }
                .map { "\($0.offset)=\($0.element.name)" }.joined(separator: " ")
        }.joined(separator: "; ") + "."
    }

    let perceptual: [(layer: Int, weight: Double)]
    let style: [(layer: Int, weight: Double)]
    /// Whether style reuses the perceptual pass's features (layer_weights_style absent or equal).
    let styleSharesFeatures: Bool
    let perceptualWeight: Double, styleWeight: Double
    let normImage: Bool, inputNorm: Bool, l1: Bool
    let type: VGGType
    let batchNorm: BatchNormStatistics
    let weights: StateDict
    /// The networks per dtype, built on first use (weights converted once per file and dtype).
    private let networks = NetworkCache<VGGFeatures>()

    public init(parameters p: LossParameters) throws {
        let vgg = VGGType(rawValue: try p.string("vgg_type")) ?? .vgg19
        type = vgg
        let pretrained = try p.string("pretrained")
        if pretrained.hasPrefix("torchvision://"), !pretrained.contains(vgg.rawValue) {
            throw LossError.config(path: "pretrained",
                message: "vgg_type \(vgg.rawValue) is not in pretrained \(ConfigValue.quoted(pretrained)) (MMagic asserts vgg_type in pretrained)")
        }
        let count = vgg.features.count
        func layers(_ name: String) throws -> [(layer: Int, weight: Double)]? {
            guard let map = try p.floatMap(name) else { return nil }
            var out: [(layer: Int, weight: Double)] = []
            for (key, w) in map {
                guard let i = vgg.layerIndex(key) else {
                    throw LossError.config(path: "\(name).\(key)",
                        message: "\(ConfigValue.quoted(key)) is neither a layer index nor a layer name of \(vgg.rawValue) (describe PerceptualLoss lists them)")
                }
                guard i < count else {
                    throw LossError.config(path: "\(name).\(key)", message: "layer \(i) is beyond \(vgg.rawValue)'s \(count) feature layers")
                }
                guard !out.contains(where: { $0.layer == i }) else {
                    throw LossError.config(path: "\(name).\(key)", message: "layer \(i) is given twice")
                }
                out.append((i, w))
            }
            // MMagic's output dict is in layer order, and sums follow it.
            return out.sorted { $0.layer < $1.layer }
        }
        guard let perceptual = try layers("layer_weights") else {
            throw LossError.config(path: "layer_weights", message: "must be a dict of layer -> weight")
        }
        self.perceptual = perceptual
        let style = try layers("layer_weights_style")
        self.style = style ?? perceptual
        styleSharesFeatures = style.map { s in s.count == perceptual.count && zip(s, perceptual).allSatisfy { $0 == $1 } } ?? true
        perceptualWeight = try p.double("perceptual_weight")
        styleWeight = try p.double("style_weight")
        normImage = try p.bool("norm_img")
        inputNorm = try p.bool("use_input_norm")
        l1 = try p.string("criterion") == "l1"
        batchNorm = BatchNormStatistics(rawValue: try p.string("batch_norm")) ?? .batch
        weights = try p.stateDict("pretrained")
        // The file is checked now (keys and shapes), so a wrong file is a config-time error;
        // nothing is converted until an evaluation says in which dtype.
        _ = try VGGFeatures.check(vgg, upTo: (perceptual + self.style).map(\.layer).max() ?? 0, weights: weights.unwrapped())
    }

    private func network(_ dtype: DType, upTo last: Int) throws -> VGGFeatures {
        try networks.get(dtype: dtype, key: last) {
            try VGGFeatures(type, upTo: last, weights: weights, dtype: dtype, batchNorm: batchNorm)
        }
    }

    /// ImageNet's mean and std, as the float32 buffers MMagic registers.
    static let mean: [Double] = [0.485, 0.456, 0.406].map { Double(Float($0)) }
    static let std: [Double] = [0.229, 0.224, 0.225].map { Double(Float($0)) }

    private func prepared(_ v: Tensor) throws -> Tensor {
        var v = v
        if normImage { v = (v + 1) * 0.5 }
        if inputNorm {
            let m = try Tensor(shape: [1, 3, 1, 1], values: Self.mean, dtype: v.dtype)
            let s = try Tensor(shape: [1, 3, 1, 1], values: Self.std, dtype: v.dtype)
            v = try (v - m) / s
        }
        return v
    }

    private func distance(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let d = try a - b
        return l1 ? d.abs().mean() : d.square().mean()
    }

    /// MMagic's `bmm(f, f.transpose(1, 2)) / (c·h·w)` on the (n, c, h·w) features, with the
    /// transpose read in place by the GEMM (`transB`) instead of copied (same bits): the copy,
    /// and its backward's copy back, were 3.3 % of the style-1 perceptual row's warm step (perf),
    /// of which the GEMM's packing of the strided operand took back ~2 points.
    static func gram(_ f: Tensor) throws -> Tensor {
        let (n, c, h, w) = (f.shape[0], f.shape[1], f.shape[2], f.shape[3])
        let flat = try f.reshape([n, c, h * w])
        return try batchedProduct(flat, flat, transA: false, transB: true) / Double(c * h * w)
    }

    public func callAsFunction(x: Tensor, gt: Tensor) throws -> [(name: String, value: Tensor)] {
        guard x.rank == 4, x.shape[1] == 3 else {
            throw LossError.invalidInput(argument: "x", message: "must be (N,3,H,W), found shape \(formatShape(x.shape))")
        }
        guard gt.shape == x.shape else {
            throw LossError.invalidInput(argument: "gt", message: "must have x's shape \(formatShape(x.shape)), found \(formatShape(gt.shape))")
        }
        let px = try prepared(x), pg = try prepared(gt.detached())
        var parts: [(name: String, value: Tensor)] = []
        let wantPerceptual = perceptualWeight > 0, wantStyle = styleWeight > 0
        // Style that shares the perceptual layers (its weights absent or equal) reuses this pass.
        let firstPass: [Int] = wantPerceptual || (wantStyle && styleSharesFeatures) ? perceptual.map(\.layer) : []
        var fx: [Int: Tensor] = [:], fg: [Int: Tensor] = [:]
        if let last = firstPass.max() {
            let net = try network(x.dtype, upTo: last)
            let f = try net.outputs([px, pg], at: firstPass)
            (fx, fg) = (f[0], f[1])
        }
        if wantPerceptual {
            var sum: Tensor? = nil
            for (k, w) in perceptual {
                guard let a = fx[k], let b = fg[k] else { continue }
                let term = try distance(a, b) * w
                sum = try sum.map { try $0 + term } ?? term
            }
            if let sum { parts.append(("perceptual", sum * perceptualWeight)) }
        }
        if wantStyle {
            if !styleSharesFeatures, let last = style.map(\.layer).max() {
                // MMagic's vgg_style: the same weights, its own layers.
                let net = try network(x.dtype, upTo: last)
                let f = try net.outputs([px, pg], at: style.map(\.layer))
                (fx, fg) = (f[0], f[1])
            }
            var sum: Tensor? = nil
            for (k, w) in style {
                guard let a = fx[k], let b = fg[k] else { continue }
                let term = try distance(try Self.gram(a), try Self.gram(b)) * w
                sum = try sum.map { try $0 + term } ?? term
            }
            if let sum { parts.append(("style", sum * styleWeight)) }
        }
        return parts
    }

    public func forward(_ inputs: LossInputs) throws -> LossOutput {
        .parts(try self(x: inputs.tensor("x"), gt: inputs.tensor("gt")))
    }
}

/// Networks built per dtype (and per extent), once, shared by every evaluation of a term.
final class NetworkCache<Network>: @unchecked Sendable {
    private let lock = NSLock()
    private var built: [String: Network] = [:]

    func get(dtype: DType, key: Int, _ make: () throws -> Network) throws -> Network {
        lock.lock()
        defer { lock.unlock() }
        let k = "\(dtype)/\(key)"
        if let n = built[k] { return n }
        let n = try make()
        built[k] = n
        return n
    }
}
