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
    let grid = gemmTileGrid(count: batch, m: m, n: n)
    let perMatrix = grid.rowTiles * grid.colTiles
    forEachGemmTile(batch * perMatrix, work: batch * m * n * max(k, 1), tileShape: (grid.rows, grid.cols, k), T.self) { t, space in
        let bi = t / perMatrix
        let i0 = ((t % perMatrix) / grid.colTiles) * grid.rows
        let j0 = (t % grid.colTiles) * grid.cols
        let am = StridedMatrix(base: a + bi * strideA, rowStride: transA ? 1 : lda, colStride: transA ? lda : 1)
        let bm = StridedMatrix(base: b + bi * strideB, rowStride: transB ? 1 : ldb, colStride: transB ? ldb : 1)
        gemmTile(
            m: min(grid.rows, m - i0), n: min(grid.cols, n - j0), k: k,
            alpha: alpha, a: am, i0: i0, b: bm, j0: j0,
            beta: beta, c: c + bi * strideC + i0 * ldc + j0, ldc: ldc, space: space)
    }
}
