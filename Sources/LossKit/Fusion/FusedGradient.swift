/// The symbolic gradient of a fused program: another fused program, built with the pointwise
/// ops' own rules (Core/Pointwise.swift), so it is differentiable the same way.
extension FusedProgram {
    /// The vector-Jacobian product as a program: inputs are this program's inputs followed by
    /// one upstream gradient per output; outputs are ∂/∂input_k for every k in `wrt`.
    /// Reverse accumulation over the SSA code with the ops' own rules (Pointwise.swift), the
    /// ones tensors use. `recordsGraph`: the result will be differentiated again.
    func gradient(wrt: [Int], recordsGraph: Bool = false) throws -> FusedProgram {
        let m = outputs.count
        return try FusedProgram.build(inputCount: inputCount + m, recordsGraph: recordsGraph) { xs in
            let b = xs[0].builder
            // Replay the forward code (inputs map to the new inputs).
            var v: [Fused] = []
            for ins in code {
                switch ins {
                case let .input(k): v.append(xs[k])
                default: v.append(Fused(builder: b, id: b.emit(ins.remapped(v.map(\.id)))))
                }
            }
            var adj = [Fused?](repeating: nil, count: code.count)
            func add(_ i: Int, _ g: Fused?) { if let g { adj[i] = adj[i].map { $0 + g } ?? g } }
            for (j, o) in outputs.enumerated() { add(o, xs[inputCount + j]) }
            for i in stride(from: code.count - 1, through: 0, by: -1) {
                guard let a = adj[i] else { continue }
                switch code[i] {
                case .input, .constant, .compare: break
                case let .unary(op, x):
                    add(x, try op.vjp(v[x], v[i], a))
                case let .binary(op, p, q):
                    let (gp, gq) = try op.vjp(v[p], v[q], v[i], a, needs: (true, true))
                    add(p, gp)
                    add(q, gq)
                case let .select(c, p, q):
                    let (gp, gq) = try selectVJP(v[c], a, needs: (true, true))
                    add(p, gp)
                    add(q, gq)
                }
            }
            return wrt.map { k in adj[k] ?? xs[0].constant(0) }
        }
    }
}
