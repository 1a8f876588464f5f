/// Block evaluator for fused elementwise programs (see Core/Fusion.swift).
///
/// A task takes a range of elements and walks it in blocks of `fusedBlock`; each instruction
/// runs over the whole block (a SIMD loop) into its own scratch row, so the interpretation
/// cost is one switch per instruction per block, and the intermediate values stay in cache.
/// Inputs are read in place; one-element inputs and constants are splatted once per task.

/// Elements per block: a program of ~30 instructions keeps its scratch rows in L2.
let fusedBlock = 512

struct FusedEvaluator<T: TensorScalar> {
    let code: [FusedInstruction]
    let inputs: [UnsafePointer<T>]
    let inputIsScalar: [Bool]
    let scratch: UnsafeMutablePointer<T>
    let values: UnsafeMutablePointer<UnsafePointer<T>>

    /// Splats constants and one-element inputs into their rows (once per task).
    func prepare() {
        for (i, ins) in code.enumerated() {
            let row = scratch + i * fusedBlock
            switch ins {
            case let .constant(c):
                row.update(repeating: T(c), count: fusedBlock); values[i] = UnsafePointer(row)
            case let .input(k) where inputIsScalar[k]:
                row.update(repeating: inputs[k][0], count: fusedBlock); values[i] = UnsafePointer(row)
            default: break
            }
        }
    }

    /// Evaluates elements `start..<start+n` (n ≤ fusedBlock); afterwards `values[i]` points at
    /// instruction i's results. `direct[i]`, when set, is where instruction i writes instead of
    /// its scratch row (outputs go straight to the result tensor: no extra copy).
    @inline(__always)
    func run(_ start: Int, _ n: Int, direct: UnsafePointer<UnsafeMutablePointer<T>?>? = nil) {
        for (i, ins) in code.enumerated() {
            let row = direct?[i].map { $0 + start } ?? scratch + i * fusedBlock
            switch ins {
            case .constant: continue
            case let .input(k):
                if !inputIsScalar[k] { values[i] = inputs[k] + start }
                continue
            case let .unary(f, x):
                let s = values[x]
                switch f {
                case .neg: unaryKernelSerial(s, row, n, NegF())
                case .abs: unaryKernelSerial(s, row, n, AbsF())
                case .sqrt: unaryKernelSerial(s, row, n, SqrtF())
                case .exp: unaryKernelSerial(s, row, n, ExpF())
                case .log: unaryKernelSerial(s, row, n, LogF())
                case .log1p: unaryKernelSerial(s, row, n, Log1pF())
                case .sigmoid: unaryKernelSerial(s, row, n, SigmoidF())
                case .softplus: unaryKernelSerial(s, row, n, SoftplusF())
                case .relu: unaryKernelSerial(s, row, n, ReluF())
                case .tanh: unaryKernelSerial(s, row, n, TanhF())
                case .sign: unaryKernelSerial(s, row, n, SignF())
                }
            case let .powScalar(x, p): unaryKernelSerial(values[x], row, n, PowScalarF(p: p))
            case let .leakyRelu(x, s): unaryKernelSerial(values[x], row, n, LeakyReluF(slope: s))
            case let .clamp(x, lo, hi): unaryKernelSerial(values[x], row, n, ClampF(lo: lo, hi: hi))
            case let .binary(f, p, q):
                let a = values[p], b = values[q]
                switch f {
                case .add: binaryRow(a, 1, b, 1, row, n, AddF())
                case .sub: binaryRow(a, 1, b, 1, row, n, SubF())
                case .mul: binaryRow(a, 1, b, 1, row, n, MulF())
                case .div: binaryRow(a, 1, b, 1, row, n, DivF())
                case .pow: binaryRow(a, 1, b, 1, row, n, PowF())
                case .maximum: binaryRow(a, 1, b, 1, row, n, MaximumF())
                case .minimum: binaryRow(a, 1, b, 1, row, n, MinimumF())
                }
            case let .compare(c, p, q): binaryRow(values[p], 1, values[q], 1, row, n, CompareF(c: c))
            case let .select(c, p, q):
                let cv = values[c], a = values[p], b = values[q]
                for j in 0..<n { row[j] = cv[j] != 0 ? a[j] : b[j] }
            }
            values[i] = UnsafePointer(row)
        }
    }

    /// Runs `body(evaluator)` with scratch for `code` allocated on this thread.
    static func with<R>(_ program: FusedProgram, _ inputs: [UnsafePointer<T>], _ scalar: [Bool],
                        _ body: (FusedEvaluator<T>) -> R) -> R {
        let rows = program.code.count
        let scratch = UnsafeMutablePointer<T>.allocate(capacity: rows * fusedBlock)
        let values = UnsafeMutablePointer<UnsafePointer<T>>.allocate(capacity: rows)
        defer { scratch.deallocate(); values.deallocate() }
        values.initialize(repeating: UnsafePointer(scratch), count: rows)
        let e = FusedEvaluator(code: program.code, inputs: inputs, inputIsScalar: scalar, scratch: scratch, values: values)
        e.prepare()
        return body(e)
    }
}

@inline(__always)
func unaryKernelSerial<T: TensorScalar, F: UnaryFunctor>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ f: F) {
    var i = 0
    let w = T.Vector.scalarCount
    while i + w <= n { storeVector(f.vector(loadVector(x + i) as T.Vector), y + i); i += w }
    while i < n { y[i] = f.scalar(x[i]); i += 1 }
}

/// ys[j] = output j of `program` for every element (inputs of ys[0]'s shape or one element).
func fusedMapKernel<T: TensorScalar>(_ program: FusedProgram, _ xs: [Tensor], _ ys: [Tensor], _: T.Type) {
    let n = ys[0].count
    let inputs = xs.map { $0.pointer(T.self) }
    let scalar = xs.map { $0.count == 1 }
    let outs = ys.map { $0.mutablePointer(T.self) }
    // Outputs computed by an instruction are written in place; an output that is an input or
    // a constant (or repeats another output) is copied.
    var direct = [UnsafeMutablePointer<T>?](repeating: nil, count: program.code.count)
    var copied: [Int] = []
    for (j, o) in program.outputs.enumerated() {
        switch program.code[o] {
        case .input, .constant: copied.append(j)
        default: if direct[o] == nil { direct[o] = outs[j] } else { copied.append(j) }
        }
    }
    direct.withUnsafeBufferPointer { d in
        let directRows = d.baseAddress!
        forEachRange(n) { lo, hi in
            FusedEvaluator<T>.with(program, inputs, scalar) { e in
                var s = lo
                while s < hi {
                    let len = min(fusedBlock, hi - s)
                    e.run(s, len, direct: directRows)
                    for j in copied { (outs[j] + s).update(from: e.values[program.outputs[j]], count: len) }
                    s += len
                }
            }
        }
    }
}

/// Σ of the program's single output over `n` elements in float64: each `reduceBlock` chunk is
/// the in-order sum of its blocks' lane sums; chunk sums are combined pairwise (deterministic).
func fusedSumKernel<T: TensorScalar>(_ program: FusedProgram, _ xs: [Tensor], _ n: Int, _: T.Type) -> Double {
    if n == 0 { return 0 }
    let inputs = xs.map { $0.pointer(T.self) }
    let scalar = xs.map { $0.count == 1 }
    let out = program.outputs[0]
    let chunks = chunkCount(n, chunkSize: reduceBlock)
    let group = 16
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: chunks) { buf in
        let sums = buf.baseAddress!
        let body = { (g: Int) in
            FusedEvaluator<T>.with(program, inputs, scalar) { e in
                for c in (g * group)..<min(chunks, (g + 1) * group) {
                    let hi = min(n, (c + 1) * reduceBlock)
                    var s = c * reduceBlock, acc = 0.0
                    while s < hi {
                        let len = min(fusedBlock, hi - s)
                        e.run(s, len)
                        acc += blockSum(e.values[out], len)
                        s += len
                    }
                    sums[c] = acc
                }
            }
        }
        let tasks = chunkCount(chunks, chunkSize: group)
        if n > 2 * elementwiseChunk { parallelChunks(tasks, body) } else { for g in 0..<tasks { body(g) } }
        pairwiseCombine(sums, chunks)
        return sums[0]
    }
}
