/// How an element-wise loss is reduced (PyTorch's `reduction`).
public enum Reduction: String, CaseIterable {
    case none, mean, sum
}

/// MMagic's `mask_reduce_loss` — the `@masked_loss` mechanism — written once for every pixel
/// and composition loss; each loss supplies only its element-wise function.
///
/// With `e` the element-wise loss (shape of pred) and an optional `weight`:
/// - weight: same rank as `e`, channel extent 1 or `e`'s; `e = e * weight` (broadcast);
/// - no weight, or `sum`: plain `none`/`mean`/`sum` of `e`;
/// - weight and `mean`: the weight is expanded to `e`'s shape, then
///   `sum(e) / (sum(weight) + 1e-12)`, or with `sampleWise`
///   `Σ_n sum(e_n) / (sum(weight_n) + 1e-12) / N` (N from the weight, 4-D only, as in MMagic).
public struct MaskedReduction {
    public var reduction: Reduction
    public var sampleWise: Bool
    /// MMagic's `eps` in the weighted mean.
    public static let eps = 1e-12

    public init(reduction: Reduction = .mean, sampleWise: Bool = false) {
        self.reduction = reduction
        self.sampleWise = sampleWise
    }

    /// Reads `reduction` and `sample_wise` (when declared) from decoded parameters. The value
    /// of `reduction` was checked (with its config path) against the declaration's choice,
    /// `ParameterDeclaration.reduction`, whose values are `Reduction`'s cases.
    public init(parameters p: LossParameters) throws {
        let name = try p.string("reduction")
        guard let r = Reduction(rawValue: name) else {
            throw LossError.config(path: "reduction", message: "\"\(name)\" is not a Reduction: \(p.declaration.name) must declare reduction as ParameterDeclaration.reduction")
        }
        reduction = r
        sampleWise = p.declaration.parameter("sample_wise") != nil ? try p.bool("sample_wise") : false
    }

    /// `@masked_loss`: checks that `pred` and `target` have one shape, applies `elementwise`,
    /// then reduces with `weight`.
    public func callAsFunction(_ pred: Tensor, _ target: Tensor, weight: Tensor?,
                               predName: String = "pred", targetName: String = "target", weightName: String = "weight",
                               elementwise: (Tensor, Tensor) throws -> Tensor) throws -> Tensor {
        guard pred.shape == target.shape else {
            throw LossError.invalidInput(argument: predName,
                message: "\(predName) \(formatShape(pred.shape)) and \(targetName) \(formatShape(target.shape)) have different shapes")
        }
        return try reduce(elementwise(pred, target), weight: weight, weightName: weightName, predName: predName)
    }

    /// The same `@masked_loss` with the element-wise function written on `Fused` scalars: the
    /// element-wise loss, its weighting and its sum run as one fused pass (and so does the
    /// backward), instead of one pass per op (measured in docs/speed.md). Same semantics as the
    /// tensor form; the built-in pixel losses use it. `LossCustomGuideTests` checks it against
    /// the tensor form on every reduction, sample_wise and dtype (same values; gradients within
    /// 4 ulps).
    public func callAsFunction(_ pred: Tensor, _ target: Tensor, weight: Tensor?,
                               predName: String = "pred", targetName: String = "target", weightName: String = "weight",
                               fused elementwise: @escaping (Fused, Fused) -> Fused) throws -> Tensor {
        guard pred.shape == target.shape else {
            throw LossError.invalidInput(argument: predName,
                message: "\(predName) \(formatShape(pred.shape)) and \(targetName) \(formatShape(target.shape)) have different shapes")
        }
        guard let weight = weight else {
            switch reduction {
            case .none: return try Tensor.fusedMap([pred, target]) { elementwise($0[0], $0[1]) }
            case .mean: return try Tensor.fusedSum([pred, target]) { elementwise($0[0], $0[1]) } / Double(pred.count)
            case .sum: return try Tensor.fusedSum([pred, target]) { elementwise($0[0], $0[1]) }
            }
        }
        try checkWeight(weight, against: pred.shape, weightName: weightName, predName: predName)
        // A weight that broadcasts beyond pred's shape (MMagic allows it) takes the tensor form.
        guard (try? broadcastShapes([pred.shape, weight.shape], op: "")) == pred.shape else {
            return try self(pred, target, weight: weight, predName: predName, targetName: targetName, weightName: weightName) {
                try Tensor.fusedMap([$0, $1]) { elementwise($0[0], $0[1]) }
            }
        }
        // The weight is broadcast inside the fused pass, never expanded in memory (no copy of
        // pred's size per term; docs/speed.md). LossCustomGuideTests check this against the
        // tensor form.
        let weighted: ([Fused]) -> Fused = { elementwise($0[0], $0[1]) * $0[2] }
        switch reduction {
        case .none: return try Tensor.fusedMap([pred, target, weight], weighted)
        case .sum: return try Tensor.fusedSum([pred, target, weight], weighted)
        case .mean:
            // MMagic expands the weight only when it has one channel; otherwise it sums it as given.
            let expands = weight.shape[1] == 1
            if sampleWise {
                guard weight.rank == 4 else {
                    throw LossError.invalidInput(argument: weightName,
                        message: "sample_wise needs a 4-D (N,C,H,W) \(weightName), found \(formatShape(expands ? pred.shape : weight.shape))")
                }
                // Σ_n (Σ e·w over sample n) / (Σ weight over sample n + eps) / N. The per-sample
                // sums of e·w are one fused pass whose only inputs are pred, target and weight, so
                // it can share its pass with the other terms' sums (FusedSumPlan); MMagic divides
                // each element before summing, which differs only in rounding (float64 sums here).
                // The weight expanded over pred's shape (MMagic expands a one-channel weight)
                // repeats each weight element the same number of times in every sample: no
                // pred-sized copy is summed.
                // The weight's sums are fused sums too: planned with the others in the forward,
                // and their backward joins the weight's other gradient in one pass.
                let perSample = try Tensor.fusedSum([weight], keepingLeading: 1) { $0[0] }
                let repeats = Double(pred.count / Swift.max(pred.shape[0], 1)) / Double(Swift.max(weight.count / Swift.max(weight.shape[0], 1), 1))
                let denominator = (expands ? perSample * repeats : perSample) + MaskedReduction.eps
                let sums = try Tensor.fusedSum([pred, target, weight], keepingLeading: 1, weighted)
                return try (sums / denominator).sum() / Double(expands ? pred.shape[0] : weight.shape[0])
            }
            // Σ of the weight expanded to pred's shape: each weight element appears
            // pred.count / weight.count times in it, so no pass over pred's shape is needed.
            let plainSum = try Tensor.fusedSum([weight]) { $0[0] }
            let weightSum = expands ? plainSum * Double(pred.count / Swift.max(weight.count, 1)) : plainSum
            return try Tensor.fusedSum([pred, target, weight], weighted) / (weightSum + MaskedReduction.eps)
        }
    }

    func checkWeight(_ weight: Tensor, against shape: [Int], weightName: String, predName: String) throws {
        guard shape.count >= 2 else {
            throw LossError.invalidInput(argument: weightName,
                message: "a \(weightName) needs \(predName) of rank 2 or more (N,C,...), found \(formatShape(shape))")
        }
        guard weight.rank == shape.count else {
            throw LossError.invalidInput(argument: weightName,
                message: "\(weightName) \(formatShape(weight.shape)) must have the rank of \(predName) \(formatShape(shape))")
        }
        guard weight.shape[1] == 1 || weight.shape[1] == shape[1] else {
            throw LossError.invalidInput(argument: weightName,
                message: "\(weightName) \(formatShape(weight.shape)) has \(weight.shape[1]) channels; expected 1 or \(shape[1]) as in \(predName) \(formatShape(shape))")
        }
    }

    /// `mask_reduce_loss(loss, weight, reduction, sample_wise)`.
    public func reduce(_ loss: Tensor, weight: Tensor?, weightName: String = "weight", predName: String = "pred") throws -> Tensor {
        guard let weight = weight else {
            switch reduction {
            case .none: return loss
            case .mean: return loss.mean()
            case .sum: return loss.sum()
            }
        }
        try checkWeight(weight, against: loss.shape, weightName: weightName, predName: predName)
        let weighted: Tensor
        do { weighted = try loss * weight } catch {
            throw LossError.invalidInput(argument: weightName,
                message: "\(weightName) \(formatShape(weight.shape)) does not broadcast against \(predName) \(formatShape(loss.shape))")
        }
        switch reduction {
        case .none: return weighted
        case .sum: return weighted.sum()
        case .mean:
            let w = weight.shape[1] == 1 ? try weight.expand(to: weighted.shape) : weight
            if sampleWise {
                guard w.rank == 4 else {
                    throw LossError.invalidInput(argument: weightName,
                        message: "sample_wise needs a 4-D (N,C,H,W) \(weightName), found \(formatShape(w.shape))")
                }
                let perSample = try w.sum(dims: [1, 2, 3], keepdim: true)
                return try (weighted / (perSample + MaskedReduction.eps)).sum() / Double(w.shape[0])
            }
            return try weighted.sum() / (w.sum() + MaskedReduction.eps)
        }
    }
}
