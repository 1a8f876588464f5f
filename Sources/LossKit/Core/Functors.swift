/// The pointwise functions behind the elementwise primitives, in scalar and SIMD form.
/// Semantics follow PyTorch's CPU kernels (NaN propagation, special exponents, thresholds).

/// x itself (the forward of `stopGradient`).
struct IdentityF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { x }
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar { x }
}
struct NegF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { -x }
    /// × −1, not the standard library's SIMD `-x`, which is `0 − x` and so gives +0 for +0
    /// (PyTorch and the scalar form give −0; a later division by it then flips an infinity).
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar { x * V(repeating: -1) }
}
struct AbsF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { Swift.abs(x) }
}
struct SqrtF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { x.squareRoot() }
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar { vectorSquareRoot(x) }
}
/// The vector kernels of Kernels/VectorMath.swift; `scalar` runs the same kernel on a splat so a
/// tail element gets the same bits as a vector lane (libm's exp differs in the last bit).
struct ExpF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { scalarMath(.exp, x) }
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar { vectorMath(.exp, x) }
}
struct LogF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { scalarMath(.log, x) }
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar { vectorMath(.log, x) }
}
struct Log1pF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { scalarMath(.log1p, x) }
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar { vectorMath(.log1p, x) }
}
struct TanhF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { scalarMath(.tanh, x) }
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar { vectorMath(.tanh, x) }
}
/// σ(x) = 1 / (1 + e^(−x)) (float32: evaluated in float64, rounded once).
struct SigmoidF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { scalarMath(.sigmoid, x) }
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar { vectorMath(.sigmoid, x) }
}
/// PyTorch's `softplus(x, beta=1, threshold=20)`: x when x > 20, else log(1 + e^x)
/// (float32: evaluated in float64, rounded once).
struct SoftplusF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { scalarMath(.softplus, x) }
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar { vectorMath(.softplus, x) }
}
/// x·σ(1.702x) as PyTorch evaluates CLIP's `x * torch.sigmoid(1.702 * x)`: the product
/// 1.702x rounded to the dtype, σ of it, times x.
struct QuickGeluF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { x * scalarMath(.sigmoid, T(1.702) * x) }
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar {
        x * vectorMath(.sigmoid, V(repeating: 1.702) * x)
    }
}
/// max(x, 0), NaN kept.
struct ReluF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { x < 0 ? 0 : x }
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar {
        vectorRelu(x)
    }
}
struct LeakyReluF: UnaryFunctor {
    let slope: Double
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { x > 0 ? x : x * T(slope) }
}
/// −1, 0 or 1 (NaN stays NaN).
struct SignF: UnaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T { x > 0 ? 1 : (x < 0 ? -1 : x) }
    /// SSE2 masks (`vectorSign`): the default per-lane loop went through the stack and was ~40 %
    /// of L1Loss's fused backward (perf annotate, docs/speed.md).
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar { vectorSign(x) }
}
/// x^p with PyTorch's exact special cases for common exponents.
struct PowScalarF: UnaryFunctor {
    let p: Double
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T {
        switch p {
        case 2: return x * x
        case 1: return x
        case 0: return 1
        case 0.5: return x.squareRoot()
        case 3: return x * x * x
        case -1: return 1 / x
        case -2: return 1 / (x * x)
        case -0.5: return 1 / x.squareRoot()
        default: return T.pow(x, T(p))
        }
    }
    @inline(__always) func vector<V: SIMD>(_ x: V) -> V where V.Scalar: TensorScalar {
        switch p {
        case 2: return x * x
        case 1: return x
        case 0.5: return vectorSquareRoot(x)
        case 3: return x * x * x
        case -1: return 1 / x
        default:
            var r = x
            for i in r.indices { r[i] = scalar(x[i]) }
            return r
        }
    }
}
/// min(max(x, lo), hi) with NaN kept; a missing bound is ±∞.
struct ClampF: UnaryFunctor {
    let lo: Double, hi: Double
    @inline(__always) func scalar<T: TensorScalar>(_ x: T) -> T {
        x.isNaN ? x : Swift.min(Swift.max(x, T(lo)), T(hi))
    }
}

struct AddF: BinaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ a: T, _ b: T) -> T { a + b }
    @inline(__always) func vector<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar: TensorScalar { a + b }
}
struct SubF: BinaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ a: T, _ b: T) -> T { a - b }
    @inline(__always) func vector<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar: TensorScalar { a - b }
}
struct MulF: BinaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ a: T, _ b: T) -> T { a * b }
    @inline(__always) func vector<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar: TensorScalar { a * b }
}
struct DivF: BinaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ a: T, _ b: T) -> T { a / b }
    @inline(__always) func vector<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar: TensorScalar { a / b }
}
struct PowF: BinaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ a: T, _ b: T) -> T { T.pow(a, b) }
}
/// PyTorch `maximum`: NaN if either is NaN.
struct MaximumF: BinaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ a: T, _ b: T) -> T { (a.isNaN || a > b) ? a : b }
}
struct MinimumF: BinaryFunctor {
    @inline(__always) func scalar<T: TensorScalar>(_ a: T, _ b: T) -> T { (a.isNaN || a < b) ? a : b }
}

/// Comparisons give 1 or 0 in the operands' dtype (masks for `where` and products).
public enum Comparison: String { case gt, ge, lt, le, eq, ne }

struct CompareF: BinaryFunctor {
    let c: Comparison
    @inline(__always) func scalar<T: TensorScalar>(_ a: T, _ b: T) -> T {
        let r: Bool
        switch c {
        case .gt: r = a > b
        case .ge: r = a >= b
        case .lt: r = a < b
        case .le: r = a <= b
        case .eq: r = a == b
        case .ne: r = a != b
        }
        return r ? 1 : 0
    }
    @inline(__always) func vector<V: SIMD>(_ a: V, _ b: V) -> V where V.Scalar: TensorScalar { vectorCompare(c, a, b) }
}
