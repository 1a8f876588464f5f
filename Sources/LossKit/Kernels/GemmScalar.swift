/// A floating-point element type the image and linear-algebra kernels run on (Float, Double).
///
/// `Vector` is the register block of the GEMM micro-kernel: 64 bytes of lanes (16 floats or
/// 8 doubles), i.e. two AVX2 registers or one AVX-512 register. All multiply-adds in the
/// kernels go through `addingProduct`, which is a fused multiply-add in every build
/// configuration, so debug and release builds round identically.
public protocol KernelFloat: BinaryFloatingPoint, SIMDScalar, Codable, Sendable {
    associatedtype Vector: SIMD where Vector.Scalar == Self
    /// The wider type used for sums whose rounding error would otherwise grow with their
    /// length (bias gradients): Double for both Float and Double.
    static func widen(_ x: Self) -> Double
}

extension Float: KernelFloat {
    public typealias Vector = SIMD16<Float>
    @inline(__always) public static func widen(_ x: Float) -> Double { Double(x) }
}

extension Double: KernelFloat {
    public typealias Vector = SIMD8<Double>
    @inline(__always) public static func widen(_ x: Double) -> Double { x }
}

/// Why a shape or parameter combination cannot be given to a kernel.
///
/// Thrown by the geometry helpers (`GemmGeometry`, `Conv2dGeometry`, `Pool2dGeometry`,
/// `Resize2dGeometry`, ...) so that op wrappers validate user shapes without trapping.
/// (It lives in this file because every kernel family uses it.)
public struct KernelShapeError: Error, CustomStringConvertible, Equatable {
    /// The PyTorch name of the operation, e.g. `conv2d`.
    public var op: String
    /// What is wrong, with the offending values.
    public var message: String

    public init(op: String, _ message: String) {
        self.op = op
        self.message = message
    }

    public var description: String { "\(op): \(message)" }
}

extension Array where Element == Int {
    /// `(1,3,64,64)`: how shapes appear in kernel error messages.
    var shapeText: String { "(" + map(String.init).joined(separator: ",") + ")" }
}

extension KernelShapeError {
    /// Largest size or parameter a geometry accepts (2³¹): keeps every index expression of
    /// the kernels (`in + 2·pad`, `o·stride + k·dilation`, ...) far from Int overflow.
    static let maxExtent = 1 << 31
    /// Largest element count of a tensor a geometry describes (2⁴⁸).
    static let maxElements = 1 << 48

    /// Throws unless every value is in `0...maxExtent`.
    static func checkExtents(op: String, _ named: [(String, Int)]) throws {
        for (name, v) in named where v < 0 || v > maxExtent {
            throw KernelShapeError(op: op, "\(name) \(v) is out of range (0...\(maxExtent))")
        }
    }

    /// Throws unless `shape` has at most `maxElements` elements (no overflow on the way).
    static func checkCount(op: String, _ what: String, _ shape: [Int]) throws {
        var count = 1
        for d in shape {
            let (r, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow || r > maxElements {
                throw KernelShapeError(op: op, "\(what) \(shape.shapeText) has too many elements")
            }
            count = r
        }
    }
}

@inline(__always)
func loadVector<T: KernelFloat>(_ p: UnsafePointer<T>) -> T.Vector {
    UnsafeRawPointer(p).loadUnaligned(as: T.Vector.self)
}

@inline(__always)
func storeVector<T: KernelFloat>(_ v: T.Vector, _ p: UnsafeMutablePointer<T>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: T.Vector.self)
}
