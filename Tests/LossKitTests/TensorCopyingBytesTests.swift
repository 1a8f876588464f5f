import XCTest
@testable import LossKit

/// `Tensor(shape:dtype:copyingBytes:)`, the one-copy path `eval` loads native float data with.
final class TensorCopyingBytesTests: XCTestCase {
    func testCopiesNativeBytesAndRejectsWrongSizes() throws {
        let f: [Float] = [1.5, -2.25, 3e-8, .infinity, 0, 7]
        let t = try f.withUnsafeBytes { try Tensor(shape: [2, 3], dtype: .float32, copyingBytes: $0) }
        XCTAssertEqual(t.shape, [2, 3])
        XCTAssertEqual(t.toFloat32(), f)
        let d: [Double] = [0.1, -1e300]
        // An unaligned source (one byte into a buffer) is fine: the copy is bytewise.
        var raw = [UInt8](repeating: 0, count: 17)
        d.withUnsafeBytes { src in raw.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: 1).copyMemory(from: src.baseAddress!, byteCount: 16) } }
        let u = try raw.withUnsafeBytes { try Tensor(shape: [2], dtype: .float64, copyingBytes: UnsafeRawBufferPointer(rebasing: $0[1...])) }
        XCTAssertEqual(u.toFloat64(), d)
        XCTAssertThrowsError(try f.withUnsafeBytes { try Tensor(shape: [5], dtype: .float32, copyingBytes: $0) })
        XCTAssertThrowsError(try f.withUnsafeBytes { try Tensor(shape: [3], dtype: .float64, copyingBytes: UnsafeRawBufferPointer(rebasing: $0[0..<22])) })
        XCTAssertThrowsError(try f.withUnsafeBytes { try Tensor(shape: [-6], dtype: .float32, copyingBytes: $0) })
        let empty = try [Float]().withUnsafeBytes { try Tensor(shape: [0, 4], dtype: .float32, copyingBytes: $0) }
        XCTAssertEqual(empty.count, 0)
    }
}
