import LossKit

/// Renders an `EvalReport` in the documented JSON schema or as tables.
enum EvalOutput {
    static func json(_ report: EvalReport, timing: Bool) -> String {
        let digits = NumberDigits(report.dtype)
        var terms: [(String, JSONValue)] = []
        for term in report.terms {
            terms.append((term.name, .object([
                ("type", .string(term.type)),
                ("value", jsonNumber(term.reported, digits)),
                ("shape", .array(term.value.shape.map { .int($0) })),
                ("in_total", .bool(term.inTotal)),
            ])))
        }
        var gradients: [(String, JSONValue)] = []
        for summary in report.gradients {
            let stats = JSONValue.object([
                ("shape", .array(summary.shape.map { .int($0) })),
                ("l2", jsonNumber(summary.l2, digits)),
                ("max_abs", jsonNumber(summary.maxAbs, digits)),
            ])
            if let i = gradients.firstIndex(where: { $0.0 == summary.owner }), case var .object(members) = gradients[i].1 {
                members.append((summary.input, stats))
                gradients[i].1 = .object(members)
            } else {
                gradients.append((summary.owner, .object([(summary.input, stats)])))
            }
        }
        var root: [(String, JSONValue)] = [
            ("terms", .object(terms)),
            ("total", jsonNumber(report.total, digits)),
            ("gradients", .object(gradients)),
        ]
        if timing {
            // Milliseconds are measurements, not results: 17 digits would be noise.
            root.append(("timing_ms", .object(report.timing.map { ($0.phase, jsonNumber(($0.ms * 1000).rounded() / 1000, .float64)) })))
        }
        return JSONValue.object(root).rendered() + "\n"
    }

    static func table(_ report: EvalReport, timing: Bool) -> String {
        let digits = NumberDigits(report.dtype)
        var values = TextTable(["term", "type", "value", "shape", "in total"])
        for term in report.terms {
            values.append([term.name, term.type, formatNumber(term.reported, digits),
                           formatShape(term.value.shape), term.inTotal ? "yes" : "no"])
        }
        values.append(["total", "", formatNumber(report.total, digits), "()", ""])
        var out = values.rendered()
        if !report.gradients.isEmpty {
            var grads = TextTable(["gradient of", "w.r.t.", "shape", "l2", "max_abs"])
            for g in report.gradients {
                grads.append([g.owner, g.input, formatShape(g.shape), formatNumber(g.l2, digits), formatNumber(g.maxAbs, digits)])
            }
            out += "\n" + grads.rendered()
        }
        if timing {
            var t = TextTable(["phase", "ms"])
            for (phase, ms) in report.timing { t.append([phase, String(format: "%.3f", ms)]) }
            out += "\n" + t.rendered()
        }
        out += "\ncomputed in \(report.dtype == .float64 ? "float64" : "float32")\n"
        return out
    }
}
