import ArgumentParser
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import LossKit
import NpyIO

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

    @Option(help: ArgumentHelp(
        "Seed for losses that draw random numbers (none of the built-in losses do; accepted for scripts).",
        valueName: "N"))
    var seed: UInt64?

    @Option(help: ArgumentHelp("Worker threads (results do not depend on it).", valueName: "N"))
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 {
            throw ValidationError("--threads \(threads): expected a positive number of threads")
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

        let dtype = Self.computeDType(arrays: arrays, requested: compute.precision)
        try InputBudget.check(arrays, dtype: dtype)
        var tensors: [String: Tensor] = [:]
        var nonFloat: Set<String> = []
        for loaded in arrays {
            let name = loaded.binding.name
            if !loaded.isFloat { nonFloat.insert(name) }
            do {
                let a = loaded.array
                if a.dtype.kind == .float, a.dtype.itemSize == (dtype == .float64 ? 8 : 4),
                   a.dtype.isNativeOrder, !a.fortranOrder || a.shape.filter({ $0 > 1 }).count <= 1 {
                    // Already the computation's layout: the tensor reads the file's bytes where
                    // they are (mapped, or the buffer they were read or inflated into), keeping
                    // that buffer alive; no copy into fresh memory.
                    tensors[name] = try a.withUnsafeDataBytes { try Tensor(shape: a.shape, dtype: dtype, borrowing: $0, owner: a.buffer) }
                } else {
                    tensors[name] = dtype == .float64
                        ? try Tensor(shape: a.shape, float64: a.toFloat64())
                        : try Tensor(shape: a.shape, float32: a.toFloat32())
                }
            } catch {
                throw CLIError("input \"\(name)\" (\(loaded.binding.location)): \(error)")
            }
        }
        if let wrt {
            for name in wrt {
                guard let loaded = arrays.first(where: { $0.binding.name == name }) else {
                    let known = arrays.map(\.binding.name).joined(separator: ", ")
                    throw CLIError("--wrt \(name): no input named \"\(name)\" (inputs: \(known.isEmpty ? "none" : known))")
                }
                guard loaded.isFloat else {
                    throw CLIError("--wrt \(name): input \"\(name)\" is \(loaded.array.dtype.descr), not floating point; gradients are taken only with respect to floating-point inputs")
                }
            }
        }
        let loadEnd = DispatchTime.now().uptimeNanoseconds

        var last: Evaluation?
        var first: (forward: Double, backward: Double) = (0, 0)
        var warm: [(forward: Double, backward: Double)] = []
        do {
            let options = EvaluationOptions(gradients: gradients, wrt: wrt, nonFloatInputs: nonFloat, termGradients: !totalOnly)
            let e = try program.evaluate(inputs: tensors, options: options)
            first = (e.forwardSeconds, e.backwardSeconds)
            last = e
            for _ in 1..<max(repeats, 1) {
                // The previous run's tensors are released first, so later runs reuse its memory
                // (warm), and the peak stays that of one run.
                last = nil
                let e = try program.evaluate(inputs: tensors, options: options)
                warm.append((e.forwardSeconds, e.backwardSeconds))
                last = e
            }
        } catch let error as LossError {
            if case let .missingInput(input, _, _, _) = error {
                let shorthand = ["pred", "target", "weight", "mask"].contains(input) ? " (or --\(input) FILE.npy)" : ""
                throw CLIError("\(error.description): give it with --input \(input)=FILE.npy\(shorthand), from an --inputs archive, or in the config's \"inputs\"")
            }
            throw CLIError(error.description)
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

    /// float64 when asked, or (without `--precision`) when there is at least one floating-point
    /// input and every one is float64, as PyTorch promotes; float32 otherwise.
    static func computeDType(arrays: [LoadedArray], requested: Precision?) -> DType {
        if let requested { return requested.dtype }
        let floats = arrays.filter(\.isFloat)
        return !floats.isEmpty && floats.allSatisfy { $0.array.dtype.itemSize == 8 } ? .float64 : .float32
    }
}

/// Writes several `.npz` files all or nothing: each goes to a temporary name next to its
/// destination, and only when every one was written are they renamed into place.
func writeArchivesAtomically(_ files: [(path: String, arrays: [(String, NpyArray)])]) throws {
    var written: [(temp: URL, final: URL)] = []
    func cleanUp() { for w in written { try? FileManager.default.removeItem(at: w.temp) } }
    for file in files {
        let final = URL(fileURLWithPath: file.path)
        let temp = final.deletingLastPathComponent()
            .appendingPathComponent(".\(final.lastPathComponent).losscli-\(ProcessInfo.processInfo.processIdentifier).npz")
        do {
            try NpzArchive.write(file.arrays, to: temp, compressed: false)
        } catch {
            cleanUp()
            throw CLIError("cannot write \(file.path): \(error)")
        }
        written.append((temp, final))
    }
    for (i, w) in written.enumerated() {
        // rename(2) replaces an existing file atomically (Foundation's replaceItemAt does not
        // on Linux: it can lose the old file and fail).
        if rename(w.temp.path, w.final.path) != 0 {
            let reason = String(cString: strerror(errno))
            for rest in written[i...] { try? FileManager.default.removeItem(at: rest.temp) }
            throw CLIError("cannot write \(w.final.path): \(reason)")
        }
    }
}

/// Checks before computing that an output file can be created, so that a typo in a folder
/// name fails fast (exit 2) instead of after the work.
func validateOutputPath(_ path: String, option: String) throws {
    guard path.lowercased().hasSuffix(".npz") else {
        throw CLIError("\(option) \(path): expected a file name ending in .npz")
    }
    let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw CLIError("\(option) \(path): folder \(dir) does not exist")
    }
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
        throw CLIError("\(option) \(path): is a directory")
    }
}

/// The array of a tensor in its own dtype, for `.npz` output: one copy of the tensor's memory
/// (going through `toFloat32()` made two, each into fresh pages; perf showed the copies and
/// their page faults as ~20% of an `eval --grad-out` on 4×3×256×256).
func npyArray(_ tensor: Tensor) -> NpyArray {
    if tensor.dtype == .float64 {
        if let a = try? tensor.withUnsafeBufferPointer(as: Double.self, { NpyArray(float64: $0, shape: tensor.shape) }) { return a }
        return NpyArray(float64: tensor.toFloat64(), shape: tensor.shape)
    }
    if let a = try? tensor.withUnsafeBufferPointer(as: Float.self, { NpyArray(float32: $0, shape: tensor.shape) }) { return a }
    return NpyArray(float32: tensor.toFloat32(), shape: tensor.shape)
}

/// The median (mean of the middle two for an even count); 0 for none.
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
