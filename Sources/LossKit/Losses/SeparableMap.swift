/// A fixed linear map on the last two dimensions of an `(N, C, H, W)` tensor that is separable:
/// `y[n,c] = R · x[n,c] · Cᵀ` with sparse `R` (out H × in H) and `C` (out W × in W).
///
/// It expresses, exactly and differentiably, the few fixed-weight image operators the losses
/// need: PyTorch's bilinear (align_corners=True) and bicubic (align_corners=False) resize, and
/// the 3×3 Sobel cross-correlation with zero padding (both Sobel kernels are outer products).
/// This is the reference path while the engine has no `interpolate`/`conv2d` ops of its own.
///
/// Evaluation order follows PyTorch's CPU kernels: each output row first combines the
/// columns (`C`), then the rows are combined (`R`), each sum taken in tap order.
/// The backward rule is the adjoint map `(Rᵀ, Cᵀ)`, itself differentiable (its adjoint is
/// this map), so second derivatives work.
struct SeparableMap {
    /// `rows[i]`: the (source row, weight) taps of output row `i`.
    var rows: [[(index: Int, weight: Double)]]
    var cols: [[(index: Int, weight: Double)]]
    var inHeight: Int
    var inWidth: Int

    var outHeight: Int { rows.count }
    var outWidth: Int { cols.count }

    /// The adjoint (transposed) map.
    var adjoint: SeparableMap {
        func transpose(_ m: [[(index: Int, weight: Double)]], inCount: Int) -> [[(index: Int, weight: Double)]] {
            var t = Array(repeating: [(index: Int, weight: Double)](), count: inCount)
            for (i, taps) in m.enumerated() { for tap in taps { t[tap.index].append((i, tap.weight)) } }
            return t
        }
        return SeparableMap(rows: transpose(rows, inCount: inHeight), cols: transpose(cols, inCount: inWidth),
                            inHeight: outHeight, inWidth: outWidth)
    }

    /// Applies the map to a 4-D tensor whose last two dimensions are `(inHeight, inWidth)`.
    func apply(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[2] == inHeight, x.shape[3] == inWidth else {
            throw TensorError.shapeMismatch(op: "resample", shapes: [x.shape, [-1, -1, inHeight, inWidth]])
        }
        let planes = x.shape[0] * x.shape[1]
        let out: Tensor
        switch x.dtype {
        case .float32: out = try run(x, planes, Float.self)
        case .float64: out = try run(x, planes, Double.self)
        }
        let map = self
        return record("resample", [x], out) { ctx in [try map.adjoint.apply(ctx.grad)] }
    }

    private func run<T: TensorScalar>(_ x: Tensor, _ planes: Int, _: T.Type) throws -> Tensor {
        let src = try x.withUnsafeBufferPointer(as: T.self) { Array($0) }
        let rowTaps = rows.map { $0.map { ($0.index, T($0.weight)) } }
        let colTaps = cols.map { $0.map { ($0.index, T($0.weight)) } }
        let (ih, iw, oh, ow) = (inHeight, inWidth, outHeight, outWidth)
        var dst = [T](repeating: 0, count: planes * oh * ow)
        var tmp = [T](repeating: 0, count: ih * ow)
        for p in 0..<planes {
            let s = p * ih * iw
            for r in 0..<ih {
                for j in 0..<ow {
                    var acc: T = 0
                    for (c, w) in colTaps[j] { acc += w * src[s + r * iw + c] }
                    tmp[r * ow + j] = acc
                }
            }
            let d = p * oh * ow
            for i in 0..<oh {
                for j in 0..<ow {
                    var acc: T = 0
                    for (r, w) in rowTaps[i] { acc += w * tmp[r * ow + j] }
                    dst[d + i * ow + j] = acc
                }
            }
        }
        let shape = [x.shape[0], x.shape[1], oh, ow]
        return T.self == Float.self ? try Tensor(shape: shape, float32: dst as! [Float])
                                    : try Tensor(shape: shape, float64: dst as! [Double])
    }
}

extension SeparableMap {
    /// PyTorch's `interpolate(mode="bilinear", align_corners=True)` from (inH, inW) to (outH, outW).
    /// Source position `i·(in−1)/(out−1)`, weights computed in the tensor's precision as PyTorch does.
    static func bilinearAlignCorners(from inSize: (Int, Int), to outSize: (Int, Int), dtype: DType) -> SeparableMap {
        func axis(_ n: Int, _ m: Int) -> [[(index: Int, weight: Double)]] {
            (0..<m).map { i -> [(index: Int, weight: Double)] in
                switch dtype {
                case .float32:
                    let scale: Float = m > 1 ? Float(n - 1) / Float(m - 1) : 0
                    let real = scale * Float(i)
                    let i0 = min(Int(real), n - 1)
                    let step = i0 < n - 1 ? 1 : 0
                    let l1 = real - Float(i0)
                    return [(i0, Double(1 - l1)), (i0 + step, Double(l1))]
                case .float64:
                    let scale: Double = m > 1 ? Double(n - 1) / Double(m - 1) : 0
                    let real = scale * Double(i)
                    let i0 = min(Int(real), n - 1)
                    let step = i0 < n - 1 ? 1 : 0
                    let l1 = real - Double(i0)
                    return [(i0, 1 - l1), (i0 + step, l1)]
                }
            }
        }
        return SeparableMap(rows: axis(inSize.0, outSize.0), cols: axis(inSize.1, outSize.1),
                            inHeight: inSize.0, inWidth: inSize.1)
    }

    /// PyTorch's `interpolate(mode="bicubic", align_corners=False)`: Keys' cubic with A = −0.75,
    /// source position `(i + 0.5)·in/out − 0.5`, taps at floor−1 … floor+2 clamped to the border.
    static func bicubic(from inSize: (Int, Int), to outSize: (Int, Int), dtype: DType) -> SeparableMap {
        func coefficients<T: BinaryFloatingPoint>(_ t: T) -> [T] {
            let a: T = -0.75
            func near(_ x: T) -> T { ((a + 2) * x - (a + 3)) * x * x + 1 }
            func far(_ x: T) -> T { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
            let u = 1 - t
            return [far(t + 1), near(t), near(u), far(u + 1)]
        }
        func axis(_ n: Int, _ m: Int) -> [[(index: Int, weight: Double)]] {
            (0..<m).map { i -> [(index: Int, weight: Double)] in
                let base: Int
                let ws: [Double]
                switch dtype {
                case .float32:
                    let scale = Float(n) / Float(m)
                    let real = scale * (Float(i) + 0.5) - 0.5
                    let f = real.rounded(.down)
                    base = Int(f)
                    ws = coefficients(real - f).map(Double.init)
                case .float64:
                    let scale = Double(n) / Double(m)
                    let real = scale * (Double(i) + 0.5) - 0.5
                    let f = real.rounded(.down)
                    base = Int(f)
                    ws = coefficients(real - f)
                }
                return (0..<4).map { k in (min(max(base - 1 + k, 0), n - 1), ws[k]) }
            }
        }
        return SeparableMap(rows: axis(inSize.0, outSize.0), cols: axis(inSize.1, outSize.1),
                            inHeight: inSize.0, inWidth: inSize.1)
    }

    /// Cross-correlation with the 3-tap kernels `vertical` (over H) and `horizontal` (over W),
    /// zero padding 1: the separable form of a 3×3 kernel `vertical ⊗ horizontal`.
    static func correlate3(height: Int, width: Int, vertical: [Double], horizontal: [Double]) -> SeparableMap {
        func axis(_ n: Int, _ k: [Double]) -> [[(index: Int, weight: Double)]] {
            (0..<n).map { i in (0..<3).compactMap { t in
                let src = i - 1 + t
                return src >= 0 && src < n && k[t] != 0 ? (src, k[t]) : nil
            } }
        }
        return SeparableMap(rows: axis(height, vertical), cols: axis(width, horizontal), inHeight: height, inWidth: width)
    }
}
