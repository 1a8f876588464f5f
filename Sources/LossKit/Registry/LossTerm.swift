/// One configured loss: a constructed module, its name, and how its arguments bind to inputs.
public struct LossTerm {
    /// The term's name before same-name summing (`pixel_loss`, `KEY.1`, a `loss_name`).
    public let name: String
    public let declaration: LossTypeDeclaration
    /// Config key path, for messages: `losses.disc_auxiliary_loss[1]`.
    public let path: String
    let module: LossModule
    /// Tensor argument -> input name (after `data_info`).
    public let tensorBindings: [(argument: String, input: String)]
    /// List argument -> input names; nil names: `ARG.0, ARG.1, ...` as found in the inputs.
    public let listBindings: [(argument: String, inputs: [String]?)]
    /// Non-tensor forward arguments from `args`, checked against the declaration.
    public let args: [String: ConfigValue]
}

extension LossTerm {
    /// Which input each of the term's tensor arguments reads, given which inputs exist: the
    /// tensor arguments present, the list arguments' names, and every input read, in argument
    /// order. A required input that does not exist is `missingInput`.
    func resolve(has: (String) -> Bool) throws
        -> (tensors: [(argument: String, input: String)], lists: [(argument: String, inputs: [String])], read: [String]) {
        var tensors: [(argument: String, input: String)] = []
        var lists: [(argument: String, inputs: [String])] = []
        var read: [String] = []
        for (arg, inputName) in tensorBindings {
            if has(inputName) {
                tensors.append((arg, inputName))
                read.append(inputName)
            } else if declaration.input(arg)?.optional != true {
                throw LossError.missingInput(input: inputName, term: name, type: declaration.name, argument: arg)
            }
        }
        for (arg, names) in listBindings {
            var list: [String] = []
            if let names = names {
                for n in names {
                    guard has(n) else {
                        throw LossError.missingInput(input: n, term: name, type: declaration.name, argument: arg)
                    }
                    list.append(n)
                }
            } else {
                var i = 0
                while has("\(arg).\(i)") { list.append("\(arg).\(i)"); i += 1 }
                if list.isEmpty {
                    throw LossError.missingInput(input: "\(arg).0", term: name, type: declaration.name, argument: arg)
                }
            }
            read += list
            lists.append((arg, list))
        }
        return (tensors, lists, read)
    }

    /// The term's tensor arguments from `leaves`, and the input names it reads.
    func bind(_ leaves: [String: Tensor]) throws -> (LossInputs, [String]) {
        let r = try resolve { leaves[$0] != nil }
        var bound = LossInputs(args: args)
        for (arg, input) in r.tensors { bound.tensors[arg] = leaves[input] }
        for (arg, inputs) in r.lists { bound.tensorLists[arg] = inputs.compactMap { leaves[$0] } }
        return (bound, r.read)
    }
}

extension LossProgram {
    /// What `forward` and `backward()` will report, known before anything is computed (so
    /// that output files can be checked first): the reported term names after same-name
    /// summing, and the gradient entries (`"total"` first, then each term, unless `termGradients` is off) with
    /// the inputs each is taken with respect to, in `Evaluation.gradientOrder`'s order. A type
    /// with parts gives `NAME.PART` for each part it declares; a part switched off (weight 0)
    /// is planned but then absent, so the plan is what the evaluation reports or a superset.
    public func plannedOutputs(available: Set<String>, options: EvaluationOptions) throws
        -> (terms: [(name: String, inputs: [String])], gradients: [(key: String, inputs: [String])]) {
        var names: [String] = []
        var reads: [String: [String]] = [:]
        for term in terms {
            let read = try term.resolve { available.contains($0) }.read
            let parts = term.declaration.partNames
            for name in parts.isEmpty ? [term.name] : parts.map({ "\(term.name).\($0)" }) {
                if reads[name] == nil { names.append(name) }
                for r in read where !(reads[name] ?? []).contains(r) { reads[name, default: []].append(r) }
                if reads[name] == nil { reads[name] = [] }
            }
        }
        let termReads = names.map { (name: $0, inputs: reads[$0] ?? []) }
        return (termReads, options.gradients ? options.gradientOrder(termReads) : [])
    }
}
