import XCTest
import LossKit
import NpyIO
import TensorIO

/// `Tensor(npy:dtype:)` and `NpyArray(tensor:)`: in place when the bytes already are the
/// computation's, converted (as NpyIO converts) otherwise.
final class TensorNpyTests: XCTestCase {
    func bytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

    func address(_ t: Tensor) throws -> UnsafeRawPointer? {
        t.dtype == .float64
            ? try t.withUnsafeBufferPointer(as: Double.self) { $0.baseAddress.map(UnsafeRawPointer.init) }
            : try t.withUnsafeBufferPointer(as: Float.self) { $0.baseAddress.map(UnsafeRawPointer.init) }
    }

    func testNativeCOrderFloatsAreBorrowed() throws {
        let f32 = NpyArray(float32: [1, -2.5, 3, 0.25, 5, 6], shape: [2, 3])
        let f64 = NpyArray(float64: [1, -2.5, 3, 0.25, 5, 6], shape: [3, 2])
        // Fortran order with one axis longer than 1: the same bytes as C order.
        let column = try NpyArray(dtype: .float32, shape: [1, 4], fortranOrder: true, data: bytes([Float(1), 2, 3, 4]))
        for (array, dtype) in [(f32, DType.float32), (f64, .float64), (column, .float32)] {
            XCTAssertTrue(Tensor.canBorrow(array, as: dtype))
            let t = try Tensor(npy: array, dtype: dtype)
            XCTAssertEqual(t.shape, array.shape)
            XCTAssertEqual(try address(t), array.withUnsafeDataBytes { $0.baseAddress }, "the tensor's bytes are the array's")
            XCTAssertEqual(t.toFloat64(), array.toFloat64())
        }
    }

    func testOtherLayoutsAreConvertedAsNpyIOConverts() throws {
        let halves: [UInt16] = [0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0001, 0x8000]  // 1, -2, ~1/3, 65504, tiny, -0
        let values: [Float] = [1, -2.5, 3, 0.25, 5, 6]
        let arrays: [(String, NpyArray)] = [
            ("float16", try NpyArray(dtype: .float16, shape: [2, 3], data: bytes(halves))),
            ("int32", try NpyArray(dtype: NpyDType(kind: .int, itemSize: 4), shape: [3, 2], data: bytes([Int32(7), -3, 0, 16_777_217, 2, -1]))),
            ("uint8", try NpyArray(dtype: NpyDType(kind: .uint, itemSize: 1), shape: [6], data: [0, 1, 2, 127, 128, 255])),
            ("big-endian float32", try NpyArray(dtype: NpyDType(kind: .float, itemSize: 4, byteOrder: .big), shape: [2, 3],
                                                data: bytes(values.map { $0.bitPattern.bigEndian }))),
            ("big-endian float64", try NpyArray(dtype: NpyDType(kind: .float, itemSize: 8, byteOrder: .big), shape: [6],
                                                data: bytes(values.map { Double($0).bitPattern.bigEndian }))),
            ("Fortran-order float32", try NpyArray(dtype: .float32, shape: [2, 3], fortranOrder: true, data: bytes(values))),
            ("float64 as float32", NpyArray(float64: values.map(Double.init), shape: [3, 2])),
        ]
        for (name, array) in arrays {
            XCTAssertFalse(Tensor.canBorrow(array, as: .float32), name)
            let t32 = try Tensor(npy: array, dtype: .float32)
            XCTAssertEqual(t32.shape, array.shape, name)
            XCTAssertEqual(t32.toFloat32().map(\.bitPattern), array.toFloat32().map(\.bitPattern), name)
            XCTAssertNotEqual(try address(t32), array.withUnsafeDataBytes { $0.baseAddress }, name)
            if array.dtype != .float64 {
                let t64 = try Tensor(npy: array, dtype: .float64)
                XCTAssertEqual(t64.toFloat64().map(\.bitPattern), array.toFloat64().map(\.bitPattern), name)
            }
        }
    }

    func testTensorToArrayKeepsDTypeShapeAndValues() throws {
        let d = try Tensor(shape: [2, 2], values: [1, -0.5, 1e300, 3], dtype: .float64)
        let f = try Tensor(shape: [4], float32: [1, -0.5, 3.25, .infinity])
        let a = NpyArray(tensor: d), b = NpyArray(tensor: f)
        XCTAssertEqual(a.dtype, .float64)
        XCTAssertEqual(a.shape, [2, 2])
        XCTAssertEqual(a.toFloat64(), d.toFloat64())
        XCTAssertEqual(b.dtype, .float32)
        XCTAssertEqual(b.shape, [4])
        XCTAssertEqual(b.toFloat32(), f.toFloat32())
        // And back: the same tensor values.
        XCTAssertEqual(try Tensor(npy: a, dtype: .float64).toFloat64(), d.toFloat64())
    }
}
