/// Sizes of a (batched) matrix product, checked the way `torch.matmul`/`torch.bmm` check them.
public struct GemmGeometry: Equatable, Sendable {
    public var batch: Int
    public var m: Int
    public var n: Int
    public var k: Int

    /// `torch.mm`: `a` is (m, k), `b` is (k, n).
    public static func mm(a: [Int], b: [Int]) throws -> GemmGeometry {
        guard a.count == 2, b.count == 2, (a + b).allSatisfy({ $0 >= 0 }) else {
            throw KernelShapeError(op: "mm", "expected 2-D operands with non-negative sizes, got \(a.shapeText) and \(b.shapeText)")
        }
        guard a[1] == b[0] else {
            throw KernelShapeError(op: "mm", "\(a.shapeText) and \(b.shapeText) cannot be multiplied (\(a[1]) != \(b[0]))")
        }
        try KernelShapeError.checkCount(op: "mm", "output", [a[0], b[1]])
        return GemmGeometry(batch: 1, m: a[0], n: b[1], k: a[1])
    }

    /// `torch.bmm`: `a` is (batch, m, k), `b` is (batch, k, n).
    public static func bmm(a: [Int], b: [Int]) throws -> GemmGeometry {
        guard a.count == 3, b.count == 3, (a + b).allSatisfy({ $0 >= 0 }) else {
            throw KernelShapeError(op: "bmm", "expected 3-D operands with non-negative sizes, got \(a.shapeText) and \(b.shapeText)")
        }
        guard a[0] == b[0] else {
            throw KernelShapeError(op: "bmm", "batch sizes differ: \(a.shapeText) and \(b.shapeText)")
        }
        guard a[2] == b[1] else {
            throw KernelShapeError(op: "bmm", "\(a.shapeText) and \(b.shapeText) cannot be multiplied (\(a[2]) != \(b[1]))")
        }
        try KernelShapeError.checkCount(op: "bmm", "output", [a[0], a[1], b[2]])
        return GemmGeometry(batch: a[0], m: a[1], n: b[2], k: a[2])
    }
}

/// `C = alpha · op(A) · op(B) + beta · C` for row-major matrices (BLAS `gemm`, row-major).
///
/// `op(A)` is m×k: A is stored m×k with row stride `lda` (`transA == false`) or k×m with row
/// stride `lda` (`transA == true`); likewise `op(B)` is k×n. C is m×n with row stride `ldc`.
/// `beta == 0` overwrites C without reading it. Results are bit-identical for any
/// `LossKitRuntime.threads` (see GemmDriver.swift).
///
/// Preconditions (not checked): sizes >= 0, leading dimensions at least the stored row
/// length, C does not overlap A or B.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func gemm<T: KernelFloat>(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: T, a: UnsafePointer<T>, lda: Int,
    b: UnsafePointer<T>, ldb: Int,
    beta: T, c: UnsafeMutablePointer<T>, ldc: Int
) {
    gemmBatched(
        batch: 1, transA: transA, transB: transB, m: m, n: n, k: k,
        alpha: alpha, a: a, lda: lda, strideA: 0, b: b, ldb: ldb, strideB: 0,
        beta: beta, c: c, ldc: ldc, strideC: 0)
}

/// `gemm` over `batch` independent problems (`torch.bmm`): problem `i` reads `a + i*strideA`,
/// `b + i*strideB` and writes `c + i*strideC`. A stride of 0 broadcasts an operand.
///
/// Preconditions as for `gemm`; the C matrices of different problems do not overlap.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func gemmBatched<T: KernelFloat>(
    batch: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: T, a: UnsafePointer<T>, lda: Int, strideA: Int,
    b: UnsafePointer<T>, ldb: Int, strideB: Int,
    beta: T, c: UnsafeMutablePointer<T>, ldc: Int, strideC: Int
) {
    if batch <= 0 || m <= 0 || n <= 0 { return }
    // One part of the whole depth, written straight into C; or parts of GemmDepthSplit.depth,
    // each into its own partial C (part p of problem bi at partial + (p·batch + bi)·m·n,
    // row-major m × n), summed below in part order.
    let parts = GemmDepthSplit.parts(batch: batch, m: m, n: n, k: k)
    let depth = parts > 1 ? GemmDepthSplit.depth : k
    let partial: UnsafeMutablePointer<T>? = parts > 1 ? .allocate(capacity: parts * batch * m * n) : nil
    defer { partial?.deallocate() }
    let grid = gemmTileGrid(count: batch * parts, m: m, n: n)
    let perMatrix = grid.rowTiles * grid.colTiles
    forEachGemmTile(parts * batch * perMatrix, work: batch * m * n * max(k, 1), tileShape: (grid.rows, grid.cols, depth), T.self) { t, space in
        let part = t / (batch * perMatrix), r = t % (batch * perMatrix)
        let bi = r / perMatrix
        let i0 = ((r % perMatrix) / grid.colTiles) * grid.rows
        let j0 = (r % grid.colTiles) * grid.cols
        let p0 = part * depth
        let am = StridedMatrix(base: a + bi * strideA + (transA ? p0 * lda : p0), rowStride: transA ? 1 : lda, colStride: transA ? lda : 1)
        let bm = StridedMatrix(base: b + bi * strideB + (transB ? p0 : p0 * ldb), rowStride: transB ? 1 : ldb, colStride: transB ? ldb : 1)
        let (out, ldo, betaPart) = partial.map { ($0 + ((part * batch + bi) * m + i0) * n + j0, n, T(0)) }
            ?? (c + bi * strideC + i0 * ldc + j0, ldc, beta)
        gemmTile(
            m: min(grid.rows, m - i0), n: min(grid.cols, n - j0), k: min(depth, k - p0),
            alpha: alpha, a: am, i0: i0, b: bm, j0: j0,
            beta: betaPart, c: out, ldc: ldo, space: space)
    }
    guard let partial else { return }
    for bi in 0..<batch {
        for i in 0..<m {
            let dst = c + bi * strideC + i * ldc
            for j in 0..<n {
                var sum = partial[(bi * m + i) * n + j]
                for p in 1..<parts { sum += partial[((p * batch + bi) * m + i) * n + j] }
                dst[j] = beta == 0 ? sum : sum + beta * dst[j]
            }
        }
    }
}

/// Deep products with few outputs — a Gram matrix F·Fᵀ of a feature map, (64 × 50176)·(50176 × 64)
/// for VGG's first block at 224² — leave the tile grid too few tiles: it cut such a product into 8
/// tiles of 18 × 32, each packing its 50176-deep panels for 2–3 micro-tiles of multiply-adds, and
/// the style-1 perceptual row's Gram forwards (3.5 GFLOP a step) ran at ~58 GFLOP/s (perf).
/// Such a product is split along the depth instead (`gemmBatched`), into parts of `depth`, each
/// computed over whole matrices into its own partial C; the partials are then summed in part order. The split
/// is a fixed function of the shape, so results stay the same bits for any thread count (they
/// are not the unsplit order's bits).
enum GemmDepthSplit {
    static let depth = 4096

    /// Parts for a `batch × (m × n × k)` product: 1 (no split) unless k ≥ 2·depth, each output
    /// matrix has at most 2¹⁸ entries (512 × 512: a tall product, 10⁵ × 16, keeps the grid's
    /// many row tiles rather than as many parts as its depth allows) and whole-size tiles would
    /// number fewer than the grid's minimum of 8.
    static func parts(batch: Int, m: Int, n: Int, k: Int) -> Int {
        guard k >= 2 * depth, m * n <= 1 << 18 else { return 1 }
        let whole = gemmTileGrid(count: batch, m: m, n: n, minTiles: 1)
        guard batch * whole.rowTiles * whole.colTiles < 8 else { return 1 }
        return (k + depth - 1) / depth
    }
}
