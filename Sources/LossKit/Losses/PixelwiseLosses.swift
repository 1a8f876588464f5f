import Foundation

/// The element-wise function of an MMagic pixel loss (`l1_loss`, `mse_loss`,
/// `charbonnier_loss` before `@masked_loss`) and the declaration of the type built on it:
/// `PixelLoss<Criterion>` is that type, so a new pixel loss is its criterion alone. The
/// total-variation and gradient losses reduce these criteria too.
public protocol PixelCriterion {
    /// The loss type's declaration: MMagic's name, its parameters, its inputs.
    static var declaration: LossTypeDeclaration { get }
    /// Whether the loss's forward is fused sums of its inputs (`LossModule.forwardIsFusedSums`);
    /// true unless the criterion's `loss` does other large work first.
    static var forwardIsFusedSums: Bool { get }
    /// Reads the criterion's own parameters (Charbonnier's `eps`) from decoded parameters.
    init(parameters p: LossParameters) throws
    /// The element-wise loss of a prediction and a target element.
    func callAsFunction(_ pred: Fused, _ target: Fused) -> Fused
    /// `@masked_loss` of the criterion on the forward's inputs, before `loss_weight`;
    /// by default of `pred` and `target` with the optional `weight`.
    func loss(_ x: LossInputs, reducer: MaskedReduction) throws -> Tensor
}

extension PixelCriterion {
    public static var forwardIsFusedSums: Bool { true }

    public func loss(_ x: LossInputs, reducer: MaskedReduction) throws -> Tensor {
        try reducer(x.tensor("pred"), x.tensor("target"), weight: x.optionalTensor("weight"), fused: callAsFunction)
    }
}

/// An MMagic pixel loss: `loss_weight * masked_reduce(criterion(pred, target), weight)`, with
/// `loss_weight`, `reduction` and `sample_wise` (MaskedReduction) and the criterion's own
/// parameters. Registered once per criterion, under the criterion's MMagic name.
public struct PixelLoss<Criterion: PixelCriterion>: LossModule {
    public static var declaration: LossTypeDeclaration { Criterion.declaration }
    public static var forwardIsFusedSums: Bool { Criterion.forwardIsFusedSums }

    public var lossWeight: Double
    public var criterion: Criterion
    public var reducer: MaskedReduction

    public init(criterion: Criterion, lossWeight: Double = 1.0, reduction: Reduction = .mean, sampleWise: Bool = false) {
        self.criterion = criterion
        self.lossWeight = lossWeight
        reducer = MaskedReduction(reduction: reduction, sampleWise: sampleWise)
    }
    public init(parameters p: LossParameters) throws {
        lossWeight = try p.double("loss_weight")
        criterion = try Criterion(parameters: p)
        reducer = try MaskedReduction(parameters: p)
    }
    /// The loss of `pred` against `target` (the criterion's element-wise function, masked and reduced).
    public func callAsFunction(_ pred: Tensor, _ target: Tensor, weight: Tensor? = nil) throws -> Tensor {
        try reducer(pred, target, weight: weight, fused: criterion.callAsFunction) * lossWeight
    }
    public func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try criterion.loss(x, reducer: reducer) * lossWeight)
    }
}

private let pixelInputs: [InputDeclaration] = [
    .tensor("pred", doc: "Prediction (N,C,H,W)."),
    .tensor("target", doc: "Ground truth, same shape as pred."),
    .tensor("weight", optional: true, doc: "Element-wise weight (N,1|C,H,W)."),
]

/// Charbonnier's `eps`, default 1e-12.
let charbonnierEps = ParameterDeclaration("eps", .float, default: .double(1e-12), doc: "Curvature near zero.")

/// |pred − target|.
public struct L1Criterion: PixelCriterion {
    public static let declaration = LossTypeDeclaration(
        name: "L1Loss", summary: "Mean absolute error |pred - target|, masked and reduced.",
        details: "loss_weight * masked_reduce(|pred - target|, weight); with a weight and mean reduction: sum(e*w) / (sum(w) + 1e-12).",
        parameters: [.lossWeight(), .reduction, .sampleWise], inputs: pixelInputs)
    public init() {}
    public init(parameters p: LossParameters) throws {}
    public func callAsFunction(_ p: Fused, _ t: Fused) -> Fused { (p - t).abs() }
}

/// (pred − target)².
public struct MSECriterion: PixelCriterion {
    public static let declaration = LossTypeDeclaration(
        name: "MSELoss", summary: "Mean squared error (pred - target)^2, masked and reduced.",
        details: "loss_weight * masked_reduce((pred - target)^2, weight).",
        parameters: [.lossWeight(), .reduction, .sampleWise], inputs: pixelInputs)
    public init() {}
    public init(parameters p: LossParameters) throws {}
    public func callAsFunction(_ p: Fused, _ t: Fused) -> Fused { (p - t).square() }
}

/// sqrt((pred − target)² + eps).
public struct CharbonnierCriterion: PixelCriterion {
    public static let declaration = LossTypeDeclaration(
        name: "CharbonnierLoss", summary: "Charbonnier loss sqrt((pred - target)^2 + eps), a smooth L1, masked and reduced.",
        details: "loss_weight * masked_reduce(sqrt((pred - target)^2 + eps), weight).",
        parameters: [.lossWeight(), .reduction, .sampleWise, charbonnierEps],
        inputs: pixelInputs)
    public var eps: Double
    public init(eps: Double = 1e-12) { self.eps = eps }
    public init(parameters p: LossParameters) throws { eps = try p.double("eps") }
    public func callAsFunction(_ p: Fused, _ t: Fused) -> Fused { ((p - t).square() + eps).sqrt() }
}

/// L1 (mean absolute error) loss — MMagic `L1Loss`: `loss_weight * masked_reduce(|pred − target|, weight)`;
/// defaults loss_weight 1.0, reduction mean, sample_wise false.
public typealias L1Loss = PixelLoss<L1Criterion>
/// MSE (L2) loss — MMagic `MSELoss`: `loss_weight * masked_reduce((pred − target)², weight)`.
public typealias MSELoss = PixelLoss<MSECriterion>
/// Charbonnier loss — MMagic `CharbonnierLoss`:
/// `loss_weight * masked_reduce(sqrt((pred − target)² + eps), weight)`, eps default 1e-12.
public typealias CharbonnierLoss = PixelLoss<CharbonnierCriterion>

extension PixelLoss where Criterion == L1Criterion {
    public init(lossWeight: Double = 1.0, reduction: Reduction = .mean, sampleWise: Bool = false) {
        self.init(criterion: L1Criterion(), lossWeight: lossWeight, reduction: reduction, sampleWise: sampleWise)
    }
}

extension PixelLoss where Criterion == MSECriterion {
    public init(lossWeight: Double = 1.0, reduction: Reduction = .mean, sampleWise: Bool = false) {
        self.init(criterion: MSECriterion(), lossWeight: lossWeight, reduction: reduction, sampleWise: sampleWise)
    }
}

extension PixelLoss where Criterion == CharbonnierCriterion {
    public init(lossWeight: Double = 1.0, reduction: Reduction = .mean, sampleWise: Bool = false, eps: Double = 1e-12) {
        self.init(criterion: CharbonnierCriterion(eps: eps), lossWeight: lossWeight, reduction: reduction, sampleWise: sampleWise)
    }
}

/// Masked total variation — MMagic `MaskedTVLoss` (an `L1Loss` with mean reduction):
/// `w * (l1(pred[:,:,:,:-1], pred[:,:,:,1:], mask[:,:,:,:-1]) + l1(pred[:,:,:-1,:], pred[:,:,1:,:], mask[:,:,:-1,:]))`.
///
/// MMagic fails without a mask; here a missing mask means all ones (N,1,H,W), which makes each
/// part the plain mean of the neighbour differences (up to the 1e-12 of the weighted mean).
public struct MaskedTVLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "MaskedTVLoss", summary: "Total variation (L1 of neighbour differences) weighted by a mask.",
        details: "w * (l1(pred[..., :-1], pred[..., 1:], mask[..., :-1]) + l1(pred[..., :-1, :], pred[..., 1:, :], mask[..., :-1, :])), mean reduction. Without a mask: all ones.",
        parameters: [.lossWeight()],
        inputs: [.tensor("pred", doc: "Image (N,C,H,W)."),
                 .tensor("mask", optional: true, doc: "Mask (N,1|C,H,W); absent: all ones.")])

    public var lossWeight: Double

    public init(lossWeight: Double = 1.0) { self.lossWeight = lossWeight }
    public init(parameters p: LossParameters) throws { lossWeight = try p.double("loss_weight") }

    public func callAsFunction(_ pred: Tensor, mask: Tensor? = nil) throws -> Tensor {
        guard pred.rank == 4 else {
            throw LossError.invalidInput(argument: "pred", message: "must be 4-D (N,C,H,W), found shape \(formatShape(pred.shape))")
        }
        let m = try mask ?? Tensor.ones(shape: [pred.shape[0], 1, pred.shape[2], pred.shape[3]], dtype: pred.dtype)
        // N may broadcast (1 against N), as the mask is expanded to pred's shape in MMagic.
        guard m.rank == 4, m.shape[0] == pred.shape[0] || m.shape[0] == 1,
              m.shape[2] == pred.shape[2], m.shape[3] == pred.shape[3] else {
            throw LossError.invalidInput(argument: "mask",
                message: "mask \(formatShape(m.shape)) must be (N,1,H,W) or (N,C,H,W) for pred \(formatShape(pred.shape))")
        }
        let l1 = L1Loss(lossWeight: lossWeight)
        let yDiff = try l1.reducer(pred.slice(dim: 2, end: -1), pred.slice(dim: 2, start: 1),
                                   weight: m.slice(dim: 2, end: -1), weightName: "mask", fused: l1.criterion.callAsFunction) * lossWeight
        let xDiff = try l1.reducer(pred.slice(dim: 3, end: -1), pred.slice(dim: 3, start: 1),
                                   weight: m.slice(dim: 3, end: -1), weightName: "mask", fused: l1.criterion.callAsFunction) * lossWeight
        return try xDiff + yDiff
    }
    public func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try self(x.tensor("pred"), mask: x.optionalTensor("mask")))
    }
}

/// PSNR loss (HINet) — MMagic `PSNRLoss`:
/// `w · (10 / ln 10) · mean_n log(mean_{c,h,w}((pred − target)²) + 1e-8)`; 4-D only.
/// `toY` is accepted and, as in MMagic, unused.
public struct PSNRLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "PSNRLoss", summary: "Negative-PSNR-style loss: scaled mean log of per-sample MSE.",
        details: "w * (10 / ln 10) * mean_n(log(mean_chw((pred - target)^2) + 1e-8)); 4-D only; toY is unused (as in MMagic).",
        parameters: [.lossWeight(), .init("toY", .bool, default: .bool(false), doc: "Accepted and unused, as in MMagic.")],
        inputs: [.tensor("pred", doc: "Prediction (N,C,H,W)."), .tensor("target", doc: "Ground truth, same shape.")])

    public var lossWeight: Double
    /// MMagic's `10 / np.log(10)`.
    static let scale = 10 / Foundation.log(10.0)

    public init(lossWeight: Double = 1.0) { self.lossWeight = lossWeight }
    public init(parameters p: LossParameters) throws { lossWeight = try p.double("loss_weight") }

    public func callAsFunction(_ pred: Tensor, _ target: Tensor) throws -> Tensor {
        guard pred.rank == 4 else {
            throw LossError.invalidInput(argument: "pred", message: "must be 4-D (N,C,H,W), found shape \(formatShape(pred.shape))")
        }
        guard pred.shape == target.shape else {
            throw LossError.invalidInput(argument: "pred",
                message: "pred \(formatShape(pred.shape)) and target \(formatShape(target.shape)) have different shapes")
        }
        let perSample = try (pred - target).square().mean(dims: [1, 2, 3])
        return (perSample + 1e-8).log().mean() * (lossWeight * PSNRLoss.scale)
    }
    public func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try self(x.tensor("pred"), x.tensor("target")))
    }
}

/// MMagic's `tv_loss` function (L2 total variation, Mahendran et al.), offered as a type:
/// replicate-pad right and bottom by one, `(x_diff² + y_diff²).mean([1, 2, 3])` — one value
/// per sample, shape (N,). Times `loss_weight` (MMagic's function has none; default 1).
public struct TVLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "TVLoss", summary: "MMagic's tv_loss: per-sample mean of squared right/down differences (replicate padding).",
        details: "pad right/bottom by replication; (x_diff^2 + y_diff^2).mean over C,H,W; output shape (N,), times loss_weight.",
        parameters: [.lossWeight()],
        inputs: [.tensor("input", doc: "Image (N,C,H,W).")])

    public var lossWeight: Double

    public init(lossWeight: Double = 1.0) { self.lossWeight = lossWeight }
    public init(parameters p: LossParameters) throws { lossWeight = try p.double("loss_weight") }

    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        guard input.rank == 4 else {
            throw LossError.invalidInput(argument: "input", message: "must be 4-D (N,C,H,W), found shape \(formatShape(input.shape))")
        }
        let padded = try input.pad([0, 1, 0, 1], mode: .replicate)
        let top = try padded.slice(dim: 2, end: -1)
        let corner = try top.slice(dim: 3, end: -1)
        let xDiff = try top.slice(dim: 3, start: 1) - corner
        let yDiff = try padded.slice(dim: 2, start: 1).slice(dim: 3, end: -1) - corner
        let tv = try (xDiff.square() + yDiff.square()).mean(dims: [1, 2, 3])
        return lossWeight == 1 ? tv : tv * lossWeight
    }
    public func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try self(x.tensor("input")))
    }
}
