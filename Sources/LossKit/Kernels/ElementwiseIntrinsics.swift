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
