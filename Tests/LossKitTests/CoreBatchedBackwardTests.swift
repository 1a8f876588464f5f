import XCTest
@testable import LossKit

/// The backward scheduler's batching of fused nodes (`grad` + `Tensor.batchedFusedGradients`),
/// the evaluator's scratch-row reuse (`FusedRowPlan`) and the builder's negation rewrites,
/// each against the path without it.
final class CoreBatchedBackwardTests: XCTestCase {

    func make(_ shape: [Int], _ dtype: DType, _ k: Double) throws -> Tensor {
        let n = shape.reduce(1, *)
        return try Tensor(shape: shape, values: (0..<n).map { sin(Double($0) * 0.37 + k) * 1.5 + (k > 5 ? 2 : 0) }, dtype: dtype)
            .requiringGrad()
    }

    /// |error| / (|reference| + mean |reference|): relative, floored where values cancel.
    func assertClose(_ a: Tensor, _ b: Tensor, _ rtol: Double, _ what: String) {
        XCTAssertEqual(a.shape, b.shape, what)
        let x = a.toFloat64(), y = b.toFloat64()
        let floor = y.reduce(0) { $0 + Swift.abs($1) } / Double(max(y.count, 1)) + 1e-300
        let worst = zip(x, y).map { Swift.abs($0 - $1) / (floor + Swift.abs($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, rtol, what)
    }

    /// Three weighted pixel-like sums on shared inputs, a per-sample denominator, a second
    /// consumer of the weight outside the fused nodes, and a fused node of another shape:
    /// batched (one pass per shape) against one pass per node, in float32 and float64, and
    /// bit-identical for 1, 2 and 3 threads.
    func testBatchedGradientsMatchOnePassPerNode() throws {
        let saved = LossKitRuntime.threads
        defer { LossKitRuntime.threads = saved }
        for dtype in [DType.float32, .float64] {
            let p = try make([4, 3, 40, 50], dtype, 0), t = try make([4, 3, 40, 50], dtype, 1)
            let w = try make([4, 1, 40, 50], dtype, 7)
            func loss() throws -> Tensor {
                let den = try w.sum(dims: [1, 2, 3], keepdim: true) * 3 + 1e-12
                let l1 = try Tensor.fusedSum([p, t, w]) { x in (x[0] - x[1]).abs() * x[2] } / (w.sum() * 3 + 1e-12)
                let mse = try Tensor.fusedSum([p, t, w]) { x in (x[0] - x[1]).square() * x[2] } / (w.sum() * 3 + 1e-12)
                let charb = try Tensor.fusedSum([p, t, w, den]) { x in ((x[0] - x[1]).square() + 1e-6).sqrt() * x[2] / x[3] } / 4
                let onWeight = try Tensor.fusedSum([w]) { x in x[0].square() } * 0.01
                return try ((l1 + mse) + charb) + onWeight + (p * t).mean()
            }
            LossKitRuntime.threads = saved
            var perNode = EngineOptions()
            perNode.batchFusedBackward = false
            let reference = try EngineOptions.with(perNode) { try grad(loss(), wrt: [p, t, w]) }
            var bits: [[UInt64]] = []
            for threads in [1, 2, 3] {
                LossKitRuntime.threads = threads
                let g = try grad(loss(), wrt: [p, t, w])
                for (k, name) in ["pred", "target", "weight"].enumerated() {
                    assertClose(g[k], reference[k], dtype == .float32 ? 4e-7 : 1e-15, "\(name) \(dtype) \(threads) threads")
                }
                bits.append(g.flatMap { $0.toFloat64().map(\.bitPattern) })
            }
            XCTAssertEqual(bits[0], bits[1]); XCTAssertEqual(bits[0], bits[2])
        }
    }

    /// Against finite differences (float64), so that batched and unbatched paths cannot share a
    /// mistake: directional derivative of the loss along a fixed direction.
    func testBatchedGradientsMatchFiniteDifferences() throws {
        let p0 = try make([2, 3, 5, 7], .float64, 0), t0 = try make([2, 3, 5, 7], .float64, 1)
        let w0 = try make([2, 1, 5, 7], .float64, 7)
        func loss(_ p: Tensor, _ t: Tensor, _ w: Tensor) throws -> Tensor {
            let a = try Tensor.fusedSum([p, t, w]) { x in (x[0] - x[1]).square() * x[2] } / (w.sum() + 1e-12)
            let b = try Tensor.fusedSum([p, t, w]) { x in ((x[0] - x[1]).square() + 1e-3).sqrt() * x[2] }
            let c = try Tensor.fusedMap([p, w]) { x in x[0].exp() * x[1] }.sum()
            return try a + b * 0.5 + c * 0.1
        }
        let g = try grad(loss(p0, t0, w0), wrt: [p0, t0, w0])
        for (k, x) in [p0, t0, w0].enumerated() {
            let dir = (0..<x.count).map { cos(Double($0) * 1.1) }
            let h = 1e-6
            func shifted(_ s: Double) throws -> [Tensor] {
                var xs = [p0.detach(), t0.detach(), w0.detach()]
                xs[k] = try Tensor(shape: x.shape, values: zip(x.toFloat64(), dir).map { $0 + s * $1 }, dtype: .float64)
                return xs
            }
            let up = try shifted(h), down = try shifted(-h)
            let fd = (try loss(up[0], up[1], up[2]).item() - loss(down[0], down[1], down[2]).item()) / (2 * h)
            let analytic = zip(g[k].toFloat64(), dir).reduce(0) { $0 + $1.0 * $1.1 }
            XCTAssertEqual(analytic, fd, accuracy: 1e-7 * max(1, Swift.abs(fd)), "input \(k)")
        }
    }

    /// With the negation rewrites and CSE, ∂/∂target of losses of (pred − target) is exactly
    /// the negation of ∂/∂pred (one `neg` instruction), as mathematics says.
    func testTargetGradientIsExactlyTheNegatedPredGradient() throws {
        let p = try make([2, 3, 8, 9], .float32, 0), t = try make([2, 3, 8, 9], .float32, 1)
        let w = try make([2, 1, 8, 9], .float32, 7)
        let l = try Tensor.fusedSum([p, t, w]) { x in (x[0] - x[1]).abs() * x[2] }
            + Tensor.fusedSum([p, t, w]) { x in ((x[0] - x[1]).square() + 1e-6).sqrt() * x[2] } * 0.3
        let g = try grad(l, wrt: [p, t])
        XCTAssertEqual(g[1].toFloat32().map(\.bitPattern), g[0].toFloat32().map { (-$0).bitPattern })
    }

    /// A row is never given to two values that are live at the same time (a value lives from
    /// its instruction to its last use; outputs, constants and one-element inputs to the end),
    /// and reuse keeps the rows well below one per instruction.
    func testRowPlanNeverSharesARowBetweenLiveValues() throws {
        let programs: [FusedProgram] = try [
            FusedProgram.build(inputCount: 4) { x in [((x[0] - x[1]).square() + 1e-6).sqrt() * x[2] / x[3]] },
            FusedProgram.build(inputCount: 3) { x in [(x[0] * x[1] + x[2]) / (x[1].square() + 1) - 0.5 * x[0], x[2].exp()] },
        ].flatMap { [$0.pruned(), try $0.gradient(wrt: [0, 1, 2]).pruned()] }
        for program in programs {
            for layouts in [program.inputCountLayouts(.contiguous), program.inputCountLayouts(.scalar)] {
                let plan = FusedRowPlan(program, layouts)
                var last = Array(0..<program.code.count)
                for (i, ins) in program.code.enumerated() {
                    for x in ins.operands { last[x] = max(last[x], i) }
                    if case .constant = ins { last[i] = Int.max }
                    if case .input = ins, case .scalar = layouts[0] { last[i] = Int.max }
                }
                for o in program.outputs { last[o] = Int.max }
                for i in program.code.indices where plan.row[i] >= 0 {
                    for j in program.code.indices where j > i && plan.row[j] == plan.row[i] {
                        // j may take i's row only once i is dead (j == last[i]: in place).
                        XCTAssertLessThanOrEqual(last[i], j, "row \(plan.row[i]) of \(i) reused by \(j) in \(program.code)")
                    }
                }
                XCTAssertLessThan(plan.count, program.code.count)
            }
        }
    }

    /// The negation rewrites give the same values as the plain expression, signed zeros and
    /// the infinities they lead to included (x[0] starts with +0; −x[0] is −0).
    func testNegationRewritesKeepValues() throws {
        let a = try make([1031], .float32, 0), b = try make([1031], .float32, 2)
        let fused = try Tensor.fusedMap([a, b]) { x in ((-x[0]) + (-x[1])) * (-x[1]) / (-x[0]) - (-(-x[1])) + (x[0] + (-x[1])) }
        let plain = try ((-a) + (-b)) * (-b) / (-a) - b + (a - b)
        XCTAssertEqual(fused.toFloat32(), plain.toFloat32())
        XCTAssertEqual(fused.element(at: 0), -.infinity)
        // Tensor negation of +0 is −0 in the SIMD body and in the tail (PyTorch's neg).
        let zeros = try Tensor.zeros(shape: [35])
        XCTAssertEqual((-zeros).toFloat32().map(\.sign), [FloatingPointSign](repeating: .minus, count: 35))
    }
}

extension FusedProgram {
    /// The same layout for every input (test helper).
    func inputCountLayouts(_ l: FusedInputLayout) -> [FusedInputLayout] { Array(repeating: l, count: inputCount) }
}


/// `LossProgram.evaluate` computing the fused sums of its pixel-loss terms in one planned pass
/// (FusedSumPlan), against evaluating each term's sums on its own.
final class PlannedFusedSumTests: XCTestCase {

    func inputs(_ dtype: DType, weight: [Int]) throws -> [String: Tensor] {
        let shape = [3, 2, 9, 11], n = shape.reduce(1, *), nw = weight.reduce(1, *)
        return [
            "pred": try Tensor(shape: shape, values: (0..<n).map { sin(Double($0) * 1.3) }, dtype: dtype),
            "target": try Tensor(shape: shape, values: (0..<n).map { cos(Double($0) * 0.7) }, dtype: dtype),
            "weight": try Tensor(shape: weight, values: (0..<nw).map { Double(($0 * 7) % 5) / 4 }, dtype: dtype),
        ]
    }

    func testPlannedSumsMatchOneTermAtATime() throws {
        let program = try LossProgram(jsonText: """
            {"losses": {"l1_loss": {"type": "L1Loss", "loss_weight": 0.7}, "mse_loss": {"type": "MSELoss"},
                        "charb_loss": {"type": "CharbonnierLoss", "sample_wise": true, "eps": 1e-6},
                        "charb2_loss": {"type": "CharbonnierLoss"}}}
            """)
        for dtype in [DType.float32, .float64] {
            for weight in [[3, 1, 9, 11], [3, 2, 9, 11]] {
                let x = try inputs(dtype, weight: weight)
                var unplanned = EvaluationOptions()
                unplanned.planFusedSums = false
                let reference = try program.evaluate(inputs: x, options: unplanned)
                XCTAssertEqual(reference.plannedSumsServed, 0)
                let planned = try program.evaluate(inputs: x)
                // Each term: its sum of e·w and its weight sum (per sample for sample_wise).
                XCTAssertEqual(planned.plannedSumsServed, 8, "every sum comes from the plan")
                let rtol = dtype == .float32 ? 2e-7 : 1e-15
                for (a, b) in zip(planned.terms, reference.terms) {
                    XCTAssertEqual(a.reported, b.reported, accuracy: rtol * Swift.abs(b.reported), "\(a.name) \(dtype) \(weight)")
                }
                for (owner, grads) in reference.gradients {
                    for (name, g) in grads {
                        let h = try XCTUnwrap(planned.gradients[owner]?[name])
                        let scale = g.toFloat64().map { Swift.abs($0) }.max() ?? 0
                        XCTAssertEqual(h.toFloat64(), g.toFloat64(), accuracy: 4 * rtol * scale, "\(owner)/\(name)")
                    }
                }
            }
        }
    }

    /// sample_wise with a one-channel weight that also broadcasts over N or H: the fused form
    /// (per-sample sums, weight sums scaled by the repeats of the expansion) against MMagic's
    /// tensor form (`MaskedReduction.reduce`: expand, then sum per sample).
    func testSampleWiseWeightBroadcastMatchesTensorForm() throws {
        for weight in [[3, 1, 9, 11], [1, 1, 9, 11], [3, 1, 1, 11], [3, 2, 9, 11]] {
            let x = try inputs(.float64, weight: weight)
            let r = MaskedReduction(reduction: .mean, sampleWise: true)
            let pred = x["pred"]!, target = x["target"]!, w = x["weight"]!
            let fused = try r(pred, target, weight: w, fused: { p, t in (p - t).square() })
            let plain = try r.reduce((pred - target).square(), weight: w)
            XCTAssertEqual(try fused.item(), try plain.item(), accuracy: 1e-14 * Swift.abs(try plain.item()), "weight \(weight)")
        }
    }
}

/// Non-temporal output stores (`streamCopy`, used for fused outputs of 4 MiB and more).
final class StreamingStoreTests: XCTestCase {
    func testStreamCopyAtEveryAlignmentAndLength() {
        let src = (0..<300).map { Float($0) * 1.25 - 7 }
        for offset in 0..<5 {
            for n in [0, 1, 3, 4, 15, 16, 17, 63, 64, 65, 250] {
                var dst = [Float](repeating: .nan, count: 300)
                src.withUnsafeBufferPointer { s in
                    dst.withUnsafeMutableBufferPointer { d in streamCopy(s.baseAddress!, d.baseAddress! + offset, n) }
                }
                storeFence()
                XCTAssertEqual(Array(dst[offset..<(offset + n)]), Array(src[0..<n]), "offset \(offset) n \(n)")
                XCTAssertTrue(dst[..<offset].allSatisfy(\.isNaN) && dst[(offset + n)...].allSatisfy(\.isNaN), "offset \(offset) n \(n)")
            }
        }
        let d64 = (0..<37).map { Double($0) / 3 }
        var out = [Double](repeating: 0, count: 38)
        d64.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { streamCopy(s.baseAddress!, $0.baseAddress! + 1, 37) } }
        XCTAssertEqual(Array(out[1...]), d64)
    }

    /// A fused map and a fused gradient pass large enough to stream, against unfused ops.
    func testLargeFusedOutputsEqualUnfusedOps() throws {
        let n = (5 << 20) / 4 + 77
        let a = try Tensor(shape: [n], values: (0..<n).map { sin(Double($0) * 0.01) }, dtype: .float32).requiringGrad()
        let b = try Tensor(shape: [n], values: (0..<n).map { cos(Double($0) * 0.03) }, dtype: .float32)
        let fused = try Tensor.fusedMap([a, b]) { x in (x[0] - x[1]) * x[0] + 0.5 }
        let plain = try (a - b) * a + 0.5
        XCTAssertEqual(fused.toFloat32(), plain.toFloat32())
        let g = try grad(Tensor.fusedSum([a, b]) { x in (x[0] - x[1]).square() }, wrt: [a])[0]
        XCTAssertEqual(g.toFloat32(), try ((a - b) * 2).toFloat32())
    }
}

/// `grad(of:wrt:)`: several outputs in one sweep, against one `grad` per output.
final class MultiOutputGradTests: XCTestCase {
    func testSeveralOutputsInOneSweepMatchOneGradEach() throws {
        for dtype in [DType.float32, .float64] {
            let p = try Tensor(shape: [2, 3, 6, 7], values: (0..<252).map { sin(Double($0) * 0.9) }, dtype: dtype).requiringGrad()
            let t = try Tensor(shape: [2, 3, 6, 7], values: (0..<252).map { cos(Double($0) * 0.4) }, dtype: dtype).requiringGrad()
            let w = try Tensor(shape: [2, 1, 6, 7], values: (0..<84).map { Double($0 % 5) / 4 }, dtype: dtype).requiringGrad()
            let a = try Tensor.fusedSum([p, t, w]) { x in (x[0] - x[1]).abs() * x[2] } / (Tensor.fusedSum([w]) { $0[0] } * 3 + 1e-12)
            let b = try Tensor.fusedSum([p, t, w], keepingLeading: 1) { x in ((x[0] - x[1]).square() + 1e-6).sqrt() * x[2] }.sum() * 0.25
            let c = try (p * p).mean() + a * 0.1          // reads a: a root inside another root's graph
            let total = try (a + b) + c
            // total twice (one slot each), a root that is an input of others, and a plain op root.
            let roots = [total, a, b, c, total]
            let swept = try grad(of: roots, wrt: [p, t, w])
            for (r, root) in roots.enumerated() {
                let alone = try grad(root, wrt: [p, t, w])
                for k in 0..<3 {
                    let x = swept[r][k].toFloat64(), y = alone[k].toFloat64()
                    let scale = y.map { Swift.abs($0) }.max() ?? 0
                    XCTAssertEqual(x, y, accuracy: (dtype == .float32 ? 4e-7 : 1e-15) * max(scale, 1e-30), "root \(r) input \(k) \(dtype)")
                }
            }
            // An output that does not depend on an input: zeros, as with one grad.
            let only = try grad(of: [(p * 2).sum()], wrt: [t])
            XCTAssertEqual(only[0][0].toFloat64(), [Double](repeating: 0, count: 252))
        }
    }
}

/// The engine's switches are scoped to the thread and the `with` call: nothing leaks into the
/// next test or into an evaluation on another thread.
final class EngineOptionsTests: XCTestCase {
    func testOptionsAreScopedToTheirThreadAndCall() {
        var off = EngineOptions()
        off.batchFusedBackward = false
        off.streamedOutputBytes = 7
        XCTAssertEqual(EngineOptions.current, EngineOptions())
        EngineOptions.with(off) {
            XCTAssertEqual(EngineOptions.current, off)
            let seen = SeenOptions(), done = DispatchSemaphore(value: 0)
            Thread { seen.options = EngineOptions.current; done.signal() }.start()
            done.wait()
            XCTAssertEqual(seen.options, EngineOptions(), "another thread sees the defaults")
            var inner = off
            inner.fusedReduceInPass = false
            EngineOptions.with(inner) { XCTAssertEqual(EngineOptions.current, inner) }
            XCTAssertEqual(EngineOptions.current, off, "restored after a nested call")
        }
        XCTAssertEqual(EngineOptions.current, EngineOptions(), "restored after the call")
    }
}

private final class SeenOptions: @unchecked Sendable { var options: EngineOptions? }
