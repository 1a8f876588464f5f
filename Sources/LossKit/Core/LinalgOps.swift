// Differentiable matrix products with PyTorch's names and semantics: bmm, mm and matmul, on
// the GEMM kernel (Kernels/Gemm.swift).
//
// One primitive, `batchedProduct(a, b, transA, transB)`: C = op(A)·op(B) per batch entry,
// A and B read in place with the transpose flags (no copies). Its derivatives are the same
// primitive with other flags, so second order needs nothing else:
//   Ā = V·op(B)ᵀ   (stored transposed when transA: Ā = op(B)·Vᵀ)
//   B̄ = op(A)ᵀ·V   (stored transposed when transB: B̄ = Vᵀ·op(A))

/// `torch.bmm(a, b)`: `a` (B, m, k) times `b` (B, k, n) → (B, m, n).
public func bmm(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try requireSameDType("bmm", [("a", a), ("b", b)])
    _ = try validatedGeometry([("a", a.shape), ("b", b.shape)]) { try GemmGeometry.bmm(a: a.shape, b: b.shape) }
    return batchedProduct(a, b, transA: false, transB: false)
}

/// `torch.mm(a, b)`: `a` (m, k) times `b` (k, n) → (m, n).
public func mm(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try requireSameDType("mm", [("a", a), ("b", b)])
    let g = try validatedGeometry([("a", a.shape), ("b", b.shape)]) { try GemmGeometry.mm(a: a.shape, b: b.shape) }
    return try batchedProduct(a.reshape([1, g.m, g.k]), b.reshape([1, g.k, g.n]), transA: false, transB: false)
        .reshape([g.m, g.n])
}

/// `torch.matmul(a, b)`: 1-D operands are promoted (a vector `a` as a row, `b` as a column,
/// the added dimension removed from the result); for rank ≥ 2 the leading (batch)
/// dimensions broadcast and the last two are multiplied.
public func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try requireSameDType("matmul", [("a", a), ("b", b)])
    guard a.rank >= 1, b.rank >= 1 else {
        throw TensorError.invalidArgument(op: "matmul", message: "both arguments need at least 1 dimension, got \(formatShape(a.shape)) and \(formatShape(b.shape))")
    }
    if a.rank == 1 && b.rank == 1 {
        guard a.shape == b.shape else { throw TensorError.shapeMismatch(op: "matmul", shapes: [a.shape, b.shape]) }
        return try (a * b).sum()
    }
    let a2 = a.rank == 1 ? try a.unsqueeze(0) : a
    let b2 = b.rank == 1 ? try b.unsqueeze(1) : b
    let (m, k) = (a2.shape[a2.rank - 2], a2.shape[a2.rank - 1])
    let (k2, n) = (b2.shape[b2.rank - 2], b2.shape[b2.rank - 1])
    guard k == k2 else {
        throw TensorError.invalidArgument(op: "matmul", message: "\(formatShape(a.shape)) and \(formatShape(b.shape)) cannot be multiplied (\(k) != \(k2))")
    }
    let batchA = Array(a2.shape.dropLast(2)), batchB = Array(b2.shape.dropLast(2))
    let batch: [Int]
    do { batch = try broadcastShapes([batchA, batchB], op: "matmul") } catch {
        throw TensorError.shapeMismatch(op: "matmul (batch dimensions)", shapes: [a.shape, b.shape])
    }
    let nb = batch.reduce(1, *)
    _ = try validatedGeometry([("a", a.shape), ("b", b.shape)]) { try GemmGeometry.bmm(a: [nb, m, k], b: [nb, k, n]) }
    try checkAllocatable(batch + [m, n], op: "matmul")
    let ea = try a2.expand(to: batch + [m, k]).reshape([nb, m, k])
    let eb = try b2.expand(to: batch + [k, n]).reshape([nb, k, n])
    var out = try batchedProduct(ea, eb, transA: false, transB: false).reshape(batch + [m, n])
    if a.rank == 1 { out = try out.squeeze(out.rank - 2) }
    if b.rank == 1 { out = try out.squeeze(out.rank - 1) }
    return out
}

/// `C[i] = op(A[i])·op(B[i])` for 3-D `a`, `b` whose shapes agree (validated by the caller):
/// `op(A)` is (m, k), stored (m, k) or, with `transA`, (k, m); likewise `op(B)` (k, n).
func batchedProduct(_ a: Tensor, _ b: Tensor, transA: Bool, transB: Bool) -> Tensor {
    let batch = a.shape[0]
    let (m, k) = transA ? (a.shape[2], a.shape[1]) : (a.shape[1], a.shape[2])
    let n = transB ? b.shape[1] : b.shape[2]
    let c = Tensor(uninitializedShape: [batch, m, n], dtype: a.dtype)
    func run<T: TensorScalar>(_: T.Type) {
        if k == 0 {
            c.mutablePointer(T.self).initialize(repeating: 0, count: c.count)
            return
        }
        gemmBatched(batch: batch, transA: transA, transB: transB, m: m, n: n, k: k,
                    alpha: 1, a: a.pointer(T.self), lda: a.shape[2], strideA: a.shape[1] * a.shape[2],
                    b: b.pointer(T.self), ldb: b.shape[2], strideB: b.shape[1] * b.shape[2],
                    beta: 0, c: c.mutablePointer(T.self), ldc: n, strideC: m * n)
    }
    if a.dtype == .float32 { run(Float.self) } else { run(Double.self) }
    return record("bmm", [a, b], c) { ctx in
        let v = ctx.grad
        return [ctx.needs[0] ? (transA ? batchedProduct(b, v, transA: transB, transB: true)
                                       : batchedProduct(v, b, transA: false, transB: !transB)) : nil,
                ctx.needs[1] ? (transB ? batchedProduct(v, a, transA: true, transB: transA)
                                       : batchedProduct(a, v, transA: !transA, transB: false)) : nil]
    }
}
