import XCTest
@testable import LossKit

/// Finite-difference checks in float64 for every op: first order (the gradient of ⟨f(x), v⟩
/// against central differences) and second order (a Hessian-vector product against central
/// differences of gradients).
final class CoreGradCheckTests: XCTestCase {
    struct Rng {
        var state: UInt64
        mutating func next() -> Double {   // uniform in [0, 1), splitmix64
            state &+= 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        mutating func array(_ n: Int, _ lo: Double, _ hi: Double) -> [Double] { (0..<n).map { _ in lo + (hi - lo) * next() } }
    }

    /// ⟨f(xs), v⟩ summed over all outputs.
    func objective(_ f: ([Tensor]) throws -> [Tensor], _ xs: [Tensor], _ vs: [Tensor]) throws -> Tensor {
        var s = Tensor.scalar(0, dtype: .float64)
        for (o, v) in zip(try f(xs), vs) { s = try s + (o * v).sum() }
        return s
    }

    func shifted(_ xs: [[Double]], _ shapes: [[Int]], by d: [[Double]], _ h: Double) throws -> [Tensor] {
        try zip(zip(xs, d), shapes).map { pair, s in
            try Tensor(shape: s, float64: zip(pair.0, pair.1).map { $0 + h * $1 }).requiringGrad()
        }
    }

    /// Checks f at inputs drawn uniformly from `domain`.
    func check(_ name: String, shapes: [[Int]], domain: (Double, Double) = (-2, 2), secondOrder: Bool = true,
               seed: UInt64 = 1, file: StaticString = #filePath, line: UInt = #line,
               _ f: @escaping ([Tensor]) throws -> [Tensor]) throws {
        var rng = Rng(state: seed)
        let values = shapes.map { rng.array($0.reduce(1, *), domain.0, domain.1) }
        let xs = try zip(values, shapes).map { try Tensor(shape: $1, float64: $0).requiringGrad() }
        let outs = try f(xs)
        let vs = try outs.map { try Tensor(shape: $0.shape, float64: rng.array($0.count, -1, 1)) }
        let grads = try grad(objective(f, xs, vs), wrt: xs, createGraph: secondOrder)

        // First order: one central difference per input element.
        let h = 1e-6
        var worst1 = 0.0
        for (k, x) in values.enumerated() {
            let g = grads[k].toFloat64()
            for i in x.indices {
                var plus = values, minus = values
                plus[k][i] += h; minus[k][i] -= h
                let lp = try objective(f, zip(plus, shapes).map { try Tensor(shape: $1, float64: $0).requiringGrad() }, vs).item()
                let lm = try objective(f, zip(minus, shapes).map { try Tensor(shape: $1, float64: $0).requiringGrad() }, vs).item()
                let numeric = (lp - lm) / (2 * h)
                let err = Swift.abs(numeric - g[i]) / (1e-6 + 1e-6 * Swift.abs(numeric))
                worst1 = Swift.max(worst1, err)
                if err > 1 { XCTFail("\(name): d/dx\(k)[\(i)] analytic \(g[i]) vs numeric \(numeric)", file: file, line: line); return }
            }
        }
        guard secondOrder else { print("gradcheck \(name): first \(String(format: "%.2g", worst1))"); return }

        // Second order: H·u = ∂/∂x ⟨∇L(x), u⟩ against (∇L(x + h·u) − ∇L(x − h·u)) / 2h.
        let us = shapes.map { rng.array($0.reduce(1, *), -1, 1) }
        var inner = Tensor.scalar(0, dtype: .float64)
        for (g, (u, s)) in zip(grads, zip(us, shapes)) { inner = try inner + (g * Tensor(shape: s, float64: u)).sum() }
        let hvp = try grad(inner, wrt: xs)
        let h2 = 1e-5
        let xp = try shifted(values, shapes, by: us, h2), xm = try shifted(values, shapes, by: us, -h2)
        let gp = try grad(objective(f, xp, vs), wrt: xp), gm = try grad(objective(f, xm, vs), wrt: xm)
        var worst2 = 0.0
        for k in shapes.indices {
            let a = hvp[k].toFloat64(), p = gp[k].toFloat64(), m = gm[k].toFloat64()
            for i in a.indices {
                let numeric = (p[i] - m[i]) / (2 * h2)
                let err = Swift.abs(numeric - a[i]) / (1e-5 + 1e-5 * Swift.abs(numeric))
                worst2 = Swift.max(worst2, err)
                if err > 1 { XCTFail("\(name): (H·u)\(k)[\(i)] analytic \(a[i]) vs numeric \(numeric)", file: file, line: line); return }
            }
        }
        print("gradcheck \(name): first \(String(format: "%.2g", worst1)), second \(String(format: "%.2g", worst2)) of tolerance")
    }

    func testUnary() throws {
        try check("neg", shapes: [[17]]) { [-$0[0]] }
        try check("abs", shapes: [[17]], domain: (0.1, 2)) { [$0[0].abs()] }
        try check("abs-neg", shapes: [[9]], domain: (-2, -0.1)) { [$0[0].abs()] }
        try check("sqrt", shapes: [[17]], domain: (0.2, 3)) { [$0[0].sqrt()] }
        try check("square", shapes: [[17]]) { [$0[0].square()] }
        try check("exp", shapes: [[17]]) { [$0[0].exp()] }
        try check("log", shapes: [[17]], domain: (0.2, 3)) { [$0[0].log()] }
        try check("log1p", shapes: [[17]], domain: (-0.7, 3)) { [$0[0].log1p()] }
        try check("sigmoid", shapes: [[17]], domain: (-6, 6)) { [$0[0].sigmoid()] }
        try check("softplus", shapes: [[17]], domain: (-6, 6)) { [$0[0].softplus()] }
        try check("softplus-linear", shapes: [[5]], domain: (21, 30)) { [$0[0].softplus()] }
        try check("tanh", shapes: [[17]]) { [$0[0].tanh()] }
        try check("quickGelu", shapes: [[17]], domain: (-4, 4)) { [$0[0].quickGelu()] }
        try check("relu+", shapes: [[9]], domain: (0.1, 2)) { [$0[0].relu()] }
        try check("relu-", shapes: [[9]], domain: (-2, -0.1)) { [$0[0].relu()] }
        try check("leakyRelu-", shapes: [[9]], domain: (-2, -0.1)) { [$0[0].leakyRelu(0.2)] }
        try check("leakyRelu+", shapes: [[9]], domain: (0.1, 2)) { [$0[0].leakyRelu(0.2)] }
        for p in [2.0, 3.0, 0.5, -1.0, 1.7, -2.5] {
            try check("pow \(p)", shapes: [[9]], domain: (0.3, 2)) { [$0[0].pow(p)] }
        }
        try check("clamp inside", shapes: [[9]], domain: (-0.4, 0.4)) { [$0[0].clamp(min: -0.5, max: 0.5)] }
        try check("clamp outside", shapes: [[9]], domain: (0.6, 2)) { [$0[0].clamp(min: -0.5, max: 0.5)] }
    }

    func testBinary() throws {
        for (sa, sb) in [([3, 5], [3, 5]), ([3, 5], [5]), ([3, 1], [1, 4]), ([], [2, 3]), ([2, 3, 4], [3, 1])] {
            try check("add \(sa) \(sb)", shapes: [sa, sb]) { [try $0[0] + $0[1]] }
            try check("sub \(sa) \(sb)", shapes: [sa, sb]) { [try $0[0] - $0[1]] }
            try check("mul \(sa) \(sb)", shapes: [sa, sb]) { [try $0[0] * $0[1]] }
            try check("div \(sa) \(sb)", shapes: [sa, sb], domain: (0.5, 2)) { [try $0[0] / $0[1]] }
            try check("pow \(sa) \(sb)", shapes: [sa, sb], domain: (0.5, 2)) { [try pow($0[0], $0[1])] }
            try check("maximum \(sa) \(sb)", shapes: [sa, sb]) { [try maximum($0[0], $0[1])] }
            try check("minimum \(sa) \(sb)", shapes: [sa, sb]) { [try minimum($0[0], $0[1])] }
            try check("where \(sa) \(sb)", shapes: [sa, sb]) { xs in
                [try Tensor.where(xs[0].gt(0.3), xs[0].square(), xs[1] * 3)]
            }
        }
        try check("scalar ops", shapes: [[7]], domain: (0.5, 2)) { xs in
            let x = xs[0]
            return [try (2 / x) * 0.5 + (1 - x) / 3 - 0.25, x + 1.5]
        }
    }

    func testReductions() throws {
        for dims in [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2], [-1]] {
            for keep in [false, true] {
                try check("sum \(dims) \(keep)", shapes: [[2, 3, 4]]) { [try $0[0].sum(dims: dims, keepdim: keep).square()] }
                try check("mean \(dims) \(keep)", shapes: [[2, 3, 4]]) { [try $0[0].mean(dims: dims, keepdim: keep).exp()] }
                try check("norm \(dims) \(keep)", shapes: [[2, 3, 4]]) { [try $0[0].norm(dims: dims, keepdim: keep)] }
            }
        }
        try check("sum all", shapes: [[33]]) { [$0[0].sum().square()] }
        try check("mean all", shapes: [[33]]) { [$0[0].mean().square()] }
        for dim in [0, 1, 2] {
            for keep in [false, true] {
                try check("max \(dim) \(keep)", shapes: [[3, 4, 5]]) { [try $0[0].max(dim: dim, keepdim: keep).values.square()] }
            }
        }
        try check("norm penalty", shapes: [[4, 6]]) { xs in [try (xs[0].norm(dims: [1]) - 1).square().mean()] }
    }

    func testShapeOps() throws {
        try check("reshape", shapes: [[2, 6]]) { [try $0[0].reshape([3, -1]).square()] }
        try check("expand", shapes: [[3, 1]]) { [try $0[0].expand(to: [2, 3, 4]).square()] }
        try check("permute", shapes: [[2, 3, 4]]) { [try $0[0].permute([2, 0, 1]).square()] }
        try check("transpose", shapes: [[3, 4]]) { [try $0[0].transpose(0, 1).exp()] }
        try check("slice step", shapes: [[3, 17]]) { [try $0[0].slice(dim: 1, start: -15, end: 16, step: 3).square()] }
        try check("slice multi", shapes: [[5, 6]]) { [try $0[0].slice([(1, nil, 2), (nil, -1, 1)]).square()] }
        try check("concat", shapes: [[2, 3], [2, 1], [2, 4]]) { [try Tensor.concat($0, dim: 1).square()] }
        try check("chunk", shapes: [[7, 2]]) { xs in try xs[0].chunk(3, dim: 0).map { $0.square() } }
        try check("squeeze/unsqueeze", shapes: [[3, 1, 2]]) { [try $0[0].squeeze().unsqueeze(0).square()] }
        for mode in [PadMode.constant, .replicate, .reflect] {
            try check("pad \(mode)", shapes: [[1, 2, 4, 5]]) { [try $0[0].pad([1, 2, 2, 1], mode: mode, value: 0.5).square()] }
        }
        try check("pad crop", shapes: [[1, 4, 5]]) { [try $0[0].pad([-1, 2, 1, -2]).square()] }
    }

    /// A composite with shared subexpressions (a gradient penalty of a small "critic").
    func testGradientPenaltyComposite() throws {
        try check("penalty", shapes: [[3, 4], [4]]) { xs in
            let x = xs[0], w = xs[1]
            let critic = try (x * w).tanh().sum(dims: [1])
            let g = try grad(critic.sum(), wrt: [x], createGraph: true)[0]
            return [try (g.norm(dims: [1]) - 1).square().mean()]
        }
    }
}
