/// Elementwise primitives (forward kernel + backward rule side by side) and the composites
/// built from them.

// MARK: Forward helpers (no graph)

func unaryForward<F: UnaryFunctor>(_ x: Tensor, _ f: F) -> Tensor {
    let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
    switch x.dtype {
    case .float32: unaryKernel(x.pointer(Float.self), y.mutablePointer(Float.self), x.count, f)
    case .float64: unaryKernel(x.pointer(Double.self), y.mutablePointer(Double.self), x.count, f)
    }
    return y
}

/// `a` and `b` share a dtype; `shape` is their validated broadcast shape.
func binaryForward<F: BinaryFunctor>(_ a: Tensor, _ b: Tensor, _ shape: [Int], _ f: F) -> Tensor {
    let y = Tensor(uninitializedShape: shape, dtype: a.dtype)
    if y.count == 0 { return y }
    let plan = BroadcastPlan(outShape: shape, operandShapes: [a.shape, b.shape])
    switch a.dtype {
    case .float32: binaryKernel(a.pointer(Float.self), b.pointer(Float.self), y.mutablePointer(Float.self), plan, f)
    case .float64: binaryKernel(a.pointer(Double.self), b.pointer(Double.self), y.mutablePointer(Double.self), plan, f)
    }
    return y
}

/// PyTorch type promotion between our two dtypes: float32 op float64 → float64.
func promote(_ a: Tensor, _ b: Tensor) -> (Tensor, Tensor) {
    if a.dtype == b.dtype { return (a, b) }
    return a.dtype == .float64 ? (a, b.to(.float64)) : (a.to(.float64), b)
}

/// Validated broadcast shape of a binary op (after promotion).
func binaryOperands(_ a: Tensor, _ b: Tensor, _ op: String) throws -> (Tensor, Tensor, [Int]) {
    let (a, b) = promote(a, b)
    return (a, b, try broadcastShapes([a.shape, b.shape], op: op))
}

// MARK: Binary primitives

extension Tensor {
    /// Sum of broadcast gradients back to `shape` (the adjoint of broadcasting).
    public func sumTo(_ target: [Int]) throws -> Tensor {
        if shape == target { return self }
        guard target.count <= rank else { throw TensorError.shapeMismatch(op: "sumTo", shapes: [shape, target]) }
        let lead = rank - target.count
        var dims = Array(0..<lead)
        for (j, d) in target.enumerated() where d == 1 && shape[lead + j] != 1 { dims.append(lead + j) }
        for (j, d) in target.enumerated() where d != 1 && d != shape[lead + j] {
            throw TensorError.shapeMismatch(op: "sumTo", shapes: [shape, target])
        }
        return try sum(dims: dims, keepdim: true).reshape(target)
    }

    /// a + b. ∂/∂a = g, ∂/∂b = g (each summed back over broadcast dims).
    static func addPrimitive(_ a: Tensor, _ b: Tensor, _ shape: [Int]) -> Tensor {
        let sa = a.shape, sb = b.shape
        return record("add", [a, b], binaryForward(a, b, shape, AddF())) { c in
            [c.needs[0] ? try c.grad.sumTo(sa) : nil, c.needs[1] ? try c.grad.sumTo(sb) : nil]
        }
    }

    /// a · b. ∂/∂a = g·b, ∂/∂b = g·a.
    static func mulPrimitive(_ a: Tensor, _ b: Tensor, _ shape: [Int]) -> Tensor {
        record("mul", [a, b], binaryForward(a, b, shape, MulF())) { c in
            [c.needs[0] ? try (c.grad * b).sumTo(a.shape) : nil,
             c.needs[1] ? try (c.grad * a).sumTo(b.shape) : nil]
        }
    }

    /// a / b. ∂/∂a = g/b, ∂/∂b = −g·(a/b)/b (PyTorch's form).
    static func divPrimitive(_ a: Tensor, _ b: Tensor, _ shape: [Int]) -> Tensor {
        record("div", [a, b], binaryForward(a, b, shape, DivF())) { c in
            [c.needs[0] ? try (c.grad / b).sumTo(a.shape) : nil,
             c.needs[1] ? try (-c.grad * ((a / b) / b)).sumTo(b.shape) : nil]
        }
    }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor {
        let (a, b, s) = try binaryOperands(a, b, "add"); return addPrimitive(a, b, s)
    }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor {
        let (a, b, s) = try binaryOperands(a, b, "mul"); return mulPrimitive(a, b, s)
    }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor {
        let (a, b, s) = try binaryOperands(a, b, "div"); return divPrimitive(a, b, s)
    }
    /// a − b = a + (−b) (composite).
    public static func - (a: Tensor, b: Tensor) throws -> Tensor {
        let (a, b, s) = try binaryOperands(a, b, "sub"); return addPrimitive(a, -b, s)
    }
    public static prefix func - (x: Tensor) -> Tensor { x.neg() }

    // Scalars take the tensor's dtype (PyTorch: a Python number does not promote a tensor).
    public static func + (a: Tensor, b: Double) -> Tensor { addPrimitive(a, .scalar(b, dtype: a.dtype), a.shape) }
    public static func + (a: Double, b: Tensor) -> Tensor { addPrimitive(.scalar(a, dtype: b.dtype), b, b.shape) }
    public static func - (a: Tensor, b: Double) -> Tensor { addPrimitive(a, .scalar(-b, dtype: a.dtype), a.shape) }
    public static func - (a: Double, b: Tensor) -> Tensor { addPrimitive(.scalar(a, dtype: b.dtype), -b, b.shape) }
    public static func * (a: Tensor, b: Double) -> Tensor { mulPrimitive(a, .scalar(b, dtype: a.dtype), a.shape) }
    public static func * (a: Double, b: Tensor) -> Tensor { mulPrimitive(.scalar(a, dtype: b.dtype), b, b.shape) }
    public static func / (a: Tensor, b: Double) -> Tensor { divPrimitive(a, .scalar(b, dtype: a.dtype), a.shape) }
    public static func / (a: Double, b: Tensor) -> Tensor { divPrimitive(.scalar(a, dtype: b.dtype), b, b.shape) }
}

/// a^b elementwise. ∂/∂a = g·b·a^(b−1) (0 where b = 0); ∂/∂b = g·a^b·ln a (0 where a = 0, b ≥ 0),
/// as in PyTorch.
public func pow(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let (a, b, shape) = try binaryOperands(a, b, "pow")
    return record("pow", [a, b], binaryForward(a, b, shape, PowF())) { c in
        var ga: Tensor? = nil, gb: Tensor? = nil
        if c.needs[0] {
            ga = try Tensor.where(b.eq(0), 0, c.grad * (b * pow(a, b - 1))).sumTo(a.shape)
        }
        if c.needs[1] {
            let zero = try a.eq(0) * b.ge(0)
            gb = try (c.grad * Tensor.where(zero, 0, c.output * a.log())).sumTo(b.shape)
        }
        return [ga, gb]
    }
}

/// Elementwise maximum (NaN wins). Ties send half the gradient to each side, as PyTorch does.
public func maximum(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let (a, b, shape) = try binaryOperands(a, b, "maximum")
    return record("maximum", [a, b], binaryForward(a, b, shape, MaximumF())) { c in
        let shared = try Tensor.where(a.eq(b), c.grad * 0.5, c.grad)
        return [c.needs[0] ? try Tensor.where(a.lt(b), 0, shared).sumTo(a.shape) : nil,
                c.needs[1] ? try Tensor.where(a.gt(b), 0, shared).sumTo(b.shape) : nil]
    }
}

/// Elementwise minimum (NaN wins); ties split the gradient.
public func minimum(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    let (a, b, shape) = try binaryOperands(a, b, "minimum")
    return record("minimum", [a, b], binaryForward(a, b, shape, MinimumF())) { c in
        let shared = try Tensor.where(a.eq(b), c.grad * 0.5, c.grad)
        return [c.needs[0] ? try Tensor.where(a.gt(b), 0, shared).sumTo(a.shape) : nil,
                c.needs[1] ? try Tensor.where(a.lt(b), 0, shared).sumTo(b.shape) : nil]
    }
}

extension Tensor {
    /// `cond != 0 ? a : b` with three-way broadcasting. `cond` is a mask (1/0), not differentiated.
    /// ∂/∂a = where(cond, g, 0), ∂/∂b = where(cond, 0, g).
    public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let (a, b) = promote(a, b)
        let cond = cond.dtype == a.dtype ? cond : cond.to(a.dtype)
        let shape = try broadcastShapes([cond.shape, a.shape, b.shape], op: "where")
        let y = Tensor(uninitializedShape: shape, dtype: a.dtype)
        if y.count > 0 {
            let plan = BroadcastPlan(outShape: shape, operandShapes: [cond.shape, a.shape, b.shape])
            switch a.dtype {
            case .float32: selectKernel(cond.pointer(Float.self), a.pointer(Float.self), b.pointer(Float.self), y.mutablePointer(Float.self), plan)
            case .float64: selectKernel(cond.pointer(Double.self), a.pointer(Double.self), b.pointer(Double.self), y.mutablePointer(Double.self), plan)
            }
        }
        let c0 = cond.detach()
        return record("where", [a, b], y) { c in
            [c.needs[0] ? try Tensor.where(c0, c.grad, 0).sumTo(a.shape) : nil,
             c.needs[1] ? try Tensor.where(c0, 0, c.grad).sumTo(b.shape) : nil]
        }
    }
    public static func `where`(_ cond: Tensor, _ a: Double, _ b: Tensor) throws -> Tensor {
        try `where`(cond, .scalar(a, dtype: b.dtype), b)
    }
    public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Double) throws -> Tensor {
        try `where`(cond, a, .scalar(b, dtype: a.dtype))
    }

    // MARK: Comparisons (masks, never differentiated)

    func compare(_ other: Tensor, _ c: Comparison) throws -> Tensor {
        let (a, b, shape) = try binaryOperands(self, other, c.rawValue)
        return binaryForward(a.detach(), b.detach(), shape, CompareF(c: c))
    }
    func compare(_ v: Double, _ c: Comparison) -> Tensor {
        binaryForward(detach(), .scalar(v, dtype: dtype), shape, CompareF(c: c))
    }
    /// 1 where self > other, else 0 (same for the others).
    public func gt(_ o: Tensor) throws -> Tensor { try compare(o, .gt) }
    public func ge(_ o: Tensor) throws -> Tensor { try compare(o, .ge) }
    public func lt(_ o: Tensor) throws -> Tensor { try compare(o, .lt) }
    public func le(_ o: Tensor) throws -> Tensor { try compare(o, .le) }
    public func eq(_ o: Tensor) throws -> Tensor { try compare(o, .eq) }
    public func ne(_ o: Tensor) throws -> Tensor { try compare(o, .ne) }
    public func gt(_ v: Double) -> Tensor { compare(v, .gt) }
    public func ge(_ v: Double) -> Tensor { compare(v, .ge) }
    public func lt(_ v: Double) -> Tensor { compare(v, .lt) }
    public func le(_ v: Double) -> Tensor { compare(v, .le) }
    public func eq(_ v: Double) -> Tensor { compare(v, .eq) }
    public func ne(_ v: Double) -> Tensor { compare(v, .ne) }
}

// MARK: Unary primitives

extension Tensor {
    /// −x. ∂ = −g.
    public func neg() -> Tensor {
        record("neg", [self], unaryForward(self, NegF())) { c in [-c.grad] }
    }
    /// |x|. ∂ = g·sign(x) (0 at 0).
    public func abs() -> Tensor {
        record("abs", [self], unaryForward(self, AbsF())) { c in [try c.grad * self.sign()] }
    }
    /// √x. ∂ = g / (2√x).
    public func sqrt() -> Tensor {
        record("sqrt", [self], unaryForward(self, SqrtF())) { c in [try c.grad / (c.output * 2)] }
    }
    /// eˣ. ∂ = g·eˣ.
    public func exp() -> Tensor {
        record("exp", [self], unaryForward(self, ExpF())) { c in [try c.grad * c.output] }
    }
    /// ln x. ∂ = g / x.
    public func log() -> Tensor {
        record("log", [self], unaryForward(self, LogF())) { c in [try c.grad / self] }
    }
    /// ln(1 + x). ∂ = g / (1 + x).
    public func log1p() -> Tensor {
        record("log1p", [self], unaryForward(self, Log1pF())) { c in [try c.grad / (self + 1)] }
    }
    /// tanh x. ∂ = g·(1 − tanh²x).
    public func tanh() -> Tensor {
        record("tanh", [self], unaryForward(self, TanhF())) { c in [try c.grad * (1 - c.output.square())] }
    }
    /// σ(x) = 1/(1 + e⁻ˣ). ∂ = g·σ(x)·σ(−x): the same as σ·(1 − σ) but without the
    /// cancellation in 1 − σ for large x (which would spoil softplus's second derivative).
    public func sigmoid() -> Tensor {
        record("sigmoid", [self], unaryForward(self, SigmoidF())) { c in [try c.grad * (c.output * (-self).sigmoid())] }
    }
    /// softplus(x) = ln(1 + eˣ), and x itself when x > 20 (PyTorch's threshold).
    /// ∂ = g·σ(x), and g when x > 20. PyTorch's second derivative uses `x < 20` (so it is 0 at
    /// exactly x = 20 although the first derivative there is σ(20)); the detached σ reproduces that.
    public func softplus() -> Tensor {
        record("softplus", [self], unaryForward(self, SoftplusF())) { c in
            let s = self.sigmoid()
            let slope = GradMode.enabled ? try Tensor.where(self.lt(20), s, s.detach()) : s
            return [try Tensor.where(self.gt(20), c.grad, c.grad * slope)]
        }
    }
    /// max(x, 0). ∂ = g where x > 0, else 0.
    public func relu() -> Tensor {
        record("relu", [self], unaryForward(self, ReluF())) { c in [try Tensor.where(self.gt(0), c.grad, 0)] }
    }
    /// x if x > 0 else slope·x. ∂ = g or slope·g.
    public func leakyRelu(_ slope: Double = 0.01) -> Tensor {
        record("leakyRelu", [self], unaryForward(self, LeakyReluF(slope: slope))) { c in
            [try Tensor.where(self.gt(0), c.grad, c.grad * slope)]
        }
    }
    /// sign(x) ∈ {−1, 0, 1}; piecewise constant, so it is not differentiated.
    public func sign() -> Tensor { unaryForward(detach(), SignF()) }

    /// xᵖ. ∂ = g·p·x^(p−1), and 0 when p = 0 (PyTorch).
    public func pow(_ p: Double) -> Tensor {
        record("pow", [self], unaryForward(self, PowScalarF(p: p))) { c in
            p == 0 ? [c.grad.zerosLike()] : [try c.grad * (self.pow(p - 1) * p)]
        }
    }
    /// x² (= pow(2)).
    public func square() -> Tensor { pow(2) }

    /// min(max(x, lo), hi); a nil bound is absent. ∂ = g where lo ≤ x ≤ hi, else 0 (PyTorch).
    public func clamp(min lo: Double? = nil, max hi: Double? = nil) -> Tensor {
        let l = lo ?? -.infinity, h = hi ?? .infinity
        return record("clamp", [self], unaryForward(self, ClampF(lo: l, hi: h))) { c in
            [try Tensor.where(self.ge(l) * self.le(h), c.grad, 0)]
        }
    }

    /// The values converted to `dtype` (a copy; self when already of that dtype). ∂ = g converted back.
    public func to(_ dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        let y = Tensor(uninitializedShape: shape, dtype: dtype)
        switch (self.dtype, dtype) {
        case (.float32, .float64): convertKernel(pointer(Float.self), y.mutablePointer(Double.self), count)
        case (.float64, .float32): convertKernel(pointer(Double.self), y.mutablePointer(Float.self), count)
        default: break
        }
        let from = self.dtype
        return record("to", [self], y) { c in [c.grad.to(from)] }
    }
}
