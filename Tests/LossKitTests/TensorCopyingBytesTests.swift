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

    /// `Tensor(shape:dtype:borrowing:owner:)`: reads the owner's bytes in place (an unaligned
    /// start included), keeps the owner alive as long as the tensor or anything sharing its
    /// storage lives, and feeds ops and gradients like any tensor.
    func testBorrowedBytesKeepTheirOwnerAlive() throws {
        final class Owner {
            let p = UnsafeMutableRawPointer.allocate(byteCount: 4 * 65 + 1, alignment: 64)
            deinit { p.deallocate() }
        }
        weak var watch: Owner?
        var t: Tensor? = nil
        do {
            let owner = Owner()
            watch = owner
            let values = (0..<65).map { Float($0) * 0.5 - 3 }
            values.withUnsafeBytes { (owner.p + 1).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            t = try Tensor(shape: [5, 13], dtype: .float32, borrowing: UnsafeRawBufferPointer(start: owner.p + 1, count: 4 * 65), owner: owner)
            XCTAssertThrowsError(try Tensor(shape: [66], dtype: .float32, borrowing: UnsafeRawBufferPointer(start: owner.p, count: 4 * 65), owner: owner))
        }
        let reshaped = try XCTUnwrap(t).reshape([65])
        t = nil
        XCTAssertNotNil(watch, "the reshape shares the storage, so the owner lives")
        XCTAssertEqual(reshaped.toFloat32(), (0..<65).map { Float($0) * 0.5 - 3 })
        let x = reshaped.requiringGrad()
        let g = try grad(x.square().sum(), wrt: [x])[0]
        XCTAssertEqual(g.toFloat32(), (0..<65).map { 2 * (Float($0) * 0.5 - 3) })
        _ = x
        withExtendedLifetime(reshaped) {}
    }

    func testBorrowedOwnerIsReleasedWithTheLastTensor() throws {
        final class Owner { var bytes = [Float](repeating: 1, count: 8) }
        weak var watch: Owner?
        do {
            let owner = Owner()
            watch = owner
            let t = try owner.bytes.withUnsafeBytes { try Tensor(shape: [8], dtype: .float32, borrowing: $0, owner: owner) }
            XCTAssertEqual(t.sum().element(at: 0), 8)
        }
        XCTAssertNil(watch)
    }
}
