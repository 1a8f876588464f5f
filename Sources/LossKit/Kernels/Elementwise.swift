/// Elementwise kernels: unary maps, broadcasting binary maps, three-way select.
///
/// Hot loops work on raw pointers with one 64-byte SIMD vector per step (`SIMD16<Float>`,
/// `SIMD8<Double>`) and a scalar tail; large work is cut into fixed chunks of
/// `elementwiseChunk` elements run over `LossKitRuntime.threads` threads. Elementwise results
/// do not depend on the chunking because every element is computed by the same operation.

/// Elements per parallel chunk: 256 KiB of float32, large enough to amortise scheduling.
@usableFromInline let elementwiseChunk = 1 << 16

/// Calls `body(lo, hi)` over `0..<n` in fixed chunks, in parallel when `n` is large.
@inline(__always) @usableFromInline
func forEachRange(_ n: Int, _ body: (Int, Int) -> Void) {
    if n <= 0 { return }
    if n <= 2 * elementwiseChunk || LossKitRuntime.threads <= 1 { body(0, n); return }
    let chunks = chunkCount(n, chunkSize: elementwiseChunk)
    parallelChunks(chunks) { c in body(c * elementwiseChunk, min(n, (c + 1) * elementwiseChunk)) }
}

@inline(__always) @usableFromInline
func loadVector<T: TensorScalar>(_ p: UnsafePointer<T>) -> T.Vector {
    UnsafeRawPointer(p).loadUnaligned(as: T.Vector.self)
}

@inline(__always) @usableFromInline
func storeVector<T: TensorScalar>(_ v: T.Vector, _ p: UnsafeMutablePointer<T>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: T.Vector.self)
}

func fillKernel<T: TensorScalar>(_ y: UnsafeMutablePointer<T>, _ n: Int, _ value: T) {
    let v = T.Vector(repeating: value)
    forEachRange(n) { lo, hi in
        var i = lo
        let w = T.Vector.scalarCount
        while i + w <= hi { storeVector(v, y + i); i += w }
        while i < hi { y[i] = value; i += 1 }
    }
}

// MARK: Unary

/// A pointwise function `y = f(x)`, given per scalar and per SIMD vector (the default vector
/// form applies the scalar form lane by lane, for functions without a SIMD instruction).
protocol UnaryFunctor {
    func scalar<T: TensorScalar>(_ x: T) -> T
    func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar
}

extension UnaryFunctor {
    @inline(__always)
    func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar {
        var r = x
        for i in r.indices { r[i] = scalar(x[i]) }
        return r
    }
}

@inline(__always)
func unaryKernel<T: TensorScalar, F: UnaryFunctor>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ f: F) {
    forEachRange(n) { lo, hi in
        var i = lo
        let w = T.Vector.scalarCount
        while i + w <= hi {
            storeVector(f.vector(loadVector(x + i) as T.Vector), y + i)
            i += w
        }
        while i < hi { y[i] = f.scalar(x[i]); i += 1 }
    }
}

// MARK: Broadcasting

/// How operands of a broadcasting op walk the output: dims of size 1 removed, neighbouring
/// dims merged when every operand is contiguous across them. `strides[k][d]` is operand k's
/// element stride along coalesced dim d (0 where it is broadcast).
struct BroadcastPlan {
    var shape: [Int]
    var strides: [[Int]]

    init(outShape: [Int], operandShapes: [[Int]]) {
        let r = outShape.count
        var full: [[Int]] = []
        for s in operandShapes {
            var st = [Int](repeating: 0, count: r)
            var acc = 1
            var d = s.count - 1
            var o = r - 1
            while d >= 0 {
                st[o] = s[d] == 1 && outShape[o] != 1 ? 0 : acc
                acc *= s[d]
                d -= 1; o -= 1
            }
            full.append(st)
        }
        var shape: [Int] = []
        var strides = [[Int]](repeating: [], count: operandShapes.count)
        for d in 0..<r where outShape[d] != 1 {
            if let last = shape.indices.last,
               (0..<full.count).allSatisfy({ strides[$0][last] == full[$0][d] * outShape[d] }) {
                shape[last] *= outShape[d]
                for k in 0..<full.count { strides[k][last] = full[k][d] }
            } else {
                shape.append(outShape[d])
                for k in 0..<full.count { strides[k].append(full[k][d]) }
            }
        }
        if shape.isEmpty {
            shape = [1]
            strides = strides.map { _ in [1] }
        }
        self.shape = shape
        self.strides = strides
    }

    var inner: Int { shape[shape.count - 1] }
    var rows: Int { shape.dropLast().reduce(1, *) }

    /// Calls `body(row, offsets)` for every row of `inner` elements, rows cut into fixed
    /// chunks run in parallel. `offsets[k]` is operand k's element offset of the row start.
    @inline(__always)
    func forEachRow(_ body: (Int, UnsafePointer<Int>) -> Void) {
        let rows = self.rows
        let outer = shape.count - 1
        let k = strides.count
        let rowsPerChunk = max(1, elementwiseChunk / max(inner, 1))
        let chunks = chunkCount(rows, chunkSize: rowsPerChunk)
        func run(_ c: Int) {
            let lo = c * rowsPerChunk, hi = min(rows, lo + rowsPerChunk)
            withUnsafeTemporaryAllocation(of: Int.self, capacity: outer + k) { buf in
                let index = buf.baseAddress!, offsets = index + outer
                var rem = lo
                for d in stride(from: outer - 1, through: 0, by: -1) {
                    index[d] = rem % shape[d]; rem /= shape[d]
                }
                for j in 0..<k {
                    var o = 0
                    for d in 0..<outer { o += index[d] * strides[j][d] }
                    offsets[j] = o
                }
                for row in lo..<hi {
                    body(row, offsets)
                    // Odometer step.
                    var d = outer - 1
                    while d >= 0 {
                        index[d] += 1
                        for j in 0..<k { offsets[j] += strides[j][d] }
                        if index[d] < shape[d] { break }
                        for j in 0..<k { offsets[j] -= strides[j][d] * shape[d] }
                        index[d] = 0
                        d -= 1
                    }
                }
            }
        }
        if rows * inner <= 2 * elementwiseChunk || LossKitRuntime.threads <= 1 {
            for c in 0..<chunks { run(c) }
        } else {
            parallelChunks(chunks, run)
        }
    }
}

// MARK: Binary

/// A pointwise function `z = f(a, b)`.
protocol BinaryFunctor {
    func scalar<T: TensorScalar>(_ a: T, _ b: T) -> T
    func vector<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar: TensorScalar
}

extension BinaryFunctor {
    @inline(__always)
    func vector<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar: TensorScalar {
        var r = a
        for i in r.indices { r[i] = scalar(a[i], b[i]) }
        return r
    }
}

/// One row: `y[i] = f(a[i*sa], b[i*sb])` with strides 0 or 1 (any other stride falls back
/// to the scalar loop).
@inline(__always)
func binaryRow<T: TensorScalar, F: BinaryFunctor>(_ a: UnsafePointer<T>, _ sa: Int, _ b: UnsafePointer<T>, _ sb: Int,
                                                  _ y: UnsafeMutablePointer<T>, _ n: Int, _ f: F) {
    let w = T.Vector.scalarCount
    var i = 0
    if sa == 1 && sb == 1 {
        while i + w <= n { storeVector(f.vector(loadVector(a + i) as T.Vector, loadVector(b + i)), y + i); i += w }
    } else if sa == 0 && sb == 1 {
        let av = T.Vector(repeating: a[0])
        while i + w <= n { storeVector(f.vector(av, loadVector(b + i)), y + i); i += w }
    } else if sa == 1 && sb == 0 {
        let bv = T.Vector(repeating: b[0])
        while i + w <= n { storeVector(f.vector(loadVector(a + i), bv), y + i); i += w }
    }
    while i < n { y[i] = f.scalar(a[i * sa], b[i * sb]); i += 1 }
}

func binaryKernel<T: TensorScalar, F: BinaryFunctor>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                                                     _ plan: BroadcastPlan, _ f: F) {
    let sa = plan.strides[0], sb = plan.strides[1]
    if plan.shape.count == 1 {
        let n = plan.shape[0], a0 = sa[0], b0 = sb[0]
        forEachRange(n) { lo, hi in binaryRow(a + lo * a0, a0, b + lo * b0, b0, y + lo, hi - lo, f) }
        return
    }
    let inner = plan.inner, ia = sa[sa.count - 1], ib = sb[sb.count - 1]
    plan.forEachRow { row, off in
        binaryRow(a + off[0], ia, b + off[1], ib, y + row * inner, inner, f)
    }
}

/// `y = cond != 0 ? a : b` with three-way broadcasting.
func selectKernel<T: TensorScalar>(_ c: UnsafePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>,
                                   _ y: UnsafeMutablePointer<T>, _ plan: BroadcastPlan) {
    let inner = plan.inner
    let sc = plan.strides[0].last!, sa = plan.strides[1].last!, sb = plan.strides[2].last!
    plan.forEachRow { row, off in
        let cp = c + off[0], ap = a + off[1], bp = b + off[2], yp = y + row * inner
        for i in 0..<inner { yp[i] = cp[i * sc] != 0 ? ap[i * sa] : bp[i * sb] }
    }
}

// MARK: Conversion

func convertKernel<S: TensorScalar, D: TensorScalar>(_ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<D>, _ n: Int) {
    forEachRange(n) { lo, hi in
        for i in lo..<hi { y[i] = D(x[i]) }
    }
}
