/// MMagic `LightCNNFeatureLoss` (DIC-GAN's face feature loss):
/// `loss_weight · crit(features(pred), features(gt).detach())`, crit `l1` or `mse` (mean; the
/// name exactly, case-sensitive, as MMagic checks it). `pretrained` is required: MMagic keeps
/// random weights when it is not a string (with a warning), which losscli does not reproduce.
public struct LightCNNFeatureLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "LightCNNFeatureLoss", summary: "Distance between LightCNN features of pred and gt (DIC-GAN's face loss).",
        details: "loss_weight * crit(F(pred), F(gt).detach()), F = LightCNN(3).features (MaxFeature layers, ceil-mode pools); "
            + "weights from pretrained (required; keys features.N.filter.*, strict).",
        parameters: [.init("pretrained", .weights, default: nil, doc: "The LightCNN's weights (light_cnn_feature.pth): a path."),
                     .lossWeight(),
                     .init("criterion", .choice(["l1", "mse"]), default: .string("l1"), doc: "Distance (mean-reduced), exactly 'l1' or 'mse'.")],
        inputs: [.tensor("pred", doc: "Prediction (N,3,H,W)."), .tensor("gt", doc: "Ground truth (N,3,H,W); detached.")])

    let lossWeight: Double
    let l1: Bool
    let weights: StateDict
    private let networks = NetworkCache<LightCNNFeatures>()

    public init(parameters p: LossParameters) throws {
        lossWeight = try p.double("loss_weight")
        l1 = try p.string("criterion") == "l1"
        weights = try p.stateDict("pretrained")
        // Keys and shapes checked now (a config-time error); converted when first evaluated.
        try LightCNNFeatures.check(weights.unwrapped())
    }

    private func network(_ dtype: DType) throws -> LightCNNFeatures {
        try networks.get(dtype: dtype, key: 0) { try LightCNNFeatures(weights: weights, dtype: dtype) }
    }

    public func callAsFunction(pred: Tensor, gt: Tensor) throws -> Tensor {
        guard pred.rank == 4, pred.shape[1] == 3 else {
            throw LossError.invalidInput(argument: "pred", message: "must be (N,3,H,W), found shape \(formatShape(pred.shape))")
        }
        guard gt.shape == pred.shape else {
            throw LossError.invalidInput(argument: "gt", message: "must have pred's shape \(formatShape(pred.shape)), found \(formatShape(gt.shape))")
        }
        let net = try network(pred.dtype)
        let f = try net([pred, gt.detached()])
        let d = try f[0] - f[1]
        return (l1 ? d.abs().mean() : d.square().mean()) * lossWeight
    }

    public func forward(_ inputs: LossInputs) throws -> LossOutput {
        .value(try self(pred: inputs.tensor("pred"), gt: inputs.tensor("gt")))
    }
}
