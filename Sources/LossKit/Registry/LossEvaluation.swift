/// Which inputs to differentiate with respect to.
public struct EvaluationOptions {
    /// Compute gradients at all.
    public var gradients: Bool
    /// `--wrt`: exactly these inputs, for the total and every term (zeros where not read).
    /// nil: each term's own tensor inputs, and for the total those of the terms in it.
    public var wrt: [String]?
    /// Inputs that were not floating point in their file: never differentiated by default.
    public var nonFloatInputs: Set<String>

    /// Gradients of each term too (default); false: of the total only (the same backward
    /// sweep with one root, and a quarter of the memory for three terms).
    public var termGradients: Bool
    /// Plan the fused sums of the terms that allow it (`FusedSumPlan`); tests switch it off to
    /// compare with one pass per sum.
    var planFusedSums = true

    public init(gradients: Bool = true, wrt: [String]? = nil, nonFloatInputs: Set<String> = [], termGradients: Bool = true) {
        self.gradients = gradients
        self.wrt = wrt
        self.nonFloatInputs = nonFloatInputs
        self.termGradients = termGradients
    }

    /// The inputs a gradient is taken with respect to, for an output that reads `read`.
    func targets(_ read: [String]) -> [String] {
        wrt ?? read.filter { !nonFloatInputs.contains($0) }
    }

    /// The gradient entries of terms reading these inputs: `"total"` (the inputs of the terms
    /// in the total) first, then each term unless `termGradients` is off. The one rule both
    /// `LossProgram.plannedOutputs` and `ForwardPass.backward` follow.
    func gradientOrder(_ terms: [(name: String, inputs: [String])]) -> [(key: String, inputs: [String])] {
        var totalRead: [String] = []
        for t in terms where Evaluation.isInTotal(t.name) { for r in t.inputs where !totalRead.contains(r) { totalRead.append(r) } }
        var order: [(key: String, inputs: [String])] = [("total", targets(totalRead))]
        if termGradients { order += terms.map { ($0.name, targets($0.inputs)) } }
        return order
    }
}

/// The forward pass of a program: every term's value and the total, with the graph that
/// `backward()` differentiates.
public struct ForwardPass {
    public let terms: [Evaluation.Term]
    /// Sum of the reported values of the terms in the total (0 when none is).
    public let total: Double
    let options: EvaluationOptions
    /// The differentiated copies of the inputs (the caller's tensors are not modified).
    let leaves: [String: Tensor]
    /// The total as a tensor (nil when no term is in it) and each term's reported tensor.
    let totalTensor: Tensor?
    let reportedTensors: [Tensor]
    let plannedSumsServed: Int

    /// The gradients the options ask for, and the evaluation they complete. The total and
    /// every term (or the total alone, with `termGradients` off) are the roots of one backward
    /// sweep (`backwardSweep(of:wrt:)`): their fused passes over the shared inputs become one,
    /// writing each gradient once. Measured in docs/speed.md (workload 1b).
    public func backward() throws -> Evaluation {
        var gradients: [String: [String: Tensor]] = [:]
        var order: [(key: String, inputs: [String])] = []
        if options.gradients {
            order = options.gradientOrder(terms.map { ($0.name, $0.inputs) })
            var names: [String] = []
            for (_, wanted) in order { for n in wanted where !names.contains(n) { names.append(n) } }
            var leafList: [Tensor] = []
            for n in names {
                guard let leaf = leaves[n] else {
                    throw LossError.config(path: "wrt", message: "no input named \"\(n)\" to differentiate with respect to")
                }
                leafList.append(leaf)
            }
            // Distinct roots only: a total of one term is that term's own tensor, and one
            // sweep slot serves both.
            var roots: [Tensor] = []
            func slot(_ t: Tensor) -> Int {
                if let i = roots.firstIndex(where: { $0 === t }) { return i }
                roots.append(t); return roots.count - 1
            }
            var slots: [Int?] = [totalTensor.map(slot)]
            if options.termGradients { slots += reportedTensors.map(slot) }
            let found = leafList.isEmpty || roots.isEmpty ? roots.map { _ in [Tensor?]() } : try backwardSweep(of: roots, wrt: leafList, gradOutputs: nil, createGraph: false)
            for ((key, wanted), r) in zip(order, slots) {
                var out: [String: Tensor] = [:]
                for n in wanted {
                    guard let k = names.firstIndex(of: n) else { continue }
                    let g = r.flatMap { found[$0].indices.contains(k) ? found[$0][k] : nil }
                    out[n] = try g.map { $0.dtype == leafList[k].dtype ? $0 : $0.to(leafList[k].dtype) }
                        ?? Tensor.zeros(shape: leafList[k].shape, dtype: leafList[k].dtype)
                }
                gradients[key] = out
            }
        }
        return Evaluation(terms: terms, total: total, gradients: gradients, gradientOrder: order,
                          plannedSumsServed: plannedSumsServed)
    }
}

/// The values (and gradients) of every term of a program.
public struct Evaluation {
    /// MMagic's rule: a term is in the total when its name contains `loss`.
    static func isInTotal(_ name: String) -> Bool { name.contains("loss") }

    /// One reported term, after same-name summing.
    public struct Term {
        public var name: String
        /// The loss type; `A+B` when terms of different types were summed under one name.
        public var type: String
        /// The full output (saved by `--values-out`).
        public var value: Tensor
        /// `value.mean()` as MMagic's `parse_losses` logs it (the value itself for a scalar).
        public var reported: Double
        /// The name contains `loss`, so the term is part of the total.
        public var inTotal: Bool
        /// Input names this term reads, in argument order.
        public var inputs: [String]
    }

    public var terms: [Term]
    /// Sum of the reported values of the terms in the total (0 when none is).
    public var total: Double
    /// Gradients keyed by `"total"` or a term name, then by input name; each has its input's shape.
    public var gradients: [String: [String: Tensor]]
    /// Input names of each gradient entry in a stable order (`"total"` first, then terms).
    public var gradientOrder: [(key: String, inputs: [String])]
    /// How many fused sums the forward took from its plan (tests check planning took effect).
    var plannedSumsServed = 0

    public func term(named name: String) -> Term? { terms.first { $0.name == name } }
}

extension LossProgram {
    /// Evaluates every term on `inputs`, sums same-named terms and forms the total; the
    /// gradients are the returned pass's `backward()`.
    public func forward(inputs: [String: Tensor], options: EvaluationOptions = .init()) throws -> ForwardPass {
        // Leaves that gradients are taken with respect to; the caller's tensors are not modified.
        var leaves: [String: Tensor] = [:]
        for (k, t) in inputs { leaves[k] = options.gradients && !options.nonFloatInputs.contains(k) ? t.detach().requiringGrad() : t.detach() }

        struct Partial { var name: String; var types: [String]; var value: Tensor; var inputs: [String] }
        var partials: [Partial] = []
        // Terms whose forward is fused sums: their sums are computed together first, one pass
        // over the shared inputs instead of one per term (FusedSumPlan). A term that fails here
        // fails again below, with its error.
        let plan = FusedSumPlan()
        let planned = terms.filter { type(of: $0.module).forwardIsFusedSums }
        if planned.count > 1 && options.planFusedSums {
            plan.record {
                withNoGrad { for term in planned { if let (bound, _) = try? term.bind(leaves) { _ = try? term.module.forward(bound) } } }
            }
        }
        for term in terms {
            let (bound, read) = try term.bind(leaves)
            let output: LossOutput
            do { output = try plan.apply { try term.module.forward(bound) } } catch var e as LossError {
                // Say which input a data_info-mapped argument came from.
                if case let .invalidInput(arg, message) = e,
                   let input = term.tensorBindings.first(where: { $0.argument == arg })?.input, input != arg {
                    e = .invalidInput(argument: arg, message: message + " (\(arg) is input \"\(input)\")")
                }
                throw LossError.inTerm(term: term.name, type: term.declaration.name, underlying: e)
            } catch {
                throw LossError.inTerm(term: term.name, type: term.declaration.name, underlying: .tensor("\(error)"))
            }
            var dedupRead: [String] = []
            for r in read where !dedupRead.contains(r) { dedupRead.append(r) }
            let pieces: [(String, Tensor)]
            switch output {
            case let .value(v): pieces = [(term.name, v)]
            case let .parts(parts): pieces = parts.map { ("\(term.name).\($0.name)", $0.value) }
            }
            for (name, value) in pieces {
                if let i = partials.firstIndex(where: { $0.name == name }) {
                    // Same-named terms are summed, as MMagic's models do with `loss_name()`.
                    do { partials[i].value = try partials[i].value + value } catch {
                        throw LossError.inTerm(term: name, type: term.declaration.name,
                            underlying: .invalidInput(argument: "value",
                                message: "cannot add outputs of shapes \(formatShape(partials[i].value.shape)) and \(formatShape(value.shape)) of the same-named terms"))
                    }
                    if !partials[i].types.contains(term.declaration.name) { partials[i].types.append(term.declaration.name) }
                    for r in dedupRead where !partials[i].inputs.contains(r) { partials[i].inputs.append(r) }
                } else {
                    partials.append(Partial(name: name, types: [term.declaration.name], value: value, inputs: dedupRead))
                }
            }
        }

        var reportedTensors: [Tensor] = []
        var result: [Evaluation.Term] = []
        var totalTensor: Tensor? = nil
        for p in partials {
            let reported = p.value.shape.isEmpty ? p.value : p.value.mean()
            reportedTensors.append(reported)
            let inTotal = Evaluation.isInTotal(p.name)
            if inTotal { totalTensor = try totalTensor.map { try $0 + reported } ?? reported }
            result.append(.init(name: p.name, type: p.types.joined(separator: "+"), value: p.value,
                                reported: try reported.item(), inTotal: inTotal, inputs: p.inputs))
        }
        return ForwardPass(terms: result, total: try totalTensor?.item() ?? 0, options: options, leaves: leaves,
                           totalTensor: totalTensor, reportedTensors: reportedTensors, plannedSumsServed: plan.served)
    }

    /// `forward` then `backward()`: the values and, unless switched off, the gradients of the
    /// total and of every term.
    public func evaluate(inputs: [String: Tensor], options: EvaluationOptions = .init()) throws -> Evaluation {
        try forward(inputs: inputs, options: options).backward()
    }
}
