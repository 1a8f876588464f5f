import ArgumentParser
import Foundation
import LossKit
import NpyIO

extension LossCLI {
    /// `losscli check`: recompute a config and compare with a golden `eval` output.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the losses and compare them with a golden eval output.",
            discussion: """
                Every term value and the total (and, with --grad-golden, every gradient element) \
                must satisfy |got - golden| <= atol + rtol * |golden|, as NumPy's isclose. A term \
                missing on either side is a mismatch. Exit status: 0 everything matched, 1 a \
                mismatch (the table shows each comparison with both numbers), 2 usage/config/input error.

                Example (from the repository root): record a golden once, check it later.
                  losscli eval --config fixtures/demo/loss.json --format json \\
                      --grad-out golden.npz > golden.json
                  losscli check --config fixtures/demo/loss.json \\
                      --golden golden.json --grad-golden golden.npz
                """)

        @OptionGroup var inputOptions: InputOptions
        @OptionGroup var compute: ComputeOptions

        @Option(help: ArgumentHelp("The JSON that `losscli eval --format json` wrote.", valueName: "GOLDEN.json"))
        var golden: String

        @Option(name: .customLong("grad-golden"), help: ArgumentHelp(
            "Also compare every gradient element with this .npz from `eval --grad-out`.", valueName: "G.npz"))
        var gradGolden: String?

        @Option(help: ArgumentHelp(
            "Differentiate with respect to these inputs only, as the golden run did (comma-separated).", valueName: "NAME,..."))
        var wrt: [String] = []

        // `.unconditional`: `--rtol -1` reaches validate() and gets its own message
        // instead of "-1" being taken for an option.
        @Option(parsing: .unconditional, help: ArgumentHelp("Relative tolerance.", valueName: "R"))
        var rtol: Double = 1e-5

        @Option(parsing: .unconditional, help: ArgumentHelp("Absolute tolerance.", valueName: "A"))
        var atol: Double = 1e-8

        @OptionGroup var output: FormatOptions

        func validate() throws {
            guard rtol.isFinite, rtol >= 0 else { throw ValidationError("--rtol \(rtol): expected a finite number >= 0") }
            guard atol.isFinite, atol >= 0 else { throw ValidationError("--atol \(atol): expected a finite number >= 0") }
            _ = try parseWrt(wrt)
        }

        func run() throws {
            // The golden files are read first: a wrong path fails before any computation.
            let goldenValues = try GoldenValues.load(golden)
            var goldenGradients: [(key: String, array: NpyArray)] = []
            if let gradGolden {
                try requireFile(gradGolden, context: "--grad-golden ")
                do {
                    let archive = try NpzArchive.read(contentsOf: URL(fileURLWithPath: gradGolden))
                    for name in archive.names { goldenGradients.append((name, try archive.array(named: name))) }
                } catch let error as NpyError {
                    throw CLIError("--grad-golden: \(error.description)")
                }
            }

            let runner = EvalRun(inputOptions: inputOptions, compute: compute, wrt: try parseWrt(wrt),
                                 gradients: gradGolden != nil)
            let report = try runner.run()
            let comparator = GoldenComparator(rtol: rtol, atol: atol, dtype: report.dtype)
            var rows = comparator.compareValues(golden: goldenValues, report: report)
            if gradGolden != nil { rows += comparator.compareGradients(golden: goldenGradients, report: report) }

            let digits = NumberDigits(report.dtype)
            switch output.resolved {
            case .json: print(CheckOutput.json(rows, rtol: rtol, atol: atol, digits: digits), terminator: "")
            case .table: print(CheckOutput.table(rows, rtol: rtol, atol: atol, digits: digits), terminator: "")
            }
            if rows.contains(where: { !$0.matched }) { throw CLIExit(.mismatch) }
        }
    }
}
