/// Reduction kernels.
///
/// Accuracy and determinism: sums accumulate in float64 whatever the element type. A row is
/// cut into blocks of `reduceBlock` elements; each block is summed with 32 float64 lanes
/// (four SIMD8<Double> accumulators, so every lane adds at most reduceBlock/32 terms), and the
/// block sums are combined pairwise (a fixed binary tree). For float32 input this is exact to
/// far below float32 resolution; for float64 the error grows like log(n) rather than n.
/// The blocks depend on the row length only, and threads only decide who computes which
/// block, so any thread count gives bit-identical sums.

/// Elements per summation block.
let reduceBlock = 4096

extension Float {
    /// Σ p[0..<n] in float64 lanes.
    @inline(__always)
    static func blockSum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        var a0 = SIMD8<Double>(), a1 = SIMD8<Double>(), a2 = SIMD8<Double>(), a3 = SIMD8<Double>()
        var i = 0
        while i + 32 <= n {
            let v0: SIMD16<Float> = loadVector(p + i), v1: SIMD16<Float> = loadVector(p + i + 16)
            a0 += SIMD8<Double>(v0.lowHalf); a1 += SIMD8<Double>(v0.highHalf)
            a2 += SIMD8<Double>(v1.lowHalf); a3 += SIMD8<Double>(v1.highHalf)
            i += 32
        }
        var s = ((a0 + a1) + (a2 + a3)).sum()
        while i < n { s += Double(p[i]); i += 1 }
        return s
    }
}

extension Double {
    @inline(__always)
    static func blockSum(_ p: UnsafePointer<Double>, _ n: Int) -> Double {
        var a0 = SIMD8<Double>(), a1 = SIMD8<Double>(), a2 = SIMD8<Double>(), a3 = SIMD8<Double>()
        var i = 0
        while i + 32 <= n {
            a0 += loadVector(p + i); a1 += loadVector(p + i + 8)
            a2 += loadVector(p + i + 16); a3 += loadVector(p + i + 24)
            i += 32
        }
        var s = ((a0 + a1) + (a2 + a3)).sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }
}

@inline(__always)
func blockSum<T: TensorScalar>(_ p: UnsafePointer<T>, _ n: Int) -> Double {
    if T.self == Float.self {
        return Float.blockSum(UnsafeRawPointer(p).assumingMemoryBound(to: Float.self), n)
    }
    return Double.blockSum(UnsafeRawPointer(p).assumingMemoryBound(to: Double.self), n)
}

/// In-place pairwise combination of `v[0..<n]` into `v[0]` (fixed tree: stride 1, 2, 4, ...).
@inline(__always)
func pairwiseCombine(_ v: UnsafeMutablePointer<Double>, _ n: Int) {
    var s = 1
    while s < n {
        var i = 0
        while i + s < n { v[i] += v[i + s]; i += 2 * s }
        s *= 2
    }
}

/// Σ of one contiguous row, deterministic; `parallel` lets its blocks run on several threads.
func rowSum<T: TensorScalar>(_ p: UnsafePointer<T>, _ n: Int, parallel: Bool) -> Double {
    if n <= reduceBlock { return blockSum(p, n) }
    let nb = chunkCount(n, chunkSize: reduceBlock)
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: nb) { buf in
        let sums = buf.baseAddress!
        let group = 16   // blocks per parallel task
        let body = { (g: Int) in
            for b in (g * group)..<min(nb, (g + 1) * group) {
                let lo = b * reduceBlock
                sums[b] = blockSum(p + lo, min(n, lo + reduceBlock) - lo)
            }
        }
        let tasks = chunkCount(nb, chunkSize: group)
        if parallel && tasks > 1 { parallelChunks(tasks, body) } else { for g in 0..<tasks { body(g) } }
        pairwiseCombine(sums, nb)
        return sums[0]
    }
}

/// out[i] = Σ_r x[i·n + r] for `rows` rows of `n` contiguous elements.
func sumRowsKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ rows: Int, _ n: Int, _ out: UnsafeMutablePointer<T>) {
    if rows == 1 { out[0] = T(rowSum(x, n, parallel: true)); return }
    if n >= 8 * reduceBlock {
        // Long rows: parallelism inside each row.
        for i in 0..<rows { out[i] = T(rowSum(x + i * n, n, parallel: true)) }
        return
    }
    let rowsPerTask = max(1, elementwiseChunk / max(n, 1))
    let tasks = chunkCount(rows, chunkSize: rowsPerTask)
    let body = { (t: Int) in
        for i in (t * rowsPerTask)..<min(rows, (t + 1) * rowsPerTask) {
            out[i] = T(rowSum(x + i * n, n, parallel: false))
        }
    }
    if rows * n > 2 * elementwiseChunk { parallelChunks(tasks, body) } else { for t in 0..<tasks { body(t) } }
}

/// Rows of the reduced axis per partial sum in `sumMiddleKernel`.
let columnBlock = 128
/// Columns per task in `sumMiddleKernel`.
let columnTask = 2048

/// out[a, b] = Σ_r x[a, r, b] for x of shape (A, R, B), B > 1: the reduced axis is not the
/// fastest one. Each column accumulates `columnBlock` rows at a time in float64; the block
/// partials are combined pairwise. Tasks split (a, column range), so results are independent
/// of the thread count.
func sumMiddleKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ A: Int, _ R: Int, _ B: Int, _ out: UnsafeMutablePointer<T>) {
    let colTasks = chunkCount(B, chunkSize: columnTask)
    let nb = max(1, chunkCount(R, chunkSize: columnBlock))
    let body = { (task: Int) in
        let a = task / colTasks, c0 = (task % colTasks) * columnTask
        let w = min(B, c0 + columnTask) - c0
        withUnsafeTemporaryAllocation(of: Double.self, capacity: nb * w) { buf in
            let partial = buf.baseAddress!
            partial.initialize(repeating: 0, count: nb * w)
            for blk in 0..<nb {
                let acc = partial + blk * w
                for r in (blk * columnBlock)..<min(R, (blk + 1) * columnBlock) {
                    let row = x + (a * R + r) * B + c0
                    for j in 0..<w { acc[j] += Double(row[j]) }
                }
            }
            // Pairwise over blocks, column-wise.
            var s = 1
            while s < nb {
                var i = 0
                while i + s < nb {
                    let dst = partial + i * w, src = partial + (i + s) * w
                    for j in 0..<w { dst[j] += src[j] }
                    i += 2 * s
                }
                s *= 2
            }
            let o = out + a * B + c0
            for j in 0..<w { o[j] = T(partial[j]) }
        }
    }
    let tasks = A * colTasks
    if A * R * B > 2 * elementwiseChunk { parallelChunks(tasks, body) } else { for t in 0..<tasks { body(t) } }
}

/// values[a, b] = max_d x[a, d, b] and the first d attaining it (NaN counts as the maximum,
/// as in PyTorch). Requires D ≥ 1.
func maxAlongKernel<T: TensorScalar>(_ x: UnsafePointer<T>, _ A: Int, _ D: Int, _ B: Int,
                                     _ values: UnsafeMutablePointer<T>, _ indices: UnsafeMutablePointer<Int>) {
    for a in 0..<A {
        let base = x + a * D * B
        let v = values + a * B, ix = indices + a * B
        for b in 0..<B { v[b] = base[b]; ix[b] = 0 }
        for d in 1..<max(D, 1) {
            let row = base + d * B
            for b in 0..<B {
                let cur = v[b], y = row[b]
                if !cur.isNaN && (y > cur || y.isNaN) { v[b] = y; ix[b] = d }
            }
        }
    }
}
