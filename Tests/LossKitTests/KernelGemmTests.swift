import XCTest
@testable import LossKit

/// GEMM against torch (fixtures/kernels/gemm.json) and against a float64 triple loop on
/// sizes that cross every block boundary (mr 6, nr 16/8, kc 256, mc 96, nc 256).
final class KernelGemmTests: XCTestCase {
    func runFixtures<T: KernelFloat>(_: T.Type) throws {
        var worst = 0.0
        for c in try KernelFixtures.cases("gemm.json") {
            let (bt, m, n, k) = (c.int("batch"), c.int("m"), c.int("n"), c.int("k"))
            let ta = c.bool("trans_a") ?? false, tb = c.bool("trans_b") ?? false
            let a = c.doubles("a").map { T($0) }, b = c.doubles("b").map { T($0) }
            var out = c.doubles("c").map { T($0) }
            gemmBatched(batch: bt, transA: ta, transB: tb, m: m, n: n, k: k, alpha: T(c.double("alpha")),
                        a: a, lda: ta ? m : k, strideA: m * k, b: b, ldb: tb ? k : n, strideB: k * n,
                        beta: T(c.double("beta")), c: &out, ldc: n, strideC: m * n)
            worst = max(worst, assertClose(out, c.doubles("out"), tol: kernelTolerance(T.self, terms: k + 1), "\(c.name) \(T.self)"))
        }
        print("gemm vs torch, \(T.self): worst scaled error \(worst)")
    }

    func testGemmMatchesTorchDouble() throws { try runFixtures(Double.self) }
    func testGemmMatchesTorchFloat() throws { try runFixtures(Float.self) }

    func naive(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double, _ a: [Double], _ lda: Int,
               _ b: [Double], _ ldb: Int, _ beta: Double, _ c: [Double], _ ldc: Int) -> [Double] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k { s += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]) }
                out[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
        return out
    }

    func testGemmAcrossBlockBoundariesWithStrides() {
        // (m, n, k, transA, transB, alpha, beta); leading dimensions padded by 3.
        let cases: [(Int, Int, Int, Bool, Bool, Double, Double)] = [
            (100, 270, 300, false, false, 1, 0), (97, 257, 257, true, false, 0.5, 1),
            (13, 17, 513, false, true, -1, 2), (193, 31, 7, true, true, 2, -0.5), (1, 300, 1, false, false, 1, 0),
            (200, 800, 20, false, true, 1, 0.5),  // tiles of 2 row blocks (96 + 96, then 8 rows)
            (20, 37, 9000, false, true, 1, 0.5),  // deep: split along k (GemmDepthSplit), a short last part
            (13, 40, 8192, true, false, -1, 0),   // deep, exactly two parts
        ]
        for (ci, (m, n, k, ta, tb, alpha, beta)) in cases.enumerated() {
            let lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 3, ldc = n + 3
            let a = kernelRandom((ta ? k : m) * lda, seed: UInt64(200 + ci))
            let b = kernelRandom((tb ? n : k) * ldb, seed: UInt64(300 + ci))
            var c = kernelRandom(m * ldc, seed: UInt64(400 + ci))
            if beta == 0 { for i in 0..<m { c[i * ldc + n] = .nan } }  // padding and ignored C
            if beta == 0 { c[0] = .nan }
            let want = naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            var got = c
            gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: &got, ldc: ldc)
            let e = assertClose(got.enumerated().filter { $0.offset % ldc < n }.map(\.element),
                                want.enumerated().filter { $0.offset % ldc < n }.map(\.element), tol: 1e-12, "case \(ci) Double")
            // The padding columns of C are never written.
            for i in 0..<m { for j in n..<ldc { XCTAssert(got[i * ldc + j].bitPattern == c[i * ldc + j].bitPattern) } }
            var gotF = c.map { Float($0) }
            gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: Float(alpha), a: a.map { Float($0) }, lda: lda,
                 b: b.map { Float($0) }, ldb: ldb, beta: Float(beta), c: &gotF, ldc: ldc)
            let ef = assertClose(gotF.enumerated().filter { $0.offset % ldc < n }.map(\.element),
                                 want.enumerated().filter { $0.offset % ldc < n }.map(\.element),
                                 tol: kernelTolerance(Float.self, terms: k), "case \(ci) Float")
            print("gemm case \(ci) vs triple loop: Double \(e), Float \(ef)")
        }
    }

    func testGemmIsBitIdenticalAcrossThreadCounts() {
        let (m, n, k) = (110, 200, 260)
        let a = kernelRandom(m * k, seed: 1).map { Float($0) }, b = kernelRandom(k * n, seed: 2).map { Float($0) }
        let saved = LossKitRuntime.threads
        defer { LossKitRuntime.threads = saved }
        var outs: [[Float]] = []
        for t in [1, 2, 5] {
            LossKitRuntime.threads = t
            var c = [Float](repeating: 0, count: m * n)
            gemmBatched(batch: 2, transA: false, transB: false, m: m, n: n / 2, k: k, alpha: 1, a: a, lda: k, strideA: 0,
                        b: b, ldb: n, strideB: n / 2, beta: 0, c: &c, ldc: n / 2, strideC: m * n / 2)
            outs.append(c)
        }
        XCTAssertEqual(outs[0].map(\.bitPattern), outs[1].map(\.bitPattern))
        XCTAssertEqual(outs[0].map(\.bitPattern), outs[2].map(\.bitPattern))
        // A deep product split along k (GemmDepthSplit): the same bits too.
        let (dm, dn, dk) = (30, 20, 9000)
        XCTAssertGreaterThan(GemmDepthSplit.parts(batch: 2, m: dm, n: dn, k: dk), 1)
        XCTAssertEqual(GemmDepthSplit.parts(batch: 1, m: 100_000, n: 16, k: dk), 1)  // tall: the grid's row tiles
        XCTAssertEqual(GemmDepthSplit.parts(batch: 1, m: 64, n: 64, k: 8191), 1)
        let da = kernelRandom(2 * dm * dk, seed: 3).map { Float($0) }, db = kernelRandom(2 * dk * dn, seed: 4).map { Float($0) }
        var deep: [[Float]] = []
        for t in [1, 2, 5] {
            LossKitRuntime.threads = t
            var c = [Float](repeating: 0, count: 2 * dm * dn)
            gemmBatched(batch: 2, transA: false, transB: true, m: dm, n: dn, k: dk, alpha: 1, a: da, lda: dk, strideA: dm * dk,
                        b: db, ldb: dk, strideB: dk * dn, beta: 0, c: &c, ldc: dn, strideC: dm * dn)
            deep.append(c)
        }
        XCTAssertEqual(deep[0].map(\.bitPattern), deep[1].map(\.bitPattern))
        XCTAssertEqual(deep[0].map(\.bitPattern), deep[2].map(\.bitPattern))
    }

    func testGemmGeometry() throws {
        let mm = try GemmGeometry.mm(a: [3, 4], b: [4, 5])
        XCTAssertEqual([mm.batch, mm.m, mm.n, mm.k], [1, 3, 5, 4])
        let bmm = try GemmGeometry.bmm(a: [2, 3, 4], b: [2, 4, 5])
        XCTAssertEqual([bmm.batch, bmm.m, bmm.n, bmm.k], [2, 3, 5, 4])
        XCTAssertThrowsError(try GemmGeometry.mm(a: [3, 4], b: [5, 5]))
        XCTAssertThrowsError(try GemmGeometry.bmm(a: [2, 3, 4], b: [3, 4, 5]))
        XCTAssertThrowsError(try GemmGeometry.mm(a: [3, 4, 1], b: [4, 5]))
    }
}
