import Synchronization
#if arch(x86_64) && canImport(_Builtin_intrinsics)
import _Builtin_intrinsics.intel
#endif

/// Block evaluator for fused elementwise programs (see Core/Fusion.swift).
///
/// A task takes a range of elements and walks it in blocks of `fusedBlock`; each instruction
/// runs over the whole block (a SIMD loop) into its own scratch row, so the interpretation
/// cost is one switch per instruction per block, and the intermediate values stay in cache.
/// Inputs of the output's shape are read in place; one-element inputs and constants are
/// splatted once per task; other broadcast inputs are gathered block by block into their row
/// (cheaper than materialising an expanded copy: no extra pass over memory).

/// How a fused input is read.
enum FusedInputLayout {
    case contiguous
    case scalar
    /// Coalesced output extents and this input's strides along them (0 where broadcast).
    case gathered(shape: [Int], strides: [Int])

    init(_ input: [Int], out: [Int]) {
        if input == out { self = .contiguous; return }
        if input.reduce(1, *) == 1 { self = .scalar; return }
        let plan = BroadcastPlan(outShape: out, operandShapes: [input])
        self = .gathered(shape: plan.shape, strides: plan.strides[0])
    }
}

/// Copies elements `start..<start+n` of `src` broadcast to the (coalesced) output shape.
@inline(__always)
func gatherBroadcast<T>(_ src: UnsafePointer<T>, _ shape: [Int], _ strides: [Int], _ start: Int, _ n: Int,
                        _ row: UnsafeMutablePointer<T>, _ index: UnsafeMutablePointer<Int>) {
    let r = shape.count
    var rem = start, off = 0
    for d in stride(from: r - 1, through: 0, by: -1) {
        index[d] = rem % shape[d]; rem /= shape[d]
        off += index[d] * strides[d]
    }
    let inner = shape[r - 1], si = strides[r - 1]
    var j = 0
    while j < n {
        let run = min(n - j, inner - index[r - 1])
        if si == 0 { (row + j).update(repeating: src[off], count: run) } else { (row + j).update(from: src + off, count: run) }
        j += run
        index[r - 1] += run; off += run * si
        var d = r - 1
        while d > 0 && index[d] == shape[d] {
            off -= shape[d] * strides[d]; index[d] = 0
            d -= 1
            index[d] += 1; off += strides[d]
        }
    }
}

/// The address of elements `start..<start+n` of the output in `src` broadcast to the
/// (coalesced) output shape, when they are `n` consecutive elements of `src`; else nil.
@inline(__always)
func contiguousRun<T>(_ src: UnsafePointer<T>, _ shape: [Int], _ strides: [Int], _ start: Int, _ n: Int) -> UnsafePointer<T>? {
    let r = shape.count
    guard strides[r - 1] == 1, start % shape[r - 1] + n <= shape[r - 1] else { return nil }
    var rem = start, off = 0
    for d in stride(from: r - 1, through: 0, by: -1) {
        off += rem % shape[d] * strides[d]; rem /= shape[d]
    }
    return src + off
}

/// Elements per block: a program of ~30 instructions keeps its scratch rows in L2.
let fusedBlock = 512

/// Which scratch row holds each instruction's block of values. Rows are reused once a value is
/// dead (linear scan over the SSA code), so a program of 40 instructions needs ~10 rows: they
/// stay in L1 instead of spilling a row per instruction to L2 (measured in docs/speed.md).
/// A row may be its own operand's row: every instruction is elementwise, reading element j
/// before writing element j, so in-place evaluation is safe.
struct FusedRowPlan {
    /// Row of instruction i; -1 when it needs none (contiguous inputs, values never read).
    var row: [Int]
    var count: Int

    init(_ program: FusedProgram, _ layouts: [FusedInputLayout]) {
        let code = program.code
        var last = [Int](repeating: -1, count: code.count)
        func use(_ x: Int, at i: Int) { last[x] = max(last[x], i) }
        for (i, ins) in code.enumerated() {
            for x in ins.operands { use(x, at: i) }
        }
        // Outputs are read after the block is evaluated; constants and one-element inputs are
        // splatted once per task: all keep their rows to the end.
        for o in program.outputs { last[o] = Int.max }
        for (i, ins) in code.enumerated() {
            switch ins {
            case .constant: last[i] = Int.max
            case let .input(k): if case .scalar = layouts[k], last[i] >= 0 { last[i] = Int.max }
            default: break
            }
        }
        var row = [Int](repeating: -1, count: code.count)
        var free: [Int] = [], count = 0
        // Rows splatted once per task (`prepare`) come first and are never shared: a row handed
        // on to a later instruction would be overwritten in the first block.
        for (i, ins) in code.enumerated() where last[i] == Int.max {
            switch ins {
            case .constant, .input: row[i] = count; count += 1
            default: break
            }
        }
        var dying: [[Int]] = Array(repeating: [], count: code.count)
        for i in code.indices where last[i] >= 0 && last[i] < Int.max { dying[last[i]].append(i) }
        for (i, ins) in code.enumerated() {
            // Operands whose last use is this instruction give their rows back first.
            for d in dying[i] where row[d] >= 0 { free.append(row[d]) }
            if last[i] < 0 || row[i] >= 0 { continue }
            if case let .input(k) = ins, case .contiguous = layouts[k] { continue }
            if let r = free.popLast() { row[i] = r } else { row[i] = count; count += 1 }
        }
        self.row = row
        self.count = max(count, 1)
    }
}

struct FusedEvaluator<T: TensorScalar> {
    let code: [FusedInstruction]
    let inputs: [UnsafePointer<T>]
    let layouts: [FusedInputLayout]
    let plan: FusedRowPlan
    /// Odometer scratch for `gatherBroadcast`.
    let index: UnsafeMutablePointer<Int>
    let scratch: UnsafeMutablePointer<T>
    let values: UnsafeMutablePointer<UnsafePointer<T>>

    /// Splats constants and one-element inputs into their rows (once per task).
    func prepare() {
        for (i, ins) in code.enumerated() where plan.row[i] >= 0 {
            let row = scratch + plan.row[i] * fusedBlock
            switch ins {
            case let .constant(c):
                row.update(repeating: T(c), count: fusedBlock); values[i] = UnsafePointer(row)
            case let .input(k) where { if case .scalar = layouts[k] { return true } else { return false } }():
                row.update(repeating: inputs[k][0], count: fusedBlock); values[i] = UnsafePointer(row)
            default: break
            }
        }
    }

    /// Evaluates elements `start..<start+n` (n ≤ fusedBlock); afterwards `values[i]` points at
    /// instruction i's results. `direct[i]`, when set, is where instruction i writes instead of
    /// its scratch row (outputs go straight to the result tensor: no extra copy).
    ///
    /// `stream`: outputs are computed in their scratch rows and then written to `direct` with
    /// non-temporal stores (`streamCopy`): a large result is not read into the cache before it
    /// is overwritten, a third less memory traffic for a gradient pass (docs/speed.md).
    @inline(__always)
    func run(_ start: Int, _ n: Int, direct: UnsafePointer<UnsafeMutablePointer<T>?>? = nil, stream: Bool = false) {
        for (i, ins) in code.enumerated() {
            let r = plan.row[i]
            let target = direct?[i].map { $0 + start }
            let streamed = stream && target != nil && r >= 0
            guard let row = streamed ? scratch + r * fusedBlock : (target ?? (r >= 0 ? scratch + r * fusedBlock : nil)) else {
                // A contiguous input is read in place; any other value without a row is never read.
                if case let .input(k) = ins, case .contiguous = layouts[k] { values[i] = inputs[k] + start }
                continue
            }
            switch ins {
            case .constant: continue
            case let .input(k):
                switch layouts[k] {
                case .contiguous: values[i] = inputs[k] + start
                case .scalar: break
                case let .gathered(shape, strides):
                    // A block inside one contiguous run of the input (a weight broadcast over
                    // channels, read along H·W) is read in place, without a copy.
                    if let p = contiguousRun(inputs[k], shape, strides, start, n) { values[i] = p; continue }
                    gatherBroadcast(inputs[k], shape, strides, start, n, row, index)
                    values[i] = UnsafePointer(row)
                }
                continue
            case let .unary(op, x): op.withFunctor(SerialUnaryRun(x: values[x], y: row, n: n))
            case let .binary(op, p, q): op.withFunctor(BinaryRowRun(a: values[p], b: values[q], y: row, n: n))
            case let .compare(c, p, q): binaryRow(values[p], 1, values[q], 1, row, n, CompareF(c: c))
            case let .select(c, p, q):
                let cv = values[c], a = values[p], b = values[q]
                for j in 0..<n { row[j] = cv[j] != 0 ? a[j] : b[j] }
            }
            values[i] = UnsafePointer(row)
            if streamed, let target { streamCopy(row, target, n) }
        }
    }

    /// Runs `body(evaluator)` with scratch for `code` allocated on this thread.
    static func with<R>(_ program: FusedProgram, _ inputs: [UnsafePointer<T>], _ layouts: [FusedInputLayout],
                        _ body: (FusedEvaluator<T>) -> R) -> R {
        let plan = FusedRowPlan(program, layouts)
        let rows = program.code.count
        let scratch = UnsafeMutablePointer<T>.allocate(capacity: plan.count * fusedBlock)
        let values = UnsafeMutablePointer<UnsafePointer<T>>.allocate(capacity: rows)
        let rank = layouts.map { if case let .gathered(shape, _) = $0 { return shape.count } else { return 0 } }.max() ?? 0
        let index = UnsafeMutablePointer<Int>.allocate(capacity: max(rank, 1))
        defer { scratch.deallocate(); values.deallocate(); index.deallocate() }
        values.initialize(repeating: UnsafePointer(scratch), count: rows)
        let e = FusedEvaluator(code: program.code, inputs: inputs, layouts: layouts, plan: plan, index: index, scratch: scratch, values: values)
        e.prepare()
        return body(e)
    }
}

/// One instruction's block through the serial unary kernel with the functor its op picks.
struct SerialUnaryRun<T: TensorScalar>: UnaryFunctorUser {
    let x: UnsafePointer<T>, y: UnsafeMutablePointer<T>, n: Int
    @inline(__always) func use<F: UnaryFunctor>(_ f: F) { unaryKernelSerial(x, y, n, f) }
}

/// One instruction's block through the row kernel with the functor its binary op picks.
struct BinaryRowRun<T: TensorScalar>: BinaryFunctorUser {
    let a: UnsafePointer<T>, b: UnsafePointer<T>, y: UnsafeMutablePointer<T>, n: Int
    @inline(__always) func use<F: BinaryFunctor>(_ f: F) { binaryRow(a, 1, b, 1, y, n, f) }
}

