import Foundation

/// Reverse-mode automatic differentiation.
///
/// Every differentiable primitive calls ``record(_:_:_:_:)`` right after computing its forward
/// value, handing over a backward rule written with ordinary (differentiable) tensor ops. When
/// ``grad(_:wrt:gradOutput:createGraph:)`` runs with `createGraph: true` those ops are recorded
/// in turn, so gradients can be differentiated again (PyTorch's `create_graph=True`).
/// Composite ops (sub, mean, ...) call primitives and have no rule of their own.
///
/// Adding a primitive (e.g. wrapping a raw kernel) takes a validated forward and a rule; the
/// real example is `avgPool2d` in ImageOps.swift:
///
///     let geometry = try Pool2dGeometry(op: "avg_pool2d", input: x.shape, ...)  // throws on bad shapes
///     let y = /* run the kernel into a new tensor of geometry's output shape */
///     return record("avg_pool2d", [x], y) { c in [avgPool2dAdjoint(c.grad, geometry, ...)] }
///
/// where the adjoint is itself a primitive (its rule calls the forward again: the two are
/// adjoint linear maps), so second derivatives flow through it.

/// What a backward rule receives.
public struct BackwardContext {
    /// The tensor the op produced (a rule may use it, e.g. `exp`: `grad * output`).
    public let output: Tensor
    /// Gradient of the differentiated quantity with respect to `output` (same shape).
    public let grad: Tensor
    /// `needs[i]`: whether input `i` wants a gradient; rules return nil for the others.
    public let needs: [Bool]
}

/// A node of the graph: the op that produced a tensor, its inputs and its backward rule.
final class GradFn {
    let name: String
    let inputs: [Tensor]
    let backward: (BackwardContext) throws -> [Tensor?]
    /// Set for `fusedSum`/`fusedMap` nodes: lets `grad` run the backward of several such nodes
    /// as one pass (`backward` stays the rule used alone and when recording the graph).
    let fused: FusedNode?

    init(name: String, inputs: [Tensor], fused: FusedNode? = nil, backward: @escaping (BackwardContext) throws -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.fused = fused
        self.backward = backward
    }
}


/// Whether ops record the graph, per thread: `grad` (without `createGraph`) and `withNoGrad`
/// switch recording off only for the thread they run on, so independent evaluations on other
/// threads keep building their graphs.
enum GradMode {
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// No value stored (the default on every thread) means recording is on.
    static var enabled: Bool {
        get { pthread_getspecific(key) == nil }
        set { pthread_setspecific(key, newValue ? nil : UnsafeRawPointer(bitPattern: 1)) }
    }
}

/// Runs `body` without recording the graph (PyTorch's `torch.no_grad()`).
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    let saved = GradMode.enabled
    GradMode.enabled = false
    defer { GradMode.enabled = saved }
    return try body()
}

/// Attaches a backward rule to a freshly computed `output` when recording is on and some
/// input requires a gradient; otherwise returns `output` untouched (no node is built).
///
/// The rule must not capture `output` (use `context.output`): the node is owned by the output,
/// and capturing it would form a reference cycle.
public func record(_ name: String, _ inputs: [Tensor], _ output: Tensor,
                   _ backward: @escaping (BackwardContext) throws -> [Tensor?]) -> Tensor {
    record(name, inputs, output, fused: nil, backward)
}

func record(_ name: String, _ inputs: [Tensor], _ output: Tensor, fused: FusedNode?,
            _ backward: @escaping (BackwardContext) throws -> [Tensor?]) -> Tensor {
    guard GradMode.enabled, inputs.contains(where: { $0.requiresGrad }) else { return output }
    return Tensor(shape: output.shape, dtype: output.dtype, storage: output.storage,
                  requiresGrad: true, gradFn: GradFn(name: name, inputs: inputs, fused: fused, backward: backward))
}

/// Gradients of `output` with respect to `inputs`, like `torch.autograd.grad`.
///
/// - `gradOutput`: the vector in the vector-Jacobian product; defaults to 1 and then `output`
///   must have one element.
/// - An input `output` does not depend on (or that does not require grad) gets zeros of its shape.
/// - `createGraph`: record the backward computation so the returned gradients can themselves
///   be differentiated (gradient penalties, Hessian-vector products).
public func grad(_ output: Tensor, wrt inputs: [Tensor], gradOutput: Tensor? = nil,
                 createGraph: Bool = false) throws -> [Tensor] {
    try grad(of: [output], wrt: inputs, gradOutputs: [gradOutput], createGraph: createGraph)[0]
}

/// Gradients of several outputs with respect to the same inputs in one backward sweep:
/// `result[r][k]` = ∂ outputs[r] / ∂ inputs[k], each as `grad(outputs[r], wrt: inputs)` gives
/// it. Shared nodes are visited once, and the fused nodes of every output that are due together
/// run as one pass (a loss program's total and each of its terms: the inputs are read once and
/// every gradient written once, instead of one pass per output).
public func grad(of outputs: [Tensor], wrt inputs: [Tensor], gradOutputs: [Tensor?]? = nil,
                 createGraph: Bool = false) throws -> [[Tensor]] {
    let found = try backwardSweep(of: outputs, wrt: inputs, gradOutputs: gradOutputs, createGraph: createGraph)
    return found.map { row in zip(row, inputs).map { g, x in g.map { $0.dtype == x.dtype ? $0 : $0.to(x.dtype) } ?? x.zerosLike() } }
}

/// `grad(of:wrt:)` with nil where an output does not depend on an input.
func backwardSweep(of outputs: [Tensor], wrt inputs: [Tensor], gradOutputs: [Tensor?]?,
               createGraph: Bool) throws -> [[Tensor?]] {
    var seeds: [Tensor] = []
    for (r, output) in outputs.enumerated() {
        if let g = gradOutputs.flatMap({ r < $0.count ? $0[r] : nil }) {
            guard g.shape == output.shape else {
                throw TensorError.shapeMismatch(op: "grad (gradOutput vs output)", shapes: [g.shape, output.shape])
            }
            seeds.append(g.dtype == output.dtype ? g : g.to(output.dtype))
        } else {
            guard output.count == 1 else {
                throw TensorError.invalidArgument(op: "grad", message: "gradOutput can be omitted only for a one-element output, got shape \(formatShape(output.shape))")
            }
            seeds.append(output.onesLike())
        }
    }

    let wanted = Set(inputs.map(ObjectIdentifier.init))
    // Post-order over the graph (inputs before the tensors made from them), iteratively so that
    // deep graphs cannot overflow the stack. `needed`: the tensor leads to a wanted input.
    var order: [Tensor] = []
    var needed: [ObjectIdentifier: Bool] = [:]
    var visited: Set<ObjectIdentifier> = []
    for output in outputs where visited.insert(ObjectIdentifier(output)).inserted {
        var stack: [(Tensor, Int)] = [(output, 0)]
        while let (t, i) = stack.popLast() {
            let ins = t.gradFn?.inputs ?? []
            if i < ins.count {
                stack.append((t, i + 1))
                let c = ins[i]
                if c.requiresGrad && visited.insert(ObjectIdentifier(c)).inserted {
                    stack.append((c, 0))
                }
            } else {
                order.append(t)
                needed[ObjectIdentifier(t)] = wanted.contains(ObjectIdentifier(t))
                    || ins.contains { needed[ObjectIdentifier($0)] == true }
            }
        }
    }

    let saved = GradMode.enabled
    GradMode.enabled = createGraph
    defer { GradMode.enabled = saved }

    // Nodes run consumers-first. A node is ready once every consumer that leads to a wanted
    // input has run; among ready nodes the one latest in `order` runs first, which for one
    // output is exactly reverse post-order. The one hook: fused nodes (`fusedSum`/`fusedMap`),
    // when not recording the graph, go to the batcher (Fusion/BatchedBackward.swift) and run
    // when nothing else is ready. Each tensor's gradient is kept per output (`r`).
    let batching = EngineOptions.current.batchFusedBackward && !createGraph
    var position: [ObjectIdentifier: Int] = [:]
    for (i, t) in order.enumerated() { position[ObjectIdentifier(t)] = i }
    func isNeeded(_ t: Tensor) -> Bool { t.requiresGrad && needed[ObjectIdentifier(t)] == true }
    var waiting: [ObjectIdentifier: Int] = [:]
    for t in order where needed[ObjectIdentifier(t)] == true {
        for x in t.gradFn?.inputs ?? [] where isNeeded(x) { waiting[ObjectIdentifier(x), default: 0] += 1 }
    }
    var grads: [ObjectIdentifier: [Int: Tensor]] = [:]
    for (r, output) in outputs.enumerated() { grads[ObjectIdentifier(output), default: [:]][r] = seeds[r] }
    var ready: [Tensor] = []
    var queued: Set<ObjectIdentifier> = []
    for output in outputs where output.gradFn != nil && needed[ObjectIdentifier(output)] == true
        && waiting[ObjectIdentifier(output), default: 0] == 0 && queued.insert(ObjectIdentifier(output)).inserted {
        ready.append(output)
    }
    var batcher = FusedBackwardBatcher()

    /// After t's rule ran (or had nothing to do): its inputs have one consumer fewer to wait for.
    func release(_ t: Tensor) {
        let id = ObjectIdentifier(t)
        // Free intermediate gradients as soon as they are consumed (peak memory).
        if !wanted.contains(id) { grads[id] = nil }
        for x in t.gradFn?.inputs ?? [] where isNeeded(x) {
            let k = ObjectIdentifier(x)
            waiting[k, default: 1] -= 1
            if waiting[k] == 0 && x.gradFn != nil { ready.append(x) }
        }
    }
    func accumulate(_ input: Tensor, _ r: Int, _ g: Tensor, from name: String) throws {
        precondition(g.shape == input.shape, "backward of \(name) returned shape \(g.shape) for input \(input.shape)")
        let key = ObjectIdentifier(input)
        grads[key, default: [:]][r] = try grads[key]?[r].map { try $0 + g } ?? g
    }
    func needs(_ fn: GradFn) -> [Bool] { fn.inputs.map(isNeeded) }

    while true {
        if let i = ready.indices.max(by: { position[ObjectIdentifier(ready[$0])]! < position[ObjectIdentifier(ready[$1])]! }) {
            let t = ready.remove(at: i)
            guard let fn = t.gradFn, let gs = grads[ObjectIdentifier(t)], !gs.isEmpty, needs(fn).contains(true) else { release(t); continue }
            if batching && fn.fused != nil { batcher.add(t); continue }
            let ns = needs(fn)
            for (r, g) in gs.sorted(by: { $0.key < $1.key }) {
                let inputGrads = try fn.backward(BackwardContext(output: t, grad: g, needs: ns))
                for (k, input) in fn.inputs.enumerated() where ns[k] && k < inputGrads.count {
                    if let gk = inputGrads[k] { try accumulate(input, r, gk, from: fn.name) }
                }
            }
            release(t)
            continue
        }
        if batcher.isEmpty { break }
        // Every deferred fused node is due: the batcher runs them, one pass per iteration shape.
        try batcher.run(position: position, needs: needs,
                        upstreams: { grads[ObjectIdentifier($0)] ?? [:] },
                        prior: { grads[ObjectIdentifier($0)]?[$1] },
                        store: { x, r, g, folded in
                            if folded { grads[ObjectIdentifier(x), default: [:]][r] = g } else { try accumulate(x, r, g, from: "fused batch") }
                        },
                        release: release)
    }
    return outputs.indices.map { r in inputs.map { grads[ObjectIdentifier($0)]?[r] } }
}
