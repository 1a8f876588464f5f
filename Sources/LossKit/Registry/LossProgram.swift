import Foundation

/// A loss configuration turned into terms, ready to evaluate on named tensors.
///
/// Accepted shapes (README "Config", docs/design.md):
/// - `{"losses": {KEY: LOSS_DICT | [LOSS_DICT, ...]}, "inputs": {NAME: PATH}}`;
/// - a single loss dict `{"type": ..., ...}`, one term named `loss`.
///
/// `inputs` is the caller's (the CLI reads and resolves it); the program skips it.
/// A loss dict holds `type`, constructor parameters, optional `args` (non-tensor forward
/// arguments) and optional `data_info` (`{ARG: INPUT}` or `{ARG: [INPUT, ...]}` for list
/// arguments). Unmapped tensor arguments bind to the input of the same name; an unmapped
/// list argument `maps` binds to inputs `maps.0`, `maps.1`, ... (as many as are given).
///
/// The terms are built in LossTermBuilder.swift, bound in LossTerm.swift and evaluated in
/// LossEvaluation.swift.
public struct LossProgram {
    public let terms: [LossTerm]

    /// `weights` gives the networks of losses that have one (PerceptualLoss's `pretrained`);
    /// without it such a loss is a config error.
    public init(config: ConfigValue, weights: WeightProvider? = nil) throws {
        guard case let .object(top) = config else {
            throw LossError.config(path: "", message: "the config must be a JSON object, found \(config.kindName)")
        }
        var terms: [LossTerm] = []
        if config["type"] != nil {
            // Shorthand: the whole config is one loss dict (its "inputs", if any, are input paths).
            terms.append(try LossProgram.makeTerm(entry: .object(top.filter { $0.key != "inputs" }), name: "loss", path: "", weights: weights))
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
                    terms.append(try LossProgram.makeTerm(entry: entry, name: key, path: "losses.\(key)", weights: weights))
                case let .array(items):
                    for (i, item) in items.enumerated() {
                        terms.append(try LossProgram.makeTerm(entry: item, name: "\(key).\(i)", path: "losses.\(key)[\(i)]", weights: weights))
                    }
                default:
                    throw LossError.config(path: "losses.\(key)", message: "must be a loss dict or a list of loss dicts, found \(entry.kindName)")
                }
            }
            if terms.isEmpty {
                throw LossError.config(path: "losses", message: "no loss is configured")
            }
        }
        self.terms = terms
    }

    /// Parses JSON text and builds the program (syntax errors carry line and column).
    public init(jsonText: String, weights: WeightProvider? = nil) throws {
        let value: ConfigValue
        do { value = try ConfigValue.parse(jsonText: jsonText) } catch let e as ConfigSyntaxError { throw LossError.syntax(e) }
        try self.init(config: value, weights: weights)
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
}
