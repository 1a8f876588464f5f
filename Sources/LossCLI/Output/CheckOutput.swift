import Foundation

/// Renders the comparisons of `check`: every one, with both numbers.
enum CheckOutput {
    static func json(_ rows: [Comparison], rtol: Double, atol: Double, digits: NumberDigits) -> String {
        let mismatches = rows.filter { !$0.matched }
        func number(_ v: Double?, _ d: NumberDigits) -> JSONValue { v.map { jsonNumber($0, d) } ?? .null }
        let items: [JSONValue] = rows.map { row in
            var members: [(String, JSONValue)] = [
                ("kind", .string(row.kind.rawValue)),
                ("name", .string(row.name)),
                ("golden", number(row.golden, digits)),
                ("got", number(row.got, digits)),
                ("abs_diff", number(row.difference, .float64)),
                ("tolerance", number(row.golden.map { atol + rtol * abs($0) }, .float64)),
                ("match", .bool(row.matched)),
            ]
            if row.kind == .gradient {
                members.append(("elements", row.elements.map { .int($0) } ?? .null))
                members.append(("mismatched_elements", row.mismatchedElements.map { .int($0) } ?? .null))
                members.append(("index", row.index.map { .int($0) } ?? .null))
            }
            if let note = row.note { members.append(("note", .string(note))) }
            return .object(members)
        }
        let root = JSONValue.object([
            ("match", .bool(mismatches.isEmpty)),
            ("rtol", jsonNumber(rtol, .float64)),
            ("atol", jsonNumber(atol, .float64)),
            ("comparisons", .array(items)),
            ("mismatches", .array(mismatches.map { .string($0.name) })),
        ])
        return root.rendered() + "\n"
    }

    static func table(_ rows: [Comparison], rtol: Double, atol: Double, digits: NumberDigits) -> String {
        var table = TextTable(["kind", "name", "golden", "got", "difference", "tolerance", "result"])
        for row in rows {
            let result: String
            if let note = row.note {
                result = "MISMATCH (\(note))"
            } else if row.kind == .gradient, let n = row.elements, let bad = row.mismatchedElements {
                result = row.matched ? "ok (\(n) elements)" : "MISMATCH (\(bad) of \(n) elements, worst at \(row.index ?? 0))"
            } else {
                result = row.matched ? "ok" : "MISMATCH"
            }
            table.append([
                row.kind.rawValue, row.name,
                row.golden.map { formatNumber($0, digits) } ?? "-",
                row.got.map { formatNumber($0, digits) } ?? "-",
                row.difference.map { String(format: "%.3g", $0) } ?? "-",
                row.golden.map { String(format: "%.3g", atol + rtol * abs($0)) } ?? "-",
                result,
            ])
        }
        let mismatches = rows.filter { !$0.matched }
        var out = table.rendered()
        if mismatches.isEmpty {
            out += "\nmatch: all \(rows.count) comparisons within rtol=\(rtol) atol=\(atol)\n"
        } else {
            out += "\nMISMATCH: \(mismatches.count) of \(rows.count) comparisons differ (rtol=\(rtol) atol=\(atol)): "
                + mismatches.map(\.name).joined(separator: ", ") + "\n"
        }
        return out
    }
}
