import Foundation
import XCTest
import LossKit

/// Loads fixtures/kernels/*.json (written by scripts/gen_kernel_fixtures.py with torch).
enum KernelFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/kernels")

    static func cases(_ file: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: directory.appendingPathComponent(file))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(root["cases"] as? [[String: Any]])
    }
}

extension Dictionary where Key == String, Value == Any {
    func doubles(_ key: String) -> [Double] { (self[key] as? [Any] ?? []).map { ($0 as? NSNumber)?.doubleValue ?? .nan } }
    func ints(_ key: String) -> [Int] { (self[key] as? [Any] ?? []).map { ($0 as? NSNumber)?.intValue ?? Int.min } }
    func pair(_ key: String) -> (Int, Int) { let v = ints(key); return (v[0], v[1]) }
    func int(_ key: String) -> Int { (self[key] as? NSNumber)?.intValue ?? Int.min }
    func double(_ key: String) -> Double { (self[key] as? NSNumber)?.doubleValue ?? .nan }
    func bool(_ key: String) -> Bool? { self[key] is NSNull ? nil : (self[key] as? NSNumber)?.boolValue }
    var name: String { self["name"] as? String ?? "?" }
}

/// Tolerance of a kernel result against a float64 torch reference, per unit of (1 + |want|),
/// for results that sum `terms` products. A float32 sum of n terms carries up to about
/// n·u·Σ|terms| of rounding error (u = 2⁻²⁴), so the Float bound grows with the length of
/// the reduction; Double results only see float64 rounding against torch's own.
func kernelTolerance<T: KernelFloat>(_: T.Type, terms: Int = 16) -> Double {
    T.self == Double.self ? 1e-12 : Double(Float.ulpOfOne) * Double(max(terms, 16))
}

/// Checks `|got − want| <= tol·(1 + |want|)` elementwise and returns the largest scaled error.
@discardableResult
func assertClose<T: KernelFloat>(
    _ got: [T], _ want: [Double], tol: Double, _ label: String,
    file: StaticString = #filePath, line: UInt = #line
) -> Double {
    XCTAssertEqual(got.count, want.count, "\(label): count", file: file, line: line)
    var worst = 0.0
    var worstAt = -1
    for i in 0..<min(got.count, want.count) {
        let e = abs(Double(got[i]) - want[i]) / (1 + abs(want[i]))
        if !(e <= worst) { worst = e; worstAt = i }
    }
    XCTAssert(worst <= tol, "\(label): scaled error \(worst) at \(worstAt) (got \(worstAt >= 0 ? Double(got[worstAt]) : .nan), want \(worstAt >= 0 ? want[worstAt] : .nan)) > \(tol)", file: file, line: line)
    return worst
}

/// Deterministic pseudo-random values in [-1, 1), exactly representable in Float.
func kernelRandom(_ count: Int, seed: UInt64) -> [Double] {
    var s = seed &* 0x9E3779B97F4A7C15 | 1
    return (0..<count).map { _ in
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return Double(Int(s >> 40) - (1 << 23)) / Double(1 << 23)
    }
}

func dot(_ a: [Double], _ b: [Double]) -> Double {
    var s = 0.0
    for i in 0..<a.count { s += a[i] * b[i] }
    return s
}

func sized<T: KernelFloat>(_ n: Int, _: T.Type) -> [T] { [T](repeating: 0, count: n) }
