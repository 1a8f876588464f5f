/// Shape ops: reshape (shares storage), expand, permute, slice and its adjoint, concat
/// (primitives); squeeze, unsqueeze, flatten, transpose, chunk, pad (composites).

func copyStrided(_ src: Tensor, srcOffset: Int, srcStrides: [Int], into dst: Tensor, dstOffset: Int, dstStrides: [Int], shape: [Int]) {
    switch src.dtype {
    case .float32: stridedCopyKernel(src.pointer(Float.self) + srcOffset, srcStrides, dst.mutablePointer(Float.self) + dstOffset, dstStrides, shape)
    case .float64: stridedCopyKernel(src.pointer(Double.self) + srcOffset, srcStrides, dst.mutablePointer(Double.self) + dstOffset, dstStrides, shape)
    }
}

/// Padding modes of ``Tensor/pad(_:mode:value:)``.
public enum PadMode: String, Sendable { case constant, replicate, reflect }

extension Tensor {
    /// The same elements with a new shape (one extent may be −1: inferred). Shares storage.
    /// ∂ = g reshaped back.
    public func reshape(_ newShape: [Int]) throws -> Tensor {
        var target = newShape
        let holes = target.indices.filter { target[$0] == -1 }
        guard holes.count <= 1, !target.contains(where: { $0 < -1 }) else {
            throw TensorError.invalidArgument(op: "reshape", message: "invalid shape \(formatShape(newShape))")
        }
        if let h = holes.first {
            let known = target.enumerated().filter { $0.offset != h }.reduce(1) { $0 * $1.element }
            guard known > 0, count % known == 0 else {
                throw TensorError.shapeMismatch(op: "reshape", shapes: [shape, newShape])
            }
            target[h] = count / known
        }
        guard target.reduce(1, *) == count else { throw TensorError.shapeMismatch(op: "reshape", shapes: [shape, newShape]) }
        if target == shape { return self }
        let inShape = shape
        let y = Tensor(shape: target, dtype: dtype, storage: storage)
        return record("reshape", [self], y) { c in [try c.grad.reshape(inShape)] }
    }

    /// Flattened to one dimension.
    public func flatten() -> Tensor { (try? reshape([count])) ?? self }

    /// Inserts an extent-1 dimension at `dim` (in `-(rank+1)...rank`).
    public func unsqueeze(_ dim: Int) throws -> Tensor {
        let d = try normalizeDim(dim, rank: rank + 1, op: "unsqueeze")
        var s = shape; s.insert(1, at: d)
        return try reshape(s)
    }

    /// Removes extent-1 dimensions (all of them, or `dim` only if it has extent 1).
    public func squeeze(_ dim: Int? = nil) throws -> Tensor {
        guard let dim else { return try reshape(shape.filter { $0 != 1 }) }
        let d = try normalizeDim(dim, rank: rank, op: "squeeze")
        guard rank > 0, shape[d] == 1 else { return self }
        var s = shape; s.remove(at: d)
        return try reshape(s)
    }

    /// Broadcast to `target` (NumPy rules; a copy). ∂ = g summed back (``sumTo(_:)``).
    public func expand(to target: [Int]) throws -> Tensor {
        try checkAllocatable(target, op: "expand")
        guard try broadcastShapes([shape, target], op: "expand") == target else {
            throw TensorError.shapeMismatch(op: "expand", shapes: [shape, target])
        }
        if target == shape { return self }
        let y = Tensor(uninitializedShape: target, dtype: dtype)
        let st = contiguousStrides(shape)
        var src = [Int](repeating: 0, count: target.count)
        for (j, d) in shape.enumerated() where d != 1 { src[target.count - rank + j] = st[j] }
        copyStrided(self, srcOffset: 0, srcStrides: src, into: y, dstOffset: 0, dstStrides: contiguousStrides(target), shape: target)
        let inShape = shape
        return record("expand", [self], y) { c in [try c.grad.sumTo(inShape)] }
    }

    /// Dimensions reordered: output dim i is input dim `dims[i]` (a copy). ∂ = g permuted back.
    public func permute(_ dims: [Int]) throws -> Tensor {
        let p = try dims.map { try normalizeDim($0, rank: rank, op: "permute") }
        guard p.count == rank, Set(p).count == rank else {
            throw TensorError.invalidArgument(op: "permute", message: "\(dims) is not a permutation of the \(rank) dimensions")
        }
        if p == Array(0..<rank) { return self }
        let st = contiguousStrides(shape)
        let outShape = p.map { shape[$0] }
        let y = Tensor(uninitializedShape: outShape, dtype: dtype)
        copyStrided(self, srcOffset: 0, srcStrides: p.map { st[$0] }, into: y, dstOffset: 0, dstStrides: contiguousStrides(outShape), shape: outShape)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in p.enumerated() { inverse[d] = i }
        return record("permute", [self], y) { c in [try c.grad.permute(inverse)] }
    }

    /// Swaps two dimensions.
    public func transpose(_ a: Int, _ b: Int) throws -> Tensor {
        let a = try normalizeDim(a, rank: rank, op: "transpose"), b = try normalizeDim(b, rank: rank, op: "transpose")
        var p = Array(0..<rank); p.swapAt(a, b)
        return try permute(p)
    }

    /// `x[start:end:step]` along `dim` with Python/PyTorch semantics: nil means the whole
    /// extent, negative indices count from the end, out-of-range bounds are clamped, `step` > 0.
    /// ∂ = g placed back into zeros at the selected positions.
    public func slice(dim: Int, start: Int? = nil, end: Int? = nil, step: Int = 1) throws -> Tensor {
        let d = try normalizeDim(dim, rank: rank, op: "slice")
        guard rank > 0 else { throw TensorError.invalidArgument(op: "slice", message: "cannot slice a scalar") }
        guard step > 0 else { throw TensorError.invalidArgument(op: "slice", message: "step must be positive, got \(step)") }
        let n = shape[d]
        func clampIndex(_ i: Int) -> Int { i < 0 ? Swift.max(i + n, 0) : Swift.min(i, n) }
        let lo = clampIndex(start ?? 0), hi = clampIndex(end ?? n)
        let len = hi > lo ? (hi - lo + step - 1) / step : 0
        if lo == 0 && len == n && step == 1 { return self }
        let sel = SliceSelection(fullShape: shape, dim: d, start: lo, step: step, length: len)
        return sel.take(self)
    }

    /// Multi-dimensional slice: one `(start, end, step)` per leading dimension.
    public func slice(_ ranges: [(start: Int?, end: Int?, step: Int)]) throws -> Tensor {
        guard ranges.count <= rank else {
            throw TensorError.invalidArgument(op: "slice", message: "\(ranges.count) ranges for a tensor of rank \(rank)")
        }
        var x = self
        for (d, r) in ranges.enumerated() { x = try x.slice(dim: d, start: r.start, end: r.end, step: r.step) }
        return x
    }

    /// Joins tensors along `dim` (all other extents equal). ∂ = the matching slices of g.
    public static func concat(_ tensors: [Tensor], dim: Int) throws -> Tensor {
        guard let first = tensors.first else { throw TensorError.invalidArgument(op: "concat", message: "no tensors") }
        let dtype: DType = tensors.contains { $0.dtype == .float64 } ? .float64 : .float32
        let parts = tensors.map { $0.to(dtype) }
        let r = first.rank
        let d = try normalizeDim(dim, rank: r, op: "concat")
        guard r > 0 else { throw TensorError.invalidArgument(op: "concat", message: "cannot concatenate scalars") }
        for t in parts where t.rank != r || (0..<r).contains(where: { $0 != d && t.shape[$0] != first.shape[$0] }) {
            throw TensorError.shapeMismatch(op: "concat", shapes: parts.map(\.shape))
        }
        var outShape = first.shape
        outShape[d] = parts.reduce(0) { $0 + $1.shape[d] }
        let y = Tensor(uninitializedShape: outShape, dtype: dtype)
        let dst = contiguousStrides(outShape)
        var offset = 0
        var starts: [Int] = []
        for t in parts {
            starts.append(offset)
            copyStrided(t, srcOffset: 0, srcStrides: contiguousStrides(t.shape), into: y, dstOffset: offset * dst[d],
                        dstStrides: dst, shape: t.shape)
            offset += t.shape[d]
        }
        let sizes = parts.map { $0.shape[d] }
        return record("concat", parts, y) { c in
            try (0..<parts.count).map { i in
                c.needs[i] ? try c.grad.slice(dim: d, start: starts[i], end: starts[i] + sizes[i]) : nil
            }
        }
    }

    /// Splits into `chunks` pieces along `dim` of ceil(n / chunks) each (the last may be
    /// smaller, and there may be fewer pieces), as `torch.chunk`.
    public func chunk(_ chunks: Int, dim: Int = 0) throws -> [Tensor] {
        guard chunks > 0 else { throw TensorError.invalidArgument(op: "chunk", message: "chunk count must be positive, got \(chunks)") }
        let d = try normalizeDim(dim, rank: rank, op: "chunk")
        guard rank > 0 else { throw TensorError.invalidArgument(op: "chunk", message: "cannot chunk a scalar") }
        let n = shape[d]
        let size = Swift.max(1, (n + chunks - 1) / chunks)
        if n == 0 { return [self] }
        return try stride(from: 0, to: n, by: size).map { try slice(dim: d, start: $0, end: $0 + size) }
    }

    /// `torch.nn.functional.pad`: `pads` = (left, right) pairs starting from the last dimension.
    /// Negative amounts crop. `.constant` fills with `value`; `.replicate` repeats the edge;
    /// `.reflect` mirrors without repeating the edge (amount < extent). Composite of slice,
    /// expand and concat, so it needs no rule of its own.
    public func pad(_ pads: [Int], mode: PadMode = .constant, value: Double = 0) throws -> Tensor {
        guard pads.count % 2 == 0, pads.count / 2 <= rank else {
            throw TensorError.invalidArgument(op: "pad", message: "\(pads.count) padding amounts for a tensor of rank \(rank)")
        }
        var x = self
        for k in 0..<(pads.count / 2) {
            let d = rank - 1 - k
            var left = pads[2 * k], right = pads[2 * k + 1]
            // Crop first, as PyTorch does for negative amounts.
            if left < 0 || right < 0 {
                let n = x.shape[d]
                let lo = left < 0 ? -left : 0, hi = right < 0 ? n + right : n
                guard hi >= lo else {
                    throw TensorError.invalidArgument(op: "pad", message: "padding \(pads) crops dimension \(d) of \(formatShape(shape)) below zero")
                }
                x = try x.slice(dim: d, start: lo, end: hi)
                left = Swift.max(left, 0); right = Swift.max(right, 0)
            }
            if left == 0 && right == 0 { continue }
            let n = x.shape[d]
            var pieces: [Tensor] = []
            switch mode {
            case .constant:
                var s = x.shape
                if left > 0 { s[d] = left; pieces.append(Tensor.filled(s, value, x.dtype)) }
                pieces.append(x)
                if right > 0 { s[d] = right; pieces.append(Tensor.filled(s, value, x.dtype)) }
            case .replicate:
                guard n > 0 else {
                    throw TensorError.invalidArgument(op: "pad", message: "replicate padding of an empty dimension \(d) in \(formatShape(shape))")
                }
                var s = x.shape
                if left > 0 { s[d] = left; pieces.append(try x.slice(dim: d, start: 0, end: 1).expand(to: s)) }
                pieces.append(x)
                if right > 0 { s[d] = right; pieces.append(try x.slice(dim: d, start: n - 1, end: n).expand(to: s)) }
            case .reflect:
                guard left < n, right < n else {
                    throw TensorError.invalidArgument(op: "pad", message: "reflect padding (\(left), \(right)) must be smaller than dimension \(d) of extent \(n)")
                }
                for i in stride(from: left, to: 0, by: -1) { pieces.append(try x.slice(dim: d, start: i, end: i + 1)) }
                pieces.append(x)
                for i in 0..<right { pieces.append(try x.slice(dim: d, start: n - 2 - i, end: n - 1 - i)) }
            }
            x = try Tensor.concat(pieces, dim: d)
        }
        return x
    }
}

/// Elements `start, start+step, ...` (`length` of them) along `dim` of a tensor of `fullShape`.
/// `take` extracts them; `put` (its adjoint) writes values there into zeros. Each is the
/// other's backward rule.
struct SliceSelection {
    let fullShape: [Int]
    let dim: Int, start: Int, step: Int, length: Int

    var partShape: [Int] { var s = fullShape; s[dim] = length; return s }

    /// Strides of the selected positions inside the full tensor, and the offset of the first.
    private var fullStrides: (offset: Int, strides: [Int]) {
        var st = contiguousStrides(fullShape)
        let offset = start * st[dim]
        st[dim] *= step
        return (offset, st)
    }

    func take(_ x: Tensor) -> Tensor {
        let shape = partShape
        let y = Tensor(uninitializedShape: shape, dtype: x.dtype)
        let (off, st) = fullStrides
        copyStrided(x, srcOffset: off, srcStrides: st, into: y, dstOffset: 0, dstStrides: contiguousStrides(shape), shape: shape)
        return record("slice", [x], y) { c in [self.put(c.grad)] }
    }

    func put(_ g: Tensor) -> Tensor {
        let y = Tensor.filled(fullShape, 0, g.dtype)
        let (off, st) = fullStrides
        copyStrided(g, srcOffset: 0, srcStrides: contiguousStrides(partShape), into: y, dstOffset: off, dstStrides: st, shape: partShape)
        return record("sliceBackward", [g], y) { c in [self.take(c.grad)] }
    }
}
