/// Transferal perceptual loss (TTSR) — MMagic `TransferalPerceptualLoss`.
///
/// `loss_weight * Σ_i criterion(maps[i] * soft[i], textures[i] * soft[i])`, criterion `mse` or
/// `l1` (mean-reduced; case-insensitive, as MMagic lowercases it).
/// With attention: `soft[0] = sigmoid(soft_attention)` and, for level i ≥ 1,
/// `soft[i] = bicubic(soft_attention, (h·2^i, w·2^i), align_corners=False)` — of the RAW
/// attention, without sigmoid (MMagic's behaviour, kept). Without attention the masks are
/// `[1, 1, 1]`, and as Python's `zip` stops at the shortest list, only the first three levels
/// (and no more than there are textures) count.
public struct TransferalPerceptualLoss: LossModule {
    public static let declaration = LossTypeDeclaration(
        name: "TransferalPerceptualLoss", summary: "TTSR's texture loss between feature maps and transferred textures, optionally attention-weighted.",
        details: "w * sum_i criterion(maps[i]*soft[i], textures[i]*soft[i]); soft = [sigmoid(att), bicubic(att, x2), bicubic(att, x4), ...] (raw attention after level 0, as MMagic), or [1,1,1] without attention (zip truncates to 3 levels).",
        parameters: [.lossWeight(),
                     .init("use_attention", .bool, default: .bool(true), doc: "Weight the levels by the soft attention."),
                     .init("criterion", .choice(["l1", "mse"], caseInsensitive: true), default: .string("mse"),
                           doc: "Per-level criterion (mean-reduced).")],
        inputs: [.tensorList("maps", doc: "Feature maps, level i of size (h*2^i, w*2^i)."),
                 .tensor("soft_attention", doc: "Soft attention (N,1,h,w)."),
                 .tensorList("textures", doc: "Transferred textures, shapes as maps.")])

    public var lossWeight: Double
    public var useAttention: Bool
    public var criterionIsL1: Bool

    public init(parameters p: LossParameters) throws {
        lossWeight = try p.double("loss_weight")
        useAttention = try p.bool("use_attention")
        criterionIsL1 = try p.string("criterion") == "l1"
    }

    public func callAsFunction(maps: [Tensor], softAttention soft: Tensor, textures: [Tensor]) throws -> Tensor {
        let levels: Int
        var softs: [Tensor?] = []
        if useAttention {
            guard soft.rank == 4 else {
                throw LossError.invalidInput(argument: "soft_attention",
                    message: "must be 4-D (N,1,h,w), found shape \(formatShape(soft.shape))")
            }
            let (h, w) = (soft.shape[2], soft.shape[3])
            // MMagic resizes for every map; only the levels that zip reaches can change the loss.
            levels = min(maps.count, textures.count)
            softs.append(soft.sigmoid())
            for i in 1..<max(levels, 1) {
                // Level i must broadcast against maps[i]; checking first keeps a bad list from
                // asking for an absurd (h·2^i, w·2^i) resize.
                let target = [soft.shape[0], soft.shape[1], h << min(i, 32), w << min(i, 32)]
                guard i < 32, h > 0, w > 0, (try? broadcastShapes([maps[i].shape, target], op: "")) == maps[i].shape else {
                    throw LossError.invalidInput(argument: "soft_attention",
                        message: "attention at level \(i) \(formatShape(target)) does not broadcast against maps[\(i)] \(formatShape(maps[i].shape))")
                }
                softs.append(try interpolate(soft, size: (target[2], target[3]), mode: .bicubic, alignCorners: false))
            }
        } else {
            softs = [nil, nil, nil]
            levels = min(maps.count, textures.count, 3)
        }
        var total: Tensor? = nil
        for i in 0..<levels {
            let (m, t) = (maps[i], textures[i])
            guard m.shape == t.shape else {
                throw LossError.invalidInput(argument: "maps",
                    message: "maps[\(i)] \(formatShape(m.shape)) and textures[\(i)] \(formatShape(t.shape)) have different shapes")
            }
            var a = m, b = t
            if let s = softs[i] {
                do { a = try m * s; b = try t * s } catch {
                    throw LossError.invalidInput(argument: "soft_attention",
                        message: "attention at level \(i) \(formatShape(s.shape)) does not broadcast against maps[\(i)] \(formatShape(m.shape))")
                }
            }
            let d = try a - b
            let level = criterionIsL1 ? d.abs().mean() : d.square().mean()
            total = try total.map { try $0 + level } ?? level
        }
        // No level at all: MMagic returns the integer 0 times the weight.
        return (total ?? Tensor.scalar(0, dtype: maps.first?.dtype ?? soft.dtype)) * lossWeight
    }

    public func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try self(maps: x.tensorList("maps"), softAttention: x.tensor("soft_attention"), textures: x.tensorList("textures")))
    }
}
