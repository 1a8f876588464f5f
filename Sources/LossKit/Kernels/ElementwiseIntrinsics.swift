/// SIMD square roots and streaming stores through the x86 intrinsics.
///
/// Why: on Linux, Swift's `Float.squareRoot()` goes through a libm-compatible path that keeps
/// errno semantics, so even `SIMD16<Float>.squareRoot()` compiles to 16 scalar `sqrtss`, each
/// with a call to `sqrtf` for negative inputs (seen in the disassembly). `sqrtps`/`sqrtpd`
/// (SSE2, always present on x86-64) give the same correctly rounded results four/two lanes at a time.
#if arch(x86_64) && canImport(_Builtin_intrinsics)
import _Builtin_intrinsics.intel
#endif

#if arch(x86_64) && canImport(_Builtin_intrinsics)
/// `f` on each 128-bit quarter of one or two `SIMD16<Float>`s / `SIMD8<Double>`s: the SSE
/// forms below are written for one XMM register and spread over a vector this way.
@inline(__always)
func sseQuarters(_ x: SIMD16<Float>, _ y: SIMD16<Float>, _ f: (SIMD4<Float>, SIMD4<Float>) -> SIMD4<Float>) -> SIMD16<Float> {
    SIMD16(lowHalf: SIMD8(lowHalf: f(x.lowHalf.lowHalf, y.lowHalf.lowHalf), highHalf: f(x.lowHalf.highHalf, y.lowHalf.highHalf)),
           highHalf: SIMD8(lowHalf: f(x.highHalf.lowHalf, y.highHalf.lowHalf), highHalf: f(x.highHalf.highHalf, y.highHalf.highHalf)))
}

@inline(__always)
func sseQuarters(_ x: SIMD8<Double>, _ y: SIMD8<Double>, _ f: (SIMD2<Double>, SIMD2<Double>) -> SIMD2<Double>) -> SIMD8<Double> {
    SIMD8(lowHalf: SIMD4(lowHalf: f(x.lowHalf.lowHalf, y.lowHalf.lowHalf), highHalf: f(x.lowHalf.highHalf, y.lowHalf.highHalf)),
          highHalf: SIMD4(lowHalf: f(x.highHalf.lowHalf, y.highHalf.lowHalf), highHalf: f(x.highHalf.highHalf, y.highHalf.highHalf)))
}
#endif

@inline(__always)
func vectorSquareRoot<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar {
    #if arch(x86_64) && canImport(_Builtin_intrinsics)
    if V.self == SIMD16<Float>.self {
        let v = unsafeBitCast(x, to: SIMD16<Float>.self)
        return unsafeBitCast(sseQuarters(v, v) { a, _ in _mm_sqrt_ps(a) }, to: V.self)
    }
    if V.self == SIMD8<Double>.self {
        let v = unsafeBitCast(x, to: SIMD8<Double>.self)
        return unsafeBitCast(sseQuarters(v, v) { a, _ in _mm_sqrt_pd(a) }, to: V.self)
    }
    #endif
    return x.squareRoot()
}

/// sign(x) lane by lane with SSE2 compares and masks: 1 where x > 0, −1 where x < 0, x itself
/// otherwise (±0, NaN), the same values as `SignF.scalar`.
///
/// Why: Swift's generic SIMD comparisons (`.>`, `replacing(with:where:)`) compile to a
/// lane-by-lane loop through the stack here; that made L1Loss's fused backward ~40 % sign
/// (perf annotate, docs/speed.md). `testSignVectorMatchesScalar` checks this against the scalar form.
@inline(__always)
func vectorSign<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar {
    #if arch(x86_64) && canImport(_Builtin_intrinsics)
    if V.self == SIMD16<Float>.self {
        let v = unsafeBitCast(x, to: SIMD16<Float>.self)
        let zero = _mm_setzero_ps(), one = _mm_set1_ps(1), minusOne = _mm_set1_ps(-1)
        return unsafeBitCast(sseQuarters(v, v) { a, _ in
            let gt = _mm_cmpgt_ps(a, zero), lt = _mm_cmplt_ps(a, zero)
            let picked = _mm_or_ps(_mm_and_ps(gt, one), _mm_and_ps(lt, minusOne))
            return _mm_or_ps(picked, _mm_andnot_ps(_mm_or_ps(gt, lt), a))
        }, to: V.self)
    }
    if V.self == SIMD8<Double>.self {
        let v = unsafeBitCast(x, to: SIMD8<Double>.self)
        let zero = _mm_setzero_pd(), one = _mm_set1_pd(1), minusOne = _mm_set1_pd(-1)
        return unsafeBitCast(sseQuarters(v, v) { a, _ in
            let gt = _mm_cmpgt_pd(a, zero), lt = _mm_cmplt_pd(a, zero)
            let picked = _mm_or_pd(_mm_and_pd(gt, one), _mm_and_pd(lt, minusOne))
            return _mm_or_pd(picked, _mm_andnot_pd(_mm_or_pd(gt, lt), a))
        }, to: V.self)
    }
    #endif
    var r = x
    for i in r.indices { r[i] = SignF().scalar(x[i]) }
    return r
}

/// max(x, 0) lane by lane with SSE's `maxps(0, x)`, which returns its second operand when the
/// two are unordered or equal: NaN stays NaN and −0 stays −0, the values of `ReluF.scalar`.
///
/// Why: `replacing(with:where:)` went lane by lane through the stack (perf annotate of the
/// VGG19 perceptual loss: ReLU's forward was 8 % of the run for a memory-bound pass).
/// `testReluVectorMatchesScalar` checks this against the scalar form.
@inline(__always)
func vectorRelu<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar {
    #if arch(x86_64) && canImport(_Builtin_intrinsics)
    if V.self == SIMD16<Float>.self {
        let v = unsafeBitCast(x, to: SIMD16<Float>.self), zero = _mm_setzero_ps()
        return unsafeBitCast(sseQuarters(v, v) { a, _ in _mm_max_ps(zero, a) }, to: V.self)
    }
    if V.self == SIMD8<Double>.self {
        let v = unsafeBitCast(x, to: SIMD8<Double>.self), zero = _mm_setzero_pd()
        return unsafeBitCast(sseQuarters(v, v) { a, _ in _mm_max_pd(zero, a) }, to: V.self)
    }
    #endif
    var r = x
    for i in r.indices { r[i] = ReluF().scalar(x[i]) }
    return r
}

/// `a ⋈ b ? 1 : 0` lane by lane with SSE compares ANDed with 1.0: ordered compares for
/// `<`, `<=`, `>`, `>=`, `==` (false with a NaN) and unordered `!=` (true with a NaN), the
/// values of `CompareF.scalar`.
///
/// Why: CompareF had only the default per-lane loop (a switch per element); ReLU's backward
/// (x > 0) was 5.5 % of the VGG19 perceptual loss after Winograd (perf). `testCompareVectorMatchesScalar`
/// checks this against the scalar form.
@inline(__always)
func vectorCompare<V: SIMD>(_ c: Comparison, _ a: V, _ b: V) -> V where V.Scalar: TensorScalar {
    #if arch(x86_64) && canImport(_Builtin_intrinsics)
    if V.self == SIMD16<Float>.self {
        let x = unsafeBitCast(a, to: SIMD16<Float>.self), y = unsafeBitCast(b, to: SIMD16<Float>.self)
        let one = _mm_set1_ps(1)
        return unsafeBitCast(sseQuarters(x, y) { p, q in
            let mask: SIMD4<Float>
            switch c {
            case .gt: mask = _mm_cmpgt_ps(p, q)
            case .ge: mask = _mm_cmpge_ps(p, q)
            case .lt: mask = _mm_cmplt_ps(p, q)
            case .le: mask = _mm_cmple_ps(p, q)
            case .eq: mask = _mm_cmpeq_ps(p, q)
            case .ne: mask = _mm_cmpneq_ps(p, q)
            }
            return _mm_and_ps(mask, one)
        }, to: V.self)
    }
    if V.self == SIMD8<Double>.self {
        let x = unsafeBitCast(a, to: SIMD8<Double>.self), y = unsafeBitCast(b, to: SIMD8<Double>.self)
        let one = _mm_set1_pd(1)
        return unsafeBitCast(sseQuarters(x, y) { p, q in
            let mask: SIMD2<Double>
            switch c {
            case .gt: mask = _mm_cmpgt_pd(p, q)
            case .ge: mask = _mm_cmpge_pd(p, q)
            case .lt: mask = _mm_cmplt_pd(p, q)
            case .le: mask = _mm_cmple_pd(p, q)
            case .eq: mask = _mm_cmpeq_pd(p, q)
            case .ne: mask = _mm_cmpneq_pd(p, q)
            }
            return _mm_and_pd(mask, one)
        }, to: V.self)
    }
    #endif
    var r = a
    for i in r.indices { r[i] = CompareF(c: c).scalar(a[i], b[i]) }
    return r
}
