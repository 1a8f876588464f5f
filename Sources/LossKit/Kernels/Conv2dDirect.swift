// Direct (loop) conv2d forward and input gradient, for when the GEMM would have very few
// rows: depthwise convolutions (MMagic's GaussianBlur, a 71×71 kernel with groups = C),
// single filters (GradientLoss's Sobel kernels), input gradients of few-channel images.
// There the GEMM's 6-row micro-tile is mostly padding, and its packed panel is read by so
// few rows that packing costs more than the arithmetic.
//
// Each output row is accumulated in place with fused multiply-adds, taps in the same order
// as the GEMM's depth index p = (channel, ki, kj), skipping taps that fall in the zero
// padding (the GEMM adds their exact zero products). For a depth of at most `kc` (256) the
// two paths therefore give the same bits, which the tests check.

/// How `conv2dForward` / `conv2dBackwardInput` compute.
public enum Conv2dAlgorithm: Sendable {
    /// `.direct` when the GEMM would have at most 3 rows per group — output channels per
    /// group for the forward, input channels per group for the input gradient — else `.gemm`.
    case automatic
    /// Implicit-im2col GEMM (Conv2d.swift).
    case gemm
    /// Row loops (Conv2dDirect.swift).
    case direct
    /// Winograd F(2×2, 3×3) (Conv2dWinograd.swift) where `Winograd23.applies`, else `.automatic`.
    /// `.automatic` picks it for such convolutions when `Winograd23.preferred`.
    case winograd

    /// GEMM rows up to which `.automatic` picks `.direct`. Measured with LossBench
    /// (`LOSSBENCH_ONLY=small`, one thread, thread CPU time, ms gemm → direct):
    /// depthwise 3×3 64ch 112² fwd 6.0 → 1.6, dx 6.7 → 1.6; 71×71 blur 128² fwd 53 → 13;
    /// 3 rows fwd 2.07 → 1.85; 4 rows fwd 2.16 → 2.47 (GEMM ahead from 4 rows);
    /// VGG conv1 (3 → 64) dx 18.8 → 16.0, but its fwd (64 rows) 4.2 → 13.8.
    static let directMaxGemmRows = 3

    func resolved(gemmRows: Int) -> Conv2dAlgorithm {
        switch self {
        case .automatic, .winograd: return gemmRows <= Conv2dAlgorithm.directMaxGemmRows ? .direct : .gemm
        default: return self
        }
    }
}

/// `dst[i] = fma(w, src[i], dst[i])` for `i in 0..<count`.
@inline(__always)
func convRowAxpy<T: KernelFloat>(_ w: T, _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ count: Int) {
    let lanes = T.Vector.scalarCount
    let wv = T.Vector(repeating: w)
    var i = 0
    while i + lanes <= count {
        storeVector(loadVector(dst + i).addingProduct(wv, loadVector(src + i)), dst + i)
        i += lanes
    }
    while i < count {
        dst[i] = dst[i].addingProduct(w, src[i])
        i += 1
    }
}

/// Runs `body(plane)` over `planes` planes of `planeSize` elements in fixed chunks.
@inline(__always)
func convForEachPlane(_ planes: Int, planeSize: Int, work: Int, _ body: (Int) -> Void) {
    let per = max(1, (1 << 14) / max(planeSize, 1))
    let chunks = chunkCount(planes, chunkSize: per)
    if work < 1 << 18 {
        for plane in 0..<planes { body(plane) }
        return
    }
    parallelChunks(chunks) { chunk in
        for plane in (chunk * per)..<min(planes, (chunk + 1) * per) { body(plane) }
    }
}

/// The forward pass by rows: every (image, output channel) plane on one thread.
@_specialize(where T == Float) @_specialize(where T == Double)
func conv2dForwardDirect<T: KernelFloat>(
    _ g: Conv2dGeometry, input: UnsafePointer<T>, weight: UnsafePointer<T>,
    bias: UnsafePointer<T>?, output: UnsafeMutablePointer<T>
) {
    let cg = g.groupInChannels, og = g.groupOutChannels
    let ohw = g.outHeight * g.outWidth, hw = g.height * g.width
    let work = g.batch * g.outChannels * ohw * cg * g.kernelH * g.kernelW
    convForEachPlane(g.batch * g.outChannels, planeSize: ohw, work: work) { plane in
        let n = plane / g.outChannels, o = plane % g.outChannels
        let grp = o / og
        let out = output + plane * ohw
        for oy in 0..<g.outHeight {
            let row = out + oy * g.outWidth
            row.initialize(repeating: 0, count: g.outWidth)
            for c in 0..<cg {
                let xPlane = input + (n * g.inChannels + grp * cg + c) * hw
                for ki in 0..<g.kernelH {
                    let ih = oy * g.strideH - g.padH + ki * g.dilationH
                    if ih < 0 || ih >= g.height { continue }
                    let xRow = xPlane + ih * g.width
                    for kj in 0..<g.kernelW {
                        let wv = weight[((o * cg + c) * g.kernelH + ki) * g.kernelW + kj]
                        let off = kj * g.dilationW - g.padW
                        // Output columns with 0 <= ox·sw + off < W.
                        let lo = off >= 0 ? 0 : (-off + g.strideW - 1) / g.strideW
                        let hi = off >= g.width ? 0 : min(g.outWidth, (g.width - 1 - off) / g.strideW + 1)
                        if lo >= hi { continue }
                        if g.strideW == 1 {
                            convRowAxpy(wv, xRow + lo + off, row + lo, hi - lo)
                        } else {
                            for ox in lo..<hi { row[ox] = row[ox].addingProduct(wv, xRow[ox * g.strideW + off]) }
                        }
                    }
                }
            }
            if let bias {
                let bv = bias[o]
                for ox in 0..<g.outWidth { row[ox] += bv }
            }
        }
    }
}

/// The input gradient by rows (gather form): every (image, input channel) plane on one thread,
/// taps in the GEMM's order p = (output channel, ki, kj).
@_specialize(where T == Float) @_specialize(where T == Double)
func conv2dBackwardInputDirect<T: KernelFloat>(
    _ g: Conv2dGeometry, gradOutput: UnsafePointer<T>, weight: UnsafePointer<T>,
    gradInput: UnsafeMutablePointer<T>
) {
    let cg = g.groupInChannels, og = g.groupOutChannels
    let ohw = g.outHeight * g.outWidth, hw = g.height * g.width
    let work = g.batch * g.inChannels * hw * og * g.kernelH * g.kernelW
    convForEachPlane(g.batch * g.inChannels, planeSize: hw, work: work) { plane in
        let n = plane / g.inChannels, ch = plane % g.inChannels
        let grp = ch / cg, c = ch % cg
        let gx = gradInput + plane * hw
        for iy in 0..<g.height {
            let row = gx + iy * g.width
            row.initialize(repeating: 0, count: g.width)
            for oo in 0..<og {
                let o = grp * og + oo
                let gyPlane = gradOutput + (n * g.outChannels + o) * ohw
                for ki in 0..<g.kernelH {
                    let numH = iy + g.padH - ki * g.dilationH
                    let oy = numH / g.strideH
                    if numH < 0 || numH - oy * g.strideH != 0 || oy >= g.outHeight { continue }
                    let gyRow = gyPlane + oy * g.outWidth
                    for kj in 0..<g.kernelW {
                        let wv = weight[((o * cg + c) * g.kernelH + ki) * g.kernelW + kj]
                        let off = g.padW - kj * g.dilationW  // ox·sw = ix + off
                        if g.strideW == 1 {
                            // Input columns with 0 <= ix + off < OW.
                            let lo = max(0, -off), hi = min(g.width, g.outWidth - off)
                            if lo < hi { convRowAxpy(wv, gyRow + lo + off, row + lo, hi - lo) }
                        } else {
                            for ix in 0..<g.width {
                                let num = ix + off
                                let ox = num / g.strideW
                                if num >= 0 && num - ox * g.strideW == 0 && ox < g.outWidth {
                                    row[ix] = row[ix].addingProduct(wv, gyRow[ox])
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
