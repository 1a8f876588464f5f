import Foundation

// Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2015) for 3×3, stride-1,
// undilated, ungrouped convolutions: VGG's sixteen layers, and their input gradients.
//
// Every 2×2 block of outputs ("tile") is computed from the 4×4 input patch d under it:
//   Y = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A
// so the 36 multiplications per tile and channel pair become 16, and those 16 products summed
// over c are 16 independent GEMMs: M[ξ] (K × tiles) = U[ξ] (K × C) · V[ξ] (C × tiles), with
// U the transformed filters and V the transformed patches (ξ = one of the 4×4 points).
// The GEMMs run on the engine of GemmDriver.swift: U prepacked like conv2d's weights, V
// written by the input transform straight into the packed strip layout (no packing pass).
// The transforms work on `Vector.scalarCount` tiles at once, one tile per SIMD lane.
//
// Each worker thread takes a contiguous run of tiles and carries it through the three steps
// in chunks (bounded scratch: ~1 MB per transformed chunk and worker, so that V and M stay in
// cache between the steps; with 16 MB chunks the steps ran at memory speed). Every output is
// one fixed sequence of operations whatever the thread count, so results are deterministic
// like the other conv paths.
//
// Why F(2×2) and not F(4×4, 3×3) (36 points, a quarter of the multiplications), twice tried
// (docs/speed.md, Sessions 5 and 9). In the forward, a conv's rounding decides the
// discontinuous parts of a loss downstream — the sign of an l1 difference, a ReLU's mask — and
// the perceptual fixtures hold near-ties that only a forward about as accurate as the direct
// conv resolves as MMagic's float32 does: with F(4×4) forwards (points 0, ±1, ±2, or 0, ±1, ½,
// −2, whose float32 error per layer is 4–7× F(2×2)'s), single elements flipped and three
// fixtures' input gradients landed 1e-3 to 4e-3 from MMagic's (allowed: 1e-4). F(2×2)'s
// transforms are additions and halvings, and every fixture holds. The input gradient is
// linear, so F(4×4) there stays within its own ~1e-6 error; it was built for it alone
// (Session 9) and reverted: the warm step ~30 ms faster, a one-shot eval ~90 ms slower, the
// kept filters 2.25× larger (peak RSS of the `--repeat` row 686 → 876 MiB).
// The implicit-im2col GEMM (Conv2d.swift) stays the reference path: `Conv2dAlgorithm.gemm`.

/// F(2×2, 3×3): output tile 2×2, input patch 4×4, 16 transform points.
enum Winograd23 {
    /// Convolutions the transform computes: 3×3, stride 1, dilation 1, one group, padding at most 2
    /// (so that the input gradient is again such a convolution, with padding 2 − p).
    static func applies(_ g: Conv2dGeometry) -> Bool {
        g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
            && g.groups == 1 && g.padH <= 2 && g.padW <= 2 && g.outHeight > 0 && g.outWidth > 0
    }

    /// When `.automatic` picks it: both channel counts (the GEMMs' rows and depth) at least 16
    /// (fewer make thin GEMMs, and VGG's first layer, 3 → 64, stays with the GEMM).
    /// Measured with LossBench (`LOSSBENCH_ONLY=vgg`, one thread, f32, effective GFLOP/s
    /// gemm → winograd, forward): 64→128 at 112² 55 → 75, 256→256 at 56² 61 → 81,
    /// 512→512 at 28² 60 → 76, at 14² 28 → 45; 3→64 at 224² 24 → 6.
    static func preferred(inChannels: Int, outChannels: Int, outHeight: Int, outWidth: Int) -> Bool {
        inChannels >= 16 && outChannels >= 16 && outHeight >= 2 && outWidth >= 2
    }

    /// The (N, K, OH, OW) geometry whose forward pass is `g`'s input gradient: gradOutput as
    /// input, the weight flipped with its channel axes swapped, padding 2 − p.
    static func inputGradientGeometry(_ g: Conv2dGeometry) -> Conv2dGeometry? {
        guard applies(g) else { return nil }
        return try? Conv2dGeometry(input: [g.batch, g.outChannels, g.outHeight, g.outWidth],
                                   weight: [g.inChannels, g.outChannels, 3, 3], padding: (2 - g.padH, 2 - g.padW))
    }

    /// `u = G·g·Gᵀ` of one filter, in Double: `g(i)` the row-major 3×3 taps, `u[0..<16]` the
    /// row-major 4×4 result. G = [1 0 0; 1/2 1/2 1/2; 1/2 −1/2 1/2; 0 0 1].
    @inline(__always)
    static func filterTransform(_ g: (Int) -> Double, into u: UnsafeMutablePointer<Double>) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 12) { tb in
            let t = tb.baseAddress!  // t = G·g (4×3), column by column
            for j in 0..<3 {
                let a = g(j), b = g(3 + j), c = g(6 + j), ac = a + c
                t[j] = a; t[3 + j] = (ac + b) * 0.5; t[6 + j] = (ac - b) * 0.5; t[9 + j] = c
            }
            for i in 0..<4 {  // u = t·Gᵀ, row by row
                let a = t[3 * i], b = t[3 * i + 1], c = t[3 * i + 2], ac = a + c
                u[4 * i] = a; u[4 * i + 1] = (ac + b) * 0.5; u[4 * i + 2] = (ac - b) * 0.5; u[4 * i + 3] = c
            }
        }
    }

    /// Bᵀ·(d0…d3), in place on four vectors: Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
    @inline(__always)
    static func inputRows<V: SIMD>(_ d: inout (V, V, V, V)) where V.Scalar: FloatingPoint {
        let (d0, d1, d2, d3) = d
        d = (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
    }

    /// Aᵀ·(m0…m3): two vectors, Aᵀ = [1 1 1 0; 0 1 −1 −1].
    @inline(__always)
    static func outputRows<V: SIMD>(_ m0: V, _ m1: V, _ m2: V, _ m3: V) -> (V, V) where V.Scalar: FloatingPoint {
        (m0 + m1 + m2, m1 - m2 - m3)
    }
}

/// A right operand already laid out as packed strips over its whole depth: columns
/// `s·nr ..< s·nr + nr` are `depth × nr` values (row-major) at `base + s·stripStride`
/// (the input transform writes this layout, so `gemmTile` reads it in place instead of packing).
struct PrepackedB<Scalar: KernelFloat>: GemmPackB {
    var base: UnsafePointer<Scalar>
    var stripStride: Int

    @inline(__always) func strip(p0: Int, j0: Int) -> UnsafePointer<Scalar> {
        base + (j0 / GemmBlocking.nr(Scalar.self)) * stripStride + p0 * GemmBlocking.nr(Scalar.self)
    }

    func packB(_ dst: UnsafeMutablePointer<Scalar>, p0: Int, kc: Int, j0: Int, nc: Int) {
        let nr = GemmBlocking.nr(Scalar.self)
        var s = 0
        while s * nr < nc {
            dst.advanced(by: s * kc * nr).update(from: strip(p0: p0, j0: j0 + s * nr), count: kc * nr)
            s += 1
        }
    }
}

/// The transformed filters U[ξ] = G·g·Gᵀ of one convolution, in the GEMM's prepacked A
/// layout (PrepackedA: for each of the 16 points, depth blocks of kc, mr-row strips, rows past
/// K zero). Memory from the tensor pool (StoragePool): fresh allocations of these sizes (16 MB
/// for 512 channels) cost a page fault per 4 KiB on every call.
final class WinogradFilters<T: KernelFloat> {
    let base: UnsafeMutablePointer<T>
    let outChannels: Int, inChannels: Int, mPad: Int
    /// From point ξ's matrix to ξ + 1's: `mPad · C` and 64 bytes more. Matrices exactly
    /// `mPad · C` apart (a multiple of 4 KiB for 512 channels) put the transform's 16 write
    /// streams in one L1 set, 8-way, so each store evicted another stream's line: the padding
    /// halved the transform's time (512 → 512 channels, one thread: 20–28 → 9–13 ms).
    let planeStride: Int
    private let bytes: Int

    /// For the convolution `g` (`Winograd23.applies(g)`); `flipped` as in `conv2dWinograd`.
    init(_ g: Conv2dGeometry, weight: UnsafePointer<T>, flipped: Bool) {
        let k = g.outChannels, cIn = g.inChannels
        let mr = GemmBlocking.mr, kc = GemmBlocking.kc
        let mPad = PrepackedA<T>.paddedRows(k)
        let planeStride = mPad * cIn + 64 / MemoryLayout<T>.stride
        outChannels = k; inChannels = cIn; self.mPad = mPad; self.planeStride = planeStride
        bytes = 16 * planeStride * MemoryLayout<T>.stride
        let packedU = StoragePool.take(bytes).bindMemory(to: T.self, capacity: 16 * planeStride)
        base = packedU
        // One mr-row strip per job: each input channel's 16 points are written as 16 runs of mr
        // contiguous values, 16 sequential streams. (Lanes over input channels instead put each
        // value mr apart in 16 streams 1 MB apart for 512 channels, and the TLB misses were most
        // of the transform's time.) One filter at a time in scalar Double, with the padded
        // planes: for 512 → 512 channels on one thread 9–13 ms, against 17–22 ms for the strip's
        // rows in SIMD lanes gathered through the stack (standalone copies of both loops).
        parallelChunks(chunkCount(mPad, chunkSize: mr)) { strip in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: 16) { ub in
                let u = ub.baseAddress!
                let rows = min(mr, k - strip * mr)
                var p0 = 0
                while p0 < cIn {
                    let kcb = min(kc, cIn - p0)
                    for c in p0..<(p0 + kcb) {
                        let run = packedU + p0 * mPad + strip * kcb * mr + (c - p0) * mr
                        for r in 0..<mr {
                            if r < rows {
                                let o = strip * mr + r
                                if flipped {
                                    let f = weight + (c * k + o) * 9
                                    Winograd23.filterTransform({ Double(f[8 - $0]) }, into: u)
                                } else {
                                    let f = weight + (o * cIn + c) * 9
                                    Winograd23.filterTransform({ Double(f[$0]) }, into: u)
                                }
                                for xi in 0..<16 { run[xi * planeStride + r] = T(u[xi]) }
                            } else {
                                for xi in 0..<16 { run[xi * planeStride + r] = 0 }  // rows past K
                            }
                        }
                    }
                    p0 += kcb
                }
            }
        }
    }

    deinit { StoragePool.give(UnsafeMutableRawPointer(base), bytes) }
}

/// Transformed filters kept with a network layer whose weights never change, so that later
/// calls skip the filter transform (per orientation — forward and input gradient — and per
/// dtype). Handing the same cache a different weight is the caller's error the cache cannot
/// see, except by shape: an entry whose shape or dtype differs is rebuilt.
///
/// Each orientation is kept from its use number `LossKitRuntime.filterCacheKeepsFromUse` on; a
/// use is one kernel call, which may cover several inputs (`conv2dForward(inputs:)`: the
/// network layer runs the prediction and the target through one call). From the first use (the
/// default), a loop of evaluations is warm from its second step; kept from the second step
/// instead, that step paid the transform and the fresh pages again (`eval --repeat` of the
/// VGG19 perceptual row: step 2 ~700 ms against ~450 for step 3 on). From the second use (a
/// one-shot `losscli eval`), every filter is transformed once into pooled scratch that the
/// next layer of the same shape reuses, instead of keeping ~280 MB of fresh pages for VGG19
/// that the process never reads again (perf, cold perceptual eval: the filter caches' page
/// faults were ~10 % of the process's CPU time).
public final class WinogradFilterCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(flipped: Bool, shape: [Int], filters: AnyObject)] = []
    /// Uses so far of each orientation, shape and dtype.
    private var uses: [String: Int] = [:]

    public init() {}

    func filters<T: KernelFloat>(_ g: Conv2dGeometry, weight: UnsafePointer<T>, flipped: Bool) -> WinogradFilters<T> {
        let shape = [g.outChannels, g.inChannels]
        lock.lock()
        defer { lock.unlock() }
        if let hit = entries.first(where: { $0.flipped == flipped && $0.shape == shape && $0.filters is WinogradFilters<T> }),
           let f = hit.filters as? WinogradFilters<T> {
            return f
        }
        let f = WinogradFilters(g, weight: weight, flipped: flipped)
        let key = "\(flipped) \(shape) \(T.self)"
        let use = (uses[key] ?? 0) + 1
        uses[key] = use
        if use < LossKitRuntime.filterCacheKeepsFromUse { return f }
        entries.removeAll { $0.flipped == flipped && ($0.shape != shape || $0.filters is WinogradFilters<T>) }
        entries.append((flipped, shape, f))
        return f
    }

    /// Whether the filters of the forward convolution `g`, or of its input gradient, are kept (for tests).
    func holds<T: KernelFloat>(_ g: Conv2dGeometry, flipped: Bool, _: T.Type) -> Bool {
        let shape = flipped ? [g.inChannels, g.outChannels] : [g.outChannels, g.inChannels]
        lock.lock()
        defer { lock.unlock() }
        return entries.contains { $0.flipped == flipped && $0.shape == shape && $0.filters is WinogradFilters<T> }
    }
}

/// `output = conv2d(input, weight, bias)` by F(2×2, 3×3), for `Winograd23.applies(g)`.
/// With `flipped`, the weight is read as the input gradient's: `w'[k][c][i][j] = weight[c][k][2−i][2−j]`
/// (`weight` then holds `[g.inChannels, g.outChannels, 3, 3]` as the forward conv stores it).
/// `chunkBytes` bounds each worker's transformed chunk (V and M); tests lower it to cover several chunks.
/// `filters`: the transformed `weight` (for `g` and `flipped`) when the caller has them.
func conv2dWinograd<T: KernelFloat>(
    _ g: Conv2dGeometry, input: UnsafePointer<T>, weight: UnsafePointer<T>, flipped: Bool,
    bias: UnsafePointer<T>?, output: UnsafeMutablePointer<T>, chunkBytes: Int = 1 << 20,
    filters: WinogradFilters<T>? = nil
) {
    conv2dWinograd(g, inputs: [input], weight: weight, flipped: flipped, bias: bias, outputs: [output],
                   chunkBytes: chunkBytes, filters: filters)
}

/// `outputs[i] = conv2d(inputs[i], weight, bias)` as above, for inputs of `g`'s shape (a network
/// layer's prediction and target), in one pass over the tiles of all of them: each tile is
/// computed exactly as in a call of its own (same bits), but the GEMMs' columns and the workers'
/// runs span every input. Why one pass: VGG's 28² and 14² layers have 196 and 49 tiles per
/// image, 13 and 4 strips of 16, and one input at a time the two workers split them unevenly
/// and meet at a barrier twice. Measured (LossBench `LOSSBENCH_ONLY=pair`, VGG19's forwards of
/// layers 2–34 on two 224² inputs, filters cached, medians of 15, three runs): one pass 312,
/// 344, 307 ms against 319, 349, 318 ms for a call per input, 5–8 % on the 28² layers.
@_specialize(where T == Float) @_specialize(where T == Double)
func conv2dWinograd<T: KernelFloat>(
    _ g: Conv2dGeometry, inputs: [UnsafePointer<T>], weight: UnsafePointer<T>, flipped: Bool,
    bias: UnsafePointer<T>?, outputs: [UnsafeMutablePointer<T>], chunkBytes: Int = 1 << 20,
    filters: WinogradFilters<T>? = nil
) {
    let nr = T.Vector.scalarCount
    let cIn = g.inChannels, k = g.outChannels
    let h = g.height, w = g.width, oh = g.outHeight, ow = g.outWidth
    let tilesH = (oh + 1) / 2, tilesW = (ow + 1) / 2
    // Images of all inputs, numbered input by input: image n is image n % batch of input n / batch.
    let batch = g.batch, images = min(inputs.count, outputs.count) * batch
    let tiles = images * tilesH * tilesW
    if tiles == 0 || k == 0 { return }
    /// Image n's first input plane and first output plane.
    @inline(__always) func inputImage(_ n: Int) -> UnsafePointer<T> { inputs[n / batch] + (n % batch) * cIn * h * w }
    @inline(__always) func outputImage(_ n: Int) -> UnsafeMutablePointer<T> { outputs[n / batch] + (n % batch) * k * oh * ow }
    if cIn == 0 {
        for n in 0..<images {
            for o in 0..<k { (outputImage(n) + o * oh * ow).initialize(repeating: bias?[o] ?? 0, count: oh * ow) }
        }
        return
    }

    let filters = filters ?? WinogradFilters(g, weight: weight, flipped: flipped)
    let packedU = UnsafePointer(filters.base), mPad = filters.mPad, planeStride = filters.planeStride

    // Each worker takes a contiguous run of the tiles' `nr`-wide strips and carries it through
    // all three steps (input transform, the 16 GEMMs, output transform) chunk by chunk, in its
    // own V and M: no barrier between the steps, and what a step writes is read by the same core.
    // (Each step split over both cores, the way this was first built, sent half of V and M
    // across the cores' caches and cost three wake-ups of the other worker per chunk: VGG19's
    // convs fwd + dx at 224², 2 threads, LossBench `cached`, 264–282 → 247–254 ms; the
    // perceptual row's warm step 616–682 → 542–572 ms.)
    // Chunks are a multiple of nr tiles, sized so that V (16 × C × chunk) and M (16 × K × chunk)
    // each stay near `chunkBytes` per worker (1 and 2 MB: no difference measurable).
    let totalStrips = (tiles + nr - 1) / nr
    let workers = gemmWorkers(work: 16 * k * cIn * totalStrips * nr, units: totalStrips)
    let perStripBytes = 16 * max(cIn, k) * nr * MemoryLayout<T>.size
    let chunkStrips = max(1, min((totalStrips + workers - 1) / workers, chunkBytes / perStripBytes))
    let vCount = 16 * cIn * chunkStrips * nr, mCount = 16 * k * chunkStrips * nr
    // Scratch taken here, not by the workers: a fresh pool buffer is pre-faulted over the workers.
    let scratchBytes = workers * (vCount + mCount) * MemoryLayout<T>.stride
    let scratch = StoragePool.take(scratchBytes).bindMemory(to: T.self, capacity: workers * (vCount + mCount))
    defer { StoragePool.give(UnsafeMutableRawPointer(scratch), scratchBytes) }

    let ph = g.padH, pw = g.padW
    /// Tile t's image, and the first row and column of its 2×2 output block, into at[0..<3].
    @inline(__always) func tileOrigin(_ t: Int, _ at: UnsafeMutablePointer<Int>) {
        let rem = t % (tilesH * tilesW)
        at[0] = t / (tilesH * tilesW)
        at[1] = (rem / tilesW) * 2
        at[2] = (rem % tilesW) * 2
    }
    /// Bit q set when lanes 4q ..< 4q+4 (of the first `lanes`, float32 only) hold one image's
    /// tiles side by side on one row (origins `at[3l...]` two columns apart), the first lane's
    /// origin satisfying `inside(row, column)`.
    @inline(__always) func sideBySideQuads(_ at: UnsafePointer<Int>, lanes: Int, _ inside: (Int, Int) -> Bool) -> UInt32 {
        var bits: UInt32 = 0
        for q in 0..<(T.self == Float.self ? lanes / 4 : 0) {
            let l = 4 * q, n = at[3 * l], y0 = at[3 * l + 1], x0 = at[3 * l + 2]
            var ok = inside(y0, x0)
            for e in 1..<4 where ok {
                ok = at[3 * (l + e)] == n && at[3 * (l + e) + 1] == y0 && at[3 * (l + e) + 2] == x0 + 2 * e
            }
            if ok { bits |= 1 << q }
        }
        return bits
    }

    /// Input transform of the strip of tiles from `t0` (`lanes` of them, the rest zero) into
    /// `v`, the strip's block of V: channel c's point ξ at v + (ξ·C + c)·nr. A strip's 16 points
    /// together, so that the step writes one contiguous block (and the output transform reads one).
    @inline(__always) func transformInput(_ t0: Int, lanes: Int, into v: UnsafeMutablePointer<T>,
                                          _ lane: UnsafeMutablePointer<Int>, _ image: UnsafeMutablePointer<UnsafePointer<T>>,
                                          _ d: UnsafeMutablePointer<T>) {
        // Per lane: image, patch origin row and column (image −1 past the chunk's end), and
        // the image's first plane.
        for l in 0..<nr {
            if l >= lanes { lane[3 * l] = -1; continue }
            tileOrigin(t0 + l, lane + 3 * l)
            lane[3 * l + 1] -= ph
            lane[3 * l + 2] -= pw
            image[l] = inputImage(lane[3 * l])
        }
        // Groups of 4 lanes whose patches sit side by side inside one image's rows
        // (float32 only): gathered by 4 row loads and a 4×4 transpose per patch row.
        let quadInside = sideBySideQuads(lane, lanes: lanes) { iy0, ix0 in
            iy0 >= 0 && iy0 + 4 <= h && ix0 >= 0 && ix0 + 10 <= w
        }
        for c in 0..<cIn {
            for l in 0..<nr {
                if (quadInside >> (l / 4)) & 1 != 0 {
                    if l % 4 == 0 {
                        winogradGatherQuad(image[l] + c * h * w + lane[3 * l + 1] * w + lane[3 * l + 2],
                                           rowStride: w, into: d + l, laneStride: nr)
                    }
                    continue
                }
                if lane[3 * l] < 0 {
                    for p in 0..<16 { d[p * nr + l] = 0 }
                    continue
                }
                let iy0 = lane[3 * l + 1], ix0 = lane[3 * l + 2]
                let plane = image[l] + c * h * w
                if iy0 >= 0 && iy0 + 4 <= h && ix0 >= 0 && ix0 + 4 <= w {
                    for i in 0..<4 {
                        let row = plane + (iy0 + i) * w + ix0
                        for j in 0..<4 { d[(i * 4 + j) * nr + l] = row[j] }
                    }
                } else {
                    for i in 0..<4 {
                        let iy = iy0 + i
                        let inside = iy >= 0 && iy < h
                        for j in 0..<4 {
                            let ix = ix0 + j
                            d[(i * 4 + j) * nr + l] = inside && ix >= 0 && ix < w ? plane[iy * w + ix] : 0
                        }
                    }
                }
            }
            // Bᵀ·d down the columns, then ·B along the rows.
            for j in 0..<4 {
                var col = (loadVector(d + j * nr), loadVector(d + (4 + j) * nr),
                           loadVector(d + (8 + j) * nr), loadVector(d + (12 + j) * nr))
                Winograd23.inputRows(&col)
                storeVector(col.0, d + j * nr); storeVector(col.1, d + (4 + j) * nr)
                storeVector(col.2, d + (8 + j) * nr); storeVector(col.3, d + (12 + j) * nr)
            }
            let step = cIn * nr  // from point ξ to ξ + 1
            for i in 0..<4 {
                let r = d + i * 4 * nr
                var row = (loadVector(r), loadVector(r + nr), loadVector(r + 2 * nr), loadVector(r + 3 * nr))
                Winograd23.inputRows(&row)
                let dst = v + (i * 4 * cIn + c) * nr
                storeVector(row.0, dst); storeVector(row.1, dst + step)
                storeVector(row.2, dst + 2 * step); storeVector(row.3, dst + 3 * step)
            }
        }
    }

    /// Output transform Aᵀ·M·A of the strip of tiles from `t0` (`lanes` of them), from `mStrip`
    /// (output channel o's point ξ at mStrip + (ξ·K + o)·nr), cropped to the output.
    @inline(__always) func transformOutput(_ t0: Int, lanes: Int, from mStrip: UnsafePointer<T>,
                                           _ tileAt: UnsafeMutablePointer<Int>, _ image: UnsafeMutablePointer<UnsafeMutablePointer<T>>,
                                           _ tb: UnsafeMutablePointer<T>) {
        // Per lane: image, first output row and column, the image's first plane; groups of 4
        // lanes whose 2×2 blocks sit side by side inside the output (float32: two interleaving
        // stores per row).
        for l in 0..<lanes {
            tileOrigin(t0 + l, tileAt + 3 * l)
            image[l] = outputImage(tileAt[3 * l])
        }
        let quadInside = sideBySideQuads(tileAt, lanes: lanes) { oy0, ox0 in oy0 + 2 <= oh && ox0 + 8 <= ow }
        let step = k * nr  // from point ξ to ξ + 1
        for o in 0..<k {
            let base = mStrip + o * nr
            // Aᵀ down the columns: tb[i][b], i < 2, b < 4.
            for b in 0..<4 {
                let y = Winograd23.outputRows(loadVector(base + b * step), loadVector(base + (4 + b) * step),
                                              loadVector(base + (8 + b) * step), loadVector(base + (12 + b) * step))
                storeVector(y.0, tb + b * nr); storeVector(y.1, tb + (4 + b) * nr)
            }
            let bv = T.Vector(repeating: bias?[o] ?? 0)
            for i in 0..<2 {
                let r = tb + i * 4 * nr
                let y = Winograd23.outputRows(loadVector(r), loadVector(r + nr), loadVector(r + 2 * nr), loadVector(r + 3 * nr))
                // The row's first two slots (read above) take its two results.
                storeVector(y.0 + bv, r); storeVector(y.1 + bv, r + nr)
            }
            for l in 0..<lanes {
                let oy0 = tileAt[3 * l + 1], ox0 = tileAt[3 * l + 2]
                let plane = image[l] + o * oh * ow
                if (quadInside >> (l / 4)) & 1 != 0 {
                    if l % 4 == 0 {
                        winogradScatterQuad(tb + l, laneStride: nr, into: plane + oy0 * ow + ox0, rowStride: ow)
                    }
                    continue
                }
                for i in 0..<min(2, oh - oy0) {
                    let row = plane + (oy0 + i) * ow + ox0
                    let r = tb + i * 4 * nr
                    for j in 0..<min(2, ow - ox0) { row[j] = r[j * nr + l] }
                }
            }
        }
    }

    parallelChunks(workers) { wk in
        let v = scratch + wk * (vCount + mCount), m = v + vCount
        let space = GemmWorkspace<T>(m: k, n: chunkStrips * nr, k: cIn)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * nr) { laneBuf in
          withUnsafeTemporaryAllocation(of: T.self, capacity: 16 * nr) { dBuf in
          withUnsafeTemporaryAllocation(of: UnsafePointer<T>.self, capacity: nr) { inBuf in
          withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<T>.self, capacity: nr) { outBuf in
            let lane = laneBuf.baseAddress!, d = dBuf.baseAddress!
            let inImage = inBuf.baseAddress!, outImage = outBuf.baseAddress!
            var s0 = totalStrips * wk / workers
            let sEnd = totalStrips * (wk + 1) / workers
            while s0 < sEnd {
                let strips = min(chunkStrips, sEnd - s0)
                let ld = strips * nr  // columns of each M[ξ]
                for s in 0..<strips {
                    let t = (s0 + s) * nr
                    transformInput(t, lanes: min(nr, tiles - t), into: v + s * 16 * cIn * nr, lane, inImage, d)
                }
                // 16 GEMMs: M[ξ] (K × ld) = U[ξ] · V[ξ], M laid out like V: strip s of M[ξ], output
                // channel o, at m + ((s·16 + ξ)·K + o)·nr. Columns in blocks of at most nc.
                for xi in 0..<16 {
                    var j0 = 0
                    while j0 < ld {
                        gemmTile(m: k, n: min(GemmBlocking.nc, ld - j0), k: cIn, alpha: 1,
                                 a: PrepackedA(base: packedU + xi * planeStride, mPad: mPad), i0: 0,
                                 b: PrepackedB(base: v + xi * cIn * nr, stripStride: 16 * cIn * nr), j0: j0,
                                 beta: 0, c: m + (j0 / nr * 16 + xi) * k * nr, ldc: nr, space: space,
                                 cStripStride: 16 * k * nr)
                        j0 += GemmBlocking.nc
                    }
                }
                for s in 0..<strips {
                    let t = (s0 + s) * nr
                    transformOutput(t, lanes: min(nr, tiles - t), from: m + s * 16 * k * nr, lane, outImage, d)
                }
                s0 += strips
            }
          }
          }
          }
        }
    }
}

#if arch(x86_64) && canImport(_Builtin_intrinsics)
import _Builtin_intrinsics.intel
#endif

/// The 4×4 patches of 4 side-by-side tiles (patch q starts 2q columns right of `src`), written
/// transposed: `d[(i·4 + j)·laneStride + q] = src[i·rowStride + 2q + j]`. Float32 only (callers
/// check); the scalar loop is the other branch and the definition.
@inline(__always)
func winogradGatherQuad<T: KernelFloat>(_ src: UnsafePointer<T>, rowStride: Int, into d: UnsafeMutablePointer<T>, laneStride: Int) {
    #if arch(x86_64) && canImport(_Builtin_intrinsics)
    if T.self == Float.self {
        let x = UnsafeRawPointer(src), out = UnsafeMutableRawPointer(d)
        let step = laneStride * MemoryLayout<Float>.size
        for i in 0..<4 {
            let row = x + i * rowStride * MemoryLayout<Float>.size
            let a = row.loadUnaligned(as: SIMD4<Float>.self), b = row.loadUnaligned(fromByteOffset: 8, as: SIMD4<Float>.self)
            let c = row.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self), e = row.loadUnaligned(fromByteOffset: 24, as: SIMD4<Float>.self)
            let t0 = _mm_unpacklo_ps(a, b), t1 = _mm_unpacklo_ps(c, e)  // a0 b0 a1 b1, c0 e0 c1 e1
            let t2 = _mm_unpackhi_ps(a, b), t3 = _mm_unpackhi_ps(c, e)  // a2 b2 a3 b3, c2 e2 c3 e3
            let dst = out + 4 * i * step
            dst.storeBytes(of: _mm_movelh_ps(t0, t1), as: SIMD4<Float>.self)
            (dst + step).storeBytes(of: _mm_movehl_ps(t1, t0), as: SIMD4<Float>.self)
            (dst + 2 * step).storeBytes(of: _mm_movelh_ps(t2, t3), as: SIMD4<Float>.self)
            (dst + 3 * step).storeBytes(of: _mm_movehl_ps(t3, t2), as: SIMD4<Float>.self)
        }
        return
    }
    #endif
    for i in 0..<4 {
        for j in 0..<4 {
            for q in 0..<4 { d[(i * 4 + j) * laneStride + q] = src[i * rowStride + 2 * q + j] }
        }
    }
}

/// The 2×2 results of 4 side-by-side tiles (`r[(i·4 + j)·laneStride + q]`, tile q) into the
/// output rows: `dst[i·rowStride + 2q + j]`. Float32 only (callers check).
@inline(__always)
func winogradScatterQuad<T: KernelFloat>(_ r: UnsafePointer<T>, laneStride: Int, into dst: UnsafeMutablePointer<T>, rowStride: Int) {
    #if arch(x86_64) && canImport(_Builtin_intrinsics)
    if T.self == Float.self {
        let src = UnsafeRawPointer(r), out = UnsafeMutableRawPointer(dst)
        let step = laneStride * MemoryLayout<Float>.size
        for i in 0..<2 {
            let y0 = (src + 4 * i * step).loadUnaligned(as: SIMD4<Float>.self)
            let y1 = (src + (4 * i + 1) * step).loadUnaligned(as: SIMD4<Float>.self)
            let row = out + i * rowStride * MemoryLayout<Float>.size
            row.storeBytes(of: _mm_unpacklo_ps(y0, y1), as: SIMD4<Float>.self)
            row.storeBytes(of: _mm_unpackhi_ps(y0, y1), toByteOffset: 16, as: SIMD4<Float>.self)
        }
        return
    }
    #endif
    for i in 0..<2 {
        for q in 0..<4 {
            for j in 0..<2 { dst[i * rowStride + 2 * q + j] = r[(i * 4 + j) * laneStride + q] }
        }
    }
}
