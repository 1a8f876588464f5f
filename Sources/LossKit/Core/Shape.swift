import Foundation

/// Shape arithmetic shared by the ops: broadcasting, dimension normalisation, strides.

/// NumPy/PyTorch broadcasting: align shapes on the right; each pair of extents must be equal
/// or one of them 1.
public func broadcastShapes(_ shapes: [[Int]], op: String) throws -> [Int] {
    let r = shapes.map(\.count).max() ?? 0
    var out = [Int](repeating: 1, count: r)
    for s in shapes {
        for (j, d) in s.enumerated() {
            let o = r - s.count + j
            if out[o] == 1 { out[o] = d } else if d != 1 && d != out[o] {
                throw TensorError.shapeMismatch(op: op, shapes: shapes)
            }
        }
    }
    try checkAllocatable(out, op: op)
    return out
}

/// Throws unless a tensor of `shape` has non-negative extents and an element count that fits
/// in memory: broadcasting two large user-supplied shapes can otherwise ask for more elements
/// than an Int holds, or than the machine has.
func checkAllocatable(_ shape: [Int], op: String) throws {
    var n = 1
    for d in shape {
        guard d >= 0 else { throw TensorError.invalidArgument(op: op, message: "negative extent in shape \(formatShape(shape))") }
        let (p, overflow) = n.multipliedReportingOverflow(by: d)
        guard !overflow else { throw TensorError.invalidArgument(op: op, message: "shape \(formatShape(shape)) is too large") }
        n = p
    }
    guard UInt64(n) * 8 <= ProcessInfo.processInfo.physicalMemory else {
        throw TensorError.invalidArgument(op: op, message: "shape \(formatShape(shape)) (\(n) elements) does not fit in memory")
    }
}

/// Row-major element strides of a contiguous tensor of `shape`.
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) { s[d] = acc; acc *= shape[d] }
    return s
}

/// A dimension index in `-rank..<rank` made non-negative; throws otherwise.
func normalizeDim(_ dim: Int, rank: Int, op: String) throws -> Int {
    let r = max(rank, 1)   // PyTorch accepts dim 0 / -1 on a scalar
    guard dim >= -r && dim < r else {
        throw TensorError.invalidArgument(op: op, message: "dimension \(dim) out of range for a tensor of rank \(rank)")
    }
    return dim < 0 ? dim + r : dim
}

/// Distinct, normalised dimensions, sorted.
func normalizeDims(_ dims: [Int], rank: Int, op: String) throws -> [Int] {
    let n = try dims.map { try normalizeDim($0, rank: rank, op: op) }
    guard Set(n).count == n.count else {
        throw TensorError.invalidArgument(op: op, message: "dimension listed twice in \(dims)")
    }
    return n.sorted()
}
