#if arch(x86_64) && canImport(_Builtin_intrinsics)
import _Builtin_intrinsics.intel
#endif

// avg_pool2d, max_pool2d, adaptive_avg_pool2d and their adjoints (PyTorch CPU semantics).
//
// Every kernel works plane by plane (one (n, c) image); planes are split over the threads in
// fixed chunks, and a plane's scatter runs in a fixed order on one thread, so results are
// bit-identical for any thread count. All pooled sums run in the tensor's type in row-major
// window order, as PyTorch's CPU kernels do.
//
// Second order: avg pooling and its adjoint are linear, so each is the other's derivative.
// Max pooling with fixed indices is linear too: the derivative of `maxPool2dBackward` in its
// gradient is `maxPool2dGather` (the same indices read instead of written), and of
// `maxPool2dGather` it is `maxPool2dBackward`.
//
// The three max-pooling kernels are specialised without `exported: true`: with it, Swift 6.3.1
// in release (-O, whole module) did not emit the exported Float/Double entry points, so any
// caller (LossBench, the max_pool2d op) failed to link ("undefined reference to
// ...maxPool2dForward...Ts5"). Callers in LossKit get the specialisations all the same.

/// Planes per parallel chunk for a plane size: about 64K elements per chunk.
@inline(__always)
func poolPlanesPerChunk(_ planeSize: Int) -> Int { max(1, (1 << 16) / max(planeSize, 1)) }

@inline(__always)
func forEachPlane(_ planes: Int, planeSize: Int, _ body: (Int) -> Void) {
    let per = poolPlanesPerChunk(planeSize)
    parallelChunks(chunkCount(planes, chunkSize: per)) { chunk in
        for plane in (chunk * per)..<min(planes, (chunk + 1) * per) { body(plane) }
    }
}

/// The window of output cell `o` along one axis of avg_pool2d: clipped bounds plus the
/// PyTorch divisor part (`pool size`, counting padding but not beyond `in + pad`).
@inline(__always)
func avgPoolWindow(_ o: Int, n: Int, k: Int, s: Int, p: Int) -> (lo: Int, hi: Int, padded: Int) {
    let start = o * s - p
    let end = min(start + k, n + p)
    return (max(start, 0), min(end, n), end - start)
}

/// `avg_pool2d(input, kernel, stride, padding, ceilMode, countIncludePad, divisorOverride)`.
///
/// Divisor per cell: `divisorOverride` if given, else the window size including padding
/// (`countIncludePad`, PyTorch's default) or the number of input pixels in the window.
/// Preconditions: `g` from `Pool2dGeometry` (dilation 1); `input` holds `g.inputShape`
/// values, `output` `g.outputShape` (overwritten); `divisorOverride` non-zero.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func avgPool2dForward<T: KernelFloat>(
    _ g: Pool2dGeometry, countIncludePad: Bool = true, divisorOverride: Int? = nil,
    input: UnsafePointer<T>, output: UnsafeMutablePointer<T>
) {
    let hw = g.height * g.width, ohw = g.outHeight * g.outWidth
    forEachPlane(g.batch * g.channels, planeSize: hw) { plane in
        let x = input + plane * hw
        let y = output + plane * ohw
        for oy in 0..<g.outHeight {
            let wy = avgPoolWindow(oy, n: g.height, k: g.kernelH, s: g.strideH, p: g.padH)
            for ox in 0..<g.outWidth {
                let wx = avgPoolWindow(ox, n: g.width, k: g.kernelW, s: g.strideW, p: g.padW)
                var sum: T = 0
                for iy in wy.lo..<max(wy.lo, wy.hi) {
                    for ix in wx.lo..<max(wx.lo, wx.hi) { sum += x[iy * g.width + ix] }
                }
                let divisor = divisorOverride
                    ?? (countIncludePad ? wy.padded * wx.padded : max(0, wy.hi - wy.lo) * max(0, wx.hi - wx.lo))
                y[oy * g.outWidth + ox] = sum / T(divisor)
            }
        }
    }
}

/// The adjoint of `avgPool2dForward`: every input pixel of cell o's window receives
/// `gradOutput[o] / divisor(o)`. `gradInput` is overwritten. Preconditions as for the forward.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func avgPool2dBackward<T: KernelFloat>(
    _ g: Pool2dGeometry, countIncludePad: Bool = true, divisorOverride: Int? = nil,
    gradOutput: UnsafePointer<T>, gradInput: UnsafeMutablePointer<T>
) {
    let hw = g.height * g.width, ohw = g.outHeight * g.outWidth
    forEachPlane(g.batch * g.channels, planeSize: hw) { plane in
        let gx = gradInput + plane * hw
        let gy = gradOutput + plane * ohw
        gx.initialize(repeating: 0, count: hw)
        for oy in 0..<g.outHeight {
            let wy = avgPoolWindow(oy, n: g.height, k: g.kernelH, s: g.strideH, p: g.padH)
            for ox in 0..<g.outWidth {
                let wx = avgPoolWindow(ox, n: g.width, k: g.kernelW, s: g.strideW, p: g.padW)
                let divisor = divisorOverride
                    ?? (countIncludePad ? wy.padded * wx.padded : max(0, wy.hi - wy.lo) * max(0, wx.hi - wx.lo))
                let v = gy[oy * g.outWidth + ox] / T(divisor)
                for iy in wy.lo..<max(wy.lo, wy.hi) {
                    for ix in wx.lo..<max(wx.lo, wx.hi) { gx[iy * g.width + ix] += v }
                }
            }
        }
    }
}

/// `max_pool2d(input, kernel, stride, padding, dilation, ceilMode, return_indices=True)`.
///
/// `indices` receives, per output cell, the flat index `iy·W + ix` of the chosen pixel within
/// its plane (PyTorch's convention). As in PyTorch's CPU kernel a NaN always wins (the last
/// NaN in the window), ties keep the first maximum, and a window of only −inf reports its
/// first in-bounds pixel. Preconditions: `g` from `Pool2dGeometry`; `input` holds
/// `g.inputShape` values, `output` and `indices` `g.outputShape` (overwritten).
@_specialize(where T == Float)
@_specialize(where T == Double)
public func maxPool2dForward<T: KernelFloat>(
    _ g: Pool2dGeometry, input: UnsafePointer<T>,
    output: UnsafeMutablePointer<T>, indices: UnsafeMutablePointer<Int>
) {
    let hw = g.height * g.width, ohw = g.outHeight * g.outWidth
    // VGG's and LightCNN's 2×2 windows, stride 2, float32: four outputs at a time by SSE
    // compares where the window is whole (`maxPool2x2Quads`), the rest below.
    let quads = T.self == Float.self && g.kernelH == 2 && g.kernelW == 2 && g.strideH == 2 && g.strideW == 2
        && g.padH == 0 && g.padW == 0 && g.dilationH == 1 && g.dilationW == 1
    forEachPlane(g.batch * g.channels, planeSize: hw) { plane in
        let x = input + plane * hw
        let y = output + plane * ohw
        let idx = indices + plane * ohw
        for oy in 0..<g.outHeight {
            var first = 0
            if quads && 2 * oy + 1 < g.height {
                first = maxPool2x2Quads(UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), width: g.width, row: oy,
                                        outWidth: g.outWidth, output: UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self),
                                        indices: idx)
            }
            var y0 = oy * g.strideH - g.padH
            let y1 = min(y0 + (g.kernelH - 1) * g.dilationH + 1, g.height)
            while y0 < 0 { y0 += g.dilationH }
            for ox in first..<g.outWidth {
                var x0 = ox * g.strideW - g.padW
                let x1 = min(x0 + (g.kernelW - 1) * g.dilationW + 1, g.width)
                while x0 < 0 { x0 += g.dilationW }
                var best = y0 * g.width + x0
                var maxv = -T.infinity
                var iy = y0
                while iy < y1 {
                    var ix = x0
                    while ix < x1 {
                        let i = iy * g.width + ix
                        let v = x[i]
                        if v > maxv || v.isNaN {
                            maxv = v
                            best = i
                        }
                        ix += g.dilationW
                    }
                    iy += g.dilationH
                }
                y[oy * g.outWidth + ox] = maxv
                idx[oy * g.outWidth + ox] = best
            }
        }
    }
}

/// Output row `row` of a 2×2, stride-2, unpadded max pool of one float32 plane, four outputs at
/// a time while their windows lie inside the plane: the same choice as the scalar loop (the
/// window in row-major order, a value taken when greater or NaN, so ties keep the first and the
/// last NaN wins). Gives the first output column it did not compute.
/// Why: max_pool2d's forward was ~3 % of a warm VGG19 perceptual step, one output at a time
/// through two loops; `testMaxPool2x2QuadsMatchScalar` checks this against that loop.
@inline(__always)
func maxPool2x2Quads(_ x: UnsafePointer<Float>, width: Int, row: Int, outWidth: Int,
                     output: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int>) -> Int {
    #if arch(x86_64) && canImport(_Builtin_intrinsics)
    let r0 = UnsafeRawPointer(x + 2 * row * width), r1 = UnsafeRawPointer(x + (2 * row + 1) * width)
    let out = UnsafeMutableRawPointer(output + row * outWidth)
    var ox = 0
    while 2 * ox + 8 <= width && ox + 4 <= outWidth {
        /// Columns 2·ox ..< 2·ox + 8 of a row as (even columns, odd columns).
        @inline(__always) func split(_ r: UnsafeRawPointer) -> (SIMD4<Float>, SIMD4<Float>) {
            let lo = (r + 8 * ox).loadUnaligned(as: SIMD4<Float>.self), hi = (r + 8 * ox + 16).loadUnaligned(as: SIMD4<Float>.self)
            let t0 = _mm_unpacklo_ps(lo, hi), t1 = _mm_unpackhi_ps(lo, hi)
            return (_mm_unpacklo_ps(t0, t1), _mm_unpackhi_ps(t0, t1))
        }
        let (a, b) = split(r0), (c, d) = split(r1)
        var m = a
        var k = _mm_setzero_ps()  // which of the four, as 0, 1, 2, 3
        @inline(__always) func consider(_ v: SIMD4<Float>, _ which: Float) {
            let take = _mm_or_ps(_mm_cmpgt_ps(v, m), _mm_cmpunord_ps(v, v))
            m = _mm_or_ps(_mm_and_ps(take, v), _mm_andnot_ps(take, m))
            k = _mm_or_ps(_mm_and_ps(take, _mm_set1_ps(which)), _mm_andnot_ps(take, k))
        }
        consider(b, 1); consider(c, 2); consider(d, 3)
        (out + 4 * ox).storeBytes(of: m, as: SIMD4<Float>.self)
        for l in 0..<4 {
            let q = Int(k[l])
            indices[row * outWidth + ox + l] = (2 * row + q / 2) * width + 2 * (ox + l) + q % 2
        }
        ox += 4
    }
    return ox
    #else
    return 0
    #endif
}

/// The adjoint of max pooling with fixed `indices`: `gradInput[plane][indices[o]] += gradOutput[o]`
/// in output order, on a zeroed `gradInput` (overwritten).
///
/// Preconditions: `indices` from `maxPool2dForward` with the same `g` (each in `0..<H·W`).
@_specialize(where T == Float)
@_specialize(where T == Double)
public func maxPool2dBackward<T: KernelFloat>(
    _ g: Pool2dGeometry, indices: UnsafePointer<Int>,
    gradOutput: UnsafePointer<T>, gradInput: UnsafeMutablePointer<T>
) {
    let hw = g.height * g.width, ohw = g.outHeight * g.outWidth
    forEachPlane(g.batch * g.channels, planeSize: hw) { plane in
        let gx = gradInput + plane * hw
        let gy = gradOutput + plane * ohw
        let idx = indices + plane * ohw
        gx.initialize(repeating: 0, count: hw)
        for o in 0..<ohw { gx[idx[o]] += gy[o] }
    }
}

/// `output[plane][o] = source[plane][indices[o]]`: the derivative of `maxPool2dBackward` in
/// its gradient (double backward of max pooling), and max pooling's forward with the indices
/// frozen. `source` holds `g.inputShape` values, `output` `g.outputShape` (overwritten).
@_specialize(where T == Float)
@_specialize(where T == Double)
public func maxPool2dGather<T: KernelFloat>(
    _ g: Pool2dGeometry, indices: UnsafePointer<Int>,
    source: UnsafePointer<T>, output: UnsafeMutablePointer<T>
) {
    let hw = g.height * g.width, ohw = g.outHeight * g.outWidth
    forEachPlane(g.batch * g.channels, planeSize: hw) { plane in
        let x = source + plane * hw
        let y = output + plane * ohw
        let idx = indices + plane * ohw
        for o in 0..<ohw { y[o] = x[idx[o]] }
    }
}

/// Bin `o` of `outSize` over an axis of length `n`: `floor(o·n/out) ..< ceil((o+1)·n/out)`.
@inline(__always)
func adaptiveBin(_ o: Int, n: Int, out: Int) -> (lo: Int, hi: Int) {
    (o * n / out, ((o + 1) * n + out - 1) / out)
}

/// `adaptive_avg_pool2d(input, (outHeight, outWidth))`: each cell is its bin's sum divided
/// by the bin height, then by the bin width (PyTorch's order of division).
/// Preconditions: `input` holds `g.inputShape` values, `output` `g.outputShape` (overwritten).
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func adaptiveAvgPool2dForward<T: KernelFloat>(
    _ g: AdaptivePool2dGeometry, input: UnsafePointer<T>, output: UnsafeMutablePointer<T>
) {
    let hw = g.height * g.width, ohw = g.outHeight * g.outWidth
    if ohw == 0 { return }
    forEachPlane(g.batch * g.channels, planeSize: hw) { plane in
        let x = input + plane * hw
        let y = output + plane * ohw
        for oy in 0..<g.outHeight {
            let by = adaptiveBin(oy, n: g.height, out: g.outHeight)
            for ox in 0..<g.outWidth {
                let bx = adaptiveBin(ox, n: g.width, out: g.outWidth)
                var sum: T = 0
                for iy in by.lo..<by.hi {
                    for ix in bx.lo..<bx.hi { sum += x[iy * g.width + ix] }
                }
                y[oy * g.outWidth + ox] = sum / T(by.hi - by.lo) / T(bx.hi - bx.lo)
            }
        }
    }
}

/// The adjoint of `adaptiveAvgPool2dForward`: each pixel of cell o's bin receives
/// `gradOutput[o] / binHeight / binWidth`. `gradInput` is overwritten.
@_specialize(exported: true, where T == Float)
@_specialize(exported: true, where T == Double)
public func adaptiveAvgPool2dBackward<T: KernelFloat>(
    _ g: AdaptivePool2dGeometry, gradOutput: UnsafePointer<T>, gradInput: UnsafeMutablePointer<T>
) {
    let hw = g.height * g.width, ohw = g.outHeight * g.outWidth
    forEachPlane(g.batch * g.channels, planeSize: hw) { plane in
        let gx = gradInput + plane * hw
        let gy = gradOutput + plane * ohw
        gx.initialize(repeating: 0, count: hw)
        for oy in 0..<g.outHeight {
            let by = adaptiveBin(oy, n: g.height, out: g.outHeight)
            for ox in 0..<g.outWidth {
                let bx = adaptiveBin(ox, n: g.width, out: g.outWidth)
                let v = gy[oy * g.outWidth + ox] / T(by.hi - by.lo) / T(bx.hi - bx.lo)
                for iy in by.lo..<by.hi {
                    for ix in bx.lo..<bx.hi { gx[iy * g.width + ix] += v }
                }
            }
        }
    }
}
