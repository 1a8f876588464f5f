import Foundation

/// Fused elementwise expressions: a chain of pointwise ops evaluated in one pass over memory.
///
/// Why a second code path: each unfused op reads and writes whole tensors, so a loss such as
/// Charbonnier (`mean(sqrt((p − t)² + ε))`) plus its gradient makes ~15 passes over 100 MB
/// buffers. `Tensor.fusedMap`/`fusedSum` record the expression symbolically, evaluate it in
/// cache-sized blocks (one read of each input, one write of the result, or no write at all for
/// a sum), and differentiate it symbolically into another fused expression, so the backward
/// pass is one pass too. Measured by LossBench (Charbonnier forward + backward on 25M floats);
/// CoreFusionTests check every instruction against the unfused composite of primitives.
///
/// The pointwise functions are the same functor types the primitives use, so a fused forward
/// value is bit-identical to the unfused one, and gradients use the same rules
/// (Core/Pointwise.swift); because a gradient is itself a fused expression (differentiable
/// the same way), `createGraph` and higher orders work.
///
/// The folder: FusedProgram (instructions, builder, CSE, simplifier, pruning), Fused (the
/// symbolic scalar), FusedGradient, FusedOps (Tensor.fusedMap/fusedSum and their backward),
/// BatchedBackward (one pass for the fused nodes due together), FusedSumPlan (forward sums
/// planned ahead), FusedEvaluator and FusedKernels (the block interpreter and its kernels).

/// One instruction of a fused program (SSA: operands are earlier instruction indices). The
/// pointwise operations are those of Pointwise.swift, with their functors and rules.
enum FusedInstruction: Equatable {
    case input(Int)
    case constant(Double)
    case unary(PointwiseUnary, Int)
    case binary(PointwiseBinary, Int, Int)
    case compare(Comparison, Int, Int)
    /// cond != 0 ? a : b
    case select(Int, Int, Int)

    /// The instructions this one reads.
    var operands: [Int] {
        switch self {
        case .input, .constant: return []
        case let .unary(_, x): return [x]
        case let .binary(_, p, q), let .compare(_, p, q): return [p, q]
        case let .select(c, p, q): return [c, p, q]
        }
    }

    /// The same instruction reading `m[x]` for each operand x.
    func remapped(_ m: [Int]) -> FusedInstruction {
        switch self {
        case .input, .constant: return self
        case let .unary(f, x): return .unary(f, m[x])
        case let .binary(f, p, q): return .binary(f, m[p], m[q])
        case let .compare(c, p, q): return .compare(c, m[p], m[q])
        case let .select(c, p, q): return .select(m[c], m[p], m[q])
        }
    }
}

/// Records instructions while an expression is built.
final class FusedProgramBuilder {
    var code: [FusedInstruction] = []
    /// Whether the program being built will itself be differentiated (a gradient program
    /// built while a graph is recorded); the rules read it through `Fused.recordsGraph`.
    let recordsGraph: Bool

    init(recordsGraph: Bool = false) { self.recordsGraph = recordsGraph }
    private var constants: [UInt64: Int] = [:]

    /// Instructions already emitted, by `cseKey`: every instruction is pure, so an identical
    /// one (same operation on the same operands) is reused instead of computed twice. A gradient
    /// program replays its forward code, and a batch of programs (`batchedFusedGradients`)
    /// often repeats the same subexpressions (`pred − target` in each pixel loss).
    private var emitted: [String: Int] = [:]

    func emit(_ i: FusedInstruction) -> Int {
        if let k = simplified(i) { return k }
        if case let .constant(v) = i, let k = constants[v.bitPattern] { return k }
        let key = i.cseKey
        if let key, let k = emitted[key] { return k }
        code.append(i)
        if case let .constant(v) = i { constants[v.bitPattern] = code.count - 1 }
        if let key { emitted[key] = code.count - 1 }
        return code.count - 1
    }
}

extension FusedProgramBuilder {
    /// The operand of a negation, if instruction `x` is one.
    private func negated(_ x: Int) -> Int? {
        if case let .unary(.neg, a) = code[x] { return a }
        return nil
    }

    /// Moves negations outwards, where they cancel or meet an equal expression: gradients are
    /// full of them (∂(p − t)/∂t = −upstream), and a tensor read by several terms sums one
    /// negation per term. With CSE, ∂/∂target of three pixel losses becomes one `neg` of
    /// ∂/∂pred instead of three negations and two additions. Every rewrite gives the same
    /// value (IEEE rounding is symmetric in sign) except for the sign of an exact zero from
    /// (−a) + (−b), which becomes −(a + b).
    fileprivate func simplified(_ i: FusedInstruction) -> Int? {
        switch i {
        case let .unary(.neg, x):
            return negated(x)                                            // −(−a) = a
        case let .unary(.pow(p), x) where p == 1:
            return x                                                     // x¹ = x (PowScalarF's value too)
        case let .binary(.add, p, q):
            switch (negated(p), negated(q)) {
            case let (a?, b?): return emit(.unary(.neg, emit(.binary(.add, a, b))))
            case let (nil, b?): return emit(.binary(.sub, p, b))         // p + (−b) = p − b
            case let (a?, nil): return emit(.binary(.sub, q, a))         // (−a) + q = q − a
            default: return nil
            }
        case let .binary(.sub, p, q):
            return negated(q).map { emit(.binary(.add, p, $0)) }         // p − (−b) = p + b
        case let .binary(op, p, q) where op == .mul || op == .div:
            switch (negated(p), negated(q)) {
            case let (a?, b?): return emit(.binary(op, a, b))
            case let (a?, nil): return emit(.unary(.neg, emit(.binary(op, a, q))))
            case let (nil, b?): return emit(.unary(.neg, emit(.binary(op, p, b))))
            default: return nil
            }
        default: return nil
        }
    }
}

extension FusedInstruction {
    /// Identity for common-subexpression elimination; nil for inputs and constants (inputs are
    /// distinct by position, constants are keyed by bit pattern so that 0 and −0 stay apart).
    /// Parameters are spelled by their bit patterns for the same reason.
    var cseKey: String? {
        switch self {
        case .input, .constant: return nil
        case let .unary(f, x): return "u\(f.key) \(x)"
        case let .binary(f, p, q): return "b\(f.rawValue) \(p) \(q)"
        case let .compare(c, p, q): return "k\(c.rawValue) \(p) \(q)"
        case let .select(c, p, q): return "s \(c) \(p) \(q)"
        }
    }
}

/// A finished fused program: `code`, the number of inputs it reads, and its result instructions.
struct FusedProgram {
    var code: [FusedInstruction]
    var inputCount: Int
    var outputs: [Int]

    static func build(inputCount: Int, recordsGraph: Bool = false, _ body: ([Fused]) throws -> [Fused]) rethrows -> FusedProgram {
        let b = FusedProgramBuilder(recordsGraph: recordsGraph)
        let xs = (0..<inputCount).map { Fused(builder: b, id: b.emit(.input($0))) }
        let outs = try body(xs)
        return FusedProgram(code: b.code, inputCount: inputCount, outputs: outs.map(\.id))
    }

    /// Emits this program into `builder` with its inputs bound to `inputs`; returns its outputs.
    func inline(into builder: FusedProgramBuilder, inputs: [Fused]) -> [Fused] {
        var map: [Int] = []
        for ins in code {
            if case let .input(k) = ins { map.append(inputs[k].id) } else { map.append(builder.emit(ins.remapped(map))) }
        }
        return outputs.map { Fused(builder: builder, id: map[$0]) }
    }

    /// The single-output program computing output `j` only (dead code removed).
    func selecting(_ j: Int) -> FusedProgram {
        FusedProgram(code: code, inputCount: inputCount, outputs: [outputs[j]]).pruned()
    }

    /// Drops instructions no output depends on (inputs are kept: they define the signature).
    func pruned() -> FusedProgram {
        var live = [Bool](repeating: false, count: code.count)
        for o in outputs { live[o] = true }
        for i in stride(from: code.count - 1, through: 0, by: -1) where live[i] {
            for x in code[i].operands { live[x] = true }
        }
        var map = [Int](repeating: -1, count: code.count)
        var out: [FusedInstruction] = []
        for (i, ins) in code.enumerated() {
            if case .input = ins { live[i] = true }
            guard live[i] else { continue }
            map[i] = out.count
            out.append(ins.remapped(map))
        }
        return FusedProgram(code: out, inputCount: inputCount, outputs: outputs.map { map[$0] })
    }
}

