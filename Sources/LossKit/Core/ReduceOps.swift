/// Reductions: sum (primitive), mean (composite), max along a dimension, 2-norm.

/// Shape of a reduction's output.
func reducedShape(_ shape: [Int], _ dims: [Int], keepdim: Bool) -> [Int] {
    var out: [Int] = []
    for (d, s) in shape.enumerated() {
        if dims.contains(d) { if keepdim { out.append(1) } } else { out.append(s) }
    }
    return out
}

extension Tensor {
    /// Σ over all elements (a scalar). See ``sum(dims:keepdim:)``.
    public func sum() -> Tensor {
        // Reducing every dimension cannot fail.
        (try? sum(dims: Array(0..<rank), keepdim: false)) ?? self
    }

    /// Σ over `dims` (negative dims count from the end). An empty `dims` reduces nothing
    /// (unlike PyTorch, where `dim=[]` means every dimension). Accumulates in float64 with
    /// blocked pairwise combination (see Kernels/Reduce.swift). ∂ = g broadcast back.
    public func sum(dims: [Int], keepdim: Bool = false) throws -> Tensor {
        let dims = try normalizeDims(dims, rank: rank, op: "sum")
        let outShape = reducedShape(shape, dims, keepdim: keepdim)
        let keepShape = reducedShape(shape, dims, keepdim: true)
        let inShape = shape
        let y = sumForward(dims, outShape)
        return record("sum", [self], y) { c in
            [try c.grad.reshape(keepShape).expand(to: inShape)]
        }
    }

    private func sumForward(_ dims: [Int], _ outShape: [Int]) -> Tensor {
        let y = Tensor(uninitializedShape: outShape, dtype: dtype)
        if y.count == 0 { return y }
        if count == 0 { return Tensor.filled(outShape, 0, dtype) }
        // Coalesce into runs of kept (K) and reduced (R) dims, skipping extents of 1.
        var runs: [(size: Int, reduced: Bool)] = []
        for (d, s) in shape.enumerated() where s != 1 {
            let r = dims.contains(d)
            if let last = runs.last, last.reduced == r { runs[runs.count - 1].size *= s } else { runs.append((s, r)) }
        }
        func run<T: TensorScalar>(_: T.Type) {
            let x = pointer(T.self), o = y.mutablePointer(T.self)
            let pattern = runs.map(\.reduced)
            if !pattern.contains(true) {
                o.update(from: x, count: count)
            } else if pattern == [true] || pattern == [false, true] {
                let n = runs.last!.size
                sumRowsKernel(x, count / n, n, o)
            } else if pattern == [true, false] {
                sumMiddleKernel(x, 1, runs[0].size, runs[1].size, o)
            } else if pattern == [false, true, false] {
                sumMiddleKernel(x, runs[0].size, runs[1].size, runs[2].size, o)
            } else {
                // Interleaved kept/reduced dims: move the reduced ones last, then sum rows.
                let kept = (0..<rank).filter { !dims.contains($0) }
                let moved = withNoGrad { (try? self.permute(kept + dims)) ?? self }
                let n = dims.reduce(1) { $0 * shape[$1] }
                sumRowsKernel(moved.pointer(T.self), count / n, n, o)
            }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        }
        return y
    }

    /// Arithmetic mean of all elements (NaN for an empty tensor, as in PyTorch).
    public func mean() -> Tensor { sum() / Double(count) }

    /// Mean over `dims` = sum / (number of reduced elements).
    public func mean(dims: [Int], keepdim: Bool = false) throws -> Tensor {
        let nd = try normalizeDims(dims, rank: rank, op: "mean")
        let n = nd.reduce(1) { $0 * shape[$1] }
        return try sum(dims: nd, keepdim: keepdim) / Double(n)
    }

    /// Maximum along `dim` and the index of the first maximum (NaN counts as maximal).
    /// `indices` are in row-major order of `values`' shape. The gradient goes to the selected
    /// element only (PyTorch's rule).
    public func max(dim: Int, keepdim: Bool = false) throws -> (values: Tensor, indices: [Int]) {
        let d = try normalizeDim(dim, rank: rank, op: "max")
        let D = rank == 0 ? 1 : shape[d]
        guard D > 0 else {
            throw TensorError.invalidArgument(op: "max", message: "cannot reduce dimension \(dim) of size 0 in shape \(formatShape(shape))")
        }
        let A = rank == 0 ? 1 : shape[..<d].reduce(1, *), B = rank == 0 ? 1 : shape[(d + 1)...].reduce(1, *)
        let outShape = rank == 0 ? [] : reducedShape(shape, [d], keepdim: keepdim)
        let y = Tensor(uninitializedShape: outShape, dtype: dtype)
        var indices = [Int](repeating: 0, count: A * B)
        indices.withUnsafeMutableBufferPointer { ix in
            guard A * B > 0 else { return }
            switch dtype {
            case .float32: maxAlongKernel(pointer(Float.self), A, D, B, y.mutablePointer(Float.self), ix.baseAddress!)
            case .float64: maxAlongKernel(pointer(Double.self), A, D, B, y.mutablePointer(Double.self), ix.baseAddress!)
            }
        }
        let sel = AlongDim(A: A, D: D, B: B, indices: indices, fullShape: shape, reducedShape: outShape)
        let values = record("max", [self], y) { c in [sel.scatter(c.grad)] }
        return (values, indices)
    }

    /// Euclidean norm √(Σ x²) over `dims`. ∂ = g·x/‖x‖, and 0 where ‖x‖ = 0 (PyTorch's convention).
    public func norm(dims: [Int], keepdim: Bool = false) throws -> Tensor {
        let nd = try normalizeDims(dims, rank: rank, op: "norm")
        let keepShape = reducedShape(shape, nd, keepdim: true)
        let y = try withNoGrad { try square().sum(dims: nd, keepdim: keepdim).sqrt() }
        return record("norm", [self], y) { c in
            let n = try c.output.reshape(keepShape), g = try c.grad.reshape(keepShape)
            let isZero = n.eq(0)
            // A safe denominator keeps infinities out of the unselected branch (and of its gradient).
            let scale = try Tensor.where(isZero, 0, g / Tensor.where(isZero, 1, n))
            return [try self * scale]
        }
    }

    /// ‖x‖₂ over all elements.
    public func norm() -> Tensor { (try? norm(dims: Array(0..<rank))) ?? self }
}

/// Selection of one index along a dimension for every (a, b) of a tensor viewed as (A, D, B):
/// `gather` picks those elements, `scatter` (its adjoint) puts values there into zeros.
/// Each is the other's backward rule.
struct AlongDim {
    let A: Int, D: Int, B: Int
    let indices: [Int]
    let fullShape: [Int], reducedShape: [Int]

    func scatter(_ g: Tensor) -> Tensor {
        let y = Tensor.filled(fullShape, 0, g.dtype)
        func run<T: TensorScalar>(_: T.Type) {
            let src = g.pointer(T.self), dst = y.mutablePointer(T.self)
            for a in 0..<A { for b in 0..<B { dst[(a * D + indices[a * B + b]) * B + b] = src[a * B + b] } }
        }
        g.dtype == .float32 ? run(Float.self) : run(Double.self)
        return record("scatterAlongDim", [g], y) { c in [self.gather(c.grad)] }
    }

    func gather(_ x: Tensor) -> Tensor {
        let y = Tensor(uninitializedShape: reducedShape, dtype: x.dtype)
        func run<T: TensorScalar>(_: T.Type) {
            let src = x.pointer(T.self), dst = y.mutablePointer(T.self)
            for a in 0..<A { for b in 0..<B { dst[a * B + b] = src[(a * D + indices[a * B + b]) * B + b] } }
        }
        x.dtype == .float32 ? run(Float.self) : run(Double.self)
        return record("gatherAlongDim", [x], y) { c in [self.scatter(c.grad)] }
    }
}
