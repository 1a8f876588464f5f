/// The pointwise primitives: one entry per operation, holding everything the engine needs of
/// it — the functor its kernels run (tensors and fused programs alike), whether it has a
/// derivative, and its derivative rule, written once, generically, for any `PointwiseAlgebra`.
/// `Tensor` and `Fused` (the symbolic scalar of fused programs) both conform, so the same rule
/// builds a tensor op's backward pass and a fused program's symbolic gradient; they cannot
/// diverge. Adding an operation is adding a case here and its functor (Functors.swift).

/// Values the derivative rules compute with: tensors (recorded, broadcasting ops) and fused
/// scalars (instructions of a program). Rules may throw (tensor shapes); fused ones never do.
public protocol PointwiseAlgebra {
    /// `op` applied elementwise (differentiable when the op is).
    func pointwise(_ op: PointwiseUnary) -> Self
    /// `op` applied elementwise to two values (broadcasting, for tensors).
    static func binary(_ op: PointwiseBinary, _ a: Self, _ b: Self) throws -> Self
    /// `cond != 0 ? a : b`; `cond` is a mask and is not differentiated.
    static func select(_ cond: Self, _ a: Self, _ b: Self) throws -> Self
    /// The constant `v` (a scalar that broadcasts, in this value's dtype).
    func constant(_ v: Double) -> Self
    /// 1 where the comparison holds, else 0 (masks, never differentiated).
    func compared(_ c: Comparison, _ other: Self) throws -> Self
    /// The same value with no derivative (PyTorch's `detach`).
    func detached() -> Self
    /// Whether what a rule computes will itself be differentiated (a graph is recorded), so
    /// rules that differ from their first-order form only in higher derivatives can choose.
    var recordsGraph: Bool { get }
}

/// A value inside a derivative rule, carrying the operators the rules are written with. They
/// live on this wrapper rather than on `PointwiseAlgebra` itself: generic operators on the
/// protocol would join every `Tensor` expression's overload set and slow type-checking of all
/// tensor code (measured: expressions in the loss tests stopped type-checking in time).
fileprivate struct RuleValue<V: PointwiseAlgebra> {
    let v: V
    init(_ v: V) { self.v = v }

    @inline(__always) func pointwise(_ op: PointwiseUnary) -> RuleValue { RuleValue(v.pointwise(op)) }
    @inline(__always) func cmp(_ c: Comparison, _ x: Double) throws -> RuleValue { RuleValue(try v.compared(c, v.constant(x))) }
    @inline(__always) func cmp(_ c: Comparison, _ o: RuleValue) throws -> RuleValue { RuleValue(try v.compared(c, o.v)) }
    @inline(__always) func zero() -> RuleValue { RuleValue(v.constant(0)) }
    @inline(__always) func detached() -> RuleValue { RuleValue(v.detached()) }
    var recordsGraph: Bool { v.recordsGraph }

    @inline(__always) static func select(_ c: RuleValue, _ a: RuleValue, _ b: RuleValue) throws -> RuleValue {
        RuleValue(try V.select(c.v, a.v, b.v))
    }
    @inline(__always) static func binary(_ op: PointwiseBinary, _ a: RuleValue, _ b: RuleValue) throws -> RuleValue {
        RuleValue(try V.binary(op, a.v, b.v))
    }
    @inline(__always) static func + (a: RuleValue, b: RuleValue) throws -> RuleValue { try binary(.add, a, b) }
    @inline(__always) static func - (a: RuleValue, b: RuleValue) throws -> RuleValue { try binary(.sub, a, b) }
    @inline(__always) static func * (a: RuleValue, b: RuleValue) throws -> RuleValue { try binary(.mul, a, b) }
    @inline(__always) static func / (a: RuleValue, b: RuleValue) throws -> RuleValue { try binary(.div, a, b) }
    @inline(__always) static func * (a: RuleValue, b: Double) throws -> RuleValue { try binary(.mul, a, RuleValue(a.v.constant(b))) }
    @inline(__always) static func + (a: RuleValue, b: Double) throws -> RuleValue { try binary(.add, a, RuleValue(a.v.constant(b))) }
    @inline(__always) static func - (a: RuleValue, b: Double) throws -> RuleValue { try binary(.sub, a, RuleValue(a.v.constant(b))) }
    @inline(__always) static func - (a: Double, b: RuleValue) throws -> RuleValue { try binary(.sub, RuleValue(b.v.constant(a)), b) }
    @inline(__always) static prefix func - (a: RuleValue) -> RuleValue { a.pointwise(.neg) }
}

/// A pointwise function of one value, with its parameters.
public enum PointwiseUnary: Hashable, CustomStringConvertible {
    case neg, abs, sqrt, exp, log, log1p, sigmoid, softplus, relu, tanh, sign
    /// x·σ(1.702x), CLIP's QuickGELU.
    case quickGelu
    /// xᵖ with PyTorch's special cases.
    case pow(Double)
    case leakyRelu(Double)
    /// min(max(x, lo), hi), NaN kept; a missing bound is ±∞.
    case clamp(Double, Double)
    /// The identity, without a derivative (the `detach` of fused programs).
    case stopGradient

    /// Runs `user` with this op's functor (one switch, shared by every kernel that applies it).
    @inline(__always)
    func withFunctor<U: UnaryFunctorUser>(_ user: U) -> U.Result {
        switch self {
        case .neg: return user.use(NegF())
        case .abs: return user.use(AbsF())
        case .sqrt: return user.use(SqrtF())
        case .exp: return user.use(ExpF())
        case .log: return user.use(LogF())
        case .log1p: return user.use(Log1pF())
        case .sigmoid: return user.use(SigmoidF())
        case .softplus: return user.use(SoftplusF())
        case .relu: return user.use(ReluF())
        case .tanh: return user.use(TanhF())
        case .sign: return user.use(SignF())
        case .quickGelu: return user.use(QuickGeluF())
        case let .pow(p): return user.use(PowScalarF(p: p))
        case let .leakyRelu(s): return user.use(LeakyReluF(slope: s))
        case let .clamp(lo, hi): return user.use(ClampF(lo: lo, hi: hi))
        case .stopGradient: return user.use(IdentityF())
        }
    }

    /// Piecewise-constant and detached ops have no derivative: not recorded at all.
    var hasDerivative: Bool {
        switch self {
        case .sign, .stopGradient: return false
        default: return true
        }
    }

    /// The vector-Jacobian product: ∂/∂x of ⟨op(x), g⟩, given x, y = op(x) and the upstream g;
    /// nil when there is none (no derivative, or xᵖ with p = 0). PyTorch's formulas.
    func vjp<V: PointwiseAlgebra>(_ x: V, _ y: V, _ g: V) throws -> V? {
        try rule(RuleValue(x), RuleValue(y), RuleValue(g))?.v
    }

    private func rule<V>(_ x: RuleValue<V>, _ y: RuleValue<V>, _ g: RuleValue<V>) throws -> RuleValue<V>? {
        switch self {
        case .neg: return -g
        case .abs: return try g * x.pointwise(.sign)                          // 0 at 0
        case .sqrt: return try g / (y * 2)
        case .exp: return try g * y
        case .log: return try g / x
        case .log1p: return try g / (x + 1)
        case .tanh: return try g * (1 - y.pointwise(.pow(2)))
        // σ·σ(−x) is σ·(1 − σ) without the cancellation in 1 − σ for large x (which would
        // spoil softplus's second derivative).
        case .sigmoid: return try g * (y * (-x).pointwise(.sigmoid))
        // g·σ(x), and g when x > 20 (PyTorch's threshold). PyTorch's second derivative uses
        // `x < 20`, so it is 0 at exactly x = 20 although the first derivative there is σ(20):
        // the detached σ reproduces that when the result will be differentiated.
        case .softplus:
            let s = x.pointwise(.sigmoid)
            let slope = x.recordsGraph ? try .select(x.cmp(.lt, 20), s, s.detached()) : s
            return try .select(x.cmp(.gt, 20), g, g * slope)
        case .relu: return try .select(x.cmp(.gt, 0), g, g.zero())
        case let .leakyRelu(slope): return try .select(x.cmp(.gt, 0), g, g * slope)
        case let .pow(p): return p == 0 ? nil : try g * (x.pointwise(.pow(p - 1)) * p)
        // g where lo ≤ x ≤ hi, else 0 (PyTorch).
        case let .clamp(lo, hi): return try .select(x.cmp(.ge, lo) * x.cmp(.le, hi), g, g.zero())
        // d/dx x·σ(ax) = σ(ax)·(1 + ax·σ(−ax)), a = 1.702.
        case .quickGelu:
            let ax = try x * 1.702
            let s = ax.pointwise(.sigmoid)
            return try g * (s * (ax * (-ax).pointwise(.sigmoid) + 1))
        case .sign, .stopGradient: return nil
        }
    }

    /// Identity for sharing (CSE): the case and its parameters' bit patterns, so 0 and −0 differ.
    var key: String {
        switch self {
        case let .pow(p): return "pow \(p.bitPattern)"
        case let .leakyRelu(s): return "leakyRelu \(s.bitPattern)"
        case let .clamp(lo, hi): return "clamp \(lo.bitPattern) \(hi.bitPattern)"
        default: return description
        }
    }

    /// The name recorded in the graph (`exp`, `pow`, ...).
    public var description: String {
        switch self {
        case .neg: return "neg"
        case .abs: return "abs"
        case .sqrt: return "sqrt"
        case .exp: return "exp"
        case .log: return "log"
        case .log1p: return "log1p"
        case .sigmoid: return "sigmoid"
        case .softplus: return "softplus"
        case .relu: return "relu"
        case .tanh: return "tanh"
        case .sign: return "sign"
        case .quickGelu: return "quickGelu"
        case .pow: return "pow"
        case .leakyRelu: return "leakyRelu"
        case .clamp: return "clamp"
        case .stopGradient: return "stopGradient"
        }
    }
}

/// A pointwise function of two values.
public enum PointwiseBinary: String, Hashable {
    case add, sub, mul, div, pow, maximum, minimum

    @inline(__always)
    func withFunctor<U: BinaryFunctorUser>(_ user: U) -> U.Result {
        switch self {
        case .add: return user.use(AddF())
        case .sub: return user.use(SubF())
        case .mul: return user.use(MulF())
        case .div: return user.use(DivF())
        case .pow: return user.use(PowF())
        case .maximum: return user.use(MaximumF())
        case .minimum: return user.use(MinimumF())
        }
    }

    /// ∂/∂a and ∂/∂b of ⟨op(a, b), g⟩ (before any summing over broadcast axes), for the sides
    /// in `needs`. PyTorch's formulas: a^b gives 0 for ∂/∂a where b = 0 and for ∂/∂b where
    /// a = 0 and b ≥ 0; maximum and minimum split the gradient at ties.
    func vjp<V: PointwiseAlgebra>(_ a: V, _ b: V, _ y: V, _ g: V, needs: (Bool, Bool)) throws -> (V?, V?) {
        let (ga, gb) = try rule(RuleValue(a), RuleValue(b), RuleValue(y), RuleValue(g), needs)
        return (ga?.v, gb?.v)
    }

    private func rule<V>(_ a: RuleValue<V>, _ b: RuleValue<V>, _ y: RuleValue<V>, _ g: RuleValue<V>,
                         _ needs: (Bool, Bool)) throws -> (RuleValue<V>?, RuleValue<V>?) {
        switch self {
        case .add: return (needs.0 ? g : nil, needs.1 ? g : nil)
        case .sub: return (needs.0 ? g : nil, needs.1 ? -g : nil)
        case .mul: return (needs.0 ? try g * b : nil, needs.1 ? try g * a : nil)
        case .div: return (needs.0 ? try g / b : nil, needs.1 ? try -g * ((a / b) / b) : nil)
        case .pow:
            typealias R = RuleValue<V>
            let ga: R? = needs.0 ? try R.select(b.cmp(.eq, 0), g.zero(), g * (b * R.binary(.pow, a, b - 1))) : nil
            let gb: R? = needs.1 ? try g * R.select(a.cmp(.eq, 0) * b.cmp(.ge, 0), g.zero(), y * a.pointwise(.log)) : nil
            return (ga, gb)
        case .maximum, .minimum:
            let shared = try RuleValue.select(a.cmp(.eq, b), g * 0.5, g)
            let aLoses = try a.cmp(self == .maximum ? .lt : .gt, b)
            let bLoses = try a.cmp(self == .maximum ? .gt : .lt, b)
            return (needs.0 ? try RuleValue.select(aLoses, g.zero(), shared) : nil,
                    needs.1 ? try RuleValue.select(bLoses, g.zero(), shared) : nil)
        }
    }
}

/// ∂ of `cond ? a : b`: the upstream where each side was taken, 0 elsewhere.
func selectVJP<V: PointwiseAlgebra>(_ cond: V, _ g: V, needs: (Bool, Bool)) throws -> (V?, V?) {
    (needs.0 ? try V.select(cond, g, g.constant(0)) : nil, needs.1 ? try V.select(cond, g.constant(0), g) : nil)
}

/// Something done with a unary functor whose concrete type the op picks (`withFunctor`).
protocol UnaryFunctorUser {
    associatedtype Result
    func use<F: UnaryFunctor>(_ f: F) -> Result
}

/// Something done with a binary functor whose concrete type the op picks.
protocol BinaryFunctorUser {
    associatedtype Result
    func use<F: BinaryFunctor>(_ f: F) -> Result
}

// MARK: The operations by name, for tensors and fused scalars alike

extension PointwiseAlgebra {
    /// |x|. ∂ = g·sign(x) (0 at 0).
    public func abs() -> Self { pointwise(.abs) }
    /// √x. ∂ = g / (2√x).
    public func sqrt() -> Self { pointwise(.sqrt) }
    /// eˣ. ∂ = g·eˣ.
    public func exp() -> Self { pointwise(.exp) }
    /// ln x. ∂ = g / x.
    public func log() -> Self { pointwise(.log) }
    /// ln(1 + x). ∂ = g / (1 + x).
    public func log1p() -> Self { pointwise(.log1p) }
    /// tanh x. ∂ = g·(1 − tanh²x).
    public func tanh() -> Self { pointwise(.tanh) }
    /// σ(x) = 1/(1 + e⁻ˣ). ∂ = g·σ(x)·σ(−x).
    public func sigmoid() -> Self { pointwise(.sigmoid) }
    /// softplus(x) = ln(1 + eˣ), and x itself when x > 20 (PyTorch's threshold).
    public func softplus() -> Self { pointwise(.softplus) }
    /// max(x, 0). ∂ = g where x > 0, else 0.
    public func relu() -> Self { pointwise(.relu) }
    /// x if x > 0 else slope·x.
    public func leakyRelu(_ slope: Double = 0.01) -> Self { pointwise(.leakyRelu(slope)) }
    /// x·σ(1.702x) (CLIP's QuickGELU).
    public func quickGelu() -> Self { pointwise(.quickGelu) }
    /// sign(x) ∈ {−1, 0, 1}; piecewise constant, so it is not differentiated.
    public func sign() -> Self { pointwise(.sign) }
    /// xᵖ. ∂ = g·p·x^(p−1), and 0 when p = 0 (PyTorch).
    public func pow(_ p: Double) -> Self { pointwise(.pow(p)) }
    /// x² (= pow(2)).
    public func square() -> Self { pointwise(.pow(2)) }
    /// min(max(x, lo), hi); a nil bound is absent. ∂ = g where lo ≤ x ≤ hi, else 0 (PyTorch).
    public func clamp(min lo: Double? = nil, max hi: Double? = nil) -> Self {
        pointwise(.clamp(lo ?? -.infinity, hi ?? .infinity))
    }
}
