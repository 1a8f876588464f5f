import ArgumentParser
import LossKit

/// `--precision`: the dtype the losses are computed in.
enum Precision: String, ExpressibleByArgument, CaseIterable {
    case f32, f64

    var dtype: DType { self == .f32 ? .float32 : .float64 }
}

/// How the computation runs, shared by `eval` and `check`.
struct ComputeOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Compute in float32 or float64 (default: f64 when every floating-point input is float64, else f32).",
        valueName: "f32|f64"))
    var precision: Precision?

    // `.unconditional`: `--seed -1` and `--threads -1` reach validate() and get a message
    // about the value, instead of "-1" being taken for an option ("Missing value").
    @Option(name: .customLong("seed"), parsing: .unconditional, help: ArgumentHelp(
        "Seed for losses that draw random numbers (none of the built-in losses do; accepted for scripts).",
        valueName: "N"))
    var seedText: String?

    @Option(name: .customLong("threads"), parsing: .unconditional,
            help: ArgumentHelp("Worker threads (results do not depend on it).", valueName: "N"))
    var threadsText: String?

    /// `--seed`: a whole number from 0 to 2^64 - 1, as torch.manual_seed takes.
    var seed: UInt64? { seedText.flatMap { UInt64($0) } }
    var threads: Int? { threadsText.flatMap { Int($0) } }

    func validate() throws {
        if let seedText, UInt64(seedText) == nil {
            throw ValidationError("--seed \(seedText): expected a whole number from 0 to 18446744073709551615")
        }
        if let threadsText {
            guard let n = Int(threadsText), n >= 1, n <= 1024 else {
                throw ValidationError("--threads \(threadsText): expected a whole number of threads from 1 to 1024")
            }
        }
    }

    /// Applies `--threads` to the engine.
    func applyRuntime() {
        if let threads { LossKitRuntime.threads = threads }
    }
}
