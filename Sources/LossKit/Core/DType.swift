import Foundation

/// Element type of a ``Tensor``.
public enum DType: String, Sendable, CustomStringConvertible {
    case float32, float64

    /// Bytes per element.
    public var byteSize: Int { self == .float32 ? 4 : 8 }
    public var description: String { rawValue }
}

/// The two element types the kernels are written for, with the SIMD vector each one uses
/// (64 bytes: one AVX-512 register) and the scalar math the kernels need.
///
/// Kernels are generic over this protocol and are specialised for `Float` and `Double`
/// by the compiler at the `switch dtype` dispatch in each op.
/// The SIMD `Vector` comes from ``KernelFloat``, the kernels' own element protocol.
public protocol TensorScalar: KernelFloat
where Self.RawSignificand: FixedWidthInteger {
    static var dtype: DType { get }
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func log1p(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    @inline(__always) public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    @inline(__always) public static func log1p(_ x: Float) -> Float { Foundation.log1pf(x) }
    @inline(__always) public static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    @inline(__always) public static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
}

extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    @inline(__always) public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) public static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
    @inline(__always) public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) public static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}
