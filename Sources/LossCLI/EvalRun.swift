import ArgumentParser
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import LossKit
import NpyIO
import TensorIO

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

/// Gradient norms as `eval` reports them (the full arrays go to `--grad-out`).
struct GradientSummary {
    /// `"total"` or a term name.
    var owner: String
    var input: String
    var tensor: Tensor
    var shape: [Int] { tensor.shape }
    /// sqrt(sum g²), accumulated in float64.
    var l2: Double
    /// max |g|; NaN when an element is NaN.
    var maxAbs: Double

    init(owner: String, input: String, tensor: Tensor) {
        self.owner = owner
        self.input = input
        self.tensor = tensor
        let stats = tensor.dtype == .float64
            ? (try? tensor.withUnsafeBufferPointer(as: Double.self, GradientSummary.norms))
            : (try? tensor.withUnsafeBufferPointer(as: Float.self, GradientSummary.norms))
        (l2, maxAbs) = stats ?? (.nan, .nan)
    }

    /// sqrt(Σ g²) and max |g| in one pass, accumulated in float64; NaN propagates to both.
    /// Eight independent lanes without branches (the compiler vectorises it; the former
    /// one-accumulator loop with a NaN branch was ~9% of an `eval` on 8×3×512×512, perf).
    /// A NaN makes its lane's sum NaN (squares are never -inf), so the sum tells whether one was seen.
    @inline(__always)
    static func norms<T: BinaryFloatingPoint>(_ values: UnsafeBufferPointer<T>) -> (Double, Double) {
        guard let base = values.baseAddress else { return (0, 0) }
        let n = values.count
        var s = SIMD8<Double>(repeating: 0), m = SIMD8<Double>(repeating: 0)
        var i = 0
        while i + 8 <= n {
            var d = SIMD8<Double>()
            for k in 0..<8 { d[k] = Double(base[i + k]) }
            s.addProduct(d, d)
            let a = d.replacing(with: -d, where: d .< 0)
            m.replace(with: a, where: a .> m)
            i += 8
        }
        var sum = s.sum(), maxAbs = m.max()
        while i < n {
            let d = Double(base[i])
            sum += d * d
            if abs(d) > maxAbs { maxAbs = abs(d) }
            i += 1
        }
        return (sum.squareRoot(), sum.isNaN ? .nan : maxAbs)
    }
}

/// Everything one evaluation produced, in the order it is reported.
struct EvalReport {
    var dtype: DType
    var terms: [Evaluation.Term]
    var total: Double
    var gradients: [GradientSummary]
    /// Milliseconds: load, forward, backward, write (`write` filled in after writing).
    var timing: [(phase: String, ms: Double)]

    /// Whether a term value or the total is NaN or infinite (exit 3).
    var hasNonFinite: Bool { !total.isFinite || terms.contains { !$0.reported.isFinite } }
}

/// Loads the config and inputs, builds the program and evaluates it.
struct EvalRun {
    var inputOptions: InputOptions
    var compute: ComputeOptions
    /// `--wrt` names; nil: every floating-point input each term reads.
    var wrt: [String]?
    var gradients: Bool
    /// `eval --total-only`: gradients of the total, not of each term.
    var totalOnly = false
    /// `--repeat`: evaluations in all; the report is the last one's (they are identical), and
    /// runs 2... give the warm timings.
    var repeats = 1

    /// `eval`'s output files, checked before computing (nothing to check for `check`).
    var outputs = OutputFiles()

    func run() throws -> EvalReport {
        compute.applyRuntime()
        let loadStart = DispatchTime.now().uptimeNanoseconds
        let (config, arrays) = try inputOptions.load()
        let program: LossProgram
        do {
            program = try LossProgram(config: config.losses)
        } catch let error as LossError {
            throw CLIError("config \(config.source): \(error.description)")
        }
        // "total" names the sum in the output and in gradient keys (`total/pred`).
        if let clash = program.terms.first(where: { $0.name == "total" }) {
            throw CLIError("config \(config.source): \(clash.path.isEmpty ? "the config" : clash.path): the term name \"total\" is reserved for the sum of the terms; use another key or loss_name")
        }
        var byName: [String: LoadedArray] = [:]
        for loaded in arrays { byName[loaded.binding.name] = loaded }
        if let wrt {
            for name in wrt {
                guard let loaded = byName[name] else {
                    let known = arrays.map(\.binding.name).joined(separator: ", ")
                    throw CLIError("--wrt \(name): no input named \"\(name)\" (inputs: \(known.isEmpty ? "none" : known))")
                }
                guard loaded.isFloat else {
                    throw CLIError("--wrt \(name): input \"\(name)\" is \(loaded.array.dtype.descr), not floating point; gradients are taken only with respect to floating-point inputs")
                }
            }
        }

        let dtype = Self.computeDType(arrays: arrays, requested: compute.precision)
        let nonFloat = Set(arrays.filter { !$0.isFloat }.map(\.binding.name))
        let options = EvaluationOptions(gradients: gradients, wrt: wrt, nonFloatInputs: nonFloat, termGradients: !totalOnly)
        // What will be reported and written is known now: output keys and memory are checked
        // before anything is converted or computed.
        let planned: (terms: [(name: String, inputs: [String])], gradients: [(key: String, inputs: [String])])
        do {
            planned = try program.plannedOutputs(available: Set(byName.keys), options: options)
        } catch let error as LossError {
            throw Self.cliError(error)
        }
        try outputs.checkKeys(gradients: planned.gradients, terms: planned.terms.map(\.name))
        let borrowed = Set(arrays.filter { Tensor.canBorrow($0.array, as: dtype) }.map(\.binding.name))
        try InputBudget.check(arrays, dtype: dtype, budget: MemoryBudget.current(), borrowed: borrowed,
                              terms: planned.terms, gradients: planned.gradients, writesGradients: outputs.gradOut != nil)
        TestBarrier.reach("inputs-loaded")

        var tensors: [String: Tensor] = [:]
        for loaded in arrays {
            do {
                tensors[loaded.binding.name] = try Tensor(npy: loaded.array, dtype: dtype)
            } catch {
                throw CLIError("input \"\(loaded.binding.name)\" (\(loaded.binding.location)): \(error)")
            }
        }
        let loadEnd = DispatchTime.now().uptimeNanoseconds

        var last: Evaluation?
        var first: (forward: Double, backward: Double) = (0, 0)
        var warm: [(forward: Double, backward: Double)] = []
        do {
            (last, first) = try Self.timedEvaluation(program, tensors, options)
            for _ in 1..<max(repeats, 1) {
                // The previous run's tensors are released first, so later runs reuse its memory
                // (warm), and the peak stays that of one run.
                last = nil
                let (e, seconds) = try Self.timedEvaluation(program, tensors, options)
                warm.append(seconds)
                last = e
            }
        } catch let error as LossError {
            throw Self.cliError(error)
        } catch {
            throw CLIError("\(error)")
        }

        guard let evaluation = last else { throw CLIError("internal error: no evaluation") }
        var summaries: [GradientSummary] = []
        for (owner, inputs) in evaluation.gradientOrder {
            for input in inputs {
                guard let g = evaluation.gradients[owner]?[input] else { continue }
                summaries.append(GradientSummary(owner: owner, input: input, tensor: g))
            }
        }
        return EvalReport(
            dtype: dtype, terms: evaluation.terms, total: evaluation.total, gradients: summaries,
            timing: [("load", Double(loadEnd - loadStart) / 1e6), ("forward", first.forward * 1e3), ("backward", first.backward * 1e3)]
                + (warm.isEmpty ? [] : [("forward_warm", median(warm.map(\.forward)) * 1e3),
                                        ("backward_warm", median(warm.map(\.backward)) * 1e3)]))
    }

    /// One evaluation, and the seconds its forward pass and its backward pass took.
    static func timedEvaluation(_ program: LossProgram, _ inputs: [String: Tensor], _ options: EvaluationOptions) throws
        -> (Evaluation, (forward: Double, backward: Double)) {
        let start = DispatchTime.now().uptimeNanoseconds
        let forward = try program.forward(inputs: inputs, options: options)
        let forwardEnd = DispatchTime.now().uptimeNanoseconds
        let evaluation = try forward.backward()
        let end = DispatchTime.now().uptimeNanoseconds
        return (evaluation, (Double(forwardEnd - start) / 1e9, Double(end - forwardEnd) / 1e9))
    }

    /// A missing input says how to give it.
    static func cliError(_ error: LossError) -> CLIError {
        if case let .missingInput(input, _, _, _) = error {
            let shorthand = ["pred", "target", "weight", "mask"].contains(input) ? " (or --\(input) FILE.npy)" : ""
            return CLIError("\(error.description): give it with --input \(input)=FILE.npy\(shorthand), from an --inputs archive, or in the config's \"inputs\"")
        }
        return CLIError(error.description)
    }

    /// float64 when asked, or (without `--precision`) when there is at least one floating-point
    /// input and every one is float64, as PyTorch promotes; float32 otherwise.
    static func computeDType(arrays: [LoadedArray], requested: Precision?) -> DType {
        if let requested { return requested.dtype }
        let floats = arrays.filter(\.isFloat)
        return !floats.isEmpty && floats.allSatisfy { $0.array.dtype.itemSize == 8 } ? .float64 : .float32
    }
}

/// The median (mean of the middle two for an even count); 0 for none.
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
