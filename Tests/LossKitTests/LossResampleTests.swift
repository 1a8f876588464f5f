import XCTest
@testable import LossKit

/// The fixed image operators inside the losses: the ops they use (interpolate, conv2d) against
/// an independent separable-map implementation, and MMagic's Gaussian kernel. (Their values
/// against PyTorch are covered by the loss and op fixtures.)
final class LossResampleTests: XCTestCase {
    func random(_ shape: [Int], seed: UInt64) throws -> Tensor {
        var s = seed
        let n = shape.reduce(1, *)
        let values = (0..<n).map { _ -> Double in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Double(s >> 11) / Double(1 << 53) - 0.5
        }
        return try Tensor(shape: shape, float64: values)
    }

    func dot(_ a: Tensor, _ b: Tensor) -> Double { zip(a.toFloat64(), b.toFloat64()).map(*).reduce(0, +) }

    var maps: [(String, SeparableMap)] {
        [("bilinear up", .bilinearAlignCorners(from: (3, 4), to: (7, 5), dtype: .float64)),
         ("bilinear down", .bilinearAlignCorners(from: (6, 5), to: (2, 3), dtype: .float64)),
         ("bilinear to 1", .bilinearAlignCorners(from: (4, 4), to: (1, 1), dtype: .float64)),
         ("bicubic x2", .bicubic(from: (3, 5), to: (6, 10), dtype: .float64)),
         ("bicubic x4", .bicubic(from: (2, 2), to: (8, 8), dtype: .float64)),
         ("sobel x", .correlate3(height: 4, width: 5, vertical: [1, 2, 1], horizontal: [1, 0, -1]))]
    }

    /// <A x, y> = <x, Aᵀ y>: the backward rule is the adjoint of the forward.
    func testAdjointDotProduct() throws {
        for (name, m) in maps {
            let x = try random([2, 3, m.inHeight, m.inWidth], seed: 1)
            let y = try random([2, 3, m.outHeight, m.outWidth], seed: 2)
            let lhs = dot(try m.apply(x), y), rhs = dot(x, try m.adjoint.apply(y))
            XCTAssertEqual(lhs, rhs, accuracy: 1e-13 * max(1, Swift.abs(lhs)), name)
            let g = try grad(m.apply(x.requiringGrad()), wrt: [x], gradOutput: y)
            XCTAssertEqual(g[0].shape, x.shape)
        }
    }

    /// f(x) = ½‖A x‖²: ∇f = AᵀA x, and the Hessian-vector product is AᵀA v (second order works).
    func testSecondDerivativeThroughTheMap() throws {
        for (name, m) in maps {
            let x = try random([1, 2, m.inHeight, m.inWidth], seed: 3).requiringGrad()
            let v = try random([1, 2, m.inHeight, m.inWidth], seed: 4)
            let f = try m.apply(x).square().sum() * 0.5
            let g = try grad(f, wrt: [x], createGraph: true)[0]
            let expected = try m.adjoint.apply(m.apply(x.detach()))
            XCTAssertEqual(g.toFloat64(), expected.toFloat64(), accuracy: 1e-14, name)
            let hv = try grad((g * v).sum(), wrt: [x])[0]
            XCTAssertEqual(hv.toFloat64(), try m.adjoint.apply(m.apply(v)).toFloat64(), accuracy: 1e-14, name)
        }
    }

    /// The ops the losses call agree with the separable reference maps: interpolate (bilinear
    /// align_corners=True as smgan, bicubic align_corners=False as TTSR) and the Sobel conv2d of
    /// GradientLoss; values and gradients, float64 and float32.
    func testOpsMatchTheSeparableReference() throws {
        typealias Case = (String, SeparableMap, (Tensor) throws -> Tensor)
        for dtype in [DType.float64, .float32] {
            let cases: [Case] = [
                ("bilinear up", .bilinearAlignCorners(from: (3, 4), to: (7, 5), dtype: dtype),
                 { try interpolate($0, size: (7, 5), mode: .bilinear, alignCorners: true) }),
                ("bilinear down", .bilinearAlignCorners(from: (6, 5), to: (2, 3), dtype: dtype),
                 { try interpolate($0, size: (2, 3), mode: .bilinear, alignCorners: true) }),
                ("bilinear to 1", .bilinearAlignCorners(from: (4, 4), to: (1, 1), dtype: dtype),
                 { try interpolate($0, size: (1, 1), mode: .bilinear, alignCorners: true) }),
                ("bicubic x2", .bicubic(from: (3, 5), to: (6, 10), dtype: dtype),
                 { try interpolate($0, size: (6, 10), mode: .bicubic, alignCorners: false) }),
                ("bicubic x4", .bicubic(from: (2, 2), to: (8, 8), dtype: dtype),
                 { try interpolate($0, size: (8, 8), mode: .bicubic, alignCorners: false) }),
                ("sobel x", .correlate3(height: 4, width: 5, vertical: [1, 2, 1], horizontal: [1, 0, -1]),
                 { try GradientLoss.sobel($0, GradientLoss.kernelX) }),
                ("sobel y", .correlate3(height: 6, width: 3, vertical: [1, 0, -1], horizontal: [1, 2, 1]),
                 { try GradientLoss.sobel($0, GradientLoss.kernelY) }),
            ]
            // Different summation orders: a few ulps of the sum of |terms| (≤ 16·|x|max here).
            let tol = dtype == .float64 ? 1e-14 : 1e-5
            for (name, map, op) in cases {
                let channels = name.hasPrefix("sobel") ? 1 : 3
                let x = try random([2, channels, map.inHeight, map.inWidth], seed: 5).to(dtype).requiringGrad()
                let gy = try random([2, channels, map.outHeight, map.outWidth], seed: 6).to(dtype)
                let want = try map.apply(x), got = try op(x)
                XCTAssertEqual(got.shape, want.shape, name)
                XCTAssertEqual(got.toFloat64(), want.toFloat64(), accuracy: tol, "\(name) \(dtype)")
                let gWant = try grad(want, wrt: [x], gradOutput: gy)[0], gGot = try grad(got, wrt: [x], gradOutput: gy)[0]
                XCTAssertEqual(gGot.toFloat64(), gWant.toFloat64(), accuracy: tol, "\(name) \(dtype) gradient")
            }
        }
    }

    /// The 71×71 blur as a grouped conv2d against a direct float64 sum over the valid taps.
    func testGaussianBlurMatchesDirectSum() throws {
        let (n, c, h, w) = (1, 2, 5, 4)
        let x = try random([n, c, h, w], seed: 8)
        let src = x.toFloat64()
        let k = GaussianBlur.kernel2D.map(Double.init)
        var want = [Double](repeating: 0, count: src.count)
        for p in 0..<(n * c) { for i in 0..<h { for j in 0..<w {
            var s = 0.0
            for a in 0..<71 { for b in 0..<71 {
                let (y, xx) = (i + a - 35, j + b - 35)
                if y >= 0 && y < h && xx >= 0 && xx < w { s += k[a * 71 + b] * src[p * h * w + y * w + xx] }
            } }
            want[p * h * w + i * w + j] = s
        } } }
        let got = try GaussianBlur.blur(x)
        XCTAssertFalse(got.requiresGrad)
        XCTAssertEqual(got.toFloat64(), want, accuracy: 1e-15)
        XCTAssertEqual(try GaussianBlur.blur(x.to(.float32)).toFloat64(), want, accuracy: 1e-6)
    }

    /// Bilinear align_corners=True keeps the corners and reproduces linear ramps exactly.
    func testBilinearAlignCornersOnARamp() throws {
        let ramp = try Tensor(shape: [1, 1, 3, 3], float64: (0..<9).map { (k: Int) -> Double in Double(k / 3) * 10 + Double(k % 3) })
        let out = try interpolate(ramp, size: (5, 4), mode: .bilinear, alignCorners: true).toFloat64()
        for i in 0..<5 { for j in 0..<4 {
            let row: Double = Double(i) / 4 * 2 * 10, column: Double = Double(j) / 3 * 2
            XCTAssertEqual(out[i * 4 + j], row + column, accuracy: 1e-14)
        } }
    }

    /// MMagic's Gaussian taps summed in PyTorch's float32 order (25.056678771972656 with torch 2.x,
    /// one ulp below the correctly rounded 25.05668067932129); the normalised kernel sums to ~1.
    func testGaussianKernelMatchesTorchConstruction() {
        let raw: [Float] = (0..<71).map { x in Float(Foundation.exp(Double(Float(-Double((x - 35) * (x - 35)) / 200)))) }
        XCTAssertEqual(Double(GaussianBlur.torchFloat32Sum(raw)), 25.056678771972656)
        XCTAssertEqual(Double(raw.map(Double.init).reduce(0, +)), 25.05668067932129, accuracy: 1e-6)
        XCTAssertEqual(GaussianBlur.kernel1D.map(Double.init).reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertEqual(GaussianBlur.kernel2D.count, 71 * 71)
        XCTAssertEqual(GaussianBlur.kernel2D[35 * 71 + 35], GaussianBlur.kernel1D[35] * GaussianBlur.kernel1D[35])
    }
}

/// A fixed linear map on the last two dimensions of an `(N, C, H, W)` tensor that is separable:
/// `y[n,c] = R · x[n,c] · Cᵀ` with sparse `R` (out H × in H) and `C` (out W × in W).
///
/// It expresses, exactly and differentiably, the few fixed-weight image operators the losses
/// need: PyTorch's bilinear (align_corners=True) and bicubic (align_corners=False) resize, and
/// the 3×3 Sobel cross-correlation with zero padding (both Sobel kernels are outer products).
/// It was the losses' implementation before the engine had `interpolate`/`conv2d`; it is kept
/// here, in the tests only, as an independent reference the ops are checked against.
///
/// Evaluation order follows PyTorch's CPU kernels: each output row first combines the
/// columns (`C`), then the rows are combined (`R`), each sum taken in tap order.
/// The backward rule is the adjoint map `(Rᵀ, Cᵀ)`, itself differentiable (its adjoint is
/// this map), so second derivatives work.
struct SeparableMap {
    /// `rows[i]`: the (source row, weight) taps of output row `i`.
    var rows: [[(index: Int, weight: Double)]]
    var cols: [[(index: Int, weight: Double)]]
    var inHeight: Int
    var inWidth: Int

    var outHeight: Int { rows.count }
    var outWidth: Int { cols.count }

    /// The adjoint (transposed) map.
    var adjoint: SeparableMap {
        func transpose(_ m: [[(index: Int, weight: Double)]], inCount: Int) -> [[(index: Int, weight: Double)]] {
            var t = Array(repeating: [(index: Int, weight: Double)](), count: inCount)
            for (i, taps) in m.enumerated() { for tap in taps { t[tap.index].append((i, tap.weight)) } }
            return t
        }
        return SeparableMap(rows: transpose(rows, inCount: inHeight), cols: transpose(cols, inCount: inWidth),
                            inHeight: outHeight, inWidth: outWidth)
    }

    /// Applies the map to a 4-D tensor whose last two dimensions are `(inHeight, inWidth)`.
    func apply(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[2] == inHeight, x.shape[3] == inWidth else {
            throw TensorError.shapeMismatch(op: "resample", shapes: [x.shape, [-1, -1, inHeight, inWidth]])
        }
        let planes = x.shape[0] * x.shape[1]
        let out: Tensor
        switch x.dtype {
        case .float32: out = try run(x, planes, Float.self)
        case .float64: out = try run(x, planes, Double.self)
        }
        let map = self
        return record("resample", [x], out) { ctx in [try map.adjoint.apply(ctx.grad)] }
    }

    private func run<T: TensorScalar>(_ x: Tensor, _ planes: Int, _: T.Type) throws -> Tensor {
        let src = try x.withUnsafeBufferPointer(as: T.self) { Array($0) }
        let rowTaps = rows.map { $0.map { ($0.index, T($0.weight)) } }
        let colTaps = cols.map { $0.map { ($0.index, T($0.weight)) } }
        let (ih, iw, oh, ow) = (inHeight, inWidth, outHeight, outWidth)
        var dst = [T](repeating: 0, count: planes * oh * ow)
        var tmp = [T](repeating: 0, count: ih * ow)
        for p in 0..<planes {
            let s = p * ih * iw
            for r in 0..<ih {
                for j in 0..<ow {
                    var acc: T = 0
                    for (c, w) in colTaps[j] { acc += w * src[s + r * iw + c] }
                    tmp[r * ow + j] = acc
                }
            }
            let d = p * oh * ow
            for i in 0..<oh {
                for j in 0..<ow {
                    var acc: T = 0
                    for (r, w) in rowTaps[i] { acc += w * tmp[r * ow + j] }
                    dst[d + i * ow + j] = acc
                }
            }
        }
        let shape = [x.shape[0], x.shape[1], oh, ow]
        return T.self == Float.self ? try Tensor(shape: shape, float32: dst as! [Float])
                                    : try Tensor(shape: shape, float64: dst as! [Double])
    }
}

extension SeparableMap {
    /// PyTorch's `interpolate(mode="bilinear", align_corners=True)` from (inH, inW) to (outH, outW).
    /// Source position `i·(in−1)/(out−1)`, weights computed in the tensor's precision as PyTorch does.
    static func bilinearAlignCorners(from inSize: (Int, Int), to outSize: (Int, Int), dtype: DType) -> SeparableMap {
        func axis(_ n: Int, _ m: Int) -> [[(index: Int, weight: Double)]] {
            (0..<m).map { i -> [(index: Int, weight: Double)] in
                switch dtype {
                case .float32:
                    let scale: Float = m > 1 ? Float(n - 1) / Float(m - 1) : 0
                    let real = scale * Float(i)
                    let i0 = min(Int(real), n - 1)
                    let step = i0 < n - 1 ? 1 : 0
                    let l1 = real - Float(i0)
                    return [(i0, Double(1 - l1)), (i0 + step, Double(l1))]
                case .float64:
                    let scale: Double = m > 1 ? Double(n - 1) / Double(m - 1) : 0
                    let real = scale * Double(i)
                    let i0 = min(Int(real), n - 1)
                    let step = i0 < n - 1 ? 1 : 0
                    let l1 = real - Double(i0)
                    return [(i0, 1 - l1), (i0 + step, l1)]
                }
            }
        }
        return SeparableMap(rows: axis(inSize.0, outSize.0), cols: axis(inSize.1, outSize.1),
                            inHeight: inSize.0, inWidth: inSize.1)
    }

    /// PyTorch's `interpolate(mode="bicubic", align_corners=False)`: Keys' cubic with A = −0.75,
    /// source position `(i + 0.5)·in/out − 0.5`, taps at floor−1 … floor+2 clamped to the border.
    static func bicubic(from inSize: (Int, Int), to outSize: (Int, Int), dtype: DType) -> SeparableMap {
        func coefficients<T: BinaryFloatingPoint>(_ t: T) -> [T] {
            let a: T = -0.75
            func near(_ x: T) -> T { ((a + 2) * x - (a + 3)) * x * x + 1 }
            func far(_ x: T) -> T { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
            let u = 1 - t
            return [far(t + 1), near(t), near(u), far(u + 1)]
        }
        func axis(_ n: Int, _ m: Int) -> [[(index: Int, weight: Double)]] {
            (0..<m).map { i -> [(index: Int, weight: Double)] in
                let base: Int
                let ws: [Double]
                switch dtype {
                case .float32:
                    let scale = Float(n) / Float(m)
                    let real = scale * (Float(i) + 0.5) - 0.5
                    let f = real.rounded(.down)
                    base = Int(f)
                    ws = coefficients(real - f).map(Double.init)
                case .float64:
                    let scale = Double(n) / Double(m)
                    let real = scale * (Double(i) + 0.5) - 0.5
                    let f = real.rounded(.down)
                    base = Int(f)
                    ws = coefficients(real - f)
                }
                return (0..<4).map { k in (min(max(base - 1 + k, 0), n - 1), ws[k]) }
            }
        }
        return SeparableMap(rows: axis(inSize.0, outSize.0), cols: axis(inSize.1, outSize.1),
                            inHeight: inSize.0, inWidth: inSize.1)
    }

    /// Cross-correlation with the 3-tap kernels `vertical` (over H) and `horizontal` (over W),
    /// zero padding 1: the separable form of a 3×3 kernel `vertical ⊗ horizontal`.
    static func correlate3(height: Int, width: Int, vertical: [Double], horizontal: [Double]) -> SeparableMap {
        func axis(_ n: Int, _ k: [Double]) -> [[(index: Int, weight: Double)]] {
            (0..<n).map { i in (0..<3).compactMap { t in
                let src = i - 1 + t
                return src >= 0 && src < n && k[t] != 0 ? (src, k[t]) : nil
            } }
        }
        return SeparableMap(rows: axis(height, vertical), cols: axis(width, horizontal), inHeight: height, inWidth: width)
    }
}
