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

    static func loss(_ x: LossInputs, reducer: MaskedReduction, lossWeight: Double,
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
                           targetName: "ori_merged", fused: elementwise) * lossWeight
    }
}

/// L1 composition loss — MMagic `L1CompositionLoss`: L1Loss of the composed image.
public struct L1CompositionLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "L1CompositionLoss", summary: "L1 loss of alpha*fg + (1-alpha)*bg against the original merged image.",
        details: "merged = pred_alpha*fg + (1-pred_alpha)*bg; loss_weight * l1(merged, ori_merged, weight expanded to 3 channels).",
        parameters: Composition.parameters, inputs: Composition.inputs)
    public var lossWeight: Double
    public var reducer: MaskedReduction
    public init(parameters p: LossParameters) throws {
        lossWeight = try p.double("loss_weight")
        reducer = try MaskedReduction(parameters: p)
    }
    public func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try Composition.loss(x, reducer: reducer, lossWeight: lossWeight, elementwise: PixelCriterion.l1))
    }
}

/// MSE composition loss — MMagic `MSECompositionLoss`: MSELoss of the composed image.
public struct MSECompositionLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "MSECompositionLoss", summary: "MSE of alpha*fg + (1-alpha)*bg against the original merged image.",
        details: "merged = pred_alpha*fg + (1-pred_alpha)*bg; loss_weight * mse(merged, ori_merged, weight expanded to 3 channels).",
        parameters: Composition.parameters, inputs: Composition.inputs)
    public var lossWeight: Double
    public var reducer: MaskedReduction
    public init(parameters p: LossParameters) throws {
        lossWeight = try p.double("loss_weight")
        reducer = try MaskedReduction(parameters: p)
    }
    public func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try Composition.loss(x, reducer: reducer, lossWeight: lossWeight, elementwise: PixelCriterion.mse))
    }
}

/// Charbonnier composition loss — MMagic `CharbonnierCompLoss` (eps 1e-12).
public struct CharbonnierCompLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "CharbonnierCompLoss", summary: "Charbonnier loss of alpha*fg + (1-alpha)*bg against the original merged image.",
        details: "merged = pred_alpha*fg + (1-pred_alpha)*bg; loss_weight * charbonnier(merged, ori_merged, weight expanded to 3 channels, eps).",
        parameters: Composition.parameters + [.init("eps", .float, default: .double(1e-12), doc: "Curvature near zero.")],
        inputs: Composition.inputs)
    public var lossWeight: Double
    public var eps: Double
    public var reducer: MaskedReduction
    public init(parameters p: LossParameters) throws {
        lossWeight = try p.double("loss_weight")
        eps = try p.double("eps")
        reducer = try MaskedReduction(parameters: p)
    }
    public func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try Composition.loss(x, reducer: reducer, lossWeight: lossWeight, elementwise: PixelCriterion.charbonnier(eps: eps)))
    }
}
