import Synchronization
#if arch(x86_64) && canImport(_Builtin_intrinsics)
import _Builtin_intrinsics.intel
#endif

/// The kernels that run fused programs over tensors (evaluator: FusedEvaluator.swift):
/// elementwise outputs, sums, and gradient passes that reduce broadcast inputs in the pass.



/// dst[0..<n] = src[0..<n] with non-temporal stores where dst is 16-byte aligned (SSE, on
/// every x86-64), plain stores elsewhere. The caller issues `storeFence()` before the data is
/// read by another thread.
@inline(__always)
func streamCopy<T: TensorScalar>(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ n: Int) {
    #if arch(x86_64) && canImport(_Builtin_intrinsics)
    var i = 0
    let perVector = 16 / MemoryLayout<T>.stride
    while i < n && Int(bitPattern: dst + i) & 15 != 0 { dst[i] = src[i]; i += 1 }
    let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst)
    let size = MemoryLayout<T>.stride
    while i + 4 * perVector <= n {
        for k in 0..<4 {
            let v = s.loadUnaligned(fromByteOffset: (i + k * perVector) * size, as: SIMD4<Float>.self)
            _mm_stream_ps(d.advanced(by: (i + k * perVector) * size).assumingMemoryBound(to: Float.self), v)
        }
        i += 4 * perVector
    }
    while i < n { dst[i] = src[i]; i += 1 }
    #else
    dst.update(from: src, count: n)
    #endif
}

/// Orders earlier non-temporal stores before later memory operations (they are weakly
/// ordered): a sequentially consistent fence, `mfence` on x86-64.
@inline(__always)
func storeFence() {
    atomicMemoryFence(ordering: .sequentiallyConsistent)
}

@inline(__always)
func unaryKernelSerial<T: TensorScalar, F: UnaryFunctor>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ f: F) {
    var i = 0
    let w = T.Vector.scalarCount
    while i + w <= n { storeSIMD(f.vector(loadSIMD(x + i) as T.Vector), y + i); i += w }
    while i < n { y[i] = f.scalar(x[i]); i += 1 }
}

/// ys[j] = output j of `program` for every element (inputs broadcast to ys[0]'s shape).
func fusedMapKernel<T: TensorScalar>(_ program: FusedProgram, _ xs: [Tensor], _ ys: [Tensor], _: T.Type) {
    let n = ys[0].count
    let inputs = xs.map { $0.pointer(T.self) }
    let scalar = xs.map { FusedInputLayout($0.shape, out: ys[0].shape) }
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
    let stream = n * MemoryLayout<T>.stride >= EngineOptions.current.streamedOutputBytes
    direct.withUnsafeBufferPointer { d in
        let directRows = d.baseAddress!
        forEachRange(n) { lo, hi in
            FusedEvaluator<T>.with(program, inputs, scalar) { e in
                var s = lo
                while s < hi {
                    let len = min(fusedBlock, hi - s)
                    e.run(s, len, direct: directRows, stream: stream)
                    for j in copied { (outs[j] + s).update(from: e.values[program.outputs[j]], count: len) }
                    s += len
                }
                if stream { storeFence() }
            }
        }
    }
}

/// Σ of several outputs of one program in one pass over `shape` (the forward of fused sums
/// that several losses take of the same inputs, `Tensor.fusedSums`). The elements split into
/// `units` equal leading slices (e.g. the N samples); an output with `perUnit` gets one sum per
/// unit, the others one sum in all. Float64 accumulation; each unit is cut into `reduceBlock`
/// chunks (the in-order sum of their blocks' lane sums), a unit's chunk sums are combined
/// pairwise, and a total is the pairwise combination of every chunk in order: fixed by the
/// shape alone, so bit-identical for any thread count. `fusedSum` uses it with one output (one
/// unit for a full sum), so a planned sum and an unplanned one round the same way whenever the
/// plan's units match.
func fusedSumsKernel<T: TensorScalar>(_ program: FusedProgram, _ xs: [Tensor], _ shape: [Int], units: Int,
                                     outputs: [(instruction: Int, perUnit: Bool)], _: T.Type) -> [[Double]] {
    let n = shape.reduce(1, *)
    let inner = units > 0 ? n / units : 0
    if n == 0 || inner == 0 { return outputs.map { Array(repeating: 0, count: $0.perUnit ? units : 1) } }
    let inputs = xs.map { $0.pointer(T.self) }
    let layouts = xs.map { FusedInputLayout($0.shape, out: shape) }
    let perUnitChunks = chunkCount(inner, chunkSize: reduceBlock)
    let chunks = units * perUnitChunks
    let m = outputs.count
    let group = 16
    // partial[o * chunks + c]: output o's sum over chunk c.
    let partial = UnsafeMutablePointer<Double>.allocate(capacity: m * chunks)
    defer { partial.deallocate() }
    let body = { (g: Int) in
        FusedEvaluator<T>.with(program, inputs, layouts) { e in
            for c in (g * group)..<min(chunks, (g + 1) * group) {
                let u = c / perUnitChunks, k = c % perUnitChunks
                let lo = u * inner + k * reduceBlock, hi = min(u * inner + inner, lo + reduceBlock)
                for o in 0..<m { partial[o * chunks + c] = 0 }
                var s = lo
                while s < hi {
                    let len = min(fusedBlock, hi - s)
                    e.run(s, len)
                    for o in 0..<m { partial[o * chunks + c] += blockSum(e.values[outputs[o].instruction], len) }
                    s += len
                }
            }
        }
    }
    let tasks = chunkCount(chunks, chunkSize: group)
    if n > 2 * elementwiseChunk { parallelChunks(tasks, body) } else { for g in 0..<tasks { body(g) } }
    return outputs.enumerated().map { o, out in
        let row = partial + o * chunks
        if !out.perUnit { pairwiseCombine(row, chunks); return [row[0]] }
        return (0..<units).map { u in pairwiseCombine(row + u * perUnitChunks, perUnitChunks); return row[u * perUnitChunks] }
    }
}

/// How the gradient of a broadcast input is reduced inside the fused backward pass
/// (see `fusedReducingKernel`): the output's flat range splits into `outer` units of `inner`
/// elements, and unit u touches only elements `u·m ..< (u+1)·m` of each reduced input.
struct FusedReductionSplit {
    var outer: Int
    var inner: Int

    /// The split for `reduced` input shapes broadcast to `out`: the leading output axes along
    /// which no reduced input is broadcast. Nil when there is no such axis (outer = 1).
    init?(out: [Int], reduced: [[Int]]) {
        if reduced.isEmpty { return nil }
        let r = out.count
        var axis = r
        for s in reduced {
            let lead = r - s.count
            for d in 0..<r where out[d] != 1 && (d < lead || s[d - lead] == 1) { axis = min(axis, d); break }
        }
        outer = out[0..<axis].reduce(1, *)
        inner = out[axis...].reduce(1, *)
        if outer < 2 || inner == 0 { return nil }
    }
}

/// acc[offset(i) − base] += row[i − start] for i in start..<start+n, offset(i) being output
/// element i's index into the (coalesced, broadcast) input; a run along a broadcast inner axis
/// is added as its float64 block sum.
@inline(__always)
func scatterAddBroadcast<T: TensorScalar>(_ row: UnsafePointer<T>, _ shape: [Int], _ strides: [Int], _ start: Int, _ n: Int,
                                          _ acc: UnsafeMutablePointer<Double>, _ base: Int, _ index: UnsafeMutablePointer<Int>) {
    let r = shape.count
    var rem = start, off = -base
    for d in stride(from: r - 1, through: 0, by: -1) {
        index[d] = rem % shape[d]; rem /= shape[d]
        off += index[d] * strides[d]
    }
    let inner = shape[r - 1], si = strides[r - 1]
    var j = 0
    while j < n {
        let run = min(n - j, inner - index[r - 1])
        if si == 0 {
            acc[off] += blockSum(row + j, run)
        } else {
            for t in 0..<run { acc[off + t * si] += Double(row[j + t]) }
        }
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

/// Like `fusedMapKernel` for a gradient program, but outputs `reduced[j]` (of a broadcast
/// input's shape) receive their program output summed over the broadcast axes inside the pass,
/// instead of being written at the full shape and summed back by `sumTo` (which cost a write and
/// a read of a full-size tensor per broadcast input; measured in docs/speed.md).
///
/// Determinism: work is cut along `split` (problem size only). Every reduced element gets its
/// contributions from one unit, accumulated in float64 in increasing element order (a run
/// along a broadcast inner axis as its block sum, blocks starting at the unit's start), then
/// rounded once: bit-identical for any thread count.
func fusedReducingKernel<T: TensorScalar>(_ program: FusedProgram, _ xs: [Tensor], _ shape: [Int],
                                          full: [(output: Int, tensor: Tensor)],
                                          reduced: [(output: Int, tensor: Tensor)],
                                          split: FusedReductionSplit, _: T.Type) {
    let inputs = xs.map { $0.pointer(T.self) }
    let layouts = xs.map { FusedInputLayout($0.shape, out: shape) }
    var direct = [UnsafeMutablePointer<T>?](repeating: nil, count: program.code.count)
    var copied: [(Int, UnsafeMutablePointer<T>)] = []
    for (j, t) in full {
        let o = program.outputs[j], p = t.mutablePointer(T.self)
        switch program.code[o] {
        case .input, .constant: copied.append((o, p))
        default: if direct[o] == nil { direct[o] = p } else { copied.append((o, p)) }
        }
    }
    let plans = reduced.map { BroadcastPlan(outShape: shape, operandShapes: [$0.tensor.shape]) }
    let sinks = reduced.map { (program.outputs[$0.output], $0.tensor.mutablePointer(T.self), $0.tensor.count / split.outer) }
    let rank = plans.map(\.shape.count).max() ?? 1
    let unitsPerTask = max(1, elementwiseChunk / split.inner)
    let tasks = chunkCount(split.outer, chunkSize: unitsPerTask)
    let stream = split.outer * split.inner * MemoryLayout<T>.stride >= EngineOptions.current.streamedOutputBytes
    direct.withUnsafeBufferPointer { d in
        let directRows = d.baseAddress!
        let body = { (task: Int) in
            // One float64 accumulator per reduced output, for one unit at a time.
            var offsets: [Int] = [], total = 0
            for sink in sinks { offsets.append(total); total += sink.2 }
            let acc = UnsafeMutablePointer<Double>.allocate(capacity: max(total, 1))
            let index = UnsafeMutablePointer<Int>.allocate(capacity: max(rank, 1))
            defer { acc.deallocate(); index.deallocate() }
            FusedEvaluator<T>.with(program, inputs, layouts) { e in
                for u in (task * unitsPerTask)..<min(split.outer, (task + 1) * unitsPerTask) {
                    let lo = u * split.inner, hi = lo + split.inner
                    acc.update(repeating: 0, count: total)
                    var s = lo
                    while s < hi {
                        let len = min(fusedBlock, hi - s)
                        e.run(s, len, direct: directRows, stream: stream)
                        for (o, p) in copied { (p + s).update(from: e.values[o], count: len) }
                        for (k, sink) in sinks.enumerated() {
                            scatterAddBroadcast(e.values[sink.0], plans[k].shape, plans[k].strides[0], s, len,
                                                acc + offsets[k], u * sink.2, index)
                        }
                        s += len
                    }
                    for (k, sink) in sinks.enumerated() {
                        let out = sink.1 + u * sink.2, a = acc + offsets[k]
                        for i in 0..<sink.2 { out[i] = T(a[i]) }
                    }
                }
            }
            if stream { storeFence() }
        }
        parallelChunks(tasks, body)
    }
}
