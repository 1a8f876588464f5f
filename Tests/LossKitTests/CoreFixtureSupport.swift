import Foundation
import XCTest
@testable import LossKit

/// Reading fixtures/ops/*.json (written by scripts/gen_op_fixtures.py with PyTorch) and running
/// their ops on LossKit.
enum OpFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/ops")

    struct Array_ {
        let shape: [Int]
        let data: [Double]
    }

    static func number(_ v: Any) -> Double {
        if let s = v as? String {
            switch s { case "nan": return .nan; case "inf": return .infinity; case "-inf": return -.infinity; default: return .nan }
        }
        return (v as? NSNumber)?.doubleValue ?? .nan
    }

    static func array(_ v: Any?) -> Array_? {
        guard let d = v as? [String: Any], let shape = d["shape"] as? [Int], let data = d["data"] as? [Any] else { return nil }
        return Array_(shape: shape, data: data.map(number))
    }

    static func cases(_ file: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: directory.appendingPathComponent(file))
        let root = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return root?["cases"] as? [[String: Any]] ?? []
    }

    static func tensor(_ a: Array_, _ dtype: DType) throws -> Tensor {
        try Tensor(shape: a.shape, values: a.data, dtype: dtype)
    }

    /// Runs fixture op `op` on `xs` with `p` (the op names of the generator).
    static func apply(_ op: String, _ xs: [Tensor], _ p: [String: Any]) throws -> (outputs: [Tensor], indices: [Int]?) {
        let x = xs[0]
        func d(_ k: String) -> Double? { (p[k] as? NSNumber)?.doubleValue }
        func i(_ k: String) -> Int? { (p[k] as? NSNumber)?.intValue }
        func dims() -> [Int]? { p["dims"] as? [Int] }
        let keep = (p["keepdim"] as? Bool) ?? false
        switch op {
        case "neg": return ([-x], nil)
        case "abs": return ([x.abs()], nil)
        case "sqrt": return ([x.sqrt()], nil)
        case "square": return ([x.square()], nil)
        case "exp": return ([x.exp()], nil)
        case "log": return ([x.log()], nil)
        case "log1p": return ([x.log1p()], nil)
        case "sigmoid": return ([x.sigmoid()], nil)
        case "softplus": return ([x.softplus()], nil)
        case "relu": return ([x.relu()], nil)
        case "tanh": return ([x.tanh()], nil)
        case "quick_gelu": return ([x.quickGelu()], nil)
        case "leaky_relu": return ([x.leakyRelu(d("slope")!)], nil)
        case "pow_scalar": return ([x.pow(d("p")!)], nil)
        case "clamp": return ([x.clamp(min: d("min"), max: d("max"))], nil)
        case "add": return ([try xs[0] + xs[1]], nil)
        case "sub": return ([try xs[0] - xs[1]], nil)
        case "mul": return ([try xs[0] * xs[1]], nil)
        case "div": return ([try xs[0] / xs[1]], nil)
        case "pow": return ([try pow(xs[0], xs[1])], nil)
        case "maximum": return ([try maximum(xs[0], xs[1])], nil)
        case "minimum": return ([try minimum(xs[0], xs[1])], nil)
        case "where": return ([try Tensor.where(xs[0], xs[1], xs[2])], nil)
        case "add_scalar": return ([x + d("s")!], nil)
        case "rsub_scalar": return ([d("s")! - x], nil)
        case "mul_scalar": return ([x * d("s")!], nil)
        case "div_scalar": return ([x / d("s")!], nil)
        case "rdiv_scalar": return ([d("s")! / x], nil)
        case "sum": return ([try dims().map { try x.sum(dims: $0, keepdim: keep) } ?? x.sum()], nil)
        case "mean": return ([try dims().map { try x.mean(dims: $0, keepdim: keep) } ?? x.mean()], nil)
        case "norm": return ([try dims().map { try x.norm(dims: $0, keepdim: keep) } ?? x.norm()], nil)
        case "max":
            let m = try x.max(dim: i("dim")!, keepdim: keep)
            return ([m.values], m.indices)
        case "reshape": return ([try x.reshape(p["shape"] as! [Int])], nil)
        case "expand": return ([try x.expand(to: p["shape"] as! [Int])], nil)
        case "permute": return ([try x.permute(p["dims"] as! [Int])], nil)
        case "slice": return ([try x.slice(dim: i("dim")!, start: i("start"), end: i("end"), step: i("step")!)], nil)
        case "concat": return ([try Tensor.concat(xs, dim: i("dim")!)], nil)
        case "chunk": return (try x.chunk(i("chunks")!, dim: i("dim")!), nil)
        case "pad":
            let mode = PadMode(rawValue: p["mode"] as! String)!
            return ([try x.pad(p["pads"] as! [Int], mode: mode, value: d("value") ?? 0)], nil)
        default:
            throw TensorError.invalidArgument(op: op, message: "no such fixture op")
        }
    }
}

/// Largest error of `actual` against `expected` measured as |a − e| / (atol + rtol·|e|)
/// (≤ 1 passes); NaN must meet NaN and infinities must match exactly.
struct Closeness {
    let atol: Double, rtol: Double
    func ratio(_ actual: [Double], _ expected: [Double]) -> Double {
        guard actual.count == expected.count else { return .infinity }
        var worst = 0.0
        for (a, e) in zip(actual, expected) {
            if e.isNaN { if !a.isNaN { return .infinity }; continue }
            if e.isInfinite { if a != e { return .infinity }; continue }
            if !a.isFinite { return .infinity }
            worst = max(worst, Swift.abs(a - e) / (atol + rtol * Swift.abs(e)))
        }
        return worst
    }
}
