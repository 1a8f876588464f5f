import Foundation

// Winograd's minimal filtering F(m×m, 3×3) (Lavin & Gray 2015) for 3×3, stride-1,
// undilated, ungrouped convolutions: VGG's sixteen layers, and their input gradients.
//
// Every m×m block of outputs ("tile") is computed from the (m+2)×(m+2) input patch d under it:
//   Y = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A
// so the 9m² multiplications per tile and channel pair become (m+2)², and those products summed
// over c are (m+2)² independent GEMMs: M[ξ] (K × tiles) = U[ξ] (K × C) · V[ξ] (C × tiles), with
// U the transformed filters and V the transformed patches (ξ = one of the transform's points).
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
// Two tile sizes, one code: the forward runs F(2×2, 3×3) (4 multiplications per output), the
// input gradient F(4×4, 3×3) (2.25). Why not F(4×4) for both: a forward's rounding decides
// the discontinuous parts of a loss — the sign of an l1 difference, a ReLU's mask — and the
// fixtures' features (hash-made weights and images, like a real check's) hold near-ties that
// only an accurate forward resolves as MMagic's float32 does. With the forward by F(4×4), three
// perceptual fixtures' input gradients were 1.1e-3, 1.4e-3 and 3.1e-3 from MMagic's (a single
// flipped element each; the fixtures allow 1e-4) and a LightCNN value 2.5e-5 (allowed 2e-5);
// F(2×2)'s transforms are additions and halvings, and every fixture holds (≤ 8e-5 on the
// ill-conditioned vgg19 case, where MMagic's own float32 is 8e-5 from float64). The input
// gradient is linear in gradOutput — no decisions downstream — so F(4×4)'s larger rounding
// stays an error of its own size: 1e-6 to 6e-6 on those fixtures (a torch model of both
// variants, docs/speed.md "Session 9", before building this).
// F(4×4) interpolates at 0, 1, −1, ½, −2 (and ∞), not the usual 0, ±1, ±2 (transforms scaled
// by 4, 5, 8 and 1/24): in float32, 2.1e-6 relative error per layer against 3.3e-6.
// The implicit-im2col GEMM (Conv2d.swift) stays the reference path: `Conv2dAlgorithm.gemm`.

/// The convolutions Winograd computes, and when `.automatic` picks it.
enum Winograd {
    /// 3×3, stride 1, dilation 1, one group, padding at most 2 (so that the input gradient is
    /// again such a convolution, with padding 2 − p).
    static func applies(_ g: Conv2dGeometry) -> Bool {
        g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 && g.dilationW == 1
            && g.groups == 1 && g.padH <= 2 && g.padW <= 2 && g.outHeight > 0 && g.outWidth > 0
    }

    /// When `.automatic` picks it: both channel counts (the GEMMs' rows and depth) at least 16
    /// (fewer make thin GEMMs, and VGG's first layer, 3 → 64, stays with the GEMM).
    /// Measured with LossBench (`LOSSBENCH_ONLY=vgg`, one thread, f32, effective GFLOP/s
    /// gemm → F(2×2), forward): 64→128 at 112² 55 → 75, 256→256 at 56² 61 → 81,
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
}

/// One tile size: its three transforms, each on `patch` (or `tile`) vectors of SIMD lanes.
protocol WinogradVariant {
    /// Output rows and columns per tile (m); input rows and columns per patch (m + 2).
    static var tile: Int { get }
    static var patch: Int { get }
    /// `u = G·g·Gᵀ` of one filter, in Double: `g(i)` the row-major 3×3 taps, `u` the row-major
    /// patch × patch result.
    static func filterTransform(_ g: (Int) -> Double, into u: UnsafeMutablePointer<Double>)
    /// Bᵀ·(vectors at `src + i·srcStride`, i < patch) into `dst + i·dstStride` (all read first: in place is fine).
    static func inputRows<T: KernelFloat>(_ src: UnsafePointer<T>, _ srcStride: Int, _ dst: UnsafeMutablePointer<T>, _ dstStride: Int)
    /// Aᵀ·(vectors at `src + i·srcStride`, i < patch) + `bias` into `dst + i·dstStride`, i < tile.
    static func outputRows<T: KernelFloat>(_ src: UnsafePointer<T>, _ srcStride: Int, _ dst: UnsafeMutablePointer<T>, _ dstStride: Int,
                                           bias: T.Vector)
    /// The patches of 4 side-by-side tiles (patch q starts q·tile columns right of `src`; columns
    /// 0 ..< `quadColumns` are read), transposed: `d[(i·patch + j)·laneStride + q] = src[i·rowStride + q·tile + j]`.
    static func gatherQuad<T: KernelFloat>(_ src: UnsafePointer<T>, rowStride: Int, into d: UnsafeMutablePointer<T>, laneStride: Int)
    static var quadColumns: Int { get }
    /// The tile × tile results of 4 side-by-side tiles (`r[(i·patch + j)·laneStride + q]`, tile q)
    /// into the output rows: `dst[i·rowStride + q·tile + j]`.
    static func scatterQuad<T: KernelFloat>(_ r: UnsafePointer<T>, laneStride: Int, into dst: UnsafeMutablePointer<T>, rowStride: Int)
}

extension WinogradVariant {
    static var points: Int { patch * patch }
}

/// F(2×2, 3×3): output tile 2×2, input patch 4×4, 16 transform points. The forward's.
enum Winograd23: WinogradVariant {
    static let tile = 2, patch = 4, quadColumns = 10

    /// G = [1 0 0; 1/2 1/2 1/2; 1/2 −1/2 1/2; 0 0 1].
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

    /// Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
    @inline(__always)
    static func inputRows<T: KernelFloat>(_ src: UnsafePointer<T>, _ ss: Int, _ dst: UnsafeMutablePointer<T>, _ ds: Int) {
        let d0 = loadVector(src), d1 = loadVector(src + ss), d2 = loadVector(src + 2 * ss), d3 = loadVector(src + 3 * ss)
        storeVector(d0 - d2, dst); storeVector(d1 + d2, dst + ds); storeVector(d2 - d1, dst + 2 * ds); storeVector(d1 - d3, dst + 3 * ds)
    }

    /// Aᵀ = [1 1 1 0; 0 1 −1 −1].
    @inline(__always)
    static func outputRows<T: KernelFloat>(_ src: UnsafePointer<T>, _ ss: Int, _ dst: UnsafeMutablePointer<T>, _ ds: Int, bias: T.Vector) {
        let m0 = loadVector(src), m1 = loadVector(src + ss), m2 = loadVector(src + 2 * ss), m3 = loadVector(src + 3 * ss)
        storeVector(m0 + m1 + m2 + bias, dst); storeVector(m1 - m2 - m3 + bias, dst + ds)
    }

    /// Float32 by 4 row loads and a 4×4 transpose per patch row; the scalar loop is the other
    /// branch and the definition.
    @inline(__always)
    static func gatherQuad<T: KernelFloat>(_ src: UnsafePointer<T>, rowStride: Int, into d: UnsafeMutablePointer<T>, laneStride: Int) {
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

    /// Float32 by two interleaving stores per row.
    @inline(__always)
    static func scatterQuad<T: KernelFloat>(_ r: UnsafePointer<T>, laneStride: Int, into dst: UnsafeMutablePointer<T>, rowStride: Int) {
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
}

/// F(4×4, 3×3): output tile 4×4, input patch 6×6, 36 transform points, at 0, 1, −1, ½, −2, ∞.
/// The input gradient's.
enum Winograd43: WinogradVariant {
    static let tile = 4, patch = 6, quadColumns = 18

    /// G·(a, b, c) for one column of taps: G = [1 0 0; ⅓ ⅓ ⅓; −⅓ ⅓ −⅓; −16/15 −8/15 −4/15;
    /// 1/15 −2/15 4/15; 0 0 1] (the Lagrange basis at the points).
    @inline(__always)
    static func filterColumn(_ a: Double, _ b: Double, _ c: Double, into t: UnsafeMutablePointer<Double>, stride: Int) {
        t[0] = a
        t[stride] = (a + b + c) / 3
        t[2 * stride] = (b - a - c) / 3
        t[3 * stride] = -(16 * a + 8 * b + 4 * c) / 15
        t[4 * stride] = (a - 2 * b + 4 * c) / 15
        t[5 * stride] = c
    }

    @inline(__always)
    static func filterTransform(_ g: (Int) -> Double, into u: UnsafeMutablePointer<Double>) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 18) { tb in
            let t = tb.baseAddress!  // t = G·g (6×3), column by column
            for j in 0..<3 { filterColumn(g(j), g(3 + j), g(6 + j), into: t + j, stride: 3) }
            for i in 0..<6 { filterColumn(t[3 * i], t[3 * i + 1], t[3 * i + 2], into: u + 6 * i, stride: 1) }  // u = t·Gᵀ
        }
    }

    /// Bᵀ = [1 −3/2 −2 3/2 1 0; 0 −1 1/2 5/2 1 0; 0 1 −5/2 1/2 1 0; 0 −2 −1 2 1 0;
    /// 0 1/2 −1 −1/2 1 0; 0 1 −3/2 −2 3/2 1].
    @inline(__always)
    static func inputRows<T: KernelFloat>(_ src: UnsafePointer<T>, _ ss: Int, _ dst: UnsafeMutablePointer<T>, _ ds: Int) {
        let d0 = loadVector(src), d1 = loadVector(src + ss), d2 = loadVector(src + 2 * ss)
        let d3 = loadVector(src + 3 * ss), d4 = loadVector(src + 4 * ss), d5 = loadVector(src + 5 * ss)
        let half = T.Vector(repeating: 0.5), threeHalves = T.Vector(repeating: 1.5), fiveHalves = T.Vector(repeating: 2.5)
        let two = T.Vector(repeating: 2)
        storeVector(d0 - threeHalves * d1 - two * d2 + threeHalves * d3 + d4, dst)
        storeVector(-d1 + half * d2 + fiveHalves * d3 + d4, dst + ds)
        storeVector(d1 - fiveHalves * d2 + half * d3 + d4, dst + 2 * ds)
        storeVector(-(two * d1) - d2 + two * d3 + d4, dst + 3 * ds)
        storeVector(half * d1 - d2 - half * d3 + d4, dst + 4 * ds)
        storeVector(d1 - threeHalves * d2 - two * d3 + threeHalves * d4 + d5, dst + 5 * ds)
    }

    /// Aᵀ = [1 1 1 1 1 0; 0 1 −1 1/2 −2 0; 0 1 1 1/4 4 0; 0 1 −1 1/8 −8 1].
    @inline(__always)
    static func outputRows<T: KernelFloat>(_ src: UnsafePointer<T>, _ ss: Int, _ dst: UnsafeMutablePointer<T>, _ ds: Int, bias: T.Vector) {
        let m0 = loadVector(src), m1 = loadVector(src + ss), m2 = loadVector(src + 2 * ss)
        let m3 = loadVector(src + 3 * ss), m4 = loadVector(src + 4 * ss), m5 = loadVector(src + 5 * ss)
        let s = m1 + m2, d = m1 - m2
        storeVector(m0 + s + m3 + m4 + bias, dst)
        storeVector(d + T.Vector(repeating: 0.5) * m3 - T.Vector(repeating: 2) * m4 + bias, dst + ds)
        storeVector(s + T.Vector(repeating: 0.25) * m3 + T.Vector(repeating: 4) * m4 + bias, dst + 2 * ds)
        storeVector(d + T.Vector(repeating: 0.125) * m3 - T.Vector(repeating: 8) * m4 + m5 + bias, dst + 3 * ds)
    }

    /// Float32 per patch row: two 4×4 transposes of the row's 4-column groups (the second, of
    /// groups shifted by one tile, gives columns 4 and 5); the scalar loop is the other branch and
    /// the definition.
    @inline(__always)
    static func gatherQuad<T: KernelFloat>(_ src: UnsafePointer<T>, rowStride: Int, into d: UnsafeMutablePointer<T>, laneStride: Int) {
        #if arch(x86_64) && canImport(_Builtin_intrinsics)
        if T.self == Float.self {
            let x = UnsafeRawPointer(src), out = UnsafeMutableRawPointer(d)
            let step = laneStride * MemoryLayout<Float>.size
            for i in 0..<6 {
                let row = x + i * rowStride * MemoryLayout<Float>.size
                // a_q: columns 4q ..< 4q + 4; a4: columns 14 ..< 18, its upper half (16, 17) doubled.
                let a0 = row.loadUnaligned(as: SIMD4<Float>.self), a1 = row.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self)
                let a2 = row.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self), a3 = row.loadUnaligned(fromByteOffset: 48, as: SIMD4<Float>.self)
                let a4 = row.loadUnaligned(fromByteOffset: 56, as: SIMD4<Float>.self)
                let a4s = _mm_movehl_ps(a4, a4)
                let t0 = _mm_unpacklo_ps(a0, a1), t1 = _mm_unpacklo_ps(a2, a3)  // a0₀ a1₀ a0₁ a1₁, a2₀ a3₀ a2₁ a3₁
                let t2 = _mm_unpackhi_ps(a0, a1), t3 = _mm_unpackhi_ps(a2, a3)  // a0₂ a1₂ a0₃ a1₃, a2₂ a3₂ a2₃ a3₃
                let u0 = _mm_unpacklo_ps(a1, a2), u1 = _mm_unpacklo_ps(a3, a4s)  // a1₀ a2₀ a1₁ a2₁, a3₀ 16 a3₁ 17
                let dst = out + 6 * i * step
                dst.storeBytes(of: _mm_movelh_ps(t0, t1), as: SIMD4<Float>.self)
                (dst + step).storeBytes(of: _mm_movehl_ps(t1, t0), as: SIMD4<Float>.self)
                (dst + 2 * step).storeBytes(of: _mm_movelh_ps(t2, t3), as: SIMD4<Float>.self)
                (dst + 3 * step).storeBytes(of: _mm_movehl_ps(t3, t2), as: SIMD4<Float>.self)
                (dst + 4 * step).storeBytes(of: _mm_movelh_ps(u0, u1), as: SIMD4<Float>.self)
                (dst + 5 * step).storeBytes(of: _mm_movehl_ps(u1, u0), as: SIMD4<Float>.self)
            }
            return
        }
        #endif
        for i in 0..<6 {
            for j in 0..<6 {
                for q in 0..<4 { d[(i * 6 + j) * laneStride + q] = src[i * rowStride + 4 * q + j] }
            }
        }
    }

    /// Float32 by a 4×4 transpose per row.
    @inline(__always)
    static func scatterQuad<T: KernelFloat>(_ r: UnsafePointer<T>, laneStride: Int, into dst: UnsafeMutablePointer<T>, rowStride: Int) {
        #if arch(x86_64) && canImport(_Builtin_intrinsics)
        if T.self == Float.self {
            let src = UnsafeRawPointer(r), out = UnsafeMutableRawPointer(dst)
            let step = laneStride * MemoryLayout<Float>.size
            for i in 0..<4 {
                let y = src + 6 * i * step
                let y0 = y.loadUnaligned(as: SIMD4<Float>.self), y1 = (y + step).loadUnaligned(as: SIMD4<Float>.self)
                let y2 = (y + 2 * step).loadUnaligned(as: SIMD4<Float>.self), y3 = (y + 3 * step).loadUnaligned(as: SIMD4<Float>.self)
                let t0 = _mm_unpacklo_ps(y0, y1), t1 = _mm_unpacklo_ps(y2, y3)
                let t2 = _mm_unpackhi_ps(y0, y1), t3 = _mm_unpackhi_ps(y2, y3)
                let row = out + i * rowStride * MemoryLayout<Float>.size
                row.storeBytes(of: _mm_movelh_ps(t0, t1), as: SIMD4<Float>.self)
                row.storeBytes(of: _mm_movehl_ps(t1, t0), toByteOffset: 16, as: SIMD4<Float>.self)
                row.storeBytes(of: _mm_movelh_ps(t2, t3), toByteOffset: 32, as: SIMD4<Float>.self)
                row.storeBytes(of: _mm_movehl_ps(t3, t2), toByteOffset: 48, as: SIMD4<Float>.self)
            }
            return
        }
        #endif
        for i in 0..<4 {
            for q in 0..<4 {
                for j in 0..<4 { dst[i * rowStride + 4 * q + j] = r[(i * 6 + j) * laneStride + q] }
            }
        }
    }
}

#if arch(x86_64) && canImport(_Builtin_intrinsics)
import _Builtin_intrinsics.intel
#endif

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

/// The transformed filters U[ξ] = G·g·Gᵀ of one convolution by one variant, in the GEMM's prepacked A
/// layout (PrepackedA: for each of the points, depth blocks of kc, mr-row strips, rows past
/// K zero). Memory from the tensor pool (StoragePool): fresh allocations of these sizes (16 MB
/// for 512 channels by F(2×2), 36 MB by F(4×4)) cost a page fault per 4 KiB on every call.
final class WinogradFilters<T: KernelFloat> {
    let base: UnsafeMutablePointer<T>
    let outChannels: Int, inChannels: Int, mPad: Int
    /// The variant's transform points.
    let points: Int
    /// From point ξ's matrix to ξ + 1's: `mPad · C` and 64 bytes more. Matrices exactly
    /// `mPad · C` apart (a multiple of 4 KiB for 512 channels) put the transform's write
    /// streams in one L1 set, 8-way, so each store evicted another stream's line: the padding
    /// halved the transform's time (F(2×2)'s 16 streams, 512 → 512 channels, one thread: 20–28 → 9–13 ms).
    let planeStride: Int
    private let bytes: Int

    /// For the convolution `g` (`Winograd.applies(g)`) by `variant`; `flipped` as in `conv2dWinograd`.
    init<W: WinogradVariant>(_ g: Conv2dGeometry, weight: UnsafePointer<T>, flipped: Bool, variant: W.Type) {
        let k = g.outChannels, cIn = g.inChannels
        let mr = GemmBlocking.mr, kc = GemmBlocking.kc
        let mPad = PrepackedA<T>.paddedRows(k)
        let planeStride = mPad * cIn + 64 / MemoryLayout<T>.stride
        outChannels = k; inChannels = cIn; self.mPad = mPad; self.planeStride = planeStride
        let points = W.points
        self.points = points
        bytes = points * planeStride * MemoryLayout<T>.stride
        let packedU = StoragePool.take(bytes).bindMemory(to: T.self, capacity: points * planeStride)
        base = packedU
        // One mr-row strip per job: each input channel's points are written as runs of mr
        // contiguous values, one sequential stream per point. (Lanes over input channels instead put each
        // value mr apart in 16 streams 1 MB apart for 512 channels, and the TLB misses were most
        // of the transform's time.) One filter at a time in scalar Double, with the padded
        // planes: for F(2×2)'s 16 points, 512 → 512 channels on one thread 9–13 ms, against 17–22 ms for the strip's
        // rows in SIMD lanes gathered through the stack (standalone copies of both loops).
        parallelChunks(chunkCount(mPad, chunkSize: mr)) { strip in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: points) { ub in
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
                                    W.filterTransform({ Double(f[8 - $0]) }, into: u)
                                } else {
                                    let f = weight + (o * cIn + c) * 9
                                    W.filterTransform({ Double(f[$0]) }, into: u)
                                }
                                for xi in 0..<points { run[xi * planeStride + r] = T(u[xi]) }
                            } else {
                                for xi in 0..<points { run[xi * planeStride + r] = 0 }  // rows past K
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

    func filters<T: KernelFloat, W: WinogradVariant>(_ g: Conv2dGeometry, weight: UnsafePointer<T>, flipped: Bool,
                                                      variant: W.Type) -> WinogradFilters<T> {
        let shape = [g.outChannels, g.inChannels]
        lock.lock()
        defer { lock.unlock() }
        if let hit = entries.first(where: { $0.flipped == flipped && $0.shape == shape && $0.filters is WinogradFilters<T> }),
           let f = hit.filters as? WinogradFilters<T>, f.points == W.points {
            return f
        }
        let f = WinogradFilters(g, weight: weight, flipped: flipped, variant: W.self)
        let key = "\(flipped) \(shape) \(T.self) \(W.self)"
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

/// `output = conv2d(input, weight, bias)` by `variant`, for `Winograd.applies(g)`.
/// With `flipped`, the weight is read as the input gradient's: `w'[k][c][i][j] = weight[c][k][2−i][2−j]`
/// (`weight` then holds `[g.inChannels, g.outChannels, 3, 3]` as the forward conv stores it).
/// `chunkBytes` bounds each worker's transformed chunk (V and M); tests lower it to cover several chunks.
/// `filters`: the transformed `weight` (for `g`, `flipped` and `variant`) when the caller has them.
@_specialize(where T == Float, W == Winograd23) @_specialize(where T == Float, W == Winograd43)
@_specialize(where T == Double, W == Winograd23) @_specialize(where T == Double, W == Winograd43)
func conv2dWinograd<T: KernelFloat, W: WinogradVariant>(
    _ g: Conv2dGeometry, input: UnsafePointer<T>, weight: UnsafePointer<T>, flipped: Bool,
    bias: UnsafePointer<T>?, output: UnsafeMutablePointer<T>, variant: W.Type, chunkBytes: Int = 1 << 20,
    filters: WinogradFilters<T>? = nil
) {
    let nr = T.Vector.scalarCount
    let ts = W.tile, pa = W.patch, points = W.points
    let cIn = g.inChannels, k = g.outChannels
    let h = g.height, w = g.width, oh = g.outHeight, ow = g.outWidth
    let tilesH = (oh + ts - 1) / ts, tilesW = (ow + ts - 1) / ts
    let tiles = g.batch * tilesH * tilesW
    if tiles == 0 || k == 0 { return }
    if cIn == 0 {
        for n in 0..<g.batch {
            for o in 0..<k { (output + (n * k + o) * oh * ow).initialize(repeating: bias?[o] ?? 0, count: oh * ow) }
        }
        return
    }

    let filters = filters.flatMap { $0.points == points ? $0 : nil } ?? WinogradFilters(g, weight: weight, flipped: flipped, variant: W.self)
    let packedU = UnsafePointer(filters.base), mPad = filters.mPad, planeStride = filters.planeStride

    // Each worker takes a contiguous run of the tiles' `nr`-wide strips and carries it through
    // all three steps (input transform, the GEMMs, output transform) chunk by chunk, in its
    // own V and M: no barrier between the steps, and what a step writes is read by the same core.
    // (Each step split over both cores, the way this was first built, sent half of V and M
    // across the cores' caches and cost three wake-ups of the other worker per chunk: VGG19's
    // convs fwd + dx at 224², 2 threads, LossBench `cached`, 264–282 → 247–254 ms; the
    // perceptual row's warm step 616–682 → 542–572 ms.)
    // Chunks are a multiple of nr tiles, sized so that V (points × C × chunk) and M (points × K × chunk)
    // each stay near `chunkBytes` per worker (F(2×2), 1 and 2 MB: no difference measurable).
    let totalStrips = (tiles + nr - 1) / nr
    let workers = gemmWorkers(work: points * k * cIn * totalStrips * nr, units: totalStrips)
    let perStripBytes = points * max(cIn, k) * nr * MemoryLayout<T>.size
    let chunkStrips = max(1, min((totalStrips + workers - 1) / workers, chunkBytes / perStripBytes))
    let vCount = points * cIn * chunkStrips * nr, mCount = points * k * chunkStrips * nr
    // Scratch taken here, not by the workers: a fresh pool buffer is pre-faulted over the workers.
    let scratchBytes = workers * (vCount + mCount) * MemoryLayout<T>.stride
    let scratch = StoragePool.take(scratchBytes).bindMemory(to: T.self, capacity: workers * (vCount + mCount))
    defer { StoragePool.give(UnsafeMutableRawPointer(scratch), scratchBytes) }

    let ph = g.padH, pw = g.padW
    /// Tile t's image, and the first row and column of its output block, into at[0..<3].
    @inline(__always) func tileOrigin(_ t: Int, _ at: UnsafeMutablePointer<Int>) {
        let rem = t % (tilesH * tilesW)
        at[0] = t / (tilesH * tilesW)
        at[1] = (rem / tilesW) * ts
        at[2] = (rem % tilesW) * ts
    }
    /// Bit q set when lanes 4q ..< 4q+4 (of the first `lanes`, float32 only) hold one image's
    /// tiles side by side on one row (origins `at[3l...]` a tile apart), the first lane's
    /// origin satisfying `inside(row, column)`.
    @inline(__always) func sideBySideQuads(_ at: UnsafePointer<Int>, lanes: Int, _ inside: (Int, Int) -> Bool) -> UInt32 {
        var bits: UInt32 = 0
        for q in 0..<(T.self == Float.self ? lanes / 4 : 0) {
            let l = 4 * q, n = at[3 * l], y0 = at[3 * l + 1], x0 = at[3 * l + 2]
            var ok = inside(y0, x0)
            for e in 1..<4 where ok {
                ok = at[3 * (l + e)] == n && at[3 * (l + e) + 1] == y0 && at[3 * (l + e) + 2] == x0 + ts * e
            }
            if ok { bits |= 1 << q }
        }
        return bits
    }

    /// Input transform of the strip of tiles from `t0` (`lanes` of them, the rest zero) into
    /// `v`, the strip's block of V: channel c's point ξ at v + (ξ·C + c)·nr. A strip's points
    /// together, so that the step writes one contiguous block (and the output transform reads one).
    @inline(__always) func transformInput(_ t0: Int, lanes: Int, into v: UnsafeMutablePointer<T>,
                                          _ lane: UnsafeMutablePointer<Int>, _ d: UnsafeMutablePointer<T>) {
        // Per lane: image, patch origin row and column (image −1 past the chunk's end).
        for l in 0..<nr {
            if l >= lanes { lane[3 * l] = -1; continue }
            tileOrigin(t0 + l, lane + 3 * l)
            lane[3 * l + 1] -= ph
            lane[3 * l + 2] -= pw
        }
        // Groups of 4 lanes whose patches sit side by side inside one image's rows
        // (float32 only): gathered by row loads and 4×4 transposes (`W.gatherQuad`).
        let quadInside = sideBySideQuads(lane, lanes: lanes) { iy0, ix0 in
            iy0 >= 0 && iy0 + pa <= h && ix0 >= 0 && ix0 + W.quadColumns <= w
        }
        for c in 0..<cIn {
            for l in 0..<nr {
                if (quadInside >> (l / 4)) & 1 != 0 {
                    if l % 4 == 0 {
                        W.gatherQuad(input + (lane[3 * l] * cIn + c) * h * w + lane[3 * l + 1] * w + lane[3 * l + 2],
                                           rowStride: w, into: d + l, laneStride: nr)
                    }
                    continue
                }
                let n = lane[3 * l]
                if n < 0 {
                    for p in 0..<points { d[p * nr + l] = 0 }
                    continue
                }
                let iy0 = lane[3 * l + 1], ix0 = lane[3 * l + 2]
                let plane = input + (n * cIn + c) * h * w
                if iy0 >= 0 && iy0 + pa <= h && ix0 >= 0 && ix0 + pa <= w {
                    for i in 0..<pa {
                        let row = plane + (iy0 + i) * w + ix0
                        for j in 0..<pa { d[(i * pa + j) * nr + l] = row[j] }
                    }
                } else {
                    for i in 0..<pa {
                        let iy = iy0 + i
                        let inside = iy >= 0 && iy < h
                        for j in 0..<pa {
                            let ix = ix0 + j
                            d[(i * pa + j) * nr + l] = inside && ix >= 0 && ix < w ? plane[iy * w + ix] : 0
                        }
                    }
                }
            }
            // Bᵀ·d down the columns, then ·B along the rows.
            for j in 0..<pa { W.inputRows(d + j * nr, pa * nr, d + j * nr, pa * nr) }
            for i in 0..<pa { W.inputRows(d + i * pa * nr, nr, v + (i * pa * cIn + c) * nr, cIn * nr) }
        }
    }

    /// Output transform Aᵀ·M·A of the strip of tiles from `t0` (`lanes` of them), from `mStrip`
    /// (output channel o's point ξ at mStrip + (ξ·K + o)·nr), cropped to the output.
    @inline(__always) func transformOutput(_ t0: Int, lanes: Int, from mStrip: UnsafePointer<T>,
                                           _ tileAt: UnsafeMutablePointer<Int>, _ tb: UnsafeMutablePointer<T>) {
        // Per lane: image, first output row and column; groups of 4 lanes whose blocks sit
        // side by side inside the output (float32: `W.scatterQuad`).
        for l in 0..<lanes { tileOrigin(t0 + l, tileAt + 3 * l) }
        let quadInside = sideBySideQuads(tileAt, lanes: lanes) { oy0, ox0 in oy0 + ts <= oh && ox0 + 4 * ts <= ow }
        let step = k * nr  // from point ξ to ξ + 1
        for o in 0..<k {
            let base = mStrip + o * nr
            // Aᵀ down the columns: tb[i][b], i < tile, b < patch; then along the rows, each
            // row's first `tile` slots (read first) taking its results.
            for b in 0..<pa { W.outputRows(base + b * step, pa * step, tb + b * nr, pa * nr, bias: .zero) }
            let bv = T.Vector(repeating: bias?[o] ?? 0)
            for i in 0..<ts { W.outputRows(tb + i * pa * nr, nr, tb + i * pa * nr, nr, bias: bv) }
            for l in 0..<lanes {
                let n = tileAt[3 * l], oy0 = tileAt[3 * l + 1], ox0 = tileAt[3 * l + 2]
                let plane = output + (n * k + o) * oh * ow
                if (quadInside >> (l / 4)) & 1 != 0 {
                    if l % 4 == 0 {
                        W.scatterQuad(tb + l, laneStride: nr, into: plane + oy0 * ow + ox0, rowStride: ow)
                    }
                    continue
                }
                for i in 0..<min(ts, oh - oy0) {
                    let row = plane + (oy0 + i) * ow + ox0
                    let r = tb + i * pa * nr
                    for j in 0..<min(ts, ow - ox0) { row[j] = r[j * nr + l] }
                }
            }
        }
    }

    parallelChunks(workers) { wk in
        let v = scratch + wk * (vCount + mCount), m = v + vCount
        let space = GemmWorkspace<T>(m: k, n: chunkStrips * nr, k: cIn)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * nr) { laneBuf in
          withUnsafeTemporaryAllocation(of: T.self, capacity: points * nr) { dBuf in
            let lane = laneBuf.baseAddress!, d = dBuf.baseAddress!
            var s0 = totalStrips * wk / workers
            let sEnd = totalStrips * (wk + 1) / workers
            while s0 < sEnd {
                let strips = min(chunkStrips, sEnd - s0)
                let ld = strips * nr  // columns of each M[ξ]
                for s in 0..<strips {
                    let t = (s0 + s) * nr
                    transformInput(t, lanes: min(nr, tiles - t), into: v + s * points * cIn * nr, lane, d)
                }
                // One GEMM per point: M[ξ] (K × ld) = U[ξ] · V[ξ], M laid out like V: strip s of M[ξ],
                // output channel o, at m + ((s·points + ξ)·K + o)·nr. Columns in blocks of at most nc.
                for xi in 0..<points {
                    var j0 = 0
                    while j0 < ld {
                        gemmTile(m: k, n: min(GemmBlocking.nc, ld - j0), k: cIn, alpha: 1,
                                 a: PrepackedA(base: packedU + xi * planeStride, mPad: mPad), i0: 0,
                                 b: PrepackedB(base: v + xi * cIn * nr, stripStride: points * cIn * nr), j0: j0,
                                 beta: 0, c: m + (j0 / nr * points + xi) * k * nr, ldc: nr, space: space,
                                 cStripStride: points * k * nr)
                        j0 += GemmBlocking.nc
                    }
                }
                for s in 0..<strips {
                    let t = (s0 + s) * nr
                    transformOutput(t, lanes: min(nr, tiles - t), from: m + s * points * k * nr, lane, d)
                }
                s0 += strips
            }
          }
        }
    }
}
