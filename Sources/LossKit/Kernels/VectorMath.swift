/// SIMD exp, log, log1p, tanh (and the sigmoid/softplus built on them) for the elementwise
/// functors, on `SIMD8<Double>` and `SIMD16<Float>` (the kernels' `T.Vector`s).
///
/// Why: `ExpF` & co. called scalar libm per lane (exp ~2 GB/s, ~6x a memcpy of the same
/// bytes; tanh and softplus ~0.5 GB/s). These kernels are branch-free lane-wise code.
///
/// Design:
/// - float64 is computed on `SIMD4<Double>` (see `VMDouble`), a SIMD8<Double> as two of them.
///   float32 runs in float32 on `SIMD8<Float>` (8 lanes per ymm): `vmExpFloat`, `vmLogFloat`,
///   `vmLog1pFloat`, `vmTanhFloat`, `vmSigmoidFloat`, `vmSoftplusFloat` (`vmApplyFloat`).
///   Going through float64 (4 lanes per ymm, converting there and back) cost about twice the time; the
///   float32 kernels stay within 2 ulp (KernelVectorMathTests; docs/speed.md has the measured
///   values).
/// - Written on concrete types, with masks made by integer arithmetic (`signMask`, `nanMask`, …)
///   and selects by bit operations (`vmSelect`): Swift's *generic* SIMD comparisons and
///   `replacing(with:where:)` compile to per-lane loops through the stack here
///   (ElementwiseIntrinsics.swift), and even the concrete `.<` masks split these kernels into
///   xmm halves in the release build (see "Masks without SIMD comparisons").
/// - No AVX intrinsics: `_mm256_*` crash the compiler in debug builds (no `-target-cpu` there);
///   generic `addingProduct` is a fused multiply-add in every build (vfmadd in release, `fma`
///   calls in debug), so debug and release give the same bits.
/// - Range reductions and series are the textbook ones: exp/expm1 by x = n·ln2 + r with a
///   Cody–Waite split of ln2 and a Taylor polynomial of e^r − 1 on |r| ≤ ln2/2; log by
///   x = 2^k·m with m in [√2/2, √2), f = m − 1, s = f/(2+f) and the atanh series
///   log(1+f) = 2s + 2s³/3 + 2s⁵/5 + …, arranged as f − (f²/2 − s·(f²/2 + R)) so that the big
///   term f is exact; log1p adds the exact rounding error of 1 + x (two-sum) as c/(1+x);
///   tanh(|x|) = −w/(2 + w) with w = expm1(−2|x|), which has no cancellation anywhere.
/// - The functors' `scalar` forms run these same vector kernels on a splat and take lane 0,
///   so an element computed in a loop tail is bit-identical to one in the vector body.

/// One ymm register of doubles. Not SIMD8<Double>: operations on it came out split into xmm
/// halves (2 lanes per instruction) in the release build.
typealias VMDouble = SIMD4<Double>
typealias VMBits = SIMD4<UInt64>

@inline(__always) private func bits(_ x: VMDouble) -> VMBits { unsafeBitCast(x, to: VMBits.self) }
@inline(__always) private func double(_ u: VMBits) -> VMDouble { unsafeBitCast(u, to: VMDouble.self) }
@inline(__always) private func splat(_ x: Double) -> VMDouble { VMDouble(repeating: x) }
@inline(__always) private func splatBits(_ x: UInt64) -> VMBits { VMBits(repeating: x) }

// MARK: Masks without SIMD comparisons
//
// Masks are all-ones/all-zeros UInt64 lanes made with integer arithmetic, not with `.<`
// (SIMDMask): in the full kernels the i1-vector masks of the comparisons made LLVM sign-extend
// them lane group by lane group (vpsllq $63) and then split the whole kernel into xmm halves
// (objdump of LossBench); integer masks stay ymm (vblendvpd on the sign bit).

/// All-ones where the sign bit of v is set.
@inline(__always)
private func signMask(_ v: VMDouble) -> VMBits { splatBits(0) &- (bits(v) &>> 63) }

/// x < c for finite c, exactly (x − c is exact near c, and 0 when x == c). Arbitrary for NaN x,
/// whose callers override NaN lanes at the end (`nanMask`).
@inline(__always)
private func lessMask(_ x: VMDouble, _ c: Double) -> VMBits { signMask(x - splat(c)) }
/// x > c for finite c (same caveat for NaN).
@inline(__always)
private func greaterMask(_ x: VMDouble, _ c: Double) -> VMBits { signMask(splat(c) - x) }

@inline(__always)
private func magnitude(_ x: VMDouble) -> VMBits { bits(x) & splatBits(0x7fff_ffff_ffff_ffff) }
/// x is NaN: |x| as an integer above the bits of +inf.
@inline(__always)
private func nanMask(_ x: VMDouble) -> VMBits {
    splatBits(0) &- ((splatBits(0x7ff0_0000_0000_0000) &- magnitude(x)) &>> 63)
}
/// x is ±inf or NaN.
@inline(__always)
private func nonFiniteMask(_ x: VMDouble) -> VMBits {
    splatBits(0) &- ((splatBits(0x7fef_ffff_ffff_ffff) &- magnitude(x)) &>> 63)
}
/// x is ±0.
@inline(__always)
private func zeroMask(_ x: VMDouble) -> VMBits {
    splatBits(0) &- ((magnitude(x) &- splatBits(1)) &>> 63)
}

/// a where m, else b (bitwise, so NaN payloads and signed zeros are kept).
@inline(__always)
private func vmSelect(_ m: VMBits, _ a: VMDouble, _ b: VMDouble) -> VMDouble {
    double((bits(a) & m) | (bits(b) & ~m))
}

/// c + p·r (one fused multiply-add): a Horner step.
@inline(__always)
private func horner(_ p: VMDouble, _ r: VMDouble, _ c: Double) -> VMDouble {
    splat(c).addingProduct(p, r)
}

// MARK: Constants (IEEE-754 facts)

/// 1.5·2^52: adding it rounds a double of magnitude < 2^51 to an integer, which then sits in
/// the low bits of the sum's bit pattern (two's complement).
private let roundMagic = 0x1.8p52
private let log2e = 1.4426950408889634
/// ln 2 split so that n·ln2Hi is exact for |n| < 2^20 (Cody–Waite); ln2Hi + ln2Lo ≈ ln 2 to ~2^-86.
private let ln2Hi = 6.93147180369123816490e-01
private let ln2Lo = 1.90821492927058770002e-10

/// 2^n for integral doubles n in [−1022, 1023] (n + 1023 placed in the exponent field).
@inline(__always)
private func pow2(_ n: VMDouble) -> VMDouble {
    // bits(n + magic + 1023) − bits(magic) = n + 1023 as an integer (same binade, exact).
    let biased = bits(n + splat(roundMagic + 1023)) &- splatBits(roundMagic.bitPattern)
    return double(biased &<< 52)
}

/// Range reduction for e^x: n = round(x·log2 e), r = x − n·ln2 with |r| ≤ ~0.3466.
@inline(__always)
private func expReduce(_ x: VMDouble) -> (n: VMDouble, r: VMDouble) {
    let n = splat(roundMagic).addingProduct(x, splat(log2e)) - splat(roundMagic)
    // x − n·ln2Hi is exact (the product has ≤ 32 significant bits and cancels against x).
    let r = x.addingProduct(-n, splat(ln2Hi)).addingProduct(-n, splat(ln2Lo))
    return (n, r)
}

/// e^r − 1 for |r| ≤ 0.35 as r + r²·P(r), P the Taylor series Σ r^(k−2)/k!, k = 2…13
/// (truncation < 2^-57 relative).
@inline(__always)
private func expm1Poly(_ r: VMDouble) -> VMDouble {
    var p = splat(1.0 / 6227020800)             // 1/13!
    p = horner(p, r, 1.0 / 479001600)           // 1/12!
    p = horner(p, r, 1.0 / 39916800)            // 1/11!
    p = horner(p, r, 1.0 / 3628800)             // 1/10!
    p = horner(p, r, 1.0 / 362880)              // 1/9!
    p = horner(p, r, 1.0 / 40320)
    p = horner(p, r, 1.0 / 5040)
    p = horner(p, r, 1.0 / 720)
    p = horner(p, r, 1.0 / 120)
    p = horner(p, r, 1.0 / 24)
    p = horner(p, r, 1.0 / 6)
    p = horner(p, r, 0.5)
    return r.addingProduct(r * r, p)
}

// MARK: Double kernels

/// e^x. Overflow gives +inf, underflow gives subnormals and then 0, NaN stays NaN.
@inline(__always)
func vmExp(_ x: VMDouble) -> VMDouble {
    // Clamp so that n stays in [−1077, 1025] (e^−746 rounds to 0, e^710 overflows). The masks
    // are arbitrary for NaN lanes, which are put back at the end. (Not pointwiseMin/Max: they
    // drop NaNs (IEEE minNum) and cost a vcmpunordpd + blend more.)
    var xc = vmSelect(lessMask(x, -746), splat(-746), x)
    xc = vmSelect(greaterMask(xc, 710), splat(710), xc)
    let (n, r) = expReduce(xc)
    let p = expm1Poly(r) + 1
    // 2^n as 2^n1·2^n2 with both halves normal: p·2^n1 is exact, and the second product rounds
    // once — correctly into the subnormal range, or to inf.
    let n1 = (n * 0.5 + splat(roundMagic)) - splat(roundMagic)
    return vmSelect(nanMask(x), x, p * pow2(n1) * pow2(n - n1))
}

/// e^x − 1 for x in [−60, 0] (used by tanh) as hi + lo: 2^n·(1 + q) − 1 = 2^n·q + (2^n − 1),
/// q itself for n = 0 and free of cancellation for n < 0.
///
/// For float64 results q is carried as qHi + qLo (the rounding error of r = x − n·ln2, and of
/// r + T with T = r²/2 + r³·P), 2^n − 1 (n ≥ −53) and 2^n·qHi are exact, and lo is the
/// two-sum error of their sum: hi + lo is then good to ~0.2 ulp. This matters because glibc's
/// own tanh is up to ~2 ulp off near |x| ≈ 0.23 (measured with mpmath), so ours must be within
/// ~0.7 ulp of the exact value to stay within 2 ulp of libm there.
@inline(__always)
private func expm1NonPositive(_ x: VMDouble) -> (hi: VMDouble, lo: VMDouble) {
    let n = splat(roundMagic).addingProduct(x, splat(log2e)) - splat(roundMagic)
    let rHi = x.addingProduct(-n, splat(ln2Hi))                 // exact (Cody–Waite)
    let r = rHi.addingProduct(-n, splat(ln2Lo))
    let s = pow2(n)
    let rLo = (rHi - r).addingProduct(-n, splat(ln2Lo))         // rHi − r is exact
    // P(r) = Σ r^(k−3)/k!, k = 3…13.
    var p = splat(1.0 / 6227020800)
    p = horner(p, r, 1.0 / 479001600)
    p = horner(p, r, 1.0 / 39916800)
    p = horner(p, r, 1.0 / 3628800)
    p = horner(p, r, 1.0 / 362880)
    p = horner(p, r, 1.0 / 40320)
    p = horner(p, r, 1.0 / 5040)
    p = horner(p, r, 1.0 / 720)
    p = horner(p, r, 1.0 / 120)
    p = horner(p, r, 1.0 / 24)
    p = horner(p, r, 1.0 / 6)
    let r2 = r * r
    let t = (0.5 * r2).addingProduct(r2 * r, p)
    let qHi = r + t
    // |t| ≤ 0.18·|r|, so the fast two-sum gives the exact error; e^(r + rLo) − 1 ≈ q + rLo·e^r.
    let qLo = ((r - qHi) + t).addingProduct(rLo, 1 + qHi)
    let a = s - 1, b = s * qHi
    let hi = a + b
    let bv = hi - a
    return (hi, ((a - (hi - bv)) + (b - bv)).addingProduct(s, qLo))
}

/// log(u) + corr for u a positive normal finite double, kAdjust added to the exponent.
/// corr is a small correction (log1p's rounding error of 1 + x over 1 + x).
@inline(__always)
private func logCore(_ u: VMDouble, kAdjust: VMDouble, corr: VMDouble) -> VMDouble {
    // Shift u by the bit distance from √2/2 to 1 so that the exponent field gives k with
    // m = u/2^k in [√2/2, √2) (an integer trick on the bit pattern).
    let sqrtHalfBits: UInt64 = 0x3fe6_a09e_667f_3bcd
    let ix = bits(u) &+ splatBits(UInt64(0x3ff0_0000_0000_0000) &- sqrtHalfBits)
    // Biased exponent E placed in the mantissa of 2^52: the double 2^52 + E, exact.
    let e = double((ix &>> 52) | splatBits(UInt64(0x4330_0000_0000_0000)))
    let k = e - splat(0x1p52 + 1023) + kAdjust
    let m = double((ix & splatBits(UInt64(0x000f_ffff_ffff_ffff))) &+ splatBits(sqrtHalfBits))
    let f = m - 1                                // exact (Sterbenz)
    let s = f / (f + 2)
    let z = s * s
    // R = 2z/3 + 2z²/5 + … : the atanh series past its first term, |s| ≤ 0.1716, z ≤ 0.0295.
    var p = splat(2.0 / 19)
    p = horner(p, z, 2.0 / 17)
    p = horner(p, z, 2.0 / 15)
    p = horner(p, z, 2.0 / 13)
    p = horner(p, z, 2.0 / 11)
    p = horner(p, z, 2.0 / 9)
    p = horner(p, z, 2.0 / 7)
    p = horner(p, z, 2.0 / 5)
    p = horner(p, z, 2.0 / 3)
    let rr = z * p
    let hfsq = 0.5 * f * f
    // log(1+f) = f − (hfsq − s·(hfsq + R)), plus k·ln2 with the small parts summed first.
    let tail = corr.addingProduct(k, splat(ln2Lo)).addingProduct(s, hfsq + rr)
    return (f - (hfsq - tail)).addingProduct(k, splat(ln2Hi))
}

/// Natural log. log(±0) = −inf, log(x < 0) = NaN, log(+inf) = +inf, NaN stays NaN,
/// subnormal inputs are scaled by 2^54 first.
@inline(__always)
func vmLog(_ x: VMDouble) -> VMDouble {
    let sub = lessMask(x, 0x1p-1022)
    let u = vmSelect(sub, x * 0x1p54, x)
    let kAdjust = vmSelect(sub, splat(-54), splat(0))
    var y = logCore(u, kAdjust: kAdjust, corr: splat(0))
    // Order matters: +inf → x + x = inf (−inf goes on to NaN), negatives (−0 too) → NaN,
    // ±0 → −inf, NaN → itself.
    y = vmSelect(nonFiniteMask(x), x + x, y)
    y = vmSelect(signMask(x), splat(Double.nan), y)
    y = vmSelect(zeroMask(x), splat(-Double.infinity), y)
    return vmSelect(nanMask(x), x, y)
}

/// log(1 + x). log1p(−1) = −inf, x < −1 → NaN, +inf → +inf, ±0 and tiny x → x exactly.
@inline(__always)
func vmLog1p(_ x: VMDouble) -> VMDouble {
    // u = 1 + x rounded, c its exact rounding error (two-sum, valid for any magnitudes), so
    // log1p(x) = log(u + c) = log(u) + c/u to well below an ulp. For |x| < 2^-53, u = 1 and
    // the result is c/1 = x exactly.
    let one = splat(1)
    let u = one + x
    let bb = u - one
    let c = (one - (u - bb)) + (x - bb)
    // u is 0 (x = −1, patched below) or ≥ 2^-53: never subnormal. A NaN/negative u is patched too.
    var y = logCore(u, kAdjust: splat(0), corr: c / u)
    // +inf → inf (−inf goes on to NaN), x < −1 → NaN, x = −1 (u = 0) → −inf, ±0 → x, NaN → NaN.
    y = vmSelect(nonFiniteMask(x), x + x, y)
    y = vmSelect(lessMask(x, -1), splat(Double.nan), y)   // −inf + 1 < 0 too
    y = vmSelect(zeroMask(u), splat(-Double.infinity), y)
    y = vmSelect(zeroMask(x), x, y)
    return vmSelect(nanMask(x), x, y)
}

/// tanh x = sign(x)·(−w/(2 + w)), w = e^(−2|x|) − 1 in [−1, 0]: both −w and 2 + w are
/// computed without cancellation, so there is no separate small-|x| branch. |x| < 2^-28 → x
/// (tanh x = x − x³/3 rounds to x; keeps ±0 and subnormals), saturates to ±1, NaN stays NaN.
@inline(__always)
func vmTanh(_ x: VMDouble) -> VMDouble {
    let signBit = splatBits(UInt64(1) << 63)
    let a = double(bits(x) & ~signBit)
    // expm1(−2|x|) is −1 to double precision below −60 (and the clamp keeps 2^n normal).
    var m2a = -2 * a
    m2a = vmSelect(lessMask(m2a, -60), splat(-60), m2a)   // NaN lanes are put back below
    let (w, wLo) = expm1NonPositive(m2a)
    // −(w + wLo)/(d + dLo) with d + dLo = 2 + w + wLo exactly (two-sum), then one correction
    // step with the exact remainder −w − t0·d (fma): without it the roundings of w, 2 + w and
    // the quotient add up to 3 ulp near |x| ≈ 0.5.
    let d = w + 2
    let bd = d - w
    let dLo = ((w - (d - bd)) + (2 - bd)) + wLo
    let rec = 1 / d
    let t0 = -w * rec
    let rem = (-w).addingProduct(-t0, d) - wLo - t0 * dLo
    let t = t0.addingProduct(rem, rec)
    let y = double(bits(t) | (bits(x) & signBit))
    return vmSelect(lessMask(a, 0x1p-28) | nanMask(x), x, y)
}

/// σ(x) = 1/(1 + e^−x) (PyTorch's formula): 0 at −inf, 1 at +inf.
@inline(__always)
func vmSigmoid(_ x: VMDouble) -> VMDouble {
    1 / (1 + vmExp(-x))
}

/// PyTorch softplus (beta 1, threshold 20): x where x > 20, else log1p(e^x).
@inline(__always)
func vmSoftplus(_ x: VMDouble) -> VMDouble {
    vmSelect(greaterMask(x, 20), x, vmLog1p(vmExp(x)))
}

/// A double kernel on both halves of a SIMD8<Double>.
@inline(__always)
func vmDouble8(_ x: SIMD8<Double>, _ kernel: (VMDouble) -> VMDouble) -> SIMD8<Double> {
    SIMD8<Double>(lowHalf: kernel(x.lowHalf), highHalf: kernel(x.highHalf))
}

// MARK: float32 exp in float32

/// exp is the one function whose float32 form runs in float32 (8 lanes per ymm instead of 4):
/// it is the most used (exp, and PyTorch-style losses built on it) and the simplest to get
/// within an ulp in float: the same Cody–Waite reduction with a float split of ln 2
/// (n·ln2HiF is exact: 17 + 8 bits, and cancels against x), Taylor to r⁷ (truncation
/// < 2^-27 relative on |r| ≤ 0.347), and 2^n as 2^n1·2^n2 so that overflow gives inf and the
/// subnormal results are rounded once. Max error ≤ 2 ulp against the correctly rounded value is
/// asserted by KernelVectorMathTests (docs/speed.md has the measured value).
typealias VMFloat = SIMD8<Float>
typealias VMBits32 = SIMD8<UInt32>

@inline(__always) private func bits32(_ x: VMFloat) -> VMBits32 { unsafeBitCast(x, to: VMBits32.self) }
@inline(__always) private func float32(_ u: VMBits32) -> VMFloat { unsafeBitCast(u, to: VMFloat.self) }
@inline(__always) private func splat32(_ x: Float) -> VMFloat { VMFloat(repeating: x) }
/// All-ones where the sign bit is set (see `signMask`).
@inline(__always)
private func signMask32(_ v: VMFloat) -> VMBits32 { VMBits32(repeating: 0) &- (bits32(v) &>> 31) }
@inline(__always)
private func select32(_ m: VMBits32, _ a: VMFloat, _ b: VMFloat) -> VMFloat {
    float32((bits32(a) & m) | (bits32(b) & ~m))
}
/// 2^n for integral floats n in [−126, 127].
@inline(__always)
private func pow2f(_ n: VMFloat) -> VMFloat {
    let biased = bits32(n + splat32(0x1.8p23 + 127)) &- VMBits32(repeating: Float(0x1.8p23).bitPattern)
    return float32(biased &<< 23)
}

@inline(__always)
func vmExpFloat(_ x: VMFloat) -> VMFloat {
    let magic: Float = 0x1.8p23
    // e^−104 is below half the least subnormal (rounds to 0) and e^89 overflows: the clamp
    // keeps n in [−150, 129].
    var xc = select32(signMask32(x - splat32(-104)), splat32(-104), x)
    xc = select32(signMask32(splat32(89) - xc), splat32(89), xc)
    let n = splat32(magic).addingProduct(xc, splat32(0x1.715476p0)) - splat32(magic)
    let ln2HiF: Float = 0.693145751953125                          // 0x1.62e4p-1
    let ln2LoF = Float(0.6931471805599453 - 0.693145751953125)
    let r = xc.addingProduct(-n, splat32(ln2HiF)).addingProduct(-n, splat32(ln2LoF))
    var p = splat32(1.0 / 5040)
    p = splat32(1.0 / 720).addingProduct(p, r)
    p = splat32(1.0 / 120).addingProduct(p, r)
    p = splat32(1.0 / 24).addingProduct(p, r)
    p = splat32(1.0 / 6).addingProduct(p, r)
    p = splat32(0.5).addingProduct(p, r)
    let e = r.addingProduct(r * r, p) + 1
    let n1 = (n * 0.5 + splat32(magic)) - splat32(magic)
    let y = e * pow2f(n1) * pow2f(n - n1)
    // NaN lanes: the clamp masks are arbitrary for them, so x is put back (NaN ⇔ |x|'s bits
    // above those of inf).
    let mag = bits32(x) & VMBits32(repeating: 0x7fff_ffff)
    let isNaN = VMBits32(repeating: 0) &- ((VMBits32(repeating: 0x7f80_0000) &- mag) &>> 31)
    return select32(isNaN, x, y)
}

// MARK: float32 log, log1p, tanh, sigmoid, softplus in float32
//
// The same reductions as the double kernels, in float32 on SIMD8<Float> (8 lanes per ymm
// instead of 4 through float64): every step is a float operation, so the accuracy argument is
// the usual float one (musl's logf/log1pf use the same scheme) and the sweeps in
// KernelVectorMathTests measure it. Masks are integer arithmetic as above (`signMask32`).

@inline(__always) private func splatBits32(_ x: UInt32) -> VMBits32 { VMBits32(repeating: x) }
/// x < c for finite c (exact: x − c is exact near c). Arbitrary for NaN x (patched by callers).
@inline(__always)
private func lessMask32(_ x: VMFloat, _ c: Float) -> VMBits32 { signMask32(x - splat32(c)) }
/// x > c for finite c (same caveat for NaN).
@inline(__always)
private func greaterMask32(_ x: VMFloat, _ c: Float) -> VMBits32 { signMask32(splat32(c) - x) }
@inline(__always)
private func magnitude32(_ x: VMFloat) -> VMBits32 { bits32(x) & splatBits32(0x7fff_ffff) }
/// x is NaN: |x|'s bits above those of +inf.
@inline(__always)
private func nanMask32(_ x: VMFloat) -> VMBits32 {
    splatBits32(0) &- ((splatBits32(0x7f80_0000) &- magnitude32(x)) &>> 31)
}
/// x is ±inf or NaN.
@inline(__always)
private func nonFiniteMask32(_ x: VMFloat) -> VMBits32 {
    splatBits32(0) &- ((splatBits32(0x7f7f_ffff) &- magnitude32(x)) &>> 31)
}
/// x is ±0.
@inline(__always)
private func zeroMask32(_ x: VMFloat) -> VMBits32 {
    splatBits32(0) &- ((magnitude32(x) &- splatBits32(1)) &>> 31)
}
@inline(__always)
private func horner32(_ p: VMFloat, _ r: VMFloat, _ c: Float) -> VMFloat {
    splat32(c).addingProduct(p, r)
}

/// ln 2 split for float: n·ln2HiF is exact for |n| < 2^8 (17 + 8 bits), which covers every
/// float exponent; ln2HiF + ln2LoF ≈ ln 2 to ~2^-45.
private let ln2HiF: Float = 0.693145751953125                          // 0x1.62e4p-1
private let ln2LoF = Float(0.6931471805599453 - 0.693145751953125)

/// log(u) + corr for u a positive normal finite float, kAdjust added to the exponent (the
/// float form of `logCore`). The atanh series to 2z⁴/9: truncation ≤ s·2z⁵/11 < 2^-28
/// relative to the result on |s| ≤ 0.1716 (m in [√2/2, √2)).
@inline(__always)
private func logCoreFloat(_ u: VMFloat, kAdjust: VMFloat, corr: VMFloat) -> VMFloat {
    let sqrtHalfBits: UInt32 = 0x3f35_04f3                             // √2/2 rounded
    let ix = bits32(u) &+ splatBits32(UInt32(0x3f80_0000) &- sqrtHalfBits)
    // Biased exponent E in the mantissa of 2^23: the float 2^23 + E, exact.
    let e = float32((ix &>> 23) | splatBits32(0x4b00_0000))
    let k = e - splat32(0x1p23 + 127) + kAdjust
    let m = float32((ix & splatBits32(0x007f_ffff)) &+ splatBits32(sqrtHalfBits))
    let f = m - 1                                                      // exact (Sterbenz)
    let s = f / (f + 2)
    let z = s * s
    var p = splat32(2.0 / 9)
    p = horner32(p, z, 2.0 / 7)
    p = horner32(p, z, 2.0 / 5)
    p = horner32(p, z, 2.0 / 3)
    let rr = z * p
    let hfsq = 0.5 * f * f
    // log(1+f) = f − (hfsq − s·(hfsq + R)) with the big term f exact, plus k·ln2 last.
    let tail = corr.addingProduct(k, splat32(ln2LoF)).addingProduct(s, hfsq + rr)
    return (f - (hfsq - tail)).addingProduct(k, splat32(ln2HiF))
}

/// Natural log in float32; special values as `vmLog` (subnormal inputs scaled by 2^23 first).
@inline(__always)
func vmLogFloat(_ x: VMFloat) -> VMFloat {
    let sub = lessMask32(x, 0x1p-126)
    let u = select32(sub, x * 0x1p23, x)
    let kAdjust = select32(sub, splat32(-23), splat32(0))
    var y = logCoreFloat(u, kAdjust: kAdjust, corr: splat32(0))
    // Order matters (as in vmLog): +inf → inf, negatives (−0 too) → NaN, ±0 → −inf, NaN → NaN.
    y = select32(nonFiniteMask32(x), x + x, y)
    y = select32(signMask32(x), splat32(Float.nan), y)
    y = select32(zeroMask32(x), splat32(-Float.infinity), y)
    return select32(nanMask32(x), x, y)
}

/// log(1 + u − 1 + c) for u = 1 + x rounded and c its exact error: log(u) + c/u.
@inline(__always)
private func log1pCoreFloat(_ x: VMFloat) -> (y: VMFloat, u: VMFloat) {
    // Two-sum (any magnitudes): u + c = 1 + x exactly. u is 0 (x = −1) or ≥ 2^-24, never
    // subnormal; for |x| < 2^-25, u = 1 and the result is c/1 = x exactly.
    let one = splat32(1)
    let u = one + x
    let bb = u - one
    let c = (one - (u - bb)) + (x - bb)
    return (logCoreFloat(u, kAdjust: splat32(0), corr: c / u), u)
}

/// log(1 + x) in float32; special values as `vmLog1p`.
@inline(__always)
func vmLog1pFloat(_ x: VMFloat) -> VMFloat {
    var (y, u) = log1pCoreFloat(x)
    y = select32(nonFiniteMask32(x), x + x, y)
    y = select32(lessMask32(x, -1), splat32(Float.nan), y)            // −inf too
    y = select32(zeroMask32(u), splat32(-Float.infinity), y)
    y = select32(zeroMask32(x), x, y)
    return select32(nanMask32(x), x, y)
}

/// e^x − 1 for x in [−20, 0] (float32 tanh): 2^n·(1 + q) − 1 = 2^n·q + (2^n − 1), with 2^n − 1
/// exact (n ≥ −29) and 2^n·q exact: one rounding, q itself for n = 0 (no cancellation).
@inline(__always)
private func expm1NonPositiveFloat(_ x: VMFloat) -> VMFloat {
    let magic: Float = 0x1.8p23
    let n = splat32(magic).addingProduct(x, splat32(0x1.715476p0)) - splat32(magic)
    let r = x.addingProduct(-n, splat32(ln2HiF)).addingProduct(-n, splat32(ln2LoF))
    var p = splat32(1.0 / 5040)
    p = horner32(p, r, 1.0 / 720)
    p = horner32(p, r, 1.0 / 120)
    p = horner32(p, r, 1.0 / 24)
    p = horner32(p, r, 1.0 / 6)
    p = horner32(p, r, 0.5)
    let q = r.addingProduct(r * r, p)
    let s = pow2f(n)
    return (s - 1).addingProduct(s, q)
}

/// tanh in float32: sign(x)·(−w/(2 + w)), w = expm1(−2|x|), with the quotient corrected once
/// by its exact remainder (the rounding of 2 + w and of the quotient would otherwise add to
/// w's own error near |x| ≈ 1). |x| < 2^-12 → x (keeps ±0 and subnormals), NaN stays NaN.
@inline(__always)
func vmTanhFloat(_ x: VMFloat) -> VMFloat {
    let signBit = splatBits32(0x8000_0000)
    let a = float32(bits32(x) & ~signBit)
    // expm1(−2|x|) is −1 to float precision below −17.4; the clamp keeps 2^n normal.
    var m2a = -2 * a
    m2a = select32(lessMask32(m2a, -20), splat32(-20), m2a)           // NaN lanes put back below
    let w = expm1NonPositiveFloat(m2a)
    let d = w + 2
    let dLo = (2 - d) + w                                              // exact: |w| ≤ 2
    let rec = 1 / d
    let t0 = -w * rec
    let rem = (-w).addingProduct(-t0, d) - t0 * dLo
    let t = t0.addingProduct(rem, rec)
    let y = float32(bits32(t) | (bits32(x) & signBit))
    return select32(lessMask32(a, 0x1p-12) | nanMask32(x), x, y)
}

/// σ(x) = 1/(1 + e^−x) in float32, computed as 1/(1 + e) for x ≥ 0 and e/(1 + e) for x < 0
/// with e = e^−|x| ≤ 1 (the same value): e^−x would overflow float for x < −88.7 where σ is
/// still a subnormal, and e/(1 + e) keeps those. −inf → 0, +inf → 1, NaN → NaN.
@inline(__always)
func vmSigmoidFloat(_ x: VMFloat) -> VMFloat {
    let e = vmExpFloat(float32(bits32(x) | splatBits32(0x8000_0000)))
    return select32(signMask32(x), e, splat32(1)) / (1 + e)
}

/// PyTorch softplus (beta 1, threshold 20) in float32: x where x > 20, else log1p(e^x).
@inline(__always)
func vmSoftplusFloat(_ x: VMFloat) -> VMFloat {
    // e = e^x ≥ 0 is finite below 20; log1p(0) = 0, log1p of a subnormal e is e.
    let (l, _) = log1pCoreFloat(vmExpFloat(x))
    let y = select32(greaterMask32(x, 20), x, l)
    return select32(nanMask32(x), x, y)
}

@inline(__always)
func vmApplyFloat(_ f: VectorMathFunction, _ x: VMFloat) -> VMFloat {
    switch f {
    case .exp: return vmExpFloat(x)
    case .log: return vmLogFloat(x)
    case .log1p: return vmLog1pFloat(x)
    case .tanh: return vmTanhFloat(x)
    case .sigmoid: return vmSigmoidFloat(x)
    case .softplus: return vmSoftplusFloat(x)
    }
}

/// The function a functor computes, so that one dispatch serves all of them.
enum VectorMathFunction {
    case exp, log, log1p, tanh, sigmoid, softplus
}

@inline(__always)
func vmApply(_ f: VectorMathFunction, _ x: VMDouble) -> VMDouble {
    switch f {
    case .exp: return vmExp(x)
    case .log: return vmLog(x)
    case .log1p: return vmLog1p(x)
    case .tanh: return vmTanh(x)
    case .sigmoid: return vmSigmoid(x)
    case .softplus: return vmSoftplus(x)
    }
}

/// `f` on a `T.Vector` (SIMD16<Float> or SIMD8<Double>); any other SIMD type goes lane by lane
/// through the same kernels (so it gives the same bits).
@inline(__always)
func vectorMath<V: SIMD>(_ f: VectorMathFunction, _ x: V) -> V where V.Scalar: TensorScalar {
    if V.self == SIMD16<Float>.self {
        let v = unsafeBitCast(x, to: SIMD16<Float>.self)
        return unsafeBitCast(SIMD16<Float>(lowHalf: vmApplyFloat(f, v.lowHalf), highHalf: vmApplyFloat(f, v.highHalf)), to: V.self)
    }
    if V.self == SIMD8<Double>.self {
        let r = vmDouble8(unsafeBitCast(x, to: SIMD8<Double>.self)) { vmApply(f, $0) }
        return unsafeBitCast(r, to: V.self)
    }
    var r = x
    for i in r.indices { r[i] = scalarMath(f, x[i]) }
    return r
}

/// `f` on one value: lane 0 of the vector kernel on a splat, bit-identical to a vector lane
/// (the kernels are lane-wise, so the vector width does not change a lane's bits).
@inline(__always)
func scalarMath<T: TensorScalar>(_ f: VectorMathFunction, _ x: T) -> T {
    if T.self == Float.self {
        return unsafeBitCast(vmApplyFloat(f, VMFloat(repeating: unsafeBitCast(x, to: Float.self)))[0], to: T.self)
    }
    let v = VMDouble(repeating: Double(x))
    return T(vmApply(f, v)[0])
}
