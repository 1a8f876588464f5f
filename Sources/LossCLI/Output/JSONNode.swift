import Foundation
import LossKit

/// How many significant digits make a number round-trip: 9 for float32, 17 for float64.
enum NumberDigits {
    case float32, float64

    init(_ dtype: DType) { self = dtype == .float64 ? .float64 : .float32 }
}

/// A number as text that reads back to the same value of its dtype; non-finite values are
/// `nan`, `inf`, `-inf` (JSON writes them as strings).
func formatNumber(_ value: Double, _ digits: NumberDigits) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    switch digits {
    // Swift's description is the shortest text that round-trips: never more than 9
    // significant digits for Float, 17 for Double.
    // Both forms are valid JSON (`0.25`, `1e-08`, `5.0`).
    case .float32: return Float(value).description
    case .float64: return value.description
    }
}

/// An ordered JSON tree for output.
indirect enum JSONNode {
    case null
    case bool(Bool)
    case int(Int)
    case number(Double, NumberDigits)
    case string(String)
    case array([JSONNode])
    case object([(String, JSONNode)])

    /// Pretty-printed with two-space indentation; short arrays of scalars stay on one line.
    func serialized(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1)
        let closePad = String(repeating: "  ", count: indent)
        switch self {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .int(i): return String(i)
        case let .number(v, digits):
            let text = formatNumber(v, digits)
            return v.isFinite ? text : JSONNode.quote(text)
        case let .string(s): return JSONNode.quote(s)
        case let .array(items):
            if items.isEmpty { return "[]" }
            if items.allSatisfy(\.isScalar) {
                return "[" + items.map { $0.serialized() }.joined(separator: ", ") + "]"
            }
            return "[\n" + items.map { pad + $0.serialized(indent: indent + 1) }.joined(separator: ",\n") + "\n" + closePad + "]"
        case let .object(members):
            if members.isEmpty { return "{}" }
            return "{\n" + members.map { pad + JSONNode.quote($0.0) + ": " + $0.1.serialized(indent: indent + 1) }
                .joined(separator: ",\n") + "\n" + closePad + "}"
        }
    }

    private var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
