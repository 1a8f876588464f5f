/// The shared part of MMagic's matting composition losses: compose
/// `merged = alpha * fg + (1 − alpha) * bg`, expand an (N,1,H,W) weight to 3 channels
/// (`weight.expand(-1, 3, -1, -1)`), then a pixel loss of `merged` against `ori_merged`.
struct Composition {
    static let inputs: [InputDeclaration] = [
        .tensor("pred_alpha", doc: "Predicted alpha matte (N,1,H,W)."),
        .tensor("fg", doc: "Foreground (N,3,H,W)."),
        .tensor("bg", doc: "Background (N,3,H,W)."),
        .tensor("ori_merged", doc: "Original merged image (N,3,H,W)."),
        .tensor("weight", optional: true, doc: "Weight (N,1,H,W), expanded to 3 channels."),
    ]
    static let parameters: [ParameterDeclaration] = [.lossWeight(), .reduction, .sampleWise]

    static func loss(_ x: LossInputs, reducer: MaskedReduction,
                     elementwise: @escaping (Fused, Fused) -> Fused) throws -> Tensor {
        let alpha = try x.tensor("pred_alpha"), fg = try x.tensor("fg"), bg = try x.tensor("bg")
        let ori = try x.tensor("ori_merged")
        guard fg.shape == bg.shape, fg.shape == ori.shape else {
            throw LossError.invalidInput(argument: "fg",
                message: "fg \(formatShape(fg.shape)), bg \(formatShape(bg.shape)) and ori_merged \(formatShape(ori.shape)) must have one shape")
        }
        guard alpha.rank == fg.rank, fg.rank == 4, alpha.shape[1] == 1,
              alpha.shape[0] == fg.shape[0], alpha.shape[2] == fg.shape[2], alpha.shape[3] == fg.shape[3] else {
            throw LossError.invalidInput(argument: "pred_alpha",
                message: "pred_alpha \(formatShape(alpha.shape)) must be (N,1,H,W) for fg \(formatShape(fg.shape))")
        }
        let merged = try alpha * fg + (1.0 - alpha) * bg
        var weight = x.optionalTensor("weight")
        if let w = weight {
            guard w.rank == 4, w.shape[1] == 1 || w.shape[1] == 3 else {
                throw LossError.invalidInput(argument: "weight",
                    message: "weight \(formatShape(w.shape)) must be (N,1,H,W) (it is expanded to 3 channels)")
            }
            do { weight = try w.expand(to: [w.shape[0], 3, w.shape[2], w.shape[3]]) } catch {
                throw LossError.invalidInput(argument: "weight", message: "weight \(formatShape(w.shape)) cannot be expanded to 3 channels")
            }
        }
        return try reducer(merged, ori, weight: weight, predName: "composed pred_alpha*fg+(1-pred_alpha)*bg",
                           targetName: "ori_merged", fused: elementwise)
    }
}

/// The criterion of a composition loss: `Base`'s element-wise function, applied to the
/// composed image against `ori_merged` (Composition). Its forward composes first, so it is not
/// fused sums of its inputs alone.
public protocol CompositionCriterion: PixelCriterion {
    associatedtype Base: PixelCriterion
    var base: Base { get }
    init(base: Base)
}

extension CompositionCriterion {
    public static var forwardIsFusedSums: Bool { false }

    public init(parameters p: LossParameters) throws { self.init(base: try Base(parameters: p)) }
    public func callAsFunction(_ p: Fused, _ t: Fused) -> Fused { base(p, t) }
    public func loss(_ x: LossInputs, reducer: MaskedReduction) throws -> Tensor {
        try Composition.loss(x, reducer: reducer, elementwise: callAsFunction)
    }
}

public struct L1CompositionCriterion: CompositionCriterion {
    public static let declaration = LossTypeDeclaration(
        name: "L1CompositionLoss", summary: "L1 loss of alpha*fg + (1-alpha)*bg against the original merged image.",
        details: "merged = pred_alpha*fg + (1-pred_alpha)*bg; loss_weight * l1(merged, ori_merged, weight expanded to 3 channels).",
        parameters: Composition.parameters, inputs: Composition.inputs)
    public let base: L1Criterion
    public init(base: L1Criterion = L1Criterion()) { self.base = base }
}

public struct MSECompositionCriterion: CompositionCriterion {
    public static let declaration = LossTypeDeclaration(
        name: "MSECompositionLoss", summary: "MSE of alpha*fg + (1-alpha)*bg against the original merged image.",
        details: "merged = pred_alpha*fg + (1-pred_alpha)*bg; loss_weight * mse(merged, ori_merged, weight expanded to 3 channels).",
        parameters: Composition.parameters, inputs: Composition.inputs)
    public let base: MSECriterion
    public init(base: MSECriterion = MSECriterion()) { self.base = base }
}

public struct CharbonnierCompCriterion: CompositionCriterion {
    public static let declaration = LossTypeDeclaration(
        name: "CharbonnierCompLoss", summary: "Charbonnier loss of alpha*fg + (1-alpha)*bg against the original merged image.",
        details: "merged = pred_alpha*fg + (1-pred_alpha)*bg; loss_weight * charbonnier(merged, ori_merged, weight expanded to 3 channels, eps).",
        parameters: Composition.parameters + [charbonnierEps],
        inputs: Composition.inputs)
    public let base: CharbonnierCriterion
    public init(base: CharbonnierCriterion = CharbonnierCriterion()) { self.base = base }
}

/// L1 composition loss — MMagic `L1CompositionLoss`: L1Loss of the composed image.
public typealias L1CompositionLoss = PixelLoss<L1CompositionCriterion>
/// MSE composition loss — MMagic `MSECompositionLoss`: MSELoss of the composed image.
public typealias MSECompositionLoss = PixelLoss<MSECompositionCriterion>
/// Charbonnier composition loss — MMagic `CharbonnierCompLoss` (eps 1e-12).
public typealias CharbonnierCompLoss = PixelLoss<CharbonnierCompCriterion>
