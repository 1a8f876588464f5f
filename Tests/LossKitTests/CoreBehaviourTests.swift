import XCTest
@testable import LossKit

/// Graph bookkeeping, errors on bad user shapes, dtype rules and determinism.
final class CoreBehaviourTests: XCTestCase {
    func t(_ shape: [Int], _ v: [Double], _ dtype: DType = .float64) throws -> Tensor {
        try Tensor(shape: shape, values: v, dtype: dtype)
    }

    func testNoGraphWithoutRequiresGrad() throws {
        let x = try t([3], [1, 2, 3]), y = try t([3], [4, 5, 6])
        let z = try (x * y + 1).exp().sum()
        XCTAssertFalse(z.requiresGrad)
        XCTAssertNil(z.gradFn)
        let xr = x.requiringGrad()
        let w = try (xr * y).sum()
        XCTAssertTrue(w.requiresGrad)
        XCTAssertEqual(w.gradFn?.name, "sum")
        // no_grad blocks recording even with a grad-requiring input
        let n = withNoGrad { xr.exp() }
        XCTAssertFalse(n.requiresGrad)
    }

    func testDetachAndUnreachableInputs() throws {
        let x = try t([2], [1, 2]).requiringGrad(), y = try t([2], [3, 4]).requiringGrad()
        let f = try (x.square() * y.detach()).sum()
        let g = try grad(f, wrt: [x, y])
        XCTAssertEqual(g[0].toFloat64(), [6, 16])
        XCTAssertEqual(g[1].toFloat64(), [0, 0])         // through detach: unreachable
        let u = try t([4], [1, 1, 1, 1]).requiringGrad()    // not used at all
        XCTAssertEqual(try grad(f, wrt: [u])[0].toFloat64(), [0, 0, 0, 0])
        XCTAssertFalse(try grad(f, wrt: [x])[0].requiresGrad)           // createGraph false
        XCTAssertTrue(try grad(f, wrt: [x], createGraph: true)[0].requiresGrad)
    }

    func testGradOfIntermediateAndRepeatedUse() throws {
        let x = try t([2], [1, 3]).requiringGrad()
        let h = x * 2
        let f = try (h * h + h).sum()   // d/dh = 2h + 1; d/dx = 2(2h + 1)
        let g = try grad(f, wrt: [h, x])
        XCTAssertEqual(g[0].toFloat64(), [5, 13])
        XCTAssertEqual(g[1].toFloat64(), [10, 26])
        // gradOutput for a non-scalar output; omitted gradOutput needs one element
        let v = try grad(x.square(), wrt: [x], gradOutput: t([2], [1, -1]))
        XCTAssertEqual(v[0].toFloat64(), [2, -6])
        XCTAssertThrowsError(try grad(x.square(), wrt: [x]))
        XCTAssertThrowsError(try grad(x.square(), wrt: [x], gradOutput: t([3], [1, 1, 1])))
    }

    func testShapeErrorsThrowWithContext() throws {
        let a = try t([2, 3], [1, 2, 3, 4, 5, 6]), b = try t([4], [1, 2, 3, 4])
        XCTAssertThrowsError(try a + b) { e in
            XCTAssertEqual(e as? TensorError, .shapeMismatch(op: "add", shapes: [[2, 3], [4]]))
            XCTAssertEqual("\(e)", "add: incompatible shapes (2,3) and (4,)")
        }
        XCTAssertThrowsError(try a - b)
        XCTAssertThrowsError(try maximum(a, b))
        XCTAssertThrowsError(try Tensor.where(a.gt(0), a, b))
        XCTAssertThrowsError(try a.reshape([4, -1]))
        XCTAssertThrowsError(try a.reshape([-1, -1]))
        XCTAssertThrowsError(try a.expand(to: [3, 3]))
        XCTAssertThrowsError(try a.permute([0, 0]))
        XCTAssertThrowsError(try a.sum(dims: [2]))
        XCTAssertThrowsError(try a.sum(dims: [1, -1]))
        XCTAssertThrowsError(try a.slice(dim: 1, start: 0, end: 2, step: 0))
        XCTAssertThrowsError(try Tensor.concat([a, b], dim: 0))
        XCTAssertThrowsError(try Tensor.concat([], dim: 0))
        XCTAssertThrowsError(try a.chunk(0))
        XCTAssertThrowsError(try a.pad([3, 3], mode: .reflect))
        XCTAssertThrowsError(try a.pad([1, 1, 1, 1, 1, 1]))
        XCTAssertThrowsError(try a.pad([-2, -2]))
        XCTAssertThrowsError(try t([2, 0], []).max(dim: 1))
        XCTAssertThrowsError(try t([2, 0], []).pad([1, 1], mode: .replicate))
        XCTAssertThrowsError(try Tensor(shape: [2, 2], float32: [1, 2, 3]))
        XCTAssertThrowsError(try Tensor(shape: [-1], float32: []))
        XCTAssertThrowsError(try Tensor.zeros(shape: [Int.max, 4]))
        XCTAssertThrowsError(try a.item())
        XCTAssertThrowsError(try a.expand(to: [-1, 3]))
        // Broadcasting two shapes whose product overflows (or exceeds memory) throws.
        let wide = try t([1, 1], [1]).expand(to: [1, 1])
        XCTAssertThrowsError(try wide.expand(to: [1 << 40, 1 << 40]))
        XCTAssertThrowsError(try broadcastShapes([[1 << 40, 1], [1 << 40]], op: "add"))
        XCTAssertThrowsError(try Tensor.full(shape: [1 << 62, 4], value: 1))
    }

    func testDtypeRules() throws {
        let a = try t([2], [1, 2], .float32), b = try t([2], [0.1, 0.2], .float64)
        let c = try a + b
        XCTAssertEqual(c.dtype, .float64)           // promotion, as PyTorch
        XCTAssertEqual((a * 0.1).dtype, .float32)   // a Double scalar takes the tensor's dtype
        XCTAssertEqual((a * 0.1).toFloat32(), [Float(1) * Float(0.1), Float(2) * Float(0.1)])
        let ar = a.requiringGrad()
        let g = try grad((ar * b).sum(), wrt: [ar])[0]
        XCTAssertEqual(g.dtype, .float32)
        XCTAssertEqual(g.toFloat64(), [Double(Float(0.1)), Double(Float(0.2))])
    }

    func testSliceSemantics() throws {
        let x = try t([10], (0..<10).map(Double.init))
        XCTAssertEqual(try x.slice(dim: 0, start: -3).toFloat64(), [7, 8, 9])
        XCTAssertEqual(try x.slice(dim: 0, start: -100, end: 3).toFloat64(), [0, 1, 2])
        XCTAssertEqual(try x.slice(dim: 0, start: 2, end: 100, step: 3).toFloat64(), [2, 5, 8])
        XCTAssertEqual(try x.slice(dim: 0, start: 5, end: 2).shape, [0])
        XCTAssertEqual(try x.slice(dim: 0, end: -8).toFloat64(), [0, 1])
        XCTAssertEqual(try x.chunk(4).map(\.count), [3, 3, 3, 1])
    }

    /// The same inputs give bit-identical results with 1, 2 and 3 threads (sizes large enough
    /// to run in parallel, lengths not multiples of any chunk).
    func testDeterministicAcrossThreadCounts() throws {
        let saved = LossKitRuntime.threads
        defer { LossKitRuntime.threads = saved }
        let n = 1_000_003
        var s: UInt64 = 7
        let vals: [Double] = (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Double(Int64(bitPattern: s >> 11) % 2_000_001) / 1e5 - 10
        }
        var results: [[[Double]]] = []
        for threads in [1, 2, 3] {
            LossKitRuntime.threads = threads
            var r: [[Double]] = []
            for dtype in [DType.float32, .float64] {
                let x = try Tensor(shape: [n], values: vals, dtype: dtype)
                r.append(x.sum().toFloat64())
                r.append(try x.slice(dim: 0, end: 999_919).reshape([1009, 991]).sum(dims: [0]).toFloat64())
                r.append(try x.slice(dim: 0, end: 999_919).reshape([1009, 991]).sum(dims: [1]).toFloat64())
                r.append(try x.slice(dim: 0, end: 7 * 1009 * 141).reshape([7, 1009, 141]).sum(dims: [1]).toFloat64())
                r.append(try (x.sqrt() * 2 + x).abs().mean().toFloat64())
            }
            results.append(r)
        }
        for r in results.dropFirst() {
            for (a, b) in zip(r, results[0]) {
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
            }
        }
    }

    /// Float64 accumulation: a float32 sum that PyTorch-style float32 accumulation would get wrong.
    func testFloat32SumAccumulatesInDouble() throws {
        let n = 2_000_001
        let x = try Tensor.full(shape: [n], value: 0.1, dtype: .float32)
        let exact = Double(Float(0.1)) * Double(n)
        XCTAssertEqual(try x.sum().item(), Double(Float(exact)))
        XCTAssertEqual(try x.mean().item(), Double(Float(0.1)), accuracy: 1e-9)
    }
}
