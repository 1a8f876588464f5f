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
/// value is bit-identical to the unfused one. Gradients mirror the primitives' rules; because
/// a gradient is itself a fused expression (differentiable the same way), `createGraph` and
/// higher orders work.

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

/// A symbolic scalar inside ``Tensor/fusedMap(_:_:)``: build the expression with the same
/// operators and method names as on tensors.
public struct Fused {
    let builder: FusedProgramBuilder
    let id: Int

    func emit(_ i: FusedInstruction) -> Fused { Fused(builder: builder, id: builder.emit(i)) }

    public static func + (a: Fused, b: Fused) -> Fused { a.emit(.binary(.add, a.id, b.id)) }
    public static func - (a: Fused, b: Fused) -> Fused { a.emit(.binary(.sub, a.id, b.id)) }
    public static func * (a: Fused, b: Fused) -> Fused { a.emit(.binary(.mul, a.id, b.id)) }
    public static func / (a: Fused, b: Fused) -> Fused { a.emit(.binary(.div, a.id, b.id)) }
    public static func + (a: Fused, b: Double) -> Fused { a + a.constant(b) }
    public static func - (a: Fused, b: Double) -> Fused { a - a.constant(b) }
    public static func * (a: Fused, b: Double) -> Fused { a * a.constant(b) }
    public static func / (a: Fused, b: Double) -> Fused { a / a.constant(b) }
    public static func + (a: Double, b: Fused) -> Fused { b.constant(a) + b }
    public static func - (a: Double, b: Fused) -> Fused { b.constant(a) - b }
    public static func * (a: Double, b: Fused) -> Fused { b.constant(a) * b }
    public static func / (a: Double, b: Fused) -> Fused { b.constant(a) / b }
    public static prefix func - (a: Fused) -> Fused { a.emit(.unary(.neg, a.id)) }

    public func gt(_ v: Double) -> Fused { emit(.compare(.gt, id, constant(v).id)) }
    public func lt(_ v: Double) -> Fused { emit(.compare(.lt, id, constant(v).id)) }
    public func ge(_ v: Double) -> Fused { emit(.compare(.ge, id, constant(v).id)) }
    public func le(_ v: Double) -> Fused { emit(.compare(.le, id, constant(v).id)) }
    public func gt(_ o: Fused) -> Fused { emit(.compare(.gt, id, o.id)) }
    public func lt(_ o: Fused) -> Fused { emit(.compare(.lt, id, o.id)) }
    public func eq(_ o: Fused) -> Fused { emit(.compare(.eq, id, o.id)) }
    public static func `where`(_ c: Fused, _ a: Fused, _ b: Fused) -> Fused { c.emit(.select(c.id, a.id, b.id)) }
}

/// The pointwise operations (abs, exp, pow, clamp, ...) come from `PointwiseAlgebra`, as for
/// tensors; each emits its instruction.
extension Fused: PointwiseAlgebra {
    public func pointwise(_ op: PointwiseUnary) -> Fused { emit(.unary(op, id)) }
    public static func binary(_ op: PointwiseBinary, _ a: Fused, _ b: Fused) -> Fused { a.emit(.binary(op, a.id, b.id)) }
    public static func select(_ c: Fused, _ a: Fused, _ b: Fused) -> Fused { c.emit(.select(c.id, a.id, b.id)) }
    public func constant(_ v: Double) -> Fused { emit(.constant(v)) }
    public func compared(_ c: Comparison, _ other: Fused) -> Fused { emit(.compare(c, id, other.id)) }
    public func detached() -> Fused { pointwise(.stopGradient) }
    public var recordsGraph: Bool { builder.recordsGraph }
}

public func maximum(_ a: Fused, _ b: Fused) -> Fused { a.emit(.binary(.maximum, a.id, b.id)) }
public func minimum(_ a: Fused, _ b: Fused) -> Fused { a.emit(.binary(.minimum, a.id, b.id)) }
public func pow(_ a: Fused, _ b: Fused) -> Fused { a.emit(.binary(.pow, a.id, b.id)) }

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

/// Whether fused backward passes reduce broadcast-input gradients in the pass (tests switch it
/// off to compare with the general path).
nonisolated(unsafe) var fusedReduceInPass = true

/// What the backward scheduler (`grad`) knows about a node made by `fusedSum` or `fusedMap`:
/// its forward program (one output) and the shape it iterates over. Nodes of one shape and
/// dtype whose gradients are due at the same time run their backward as one pass
/// (`batchedFusedGradients`).
struct FusedNode {
    let program: FusedProgram
    let shape: [Int]
}

/// One fused node in a batched backward pass.
struct FusedBackwardItem {
    let node: FusedNode
    let inputs: [Tensor]
    /// Gradient of the differentiated quantity w.r.t. the node's output.
    let upstream: Tensor
    /// Which inputs want a gradient.
    let needs: [Bool]
    /// Which differentiated output this item's upstream belongs to: contributions are summed
    /// per slot, so one pass serves several outputs (`grad(of:wrt:)`).
    var slot: Int = 0
}

extension Tensor {
    /// Shape of a fused op: the inputs' broadcast shape (NumPy rules).
    static func fusedShape(_ inputs: [Tensor], op: String) throws -> [Int] {
        guard !inputs.isEmpty else { throw TensorError.invalidArgument(op: op, message: "no inputs") }
        return try broadcastShapes(inputs.map(\.shape), op: op)
    }

    /// `expression` applied elementwise to `inputs` in a single pass, with NumPy broadcasting
    /// (broadcast inputs are gathered per block, never expanded in memory). Differentiable to
    /// any order; the gradient is fused too.
    ///
    ///     let y = try Tensor.fusedMap([pred, target]) { x in ((x[0] - x[1]).square() + 1e-12).sqrt() }
    public static func fusedMap(_ inputs: [Tensor], _ expression: ([Fused]) -> Fused) throws -> Tensor {
        let program = FusedProgram.build(inputCount: inputs.count) { [expression($0)] }.pruned()
        let shape = try fusedShape(inputs, op: "fusedMap")
        return fusedApply(program, promoteAll(inputs), shape)
    }

    /// Σ of `expression` over all elements, without materialising the elementwise values
    /// (float64 accumulation, fixed blocks: deterministic). A scalar; differentiable.
    public static func fusedSum(_ inputs: [Tensor], _ expression: ([Fused]) -> Fused) throws -> Tensor {
        try fusedSum(inputs, keepingLeading: 0, expression)
    }

    /// Σ of `expression` over every axis from `keepingLeading` on, those axes kept with size 1:
    /// with 1, one sum per sample, shape (N,1,...,1) (MMagic's sample-wise mean divides by a
    /// per-sample weight sum). 0 is ``fusedSum(_:_:)``, a scalar. Float64 accumulation in
    /// fixed chunks (deterministic); differentiable like `fusedSum`.
    public static func fusedSum(_ inputs: [Tensor], keepingLeading k: Int, _ expression: ([Fused]) -> Fused) throws -> Tensor {
        let program = FusedProgram.build(inputCount: inputs.count) { [expression($0)] }.pruned()
        let shape = try fusedShape(inputs, op: "fusedSum")
        guard (0...shape.count).contains(k) else {
            throw TensorError.invalidArgument(op: "fusedSum", message: "keepingLeading \(k) outside 0...\(shape.count) for shape \(formatShape(shape))")
        }
        let xs = promoteAll(inputs)
        let outShape = k == 0 ? [] : Array(shape[0..<k]) + Array(repeating: 1, count: shape.count - k)
        let y: Tensor
        if let planned = FusedSumPlan.current?.value(program, xs, k) {
            y = planned
        } else if let plan = FusedSumPlan.current, plan.recording {
            plan.request(program, xs, shape, k)
            y = Tensor.filled(outShape, 0, xs[0].dtype)
        } else {
            y = Tensor(uninitializedShape: outShape, dtype: xs[0].dtype)
            let units = shape[0..<k].reduce(1, *)
            let sums: [Double]
            switch y.dtype {
            case .float32: sums = fusedSumsKernel(program, xs, shape, units: units, outputs: [(program.outputs[0], k > 0)], Float.self)[0]
            case .float64: sums = fusedSumsKernel(program, xs, shape, units: units, outputs: [(program.outputs[0], k > 0)], Double.self)[0]
            }
            y.store(sums)
        }
        return record("fusedSum", xs, y, fused: FusedNode(program: program, shape: shape)) { c in
            try fusedGradients(program, xs, [c.grad], shape, c.needs)
        }
    }

    /// Writes float64 results into a new tensor of this tensor's dtype (rounding once).
    func store(_ values: [Double]) {
        switch dtype {
        case .float32: let p = mutablePointer(Float.self); for (i, v) in values.enumerated() where i < count { p[i] = Float(v) }
        case .float64: let p = mutablePointer(Double.self); for (i, v) in values.enumerated() where i < count { p[i] = v }
        }
    }

    static func promoteAll(_ xs: [Tensor]) -> [Tensor] {
        let d: DType = xs.contains { $0.dtype == .float64 } ? .float64 : .float32
        return xs.map { $0.to(d) }
    }

    /// Forward of a single-output program as a differentiable op.
    static func fusedApply(_ program: FusedProgram, _ xs: [Tensor], _ shape: [Int]) -> Tensor {
        let y = Tensor(uninitializedShape: shape, dtype: xs[0].dtype)
        switch y.dtype {
        case .float32: fusedMapKernel(program, xs, [y], Float.self)
        case .float64: fusedMapKernel(program, xs, [y], Double.self)
        }
        return record("fusedMap", xs, y, fused: FusedNode(program: program, shape: shape)) { c in
            try fusedGradients(program, xs, [c.grad], shape, c.needs)
        }
    }

    /// ∂/∂xs of ⟨program(xs), upstream⟩. Without graph recording: one multi-output pass. With it:
    /// one differentiable single-output fused op per needed input.
    static func fusedGradients(_ program: FusedProgram, _ xs: [Tensor], _ upstream: [Tensor], _ shape: [Int],
                               _ needs: [Bool]) throws -> [Tensor?] {
        let wrt = (0..<xs.count).filter { needs[$0] }
        let gp = try program.gradient(wrt: wrt.map { k in program.code.firstIndex(of: .input(k))! },
                                      recordsGraph: GradMode.enabled).pruned()
        let args = xs + upstream
        var result = [Tensor?](repeating: nil, count: xs.count)
        if GradMode.enabled {
            for (j, k) in wrt.enumerated() {
                // Inputs broadcast from one element get their gradient summed back.
                result[k] = try fusedApply(gp.selecting(j), args, shape).sumTo(xs[k].shape)
            }
            return result
        }
        let gs = try runGradientProgram(gp, args, shape, outputShapes: wrt.map { xs[$0].shape })
        for (j, k) in wrt.enumerated() { result[k] = gs[j] }
        return result
    }

    /// Runs a gradient program (no graph recorded) whose output j is summed back to
    /// `outputShapes[j]` (the shape of the input it is the gradient of) from the iteration
    /// `shape`: outputs of that full shape are written in place; the others are reduced inside
    /// the pass when the shapes allow it, else written at full size and summed back (`sumTo`,
    /// the reference path that CoreFusionTests compare the in-pass reduction with).
    static func runGradientProgram(_ gp: FusedProgram, _ args: [Tensor], _ shape: [Int],
                                   outputShapes: [[Int]]) throws -> [Tensor] {
        let dtype = args[0].dtype
        if fusedReduceInPass,
           let split = FusedReductionSplit(out: shape, reduced: outputShapes.filter { $0 != shape }) {
            var fullOuts: [(output: Int, tensor: Tensor)] = [], reducedOuts: [(output: Int, tensor: Tensor)] = []
            var result: [Tensor] = []
            for (j, s) in outputShapes.enumerated() {
                let t = Tensor(uninitializedShape: s, dtype: dtype)
                if s == shape { fullOuts.append((j, t)) } else { reducedOuts.append((j, t)) }
                result.append(t)
            }
            switch dtype {
            case .float32: fusedReducingKernel(gp, args, shape, full: fullOuts, reduced: reducedOuts, split: split, Float.self)
            case .float64: fusedReducingKernel(gp, args, shape, full: fullOuts, reduced: reducedOuts, split: split, Double.self)
            }
            return result
        }
        let full = outputShapes.map { _ in Tensor(uninitializedShape: shape, dtype: dtype) }
        switch dtype {
        case .float32: fusedMapKernel(gp, args, full, Float.self)
        case .float64: fusedMapKernel(gp, args, full, Double.self)
        }
        return try zip(full, outputShapes).map { try $0.sumTo($1) }
    }

    /// The gradients of several fused nodes of one iteration shape and dtype in one pass
    /// ("horizontal" fusion of their backward passes): every distinct input is read once, and a
    /// tensor that several nodes read (pred, target and the weight of three pixel losses) gets
    /// one gradient, the sum of the nodes' contributions in node order, written once. Without
    /// it each node wrote its own full-size gradients, and autograd added them up in further
    /// passes over fresh memory (measured in docs/speed.md).
    ///
    /// `prior(x)`: x's gradient accumulated so far, if any. One of x's full shape (= the
    /// iteration shape) is read by the pass and added first, so the sum needs no extra pass;
    /// the result then replaces it (`folded` true). Otherwise the caller adds the result.
    /// Runs without graph recording; `grad(createGraph: true)` does not batch.
    static func batchedFusedGradients(_ items: [FusedBackwardItem], prior: (Tensor, Int) -> Tensor?) throws
        -> [(input: Tensor, slot: Int, gradient: Tensor, folded: Bool)] {
        guard let first = items.first else { return [] }
        let shape = first.node.shape, dtype = first.inputs[0].dtype
        var union: [Tensor] = []
        var slot: [ObjectIdentifier: Int] = [:]
        func index(_ t: Tensor) -> Int {
            if let u = slot[ObjectIdentifier(t)] { return u }
            union.append(t); slot[ObjectIdentifier(t)] = union.count - 1
            return union.count - 1
        }
        let bound = items.map { $0.inputs.map(index) }
        // Gradients to produce: (slot, input) pairs in first-seen order.
        struct Key: Hashable { let slot: Int, input: Int }
        var wanted: [Key] = []
        for (item, us) in zip(items, bound) {
            for (k, u) in us.enumerated() where item.needs[k] && !wanted.contains(Key(slot: item.slot, input: u)) {
                wanted.append(Key(slot: item.slot, input: u))
            }
        }
        var priors: [(key: Key, tensor: Tensor)] = []
        for w in wanted {
            if union[w.input].shape == shape, let p = prior(union[w.input], w.slot), p.shape == shape { priors.append((w, p)) }
        }
        // Upstream gradients with equal values are one program input: the total's upstream at a
        // term's node equals the term's own (∂total/∂term = 1), so with CSE the total's
        // contribution is the terms' contributions summed, not computed again.
        var upstreams: [Tensor] = []
        let upstreamSlot: [Int] = items.map { item in
            let u = item.upstream.to(dtype)
            if u.count <= 64, let j = upstreams.firstIndex(where: { $0.shape == u.shape && $0.sameBits(u) }) { return j }
            upstreams.append(u); return upstreams.count - 1
        }
        let u0 = union.count, p0 = u0 + upstreams.count
        let program = try FusedProgram.build(inputCount: p0 + priors.count) { xs in
            var adj: [Key: Fused] = [:]
            for (j, p) in priors.enumerated() { adj[p.key] = xs[p0 + j] }
            for (b, (item, us)) in zip(items, bound).enumerated() {
                let p = item.node.program
                let local = (0..<item.inputs.count).filter { item.needs[$0] }
                let g = try p.gradient(wrt: local.map { k in p.code.firstIndex(of: .input(k))! }).pruned()
                let outs = g.inline(into: xs[0].builder, inputs: us.map { xs[$0] } + [xs[u0 + upstreamSlot[b]]])
                for (j, k) in local.enumerated() {
                    let key = Key(slot: item.slot, input: us[k])
                    adj[key] = adj[key].map { $0 + outs[j] } ?? outs[j]
                }
            }
            return wanted.map { adj[$0] ?? xs[0].constant(0) }
        }.pruned()
        let args = union.map { $0.to(dtype) } + upstreams + priors.map { $0.tensor.to(dtype) }
        let gs = try runGradientProgram(program, args, shape, outputShapes: wanted.map { union[$0.input].shape })
        let folded = Set(priors.map(\.key))
        return zip(wanted, gs).map { (union[$0.input], $0.slot, $1, folded.contains($0)) }
    }
}

/// Fused sums planned ahead: the forward passes of several losses that read the same inputs
/// (pred, target, weight) as one pass instead of one per loss.
///
/// `LossProgram.evaluate` runs the forward of every term whose type says its forward is fused
/// sums plus small arithmetic (`LossModule.forwardIsFusedSums`) once in *recording* mode,
/// without a graph: each `fusedSum` only notes its program and inputs and returns zeros. The
/// noted sums are then computed together, one multi-output program per iteration shape and
/// dtype (`fusedSumsKernel`, common subexpressions shared), and the real forward pass is served
/// from them: a `fusedSum` whose program, inputs (by identity) and kept axes match takes the
/// planned value, anything else is computed as usual. The plan holds its inputs, so an
/// identity cannot be reused by another tensor while it lives. Values equal the unplanned
/// path's up to the order of float64 additions (a total is cut per sample when a per-sample
/// sum shares its pass); `CoreBatchedBackwardTests` compares the two.
final class FusedSumPlan {
    private struct Entry {
        let program: FusedProgram
        let inputs: [Tensor]
        let shape: [Int]
        let keep: Int
        var value: Tensor?
    }
    private var entries: [Entry] = []
    /// Whether `fusedSum` notes requests (the first run) rather than serving planned values.
    private(set) var recording = false

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// The plan in effect on this thread.
    static var current: FusedSumPlan? {
        pthread_getspecific(key).map { Unmanaged<FusedSumPlan>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Runs `body` in recording mode, then computes the noted sums (`compute`).
    func record(_ body: () throws -> Void) rethrows {
        recording = true
        defer { compute() }
        try apply(body)
    }

    /// Runs `body` with this plan in effect on this thread.
    func apply<R>(_ body: () throws -> R) rethrows -> R {
        let saved = pthread_getspecific(Self.key)
        pthread_setspecific(Self.key, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(Self.key, saved) }
        return try withExtendedLifetime(self) { try body() }
    }

    private func index(_ program: FusedProgram, _ xs: [Tensor], _ keep: Int) -> Int? {
        entries.firstIndex {
            $0.keep == keep && $0.inputs.count == xs.count && zip($0.inputs, xs).allSatisfy { $0 === $1 }
                && $0.program.code == program.code && $0.program.outputs == program.outputs
        }
    }

    func request(_ program: FusedProgram, _ xs: [Tensor], _ shape: [Int], _ keep: Int) {
        if index(program, xs, keep) == nil { entries.append(Entry(program: program, inputs: xs, shape: shape, keep: keep, value: nil)) }
    }

    func value(_ program: FusedProgram, _ xs: [Tensor], _ keep: Int) -> Tensor? {
        guard !recording, let i = index(program, xs, keep), let v = entries[i].value else { return nil }
        served += 1
        return v
    }
    /// Sums served from the plan (tests check that planning takes effect).
    private(set) var served = 0

    /// Computes every noted sum (one pass per iteration shape and dtype) and switches to serving.
    private func compute() {
        recording = false
        var groups: [[Int]] = []
        for (i, e) in entries.enumerated() {
            if let g = groups.firstIndex(where: { entries[$0[0]].shape == e.shape && entries[$0[0]].inputs[0].dtype == e.inputs[0].dtype }) {
                groups[g].append(i)
            } else { groups.append([i]) }
        }
        for group in groups {
            let shape = entries[group[0]].shape, dtype = entries[group[0]].inputs[0].dtype
            // One split for the pass: the sums that keep leading axes must agree on how many.
            let keeps = Set(group.map { entries[$0].keep }.filter { $0 > 0 })
            let keep = keeps.count == 1 ? keeps.first! : 0
            let members = group.filter { entries[$0].keep == 0 || entries[$0].keep == keep }
            var union: [Tensor] = []
            func slot(_ t: Tensor) -> Int {
                if let u = union.firstIndex(where: { $0 === t }) { return u }
                union.append(t); return union.count - 1
            }
            let bound = members.map { entries[$0].inputs.map(slot) }
            let program = FusedProgram.build(inputCount: union.count) { xs in
                zip(members, bound).map { i, us in
                    entries[i].program.inline(into: xs[0].builder, inputs: us.map { xs[$0] })[0]
                }
            }.pruned()
            let units = shape[0..<keep].reduce(1, *)
            let outputs = zip(members, program.outputs).map { ($1, entries[$0].keep > 0) }
            let sums: [[Double]]
            switch dtype {
            case .float32: sums = fusedSumsKernel(program, union, shape, units: units, outputs: outputs, Float.self)
            case .float64: sums = fusedSumsKernel(program, union, shape, units: units, outputs: outputs, Double.self)
            }
            for (i, s) in zip(members, sums) {
                let k = entries[i].keep
                let t = Tensor(uninitializedShape: k == 0 ? [] : Array(shape[0..<k]) + Array(repeating: 1, count: shape.count - k), dtype: dtype)
                t.store(s)
                entries[i].value = t
            }
        }
    }
}

extension Tensor {
    /// Same dtype and bit-identical elements (shape aside).
    func sameBits(_ o: Tensor) -> Bool {
        guard dtype == o.dtype, count == o.count else { return false }
        return memcmp(storage.raw, o.storage.raw, count * dtype.byteSize) == 0
    }
}
