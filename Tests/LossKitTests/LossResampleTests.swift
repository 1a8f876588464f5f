import XCTest
@testable import LossKit

/// The fixed image operators inside the losses: separable resize/Sobel maps and MMagic's
/// Gaussian kernel. (Their values against PyTorch are covered by the loss fixtures.)
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

    /// Bilinear align_corners=True keeps the corners and reproduces linear ramps exactly.
    func testBilinearAlignCornersOnARamp() throws {
        let m = SeparableMap.bilinearAlignCorners(from: (3, 3), to: (5, 4), dtype: .float64)
        let ramp = try Tensor(shape: [1, 1, 3, 3], float64: (0..<9).map { Double($0 / 3) * 10 + Double($0 % 3) })
        let out = try m.apply(ramp).toFloat64()
        for i in 0..<5 { for j in 0..<4 {
            XCTAssertEqual(out[i * 4 + j], Double(i) / 4 * 2 * 10 + Double(j) / 3 * 2, accuracy: 1e-14)
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
