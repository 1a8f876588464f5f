import LossKit

/// Renders an `EvalReport` in the documented JSON schema or as tables.
enum EvalOutput {
    static func json(_ report: EvalReport, timing: Bool) -> String {
        let digits = NumberDigits(report.dtype)
        var terms: [(String, JSONNode)] = []
        for term in report.terms {
            terms.append((term.name, .object([
                ("type", .string(term.type)),
                ("value", .number(term.reported, digits)),
                ("shape", .array(term.value.shape.map { .int($0) })),
                ("in_total", .bool(term.inTotal)),
            ])))
        }
        var gradients: [(String, JSONNode)] = []
        for summary in report.gradients {
            let stats = JSONNode.object([
                ("shape", .array(summary.shape.map { .int($0) })),
                ("l2", .number(summary.l2, digits)),
                ("max_abs", .number(summary.maxAbs, digits)),
            ])
            if let i = gradients.firstIndex(where: { $0.0 == summary.owner }), case var .object(members) = gradients[i].1 {
                members.append((summary.input, stats))
                gradients[i].1 = .object(members)
            } else {
                gradients.append((summary.owner, .object([(summary.input, stats)])))
            }
        }
        var root: [(String, JSONNode)] = [
            ("terms", .object(terms)),
            ("total", .number(report.total, digits)),
            ("gradients", .object(gradients)),
        ]
        if timing {
            // Milliseconds are measurements, not results: 17 digits would be noise.
            root.append(("timing_ms", .object(report.timing.map { ($0.phase, .number(($0.ms * 1000).rounded() / 1000, .float64)) })))
        }
        return JSONNode.object(root).serialized() + "\n"
    }

    static func table(_ report: EvalReport, timing: Bool) -> String {
        let digits = NumberDigits(report.dtype)
        var values = TextTable(["term", "type", "value", "shape", "in total"], numericColumns: [2])
        for term in report.terms {
            values.append([term.name, term.type, formatNumber(term.reported, digits),
                           formatShape(term.value.shape), term.inTotal ? "yes" : "no"])
        }
        values.append(["total", "", formatNumber(report.total, digits), "()", ""])
        var out = values.render()
        if !report.gradients.isEmpty {
            var grads = TextTable(["gradient of", "w.r.t.", "shape", "l2", "max_abs"], numericColumns: [3, 4])
            for g in report.gradients {
                grads.append([g.owner, g.input, formatShape(g.shape), formatNumber(g.l2, digits), formatNumber(g.maxAbs, digits)])
            }
            out += "\n" + grads.render()
        }
        if timing {
            var t = TextTable(["phase", "ms"], numericColumns: [1])
            for (phase, ms) in report.timing { t.append([phase, String(format: "%.3f", ms)]) }
            out += "\n" + t.render()
        }
        out += "\ncomputed in \(report.dtype == .float64 ? "float64" : "float32")\n"
        return out
    }
}
