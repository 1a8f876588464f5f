/// The sizes of one `torch.nn.functional.conv2d` call, validated as PyTorch validates them.
///
/// Input (N, C, H, W), weight (OC, C/groups, KH, KW), optional bias (OC), output
/// (N, OC, OH, OW) with `OH = (H + 2·padH − dilationH·(KH − 1) − 1) / strideH + 1`
/// (floor division), likewise `OW`.
public struct Conv2dGeometry: Equatable, Sendable {
    public var batch: Int
    public var inChannels: Int
    public var height: Int
    public var width: Int
    public var outChannels: Int
    public var kernelH: Int
    public var kernelW: Int
    public var strideH: Int
    public var strideW: Int
    public var padH: Int
    public var padW: Int
    public var dilationH: Int
    public var dilationW: Int
    public var groups: Int
    public var outHeight: Int
    public var outWidth: Int

    /// Input channels per group.
    public var groupInChannels: Int { inChannels / groups }
    /// Output channels per group.
    public var groupOutChannels: Int { outChannels / groups }
    public var inputShape: [Int] { [batch, inChannels, height, width] }
    public var weightShape: [Int] { [outChannels, groupInChannels, kernelH, kernelW] }
    public var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }

    /// Checks the shapes and parameters (pairs are (height, width)) and computes the output size.
    public init(
        input: [Int], weight: [Int], bias: [Int]? = nil,
        stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
        dilation: (Int, Int) = (1, 1), groups: Int = 1
    ) throws {
        let op = "conv2d"
        guard input.count == 4 else {
            throw KernelShapeError(op: op, "input must be 4-D (N, C, H, W), got \(input.shapeText)")
        }
        guard weight.count == 4 else {
            throw KernelShapeError(op: op, "weight must be 4-D (OC, C/groups, KH, KW), got \(weight.shapeText)")
        }
        guard input.allSatisfy({ $0 >= 0 }), weight.allSatisfy({ $0 >= 0 }) else {
            throw KernelShapeError(op: op, "negative size in input \(input.shapeText) or weight \(weight.shapeText)")
        }
        try KernelShapeError.checkExtents(op: op, [
            ("input size", input.max() ?? 0), ("weight size", weight.max() ?? 0),
            ("stride", max(stride.0, stride.1)), ("padding", max(padding.0, padding.1)),
            ("dilation", max(dilation.0, dilation.1)), ("groups", groups)])
        try KernelShapeError.checkCount(op: op, "input", input)
        try KernelShapeError.checkCount(op: op, "weight", weight)
        guard groups >= 1 else { throw KernelShapeError(op: op, "groups must be positive, got \(groups)") }
        guard stride.0 >= 1, stride.1 >= 1 else {
            throw KernelShapeError(op: op, "stride must be positive, got (\(stride.0), \(stride.1))")
        }
        guard dilation.0 >= 1, dilation.1 >= 1 else {
            throw KernelShapeError(op: op, "dilation must be positive, got (\(dilation.0), \(dilation.1))")
        }
        guard padding.0 >= 0, padding.1 >= 0 else {
            throw KernelShapeError(op: op, "padding must be non-negative, got (\(padding.0), \(padding.1))")
        }
        guard weight[2] >= 1, weight[3] >= 1 else {
            throw KernelShapeError(op: op, "kernel size must be positive, weight \(weight.shapeText)")
        }
        guard weight[0] % groups == 0 else {
            throw KernelShapeError(op: op, "out channels \(weight[0]) (weight \(weight.shapeText)) not divisible by groups=\(groups)")
        }
        guard weight[1] * groups == input[1] else {
            throw KernelShapeError(op: op, "input \(input.shapeText) has \(input[1]) channels, weight \(weight.shapeText) with groups=\(groups) expects \(weight[1] * groups)")
        }
        if let bias {
            guard bias.count == 1, bias[0] == weight[0] else {
                throw KernelShapeError(op: op, "bias must have shape (\(weight[0])), got \(bias.shapeText)")
            }
        }
        let effH = dilation.0 * (weight[2] - 1) + 1
        let effW = dilation.1 * (weight[3] - 1) + 1
        let padded = (input[2] + 2 * padding.0, input[3] + 2 * padding.1)
        guard padded.0 >= effH, padded.1 >= effW else {
            throw KernelShapeError(op: op, "padded input size (\(padded.0), \(padded.1)) is smaller than the dilated kernel (\(effH), \(effW)); input \(input.shapeText), weight \(weight.shapeText)")
        }
        batch = input[0]
        inChannels = input[1]
        height = input[2]
        width = input[3]
        outChannels = weight[0]
        kernelH = weight[2]
        kernelW = weight[3]
        (strideH, strideW) = stride
        (padH, padW) = padding
        (dilationH, dilationW) = dilation
        self.groups = groups
        outHeight = (padded.0 - effH) / stride.0 + 1
        outWidth = (padded.1 - effW) / stride.1 + 1
        try KernelShapeError.checkCount(op: op, "output", outputShape)
    }
}
