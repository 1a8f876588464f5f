/// A loss type: its declaration, a constructor from decoded parameters, and a forward call.
///
/// This is the Swift form of MMagic's `@MODELS.register_module() class X(nn.Module)`:
/// `declaration` plays the role of `__init__`'s signature and the forward's argument list,
/// `init(parameters:)` of `__init__` (validation included), `forward` of `forward`.
/// Register a type with `LossRegistry.register(X.self)`.
public protocol LossModule {
    static var declaration: LossTypeDeclaration { get }
    /// Builds the loss from parameters already checked against `declaration`.
    init(parameters: LossParameters) throws
    /// Computes the loss; throws `LossError.invalidInput` for a bad tensor.
    func forward(_ inputs: LossInputs) throws -> LossOutput
    /// True when `forward` is `Tensor.fusedSum`s of its inputs plus arithmetic on small
    /// tensors: `LossProgram.forward` may then run it once without values first, to compute
    /// the sums of all such terms in one pass (`FusedSumPlan`). False (the default) for a
    /// forward with other large work, which that first run would repeat.
    static var forwardIsFusedSums: Bool { get }
}

extension LossModule {
    public static var forwardIsFusedSums: Bool { false }
}

/// The result of a forward call: one tensor, or named parts (PerceptualLoss's perceptual/style).
public enum LossOutput {
    case value(Tensor)
    case parts([(name: String, value: Tensor)])
}

/// Constructor arguments, decoded and validated against a declaration (defaults filled in).
public struct LossParameters {
    public let declaration: LossTypeDeclaration
    private var values: [String: ConfigValue]
    /// Where `.weights` parameters get their tensors (set by the program builder).
    var weightProvider: WeightProvider?
    /// The config path of this loss dict, for messages.
    private(set) var path: String = ""

    /// Decodes `object` (the loss dict without `type`, `args`, `data_info`). Unknown names,
    /// wrong kinds, values outside a choice and missing required parameters are errors whose
    /// path is `path.NAME`.
    public init(declaration: LossTypeDeclaration, object: [(key: String, value: ConfigValue)], path: String = "") throws {
        self.declaration = declaration
        var values: [String: ConfigValue] = [:]
        let prefix = path.isEmpty ? "" : path + "."
        for (key, raw) in object {
            guard let p = declaration.parameter(key) else {
                let known = declaration.parameters.map(\.name).joined(separator: ", ")
                throw LossError.config(path: prefix + key,
                    message: "\(declaration.name) has no parameter \"\(key)\" (its parameters: \(known.isEmpty ? "none" : known))")
            }
            values[key] = try LossParameters.check(raw, against: p, type: declaration.name, path: prefix + key)
        }
        for p in declaration.parameters where values[p.name] == nil {
            guard let d = p.defaultValue else {
                throw LossError.config(path: path, message: "\(declaration.name) needs parameter \"\(p.name)\" (\(p.kind.name))")
            }
            values[p.name] = d
        }
        self.values = values
        self.path = path
    }

    /// Convenience for code and tests: `try LossParameters(L1Loss.self, ["loss_weight": .double(0.5)])`.
    public init(_ type: LossModule.Type, _ values: KeyValuePairs<String, ConfigValue> = [:], weights: WeightProvider? = nil) throws {
        try self.init(declaration: type.declaration, object: values.map { ($0.key, $0.value) })
        weightProvider = weights
    }

    static func check(_ value: ConfigValue, against p: ParameterDeclaration, type: String, path: String) throws -> ConfigValue {
        func wrong(_ expected: String) -> LossError {
            .config(path: path, message: "\(type) parameter \"\(p.name)\" must be \(expected), found \(value.foundText)")
        }
        switch p.kind {
        case .float:
            guard let d = value.numberValue else { throw wrong("a number") }
            return .double(d)
        case .int:
            guard case .int = value else { throw wrong("an integer") }
            return value
        case .bool:
            guard case .bool = value else { throw wrong("true or false") }
            return value
        case .string:
            guard case .string = value else { throw wrong("a string") }
            return value
        case .floatMap:
            if case .null = value, p.defaultValue == .null { return value }
            guard case let .object(members) = value else { throw wrong("a dict of numbers") }
            for (k, v) in members where v.numberValue == nil {
                throw LossError.config(path: path + "." + k, message: "\(type) parameter \"\(p.name)\" must map to numbers, found \(v.foundText)")
            }
            return value
        case .weights:
            guard case let .string(s) = value, !s.isEmpty else { throw wrong("a weight file's path or a default name such as torchvision://vgg19") }
            return value
        case let .choice(allowed, caseInsensitive):
            guard case var .string(s) = value else { throw wrong("one of " + allowed.joined(separator: ", ")) }
            if caseInsensitive { s = s.lowercased() }
            guard allowed.contains(s) else {
                throw LossError.config(path: path,
                    message: "unsupported \(p.name) \(ConfigValue.quoted(s)) for \(type); allowed: " + allowed.joined(separator: ", "))
            }
            return .string(s)
        }
    }

    private func value(_ name: String) throws -> ConfigValue {
        guard let v = values[name] else {
            throw LossError.config(path: name, message: "\(declaration.name) declares no parameter \"\(name)\"")
        }
        return v
    }

    public func double(_ name: String) throws -> Double {
        guard let d = try value(name).numberValue else { throw LossError.config(path: name, message: "not a number") }
        return d
    }
    public func bool(_ name: String) throws -> Bool {
        guard case let .bool(b) = try value(name) else { throw LossError.config(path: name, message: "not a bool") }
        return b
    }
    public func string(_ name: String) throws -> String {
        guard case let .string(s) = try value(name) else { throw LossError.config(path: name, message: "not a string") }
        return s
    }
    public func int(_ name: String) throws -> Int {
        guard case let .int(i) = try value(name) else { throw LossError.config(path: name, message: "not an integer") }
        return i
    }
    /// A `.floatMap` parameter in the order written; nil when it is `null`.
    public func floatMap(_ name: String) throws -> [(key: String, value: Double)]? {
        switch try value(name) {
        case .null: return nil
        case let .object(members): return members.map { ($0.key, $0.value.numberValue ?? .nan) }
        default: throw LossError.config(path: name, message: "not a dict")
        }
    }

    /// The weights a `.weights` parameter names, from the program's provider.
    public func stateDict(_ name: String) throws -> StateDict {
        let v = try string(name)
        guard let weightProvider else {
            throw LossError.config(path: (path.isEmpty ? "" : path + ".") + name,
                                   message: "\(declaration.name) needs its network's weights, and no weight source was given")
        }
        return try weightProvider.load(parameter: (path.isEmpty ? "" : path + ".") + name, value: v)
    }

    /// The decoded value as written or defaulted.
    public subscript(name: String) -> ConfigValue? { values[name] }
}

/// The arguments of one forward call: tensors by argument name, tensor lists, and `args` values.
public struct LossInputs {
    public var tensors: [String: Tensor]
    public var tensorLists: [String: [Tensor]]
    public var args: [String: ConfigValue]

    public init(tensors: [String: Tensor] = [:], lists: [String: [Tensor]] = [:], args: [String: ConfigValue] = [:]) {
        self.tensors = tensors
        self.tensorLists = lists
        self.args = args
    }

    /// A required tensor argument.
    public func tensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw LossError.invalidInput(argument: name, message: "missing") }
        return t
    }
    /// An optional tensor argument (`weight`, `mask`).
    public func optionalTensor(_ name: String) -> Tensor? { tensors[name] }
    public func tensorList(_ name: String) throws -> [Tensor] {
        guard let l = tensorLists[name] else { throw LossError.invalidInput(argument: name, message: "missing") }
        return l
    }
    /// A bool from `args`, or `defaultValue` when absent.
    public func bool(_ name: String, default defaultValue: Bool? = nil) throws -> Bool {
        switch args[name] {
        case let .bool(b)?: return b
        case nil:
            guard let d = defaultValue else { throw LossError.invalidInput(argument: name, message: "missing (a bool in args)") }
            return d
        case let v?: throw LossError.invalidInput(argument: name, message: "must be true or false, found \(v.foundText)")
        }
    }
}
