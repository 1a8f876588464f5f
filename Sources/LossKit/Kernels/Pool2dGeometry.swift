/// The sizes of one `max_pool2d` / `avg_pool2d` call, validated as PyTorch validates them.
///
/// Output size per axis (PyTorch's `pooling_output_shape`):
/// `out = floor((in + 2·pad − dilation·(k − 1) − 1 + (ceilMode ? stride − 1 : 0)) / stride) + 1`,
/// and with `ceilMode` one less when the last window would start inside the right padding
/// (`(out − 1)·stride >= in + pad`).
public struct Pool2dGeometry: Equatable, Sendable {
    public var batch: Int
    public var channels: Int
    public var height: Int
    public var width: Int
    public var kernelH: Int
    public var kernelW: Int
    public var strideH: Int
    public var strideW: Int
    public var padH: Int
    public var padW: Int
    public var dilationH: Int
    public var dilationW: Int
    public var ceilMode: Bool
    public var outHeight: Int
    public var outWidth: Int

    public var inputShape: [Int] { [batch, channels, height, width] }
    public var outputShape: [Int] { [batch, channels, outHeight, outWidth] }

    /// Pairs are (height, width); `stride` nil means the kernel size (PyTorch's default).
    /// `op` names the caller in errors (`max_pool2d`, `avg_pool2d`); avg_pool2d has no dilation.
    public init(
        op: String = "max_pool2d", input: [Int], kernel: (Int, Int), stride: (Int, Int)? = nil,
        padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), ceilMode: Bool = false
    ) throws {
        guard input.count == 4 else {
            throw KernelShapeError(op: op, "input must be 4-D (N, C, H, W), got \(input.shapeText)")
        }
        guard input[0] >= 0, input[1] > 0, input[2] > 0, input[3] > 0 else {
            throw KernelShapeError(op: op, "input \(input.shapeText) must have non-zero C, H, W (N may be 0)")
        }
        let stride = stride ?? kernel
        try KernelShapeError.checkExtents(op: op, [
            ("input size", input.max() ?? 0), ("kernel size", max(kernel.0, kernel.1)),
            ("stride", max(stride.0, stride.1)), ("padding", max(padding.0, padding.1)),
            ("dilation", max(dilation.0, dilation.1))])
        try KernelShapeError.checkCount(op: op, "input", input)
        guard kernel.0 > 0, kernel.1 > 0 else {
            throw KernelShapeError(op: op, "kernel size must be positive, got (\(kernel.0), \(kernel.1))")
        }
        guard stride.0 > 0, stride.1 > 0 else {
            throw KernelShapeError(op: op, "stride must be positive, got (\(stride.0), \(stride.1))")
        }
        guard dilation.0 > 0, dilation.1 > 0 else {
            throw KernelShapeError(op: op, "dilation must be positive, got (\(dilation.0), \(dilation.1))")
        }
        guard padding.0 >= 0, padding.1 >= 0, padding.0 <= kernel.0 / 2, padding.1 <= kernel.1 / 2 else {
            throw KernelShapeError(op: op, "pad should be at most half of kernel size, got padding (\(padding.0), \(padding.1)) for kernel (\(kernel.0), \(kernel.1))")
        }
        func outSize(_ n: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int) -> Int {
            let num = n + 2 * p - d * (k - 1) - 1 + (ceilMode ? s - 1 : 0)
            var out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1
            if ceilMode && (out - 1) * s >= n + p { out -= 1 }
            return out
        }
        let oh = outSize(input[2], kernel.0, stride.0, padding.0, dilation.0)
        let ow = outSize(input[3], kernel.1, stride.1, padding.1, dilation.1)
        guard oh >= 1, ow >= 1 else {
            throw KernelShapeError(op: op, "input \(input.shapeText) is too small for kernel (\(kernel.0), \(kernel.1)), stride (\(stride.0), \(stride.1)), padding (\(padding.0), \(padding.1)), dilation (\(dilation.0), \(dilation.1)): output size would be (\(oh), \(ow))")
        }
        batch = input[0]
        channels = input[1]
        height = input[2]
        width = input[3]
        (kernelH, kernelW) = kernel
        (strideH, strideW) = stride
        (padH, padW) = padding
        (dilationH, dilationW) = dilation
        self.ceilMode = ceilMode
        outHeight = oh
        outWidth = ow
    }
}

/// The sizes of one `adaptive_avg_pool2d` call. Output cell `i` of an axis of length `In`
/// averages input rows `floor(i·In/Out) ..< ceil((i+1)·In/Out)`.
public struct AdaptivePool2dGeometry: Equatable, Sendable {
    public var batch: Int
    public var channels: Int
    public var height: Int
    public var width: Int
    public var outHeight: Int
    public var outWidth: Int

    public var inputShape: [Int] { [batch, channels, height, width] }
    public var outputShape: [Int] { [batch, channels, outHeight, outWidth] }

    public init(input: [Int], outputSize: (Int, Int)) throws {
        let op = "adaptive_avg_pool2d"
        guard input.count == 4 else {
            throw KernelShapeError(op: op, "input must be 4-D (N, C, H, W), got \(input.shapeText)")
        }
        guard input[0] >= 0, input[1] > 0, input[2] > 0, input[3] > 0 else {
            throw KernelShapeError(op: op, "input \(input.shapeText) must have non-zero C, H, W (N may be 0)")
        }
        guard outputSize.0 >= 0, outputSize.1 >= 0 else {
            throw KernelShapeError(op: op, "output size must be non-negative, got (\(outputSize.0), \(outputSize.1))")
        }
        try KernelShapeError.checkExtents(op: op, [("input size", input.max() ?? 0),
                                                   ("output size", max(outputSize.0, outputSize.1))])
        try KernelShapeError.checkCount(op: op, "input", input)
        try KernelShapeError.checkCount(op: op, "output", [input[0], input[1], outputSize.0, outputSize.1])
        batch = input[0]
        channels = input[1]
        height = input[2]
        width = input[3]
        (outHeight, outWidth) = outputSize
    }
}
