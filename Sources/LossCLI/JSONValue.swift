/// A JSON document built in memory and printed with its keys in insertion order.
///
/// Numbers print with the shortest digits that round-trip their type (at most 9
/// significant digits for a Float, 17 for a Double); NaN and infinities, which JSON
/// cannot hold, print as the strings "nan", "inf" and "-inf".
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case float(Float)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func == (a: JSONValue, b: JSONValue) -> Bool { a.rendered(pretty: false) == b.rendered(pretty: false) }

    /// A Double, or `null` when absent.
    static func double(_ v: Double?) -> JSONValue { v.map { .double($0) } ?? .null }

    /// The document as text; `pretty` indents nested objects by two spaces and keeps
    /// arrays of scalars on one line.
    func rendered(pretty: Bool = true) -> String {
        var out = ""
        write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .float(let f): out += Self.number(f.isFinite ? f.description : nil, nonFinite: Double(f))
        case .double(let d): out += Self.number(d.isFinite ? d.description : nil, nonFinite: d)
        case .string(let s): Self.quote(s, into: &out)
        case .array(let items):
            let flat = !pretty || items.allSatisfy(\.isScalar)
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += flat ? (pretty ? ", " : ",") : "," }
                if !flat { out += "\n" + String(repeating: " ", count: indent + 2) }
                item.write(to: &out, pretty: pretty, indent: indent + 2)
            }
            if !flat { out += "\n" + String(repeating: " ", count: indent) }
            out += "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: " ", count: indent + 2) }
                Self.quote(key, into: &out)
                out += pretty ? ": " : ":"
                value.write(to: &out, pretty: pretty, indent: indent + 2)
            }
            if pretty { out += "\n" + String(repeating: " ", count: indent) }
            out += "}"
        }
    }

    private var isScalar: Bool {
        switch self {
        case .array, .object: return false
        default: return true
        }
    }

    /// Swift's `description` of a finite Float/Double is the shortest text that reads
    /// back to the same value ("0.1", "3.0", "1e-05"), which is valid JSON.
    private static func number(_ finite: String?, nonFinite v: Double) -> String {
        if let finite { return finite }
        return v.isNaN ? "\"nan\"" : (v > 0 ? "\"inf\"" : "\"-inf\"")
    }

    private static func quote(_ s: String, into out: inout String) {
        out += "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: appendEscapingControls(ch, to: &out)
            }
        }
        out += "\""
    }

    /// `ch`, or its JSON escape when it is a control character: C0 (`\n`, `\r`, `\t`,
    /// `\u001b`...), DEL and C1 (`\u009b`, a terminal's CSI). The table output escapes names the same way.
    static func appendEscapingControls(_ ch: Unicode.Scalar, to out: inout String) {
        switch ch {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if ch.value < 0x20 || (0x7f...0x9f).contains(ch.value) {
                let hex = String(ch.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(ch)
            }
        }
    }

    /// `s` with its control characters escaped as in JSON strings (for table cells and error lines).
    static func escapingControls(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }) else { return s }
        var out = ""
        for ch in s.unicodeScalars { appendEscapingControls(ch, to: &out) }
        return out
    }
}

/// Columns of text, left-aligned, separated by two spaces, for the `table` format.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: [String]) { self.header = header }

    /// A row; control characters in cells (from term names, keys, paths) are escaped as the
    /// JSON output escapes them, so a name cannot move the terminal's cursor or colour it.
    mutating func append(_ row: [String]) { rows.append(row.map(JSONValue.escapingControls)) }

    func rendered() -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var s = ""
            for (i, cell) in cells.enumerated() {
                let last = i == cells.count - 1
                s += last ? cell : cell + String(repeating: " ", count: widths[i] - cell.count + 2)
            }
            return s
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}
