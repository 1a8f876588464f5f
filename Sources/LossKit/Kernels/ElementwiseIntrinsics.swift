/// SIMD square roots and streaming stores through the x86 intrinsics.
///
/// Why: on Linux, Swift's `Float.squareRoot()` goes through a libm-compatible path that keeps
/// errno semantics, so even `SIMD16<Float>.squareRoot()` compiles to 16 scalar `sqrtss`, each
/// with a call to `sqrtf` for negative inputs (seen in the disassembly). `sqrtps`/`sqrtpd`
/// (SSE2, always present on x86-64) give the same correctly rounded results four/two lanes at a time.
#if arch(x86_64) && canImport(_Builtin_intrinsics)
import _Builtin_intrinsics.intel
#endif

@inline(__always)
func vectorSquareRoot<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar {
    #if arch(x86_64) && canImport(_Builtin_intrinsics)
    if V.self == SIMD16<Float>.self {
        let v = unsafeBitCast(x, to: SIMD16<Float>.self)
        let lo = SIMD8<Float>(lowHalf: _mm_sqrt_ps(v.lowHalf.lowHalf), highHalf: _mm_sqrt_ps(v.lowHalf.highHalf))
        let hi = SIMD8<Float>(lowHalf: _mm_sqrt_ps(v.highHalf.lowHalf), highHalf: _mm_sqrt_ps(v.highHalf.highHalf))
        return unsafeBitCast(SIMD16<Float>(lowHalf: lo, highHalf: hi), to: V.self)
    }
    if V.self == SIMD8<Double>.self {
        let v = unsafeBitCast(x, to: SIMD8<Double>.self)
        let lo = SIMD4<Double>(lowHalf: _mm_sqrt_pd(v.lowHalf.lowHalf), highHalf: _mm_sqrt_pd(v.lowHalf.highHalf))
        let hi = SIMD4<Double>(lowHalf: _mm_sqrt_pd(v.highHalf.lowHalf), highHalf: _mm_sqrt_pd(v.highHalf.highHalf))
        return unsafeBitCast(SIMD8<Double>(lowHalf: lo, highHalf: hi), to: V.self)
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
        func sign4(_ a: SIMD4<Float>) -> SIMD4<Float> {
            let gt = _mm_cmpgt_ps(a, zero), lt = _mm_cmplt_ps(a, zero)
            let picked = _mm_or_ps(_mm_and_ps(gt, one), _mm_and_ps(lt, minusOne))
            return _mm_or_ps(picked, _mm_andnot_ps(_mm_or_ps(gt, lt), a))
        }
        let lo = SIMD8<Float>(lowHalf: sign4(v.lowHalf.lowHalf), highHalf: sign4(v.lowHalf.highHalf))
        let hi = SIMD8<Float>(lowHalf: sign4(v.highHalf.lowHalf), highHalf: sign4(v.highHalf.highHalf))
        return unsafeBitCast(SIMD16<Float>(lowHalf: lo, highHalf: hi), to: V.self)
    }
    if V.self == SIMD8<Double>.self {
        let v = unsafeBitCast(x, to: SIMD8<Double>.self)
        let zero = _mm_setzero_pd(), one = _mm_set1_pd(1), minusOne = _mm_set1_pd(-1)
        func sign2(_ a: SIMD2<Double>) -> SIMD2<Double> {
            let gt = _mm_cmpgt_pd(a, zero), lt = _mm_cmplt_pd(a, zero)
            let picked = _mm_or_pd(_mm_and_pd(gt, one), _mm_and_pd(lt, minusOne))
            return _mm_or_pd(picked, _mm_andnot_pd(_mm_or_pd(gt, lt), a))
        }
        let lo = SIMD4<Double>(lowHalf: sign2(v.lowHalf.lowHalf), highHalf: sign2(v.lowHalf.highHalf))
        let hi = SIMD4<Double>(lowHalf: sign2(v.highHalf.lowHalf), highHalf: sign2(v.highHalf.highHalf))
        return unsafeBitCast(SIMD8<Double>(lowHalf: lo, highHalf: hi), to: V.self)
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
        let v = unsafeBitCast(x, to: SIMD16<Float>.self)
        let zero = _mm_setzero_ps()
        let lo = SIMD8<Float>(lowHalf: _mm_max_ps(zero, v.lowHalf.lowHalf), highHalf: _mm_max_ps(zero, v.lowHalf.highHalf))
        let hi = SIMD8<Float>(lowHalf: _mm_max_ps(zero, v.highHalf.lowHalf), highHalf: _mm_max_ps(zero, v.highHalf.highHalf))
        return unsafeBitCast(SIMD16<Float>(lowHalf: lo, highHalf: hi), to: V.self)
    }
    if V.self == SIMD8<Double>.self {
        let v = unsafeBitCast(x, to: SIMD8<Double>.self)
        let zero = _mm_setzero_pd()
        let lo = SIMD4<Double>(lowHalf: _mm_max_pd(zero, v.lowHalf.lowHalf), highHalf: _mm_max_pd(zero, v.lowHalf.highHalf))
        let hi = SIMD4<Double>(lowHalf: _mm_max_pd(zero, v.highHalf.lowHalf), highHalf: _mm_max_pd(zero, v.highHalf.highHalf))
        return unsafeBitCast(SIMD8<Double>(lowHalf: lo, highHalf: hi), to: V.self)
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
        func cmp4(_ p: SIMD4<Float>, _ q: SIMD4<Float>) -> SIMD4<Float> {
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
        }
        let lo = SIMD8<Float>(lowHalf: cmp4(x.lowHalf.lowHalf, y.lowHalf.lowHalf), highHalf: cmp4(x.lowHalf.highHalf, y.lowHalf.highHalf))
        let hi = SIMD8<Float>(lowHalf: cmp4(x.highHalf.lowHalf, y.highHalf.lowHalf), highHalf: cmp4(x.highHalf.highHalf, y.highHalf.highHalf))
        return unsafeBitCast(SIMD16<Float>(lowHalf: lo, highHalf: hi), to: V.self)
    }
    if V.self == SIMD8<Double>.self {
        let x = unsafeBitCast(a, to: SIMD8<Double>.self), y = unsafeBitCast(b, to: SIMD8<Double>.self)
        let one = _mm_set1_pd(1)
        func cmp2(_ p: SIMD2<Double>, _ q: SIMD2<Double>) -> SIMD2<Double> {
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
        }
        let lo = SIMD4<Double>(lowHalf: cmp2(x.lowHalf.lowHalf, y.lowHalf.lowHalf), highHalf: cmp2(x.lowHalf.highHalf, y.lowHalf.highHalf))
        let hi = SIMD4<Double>(lowHalf: cmp2(x.highHalf.lowHalf, y.highHalf.lowHalf), highHalf: cmp2(x.highHalf.highHalf, y.highHalf.highHalf))
        return unsafeBitCast(SIMD8<Double>(lowHalf: lo, highHalf: hi), to: V.self)
    }
    #endif
    var r = a
    for i in r.indices { r[i] = CompareF(c: c).scalar(a[i], b[i]) }
    return r
}
