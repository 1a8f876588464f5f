import Foundation
import XCTest
@testable import LossKit

/// Every core op against PyTorch: value, first-order vector-Jacobian product with a random
/// gradOutput, and (float64) the second-order product, from fixtures/ops/*.json.
final class CoreOpFixtureTests: XCTestCase {
    /// float32: PyTorch's kernels and ours may each be off by a few ulps (libm vs SLEEF
    /// transcendental functions, float32 vs float64 accumulation in sums), so 8 ulps relative
    /// plus an absolute floor for values that cancel to near zero.
    static let f32 = Closeness(atol: 1e-6, rtol: 8 * 1.2e-7)
    /// float64: the same argument with double ulps.
    static let f64 = Closeness(atol: 1e-13, rtol: 8 * 2.3e-16)

    func run(_ file: String) throws {
        let cases = try OpFixtures.cases(file)
        XCTAssertGreaterThan(cases.count, 10, "fixture \(file) missing or empty")
        var worst: [String: (Double, String)] = [:]
        var failures: [String] = []
        for c in cases {
            let name = c["name"] as! String, op = c["op"] as! String
            let dtype = DType(rawValue: c["dtype"] as! String)!
            let tol = dtype == .float32 ? Self.f32 : Self.f64
            let params = c["params"] as? [String: Any] ?? [:]
            let inSpecs = c["inputs"] as! [[String: Any]]
            let xs = try inSpecs.map { spec -> Tensor in
                let t = try OpFixtures.tensor(OpFixtures.array(spec)!, dtype)
                return (spec["grad"] as? Bool ?? false) ? t.requiringGrad() : t
            }
            let label = "\(name) [\(dtype)]"
            func check(_ what: String, _ actual: Tensor?, _ expected: OpFixtures.Array_?) {
                guard let expected else { return }
                guard let actual else { failures.append("\(label) \(what): missing"); return }
                guard actual.shape == expected.shape else {
                    failures.append("\(label) \(what): shape \(actual.shape) vs \(expected.shape)"); return
                }
                let r = tol.ratio(actual.toFloat64(), expected.data)
                if r > 1 { failures.append("\(label) \(what): error ratio \(r)") }
                let key = "\(what) \(dtype)"
                if r > (worst[key]?.0 ?? -1) { worst[key] = (r, label) }
            }
            let (outs, indices) = try OpFixtures.apply(op, xs, params)
            // Float32 reductions: the float64 result (LossKit accumulates in float64, PyTorch in float32).
            let expectedOuts = ((c["outputs_exact"] ?? c["outputs"]) as! [Any]).map { OpFixtures.array($0)! }
            guard outs.count == expectedOuts.count else { failures.append("\(label): \(outs.count) outputs vs \(expectedOuts.count)"); continue }
            for (o, e) in zip(outs, expectedOuts) { check("value", o, e) }
            if let ei = c["indices"] as? [Int], ei != indices { failures.append("\(label): indices \(indices ?? []) vs \(ei)") }

            guard let gradSpecs = c["grads"] as? [Any] else { continue }
            let gouts = try (c["gout"] as! [Any]).map { try OpFixtures.tensor(OpFixtures.array($0)!, dtype) }
            let wantSecond = c["second"] as? [String: Any]
            // One scalar objective covering every output: Σ_k <out_k, gout_k>.
            var objective = Tensor.scalar(0, dtype: dtype)
            for (o, g) in zip(outs, gouts) { objective = try objective + (o * g).sum() }
            let diffIdx = xs.indices.filter { xs[$0].requiresGrad }
            let gs = try grad(objective, wrt: diffIdx.map { xs[$0] }, createGraph: wantSecond != nil)
            for (k, i) in diffIdx.enumerated() { check("grad", gs[k], OpFixtures.array(gradSpecs[i])) }

            guard let second = wantSecond else { continue }
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

    func testUnaryOps() throws { try run("unary.json") }
    func testActivationOps() throws { try run("activations.json") }
    func testBinaryOps() throws { try run("binary.json") }
    func testReductions() throws { try run("reduce.json") }
    func testShapeOps() throws { try run("shape.json") }
}
