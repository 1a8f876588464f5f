import Foundation
import XCTest
@testable import NpyIO

/// Paths and reference data shared by the NpyIO tests.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let npyDir = root.appendingPathComponent("fixtures/npy")

    static func path(_ name: String) -> String { npyDir.appendingPathComponent(name).path }

    static func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: npyDir.appendingPathComponent(name))) }

    /// What NumPy read back from each fixture (written by scripts/gen_npy_fixtures.py).
    static let expected: [String: Any] = {
        guard let data = try? Data(contentsOf: npyDir.appendingPathComponent("expected.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let files = json["files"] as? [String: Any] else { return [:] }
        return files
    }()
}

/// A float written by Python's repr ("nan", "inf", "1e-05", ...).
func pyFloat(_ v: Any?) -> Double? {
    guard let s = v as? String else { return nil }
    return Double(s)
}

/// Same value, with NaN equal to NaN and +0 distinct from -0 only where NumPy keeps it.
func sameValue(_ a: Double, _ b: Double) -> Bool { (a.isNaN && b.isNaN) || a == b }


/// Checks one array against NumPy's description of it; returns how many values were compared.
@discardableResult
func assertMatchesNumPy(_ a: NpyArray, _ exp: [String: Any], _ label: String, file: StaticString = #filePath, line: UInt = #line) -> Int {
    XCTAssertEqual(a.dtype.descr, exp["dtype"] as? String, "\(label): dtype", file: file, line: line)
    XCTAssertEqual(a.shape, exp["shape"] as? [Int], "\(label): shape", file: file, line: line)
    XCTAssertEqual(a.fortranOrder, exp["fortran_order"] as? Bool, "\(label): fortran_order", file: file, line: line)
    let f64 = a.toFloat64(), f32 = a.toFloat32()
    let e64 = (exp["f64"] as? [String] ?? []).compactMap(Double.init)
    let e32 = (exp["f32"] as? [String] ?? []).compactMap(Double.init)
    XCTAssertEqual(f64.count, e64.count, "\(label): count", file: file, line: line)
    XCTAssertEqual(f32.count, e32.count, "\(label): count", file: file, line: line)
    for (i, (x, y)) in zip(f64, e64).enumerated() where !sameValue(x, y) {
        XCTFail("\(label): f64[\(i)] = \(x), NumPy \(y)", file: file, line: line); break
    }
    for (i, (x, y)) in zip(f32, e32).enumerated() where !sameValue(Double(x), y) {
        XCTFail("\(label): f32[\(i)] = \(x), NumPy \(y)", file: file, line: line); break
    }
    let s = NpyStatistics(a)
    XCTAssertEqual(s.nonfinite, exp["nonfinite"] as? Int, "\(label): nonfinite", file: file, line: line)
    for (name, got) in [("min", s.min), ("max", s.max)] {
        let want = pyFloat(exp[name])
        XCTAssertTrue(got.map { g in want.map { sameValue(g, $0) } ?? false } ?? (want == nil), "\(label): \(name) \(String(describing: got)) vs NumPy \(String(describing: want))", file: file, line: line)
    }
    // Summation order differs from NumPy's pairwise sum, so the sums agree within the
    // rounding bound of any order: n * eps * sum|x| (int64 extremes make this matter).
    let wantSum = pyFloat(exp["sum"]) ?? (exp["sum"] as? Double) ?? .nan
    let sumAbs = e64.reduce(0) { $0 + abs($1) }
    let bound = Double(max(e64.count, 1)) * Double.ulpOfOne * sumAbs
    func agree(_ x: Double, _ y: Double, _ b: Double) -> Bool { x.isFinite && y.isFinite ? abs(x - y) <= b : sameValue(x, y) }
    XCTAssertTrue(agree(s.sum, wantSum, bound), "\(label): sum \(s.sum) vs NumPy \(wantSum)", file: file, line: line)
    if let wantMean = pyFloat(exp["mean"]) {
        XCTAssertTrue(s.mean.map { agree($0, wantMean, bound / Double(e64.count)) } ?? false, "\(label): mean \(String(describing: s.mean)) vs NumPy \(wantMean)", file: file, line: line)
    } else {
        XCTAssertNil(s.mean, "\(label): mean of an empty array", file: file, line: line)
    }
    return e64.count
}

/// Runs `body`, expecting an `NpyError`; returns it (or fails the test).
func expectNpyError(_ label: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) -> NpyError? {
    do {
        try body()
        XCTFail("\(label): no error", file: file, line: line)
    } catch let e as NpyError {
        return e
    } catch {
        XCTFail("\(label): not an NpyError: \(error)", file: file, line: line)
    }
    return nil
}

/// python3 with NumPy, when this machine has it.
func pythonWithNumPy() -> String? {
    for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] + ((ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/python3" }) {
        guard FileManager.default.isExecutableFile(atPath: candidate) else { continue }
        if (try? runProcess(candidate, ["-c", "import numpy"]))?.status == 0 { return candidate }
    }
    return nil
}

func runProcess(_ exe: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("npyio-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
