import Foundation
import XCTest
@testable import LossKit

/// The differentiable image and matrix ops (conv2d, pooling, interpolate, matmul/bmm/mm)
/// against PyTorch (fixtures/ops/image.json, linalg.json from scripts/gen_op_fixtures.py):
/// values, vector-Jacobian products and, in float64 for the bilinear ops, PyTorch's
/// second-order products. Second order of every op is also checked against central
/// differences of the gradient (Hessian-vector products) in `CoreImageOpSecondOrderTests`.
final class CoreImageOpFixtureTests: XCTestCase {
    /// Runs fixture op `op` (the generator's names) on LossKit.
    static func apply(_ op: String, _ xs: [Tensor], _ p: [String: Any]) throws -> (outputs: [Tensor], indices: [Int]?) {
        func pair(_ k: String) -> (Int, Int)? {
            guard let v = p[k] as? [Int], v.count == 2 else { return nil }
            return (v[0], v[1])
        }
        func dpair(_ k: String) -> (Double, Double)? {
            guard let v = p[k] as? [Double], v.count == 2 else { return nil }
            return (v[0], v[1])
        }
        let x = xs[0]
        switch op {
        case "conv2d":
            return ([try conv2d(x, xs[1], bias: xs.count > 2 ? xs[2] : nil, stride: pair("stride")!,
                                padding: pair("padding")!, dilation: pair("dilation")!, groups: p["groups"] as! Int)], nil)
        case "avg_pool2d":
            return ([try avgPool2d(x, kernel: pair("kernel")!, stride: pair("stride"), padding: pair("padding")!,
                                   ceilMode: p["ceil_mode"] as! Bool, countIncludePad: p["count_include_pad"] as! Bool,
                                   divisorOverride: p["divisor_override"] as? Int)], nil)
        case "max_pool2d":
            let r = try maxPool2dWithIndices(x, kernel: pair("kernel")!, stride: pair("stride"), padding: pair("padding")!,
                                             dilation: pair("dilation")!, ceilMode: p["ceil_mode"] as! Bool)
            return ([r.values], r.indices)
        case "adaptive_avg_pool2d":
            return ([try adaptiveAvgPool2d(x, outputSize: pair("size")!)], nil)
        case "interpolate":
            let mode = ResizeMode(rawValue: p["mode"] as! String)!
            return ([try interpolate(x, size: pair("size"), scaleFactor: dpair("scale_factor"), mode: mode,
                                     alignCorners: p["align_corners"] as? Bool)], nil)
        case "matmul": return ([try matmul(xs[0], xs[1])], nil)
        case "bmm": return ([try bmm(xs[0], xs[1])], nil)
        case "mm": return ([try mm(xs[0], xs[1])], nil)
        default: throw TensorError.invalidArgument(op: op, message: "no such fixture op")
        }
    }

    /// |actual − expected| ≤ tol·(1 + |expected|) with tol = terms·ε for float32 (a float32 sum
    /// of n products carries about n·u·Σ|products| of rounding, in either implementation, and
    /// the inputs are in [−1, 1)) and 1e-12 for float64.
    func run(_ file: String) throws {
        let cases = try OpFixtures.cases(file)
        XCTAssertGreaterThan(cases.count, 10, "fixture \(file) missing or empty")
        var failures: [String] = []
        var worst: [String: (Double, String)] = [:]
        for c in cases {
            let name = c["name"] as! String, op = c["op"] as! String
            let dtype = DType(rawValue: c["dtype"] as! String)!
            let terms = max(c["terms"] as? Int ?? 16, 16)
            let tol = dtype == .float32 ? Double(terms) * Double(Float.ulpOfOne) : 1e-12
            let params = c["params"] as? [String: Any] ?? [:]
            let xs = try (c["inputs"] as! [[String: Any]]).map { spec -> Tensor in
                let t = try OpFixtures.tensor(OpFixtures.array(spec)!, dtype)
                return (spec["grad"] as? Bool ?? false) ? t.requiringGrad() : t
            }
            let label = "\(name) [\(dtype)]"
            func check(_ what: String, _ actual: Tensor, _ expected: OpFixtures.Array_?) {
                guard let expected else { return }
                guard actual.shape == expected.shape else {
                    failures.append("\(label) \(what): shape \(actual.shape) vs \(expected.shape)"); return
                }
                XCTAssertEqual(actual.dtype, dtype, label)
                var e = 0.0
                for (a, b) in zip(actual.toFloat64(), expected.data) {
                    let d = Swift.abs(a - b) / (1 + Swift.abs(b))
                    if !(d <= e) { e = d }
                }
                if !(e <= tol) { failures.append("\(label) \(what): scaled error \(e) > \(tol)") }
                let key = "\(what) \(dtype)"
                if e / tol > (worst[key]?.0 ?? -1) { worst[key] = (e / tol, label) }
            }
            let (outs, indices) = try Self.apply(op, xs, params)
            let expectedOuts = (c["outputs"] as! [Any]).map { OpFixtures.array($0)! }
            for (o, e) in zip(outs, expectedOuts) { check("value", o, e) }
            if let ei = c["indices"] as? [Int], ei != indices { failures.append("\(label): indices \(indices ?? []) vs \(ei)") }

            guard let gradSpecs = c["grads"] as? [Any] else { continue }
            let gouts = try (c["gout"] as! [Any]).map { try OpFixtures.tensor(OpFixtures.array($0)!, dtype) }
            let second = c["second"] as? [String: Any]
            var objective = Tensor.scalar(0, dtype: dtype)
            for (o, g) in zip(outs, gouts) { objective = try objective + (o * g).sum() }
            let diffIdx = xs.indices.filter { xs[$0].requiresGrad }
            let gs = try grad(objective, wrt: diffIdx.map { xs[$0] }, createGraph: second != nil)
            for (k, i) in diffIdx.enumerated() { check("grad", gs[k], OpFixtures.array(gradSpecs[i])) }

            guard let second else { continue }
            let ws = second["w"] as! [Any], hs = second["grads"] as! [Any]
            var s = Tensor.scalar(0, dtype: dtype)
            for (k, i) in diffIdx.enumerated() {
                s = try s + (gs[k] * OpFixtures.tensor(OpFixtures.array(ws[i])!, dtype)).sum()
            }
            let h = try grad(s, wrt: diffIdx.map { xs[$0] })
            for (k, i) in diffIdx.enumerated() { check("second", h[k], OpFixtures.array(hs[i])) }
        }
        for (k, v) in worst.sorted(by: { $0.key < $1.key }) {
            print("\(file) worst \(k): \(String(format: "%.3g", v.0)) of tolerance (\(v.1))")
        }
        XCTAssert(failures.isEmpty, "\(failures.count) mismatches:\n" + failures.prefix(40).joined(separator: "\n"))
    }

    func testImageOpsMatchTorch() throws { try run("image.json") }
    func testMatrixOpsMatchTorch() throws { try run("linalg.json") }

    func testShapeErrorsNameTheOpAndShapes() throws {
        let x = try Tensor.zeros(shape: [1, 3, 8, 8])
        func expectError(_ op: String, _ fragments: [String], _ body: () throws -> Tensor,
                         file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try body(), file: file, line: line) { e in
                guard case let .invalidArgument(o, message)? = e as? TensorError else {
                    if case let .shapeMismatch(o, _)? = e as? TensorError, o.hasPrefix(op) { return }
                    return XCTFail("\(e) is not an invalidArgument TensorError", file: file, line: line)
                }
                XCTAssertEqual(o, op, file: file, line: line)
                for f in fragments { XCTAssert(message.contains(f), "\(message) lacks \(f)", file: file, line: line) }
            }
        }
        expectError("conv2d", ["(1,3,8,8)", "(4,2,3,3)"]) { try conv2d(x, Tensor.zeros(shape: [4, 2, 3, 3])) }
        expectError("conv2d", ["(1,3,8,8)", "groups"]) { try conv2d(x, Tensor.zeros(shape: [4, 1, 3, 3]), groups: 2) }
        expectError("conv2d", ["stride", "(1,3,8,8)"]) { try conv2d(x, Tensor.zeros(shape: [4, 3, 3, 3]), stride: (0, 1)) }
        expectError("conv2d", ["(1,3,8,8)", "(4,3,9,9)"]) { try conv2d(x, Tensor.zeros(shape: [4, 3, 9, 9])) }
        expectError("conv2d", ["bias", "(5,)"]) { try conv2d(x, Tensor.zeros(shape: [4, 3, 3, 3]), bias: Tensor.zeros(shape: [5])) }
        expectError("conv2d", ["float64"]) { try conv2d(x, Tensor.zeros(shape: [4, 3, 3, 3], dtype: .float64)) }
        expectError("conv2d", ["4-D", "(3,8,8)"]) { try conv2d(Tensor.zeros(shape: [3, 8, 8]), Tensor.zeros(shape: [4, 3, 3, 3])) }
        expectError("avg_pool2d", ["pad", "(1,3,8,8)"]) { try avgPool2d(x, kernel: (2, 2), padding: (2, 2)) }
        expectError("avg_pool2d", ["divisor"]) { try avgPool2d(x, kernel: (2, 2), divisorOverride: 0) }
        expectError("max_pool2d", ["too small", "(1,3,8,8)"]) { try maxPool2d(x, kernel: (9, 9), padding: (0, 0)) }
        expectError("adaptive_avg_pool2d", ["(1,3,8,8)"]) { try adaptiveAvgPool2d(x, outputSize: (-1, 2)) }
        expectError("interpolate", ["exactly one"]) { try interpolate(x, mode: .bilinear) }
        expectError("interpolate", ["exactly one"]) { try interpolate(x, size: (2, 2), scaleFactor: (2, 2)) }
        expectError("interpolate", ["align_corners"]) { try interpolate(x, size: (2, 2), mode: .nearest, alignCorners: true) }
        expectError("interpolate", ["(1,3,8,8)"]) { try interpolate(x, size: (0, 2), mode: .bilinear) }
        expectError("interpolate", ["scale"]) { try interpolate(x, scaleFactor: (.nan, 1), mode: .bilinear) }
        let a = try Tensor.zeros(shape: [2, 3, 4]), b = try Tensor.zeros(shape: [3, 5, 6])
        expectError("bmm", ["(2,3,4)", "(3,5,6)"]) { try bmm(a, b) }
        expectError("mm", ["(2,3)", "(4,5)"]) { try mm(Tensor.zeros(shape: [2, 3]), Tensor.zeros(shape: [4, 5])) }
        expectError("matmul", ["(2,3,4)", "(3,5,6)"]) { try matmul(a, b) }
        expectError("matmul", ["(2,3,4)", "(3,4,6)"]) { try matmul(a, Tensor.zeros(shape: [3, 4, 6])) }
        expectError("matmul", ["at least 1"]) { try matmul(Tensor.scalar(1), a) }
    }
}

/// grad(grad(...)) of every op against central differences of its gradient, in float64:
/// for f(θ) with gradient ∇f, the Hessian-vector product H·v computed by differentiating
/// ⟨∇f(θ), v⟩ (createGraph) must match (∇f(θ + εv) − ∇f(θ − εv)) / 2ε.
final class CoreImageOpSecondOrderTests: XCTestCase {
    func random(_ shape: [Int], seed: UInt64) throws -> Tensor {
        try Tensor(shape: shape, float64: kernelRandom(shape.reduce(1, *), seed: seed))
    }

    /// `f` takes the list of inputs; every input is differentiated. Returns the largest
    /// scaled error. The objectives below are polynomials of degree ≤ 4 in θ, so the central
    /// difference has error ε²·|∇⁴f|/6: with ε = 1e-4 that is ~1e-8 relative.
    func checkHessianVectorProduct(_ name: String, _ inputs: [Tensor], tol: Double = 1e-6,
                                   _ f: ([Tensor]) throws -> Tensor) throws {
        let xs = inputs.map { $0.requiringGrad() }
        let vs = try inputs.enumerated().map { try random($0.element.shape, seed: 1000 + UInt64($0.offset)) }
        let g = try grad(f(xs), wrt: xs, createGraph: true)
        var s = Tensor.scalar(0, dtype: .float64)
        for (gi, vi) in zip(g, vs) { s = try s + (gi * vi).sum() }
        let hv = try grad(s, wrt: xs)
        let eps = 1e-4
        func gradAt(_ sign: Double) throws -> [Tensor] {
            let shifted = try zip(inputs, vs).map { try ($0 + $1 * (sign * eps)).detach().requiringGrad() }
            return try grad(f(shifted), wrt: shifted)
        }
        let plus = try gradAt(1), minus = try gradAt(-1)
        var worst = 0.0
        for i in inputs.indices {
            let fd = zip(plus[i].toFloat64(), minus[i].toFloat64()).map { ($0 - $1) / (2 * eps) }
            let an = hv[i].toFloat64()
            let scale = max(1, fd.map(Swift.abs).max() ?? 0)
            for (a, b) in zip(an, fd) { worst = max(worst, Swift.abs(a - b) / scale) }
            XCTAssertGreaterThan(an.map(Swift.abs).max() ?? 0, 1e-3, "\(name): Hessian-vector product of input \(i) is zero; the test would not see a missing rule")
        }
        print("Hessian-vector product \(name): worst scaled error \(String(format: "%.2g", worst)) (tolerance \(tol))")
        XCTAssertLessThanOrEqual(worst, tol, name)
    }

    /// A non-linear scalar of an op's output: Σ c·y² + Σ d·y³ with fixed random c, d.
    func objective(_ y: Tensor, seed: UInt64) throws -> Tensor {
        let c = try random(y.shape, seed: seed), d = try random(y.shape, seed: seed + 1)
        return try (c * y.square() + d * y.square() * y).sum()
    }

    func testConv2dSecondOrder() throws {
        for (name, xs, ws, bias, st, pd, dl, gr) in [
            ("basic", [2, 3, 6, 5], [4, 3, 3, 3], true, (1, 1), (1, 1), (1, 1), 1),
            ("stride_dil_groups", [1, 4, 9, 8], [6, 2, 3, 2], true, (2, 2), (1, 2), (2, 1), 2),
            ("depthwise", [1, 3, 7, 7], [3, 1, 5, 5], false, (1, 1), (2, 2), (1, 1), 3),
            ("stride_tail", [2, 2, 8, 8], [3, 2, 3, 3], false, (2, 3), (0, 0), (1, 1), 1)] {
            var inputs = [try random(xs, seed: 1), try random(ws, seed: 2)]
            if bias { inputs.append(try random([ws[0]], seed: 3)) }
            try checkHessianVectorProduct("conv2d \(name)", inputs) { t in
                try objective(conv2d(t[0], t[1], bias: t.count > 2 ? t[2] : nil, stride: st, padding: pd,
                                     dilation: dl, groups: gr), seed: 7)
            }
        }
        // Third order through the adjoint ops: differentiate a gradient-penalty-like quantity.
        let x = try random([1, 2, 5, 5], seed: 4), w = try random([3, 2, 3, 3], seed: 5)
        try checkHessianVectorProduct("conv2d gradient penalty", [x, w]) { t in
            let y = try conv2d(t[0], t[1], padding: (1, 1))
            let gx = try grad(objective(y, seed: 9), wrt: [t[0]], createGraph: true)[0]
            return gx.square().sum()
        }
    }

    func testPoolingSecondOrder() throws {
        let x = try random([2, 2, 9, 8], seed: 11)
        try checkHessianVectorProduct("avg_pool2d", [x]) { t in
            try objective(avgPool2d(t[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true, countIncludePad: false), seed: 12)
        }
        try checkHessianVectorProduct("max_pool2d", [x]) { t in
            try objective(maxPool2d(t[0], kernel: (3, 2), stride: (2, 1), padding: (1, 0), dilation: (2, 1), ceilMode: true), seed: 13)
        }
        try checkHessianVectorProduct("adaptive_avg_pool2d", [x]) { t in
            try objective(adaptiveAvgPool2d(t[0], outputSize: (4, 5)), seed: 14)
        }
        // Through the adjoints themselves (their rules are the forward ops).
        try checkHessianVectorProduct("avg_pool2d gradient penalty", [x]) { t in
            let gx = try grad(objective(avgPool2d(t[0], kernel: (2, 2)), seed: 15), wrt: [t[0]], createGraph: true)[0]
            return try (gx.square() * gx).sum()
        }
        try checkHessianVectorProduct("max_pool2d gradient penalty", [x]) { t in
            let gx = try grad(objective(maxPool2d(t[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1)), seed: 16), wrt: [t[0]], createGraph: true)[0]
            return try (gx.square() * gx).sum()
        }
    }

    func testInterpolateSecondOrder() throws {
        let x = try random([1, 2, 4, 5], seed: 21)
        for (mode, ac, size) in [(ResizeMode.nearest, nil as Bool?, (7, 9)), (.bilinear, true, (7, 9)), (.bilinear, false, (3, 3)),
                                 (.bicubic, false, (8, 10)), (.bicubic, true, (6, 4))] {
            try checkHessianVectorProduct("interpolate \(mode) \(String(describing: ac))", [x]) { t in
                try objective(interpolate(t[0], size: size, mode: mode, alignCorners: ac), seed: 22)
            }
            try checkHessianVectorProduct("interpolate \(mode) gradient penalty", [x]) { t in
                let gx = try grad(objective(interpolate(t[0], size: size, mode: mode, alignCorners: ac), seed: 23),
                                  wrt: [t[0]], createGraph: true)[0]
                return try (gx.square() * gx).sum()
            }
        }
    }

    func testMatrixProductsSecondOrder() throws {
        for (sa, sb) in [([3, 5], [5, 4]), ([2, 1, 3, 5], [4, 5, 2]), ([5], [5, 4]), ([2, 3, 5], [5])] {
            try checkHessianVectorProduct("matmul \(sa) \(sb)", [random(sa, seed: 31), random(sb, seed: 32)]) { t in
                try objective(matmul(t[0], t[1]), seed: 33)
            }
        }
        try checkHessianVectorProduct("bmm", [random([3, 4, 5], seed: 34), random([3, 5, 2], seed: 35)]) { t in
            try objective(bmm(t[0], t[1]), seed: 36)
        }
        // The transposed-operand products appear in the backward rules; differentiate through them.
        try checkHessianVectorProduct("mm gradient penalty", [random([4, 6], seed: 37), random([6, 3], seed: 38)]) { t in
            let g = try grad(objective(mm(t[0], t[1]), seed: 39), wrt: [t[0], t[1]], createGraph: true)
            return try (g[0].square().sum() + g[1].square().sum())
        }
    }
}

/// Empty extents PyTorch accepts give empty (or zero) results and gradients, never a trap.
final class CoreImageOpEmptyTests: XCTestCase {
    func testEmptyBatchesAndChannels() throws {
        for dtype in [DType.float32, .float64] {
            let x = try Tensor.zeros(shape: [0, 2, 5, 5], dtype: dtype).requiringGrad()
            let w = try Tensor.ones(shape: [3, 2, 3, 3], dtype: dtype).requiringGrad()
            let outs: [Tensor] = [
                try conv2d(x, w, padding: (1, 1)),
                try avgPool2d(x, kernel: (2, 2)),
                try maxPool2d(x, kernel: (2, 2)),
                try adaptiveAvgPool2d(x, outputSize: (2, 3)),
                try interpolate(x, size: (7, 3), mode: .bicubic),
            ]
            for o in outs {
                XCTAssertEqual(o.count, 0)
                let g = try grad(o.sum(), wrt: [x, w], createGraph: true)
                XCTAssertEqual(g[0].shape, x.shape)
                XCTAssertEqual(g[1].toFloat64(), [Double](repeating: 0, count: w.count))
            }
            // No output channels: the input gradient is zero.
            let x1 = try Tensor.ones(shape: [1, 2, 4, 4], dtype: dtype).requiringGrad()
            let y = try conv2d(x1, Tensor.zeros(shape: [0, 2, 3, 3], dtype: dtype))
            XCTAssertEqual(y.shape, [1, 0, 2, 2])
            XCTAssertEqual(try grad(y.sum(), wrt: [x1])[0].toFloat64(), [Double](repeating: 0, count: 32))
            // Empty inner dimension: zeros, as torch.matmul.
            let a = try Tensor.ones(shape: [2, 3, 0], dtype: dtype).requiringGrad()
            let b = try Tensor.ones(shape: [0, 4], dtype: dtype).requiringGrad()
            let p = try matmul(a, b)
            XCTAssertEqual(p.shape, [2, 3, 4])
            XCTAssertEqual(p.toFloat64(), [Double](repeating: 0, count: 24))
            let gp = try grad(p.sum(), wrt: [a, b])
            XCTAssertEqual(gp[0].shape, a.shape)
            XCTAssertEqual(gp[1].shape, b.shape)
            XCTAssertEqual(try matmul(Tensor.ones(shape: [0, 3], dtype: dtype), Tensor.ones(shape: [3, 2], dtype: dtype)).shape, [0, 2])
        }
    }
}
