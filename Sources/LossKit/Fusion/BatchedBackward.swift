import Foundation

/// The fused nodes of a backward sweep that wait to run together: when nothing else is ready,
/// those due at once run as one pass per iteration shape and dtype
/// (`Tensor.batchedFusedGradients`), for every differentiated output at once — three pixel
/// losses on the same inputs make one backward pass instead of three plus two full-size
/// additions. `backwardSweep` (Core/Autograd.swift) hands it the nodes and runs it.
struct FusedBackwardBatcher {
    private var pending: [Tensor] = []

    var isEmpty: Bool { pending.isEmpty }

    /// Defers `t`, a fused node whose gradient is due.
    mutating func add(_ t: Tensor) { pending.append(t) }

    /// Runs every deferred node's backward and empties the batch. `upstreams(t)`: t's gradient
    /// per output; `prior(x, r)`: x's gradient for output r so far; `store(x, r, g, folded)`:
    /// g is x's new gradient (folded: the prior is already in it) or a contribution to add;
    /// `release(t)`: t's rule has run.
    mutating func run(position: [ObjectIdentifier: Int], needs: (GradFn) -> [Bool],
                      upstreams: (Tensor) -> [Int: Tensor], prior: (Tensor, Int) -> Tensor?,
                      store: (Tensor, Int, Tensor, Bool) throws -> Void, release: (Tensor) -> Void) throws {
        // Group by iteration shape and dtype, latest first.
        let deferred = pending.sorted { position[ObjectIdentifier($0)]! > position[ObjectIdentifier($1)]! }
        pending = []
        var groups: [[Tensor]] = []
        for t in deferred {
            let node = t.gradFn!.fused!
            if let j = groups.firstIndex(where: { $0[0].gradFn!.fused!.shape == node.shape && $0[0].dtype == t.dtype }) {
                groups[j].append(t)
            } else { groups.append([t]) }
        }
        // Larger iteration shapes first: a smaller group (the weight's own sums) can then fold the
        // gradient a larger one gave its input into its pass, instead of a separate addition.
        func size(_ g: [Tensor]) -> Int { g[0].gradFn!.fused!.shape.reduce(1, *) }
        groups.sort { size($0) != size($1) ? size($0) > size($1) : position[ObjectIdentifier($0[0])]! > position[ObjectIdentifier($1[0])]! }
        for group in groups {
            var items: [FusedBackwardItem] = []
            for t in group {
                for (r, g) in upstreams(t).sorted(by: { $0.key < $1.key }) {
                    items.append(FusedBackwardItem(node: t.gradFn!.fused!, inputs: t.gradFn!.inputs, upstream: g,
                                                   needs: needs(t.gradFn!), slot: r))
                }
            }
            for x in try Tensor.batchedFusedGradients(items, prior: prior) { try store(x.input, x.slot, x.gradient, x.folded) }
            for t in group { release(t) }
        }
    }
}

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

