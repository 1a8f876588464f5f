import Foundation
import XCTest
@testable import LossKit

/// Reads fixtures/losses/*.json (made by scripts/gen_loss_fixtures.py from MMagic 1.2's own
/// loss code under PyTorch) with LossKit's own JSON reader, and checks a loss against them.
enum LossFixtures {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func load(_ file: String) throws -> [ConfigValue] {
        let url = root.appendingPathComponent("fixtures/losses/\(file).json")
        let text = try String(contentsOf: url, encoding: .utf8)
        guard case let .array(cases)? = try ConfigValue.parse(jsonText: text)["cases"] else {
            throw LossError.config(path: file, message: "no cases")
        }
        return cases
    }

    static func numbers(_ v: ConfigValue?) -> [Double] {
        guard case let .array(items)? = v else { return [] }
        return items.compactMap { item in
            switch item {
            case let .string(s):  // non-finite values, if a generator writes them as strings
                return s == "nan" || s == "NaN" ? .nan : s.hasPrefix("-") ? -.infinity : .infinity
            default: return item.numberValue
            }
        }
    }

    static func shape(_ v: ConfigValue?) -> [Int] {
        guard case let .array(items)? = v?["shape"] else { return [] }
        return items.compactMap { if case let .int(i) = $0 { return i } else { return nil } }
    }

    /// A fixture tensor `{"shape": [...], "data": [...]}` in `dtype`.
    static func tensor(_ v: ConfigValue, dtype: DType) throws -> Tensor {
        try Tensor(shape: shape(v), values: numbers(v["data"]), dtype: dtype)
    }

    /// The largest error of `actual` against `expected` measured as NumPy's isclose would:
    /// `|a − e| / (atol + rtol·|e|)` (≤ 1 passes).
    static func worst(_ actual: [Double], _ expected: [Double], rtol: Double, atol: Double) -> (ratio: Double, index: Int) {
        var worst = (ratio: 0.0, index: -1)
        for (i, (a, e)) in zip(actual, expected).enumerated() {
            if a.isNaN && e.isNaN { continue }
            if a == e { continue }
            let r = Swift.abs(a - e) / (atol + rtol * Swift.abs(e))
            if !(r <= worst.ratio) { worst = (r.isNaN ? .infinity : r, i) }
        }
        return worst
    }

    struct Outcome {
        var valueRatio = 0.0
        var gradRatio = 0.0
        var checked = 0
    }

    /// Runs every case of `file`: value within rtol (1e-5 float32, 1e-9 float64), gradients of
    /// every requires_grad input within rtol (1e-4 float32, 1e-9 float64). Near-zero elements
    /// get an absolute allowance: rtol·1e-3·max|expected array|, and at least 4 ulps of the
    /// case's scale (max |output| and |gradient| of the case) — the rounding of terms that
    /// cancel. That floor matters only where MMagic's gradient is analytically zero and its
    /// value is rounding noise (smgan's generator loss w.r.t. the mask: ~1e-8 in float32).
    /// Reports the worst ratio seen.
    @discardableResult
    static func check(_ file: String, only type: String? = nil, file sourceFile: StaticString = #filePath, line: UInt = #line) throws -> Outcome {
        var outcome = Outcome()
        for c in try load(file) {
            guard case let .string(typeName)? = c["type"], type == nil || typeName == type else { continue }
            guard case let .string(id)? = c["id"], case let .string(dt)? = c["dtype"] else { continue }
            let dtype: DType = dt == "float64" ? .float64 : .float32
            guard let lossType = LossRegistry.type(named: typeName) else {
                XCTFail("\(id): no loss type \(typeName)", file: sourceFile, line: line); continue
            }
            guard case let .object(params)? = c["params"] else { continue }
            let module = try lossType.init(parameters: LossParameters(declaration: lossType.declaration, object: params))

            var requires = Set<String>()
            if case let .array(r)? = c["requires_grad"] { for case let .string(s) in r { requires.insert(s) } }
            var inputs = LossInputs()
            if case let .object(a)? = c["args"] { for (k, v) in a { inputs.args[k] = v } }
            var leaves: [(String, Int?, Tensor)] = []   // name, list index, leaf
            guard case let .object(given)? = c["inputs"] else { continue }
            for (name, v) in given {
                if case let .array(items) = v {
                    var list: [Tensor] = []
                    for (i, item) in items.enumerated() {
                        var t = try tensor(item, dtype: dtype)
                        if requires.contains(name) { t = t.requiringGrad(); leaves.append((name, i, t)) }
                        list.append(t)
                    }
                    inputs.tensorLists[name] = list
                } else {
                    var t = try tensor(v, dtype: dtype)
                    if requires.contains(name) { t = t.requiringGrad(); leaves.append((name, nil, t)) }
                    inputs.tensors[name] = t
                }
            }
            guard case let .value(out) = try module.forward(inputs) else {
                XCTFail("\(id): expected a single output", file: sourceFile, line: line); continue
            }
            guard let expectedOut = c["output"] else { continue }
            let vrtol = dtype == .float64 ? 1e-9 : 1e-5
            XCTAssertEqual(out.shape, shape(expectedOut), "\(id): output shape", file: sourceFile, line: line)
            XCTAssertEqual(out.dtype, dtype, "\(id): output dtype", file: sourceFile, line: line)
            let expectedValues = numbers(expectedOut["data"])
            let vscale = expectedValues.map { Swift.abs($0) }.max() ?? 0
            let v = worst(out.toFloat64(), expectedValues, rtol: vrtol, atol: vrtol * 1e-3 * vscale)
            outcome.valueRatio = max(outcome.valueRatio, v.ratio)
            XCTAssertLessThanOrEqual(v.ratio, 1, "\(id): value[\(v.index)] \(out.toFloat64()[max(v.index, 0)]) vs \(expectedValues[max(v.index, 0)])",
                                     file: sourceFile, line: line)

            let cot: Tensor? = try c["cotangent"].flatMap { $0 == .null ? nil : try tensor($0, dtype: dtype) }
            let grads = try grad(out, wrt: leaves.map { $0.2 }, gradOutput: cot)
            let grtol = dtype == .float64 ? 1e-9 : 1e-4
            var caseScale = vscale
            if case let .object(gs)? = c["grads"] {
                for (_, g) in gs {
                    let arrays: [ConfigValue]
                    if case let .array(items) = g { arrays = items } else { arrays = [g] }
                    for a in arrays { caseScale = max(caseScale, numbers(a["data"]).map { Swift.abs($0) }.max() ?? 0) }
                }
            }
            let ulp = dtype == .float64 ? Double.ulpOfOne : Double(Float.ulpOfOne)
            for ((name, index, _), g) in zip(leaves, grads) {
                var expected = c["grads"]?[name]
                if let i = index, case let .array(items)? = expected { expected = i < items.count ? items[i] : nil }
                guard let e = expected else {
                    XCTFail("\(id): fixture has no gradient for \(name)", file: sourceFile, line: line); continue
                }
                let ev = numbers(e["data"])
                XCTAssertEqual(g.shape, shape(e), "\(id): grad \(name) shape", file: sourceFile, line: line)
                let scale = ev.map { Swift.abs($0) }.max() ?? 0
                let r = worst(g.toFloat64(), ev, rtol: grtol, atol: max(grtol * 1e-3 * scale, 4 * ulp * caseScale))
                outcome.gradRatio = max(outcome.gradRatio, r.ratio)
                let label = index.map { "\(name)[\($0)]" } ?? name
                XCTAssertLessThanOrEqual(r.ratio, 1,
                    "\(id): grad \(label)[\(r.index)] \(g.toFloat64()[max(r.index, 0)]) vs \(ev[max(r.index, 0)])",
                    file: sourceFile, line: line)
            }
            outcome.checked += 1
        }
        print("fixtures \(file)\(type.map { "/" + $0 } ?? ""): \(outcome.checked) cases, worst value error \(outcome.valueRatio) × tolerance, worst gradient error \(outcome.gradRatio) × tolerance")
        return outcome
    }
}
