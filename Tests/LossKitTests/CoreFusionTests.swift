import XCTest
@testable import LossKit

/// Fused elementwise programs against the same expression built from primitives: forward
/// values bit-identical, gradients and Hessian-vector products equal to rounding.
final class CoreFusionTests: XCTestCase {
    typealias Pair = (name: String, arity: Int, positive: Bool,
                      fused: ([Fused]) -> Fused, plain: ([Tensor]) throws -> Tensor)

    static let expressions: [Pair] = [
        ("charbonnier", 2, false, { x in ((x[0] - x[1]).square() + 1e-6).sqrt() },
         { x in try ((x[0] - x[1]).square() + 1e-6).sqrt() }),
        ("arith", 3, false, { x in (x[0] * x[1] + x[2]) / (x[1].square() + 1) - 0.5 * x[0] },
         { x in try (x[0] * x[1] + x[2]) / (x[1].square() + 1) - 0.5 * x[0] }),
        ("transcendental", 1, true, { x in x[0].log() + x[0].log1p() + x[0].sqrt() + (-x[0]).exp() + x[0].tanh() },
         { x in try x[0].log() + x[0].log1p() + x[0].sqrt() + (-x[0]).exp() + x[0].tanh() }),
        ("activations", 1, false, { x in x[0].sigmoid() + x[0].softplus() * 2 + x[0].relu() + x[0].leakyRelu(0.2) },
         { x in try x[0].sigmoid() + x[0].softplus() * 2 + x[0].relu() + x[0].leakyRelu(0.2) }),
        ("quickGelu", 1, false, { x in x[0].quickGelu() * 2 }, { x in x[0].quickGelu() * 2 }),
        ("abs clamp pow", 1, false, { x in x[0].abs() * x[0].clamp(min: -0.5, max: 0.8) + x[0].pow(3) - x[0].abs().pow(1.5) },
         { x in try x[0].abs() * x[0].clamp(min: -0.5, max: 0.8) + x[0].pow(3) - x[0].abs().pow(1.5) }),
        ("max min where", 2, false, { x in maximum(x[0], x[1]) * minimum(x[0], x[1] * 0.5) + Fused.where(x[0].gt(0.1), x[1], x[0].square()) },
         { x in try maximum(x[0], x[1]) * minimum(x[0], x[1] * 0.5) + Tensor.where(x[0].gt(0.1), x[1], x[0].square()) }),
        ("tensor pow", 2, true, { x in pow(x[0], x[1]) }, { x in try pow(x[0], x[1]) }),
    ]

    func inputs(_ arity: Int, _ n: Int, _ positive: Bool, _ dtype: DType, seed: Int) throws -> [Tensor] {
        try (0..<arity).map { k in
            let v = (0..<n).map { i -> Double in
                let u = sin(Double(i * 7 + k * 13 + seed) * 0.37) * 2
                return positive ? Swift.abs(u) + 0.1 : u
            }
            return try Tensor(shape: [n], values: v, dtype: dtype).requiringGrad()
        }
    }

    func testForwardIsBitIdentical() throws {
        for e in Self.expressions {
            for dtype in [DType.float32, .float64] {
                for n in [0, 1, 15, 17, 511, 513, 1030] + (e.name == "charbonnier" ? [140_001] : []) {
                    let xs = try inputs(e.arity, n, e.positive, dtype, seed: n)
                    let a = try Tensor.fusedMap(xs, e.fused), b = try e.plain(xs)
                    XCTAssertEqual(a.shape, b.shape)
                    XCTAssertEqual(a.toFloat64().map(\.bitPattern), b.toFloat64().map(\.bitPattern), "\(e.name) \(dtype) n=\(n)")
                }
            }
        }
    }

    func close(_ a: Tensor, _ b: Tensor, _ rtol: Double, _ what: String) {
        let x = a.toFloat64(), y = b.toFloat64()
        XCTAssertEqual(x.count, y.count, what)
        // Relative to the element, with a floor at the mean magnitude: both sides round in a
        // different order, and where terms cancel the error is relative to the terms.
        let floor = y.reduce(0) { $0 + Swift.abs($1) } / Double(max(y.count, 1)) + 1e-300
        var worst = 0.0
        for (p, q) in zip(x, y) { worst = max(worst, Swift.abs(p - q) / (floor + Swift.abs(q))) }
        XCTAssertLessThanOrEqual(worst, rtol, what)
    }

    /// Gradient (one fused pass) and second order (fused gradient programs differentiated
    /// again) against the primitives' rules.
    func testGradientsMatchComposite() throws {
        for e in Self.expressions {
            for dtype in [DType.float32, .float64] {
                let rtol = dtype == .float32 ? 2e-5 : 1e-12
                for n in [1, 17, 1030] {
                    let xs = try inputs(e.arity, n, e.positive, dtype, seed: 3)
                    let v = try Tensor(shape: [n], values: (0..<n).map { cos(Double($0)) }, dtype: dtype)
                    let fo = try Tensor.fusedMap(xs, e.fused), po = try e.plain(xs)
                    let gf = try grad(fo, wrt: xs, gradOutput: v, createGraph: true)
                    let gp = try grad(po, wrt: xs, gradOutput: v, createGraph: true)
                    for k in xs.indices { close(gf[k], gp[k], rtol, "\(e.name) grad \(k) \(dtype) n=\(n)") }
                    // Hessian-vector product through the fused gradient.
                    var sf = Tensor.scalar(0, dtype: dtype), sp = Tensor.scalar(0, dtype: dtype)
                    for k in xs.indices { sf = try sf + (gf[k] * v).sum(); sp = try sp + (gp[k] * v).sum() }
                    let hf = try grad(sf, wrt: xs), hp = try grad(sp, wrt: xs)
                    for k in xs.indices { close(hf[k], hp[k], rtol * 10, "\(e.name) hvp \(k) \(dtype) n=\(n)") }
                }
            }
        }
    }

    func testFusedSumMatchesSumOfComposite() throws {
        for e in Self.expressions {
            for dtype in [DType.float32, .float64] {
                for n in [0, 1, 17, 4097] + (e.name == "charbonnier" ? [140_001] : []) {
                    let xs = try inputs(e.arity, n, e.positive, dtype, seed: 5)
                    let s = try Tensor.fusedSum(xs, e.fused), p = try e.plain(xs).sum()
                    XCTAssertEqual(try s.item(), try p.item(), accuracy: (dtype == .float32 ? 1e-6 : 1e-13) * max(1, Swift.abs(try p.item())),
                                   "\(e.name) \(dtype) n=\(n)")
                    if n == 17 {
                        let gs = try grad(s, wrt: xs), gp = try grad(p, wrt: xs)
                        for k in xs.indices { close(gs[k], gp[k], dtype == .float32 ? 2e-5 : 1e-12, "\(e.name) sum grad") }
                    }
                }
            }
        }
    }

    func testScalarInputsBroadcastAndSumTheirGradient() throws {
        let x = try Tensor(shape: [2, 3], float64: [1, 2, 3, 4, 5, 6]).requiringGrad()
        let eps = Tensor.scalar(0.5, dtype: .float64).requiringGrad()
        let y = try Tensor.fusedMap([x, eps]) { v in (v[0].square() + v[1]).sqrt() }
        let z = try (x.square() + eps).sqrt()
        XCTAssertEqual(y.toFloat64(), z.toFloat64())
        let g1 = try grad(y.sum(), wrt: [x, eps]), g2 = try grad(z.sum(), wrt: [x, eps])
        XCTAssertEqual(g1[1].shape, [])
        XCTAssertEqual(try g1[1].item(), try g2[1].item(), accuracy: 1e-14)
        close(g1[0], g2[0], 1e-14, "x grad")
        XCTAssertThrowsError(try Tensor.fusedMap([x, try Tensor.zeros(shape: [4], dtype: .float64)]) { $0[0] + $0[1] })
    }

    /// Inputs broadcast like the unfused ops (gathered per block, including blocks that cross
    /// rows), with gradients summed back to each input's shape.
    func testBroadcastInputs() throws {
        for (sa, sb, sc) in [([2, 3, 40, 41], [2, 1, 40, 41], [41]), ([3, 1], [1, 700], []), ([5, 1, 600], [1, 4, 1], [5, 4, 1]),
                             ([1], [300], [300, 1])] {
            for dtype in [DType.float32, .float64] {
                func make(_ s: [Int], _ k: Double) throws -> Tensor {
                    let n = s.reduce(1, *)
                    return try Tensor(shape: s, values: (0..<n).map { sin(Double($0) * 0.1 + k) }, dtype: dtype).requiringGrad()
                }
                let a = try make(sa, 0), b = try make(sb, 1), c = try make(sc, 2)
                let f = try Tensor.fusedMap([a, b, c]) { x in (x[0] - x[1]).square() * x[2] + x[1] }
                let p = try (a - b).square() * c + b
                XCTAssertEqual(f.shape, p.shape)
                XCTAssertEqual(f.toFloat64().map(\.bitPattern), p.toFloat64().map(\.bitPattern), "\(sa) \(sb) \(sc) \(dtype)")
                let v = try Tensor(shape: p.shape, values: (0..<p.count).map { cos(Double($0)) }, dtype: dtype)
                let gf = try grad(f, wrt: [a, b, c], gradOutput: v), gp = try grad(p, wrt: [a, b, c], gradOutput: v)
                for k in 0..<3 { close(gf[k], gp[k], dtype == .float32 ? 1e-5 : 1e-12, "grad \(k) \(sa) \(sb) \(sc)") }
                let s = try Tensor.fusedSum([a, b, c]) { x in (x[0] - x[1]).square() * x[2] + x[1] }
                XCTAssertEqual(try s.item(), try p.sum().item(), accuracy: (dtype == .float32 ? 1e-5 : 1e-12) * Double(p.count))
            }
        }
    }

    func testDeterministicAcrossThreadCounts() throws {
        let saved = LossKitRuntime.threads
        defer { LossKitRuntime.threads = saved }
        let xs = try inputs(2, 300_007, false, .float32, seed: 9)
        var bits: [UInt64] = []
        for t in [1, 2, 3] {
            LossKitRuntime.threads = t
            bits.append(try Tensor.fusedSum(xs) { x in ((x[0] - x[1]).square() + 1e-6).sqrt() }.item().bitPattern)
        }
        XCTAssertEqual(Set(bits).count, 1)
    }

    /// Gradients of broadcast inputs reduced inside the fused backward pass, against the general
    /// path (full-size gradient, then `sumTo`), and bit-identical for any thread count.
    func testBroadcastGradientsReducedInPassMatchGeneralPath() throws {
        let saved = LossKitRuntime.threads
        defer { LossKitRuntime.threads = saved }
        // pred-like, weight-like, per-sample-like shapes; the last case has no split (general path).
        for (sa, sb, sc) in [([4, 3, 33, 35], [4, 1, 33, 35], [4, 1, 1, 1]), ([6, 700], [6, 1], [6, 700]),
                             ([70_000, 2], [70_000, 1], [70_000, 2]), ([2, 5, 1030], [2, 5, 1], [2, 1, 1030]),
                             ([3, 4, 300], [3, 4, 300], [1, 4, 300])] {
            for dtype in [DType.float32, .float64] {
                func make(_ s: [Int], _ k: Double) throws -> Tensor {
                    let n = s.reduce(1, *)
                    return try Tensor(shape: s, values: (0..<n).map { sin(Double($0) * 0.1 + k) + 1.5 }, dtype: dtype).requiringGrad()
                }
                let a = try make(sa, 0), b = try make(sb, 1), c = try make(sc, 2)
                let t = try make(sa, 3)
                func grads() throws -> [Tensor] {
                    let s = try Tensor.fusedSum([a, t, b, c]) { x in ((x[0] - x[1]).square() + 1e-6).sqrt() * x[2] / x[3] }
                    return try grad(s, wrt: [a, t, b, c])
                }
                LossKitRuntime.threads = saved
                var general = EngineOptions()
                general.fusedReduceInPass = false
                let reference = try EngineOptions.with(general) { try grads() }
                var bits: [[UInt64]] = []
                for threads in [1, 2, 3] {
                    LossKitRuntime.threads = threads
                    let g = try grads()
                    for k in 0..<4 {
                        XCTAssertEqual(g[k].shape, reference[k].shape)
                        close(g[k], reference[k], dtype == .float32 ? 1e-6 : 1e-14, "grad \(k) \(sa) \(sb) \(sc) \(dtype)")
                    }
                    bits.append(g.flatMap { $0.toFloat64().map(\.bitPattern) })
                }
                XCTAssertEqual(bits[0], bits[1], "\(sa) \(sb) \(sc)"); XCTAssertEqual(bits[0], bits[2], "\(sa) \(sb) \(sc)")
            }
        }
    }

    /// SignF's and ReluF's SIMD forms against their scalar forms, bit for bit (NaN, ±0, ±inf, subnormals).
    func checkVectorMatchesScalar<F: UnaryFunctor>(_ f: F, _ name: String) {
        func check<T: TensorScalar>(_: T.Type) {
            let specials: [T] = [.nan, -.nan, 0, -0, 1, -1, .infinity, -.infinity, .leastNonzeroMagnitude,
                                 -.leastNonzeroMagnitude, .greatestFiniteMagnitude, 0.25, -3]
            let x = (0..<37).map { specials[$0 % specials.count] }
            var y = [T](repeating: 7, count: x.count)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in unaryKernelSerial(xp.baseAddress!, yp.baseAddress!, x.count, f) }
            }
            for (a, b) in zip(x, y) {
                let want = f.scalar(a)
                XCTAssertTrue((want == b || (want.isNaN && b.isNaN)) && want.sign == b.sign, "\(name)(\(a)) = \(b), want \(want)")
            }
        }
        check(Float.self); check(Double.self)
    }

    func testSignVectorMatchesScalar() { checkVectorMatchesScalar(SignF(), "sign") }

    func testReluVectorMatchesScalar() { checkVectorMatchesScalar(ReluF(), "relu") }

    /// CompareF's SIMD form against its scalar form for every comparison, on all pairs of specials.
    func testCompareVectorMatchesScalar() {
        func check<T: TensorScalar>(_: T.Type) {
            let specials: [T] = [.nan, 0, -0, 1, -1, .infinity, -.infinity, .leastNonzeroMagnitude, 0.25, 0.25, -3]
            let a = (0..<(specials.count * specials.count)).map { specials[$0 / specials.count] }
            let b = (0..<(specials.count * specials.count)).map { specials[$0 % specials.count] }
            let w = T.Vector.scalarCount
            for c in [Comparison.gt, .ge, .lt, .le, .eq, .ne] {
                var i = 0
                while i + w <= a.count {
                    var va = T.Vector(), vb = T.Vector()
                    for l in 0..<w { va[l] = a[i + l]; vb[l] = b[i + l] }
                    let r = CompareF(c: c).vector(va, vb)
                    for l in 0..<w {
                        let want = CompareF(c: c).scalar(a[i + l], b[i + l])
                        XCTAssertTrue(r[l] == want && r[l].sign == want.sign, "\(a[i + l]) \(c) \(b[i + l]) = \(r[l]), want \(want) (\(T.self))")
                    }
                    i += w
                }
            }
        }
        check(Float.self); check(Double.self)
    }
}
