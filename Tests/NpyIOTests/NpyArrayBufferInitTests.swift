import Foundation
import NpyIO
import XCTest

/// `NpyArray(float32:shape:)` / `(float64:shape:)` from a buffer write the same bytes as from an array.
final class NpyArrayBufferInitTests: XCTestCase {
    func testBufferInitsMatchArrayInits() throws {
        let f: [Float] = [1, -2.5, .nan, 1e-40]
        let a = f.withUnsafeBufferPointer { NpyArray(float32: $0, shape: [2, 2]) }
        let b = NpyArray(float32: f, shape: [2, 2])
        XCTAssertEqual(a.dtype.descr, "<f4")
        XCTAssertEqual(a.shape, [2, 2])
        XCTAssertEqual(a.withUnsafeDataBytes { Array($0) }, b.withUnsafeDataBytes { Array($0) })
        let d: [Double] = [3.25, -0.0, 1e308]
        let c = d.withUnsafeBufferPointer { NpyArray(float64: $0, shape: [3]) }
        XCTAssertEqual(c.dtype.descr, "<f8")
        XCTAssertEqual(c.toFloat64().map(\.bitPattern), d.map(\.bitPattern))
    }
}
