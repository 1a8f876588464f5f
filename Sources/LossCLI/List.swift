import ArgumentParser
import LossKit

extension LossCLI {
    /// `losscli list`: every registered loss type.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every registered loss type with its forward inputs.",
            discussion: """
                Example:
                  losscli list
                  losscli list --format json
                Then `losscli describe TYPE` shows one type's parameters and an example config.
                """)

        @OptionGroup var output: FormatOptions

        func run() throws {
            let declarations = LossRegistry.all
            switch output.resolved {
            case .json:
                let items: [JSONValue] = declarations.map { d in
                    .object([
                        ("name", .string(d.name)),
                        ("summary", .string(d.summary)),
                        ("inputs", .array(d.inputs.filter(\.kind.isTensor).map { .string($0.name) })),
                        ("parameters", .array(d.parameters.map { .string($0.name) })),
                        ("parts", .array(d.partNames.map { .string($0) })),
                    ])
                }
                print(JSONValue.object([("losses", .array(items))]).rendered())
            case .table:
                var table = TextTable(["type", "inputs", "summary"])
                for d in declarations {
                    let inputs = d.inputs.filter(\.kind.isTensor).map { $0.optional ? "[\($0.name)]" : $0.name }
                    table.append([d.name, inputs.joined(separator: ", "), d.summary])
                }
                print(table.rendered(), terminator: "")
                print("\n\(declarations.count) loss types; [name] is an optional input. `losscli describe TYPE` for details.")
            }
        }
    }
}
