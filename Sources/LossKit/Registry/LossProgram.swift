import Foundation

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

/// Which inputs to differentiate with respect to.
public struct EvaluationOptions {
    /// Compute gradients at all.
    public var gradients: Bool
    /// `--wrt`: exactly these inputs, for the total and every term (zeros where not read).
    /// nil: each term's own tensor inputs, and for the total those of the terms in it.
    public var wrt: [String]?
    /// Inputs that were not floating point in their file: never differentiated by default.
    public var nonFloatInputs: Set<String>

    /// Gradients of each term too (default); false: of the total only (one backward pass
    /// through every term, and a quarter of the memory for three terms).
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
}

/// The values (and gradients) of every term of a program.
public struct Evaluation {
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
    /// Seconds spent in the forward pass and in the backward pass.
    public var forwardSeconds: Double
    public var backwardSeconds: Double
    /// How many fused sums the forward took from its plan (tests check planning took effect).
    var plannedSumsServed = 0

    public func term(named name: String) -> Term? { terms.first { $0.name == name } }
}

/// A loss configuration turned into terms, ready to evaluate on named tensors.
///
/// Accepted shapes (see /work/shared/spec/cli.md "Config"):
/// - `{"losses": {KEY: LOSS_DICT | [LOSS_DICT, ...]}, "inputs": {NAME: PATH}}`;
/// - a single loss dict `{"type": ..., ...}`, one term named `loss`.
///
/// A loss dict holds `type`, constructor parameters, optional `args` (non-tensor forward
/// arguments) and optional `data_info` (`{ARG: INPUT}` or `{ARG: [INPUT, ...]}` for list
/// arguments). Unmapped tensor arguments bind to the input of the same name; an unmapped
/// list argument `maps` binds to inputs `maps.0`, `maps.1`, ... (as many as are given).
public struct LossProgram {
    public let terms: [LossTerm]
    /// The config's `"inputs"` (name -> path as written; the CLI resolves paths).
    public let inputPaths: [(name: String, path: String)]

    public init(config: ConfigValue) throws {
        guard case let .object(top) = config else {
            throw LossError.config(path: "", message: "the config must be a JSON object, found \(config.kindName)")
        }
        var terms: [LossTerm] = []
        var paths: [(name: String, path: String)] = []
        if config["type"] != nil {
            // Shorthand: the whole config is one loss dict (its "inputs", if any, are input paths).
            terms.append(try LossProgram.makeTerm(entry: .object(top.filter { $0.key != "inputs" }), name: "loss", path: ""))
            if let inputs = config["inputs"] { paths = try LossProgram.inputPaths(inputs) }
        } else {
            for (key, value) in top where key != "losses" && key != "inputs" {
                _ = value
                throw LossError.config(path: key,
                    message: "unknown top-level key (expected \"losses\" and optionally \"inputs\", or a single loss dict with \"type\")")
            }
            guard let losses = config["losses"] else {
                throw LossError.config(path: "", message: "the config has neither \"losses\" nor a loss \"type\"")
            }
            guard case let .object(entries) = losses else {
                throw LossError.config(path: "losses", message: "must be an object of named losses, found \(losses.kindName)")
            }
            for (key, entry) in entries {
                switch entry {
                case .object:
                    terms.append(try LossProgram.makeTerm(entry: entry, name: key, path: "losses.\(key)"))
                case let .array(items):
                    for (i, item) in items.enumerated() {
                        terms.append(try LossProgram.makeTerm(entry: item, name: "\(key).\(i)", path: "losses.\(key)[\(i)]"))
                    }
                default:
                    throw LossError.config(path: "losses.\(key)", message: "must be a loss dict or a list of loss dicts, found \(entry.kindName)")
                }
            }
            if terms.isEmpty {
                throw LossError.config(path: "losses", message: "no loss is configured")
            }
            if let inputs = config["inputs"] { paths = try LossProgram.inputPaths(inputs) }
        }
        self.terms = terms
        self.inputPaths = paths
    }

    static func inputPaths(_ inputs: ConfigValue) throws -> [(name: String, path: String)] {
        guard case let .object(members) = inputs else {
            throw LossError.config(path: "inputs", message: "must be an object {NAME: PATH}, found \(inputs.kindName)")
        }
        return try members.map { name, v in
            guard case let .string(p) = v else {
                throw LossError.config(path: "inputs.\(name)", message: "must be a path string, found \(v.kindName)")
            }
            return (name, p)
        }
    }

    /// Parses JSON text and builds the program (syntax errors carry line and column).
    public init(jsonText: String) throws {
        let value: ConfigValue
        do { value = try ConfigValue.parse(jsonText: jsonText) } catch let e as ConfigSyntaxError { throw LossError.syntax(e) }
        try self.init(config: value)
    }

    static func makeTerm(entry: ConfigValue, name: String, path: String) throws -> LossTerm {
        guard case let .object(members) = entry else {
            throw LossError.config(path: path, message: "must be a loss dict with a \"type\", found \(entry.kindName)")
        }
        guard let typeValue = entry["type"] else {
            throw LossError.config(path: path, message: "missing \"type\" (one of: \(LossRegistry.all.map(\.name).joined(separator: ", ")))")
        }
        guard case let .string(typeName) = typeValue else {
            throw LossError.config(path: path.isEmpty ? "type" : path + ".type", message: "must be a string, found \(typeValue.kindName)")
        }
        guard let type = LossRegistry.type(named: typeName) else {
            throw LossError.config(path: path.isEmpty ? "type" : path + ".type",
                message: "unknown loss type \(ConfigValue.quoted(typeName)); known types: \(LossRegistry.all.map(\.name).joined(separator: ", "))")
        }
        let decl = type.declaration
        let prefix = path.isEmpty ? "" : path + "."
        let paramMembers = members.filter { !["type", "args", "data_info"].contains($0.key) }
        let params = try LossParameters(declaration: decl, object: paramMembers, path: path)
        let module: LossModule
        do { module = try type.init(parameters: params) } catch let e as LossError {
            throw LossError.config(path: path, message: "\(decl.name): \(e.description)")
        }

        // args: non-tensor forward arguments.
        var args: [String: ConfigValue] = [:]
        if let a = entry["args"] {
            guard case let .object(argMembers) = a else {
                throw LossError.config(path: prefix + "args", message: "must be an object, found \(a.kindName)")
            }
            for (k, v) in argMembers {
                guard let input = decl.input(k) else {
                    throw LossError.config(path: prefix + "args.\(k)", message: "\(decl.name)'s forward has no argument \"\(k)\"")
                }
                switch input.kind {
                case .tensor, .tensorList:
                    throw LossError.config(path: prefix + "args.\(k)",
                        message: "\"\(k)\" is a tensor argument of \(decl.name): bind it to an input (by name or with data_info), not in args")
                case .bool:
                    guard case .bool = v else {
                        throw LossError.config(path: prefix + "args.\(k)", message: "must be true or false, found \(v.foundText)")
                    }
                case .float:
                    guard let d = v.numberValue else {
                        throw LossError.config(path: prefix + "args.\(k)", message: "must be a number, found \(v.foundText)")
                    }
                    args[k] = .double(d)
                    continue
                }
                args[k] = v
            }
        }
        for input in decl.inputs where !input.kind.isTensor && !input.optional && args[input.name] == nil {
            throw LossError.config(path: prefix + "args",
                message: "\(decl.name) needs \"\(input.name)\" (\(input.kind.name)) in args, e.g. \"args\": {\"\(input.name)\": true}")
        }

        // data_info: tensor argument -> input name(s).
        var mapped: [String: ConfigValue] = [:]
        if let d = entry["data_info"] {
            switch d {
            case .null: break
            case let .object(dm):
                for (k, v) in dm {
                    guard let input = decl.input(k) else {
                        let tensorArgs = decl.inputs.filter(\.kind.isTensor).map(\.name).joined(separator: ", ")
                        throw LossError.config(path: prefix + "data_info.\(k)",
                            message: "\(decl.name)'s forward has no tensor argument \"\(k)\" (its tensor arguments: \(tensorArgs))")
                    }
                    switch (input.kind, v) {
                    case (.tensor, .string): mapped[k] = v
                    case (.tensorList, .array(let items)):
                        for (i, item) in items.enumerated() {
                            guard case .string = item else {
                                throw LossError.config(path: prefix + "data_info.\(k)[\(i)]", message: "must be an input name, found \(item.kindName)")
                            }
                        }
                        mapped[k] = v
                    case (.tensor, _):
                        throw LossError.config(path: prefix + "data_info.\(k)", message: "must be an input name (string), found \(v.kindName)")
                    case (.tensorList, _):
                        throw LossError.config(path: prefix + "data_info.\(k)", message: "\"\(k)\" is a list argument: give a list of input names, found \(v.kindName)")
                    default:
                        throw LossError.config(path: prefix + "data_info.\(k)", message: "\"\(k)\" is not a tensor argument; give it in args")
                    }
                }
            default:
                throw LossError.config(path: prefix + "data_info", message: "must be an object {ARG: INPUT}, found \(d.kindName)")
            }
        }
        var tensorBindings: [(String, String)] = []
        var listBindings: [(String, [String]?)] = []
        for input in decl.inputs {
            switch input.kind {
            case .tensor:
                if case let .string(s)? = mapped[input.name] { tensorBindings.append((input.name, s)) }
                else { tensorBindings.append((input.name, input.name)) }
            case .tensorList:
                if case let .array(items)? = mapped[input.name] {
                    listBindings.append((input.name, items.compactMap { if case let .string(s) = $0 { return s } else { return nil } }))
                } else { listBindings.append((input.name, nil)) }
            default: break
            }
        }

        var termName = name
        if decl.hasLossName { termName = try params.string("loss_name") }
        return LossTerm(name: termName, declaration: decl, path: path, module: module,
                        tensorBindings: tensorBindings, listBindings: listBindings, args: args)
    }

    /// Inputs that some term cannot do without (list arguments bound by default are not listed).
    public var requiredInputs: [String] {
        var out: [String] = []
        for t in terms {
            for (arg, input) in t.tensorBindings where t.declaration.input(arg)?.optional == false && !out.contains(input) {
                out.append(input)
            }
            for (_, names) in t.listBindings { for n in names ?? [] where !out.contains(n) { out.append(n) } }
        }
        return out
    }

    /// Inputs that a term reads when given (`weight`, `mask`).
    public var optionalInputs: [String] {
        var out: [String] = []
        for t in terms {
            for (arg, input) in t.tensorBindings where t.declaration.input(arg)?.optional == true && !out.contains(input) {
                out.append(input)
            }
        }
        return out.filter { !requiredInputs.contains($0) }
    }

    /// Which input each of the term's tensor arguments reads, given which inputs exist: the
    /// tensor arguments present, the list arguments' names, and every input read, in argument
    /// order. A required input that does not exist is `missingInput`.
    func resolve(_ term: LossTerm, has: (String) -> Bool) throws
        -> (tensors: [(argument: String, input: String)], lists: [(argument: String, inputs: [String])], read: [String]) {
        var tensors: [(argument: String, input: String)] = []
        var lists: [(argument: String, inputs: [String])] = []
        var read: [String] = []
        for (arg, inputName) in term.tensorBindings {
            if has(inputName) {
                tensors.append((arg, inputName))
                read.append(inputName)
            } else if term.declaration.input(arg)?.optional != true {
                throw LossError.missingInput(input: inputName, term: term.name, type: term.declaration.name, argument: arg)
            }
        }
        for (arg, names) in term.listBindings {
            var list: [String] = []
            if let names = names {
                for n in names {
                    guard has(n) else {
                        throw LossError.missingInput(input: n, term: term.name, type: term.declaration.name, argument: arg)
                    }
                    list.append(n)
                }
            } else {
                var i = 0
                while has("\(arg).\(i)") { list.append("\(arg).\(i)"); i += 1 }
                if list.isEmpty {
                    throw LossError.missingInput(input: "\(arg).0", term: term.name, type: term.declaration.name, argument: arg)
                }
            }
            read += list
            lists.append((arg, list))
        }
        return (tensors, lists, read)
    }

    /// The term's tensor arguments from `leaves`, and the input names it reads.
    func bind(_ term: LossTerm, _ leaves: [String: Tensor]) throws -> (LossInputs, [String]) {
        let r = try resolve(term) { leaves[$0] != nil }
        var bound = LossInputs(args: term.args)
        for (arg, input) in r.tensors { bound.tensors[arg] = leaves[input] }
        for (arg, inputs) in r.lists { bound.tensorLists[arg] = inputs.compactMap { leaves[$0] } }
        return (bound, r.read)
    }

    /// What `evaluate` will report, known before anything is computed (so that output files
    /// can be checked first): the reported term names after same-name summing, and the
    /// gradient entries (`"total"` first, then each term, unless `termGradients` is off) with
    /// the inputs each is taken with respect to, in `Evaluation.gradientOrder`'s order. A type
    /// with parts gives `NAME.PART` for each part it declares; a part switched off (weight 0)
    /// is planned but then absent, so the plan is what the evaluation reports or a superset.
    public func plannedOutputs(available: Set<String>, options: EvaluationOptions) throws
        -> (terms: [(name: String, inputs: [String])], gradients: [(key: String, inputs: [String])]) {
        var names: [String] = []
        var reads: [String: [String]] = [:]
        for term in terms {
            let read = try resolve(term) { available.contains($0) }.read
            let parts = term.declaration.partNames
            for name in parts.isEmpty ? [term.name] : parts.map({ "\(term.name).\($0)" }) {
                if reads[name] == nil { names.append(name) }
                for r in read where !(reads[name] ?? []).contains(r) { reads[name, default: []].append(r) }
                if reads[name] == nil { reads[name] = [] }
            }
        }
        let termReads = names.map { (name: $0, inputs: reads[$0] ?? []) }
        guard options.gradients else { return (termReads, []) }
        func targets(_ read: [String]) -> [String] {
            options.wrt ?? read.filter { !options.nonFloatInputs.contains($0) }
        }
        var totalRead: [String] = []
        for n in names where n.contains("loss") { for r in reads[n] ?? [] where !totalRead.contains(r) { totalRead.append(r) } }
        var gradients: [(key: String, inputs: [String])] = [("total", targets(totalRead))]
        if options.termGradients {
            for n in names { gradients.append((n, targets(reads[n] ?? []))) }
        }
        return (termReads, gradients)
    }

    /// Evaluates every term on `inputs`, sums same-named terms, forms the total and, unless
    /// switched off, the gradients of the total and of every term.
    public func evaluate(inputs: [String: Tensor], options: EvaluationOptions = .init()) throws -> Evaluation {
        let start = DispatchTime.now().uptimeNanoseconds
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
                withNoGrad { for term in planned { if let (bound, _) = try? bind(term, leaves) { _ = try? term.module.forward(bound) } } }
            }
        }
        for term in terms {
            let (bound, read) = try bind(term, leaves)
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
            let inTotal = p.name.contains("loss")
            if inTotal { totalTensor = try totalTensor.map { try $0 + reported } ?? reported }
            result.append(.init(name: p.name, type: p.types.joined(separator: "+"), value: p.value,
                                reported: try reported.item(), inTotal: inTotal, inputs: p.inputs))
        }
        let forwardEnd = DispatchTime.now().uptimeNanoseconds

        var gradients: [String: [String: Tensor]] = [:]
        var order: [(String, [String])] = []
        if options.gradients {
            func targets(_ read: [String]) -> [String] {
                if let wrt = options.wrt { return wrt }
                return read.filter { !options.nonFloatInputs.contains($0) }
            }
            // The total of a single in-total term is that term's own tensor: one backward pass serves both.
            var done: [(output: ObjectIdentifier, names: [String], grads: [String: Tensor])] = []
            func gradientsOf(_ output: Tensor?, _ names: [String]) throws -> [String: Tensor] {
                if let output = output, let hit = done.first(where: { $0.output == ObjectIdentifier(output) && $0.names == names }) {
                    return hit.grads
                }
                var out: [String: Tensor] = [:]
                var leafList: [Tensor] = []
                for n in names {
                    guard let leaf = leaves[n] else {
                        throw LossError.config(path: "wrt", message: "no input named \"\(n)\" to differentiate with respect to")
                    }
                    leafList.append(leaf)
                }
                if let output = output, !leafList.isEmpty {
                    let gs = try grad(output, wrt: leafList)
                    for (n, g) in zip(names, gs) { out[n] = g }
                    done.append((ObjectIdentifier(output), names, out))
                } else {
                    for (n, l) in zip(names, leafList) { out[n] = try Tensor.zeros(shape: l.shape, dtype: l.dtype) }
                }
                return out
            }
            var totalRead: [String] = []
            for t in result where t.inTotal { for r in t.inputs where !totalRead.contains(r) { totalRead.append(r) } }
            let totalNames = targets(totalRead)
            order.append(("total", totalNames))
            if !options.termGradients {
                gradients["total"] = try gradientsOf(totalTensor, totalNames)
                let end = DispatchTime.now().uptimeNanoseconds
                return Evaluation(terms: result, total: try totalTensor?.item() ?? 0, gradients: gradients,
                                  gradientOrder: order.map { (key: $0.0, inputs: $0.1) },
                                  forwardSeconds: Double(forwardEnd - start) / 1e9, backwardSeconds: Double(end - forwardEnd) / 1e9,
                                  plannedSumsServed: plan.served)
            }
            // The total and every term in one backward sweep (`grad(of:wrt:)`): their fused
            // passes over the shared inputs become one, writing each gradient once. Measured in
            // docs/speed.md (workload 1b).
            var names: [String] = totalNames
            for t in result { for n in targets(t.inputs) where !names.contains(n) { names.append(n) } }
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
            let totalSlot = totalTensor.map(slot)
            let termSlots = reportedTensors.map(slot)
            let found = leafList.isEmpty ? roots.map { _ in [Tensor?]() } : try backwardSweep(of: roots, wrt: leafList, gradOutputs: nil, createGraph: false)
            func pick(_ r: Int?, _ wantedNames: [String]) throws -> [String: Tensor] {
                var out: [String: Tensor] = [:]
                for n in wantedNames {
                    guard let k = names.firstIndex(of: n) else { continue }
                    let g = r.flatMap { found[$0].indices.contains(k) ? found[$0][k] : nil }
                    out[n] = try g.map { $0.dtype == leafList[k].dtype ? $0 : $0.to(leafList[k].dtype) }
                        ?? Tensor.zeros(shape: leafList[k].shape, dtype: leafList[k].dtype)
                }
                return out
            }
            gradients["total"] = try pick(totalSlot, totalNames)
            for (i, t) in result.enumerated() {
                let wantedNames = targets(t.inputs)
                gradients[t.name] = try pick(termSlots[i], wantedNames)
                order.append((t.name, wantedNames))
            }
        }
        let end = DispatchTime.now().uptimeNanoseconds
        return Evaluation(terms: result, total: try totalTensor?.item() ?? 0, gradients: gradients,
                          gradientOrder: order.map { (key: $0.0, inputs: $0.1) },
                          forwardSeconds: Double(forwardEnd - start) / 1e9, backwardSeconds: Double(end - forwardEnd) / 1e9,
                                  plannedSumsServed: plan.served)
    }
}
