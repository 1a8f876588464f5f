import ArgumentParser
import Foundation
import NpyIO

extension LossCLI {
    /// `losscli inspect FILE...`: what each array in .npy/.npz files holds.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show dtype, shape, memory order and value statistics of .npy and .npz files and weight files.",
            discussion: """
            For each array (a .npy file, each key of a .npz archive, each tensor of a weight \
            file): the dtype as NumPy writes it, the shape, fortran_order, and min, max, mean, \
            sum and the count of non-finite values, all taken as float64. min and max are nan \
            when the array holds a NaN (as np.min); an empty array has no min, max or mean. \
            Weight files (PyTorch .pth/.pt in the zip and legacy formats, TorchScript archives, \
            safetensors) are detected by their bytes and list their tensors by state-dict key, \
            with the format detected.

            Example (from the repository root):
              losscli inspect fixtures/demo/pred.npy fixtures/demo/target.npy
              losscli inspect fixtures/cli/bundle.npz --format json
              losscli inspect fixtures/torch/state_dict_legacy.pth --key 'features.*'
            """
        )

        @Argument(help: "The .npy, .npz or weight files to inspect.")
        var files: [String] = []

        @Option(name: .customLong("key"),
                help: "Only the archive members and weight-file tensors whose key matches this shell-style pattern (* ? [...]; repeatable). A pattern that matches nothing is an error. .npy files are always shown.")
        var keys: [String] = []

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
            var reports: [ArrayReport] = []
            // A file named twice is reported once: JSON object keys must be unique.
            var seen = Set<String>()
            // (report, archive path) for arrays that came from an .npz member.
            var members: [(index: Int, path: String)] = []
            // The format each file was detected as (by its bytes), for the output.
            var formats: [(path: String, format: String)] = []
            // Which patterns matched something, to name one that did not.
            var matched = Set<String>()
            func selected(_ key: String) -> Bool {
                if keys.isEmpty { return true }
                let hits = keys.filter { fnmatch($0, key, 0) == 0 }
                matched.formUnion(hits)
                return !hits.isEmpty
            }
            for path in files where seen.insert(path).inserted {
                switch try Npy.load(path: path, options: options) {
                case .array(let array):
                    formats.append((path, "npy"))
                    reports.append(ArrayReport(name: path, array: array))
                case .archive(let archive):
                    formats.append((path, "npz"))
                    // Members not asked for are never decompressed.
                    for key in archive.names where selected(key) {
                        let array = try archive.array(named: key)
                        members.append((reports.count, path))
                        reports.append(ArrayReport(name: key, array: array))
                    }
                case .weights(let weights):
                    formats.append((path, weights.format.rawValue))
                    for (key, array) in weights.tensors where selected(key) {
                        members.append((reports.count, path))
                        reports.append(ArrayReport(name: key, array: array))
                    }
                }
            }
            if let missing = keys.first(where: { !matched.contains($0) }) {
                throw CLIError("--key \(ErrorText.shortened("'" + missing + "'")) matches no member or tensor of \(files.count == 1 ? files[0] : "the files")")
            }
            // An .npz array is named by its key, as the contract says. Only a key that
            // would collide with another name (two archives with the same keys, or a
            // .npy path equal to a key) is qualified as PATH:KEY, the form inputs use.
            var counts: [String: Int] = [:]
            for r in reports { counts[r.name, default: 0] += 1 }
            for (index, path) in members where counts[reports[index].name, default: 0] > 1 {
                reports[index].name = "\(path):\(reports[index].name)"
            }
            switch output.resolved {
            case .json: print(Self.json(reports, formats: formats).rendered())
            case .table:
                print(Self.table(reports), terminator: "")
                // Weight files say what they were read as (npy and npz tables stay as they were).
                for (path, format) in formats where format != "npy" && format != "npz" {
                    print("\(JSONValue.escapingControls(path)): \(format)")
                }
            }
        }

        /// What is reported about one array; the data itself is not kept (a large
        /// archive's members are released one by one).
        struct ArrayReport {
            var name: String
            var dtype: String
            var shape: [Int]
            var fortranOrder: Bool
            var stats: NpyStatistics
            init(name: String, array: NpyArray) {
                self.name = name
                dtype = array.dtype.descr
                shape = array.shape
                fortranOrder = array.fortranOrder
                stats = NpyStatistics(array)
            }
        }

        /// `formats` (weight files only, so .npy/.npz output is as the contract shows it): the
        /// format each weight file was detected as, by its bytes.
        static func json(_ reports: [ArrayReport], formats: [(path: String, format: String)]) -> JSONValue {
            let weights = formats.filter { $0.format != "npy" && $0.format != "npz" }
            return .object([("arrays", .object(reports.map { r in
                let stats = r.stats
                return (r.name, .object([
                    ("dtype", .string(r.dtype)),
                    ("shape", .array(r.shape.map { .int($0) })),
                    ("fortran_order", .bool(r.fortranOrder)),
                    ("min", .double(stats.min)),
                    ("max", .double(stats.max)),
                    ("mean", .double(stats.mean)),
                    ("sum", .double(stats.sum)),
                    ("nonfinite", .int(stats.nonfinite)),
                ]))
            }))] + (weights.isEmpty ? [] : [("formats", .object(weights.map { ($0.path, .string($0.format)) }))]))
        }

        static func table(_ reports: [ArrayReport]) -> String {
            var table = TextTable(["NAME", "DTYPE", "SHAPE", "ORDER", "MIN", "MAX", "MEAN", "SUM", "NONFINITE"])
            func number(_ v: Double?) -> String { v.map { String(format: "%.7g", $0) } ?? "-" }
            for r in reports {
                let stats = r.stats
                table.append([
                    r.name, r.dtype, NpyError.shapeText(r.shape), r.fortranOrder ? "F" : "C",
                    number(stats.min), number(stats.max), number(stats.mean), number(stats.sum), String(stats.nonfinite),
                ])
            }
            return table.rendered()
        }
    }
}
