/// Config -> terms: one loss dict (`type`, parameters, `args`, `data_info`) checked against its
/// type's declaration and turned into a `LossTerm`.
extension LossProgram {
    static func makeTerm(entry: ConfigValue, name: String, path: String, weights: WeightProvider?) throws -> LossTerm {
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
        var params = try LossParameters(declaration: decl, object: paramMembers, path: path)
        params.weightProvider = weights
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
}
