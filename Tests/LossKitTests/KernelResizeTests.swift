import XCTest
import LossKit

/// interpolate kernels against torch (fixtures/kernels/resize2d.json) and the adjoint identity.
final class KernelResizeTests: XCTestCase {
    func geometry(_ c: [String: Any]) throws -> Resize2dGeometry {
        let mode = try XCTUnwrap(ResizeMode(rawValue: c["mode"] as? String ?? ""))
        let ac = c.bool("align_corners")
        if c["size"] is NSNull {
            let sf = c.doubles("scale_factor")
            return try Resize2dGeometry(input: c.ints("input_shape"), scaleFactor: (sf[0], sf[1]), mode: mode,
                                        alignCorners: ac, recomputeScaleFactor: c.bool("recompute_scale_factor") ?? false)
        }
        return try Resize2dGeometry(input: c.ints("input_shape"), size: c.pair("size"), mode: mode, alignCorners: ac)
    }

    func runFixtures<T: KernelFloat>(_: T.Type) throws {
        var worst = 0.0
        let cases = try KernelFixtures.cases("resize2d.json")
        XCTAssertEqual(cases.count, 20)
        for c in cases {
            let g = try geometry(c)
            XCTAssertEqual(g.outputShape, c.ints("output_shape"), c.name)
            let x = c.doubles("x").map { T($0) }, gy = c.doubles("gy").map { T($0) }
            var y = [T](repeating: .nan, count: gy.count), gx = [T](repeating: .nan, count: x.count)
            resize2dForward(g, input: x, output: &y)
            resize2dBackward(g, gradOutput: gy, gradInput: &gx)
            // Float error sources: a gradient pixel collects `fan` output cells, and each of
            // the `taps` weights is computed from a source coordinate rounded to float32, an
            // error that grows with the coordinate (up to the input size). torch's own float32
            // bicubic_down misses its float64 result by 2.3e-6 (scaled) for the same reason.
            let taps = g.mode == .bicubic ? 16 : g.mode == .bilinear ? 4 : 1
            let fan = (g.outHeight / g.height + 4) * (g.outWidth / g.width + 4)
            let tol = kernelTolerance(T.self, terms: fan + taps * max(g.height, g.width))
            worst = max(worst, assertClose(y, c.doubles("y"), tol: tol, "\(c.name) y \(T.self)"))
            worst = max(worst, assertClose(gx, c.doubles("gx"), tol: tol, "\(c.name) gx \(T.self)"))
        }
        print("interpolate vs torch, \(T.self): worst scaled error \(worst)")
    }

    func testResizeMatchesTorchDouble() throws { try runFixtures(Double.self) }
    func testResizeMatchesTorchFloat() throws { try runFixtures(Float.self) }

    func testResizeAdjointDotProducts() throws {
        let x = kernelRandom(2 * 3 * 9 * 17, seed: 123)
        for mode in ResizeMode.allCases {
            for (size, ac) in [((20, 33), false), ((4, 7), false), ((16, 1), false), ((13, 35), true), ((1, 1), true)] {
                if mode == .nearest && ac { continue }
                let g = try Resize2dGeometry(input: [2, 3, 9, 17], size: size, mode: mode, alignCorners: mode == .nearest ? nil : ac)
                let gy = kernelRandom(g.outputShape.reduce(1, *), seed: 321)
                var y = sized(gy.count, Double.self), gx = sized(x.count, Double.self)
                resize2dForward(g, input: x, output: &y)
                resize2dBackward(g, gradOutput: gy, gradInput: &gx)
                XCTAssertEqual(dot(y, gy), dot(x, gx), accuracy: 1e-12 * Double(y.count), "\(mode) \(size) align=\(ac)")
            }
        }
    }

    func testScaleFactorSizesAndTransform() throws {
        // floor(5·1.7) = 8; the kernel keeps 1/1.7 as the coordinate scale (not 5/8).
        let g = try Resize2dGeometry(input: [1, 1, 5, 6], scaleFactor: (1.7, 1.7), mode: .bilinear)
        XCTAssertEqual(g.outputShape, [1, 1, 8, 10])
        XCTAssertEqual(g.scaleFactorH, 1.7)
        let r = try Resize2dGeometry(input: [1, 1, 5, 6], scaleFactor: (1.7, 1.7), mode: .bilinear, recomputeScaleFactor: true)
        XCTAssertNil(r.scaleFactorH)
        XCTAssertThrowsError(try Resize2dGeometry(input: [1, 1, 5, 6], size: (4, 4), mode: .nearest, alignCorners: false))
        XCTAssertThrowsError(try Resize2dGeometry(input: [1, 1, 5, 6], size: (0, 4), mode: .bilinear))
        XCTAssertThrowsError(try Resize2dGeometry(input: [1, 1, 5, 6], scaleFactor: (0.1, 1), mode: .bilinear))
        XCTAssertThrowsError(try Resize2dGeometry(input: [1, 1, 5, 6], scaleFactor: (.nan, 1), mode: .bicubic))
        XCTAssertThrowsError(try Resize2dGeometry(input: [1, 5, 6], size: (4, 4), mode: .bicubic))
    }
}
