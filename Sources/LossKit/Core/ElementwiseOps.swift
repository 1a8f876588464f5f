/// Elementwise primitives (forward kernel + backward rule side by side) and the composites
/// built from them.

// MARK: Forward helpers (no graph)

func unaryForward(_ x: Tensor, _ op: PointwiseUnary) -> Tensor {
    let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
    switch x.dtype {
    case .float32: op.withFunctor(UnaryKernelRun(x: x.pointer(Float.self), y: y.mutablePointer(Float.self), n: x.count))
    case .float64: op.withFunctor(UnaryKernelRun(x: x.pointer(Double.self), y: y.mutablePointer(Double.self), n: x.count))
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

/// The parallel unary kernel with the functor an op picks.
struct UnaryKernelRun<T: TensorScalar>: UnaryFunctorUser {
    let x: UnsafePointer<T>, y: UnsafeMutablePointer<T>, n: Int
    @inline(__always) func use<F: UnaryFunctor>(_ f: F) { unaryKernel(x, y, n, f) }
}

/// The broadcasting binary forward with the functor an op picks.
struct BinaryForwardRun: BinaryFunctorUser {
    let a: Tensor, b: Tensor, shape: [Int]
    @inline(__always) func use<F: BinaryFunctor>(_ f: F) -> Tensor { binaryForward(a, b, shape, f) }
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

    /// `op(a, b)` as a differentiable primitive; its rule is the op's (Pointwise.swift), each
    /// side's gradient summed back over the axes it was broadcast along.
    static func binaryPrimitive(_ op: PointwiseBinary, _ a: Tensor, _ b: Tensor, _ shape: [Int]) -> Tensor {
        let sa = a.shape, sb = b.shape
        return record(op.rawValue, [a, b], op.withFunctor(BinaryForwardRun(a: a, b: b, shape: shape))) { c in
            let (ga, gb) = try op.vjp(a, b, c.output, c.grad, needs: (c.needs[0], c.needs[1]))
            return [try ga?.sumTo(sa), try gb?.sumTo(sb)]
        }
    }
    static func addPrimitive(_ a: Tensor, _ b: Tensor, _ shape: [Int]) -> Tensor { binaryPrimitive(.add, a, b, shape) }
    static func mulPrimitive(_ a: Tensor, _ b: Tensor, _ shape: [Int]) -> Tensor { binaryPrimitive(.mul, a, b, shape) }
    static func divPrimitive(_ a: Tensor, _ b: Tensor, _ shape: [Int]) -> Tensor { binaryPrimitive(.div, a, b, shape) }

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
    public static prefix func - (x: Tensor) -> Tensor { x.pointwise(.neg) }

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

/// a^b elementwise (rule: PointwiseBinary.pow, as in PyTorch).
public func pow(_ a: Tensor, _ b: Tensor) throws -> Tensor { try Tensor.binary(.pow, a, b) }

/// Elementwise maximum (NaN wins). Ties send half the gradient to each side, as PyTorch does.
public func maximum(_ a: Tensor, _ b: Tensor) throws -> Tensor { try Tensor.binary(.maximum, a, b) }

/// Elementwise minimum (NaN wins); ties split the gradient.
public func minimum(_ a: Tensor, _ b: Tensor) throws -> Tensor { try Tensor.binary(.minimum, a, b) }

extension Tensor: PointwiseAlgebra {
    /// `op` elementwise; recorded with the op's rule unless it has no derivative.
    public func pointwise(_ op: PointwiseUnary) -> Tensor {
        guard op.hasDerivative else { return unaryForward(detach(), op) }
        return record(op.description, [self], unaryForward(self, op)) { c in [try op.vjp(self, c.output, c.grad)] }
    }

    public static func binary(_ op: PointwiseBinary, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let (a, b, shape) = try binaryOperands(a, b, op.rawValue)
        return binaryPrimitive(op, a, b, shape)
    }

    public static func select(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor { try `where`(cond, a, b) }
    public func constant(_ v: Double) -> Tensor { .scalar(v, dtype: dtype) }
    public func compared(_ c: Comparison, _ other: Tensor) throws -> Tensor { try compare(other, c) }
    public func detached() -> Tensor { detach() }
    public var recordsGraph: Bool { GradMode.enabled }
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
        let sa = a.shape, sb = b.shape
        return record("where", [a, b], y) { c in
            let (ga, gb) = try selectVJP(c0, c.grad, needs: (c.needs[0], c.needs[1]))
            return [try ga?.sumTo(sa), try gb?.sumTo(sb)]
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

// MARK: Conversion

extension Tensor {
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

// MARK: Scalar conveniences (composites)

/// maximum(x, c) with a constant in x's dtype.
public func maximum(_ a: Tensor, _ c: Double) -> Tensor {
    // Shapes of a tensor and a 0-d scalar always broadcast.
    (try? maximum(a, .scalar(c, dtype: a.dtype))) ?? a
}
public func maximum(_ c: Double, _ a: Tensor) -> Tensor { (try? maximum(.scalar(c, dtype: a.dtype), a)) ?? a }
/// minimum(x, c) with a constant in x's dtype.
public func minimum(_ a: Tensor, _ c: Double) -> Tensor { (try? minimum(a, .scalar(c, dtype: a.dtype))) ?? a }
public func minimum(_ c: Double, _ a: Tensor) -> Tensor { (try? minimum(.scalar(c, dtype: a.dtype), a)) ?? a }
/// xᵖ (same as `x.pow(p)`).
public func pow(_ a: Tensor, _ p: Double) -> Tensor { a.pow(p) }
/// cᵡ elementwise (constant base).
public func pow(_ c: Double, _ a: Tensor) -> Tensor { (try? pow(.scalar(c, dtype: a.dtype), a)) ?? a }

extension Tensor {
    /// `cond ? a : b` with constants.
    public static func `where`(_ cond: Tensor, _ a: Double, _ b: Double) -> Tensor {
        let dtype = cond.dtype
        return (try? `where`(cond, .scalar(a, dtype: dtype), .scalar(b, dtype: dtype))) ?? cond
    }
}
