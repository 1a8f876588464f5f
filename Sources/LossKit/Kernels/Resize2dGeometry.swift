/// The resampling modes of `torch.nn.functional.interpolate` implemented here.
public enum ResizeMode: String, Sendable, CaseIterable {
    /// PyTorch's `'nearest'` (not `'nearest-exact'`): `src = min(floor(dst·scale), in − 1)`.
    case nearest
    /// `'bilinear'`, with or without `align_corners`.
    case bilinear
    /// `'bicubic'` (Keys' kernel with A = −0.75), with or without `align_corners`.
    case bicubic
}

/// The sizes and coordinate transform of one `interpolate` call on an NCHW tensor.
///
/// Two ways in, as in PyTorch:
/// - `size:` — the output size is given; the coordinate scale is `in/out`
///   (`(in−1)/(out−1)` with `alignCorners`).
/// - `scaleFactor:` — the output size is `floor(in·factor)`; unless `recomputeScaleFactor`,
///   the coordinate scale is `1/factor` (PyTorch passes the factor down to its kernel), which
///   differs from `in/out` whenever `in·factor` is not an integer. With
///   `recomputeScaleFactor: true` the factor is dropped and `in/out` is used.
///   `alignCorners` always uses `(in−1)/(out−1)`.
public struct Resize2dGeometry: Equatable, Sendable {
    public var batch: Int
    public var channels: Int
    public var height: Int
    public var width: Int
    public var outHeight: Int
    public var outWidth: Int
    public var mode: ResizeMode
    public var alignCorners: Bool
    /// The scale factors handed to the kernel (nil: derive from the sizes).
    public var scaleFactorH: Double?
    public var scaleFactorW: Double?

    public var inputShape: [Int] { [batch, channels, height, width] }
    public var outputShape: [Int] { [batch, channels, outHeight, outWidth] }

    /// Output size given. `alignCorners` must be nil for `.nearest` (PyTorch rejects it);
    /// nil means false for the others.
    public init(input: [Int], size: (Int, Int), mode: ResizeMode, alignCorners: Bool? = nil) throws {
        try self.init(input: input, out: size, scales: (nil, nil), mode: mode, alignCorners: alignCorners)
    }

    /// Output size from scale factors (height, width), as PyTorch computes it.
    public init(
        input: [Int], scaleFactor: (Double, Double), mode: ResizeMode,
        alignCorners: Bool? = nil, recomputeScaleFactor: Bool = false
    ) throws {
        guard input.count == 4 else {
            throw KernelShapeError(op: "interpolate", "input must be 4-D (N, C, H, W), got \(input.shapeText)")
        }
        guard scaleFactor.0.isFinite, scaleFactor.1.isFinite, scaleFactor.0 > 0, scaleFactor.1 > 0 else {
            throw KernelShapeError(op: "interpolate", "scale factors must be positive and finite, got (\(scaleFactor.0), \(scaleFactor.1))")
        }
        let oh = (Double(input[2]) * scaleFactor.0).rounded(.down)
        let ow = (Double(input[3]) * scaleFactor.1).rounded(.down)
        guard oh <= Double(KernelShapeError.maxExtent), ow <= Double(KernelShapeError.maxExtent) else {
            throw KernelShapeError(op: "interpolate", "output size (\(oh), \(ow)) is too large")
        }
        try self.init(
            input: input, out: (Int(oh), Int(ow)),
            scales: recomputeScaleFactor ? (nil, nil) : (scaleFactor.0, scaleFactor.1),
            mode: mode, alignCorners: alignCorners)
    }

    private init(input: [Int], out: (Int, Int), scales: (Double?, Double?), mode: ResizeMode, alignCorners: Bool?) throws {
        let op = "interpolate"
        guard input.count == 4 else {
            throw KernelShapeError(op: op, "input must be 4-D (N, C, H, W), got \(input.shapeText)")
        }
        guard input[0] >= 0, input[1] >= 0, input[2] > 0, input[3] > 0 else {
            throw KernelShapeError(op: op, "input \(input.shapeText) must have positive H and W")
        }
        guard out.0 > 0, out.1 > 0 else {
            throw KernelShapeError(op: op, "input and output sizes should be greater than 0, got input \(input.shapeText) and output (\(out.0), \(out.1))")
        }
        try KernelShapeError.checkExtents(op: op, [("input size", input.max() ?? 0), ("output size", max(out.0, out.1))])
        try KernelShapeError.checkCount(op: op, "input", input)
        try KernelShapeError.checkCount(op: op, "output", [input[0], input[1], out.0, out.1])
        if mode == .nearest, alignCorners != nil {
            throw KernelShapeError(op: op, "align_corners only has an effect with bilinear or bicubic modes; leave it unset for nearest")
        }
        batch = input[0]
        channels = input[1]
        height = input[2]
        width = input[3]
        (outHeight, outWidth) = out
        self.mode = mode
        self.alignCorners = alignCorners ?? false
        (scaleFactorH, scaleFactorW) = scales
    }
}
