/// The adversarial objectives of MMagic's `GANLoss` and `GANLossComps`.
public enum GANType: String, CaseIterable {
    case vanilla, lsgan, wgan, hinge, l1, smgan
    case wganLogisticNS = "wgan-logistic-ns"
}

/// The computation shared by `GANLoss` and `GANLossComps` (they differ in the types accepted
/// and in `mask`). Labels are `ones_like(input) * (real ? real_label_val : fake_label_val)`;
/// `loss_weight` multiplies only when `is_disc` is false.
struct GANObjective {
    var type: GANType
    var realLabel: Double
    var fakeLabel: Double
    var lossWeight: Double

    static func parameters(types: [GANType]) -> [ParameterDeclaration] {
        [.init("gan_type", .choice(types.map(\.rawValue)), default: nil, doc: "The adversarial objective."),
         .init("real_label_val", .float, default: .double(1.0), doc: "Label value of real samples."),
         .init("fake_label_val", .float, default: .double(0.0), doc: "Label value of fake samples."),
         .lossWeight()]
    }

    init(parameters p: LossParameters) throws {
        let name = try p.string("gan_type")
        guard let t = GANType(rawValue: name) else {
            throw LossError.config(path: "gan_type", message: "GAN type \(name) is not implemented")
        }
        type = t
        realLabel = try p.double("real_label_val")
        fakeLabel = try p.double("fake_label_val")
        lossWeight = try p.double("loss_weight")
    }

    func label(_ input: Tensor, real: Bool) throws -> Tensor {
        try Tensor.full(shape: input.shape, value: real ? realLabel : fakeLabel, dtype: input.dtype)
    }

    func callAsFunction(_ input: Tensor, targetIsReal: Bool, isDisc: Bool, mask: Tensor?) throws -> Tensor {
        var loss: Tensor
        switch type {
        case .vanilla:
            let y = try label(input, real: targetIsReal)
            loss = try (bceWithLogits(input, y)).mean()
        case .lsgan:
            loss = try (input - label(input, real: targetIsReal)).square().mean()
        case .l1:
            loss = try (input - label(input, real: targetIsReal)).abs().mean()
        case .wgan:
            loss = targetIsReal ? -input.mean() : input.mean()
        case .wganLogisticNS:
            loss = targetIsReal ? (-input).softplus().mean() : input.softplus().mean()
        case .hinge:
            if isDisc {
                loss = ((targetIsReal ? -input : input) + 1.0).relu().mean()
            } else {
                loss = -input.mean()
            }
        case .smgan:
            loss = try smgan(input, targetIsReal: targetIsReal, isDisc: isDisc, mask: mask)
        }
        return isDisc ? loss : loss * lossWeight
    }

    /// BCE with logits element-wise: `max(x, 0) − x·y + log1p(exp(−|x|))`, PyTorch's formula,
    /// with PyTorch's gradient `σ(x) − y` (and `−x` for y) as its backward rule.
    func bceWithLogits(_ x: Tensor, _ y: Tensor) throws -> Tensor {
        let value = try withNoGrad { try x.relu() - x * y + (-x.abs()).exp().log1p() }
        return record("binary_cross_entropy_with_logits", [x, y], value) { ctx in
            [ctx.needs[0] ? try (x.sigmoid() - y) * ctx.grad : nil,
             ctx.needs[1] ? try -x * ctx.grad : nil]
        }
    }

    /// smgan (AOT-GAN): the input is resized to the mask's size (bilinear, align_corners=True)
    /// when they differ; disc real: MSE to the real label; disc fake: MSE to the blurred mask
    /// (detached); generator: `mean(MSE(input, label) * mask / mean(mask))` — as in MMagic,
    /// the MSE is already a scalar there, so the mask only rescales by mean(mask)/mean(mask).
    func smgan(_ input: Tensor, targetIsReal: Bool, isDisc: Bool, mask: Tensor?) throws -> Tensor {
        guard let mask = mask else {
            throw LossError.invalidInput(argument: "mask", message: "gan_type smgan needs a mask (N,C,H,W), none was given")
        }
        guard input.rank == 4 else {
            throw LossError.invalidInput(argument: "input", message: "must be 4-D (N,C,H,W) for smgan, found shape \(formatShape(input.shape))")
        }
        guard mask.rank == 4 else {
            throw LossError.invalidInput(argument: "mask", message: "must be 4-D (N,C,H,W), found shape \(formatShape(mask.shape))")
        }
        var x = input
        if input.shape[2] != mask.shape[2] || input.shape[3] != mask.shape[3] {
            guard input.shape[2] > 0, input.shape[3] > 0, mask.shape[2] > 0, mask.shape[3] > 0 else {
                throw LossError.invalidInput(argument: "input",
                    message: "cannot resize input \(formatShape(input.shape)) to the mask's size \(formatShape(mask.shape)): empty spatial dimension")
            }
            x = try interpolate(input, size: (mask.shape[2], mask.shape[3]), mode: .bilinear, alignCorners: true)
        }
        let target: Tensor
        if isDisc && !targetIsReal {
            target = try GaussianBlur.blur(mask.detach().to(x.dtype))
        } else {
            target = try label(x, real: targetIsReal)
        }
        let mse: Tensor
        do { mse = try (x - target).square().mean() } catch {
            throw LossError.invalidInput(argument: "mask",
                message: "mask \(formatShape(mask.shape)) does not broadcast against input \(formatShape(input.shape)) (resized to \(formatShape(x.shape)))")
        }
        if isDisc { return mse }
        return try (mse * mask / mask.mean()).mean()
    }
}

/// MMagic `GANLoss`: vanilla, lsgan, wgan, hinge, l1 and smgan objectives.
///
/// Forward `input`, `target_is_real`, `is_disc` (false), `mask` (smgan only).
/// vanilla: BCE-with-logits mean; lsgan: mean((x − label)²); wgan: ∓mean(x); hinge: disc
/// mean(relu(1 ∓ x)), generator −mean(x); l1: mean|x − label|; smgan: see `GANObjective.smgan`.
/// `loss_weight` applies to generator losses only.
public struct GANLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "GANLoss", summary: "Adversarial loss: vanilla, lsgan, wgan, hinge, l1 or smgan.",
        details: "labels = ones_like(input) * real/fake value; loss_weight only when is_disc is false; smgan needs mask (blurred 71x71, sigma 10, for disc fake; input resized bilinear align_corners=True to the mask size).",
        parameters: GANObjective.parameters(types: [.vanilla, .lsgan, .wgan, .hinge, .l1, .smgan]),
        inputs: [.tensor("input", doc: "Discriminator output."),
                 .bool("target_is_real", doc: "Whether the target is real."),
                 .bool("is_disc", default: false, doc: "Loss for the discriminator (loss_weight not applied)."),
                 .tensor("mask", optional: true, doc: "Mask (N,C,H,W); required by smgan.")])

    let objective: GANObjective
    public init(parameters p: LossParameters) throws { objective = try GANObjective(parameters: p) }
    public func callAsFunction(_ input: Tensor, targetIsReal: Bool, isDisc: Bool = false, mask: Tensor? = nil) throws -> Tensor {
        try objective(input, targetIsReal: targetIsReal, isDisc: isDisc, mask: mask)
    }
    public func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try self(x.tensor("input"), targetIsReal: x.bool("target_is_real"),
                        isDisc: x.bool("is_disc", default: false), mask: x.optionalTensor("mask")))
    }
}

/// MMagic `GANLossComps`: vanilla, lsgan, wgan, hinge and wgan-logistic-ns (softplus(∓x) mean);
/// no mask. `loss_weight` applies to generator losses only.
public struct GANLossComps: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "GANLossComps", summary: "Adversarial loss component: vanilla, lsgan, wgan, hinge or wgan-logistic-ns.",
        details: "as GANLoss; wgan-logistic-ns: softplus(-input).mean() if real else softplus(input).mean(); loss_weight only when is_disc is false.",
        parameters: GANObjective.parameters(types: [.vanilla, .lsgan, .wgan, .hinge, .wganLogisticNS]),
        inputs: [.tensor("input", doc: "Discriminator output."),
                 .bool("target_is_real", doc: "Whether the target is real."),
                 .bool("is_disc", default: false, doc: "Loss for the discriminator (loss_weight not applied).")])

    let objective: GANObjective
    public init(parameters p: LossParameters) throws { objective = try GANObjective(parameters: p) }
    public func callAsFunction(_ input: Tensor, targetIsReal: Bool, isDisc: Bool = false) throws -> Tensor {
        try objective(input, targetIsReal: targetIsReal, isDisc: isDisc, mask: nil)
    }
    public func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try self(x.tensor("input"), targetIsReal: x.bool("target_is_real"), isDisc: x.bool("is_disc", default: false)))
    }
}
