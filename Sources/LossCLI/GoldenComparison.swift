import Foundation
import LossKit
import NpyIO

/// NumPy's `isclose(got, golden)`: `|got - golden| <= atol + rtol * |golden|`, with the golden
/// value as the reference. Equal infinities match; NaN matches nothing (`equal_nan=False`).
func isClose(_ got: Double, _ golden: Double, rtol: Double, atol: Double) -> Bool {
    if got.isNaN || golden.isNaN { return false }
    if got.isInfinite || golden.isInfinite { return got == golden }
    return abs(got - golden) <= atol + rtol * abs(golden)
}

/// One line of a `check`: a term value, the total, or a gradient array.
struct Comparison {
    enum Kind: String { case value, gradient }

    var kind: Kind
    /// Term name, `total`, or a gradient key `total/pred`.
    var name: String
    /// The compared numbers: for a gradient, the element that is furthest outside the
    /// tolerance (or, when all match, the one with the largest difference). nil when absent.
    var golden: Double?
    var got: Double?
    /// For gradients: flat index of that element, element count and how many differ.
    var index: Int?
    var elements: Int?
    var mismatchedElements: Int?
    /// Why it cannot be compared (`missing in golden`, a shape difference).
    var note: String?
    var matched: Bool

    var difference: Double? {
        guard let golden, let got else { return nil }
        return abs(got - golden)
    }
}

/// The values a golden file holds, as `eval --format json` wrote them.
struct GoldenValues {
    var terms: [(name: String, value: Double)]
    var total: Double?

    /// Reads `terms.NAME.value` and `total`; numbers or the strings `nan`, `inf`, `-inf`.
    static func load(_ path: String) throws -> GoldenValues {
        let text = try readText(path, what: "golden")
        let root: ConfigValue
        do {
            root = try ConfigValue.parse(jsonText: text)
        } catch let error as ConfigSyntaxError {
            throw CLIError("golden \(path): \(error.description)")
        }
        guard case .object = root else {
            throw CLIError("golden \(path): expected the JSON object that `losscli eval --format json` writes, found \(root.kindName)")
        }
        guard let termsValue = root["terms"] else {
            throw CLIError("golden \(path): missing key \"terms\" (expected the JSON that `losscli eval --format json` writes)")
        }
        guard case let .object(members) = termsValue else {
            throw CLIError("golden \(path): key \"terms\": expected an object, found \(termsValue.kindName)")
        }
        var terms: [(String, Double)] = []
        for (name, entry) in members {
            guard let value = entry["value"] else {
                throw CLIError("golden \(path): key \"terms.\(name)\": expected an object with a \"value\", found \(entry.kindName)")
            }
            terms.append((name, try number(value, key: "terms.\(name).value", path: path)))
        }
        let total = try root["total"].map { try number($0, key: "total", path: path) }
        return GoldenValues(terms: terms, total: total)
    }

    static func number(_ value: ConfigValue, key: String, path: String) throws -> Double {
        switch value {
        case let .int(i): return Double(i)
        case let .double(d): return d
        case .string("nan"): return .nan
        case .string("inf"): return .infinity
        case .string("-inf"): return -.infinity
        default:
            throw CLIError("golden \(path): key \"\(key)\": expected a number or \"nan\", \"inf\", \"-inf\", found \(value.foundText)")
        }
    }
}

/// Compares a computed report with golden values (and gradient arrays).
///
/// Golden numbers are read in the precision of the computation: `eval` writes a float32
/// result with the shortest digits that give back that float32 (`1.3438817`), which as a
/// Double is not the float32 itself, so it is rounded to float32 before comparing. A
/// float64 golden checked in float32 loses nothing that a float32 result could show.
struct GoldenComparator {
    var rtol: Double
    var atol: Double
    var dtype: DType

    func reference(_ golden: Double) -> Double {
        dtype == .float32 ? Double(Float(golden)) : golden
    }

    func compareValues(golden: GoldenValues, report: EvalReport) -> [Comparison] {
        var rows: [Comparison] = []
        for (name, written) in golden.terms {
            let value = reference(written)
            if let term = report.terms.first(where: { $0.name == name }) {
                rows.append(Comparison(kind: .value, name: name, golden: value, got: term.reported,
                                       matched: isClose(term.reported, value, rtol: rtol, atol: atol)))
            } else {
                rows.append(Comparison(kind: .value, name: name, golden: value, got: nil,
                                       note: "missing in result", matched: false))
            }
        }
        for term in report.terms where !golden.terms.contains(where: { $0.name == term.name }) {
            rows.append(Comparison(kind: .value, name: term.name, golden: nil, got: term.reported,
                                   note: "missing in golden", matched: false))
        }
        if let total = golden.total.map(reference) {
            rows.append(Comparison(kind: .value, name: "total", golden: total, got: report.total,
                                   matched: isClose(report.total, total, rtol: rtol, atol: atol)))
        } else {
            rows.append(Comparison(kind: .value, name: "total", golden: nil, got: report.total,
                                   note: "missing in golden", matched: false))
        }
        return rows
    }

    /// Element-wise comparison of every gradient array, keyed `OWNER/INPUT` on both sides.
    func compareGradients(golden: [(key: String, array: NpyArray)], report: EvalReport) -> [Comparison] {
        var rows: [Comparison] = []
        let computed = report.gradients.map { (key: "\($0.owner)/\($0.input)", tensor: $0.tensor) }
        for (key, array) in golden {
            guard let got = computed.first(where: { $0.key == key }) else {
                rows.append(Comparison(kind: .gradient, name: key, elements: array.count,
                                       note: "missing in result", matched: false))
                continue
            }
            guard got.tensor.shape == array.shape else {
                rows.append(Comparison(kind: .gradient, name: key, elements: array.count,
                                       note: "shape: golden \(formatShape(array.shape)), got \(formatShape(got.tensor.shape))",
                                       matched: false))
                continue
            }
            rows.append(compareArrays(key: key, golden: array.toFloat64().map(reference), got: got.tensor.toFloat64()))
        }
        for (key, tensor) in computed where !golden.contains(where: { $0.key == key }) {
            rows.append(Comparison(kind: .gradient, name: key, elements: tensor.count,
                                   note: "missing in golden", matched: false))
        }
        return rows
    }

    func compareArrays(key: String, golden: [Double], got: [Double]) -> Comparison {
        var mismatched = 0
        // The element reported: among mismatches the one furthest outside its tolerance (a
        // NaN first), otherwise the one with the largest difference.
        var worst: Int? = nil
        var worstScore = -Double.infinity
        var largest: Int? = nil
        var largestDiff = -Double.infinity
        for i in 0..<min(golden.count, got.count) {
            let diff = abs(got[i] - golden[i])
            if isClose(got[i], golden[i], rtol: rtol, atol: atol) {
                // Equal infinities differ by NaN: no difference.
                let d = diff.isNaN ? 0 : diff
                if largest == nil || d > largestDiff { largest = i; largestDiff = d }
            } else {
                mismatched += 1
                let excess = diff - (atol + rtol * abs(golden[i]))
                let score = excess.isNaN ? Double.infinity : excess
                if worst == nil || score > worstScore { worst = i; worstScore = score }
            }
        }
        if worst == nil { worst = largest }
        return Comparison(kind: .gradient, name: key,
                          golden: worst.map { golden[$0] }, got: worst.map { got[$0] },
                          index: worst, elements: golden.count, mismatchedElements: mismatched,
                          matched: mismatched == 0)
    }
}
