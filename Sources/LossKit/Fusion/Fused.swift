/// The symbolic scalar of fused programs (the user's side of Tensor.fusedMap / fusedSum).

/// A symbolic scalar inside ``Tensor/fusedMap(_:_:)``: build the expression with the same
/// operators and method names as on tensors.
public struct Fused {
    let builder: FusedProgramBuilder
    let id: Int

    func emit(_ i: FusedInstruction) -> Fused { Fused(builder: builder, id: builder.emit(i)) }

    public static func + (a: Fused, b: Fused) -> Fused { a.emit(.binary(.add, a.id, b.id)) }
    public static func - (a: Fused, b: Fused) -> Fused { a.emit(.binary(.sub, a.id, b.id)) }
    public static func * (a: Fused, b: Fused) -> Fused { a.emit(.binary(.mul, a.id, b.id)) }
    public static func / (a: Fused, b: Fused) -> Fused { a.emit(.binary(.div, a.id, b.id)) }
    public static func + (a: Fused, b: Double) -> Fused { a + a.constant(b) }
    public static func - (a: Fused, b: Double) -> Fused { a - a.constant(b) }
    public static func * (a: Fused, b: Double) -> Fused { a * a.constant(b) }
    public static func / (a: Fused, b: Double) -> Fused { a / a.constant(b) }
    public static func + (a: Double, b: Fused) -> Fused { b.constant(a) + b }
    public static func - (a: Double, b: Fused) -> Fused { b.constant(a) - b }
    public static func * (a: Double, b: Fused) -> Fused { b.constant(a) * b }
    public static func / (a: Double, b: Fused) -> Fused { b.constant(a) / b }
    public static prefix func - (a: Fused) -> Fused { a.emit(.unary(.neg, a.id)) }

    public func gt(_ v: Double) -> Fused { emit(.compare(.gt, id, constant(v).id)) }
    public func lt(_ v: Double) -> Fused { emit(.compare(.lt, id, constant(v).id)) }
    public func ge(_ v: Double) -> Fused { emit(.compare(.ge, id, constant(v).id)) }
    public func le(_ v: Double) -> Fused { emit(.compare(.le, id, constant(v).id)) }
    public func gt(_ o: Fused) -> Fused { emit(.compare(.gt, id, o.id)) }
    public func lt(_ o: Fused) -> Fused { emit(.compare(.lt, id, o.id)) }
    public func eq(_ o: Fused) -> Fused { emit(.compare(.eq, id, o.id)) }
    public static func `where`(_ c: Fused, _ a: Fused, _ b: Fused) -> Fused { c.emit(.select(c.id, a.id, b.id)) }
}

/// The pointwise operations (abs, exp, pow, clamp, ...) come from `PointwiseAlgebra`, as for
/// tensors; each emits its instruction.
extension Fused: PointwiseAlgebra {
    public func pointwise(_ op: PointwiseUnary) -> Fused { emit(.unary(op, id)) }
    public static func binary(_ op: PointwiseBinary, _ a: Fused, _ b: Fused) -> Fused { a.emit(.binary(op, a.id, b.id)) }
    public static func select(_ c: Fused, _ a: Fused, _ b: Fused) -> Fused { c.emit(.select(c.id, a.id, b.id)) }
    public func constant(_ v: Double) -> Fused { emit(.constant(v)) }
    public func compared(_ c: Comparison, _ other: Fused) -> Fused { emit(.compare(c, id, other.id)) }
    public func detached() -> Fused { pointwise(.stopGradient) }
    public var recordsGraph: Bool { builder.recordsGraph }
}

public func maximum(_ a: Fused, _ b: Fused) -> Fused { a.emit(.binary(.maximum, a.id, b.id)) }
public func minimum(_ a: Fused, _ b: Fused) -> Fused { a.emit(.binary(.minimum, a.id, b.id)) }
public func pow(_ a: Fused, _ b: Fused) -> Fused { a.emit(.binary(.pow, a.id, b.id)) }

