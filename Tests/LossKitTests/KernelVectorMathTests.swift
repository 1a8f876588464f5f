import Foundation
import XCTest
@testable import LossKit

/// Kernels/VectorMath.swift: max ulp error of the SIMD exp/log/log1p/tanh (and sigmoid,
/// softplus) over dense sweeps, the IEEE special values, and vector == scalar bit-identity.
///
/// References: float32 results against float64 libm (the float64 value, rounded to float32 by
/// the ulp measure below); float64 results against float64 libm (itself ≤ 1 ulp).
final class KernelVectorMathTests: XCTestCase {
    // MARK: ulp distance

    /// Bit patterns ordered like the values (−0 and +0 both 0), so that the difference of two
    /// is their distance in ulps across binades, subnormals and zero.
    static func ordered(_ x: Float) -> Int64 {
        let b = Int64(x.bitPattern & 0x7fff_ffff)
        return x.sign == .minus ? -b : b
    }

    /// ulps between `got` and the float32 rounding of the float64 reference; NaN must match NaN.
    static func ulps(_ got: Float, _ ref: Double) -> Double {
        let want = Float(ref)
        if want.isNaN || got.isNaN { return want.isNaN && got.isNaN ? 0 : .infinity }
        if want.isInfinite || got.isInfinite { return want == got ? 0 : .infinity }
        return Double(abs(ordered(got) - ordered(want)))
    }
    static func ulps(_ got: Double, _ ref: Double) -> Double {
        if ref.isNaN || got.isNaN { return ref.isNaN && got.isNaN ? 0 : .infinity }
        if ref.isInfinite || got.isInfinite { return ref == got ? 0 : .infinity }
        // Magnitude bit patterns as integers (a Double of a 63-bit pattern would round it).
        let a = Int64(bitPattern: got.bitPattern & 0x7fff_ffff_ffff_ffff)
        let b = Int64(bitPattern: ref.bitPattern & 0x7fff_ffff_ffff_ffff)
        return got.sign == ref.sign ? Double(abs(a - b)) : Double(a) + Double(b)
    }

    // MARK: functions under test and their references

    struct Case {
        let name: String
        let f32: (SIMD16<Float>) -> SIMD16<Float>
        let f64: (SIMD8<Double>) -> SIMD8<Double>
        let ref: (Double) -> Double
        /// Max ulp allowed (float32, float64).
        let bound32: Double, bound64: Double
    }

    static let cases: [Case] = [
        Case(name: "exp", f32: { ExpF().vector($0) }, f64: { ExpF().vector($0) }, ref: { Foundation.exp($0) },
             bound32: 2, bound64: 2),
        Case(name: "log", f32: { LogF().vector($0) }, f64: { LogF().vector($0) }, ref: { Foundation.log($0) },
             bound32: 2, bound64: 2),
        Case(name: "log1p", f32: { Log1pF().vector($0) }, f64: { Log1pF().vector($0) }, ref: { Foundation.log1p($0) },
             bound32: 2, bound64: 2),
        Case(name: "tanh", f32: { TanhF().vector($0) }, f64: { TanhF().vector($0) }, ref: { Foundation.tanh($0) },
             bound32: 2, bound64: 2),
        // Not libm functions: the references are the float64 formulas (PyTorch's definitions),
        // so float64 bounds include the reference's own rounding of exp, 1 + e and the quotient.
        Case(name: "sigmoid", f32: { SigmoidF().vector($0) }, f64: { SigmoidF().vector($0) },
             ref: { 1 / (1 + Foundation.exp(-$0)) }, bound32: 2, bound64: 4),
        Case(name: "softplus", f32: { SoftplusF().vector($0) }, f64: { SoftplusF().vector($0) },
             ref: { $0 > 20 ? $0 : Foundation.log1p(Foundation.exp($0)) }, bound32: 2, bound64: 4),
    ]

    /// `body` over `count` elements cut into chunks of whole vectors (`width`), run on all
    /// cores (the sweeps took ~105 s on one core in a debug build); returns the per-chunk
    /// results in chunk order, so merging them keeps the serial loop's "first worst" input.
    static func parallelChunks<R>(_ count: Int, width: Int, _ body: (Range<Int>) -> R) -> [R] {
        let vectors = count / width
        let chunks = max(1, min(16, vectors))
        var results = [R?](repeating: nil, count: chunks)
        results.withUnsafeMutableBufferPointer { out in
            // Each iteration writes only its own slot.
            let slots = out
            DispatchQueue.concurrentPerform(iterations: chunks) { j in
                let lo = vectors * j / chunks * width, hi = vectors * (j + 1) / chunks * width
                slots[j] = body(lo..<hi)
            }
        }
        return results.compactMap { $0 }
    }

    /// Max ulp error of `c` on float32 inputs, 16 at a time; returns (max, worst input).
    static func sweep32(_ c: Case, _ inputs: [Float]) -> (Double, Float) {
        let parts = parallelChunks(inputs.count, width: 16) { range -> (Double, Float) in
            var worst = 0.0, at: Float = 0
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let x = SIMD16<Float>(inputs[i..<i + 16])
                let y = c.f32(x)
                for l in 0..<16 {
                    let e = ulps(y[l], c.ref(Double(x[l])))
                    if e > worst || e.isNaN { worst = e; at = x[l] }
                }
                i += 16
            }
            return (worst, at)
        }
        var worst = 0.0, at: Float = 0
        for (e, x) in parts where e > worst || e.isNaN { worst = e; at = x }
        return (worst, at)
    }
    static func sweep64(_ c: Case, _ inputs: [Double]) -> (Double, Double) {
        let parts = parallelChunks(inputs.count, width: 8) { range -> (Double, Double) in
            var worst = 0.0, at = 0.0
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                let x = SIMD8<Double>(inputs[i..<i + 8])
                let y = c.f64(x)
                for l in 0..<8 {
                    let e = ulps(y[l], c.ref(x[l]))
                    if e > worst || e.isNaN { worst = e; at = x[l] }
                }
                i += 8
            }
            return (worst, at)
        }
        var worst = 0.0, at = 0.0
        for (e, x) in parts where e > worst || e.isNaN { worst = e; at = x }
        return (worst, at)
    }

    /// Every 2^10-th float32 bit pattern (4M values: all binades, both signs, subnormals, inf,
    /// NaNs), with a per-function offset so that different low bits are hit too.
    static func float32Grid(offset: UInt32) -> [Float] {
        stride(from: UInt64(offset), to: 1 << 32, by: 1 << 10).map { Float(bitPattern: UInt32($0)) }
    }

    /// Random doubles: uniform bit patterns (all magnitudes) and uniform values over the
    /// ranges where each function is not constant; a fixed seed keeps the run reproducible.
    static func float64Inputs(_ name: String, count: Int) -> [Double] {
        var g = SplitMix64(seed: 0x5eed_0000 &+ UInt64(name.utf8.count))
        var out: [Double] = []
        out.reserveCapacity(count)
        let range: ClosedRange<Double>
        switch name {
        case "exp", "sigmoid", "softplus": range = -750...750
        case "log": range = 0...4
        case "log1p": range = -1...4
        default: range = -25...25
        }
        for i in 0..<count {
            switch i % 4 {
            case 0: out.append(Double(bitPattern: g.next()))
            case 1: out.append(range.lowerBound + (range.upperBound - range.lowerBound) * g.unit())
            case 2: out.append((g.unit() * 2 - 1) * 2)            // around 0 and 1, where cancellation bites
            default: out.append(Double(sign: g.next() & 1 == 0 ? .plus : .minus,
                                       exponent: Int(g.next() % 160) - 140, significand: 1 + g.unit()))
            }
        }
        return out
    }

    func testFloat32MaxUlp() {
        var report: [String] = []
        for (k, c) in Self.cases.enumerated() {
            let (e, at) = Self.sweep32(c, Self.float32Grid(offset: UInt32(k * 97 + 1)))
            report.append("\(c.name) f32 max \(e) ulp at \(at)")
            XCTAssertLessThanOrEqual(e, c.bound32, "\(c.name) float32: \(e) ulp at \(at) (bits \(String(at.bitPattern, radix: 16)))")
        }
        print("VectorMath float32 sweep:", report.joined(separator: "; "))
    }

    func testFloat64MaxUlp() {
        var report: [String] = []
        for c in Self.cases {
            let (e, at) = Self.sweep64(c, Self.float64Inputs(c.name, count: 1 << 21))
            report.append("\(c.name) f64 max \(e) ulp at \(at)")
            XCTAssertLessThanOrEqual(e, c.bound64, "\(c.name) float64: \(e) ulp at \(at) (bits \(String(at.bitPattern, radix: 16)))")
        }
        print("VectorMath float64 sweep:", report.joined(separator: "; "))
    }

    /// Dense float32 sweeps where the functions change fastest (ordinary ranges, every float).
    func testFloat32DenseCoreRanges() {
        // [1/2, 2) and (−2, −1/2] (log/log1p's reduction boundaries, tanh's and exp's
        // ordinary range), every 32nd float.
        var xs: [Float] = []
        var b = Float(0.5).bitPattern
        while b < Float(2).bitPattern { xs.append(Float(bitPattern: b)); b += 32 }
        for c in Self.cases {
            let (e, at) = Self.sweep32(c, xs)
            XCTAssertLessThanOrEqual(e, c.bound32, "\(c.name) float32 on [0.5, 2): \(e) ulp at \(at)")
            let neg = xs.map { -$0 }
            let (e2, at2) = Self.sweep32(c, neg)
            XCTAssertLessThanOrEqual(e2, c.bound32, "\(c.name) float32 on (-2, -0.5]: \(e2) ulp at \(at2)")
        }
    }

    /// float32 exp has its own float32 kernel (`vmExpFloat`): every 512th float of [−104, 89],
    /// the whole range where the result is neither 0 nor inf (subnormal results included).
    func testFloat32ExpDense() {
        var xs: [Float] = []
        var b = Float(89).bitPattern
        while b > 0 { xs.append(Float(bitPattern: b)); b = b > 512 ? b - 512 : 0 }
        b = 0x8000_0000
        while b < Float(-104).bitPattern { xs.append(Float(bitPattern: b)); b += 512 }
        // Also softplus, whose float32 form has its own shortcut for log1p(e^x).
        for c in Self.cases where c.name == "exp" || c.name == "softplus" {
            let (e, at) = Self.sweep32(c, xs)
            print("VectorMath \(c.name) f32 dense on [-104, 89]: max \(e) ulp at \(at) over \(xs.count) values")
            XCTAssertLessThanOrEqual(e, 2, "\(c.name) float32: \(e) ulp at \(at)")
        }
    }

    // MARK: special values

    func testSpecialValues() {
        let inf = Double.infinity
        func check(_ name: String, _ x: Double, _ want: Double, _ file: StaticString = #filePath, _ line: UInt = #line) {
            guard let c = Self.cases.first(where: { $0.name == name }) else { return XCTFail(name) }
            let y64 = c.f64(SIMD8<Double>(repeating: x))[0]
            let y32 = c.f32(SIMD16<Float>(repeating: Float(x)))[0]
            for (y, label) in [(y64, "f64"), (Double(y32), "f32")] {
                let same = (y.isNaN && want.isNaN) || (y == want && y.sign == want.sign)
                XCTAssertTrue(same, "\(name)(\(x)) \(label) = \(y), want \(want)", file: file, line: line)
            }
        }
        // NaN of either sign (x86's default NaN has the sign bit set).
        for name in ["exp", "log", "log1p", "tanh", "sigmoid", "softplus"] { check(name, .nan, .nan); check(name, -.nan, .nan) }
        check("exp", inf, inf); check("exp", -inf, 0); check("exp", 0, 1); check("exp", -0.0, 1)
        check("exp", 1000, inf); check("exp", -1000, 0)
        check("log", 0, -inf); check("log", -0.0, -inf); check("log", -1, .nan); check("log", -inf, .nan)
        check("log", inf, inf); check("log", 1, 0)
        check("log1p", -1, -inf); check("log1p", -1.5, .nan); check("log1p", -inf, .nan); check("log1p", inf, inf)
        check("log1p", 0, 0); check("log1p", -0.0, -0.0)
        check("tanh", inf, 1); check("tanh", -inf, -1); check("tanh", 30, 1); check("tanh", -30, -1)
        check("tanh", 0, 0); check("tanh", -0.0, -0.0)
        check("sigmoid", inf, 1); check("sigmoid", -inf, 0); check("sigmoid", 0, 0.5)
        check("softplus", inf, inf); check("softplus", -inf, 0); check("softplus", 20.5, 20.5); check("softplus", 25, 25)

        // Overflow threshold and subnormal results against libm.
        XCTAssertEqual(Self.cases[0].f64(SIMD8(repeating: 709.78))[0], Foundation.exp(709.78))
        XCTAssertEqual(Self.cases[0].f64(SIMD8(repeating: 709.79))[0], inf)
        for x in [-708.5, -720.0, -740.0, -744.4, -745.1, -745.2] {
            XCTAssertLessThanOrEqual(Self.ulps(Self.cases[0].f64(SIMD8(repeating: x))[0], Foundation.exp(x)), 1, "exp(\(x))")
        }
        for x: Float in [88.72, 88.73, -87.5, -95, -103, -103.9, -104] {
            XCTAssertLessThanOrEqual(Self.ulps(Self.cases[0].f32(SIMD16(repeating: x))[0], Foundation.exp(Double(x))), 1, "expf(\(x))")
        }
        // Logs of subnormals; tiny arguments.
        for x in [Double.leastNonzeroMagnitude, 1e-310, Double.leastNormalMagnitude.nextDown] {
            XCTAssertLessThanOrEqual(Self.ulps(Self.cases[1].f64(SIMD8(repeating: x))[0], Foundation.log(x)), 1, "log(\(x))")
        }
        for x in [Float.leastNonzeroMagnitude, 1e-40, Float.leastNormalMagnitude.nextDown] {
            XCTAssertLessThanOrEqual(Self.ulps(Self.cases[1].f32(SIMD16(repeating: x))[0], Foundation.log(Double(x))), 1, "logf(\(x))")
        }
        for x in [1e-300, -1e-300, 5e-324, -5e-324, 1e-17, -1e-17, 0x1p-60] {
            XCTAssertEqual(Self.cases[2].f64(SIMD8(repeating: x))[0], x, "log1p(\(x))")
            XCTAssertEqual(Self.cases[3].f64(SIMD8(repeating: x))[0], x, "tanh(\(x))")
        }
        for x: Float in [1e-30, -1e-30, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 1e-9, -1e-9] {
            XCTAssertEqual(Self.cases[2].f32(SIMD16(repeating: x))[0], x, "log1pf(\(x))")
            XCTAssertEqual(Self.cases[3].f32(SIMD16(repeating: x))[0], x, "tanhf(\(x))")
        }
    }

    // MARK: vector == scalar (tails)

    /// Runs each functor through the serial kernel (vector body + scalar tail) at every offset,
    /// so each value is computed once in the body and once in the tail: the bits must agree.
    func testVectorMatchesScalarBitwise() {
        func check<T: TensorScalar, F: UnaryFunctor>(_: T.Type, _ f: F, _ name: String) {
            var g = SplitMix64(seed: 42)
            var base: [T] = [.nan, 0, -0.0, 1, -1, .infinity, -.infinity, .leastNonzeroMagnitude, 20, 20.5,
                             -20, 88.7, 709.9, -745, -104, 1e-30, -0.5, 0.3]
            for _ in 0..<200 { base.append(T((g.unit() * 2 - 1) * 40)) }
            for _ in 0..<40 { base.append(T((g.unit() * 2 - 1) * 1e-3)) }
            let w = T.Vector.scalarCount
            for shift in 0..<w {
                let x = Array(base[shift...]) + Array(base[..<shift])
                var y = [T](repeating: 7, count: x.count)
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in unaryKernelSerial(xp.baseAddress!, yp.baseAddress!, x.count, f) }
                }
                for (a, b) in zip(x, y) {
                    let s = f.scalar(a)
                    XCTAssertTrue(Double(s).bitPattern == Double(b).bitPattern || (s.isNaN && b.isNaN),
                                  "\(name) \(T.self)(\(a)): vector \(b), scalar \(s)")
                }
            }
        }
        for t in [Float.self, Double.self] as [Any.Type] {
            func run<T: TensorScalar>(_ tt: T.Type) {
                check(tt, ExpF(), "exp"); check(tt, LogF(), "log"); check(tt, Log1pF(), "log1p")
                check(tt, TanhF(), "tanh"); check(tt, SigmoidF(), "sigmoid"); check(tt, SoftplusF(), "softplus")
            }
            if t == Float.self { run(Float.self) } else { run(Double.self) }
        }
    }

    /// The tensor ops give the same bits whatever the thread count (element ranges split differently).
    func testThreadCountIndependent() throws {
        let n = 10_007
        var g = SplitMix64(seed: 7)
        let values = (0..<n).map { _ in (g.unit() * 2 - 1) * 30 }
        for dtype in [DType.float32, .float64] {
            let x = try Tensor(shape: [n], values: values, dtype: dtype)
            let saved = LossKitRuntime.threads
            defer { LossKitRuntime.threads = saved }
            var outs: [[Double]] = []
            for threads in [1, 2, 3] {
                LossKitRuntime.threads = threads
                outs.append([x.exp(), x.log(), x.log1p(), x.tanh(), x.sigmoid(), x.softplus()].flatMap { $0.toFloat64() })
            }
            for o in outs.dropFirst() {
                XCTAssertTrue(zip(o, outs[0]).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }, "\(dtype)")
            }
        }
    }
}

/// Small deterministic generator (SplitMix64) for reproducible sweeps.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
