import Foundation
import XCTest
@testable import NpyIO

/// Files written by NumPy read back exactly as NumPy reads them.
final class FixtureTests: XCTestCase {
    func testEveryNpyFixtureMatchesNumPy() throws {
        let names = Fixtures.expected.keys.filter { $0.hasSuffix(".npy") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 133, "fixtures missing: run scripts/gen_npy_fixtures.py")
        var values = 0
        var versions = Set<UInt8>()
        for name in names {
            let exp = try XCTUnwrap(Fixtures.expected[name] as? [String: Any])
            let a = try Npy.read(path: Fixtures.path(name))
            values += assertMatchesNumPy(a, exp, name)
            let header = try Fixtures.bytes(name).withUnsafeBytes { try NpyFormat.readHeader($0) }
            XCTAssertEqual([Int(header.version.major), 0], exp["version"] as? [Int], "\(name): version")
            versions.insert(header.version.major)
        }
        XCTAssertEqual(versions, [1, 2, 3])
        print("FixtureTests: \(names.count) .npy fixtures, \(values) values compared with NumPy")
    }

    /// Every dtype in both byte orders, both memory orders, all three versions, is present.
    func testGridCoversEveryDTypeOrderAndVersion() {
        for code in ["b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"] {
            for tag in code.hasSuffix("1") ? ["na"] : ["le", "be"] {
                for mem in ["C", "F"] {
                    for v in 1...3 {
                        XCTAssertNotNil(Fixtures.expected["\(code)_\(tag)_\(mem)_v\(v).npy"], "\(code)_\(tag)_\(mem)_v\(v)")
                    }
                }
            }
        }
    }

    /// Re-encoding a NumPy-written version 1.0 file reproduces it byte for byte: same
    /// header text, same padding (including NumPy's spare room for the growth axis).
    func testWriterReproducesNumPyBytes() throws {
        let names = Fixtures.expected.keys.filter { $0.hasSuffix("_v1.npy") || $0.hasPrefix("shape_") || $0.hasPrefix("np_save") || $0.hasPrefix("nonfinite") }.sorted()
        XCTAssertGreaterThan(names.count, 40)
        for name in names {
            let original = try Fixtures.bytes(name)
            let a = try Npy.read(bytes: original)
            XCTAssertEqual(try Npy.encode(a), original, name)
        }
    }

    func testStatisticsFollowNumPyForNaNAndInfinity() throws {
        let s = NpyStatistics(try Npy.read(path: Fixtures.path("nonfinite_f4.npy")))
        XCTAssertTrue(s.min!.isNaN && s.max!.isNaN, "np.min/np.max of an array with NaN are NaN")
        XCTAssertEqual(s.nonfinite, 21)
        XCTAssertEqual(s.nanCount, 7)
        XCTAssertTrue(s.sum.isNaN)
        let t = NpyStatistics(try Npy.read(path: Fixtures.path("inf_only_f8.npy")))
        XCTAssertEqual(t.min, -.infinity)
        XCTAssertEqual(t.max, 2)
        XCTAssertEqual(t.sum, -.infinity)
        XCTAssertEqual(t.nonfinite, 1)
        let e = NpyStatistics(try Npy.read(path: Fixtures.path("shape_0.npy")))
        XCTAssertNil(e.min); XCTAssertNil(e.max); XCTAssertNil(e.mean)
        XCTAssertEqual(e.sum, 0)
    }

    /// The multi-chunk, multi-thread statistics agree with a plain float64 loop, and do
    /// not depend on the thread count (fixed chunks, combined in order).
    func testStatisticsAcrossChunksAndThreads() throws {
        let n = NpyStatistics.chunkSize * 3 + 12345
        var values = [Float](repeating: 0, count: n)
        for i in 0..<n { values[i] = Float((i &* 2654435761) % 2001 - 1000) / 100 }
        values[777] = 1e30
        values[n - 1] = -1e30
        let a = NpyArray(float32: values, shape: [n])
        let one = NpyStatistics(a, threads: 1), two = NpyStatistics(a, threads: 2), five = NpyStatistics(a, threads: 5)
        XCTAssertEqual(one, two)
        XCTAssertEqual(one, five)
        var sum = 0.0
        for v in values { sum += Double(v) }
        XCTAssertEqual(one.min, Double(values[n - 1]))
        XCTAssertEqual(one.max, Double(values[777]))
        XCTAssertEqual(one.sum, sum, accuracy: abs(sum) * 1e-12 + 1e-6)
        // The same data as big-endian float64 goes through the decode path.
        var be: [UInt8] = []
        for v in values { withUnsafeBytes(of: Double(v).bitPattern.bigEndian) { be += $0 } }
        let b = try NpyArray(dtype: NpyDType(kind: .float, itemSize: 8, byteOrder: .big), shape: [n], data: be)
        let sb = NpyStatistics(b)
        XCTAssertEqual(sb.min, one.min)
        XCTAssertEqual(sb.max, one.max)
        XCTAssertEqual(sb.sum, one.sum, accuracy: abs(sum) * 1e-12 + 1e-6)
    }

    func testFortranToCOrderOnLargerShapes() throws {
        // A 2x3x4 array in Fortran order: element (i,j,k) sits at i + 2j + 6k.
        let shape = [2, 3, 4]
        var fortran = [Float](repeating: 0, count: 24)
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { fortran[i + 2 * j + 6 * k] = Float(100 * i + 10 * j + k) } } }
        var raw: [UInt8] = []
        for v in fortran { withUnsafeBytes(of: v.bitPattern.littleEndian) { raw += $0 } }
        let a = try NpyArray(dtype: .float32, shape: shape, fortranOrder: true, data: raw)
        var c: [Float] = []
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { c.append(Float(100 * i + 10 * j + k)) } } }
        XCTAssertEqual(a.toFloat32(), c)
        XCTAssertEqual(a.toFloat64(), c.map(Double.init))
    }

    func testArraysFromCodeAreValidated() {
        let odd = expectNpyError("float8") { _ = try NpyArray(dtype: NpyDType(kind: .float, itemSize: 1), shape: [2], data: [0, 0]) }
        XCTAssertEqual(odd?.kind, .unsupportedDType(descr: "|f1", reason: "no such numeric dtype"))
        let short = expectNpyError("short") { _ = try NpyArray(dtype: .float32, shape: [2, 2], data: [0, 0, 0]) }
        XCTAssertEqual(short?.kind, .invalidArray(message: "shape (2, 2) of <f4 needs 16 bytes, got 3"))
        XCTAssertEqual(try NpyDType.parse("=f8").descr, "<f8")
        XCTAssertEqual(try NpyDType.parse("<u1").descr, "|u1")
        XCTAssertEqual(try NpyDType.parse("?").descr, "|b1")
        XCTAssertEqual(try NpyDType.parse(">e").descr, ">f2")
    }

    /// float16 goes through a lookup table: every bit pattern, both byte orders, agrees
    /// with Swift's own Float16 conversion (NaNs as NaNs).
    func testEveryFloat16PatternConverts() throws {
        var little: [UInt8] = [], big: [UInt8] = []
        for h in 0...0xFFFF {
            little += [UInt8(h & 0xFF), UInt8(h >> 8)]
            big += [UInt8(h >> 8), UInt8(h & 0xFF)]
        }
        let le = try NpyArray(dtype: .float16, shape: [65536], data: little).toFloat32()
        let be = try NpyArray(dtype: NpyDType(kind: .float, itemSize: 2, byteOrder: .big), shape: [65536], data: big).toFloat64()
        for h in 0...0xFFFF {
            let want = Float(Float16(bitPattern: UInt16(h)))
            XCTAssertTrue(le[h].bitPattern == want.bitPattern || (le[h].isNaN && want.isNaN), "0x\(String(h, radix: 16))")
            XCTAssertTrue(be[h] == Double(want) || (be[h].isNaN && want.isNaN), "0x\(String(h, radix: 16))")
        }
    }
}
