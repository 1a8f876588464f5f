import XCTest
import LossKit

/// Pooling kernels against torch (fixtures/kernels/pool2d.json) and the adjoint identities.
final class KernelPoolTests: XCTestCase {
    func poolGeometry(_ c: [String: Any]) throws -> Pool2dGeometry {
        try Pool2dGeometry(
            op: c["op"] as? String == "avg" ? "avg_pool2d" : "max_pool2d",
            input: c.ints("input_shape"), kernel: c.pair("kernel"), stride: c.pair("stride"),
            padding: c.pair("padding"), dilation: c.pair("dilation"), ceilMode: c.bool("ceil_mode") ?? false)
    }

    func runFixtures<T: KernelFloat>(_: T.Type) throws {
        var worst = 0.0
        var checked = 0
        for c in try KernelFixtures.cases("pool2d.json") {
            let x = c.doubles("x").map { T($0) }, gy = c.doubles("gy").map { T($0) }
            var y = sized(gy.count, T.self)
            var gx = [T](repeating: .nan, count: x.count)
            switch c["op"] as? String {
            case "avg":
                let g = try poolGeometry(c)
                XCTAssertEqual(g.outputShape, c.ints("output_shape"), c.name)
                let cip = c.bool("count_include_pad") ?? true
                let div = c["divisor_override"] is NSNull ? nil : c.int("divisor_override")
                avgPool2dForward(g, countIncludePad: cip, divisorOverride: div, input: x, output: &y)
                avgPool2dBackward(g, countIncludePad: cip, divisorOverride: div, gradOutput: gy, gradInput: &gx)
            case "max":
                let g = try poolGeometry(c)
                XCTAssertEqual(g.outputShape, c.ints("output_shape"), c.name)
                var idx = [Int](repeating: -1, count: gy.count)
                maxPool2dForward(g, input: x, output: &y, indices: &idx)
                XCTAssertEqual(idx, c.ints("indices"), "\(c.name) indices")
                maxPool2dBackward(g, indices: idx, gradOutput: gy, gradInput: &gx)
                var gathered = sized(gy.count, T.self)
                maxPool2dGather(g, indices: idx, source: x, output: &gathered)
                XCTAssertEqual(gathered, y, "\(c.name) gather of the input is the forward")
            case "adaptive_avg":
                let g = try AdaptivePool2dGeometry(input: c.ints("input_shape"), outputSize: c.pair("output_size"))
                XCTAssertEqual(g.outputShape, c.ints("output_shape"), c.name)
                adaptiveAvgPool2dForward(g, input: x, output: &y)
                adaptiveAvgPool2dBackward(g, gradOutput: gy, gradInput: &gx)
            default:
                XCTFail("unknown op in \(c.name)")
            }
            let tol = kernelTolerance(T.self)
            worst = max(worst, assertClose(y, c.doubles("y"), tol: tol, "\(c.name) y \(T.self)"))
            worst = max(worst, assertClose(gx, c.doubles("gx"), tol: tol, "\(c.name) gx \(T.self)"))
            checked += 1
        }
        XCTAssertEqual(checked, 21)
        print("pooling vs torch, \(T.self): worst scaled error \(worst) over \(checked) cases")
    }

    func testPoolingMatchesTorchDouble() throws { try runFixtures(Double.self) }
    func testPoolingMatchesTorchFloat() throws { try runFixtures(Float.self) }

    /// ⟨P x, g⟩ = ⟨x, Pᵀ g⟩ for every pooling map (max pooling with its indices frozen).
    func testPoolingAdjointDotProducts() throws {
        let shapes: [[Int]] = [[2, 3, 17, 15], [1, 2, 16, 1], [1, 1, 9, 33]]
        for (si, shape) in shapes.enumerated() {
            let x = kernelRandom(shape.reduce(1, *), seed: UInt64(70 + si))
            var pairs: [(String, [Double], [Double], [Double])] = []  // name, y = Px, g, Pᵀg
            for ceil in [false, true] {
                let g = try Pool2dGeometry(op: "avg_pool2d", input: shape, kernel: (3, min(3, shape[3])),
                                           stride: (2, min(2, shape[3])), padding: (1, min(1, shape[3] / 2)), ceilMode: ceil)
                let n = g.outputShape.reduce(1, *)
                let gy = kernelRandom(n, seed: UInt64(80 + si))
                for cip in [true, false] {
                    var y = sized(n, Double.self), gx = sized(x.count, Double.self)
                    avgPool2dForward(g, countIncludePad: cip, input: x, output: &y)
                    avgPool2dBackward(g, countIncludePad: cip, gradOutput: gy, gradInput: &gx)
                    pairs.append(("avg ceil=\(ceil) cip=\(cip)", y, gy, gx))
                }
                let gm = try Pool2dGeometry(input: shape, kernel: (2, min(2, shape[3])), stride: (2, 1),
                                            padding: (1, 0), dilation: (2, 1), ceilMode: ceil)
                let nm = gm.outputShape.reduce(1, *)
                let gym = kernelRandom(nm, seed: UInt64(90 + si))
                var idx = [Int](repeating: 0, count: nm), ym = sized(nm, Double.self)
                maxPool2dForward(gm, input: x, output: &ym, indices: &idx)
                // With the indices frozen, gather is the linear map and backward its adjoint.
                let z = kernelRandom(x.count, seed: UInt64(100 + si))
                var gz = sized(nm, Double.self), gxm = sized(x.count, Double.self)
                maxPool2dGather(gm, indices: idx, source: z, output: &gz)
                maxPool2dBackward(gm, indices: idx, gradOutput: gym, gradInput: &gxm)
                XCTAssertEqual(dot(gz, gym), dot(z, gxm), accuracy: 1e-12 * Double(nm), "max ceil=\(ceil)")
            }
            let ga = try AdaptivePool2dGeometry(input: shape, outputSize: (5, 4))
            let na = ga.outputShape.reduce(1, *)
            let gya = kernelRandom(na, seed: UInt64(110 + si))
            var ya = sized(na, Double.self), gxa = sized(x.count, Double.self)
            adaptiveAvgPool2dForward(ga, input: x, output: &ya)
            adaptiveAvgPool2dBackward(ga, gradOutput: gya, gradInput: &gxa)
            pairs.append(("adaptive", ya, gya, gxa))
            for (name, y, gy, gx) in pairs {
                XCTAssertEqual(dot(y, gy), dot(x, gx), accuracy: 1e-12 * Double(y.count), "\(name) shape \(shape)")
            }
        }
    }

    func testMaxPoolNaNAndInfinityFollowPyTorch() throws {
        // PyTorch's CPU rule (checked with torch 2.15 on this very input): a NaN always
        // replaces the running max (the last NaN wins); an all −inf window reports its first
        // in-bounds pixel.
        let g = try Pool2dGeometry(input: [1, 1, 2, 4], kernel: (2, 2), stride: (2, 2))
        let x: [Double] = [1, .nan, -.infinity, -.infinity,
                           .nan, 3, -.infinity, -.infinity]
        var y = sized(2, Double.self), idx = [Int](repeating: -1, count: 2)
        maxPool2dForward(g, input: x, output: &y, indices: &idx)
        XCTAssert(y[0].isNaN)
        XCTAssertEqual(idx, [4, 2])
        XCTAssertEqual(y[1], -.infinity)
    }

    /// The float32 2×2 stride-2 path (four outputs at a time) against the one-output loop, which
    /// float64 runs: the same values bit for bit and the same indices, over ties (±0 too), NaNs,
    /// infinities, widths that leave a tail, odd heights and ceil mode's partial windows.
    func testMaxPool2x2QuadsMatchScalar() throws {
        let specials: [Float] = [.nan, -.infinity, .infinity, 0, -0, 1, 1, -1]
        for (ci, shape) in [[2, 3, 7, 19], [1, 2, 8, 16], [1, 1, 5, 9], [1, 1, 2, 8], [1, 2, 9, 33]].enumerated() {
            for ceil in [false, true] {
                let g = try Pool2dGeometry(input: shape, kernel: (2, 2), stride: (2, 2), ceilMode: ceil)
                let n = shape.reduce(1, *)
                var state = UInt64(1234 + ci)
                let x: [Float] = (0..<n).map { _ in
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    let r = Int(state >> 33)
                    return r % 3 == 0 ? specials[(r / 3) % specials.count] : Float((r % 7) - 3)
                }
                let count = g.outputShape.reduce(1, *)
                var yf = sized(count, Float.self), idxf = [Int](repeating: -1, count: count)
                maxPool2dForward(g, input: x, output: &yf, indices: &idxf)
                var yd = sized(count, Double.self), idxd = [Int](repeating: -1, count: count)
                maxPool2dForward(g, input: x.map { Double($0) }, output: &yd, indices: &idxd)
                XCTAssertEqual(yf.map(\.bitPattern), yd.map { Float($0).bitPattern }, "\(shape) ceil \(ceil) values")
                XCTAssertEqual(idxf, idxd, "\(shape) ceil \(ceil) indices")
            }
        }
    }

    func testPoolGeometryFollowsPyTorchRules() throws {
        // ceil_mode drops a last window that would start in the right padding:
        // H=5, k=2, s=2, p=1 → ceil((5+2−2)/2)+1 = 4, but (4−1)·2 = 6 >= 5+1 → 3.
        XCTAssertEqual(try Pool2dGeometry(input: [1, 1, 5, 5], kernel: (2, 2), padding: (1, 1), ceilMode: true).outHeight, 3)
        XCTAssertEqual(try Pool2dGeometry(input: [1, 1, 6, 6], kernel: (3, 3), stride: (2, 2), ceilMode: true).outHeight, 3)
        XCTAssertEqual(try Pool2dGeometry(input: [1, 1, 6, 6], kernel: (3, 3), stride: (2, 2), ceilMode: false).outHeight, 2)
        XCTAssertThrowsError(try Pool2dGeometry(input: [1, 1, 6, 6], kernel: (2, 2), padding: (2, 0)))
        XCTAssertThrowsError(try Pool2dGeometry(input: [1, 1, 2, 2], kernel: (3, 3)))
        XCTAssertThrowsError(try Pool2dGeometry(input: [1, 0, 4, 4], kernel: (2, 2)))
        XCTAssertThrowsError(try Pool2dGeometry(input: [1, 1, 4, 4], kernel: (0, 2)))
        XCTAssertThrowsError(try AdaptivePool2dGeometry(input: [1, 1, 4], outputSize: (2, 2)))
        do {
            _ = try Pool2dGeometry(op: "avg_pool2d", input: [1, 1, 2, 2], kernel: (3, 3))
            XCTFail("expected an error")
        } catch let e as KernelShapeError {
            XCTAssertEqual(e.op, "avg_pool2d")
            XCTAssert(e.message.contains("(1,1,2,2)"), e.message)
        }
    }
}
