/// Data movement kernels for the shape ops (permute, expand, slice, concat, pad).

extension BroadcastPlan {
    /// A walk over `shape` with explicit per-operand strides (coalesced the same way).
    init(shape: [Int], strides: [[Int]]) {
        var cs: [Int] = []
        var cst = [[Int]](repeating: [], count: strides.count)
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = cs.indices.last,
               (0..<strides.count).allSatisfy({ cst[$0][last] == strides[$0][d] * shape[d] }) {
                cs[last] *= shape[d]
                for k in 0..<strides.count { cst[k][last] = strides[k][d] }
            } else {
                cs.append(shape[d])
                for k in 0..<strides.count { cst[k].append(strides[k][d]) }
            }
        }
        if cs.isEmpty { cs = [1]; cst = cst.map { _ in [1] } }
        self.shape = cs
        self.strides = cst
    }
}

/// dst[Σ i_d·dstStrides_d] = src[Σ i_d·srcStrides_d] for every index i of `shape`
/// (the offsets are applied by the caller through the base pointers).
func stridedCopyKernel<T: TensorScalar>(_ src: UnsafePointer<T>, _ srcStrides: [Int],
                                        _ dst: UnsafeMutablePointer<T>, _ dstStrides: [Int], _ shape: [Int]) {
    if shape.contains(0) { return }
    let plan = BroadcastPlan(shape: shape, strides: [srcStrides, dstStrides])
    let n = plan.inner
    let si = plan.strides[0].last!, di = plan.strides[1].last!
    plan.forEachRow { _, off in
        let s = src + off[0], d = dst + off[1]
        if si == 1 && di == 1 {
            d.update(from: s, count: n)
        } else if si == 0 && di == 1 {
            d.update(repeating: s[0], count: n)
        } else {
            for i in 0..<n { d[i * di] = s[i * si] }
        }
    }
}
