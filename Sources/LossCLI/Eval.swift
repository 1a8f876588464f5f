import ArgumentParser
import Dispatch
import Foundation
import LossKit
import NpyIO

extension LossCLI {
    /// `losscli eval`: the value of every term, the total and their gradients.
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compute the losses of a config on named inputs, with gradients.",
            discussion: """
                Terms, the total (the sum of the terms whose name contains "loss") and the \
                gradient norms are printed as a table on a terminal and as JSON otherwise. \
                Exit status: 0 done, 2 usage/config/input error, 3 a value is NaN or infinite.

                Examples (from the repository root):
                  losscli eval --config fixtures/demo/loss.json
                  losscli eval --config fixtures/demo/loss.json --format json \\
                      --grad-out grads.npz --values-out values.npz
                  losscli eval --config '{"type": "MSELoss", "loss_weight": 0.5}' \\
                      --pred fixtures/demo/pred.npy \\
                      --target fixtures/demo/target.npy --wrt pred
                """)

        @OptionGroup var inputOptions: InputOptions
        @OptionGroup var compute: ComputeOptions

        @OptionGroup var output: FormatOptions

        @Option(name: .customLong("grad-out"), help: ArgumentHelp(
            "Write every gradient array to this .npz, keyed total/INPUT and TERM/INPUT.", valueName: "FILE.npz"))
        var gradOut: String?

        @Option(name: .customLong("values-out"), help: ArgumentHelp(
            "Write every term's full (unreduced) output to this .npz, keyed by term name.", valueName: "FILE.npz"))
        var valuesOut: String?

        @Option(help: ArgumentHelp(
            "Differentiate with respect to these inputs only (comma-separated, repeatable).", valueName: "NAME,..."))
        var wrt: [String] = []

        @Flag(help: "Report the time spent loading, in the forward and backward passes, and writing (ms).")
        var timing = false

        @Option(name: .customLong("repeat"), parsing: .unconditional, help: ArgumentHelp(
            "Evaluate N times (for benchmarking): with --timing, forward_warm and backward_warm are the medians of runs 2..N; the report is the last run's.",
            valueName: "N"))
        var repeats: Int = 1

        @Flag(name: .customLong("total-only"), help: ArgumentHelp(
            "Gradients of the total only, not of each term (what a training step needs; faster, less memory)."))
        var totalOnly = false

        func validate() throws {
            _ = try parseWrt(wrt)
            guard (1...1000).contains(repeats) else { throw ValidationError("--repeat \(repeats): must be 1 to 1000") }
        }

        func run() throws {
            let outputs = OutputFiles(gradOut: gradOut, valuesOut: valuesOut)
            try outputs.validate()
            var runner = EvalRun(inputOptions: inputOptions, compute: compute, wrt: try parseWrt(wrt), gradients: true)
            runner.totalOnly = totalOnly
            runner.repeats = repeats
            runner.outputs = outputs
            var report = try runner.run()

            let writeStart = DispatchTime.now().uptimeNanoseconds
            if !outputs.requested.isEmpty {
                try outputs.write(gradients: gradOut == nil ? [] : report.gradients.map { ("\($0.owner)/\($0.input)", NpyArray(tensor: $0.tensor)) },
                                  values: valuesOut == nil ? [] : report.terms.map { ($0.name, NpyArray(tensor: $0.value)) })
            }
            report.timing.append(("write", Double(DispatchTime.now().uptimeNanoseconds - writeStart) / 1e6))

            switch output.resolved {
            case .json: print(EvalOutput.json(report, timing: timing), terminator: "")
            case .table: print(EvalOutput.table(report, timing: timing), terminator: "")
            }
            if report.hasNonFinite { throw CLIExit(.nonFinite) }
        }
    }
}

/// Splits `--wrt a,b --wrt c` into names, rejecting empty ones and repeats.
func parseWrt(_ values: [String]) throws -> [String]? {
    guard !values.isEmpty else { return nil }
    var names: [String] = []
    for value in values {
        for part in value.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw ValidationError("--wrt \"\(value)\": empty input name") }
            guard !names.contains(name) else { throw ValidationError("--wrt: input \"\(name)\" is named twice") }
            names.append(name)
        }
    }
    return names
}
