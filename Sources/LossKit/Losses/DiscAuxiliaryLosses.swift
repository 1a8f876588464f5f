/// Discriminator shift loss (PGGAN) — MMagic `DiscShiftLoss`: `loss_weight * mean(x²)`,
/// loss_weight default 0.1.
public struct DiscShiftLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "DiscShiftLoss", summary: "Keeps discriminator outputs near zero: loss_weight * mean(x^2).",
        details: "loss_weight * mean(x^2); loss_weight default 0.1.",
        parameters: [.lossWeight(0.1)],
        inputs: [.tensor("x", doc: "Discriminator output.")])

    public var lossWeight: Double
    public init(lossWeight: Double = 0.1) { self.lossWeight = lossWeight }
    public init(parameters p: LossParameters) throws { lossWeight = try p.double("loss_weight") }
    public func callAsFunction(_ x: Tensor) -> Tensor { x.square().mean() * lossWeight }
    public func forward(_ x: LossInputs) throws -> LossOutput { .value(self(try x.tensor("x"))) }
}

/// MMagic `DiscShiftLossComps`: `pred² * loss_weight`, NOT reduced (the term's reported value
/// is then its mean); named by `loss_name` (default `loss_disc_shift`), so two of them in a
/// list are summed.
public struct DiscShiftLossComps: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "DiscShiftLossComps", summary: "Disc shift loss component: pred^2 * loss_weight, element-wise (reported as its mean).",
        details: "pred^2 * loss_weight, not reduced; terms named by loss_name (default loss_disc_shift) are summed.",
        parameters: [.lossWeight(1.0), .lossName("loss_disc_shift")],
        inputs: [.tensor("pred", doc: "Discriminator output.")])

    public var lossWeight: Double
    public init(lossWeight: Double = 1.0) { self.lossWeight = lossWeight }
    public init(parameters p: LossParameters) throws { lossWeight = try p.double("loss_weight") }
    public func callAsFunction(_ pred: Tensor) -> Tensor { pred.square() * lossWeight }
    public func forward(_ x: LossInputs) throws -> LossOutput { .value(self(try x.tensor("pred"))) }
}
