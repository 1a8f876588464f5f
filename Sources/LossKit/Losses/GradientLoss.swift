/// Gradient loss — MMagic `GradientLoss`: L1 between Sobel gradients of pred and target.
///
/// `kx = [[1,0,−1],[2,0,−2],[1,0,−1]]`, `ky = kxᵀ` flipped (`[[1,2,1],[0,0,0],[−1,−2,−1]]`),
/// cross-correlation with zero padding 1 (PyTorch `conv2d`), then
/// `w * (l1(gx_p, gx_t, weight, reduction) + l1(gy_p, gy_t, weight, reduction))`.
/// MMagic's kernel has one input channel, so only C = 1 is accepted (an error otherwise).
/// No `sample_wise` (MMagic passes none). The Sobel filters run as `conv2d` with a (1, 1, 3, 3)
/// weight, as in MMagic.
public struct GradientLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "GradientLoss", summary: "L1 loss between Sobel x/y gradients of pred and target (single-channel).",
        details: "w * (l1(sobel_x(pred), sobel_x(target), weight) + l1(sobel_y(pred), sobel_y(target), weight)); zero padding 1; C must be 1.",
        parameters: [.lossWeight(), .reduction],
        inputs: [.tensor("pred", doc: "Prediction (N,1,H,W)."), .tensor("target", doc: "Ground truth (N,1,H,W)."),
                 .tensor("weight", optional: true, doc: "Element-wise weight (N,1,H,W).")])

    public var lossWeight: Double
    public var reducer: MaskedReduction

    public init(lossWeight: Double = 1.0, reduction: Reduction = .mean) {
        self.lossWeight = lossWeight
        reducer = MaskedReduction(reduction: reduction)
    }
    public init(parameters p: LossParameters) throws {
        lossWeight = try p.double("loss_weight")
        reducer = try MaskedReduction(parameters: p)
    }

    public func callAsFunction(_ pred: Tensor, _ target: Tensor, weight: Tensor? = nil) throws -> Tensor {
        guard pred.rank == 4 else {
            throw LossError.invalidInput(argument: "pred", message: "must be 4-D (N,1,H,W), found shape \(formatShape(pred.shape))")
        }
        guard pred.shape == target.shape else {
            throw LossError.invalidInput(argument: "pred",
                message: "pred \(formatShape(pred.shape)) and target \(formatShape(target.shape)) have different shapes")
        }
        guard pred.shape[1] == 1 else {
            throw LossError.invalidInput(argument: "pred",
                message: "pred \(formatShape(pred.shape)) has \(pred.shape[1]) channels; MMagic's Sobel kernel takes 1 input channel")
        }
        let l1: (Fused, Fused) -> Fused = L1Criterion().callAsFunction
        let gx = try reducer(Self.sobel(pred, Self.kernelX), Self.sobel(target, Self.kernelX), weight: weight, fused: l1)
        let gy = try reducer(Self.sobel(pred, Self.kernelY), Self.sobel(target, Self.kernelY), weight: weight, fused: l1)
        return try (gx + gy) * lossWeight
    }

    /// MMagic's Sobel kernels, row-major 3×3.
    static let kernelX: [Double] = [1, 0, -1, 2, 0, -2, 1, 0, -1]
    static let kernelY: [Double] = [1, 2, 1, 0, 0, 0, -1, -2, -1]

    /// `conv2d(x, kernel, padding=1)` with the (1, 1, 3, 3) kernel in `x`'s dtype.
    static func sobel(_ x: Tensor, _ kernel: [Double]) throws -> Tensor {
        try conv2d(x, Tensor(shape: [1, 1, 3, 3], values: kernel, dtype: x.dtype), padding: (1, 1))
    }
    public func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try self(x.tensor("pred"), x.tensor("target"), weight: x.optionalTensor("weight")))
    }
}
