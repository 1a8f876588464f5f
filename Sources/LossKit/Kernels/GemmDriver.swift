import Foundation

// The blocked GEMM engine shared by matmul and conv2d.
//
// C (m×n) = alpha · A (m×k) · B (k×n) + beta · C is cut into output tiles (`gemmTileGrid`).
// A tile is computed by exactly one thread: for each depth block of `kc` it packs the
// needed part of B into `nr`-column strips (zero padded), then for each block of `mc` rows
// packs A into `mr`-row strips and runs the `mr × nr` register micro-kernel over all strip
// pairs. Every C element is one sum in a fixed order (depth blocks ascending, k ascending
// within a block), whichever tile and thread compute it, so the result is bit-identical for
// any thread count.
//
// The operands are not matrices in memory but *packers*: a strided matrix for matmul, an
// implicit im2col view of an image for conv2d. That is how conv2d runs as a GEMM without
// materialising the (often tens of MB) column matrix.

/// Block sizes of the GEMM engine. `nr` is one `Vector` (16 floats, 8 doubles).
enum GemmBlocking {
    /// Rows of the micro-kernel: 6 rows × 2 AVX2 registers = 12 accumulators of 16.
    static let mr = 6
    /// Depth of one packed block: an `mr × kc` A strip plus a `kc × nr` B strip fit in L1.
    static let kc = 256
    /// Rows of one packed A block (a multiple of `mr`); a tile may hold several.
    static let mc = 96
    /// Most columns of an output tile (a multiple of 16 and of 8): the packed B panel,
    /// `kc × nc`, stays in the 512 KB L2.
    static let nc = 256
    @inline(__always) static func nr<T: KernelFloat>(_: T.Type) -> Int { T.Vector.scalarCount }
}

/// The left operand of a GEMM, as something that can pack itself.
protocol GemmPackA {
    associatedtype Scalar: KernelFloat
    /// Writes rows `i0..<i0+mc`, depth `p0..<p0+kc` as `mr`-row strips:
    /// `dst[(s*kc + q)*mr + r] = A(i0 + s*mr + r, p0 + q)`, zero for rows `>= i0 + mc`.
    func packA(_ dst: UnsafeMutablePointer<Scalar>, i0: Int, mc: Int, p0: Int, kc: Int)
}

extension GemmPackA {
    /// The packed block for `gemmTile`: packed into `scratch` unless the operand is prepacked.
    @inline(__always)
    func packedA(_ scratch: UnsafeMutablePointer<Scalar>, i0: Int, mc: Int, p0: Int, kc: Int) -> UnsafePointer<Scalar> {
        if let pre = self as? PrepackedA<Scalar> { return pre.block(i0: i0, p0: p0, kc: kc) }
        packA(scratch, i0: i0, mc: mc, p0: p0, kc: kc)
        return UnsafePointer(scratch)
    }
}

/// A left operand packed once for all tiles of a call (conv2d's weights: every column tile
/// of every image uses the same A, so packing it per tile would repeat the work ~50 times).
/// Layout: depth block by depth block (`p0` a multiple of `kc`), each block `mPad × kc` in
/// the `mr`-row strip format of `GemmPackA.packA`.
struct PrepackedA<Scalar: KernelFloat>: GemmPackA {
    var base: UnsafePointer<Scalar>
    var mPad: Int

    static func paddedRows(_ m: Int) -> Int { (m + GemmBlocking.mr - 1) / GemmBlocking.mr * GemmBlocking.mr }

    /// Packs all of `source` (m × k) into `dst` (`paddedRows(m) · k` elements).
    static func pack<Source: GemmPackA>(_ source: Source, m: Int, k: Int, into dst: UnsafeMutablePointer<Scalar>)
    where Source.Scalar == Scalar {
        let mPad = paddedRows(m)
        var p0 = 0
        while p0 < k {
            let kc = min(GemmBlocking.kc, k - p0)
            source.packA(dst + p0 * mPad, i0: 0, mc: m, p0: p0, kc: kc)
            p0 += kc
        }
    }

    @inline(__always) func block(i0: Int, p0: Int, kc: Int) -> UnsafePointer<Scalar> {
        base + p0 * mPad + (i0 / GemmBlocking.mr) * kc * GemmBlocking.mr
    }

    func packA(_ dst: UnsafeMutablePointer<Scalar>, i0: Int, mc: Int, p0: Int, kc: Int) {
        dst.update(from: block(i0: i0, p0: p0, kc: kc), count: (mc + GemmBlocking.mr - 1) / GemmBlocking.mr * GemmBlocking.mr * kc)
    }
}

/// The right operand of a GEMM, as something that can pack itself.
protocol GemmPackB {
    associatedtype Scalar: KernelFloat
    /// Writes depth `p0..<p0+kc`, columns `j0..<j0+nc` as `nr`-column strips:
    /// `dst[(s*kc + q)*nr + c] = B(p0 + q, j0 + s*nr + c)`, zero for columns `>= j0 + nc`.
    func packB(_ dst: UnsafeMutablePointer<Scalar>, p0: Int, kc: Int, j0: Int, nc: Int)
}

extension GemmPackB {
    /// The packed panel for `gemmTile` and the distance between its `nr`-column strips: packed
    /// into `scratch` (strips `kc · nr` apart) unless the operand is already in strip layout.
    @inline(__always)
    func packedB(_ scratch: UnsafeMutablePointer<Scalar>, p0: Int, kc: Int, j0: Int, nc: Int) -> (UnsafePointer<Scalar>, Int) {
        if let pre = self as? PrepackedB<Scalar> { return (pre.strip(p0: p0, j0: j0), pre.stripStride) }
        packB(scratch, p0: p0, kc: kc, j0: j0, nc: nc)
        return (UnsafePointer(scratch), kc * GemmBlocking.nr(Scalar.self))
    }
}

/// A matrix in memory with arbitrary row and column strides (a transpose swaps them).
struct StridedMatrix<Scalar: KernelFloat>: GemmPackA, GemmPackB {
    var base: UnsafePointer<Scalar>
    var rowStride: Int
    var colStride: Int

    @inline(__always) func at(_ i: Int, _ j: Int) -> Scalar { base[i * rowStride + j * colStride] }

    func packA(_ dst: UnsafeMutablePointer<Scalar>, i0: Int, mc: Int, p0: Int, kc: Int) {
        let mr = GemmBlocking.mr
        var s = 0
        while s * mr < mc {
            let strip = dst + s * kc * mr
            let rows = min(mr, mc - s * mr)
            for r in 0..<mr {
                if r < rows {
                    // Walk the source along its contiguous direction when it has one.
                    let src = base + (i0 + s * mr + r) * rowStride + p0 * colStride
                    for q in 0..<kc { strip[q * mr + r] = src[q * colStride] }
                } else {
                    for q in 0..<kc { strip[q * mr + r] = 0 }
                }
            }
            s += 1
        }
    }

    func packB(_ dst: UnsafeMutablePointer<Scalar>, p0: Int, kc: Int, j0: Int, nc: Int) {
        let nr = GemmBlocking.nr(Scalar.self)
        var s = 0
        while s * nr < nc {
            let strip = dst + s * kc * nr
            let cols = min(nr, nc - s * nr)
            let jb = j0 + s * nr
            if colStride == 1 && cols == nr {
                for q in 0..<kc {
                    storeVector(loadVector(base + (p0 + q) * rowStride + jb), strip + q * nr)
                }
            } else if rowStride == 1 {
                // A transposed row-major matrix (a Gram matrix's Fᵀ): each column is contiguous,
                // read it along its length. Row by row it was a gather across `colStride`-apart
                // rows per element (the style term's Gram matrices: depth 50176, 130 ms of the
                // VGG19 perceptual loss with style).
                for c in 0..<cols {
                    let src = base + (jb + c) * colStride + p0
                    for q in 0..<kc { strip[q * nr + c] = src[q] }
                }
                if cols < nr {
                    for q in 0..<kc {
                        for c in cols..<nr { strip[q * nr + c] = 0 }
                    }
                }
            } else {
                for q in 0..<kc {
                    let row = base + (p0 + q) * rowStride
                    let out = strip + q * nr
                    for c in 0..<cols { out[c] = row[(jb + c) * colStride] }
                    for c in cols..<nr { out[c] = 0 }
                }
            }
            s += 1
        }
    }
}

/// Scratch memory of one worker: packed A block, packed B panel, one edge tile, and the
/// run table the implicit-im2col packers build (5 Ints per run, at most `nc` runs).
final class GemmWorkspace<Scalar: KernelFloat> {
    let a: UnsafeMutablePointer<Scalar>
    let b: UnsafeMutablePointer<Scalar>
    let edge: UnsafeMutablePointer<Scalar>
    let runs: UnsafeMutablePointer<Int>

    /// Sized for tiles of at most `m × n` with depth `k` (small problems get small buffers:
    /// full-size ones would be fresh mmap'd pages on every call).
    init(m: Int, n: Int, k: Int) {
        let nr = GemmBlocking.nr(Scalar.self), mr = GemmBlocking.mr
        let kc = max(1, min(GemmBlocking.kc, k))
        a = .allocate(capacity: (min(GemmBlocking.mc, m) + mr - 1) / mr * mr * kc)
        b = .allocate(capacity: kc * ((min(GemmBlocking.nc, n) + nr - 1) / nr * nr))
        edge = .allocate(capacity: GemmBlocking.mr * nr)
        runs = .allocate(capacity: 5 * GemmBlocking.nc)
    }

    deinit {
        a.deallocate()
        b.deallocate()
        edge.deallocate()
        runs.deallocate()
    }
}

/// Runs `body(tile, workspace)` for every tile in `0..<tiles`, spread over the worker threads.
///
/// Which worker runs a tile never changes a result (each tile is written by one call), so the
/// worker count may follow `LossKitRuntime.threads`; `work` (multiply-adds) keeps tiny problems
/// on the calling thread (`gemmWorkers`).
func forEachGemmTile<Scalar: KernelFloat>(
    _ tiles: Int, work: Int, tileShape: (m: Int, n: Int, k: Int), _: Scalar.Type,
    _ body: (Int, GemmWorkspace<Scalar>) -> Void
) {
    if tiles <= 0 { return }
    let workers = gemmWorkers(work: work, units: tiles)
    parallelChunks(workers) { w in
        let space = GemmWorkspace<Scalar>(m: tileShape.m, n: tileShape.n, k: tileShape.k)
        for t in (tiles * w / workers)..<(tiles * (w + 1) / workers) { body(t, space) }
    }
}

/// Worker threads for GEMM work of `work` multiply-adds in `units` independent pieces: one for
/// tiny problems (waking a second thread costs more than it saves), else up to
/// `LossKitRuntime.threads`, at most one per piece.
@inline(__always)
func gemmWorkers(work: Int, units: Int) -> Int {
    work < 1 << 18 ? 1 : min(LossKitRuntime.threads, units)
}

/// One output tile: `C[0..<m, 0..<n] = alpha · A(i0.., :) · B(:, j0..) + beta · C`, with
/// `n <= nc` (any `m`: row blocks of `mc` share each packed B panel). `beta == 0` overwrites
/// C without reading it (NaN in C is ignored).
@inline(__always)
func gemmTile<PA: GemmPackA, PB: GemmPackB>(
    m: Int, n: Int, k: Int,
    alpha: PA.Scalar, a: PA, i0: Int, b: PB, j0: Int,
    beta: PA.Scalar, c: UnsafeMutablePointer<PA.Scalar>, ldc: Int,
    space: GemmWorkspace<PA.Scalar>, cStripStride: Int? = nil
) where PA.Scalar == PB.Scalar {
    typealias T = PA.Scalar
    let mr = GemmBlocking.mr
    let nr = GemmBlocking.nr(T.self)
    if k == 0 {
        for i in 0..<m {
            for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
        }
        return
    }
    // C's nr-column strips are `nr` apart in a matrix; `cStripStride` places them elsewhere
    // (Winograd's M keeps each strip of tiles together).
    let cStrip = cStripStride ?? nr
    var p0 = 0
    while p0 < k {
        let kc = min(GemmBlocking.kc, k - p0)
        // One packed B panel serves every row block of the tile.
        let (panel, stripStride) = b.packedB(space.b, p0: p0, kc: kc, j0: j0, nc: n)
        let first = p0 == 0
        let blockBeta: T = first ? beta : 1
        let overwrite = first && beta == 0
        var ic = 0
        while ic < m {
            let mc = min(GemmBlocking.mc, m - ic)
            let packedA = a.packedA(space.a, i0: i0 + ic, mc: mc, p0: p0, kc: kc)
            let cBlock = c + ic * ldc
            var jr = 0
            while jr < n {
                let cols = min(nr, n - jr)
                let pb = panel + (jr / nr) * stripStride
                var ir = 0
                while ir < mc {
                    gemmMicroKernel(
                        kc: kc, a: packedA + (ir / mr) * kc * mr, b: pb,
                        c: cBlock + ir * ldc + cStrip * (jr / nr), ldc: ldc, rows: min(mr, mc - ir), cols: cols,
                        alpha: alpha, beta: blockBeta, overwrite: overwrite, edge: space.edge)
                    ir += mr
                }
                jr += nr
            }
            ic += mc
        }
        p0 += kc
    }
}

/// The output tiling of a GEMM (or of `count` independent ones of `m × n`): tiles as large as
/// possible — a tile packs each B panel once for all its rows — but at least `minTiles` of
/// them when the problem allows, so two cores both get work (a 64×64 Gram matrix with a deep
/// K would otherwise be one tile). Depends on the sizes only. Rows are a multiple of `mc`
/// (or of `mr` below it), columns a multiple of 32.
///
/// The tiling never changes a value: every C element is the same fixed-order sum over the
/// same `kc` depth blocks whichever tile computes it.
func gemmTileGrid(count: Int, m: Int, n: Int, minTiles: Int = 8) -> (rows: Int, cols: Int, rowTiles: Int, colTiles: Int) {
    let mc = GemmBlocking.mc, mr = GemmBlocking.mr
    func roundUp(_ x: Int, _ q: Int) -> Int { (x + q - 1) / q * q }
    var rows = max(mr, roundUp(m, m > mc ? mc : mr))
    var cols = GemmBlocking.nc
    func tiles() -> Int { count * ((m + rows - 1) / rows) * ((n + cols - 1) / cols) }
    while tiles() < minTiles && rows > mc { rows = roundUp(rows / 2, mc) }
    while tiles() < minTiles && cols > 32 && n > cols / 2 { cols /= 2 }
    while tiles() < minTiles && rows > 2 * mr && m > rows / 2 { rows = roundUp(rows / 2, mr) }
    return (rows, cols, (m + rows - 1) / rows, (n + cols - 1) / cols)
}

/// The `mr × nr` register kernel: 6 rows of one `Vector` each, accumulated with fused
/// multiply-adds over `kc` packed depth steps, then `C = alpha·acc + beta·C`.
@inline(__always)
func gemmMicroKernel<T: KernelFloat>(
    kc: Int, a: UnsafePointer<T>, b: UnsafePointer<T>,
    c: UnsafeMutablePointer<T>, ldc: Int, rows: Int, cols: Int,
    alpha: T, beta: T, overwrite: Bool, edge: UnsafeMutablePointer<T>
) {
    let nr = T.Vector.scalarCount
    gemmAccumulate(kc: kc, a: a, b: b, into: edge)
    if rows == 6 && cols == nr {
        let betaV = T.Vector(repeating: beta)
        for r in 0..<6 {
            let dst = c + r * ldc
            let v = loadVector(edge + r * nr) * alpha
            storeVector(overwrite ? v : v.addingProduct(loadVector(dst), betaV), dst)
        }
        return
    }
    for r in 0..<rows {
        for j in 0..<cols {
            let v = edge[r * nr + j] * alpha
            let dst = c + r * ldc + j
            dst.pointee = overwrite ? v : v.addingProduct(dst.pointee, beta)
        }
    }
}

/// The accumulation loop alone, kept out of line: inlined into its caller, the hoisted
/// alpha/beta splats took two of the 16 AVX2 registers and one accumulator was spilled,
/// which put a store-forwarding round trip on the loop-carried chain (measured: 35 vs
/// 60+ GFLOP/s on one core).
@inline(never)
@_specialize(where T == Float) @_specialize(where T == Double)
func gemmAccumulate<T: KernelFloat>(
    kc: Int, a: UnsafePointer<T>, b: UnsafePointer<T>, into out: UnsafeMutablePointer<T>
) {
    let nr = T.Vector.scalarCount
    var c0 = T.Vector(repeating: 0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0
    var pa = a
    var pb = b
    for _ in 0..<kc {
        let bv = loadVector(pb)
        c0 = c0.addingProduct(pa[0], bv)
        c1 = c1.addingProduct(pa[1], bv)
        c2 = c2.addingProduct(pa[2], bv)
        c3 = c3.addingProduct(pa[3], bv)
        c4 = c4.addingProduct(pa[4], bv)
        c5 = c5.addingProduct(pa[5], bv)
        pa += 6
        pb += nr
    }
    storeVector(c0, out)
    storeVector(c1, out + nr)
    storeVector(c2, out + 2 * nr)
    storeVector(c3, out + 3 * nr)
    storeVector(c4, out + 4 * nr)
    storeVector(c5, out + 5 * nr)
}
