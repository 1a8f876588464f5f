import ArgumentParser
import LossKit

extension LossCLI {
    /// `losscli describe TYPE`: one loss type's parameters, forward inputs and an example config.
    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a loss type's parameters, defaults, forward inputs and an example config.",
            discussion: """
                Example:
                  losscli describe L1Loss
                  losscli describe GANLoss --format json
                """)

        @Argument(help: ArgumentHelp("A loss type as MMagic registers it (see `losscli list`).", valueName: "TYPE"))
        var type: String

        @OptionGroup var output: FormatOptions

        func run() throws {
            guard let declaration = LossRegistry.declaration(named: type) else {
                let names = LossRegistry.all.map(\.name)
                let close = closeNames(to: type, among: names)
                let hint = close.isEmpty
                    ? "known types: \(names.joined(separator: ", "))"
                    : "did you mean \(close.joined(separator: " or "))? (`losscli list` shows all \(names.count))"
                throw CLIError("unknown loss type \"\(type)\"; \(hint)")
            }
            switch output.resolved {
            case .json: print(DescribeOutput.json(declaration).rendered())
            case .table: print(DescribeOutput.table(declaration), terminator: "")
            }
        }
    }
}

/// Names within a small edit distance of `name` (ignoring case), closest first, at most three;
/// a name containing `name` (or contained in it) counts as close.
func closeNames(to name: String, among names: [String]) -> [String] {
    let query = Array(name.lowercased())
    var scored: [(String, Int)] = []
    for candidate in names {
        let lower = candidate.lowercased()
        let distance = editDistance(query, Array(lower))
        let limit = max(2, query.count / 3)
        if distance <= limit {
            scored.append((candidate, distance))
        } else if query.count >= 3 && (lower.contains(String(query)) || String(query).contains(lower)) {
            scored.append((candidate, limit + 1))
        }
    }
    return scored.sorted { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.prefix(3).map(\.0)
}

/// Levenshtein distance (insert, delete, substitute; each costs 1).
func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = Array(repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// The text and JSON forms of a declaration.
enum DescribeOutput {
    /// A complete config using the type with every parameter at its default (a required one
    /// at its first allowed value), ready for `losscli eval --config`.
    static func exampleConfig(_ d: LossTypeDeclaration) -> ConfigValue {
        var entry: [(key: String, value: ConfigValue)] = [("type", .string(d.name))]
        for p in d.parameters {
            if let value = p.defaultValue {
                // A `None` default means "not given": leaving it out is the same and stays valid.
                if value != .null { entry.append((p.name, value)) }
            } else {
                entry.append((p.name, placeholder(for: p.kind)))
            }
        }
        let args = d.inputs.filter { !$0.kind.isTensor }.map { input -> (key: String, value: ConfigValue) in
            (input.name, input.defaultValue ?? (input.kind == .bool ? .bool(true) : .double(1.0)))
        }
        if !args.isEmpty { entry.append(("args", .object(args))) }
        return .object([("losses", .object([(termKey(d.name), .object(entry))]))])
    }

    static func placeholder(for kind: ParameterKind) -> ConfigValue {
        switch kind {
        case .float: return .double(1.0)
        case .int: return .int(1)
        case .bool: return .bool(false)
        case .string: return .string("")
        case let .choice(values, _): return .string(values.first ?? "")
        case .floatMap: return .object([("0", .double(1.0))])
        case .weights: return .string("weights.pth")
        }
    }

    /// `L1Loss` → `l1_loss`, `MSELoss` → `mse_loss`, `TVLoss` → `tv_loss`; always contains
    /// "loss" so that the term counts in the total.
    static func termKey(_ type: String) -> String {
        let chars = Array(type)
        var out = ""
        for (i, c) in chars.enumerated() {
            if c.isUppercase, i > 0 {
                let prev = chars[i - 1]
                let nextIsLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if prev.isLowercase || prev.isNumber || (prev.isUppercase && nextIsLower) { out += "_" }
            }
            out += c.lowercased()
        }
        return out.contains("loss") ? out : out + "_loss"
    }

    static func exampleCommand(_ d: LossTypeDeclaration) -> String {
        var parts = ["losscli eval --config example.json"]
        for input in d.inputs where input.kind.isTensor && !input.optional {
            switch input.kind {
            case .tensorList: parts.append("--input \(input.name).0=\(input.name)0.npy")
            default:
                if ["pred", "target", "weight", "mask"].contains(input.name) {
                    parts.append("--\(input.name) \(input.name).npy")
                } else {
                    parts.append("--input \(input.name)=\(input.name).npy")
                }
            }
        }
        return parts.joined(separator: " ")
    }

    static func json(_ d: LossTypeDeclaration) -> JSONValue {
        .object([
            ("name", .string(d.name)),
            ("summary", .string(d.summary)),
            ("details", .string(d.details)),
            ("parameters", .array(d.parameters.map { p in
                var members: [(String, JSONValue)] = [
                    ("name", .string(p.name)),
                    ("kind", .string(kindName(p.kind))),
                    ("required", .bool(p.defaultValue == nil)),
                    ("default", p.defaultValue.map(node) ?? .null),
                ]
                if case let .choice(values, _) = p.kind { members.append(("allowed", .array(values.map { .string($0) }))) }
                members.append(("doc", .string(p.doc)))
                return .object(members)
            })),
            ("inputs", .array(d.inputs.map { i in
                .object([
                    ("name", .string(i.name)),
                    ("kind", .string(i.kind.name)),
                    ("optional", .bool(i.optional)),
                    ("in", .string(i.kind.isTensor ? "inputs" : "args")),
                    ("default", i.defaultValue.map(node) ?? .null),
                    ("doc", .string(i.doc)),
                ])
            })),
            ("parts", .array(d.partNames.map { .string($0) })),
            ("example_config", node(exampleConfig(d))),
            ("example_command", .string(exampleCommand(d))),
        ])
    }

    static func table(_ d: LossTypeDeclaration) -> String {
        var out = "\(d.name): \(d.summary)\n"
        if !d.details.isEmpty { out += "\n\(d.details)\n" }
        out += "\nParameters (constructor arguments):\n"
        if d.parameters.isEmpty {
            out += "  none\n"
        } else {
            var t = TextTable(["name", "kind", "default", "meaning"])
            for p in d.parameters {
                t.append([p.name, p.kind.name, p.defaultValue.map(\.description) ?? "(required)", p.doc])
            }
            out += t.rendered()
        }
        out += "\nForward inputs (tensors bind to the input of the same name unless data_info maps them; others go in args):\n"
        var t = TextTable(["name", "kind", "given by", "optional", "meaning"])
        for i in d.inputs {
            let optional = i.optional ? (i.defaultValue.map { "yes, default \($0.description)" } ?? "yes") : "no"
            t.append([i.name, i.kind.name, i.kind.isTensor ? "inputs" : "args", optional, i.doc])
        }
        out += t.rendered()
        if !d.partNames.isEmpty {
            out += "\nParts (reported as TERM.part): \(d.partNames.joined(separator: ", "))\n"
        }
        out += "\nExample config:\n\(exampleConfig(d).description)\n"
        out += "\nExample command:\n\(exampleCommand(d))\n"
        return out
    }

    static func kindName(_ kind: ParameterKind) -> String {
        if case .choice = kind { return "choice" }
        return kind.name
    }

    /// A config value as an output node (numbers keep full float64 precision).
    static func node(_ value: ConfigValue) -> JSONValue {
        switch value {
        case .null: return .null
        case let .bool(b): return .bool(b)
        case let .int(i): return .int(i)
        case let .double(d): return jsonNumber(d, .float64)
        case let .string(s): return .string(s)
        case let .array(items): return .array(items.map(node))
        case let .object(members): return .object(members.map { ($0.key, node($0.value)) })
        }
    }
}
