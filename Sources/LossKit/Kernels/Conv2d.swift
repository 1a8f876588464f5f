// conv2d (PyTorch's cross-correlation) and its adjoints, as GEMMs on implicit im2col panels.
//
// For one image n and group g (Cg = C/groups, Og = OC/groups, P = Cg·KH·KW, S = OH·OW):
//   forward          y[n,g]  (Og × S)   = W[g] (Og × P) · col(x[n,g]) (P × S)       (+ bias)
//   input gradient   gx[n,g] (Cg × H·W) = W[g]ᵀ-by-channel (Cg × Og·KH·KW) · tcol(gy[n,g])
//   weight gradient  gW[g]   (Og × P)   = Σₙ gy[n,g] (Og × S) · col(x[n,g])ᵀ (S × P)
//
// Second order. Each kernel is bilinear in its two tensor arguments, and the three are each
// other's adjoints, so every derivative of one is another (v: the cotangent arriving at the
// kernel's output):
//   y  = conv(x, W)             x̄ = inputGrad(v, W)    W̄ = weightGrad(v, x)
//   gx = inputGrad(gy, W)       ḡy = conv(v, W)        W̄ = weightGrad(gy, v)
//   gW = weightGrad(gy, x)      ḡy = conv(x, v)        x̄ = inputGrad(gy, v)
// (the identities behind them, ⟨conv(x,W), gy⟩ = ⟨x, inputGrad(gy,W)⟩ = ⟨W, weightGrad(gy,x)⟩,
// are what the dot-product tests check). A differentiable wrapper needs no further kernels
// for double backward.
//
// All three run deterministically: each output element is one dot product in fixed order,
// computed by one tile (see GemmDriver.swift). When the GEMM would have at most 3 rows
// (depthwise, single filters, few input channels for the input gradient) the forward and
// input gradient run as direct row loops instead (Conv2dDirect.swift); 3×3 stride-1 convolutions
// with at least 16 channels each side run by Winograd's F(2×2, 3×3), forward and input gradient
// (Conv2dWinograd.swift: 16 multiplications per 2×2 outputs instead of 36, not bit-equal to this path, which
// stays the reference as `Conv2dAlgorithm.gemm`). Known slow corners:
// the weight gradient of such groups still fills 6-row micro-tiles mostly with padding; the
// input gradient of a strided conv multiplies through the (stride²−1)/stride² structural
// zeros.

/// `output = conv2d(input, weight, bias)` (PyTorch semantics, cross-correlation).
///
/// `winogradCache` (a network layer's, whose weight never changes) keeps the Winograd path's
/// transformed filters between calls.
///
/// Preconditions (not checked; `Conv2dGeometry.init` validates the shapes): `input` holds
/// `g.inputShape`, `weight` holds `g.weightShape`, `bias` (if any) `g.outChannels` values,
/// `output` `g.outputShape` values and does not overlap the others. `output` is overwritten.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func conv2dForward<T: KernelFloat>(
    _ g: Conv2dGeometry, input: UnsafePointer<T>, weight: UnsafePointer<T>,
    bias: UnsafePointer<T>?, output: UnsafeMutablePointer<T>,
    algorithm: Conv2dAlgorithm = .automatic, winogradCache: WinogradFilterCache? = nil
) {
    conv2dForward(g, inputs: [input], weight: weight, bias: bias, outputs: [output], algorithm: algorithm, winogradCache: winogradCache)
}

/// `outputs[i] = conv2d(inputs[i], weight, bias)` for inputs of one shape (a network layer's
/// prediction and target), each as the one-input form computes it; the Winograd path transforms
/// the filters once for all of them (one use of `winogradCache`) and runs their tiles in one
/// pass. Preconditions as above, per pair.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func conv2dForward<T: KernelFloat>(
    _ g: Conv2dGeometry, inputs: [UnsafePointer<T>], weight: UnsafePointer<T>,
    bias: UnsafePointer<T>?, outputs: [UnsafeMutablePointer<T>],
    algorithm: Conv2dAlgorithm = .automatic, winogradCache: WinogradFilterCache? = nil
) {
    if (algorithm == .winograd || (algorithm == .automatic && Winograd23.preferred(
            inChannels: g.inChannels, outChannels: g.outChannels, outHeight: g.outHeight, outWidth: g.outWidth)))
        && Winograd23.applies(g) {
        let filters = winogradCache?.filters(g, weight: weight, flipped: false) ?? WinogradFilters(g, weight: weight, flipped: false)
        conv2dWinograd(g, inputs: inputs, weight: weight, flipped: false, bias: bias, outputs: outputs, filters: filters)
        return
    }
    for (input, output) in zip(inputs, outputs) {
        conv2dForwardByRows(g, input: input, weight: weight, bias: bias, output: output, algorithm: algorithm)
    }
}

/// The forward by the implicit-im2col GEMM, or by direct row loops when the GEMM would be thin.
private func conv2dForwardByRows<T: KernelFloat>(
    _ g: Conv2dGeometry, input: UnsafePointer<T>, weight: UnsafePointer<T>,
    bias: UnsafePointer<T>?, output: UnsafeMutablePointer<T>, algorithm: Conv2dAlgorithm
) {
    let og = g.groupOutChannels
    if algorithm.resolved(gemmRows: og) == .direct {
        conv2dForwardDirect(g, input: input, weight: weight, bias: bias, output: output)
        return
    }
    let p = g.groupInChannels * g.kernelH * g.kernelW
    let s = g.outHeight * g.outWidth
    let hw = g.height * g.width
    if g.batch == 0 || og == 0 || s == 0 { return }
    let grid = gemmTileGrid(count: g.batch * g.groups, m: og, n: s)
    let perImageGroup = grid.rowTiles * grid.colTiles
    let tiles = g.batch * g.groups * perImageGroup
    let mPad = PrepackedA<T>.paddedRows(og)
    let packed = UnsafeMutablePointer<T>.allocate(capacity: max(1, g.groups * mPad * p))
    defer { packed.deallocate() }
    for grp in 0..<g.groups {
        PrepackedA.pack(StridedMatrix(base: weight + grp * og * p, rowStride: p, colStride: 1),
                        m: og, k: p, into: packed + grp * mPad * p)
    }
    forEachGemmTile(tiles, work: g.batch * g.outChannels * s * max(p, 1), tileShape: (grid.rows, grid.cols, p), T.self) { t, space in
        let ng = t / perImageGroup
        let n = ng / g.groups, grp = ng % g.groups
        let i0 = ((t % perImageGroup) / grid.colTiles) * grid.rows
        let j0 = (t % grid.colTiles) * grid.cols
        let m = min(grid.rows, og - i0)
        let cols = min(grid.cols, s - j0)
        let a = PrepackedA(base: packed + grp * mPad * p, mPad: mPad)
        let b = ConvIm2colPanel(x: input + (n * g.inChannels + grp * g.groupInChannels) * hw, g: g, runs: space.runs)
        let c = output + (n * g.outChannels + grp * og + i0) * s + j0
        gemmTile(m: m, n: cols, k: p, alpha: 1, a: a, i0: i0, b: b, j0: j0,
                 beta: 0, c: c, ldc: s, space: space)
        if let bias {
            for i in 0..<m {
                let bv = bias[grp * og + i0 + i]
                let row = c + i * s
                for j in 0..<cols { row[j] += bv }
            }
        }
    }
}

/// `gradInput = ∂⟨conv2d(x, weight), gradOutput⟩/∂x` — the transposed convolution of
/// `gradOutput` (the adjoint of `conv2dForward` in its input).
///
/// Preconditions: `gradOutput` holds `g.outputShape`, `weight` `g.weightShape`, `gradInput`
/// `g.inputShape` values (overwritten, not accumulated; no overlap).
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func conv2dBackwardInput<T: KernelFloat>(
    _ g: Conv2dGeometry, gradOutput: UnsafePointer<T>, weight: UnsafePointer<T>,
    gradInput: UnsafeMutablePointer<T>, algorithm: Conv2dAlgorithm = .automatic,
    winogradCache: WinogradFilterCache? = nil
) {
    if algorithm == .winograd || (algorithm == .automatic && Winograd23.preferred(
            inChannels: g.outChannels, outChannels: g.inChannels, outHeight: g.height, outWidth: g.width)),
       let gd = Winograd23.inputGradientGeometry(g) {
        conv2dWinograd(gd, input: gradOutput, weight: weight, flipped: true, bias: nil, output: gradInput,
                       filters: winogradCache?.filters(gd, weight: weight, flipped: true))
        return
    }
    let cg = g.groupInChannels
    let og = g.groupOutChannels
    if algorithm.resolved(gemmRows: cg) == .direct {
        conv2dBackwardInputDirect(g, gradOutput: gradOutput, weight: weight, gradInput: gradInput)
        return
    }
    let khw = g.kernelH * g.kernelW
    let k = og * khw
    let hw = g.height * g.width
    let s = g.outHeight * g.outWidth
    if g.batch == 0 || cg == 0 || hw == 0 { return }
    let grid = gemmTileGrid(count: g.batch * g.groups, m: cg, n: hw)
    let perImageGroup = grid.rowTiles * grid.colTiles
    let tiles = g.batch * g.groups * perImageGroup
    let mPad = PrepackedA<T>.paddedRows(cg)
    let packed = UnsafeMutablePointer<T>.allocate(capacity: max(1, g.groups * mPad * k))
    defer { packed.deallocate() }
    for grp in 0..<g.groups {
        PrepackedA.pack(ConvTransposedWeight(w: weight + grp * og * cg * khw, g: g),
                        m: cg, k: k, into: packed + grp * mPad * k)
    }
    forEachGemmTile(tiles, work: g.batch * g.inChannels * hw * max(k, 1), tileShape: (grid.rows, grid.cols, k), T.self) { t, space in
        let ng = t / perImageGroup
        let n = ng / g.groups, grp = ng % g.groups
        let i0 = ((t % perImageGroup) / grid.colTiles) * grid.rows
        let j0 = (t % grid.colTiles) * grid.cols
        let a = PrepackedA(base: packed + grp * mPad * k, mPad: mPad)
        let b = ConvTransposedPanel(gy: gradOutput + (n * g.outChannels + grp * og) * s, g: g, runs: space.runs)
        gemmTile(m: min(grid.rows, cg - i0), n: min(grid.cols, hw - j0), k: k,
                 alpha: 1, a: a, i0: i0, b: b, j0: j0, beta: 0,
                 c: gradInput + (n * g.inChannels + grp * cg + i0) * hw + j0, ldc: hw, space: space)
    }
}

/// `gradWeight = ∂⟨conv2d(input, w), gradOutput⟩/∂w` (the adjoint of `conv2dForward` in its
/// weight), summed over the batch in image order.
///
/// Preconditions: `gradOutput` holds `g.outputShape`, `input` `g.inputShape`, `gradWeight`
/// `g.weightShape` values (overwritten; zero when the batch is empty; no overlap).
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func conv2dBackwardWeight<T: KernelFloat>(
    _ g: Conv2dGeometry, gradOutput: UnsafePointer<T>, input: UnsafePointer<T>,
    gradWeight: UnsafeMutablePointer<T>
) {
    let og = g.groupOutChannels
    let p = g.groupInChannels * g.kernelH * g.kernelW
    let s = g.outHeight * g.outWidth
    let hw = g.height * g.width
    if og == 0 || p == 0 { return }
    if g.batch == 0 {
        gradWeight.initialize(repeating: 0, count: g.outChannels * p)
        return
    }
    let grid = gemmTileGrid(count: g.groups, m: og, n: p)
    let perGroup = grid.rowTiles * grid.colTiles
    // Images one after another (each tile adds image n's term in order n = 0, 1, ...); the
    // image's gradient is packed once for all tiles, which otherwise each repacked it.
    let mPad = PrepackedA<T>.paddedRows(og)
    let packed = UnsafeMutablePointer<T>.allocate(capacity: max(1, g.groups * mPad * s))
    defer { packed.deallocate() }
    for n in 0..<g.batch {
        for grp in 0..<g.groups {
            PrepackedA.pack(StridedMatrix(base: gradOutput + (n * g.outChannels + grp * og) * s, rowStride: s, colStride: 1),
                            m: og, k: s, into: packed + grp * mPad * s)
        }
        forEachGemmTile(g.groups * perGroup, work: g.outChannels * p * max(s, 1), tileShape: (grid.rows, grid.cols, s), T.self) { t, space in
            let grp = t / perGroup
            let i0 = ((t % perGroup) / grid.colTiles) * grid.rows
            let j0 = (t % grid.colTiles) * grid.cols
            let a = PrepackedA(base: packed + grp * mPad * s, mPad: mPad)
            let b = ConvIm2colTransposedPanel(x: input + (n * g.inChannels + grp * g.groupInChannels) * hw, g: g)
            gemmTile(m: min(grid.rows, og - i0), n: min(grid.cols, p - j0), k: s,
                     alpha: 1, a: a, i0: i0, b: b, j0: j0, beta: n == 0 ? 0 : 1,
                     c: gradWeight + (grp * og + i0) * p + j0, ldc: p, space: space)
        }
    }
}

/// `gradBias[o] = Σ_{n, y, x} gradOutput[n, o, y, x]`, accumulated in Double in memory order.
///
/// Preconditions: `gradOutput` holds `g.outputShape` values, `gradBias` `g.outChannels`.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func conv2dBackwardBias<T: KernelFloat>(
    _ g: Conv2dGeometry, gradOutput: UnsafePointer<T>, gradBias: UnsafeMutablePointer<T>
) {
    let s = g.outHeight * g.outWidth
    for o in 0..<g.outChannels {
        var sum = 0.0
        for n in 0..<g.batch {
            let plane = gradOutput + (n * g.outChannels + o) * s
            for i in 0..<s { sum += T.widen(plane[i]) }
        }
        gradBias[o] = T(sum)
    }
}
