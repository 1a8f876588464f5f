import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import LossKit
import NpyIO
import TensorIO

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
        // A network layer keeps its transformed filters from the first evaluation when more
        // follow (`--repeat`), else only for a layer used twice within the one evaluation.
        LossKitRuntime.filterCacheKeepsFromUse = repeats > 1 ? 1 : 2
        let loadStart = DispatchTime.now().uptimeNanoseconds
        let (config, arrays) = try inputOptions.load()
        let program: LossProgram
        do {
            // Pretrained weights (PerceptualLoss's `pretrained`, ...): paths relative to the
            // config, MMagic's default names in the torch caches, each file read once.
            let directory = config.directory
            let environment = ProcessInfo.processInfo.environment
            program = try LossProgram(config: config.losses, weights: WeightProvider { parameter, value in
                try WeightSource.load(value: value, parameter: parameter, configDirectory: directory, environment: environment)
            })
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
