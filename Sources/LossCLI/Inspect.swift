import ArgumentParser
import Foundation
import NpyIO

extension LossCLI {
    /// `losscli inspect FILE...`: what each array in .npy/.npz files holds.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show dtype, shape, memory order and value statistics of .npy and .npz files.",
            discussion: """
            For each array (a .npy file, or each key of a .npz archive): the dtype as NumPy \
            writes it, the shape, fortran_order, and min, max, mean, sum and the count of \
            non-finite values, all taken as float64. min and max are nan when the array \
            holds a NaN (as np.min); an empty array has no min, max or mean.

            Example:
              losscli inspect pred.npy target.npy
              losscli inspect bundle.npz --format json
            """
        )

        @Argument(help: "The .npy or .npz files to inspect.")
        var files: [String] = []

        @OptionGroup var output: FormatOptions

        @Option(help: "Largest .npy header to accept, in bytes (NumPy's max_header_size).")
        var maxHeaderSize: Int = NpyFormat.defaultMaxHeaderSize

        func validate() throws {
            if files.isEmpty { throw ValidationError("give at least one .npy or .npz file to inspect") }
            if maxHeaderSize < 0 { throw ValidationError("--max-header-size must be at least 0, got \(maxHeaderSize)") }
        }

        func run() throws {
            let options = NpyReadOptions(maxHeaderSize: maxHeaderSize)
            // Everything is read and checked before anything is printed: a bad file
            // gives the error line alone, never half a report.
            var reports: [(name: String, array: NpyArray, stats: NpyStatistics)] = []
            // A file named twice is reported once: JSON object keys must be unique.
            var seen = Set<String>()
            for path in files where seen.insert(path).inserted {
                switch try Npy.load(path: path, options: options) {
                case .array(let array):
                    reports.append((path, array, NpyStatistics(array)))
                case .archive(let archive):
                    for key in archive.names {
                        let array = try archive.array(named: key)
                        // Keys of one archive name its arrays; with several files the
                        // path keeps names apart, in the `bundle.npz:KEY` form inputs use.
                        let name = files.count == 1 ? key : "\(path):\(key)"
                        reports.append((name, array, NpyStatistics(array)))
                    }
                }
            }
            switch output.resolved {
            case .json: print(Self.json(reports.map { ($0.name, $0.array, $0.stats) }).rendered())
            case .table: print(Self.table(reports.map { ($0.name, $0.array, $0.stats) }), terminator: "")
            }
        }

        static func json(_ reports: [(String, NpyArray, NpyStatistics)]) -> JSONValue {
            .object([("arrays", .object(reports.map { name, array, stats in
                (name, .object([
                    ("dtype", .string(array.dtype.descr)),
                    ("shape", .array(array.shape.map { .int($0) })),
                    ("fortran_order", .bool(array.fortranOrder)),
                    ("min", .double(stats.min)),
                    ("max", .double(stats.max)),
                    ("mean", .double(stats.mean)),
                    ("sum", .double(stats.sum)),
                    ("nonfinite", .int(stats.nonfinite)),
                ]))
            }))])
        }

        static func table(_ reports: [(String, NpyArray, NpyStatistics)]) -> String {
            var table = TextTable(["NAME", "DTYPE", "SHAPE", "ORDER", "MIN", "MAX", "MEAN", "SUM", "NONFINITE"])
            func number(_ v: Double?) -> String { v.map { String(format: "%.7g", $0) } ?? "-" }
            for (name, array, stats) in reports {
                table.append([
                    name, array.dtype.descr, NpyError.shapeText(array.shape), array.fortranOrder ? "F" : "C",
                    number(stats.min), number(stats.max), number(stats.mean), number(stats.sum), String(stats.nonfinite),
                ])
            }
            return table.rendered()
        }
    }
}
