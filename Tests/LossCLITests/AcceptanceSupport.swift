import Foundation
import XCTest

/// Writes .npy files byte by byte as NumPy's format 1.0 lays them out, for any numeric
/// dtype, byte order and memory order — independent of NpyIO, so the acceptance tests
/// feed losscli files that NpyIO did not write.
enum RawNpy {
    /// `descr` as NumPy writes it (`<f4`, `>i2`, `|b1`, ...); `values` in C order, each
    /// exactly representable in the dtype.
    static func bytes(descr: String, shape: [Int], values: [Double], fortran: Bool = false) -> [UInt8] {
        let shapeText = shape.isEmpty ? "()" : shape.count == 1 ? "(\(shape[0]),)"
            : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        out += [UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)]
        out += Array(header.utf8)
        // Fortran order: the element at C index (i0, i1, ...) goes to the column-major slot.
        var order = Array(values.indices)
        if fortran, shape.count > 1 {
            var strides = [Int](repeating: 1, count: shape.count)
            for d in stride(from: shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * shape[d + 1] }
            order = []
            func visit(_ dim: Int, _ offset: Int) {
                // Column-major: the first axis varies fastest.
                if dim < 0 { order.append(offset); return }
                for i in 0..<shape[dim] { visit(dim - 1, offset + i * strides[dim]) }
            }
            visit(shape.count - 1, 0)
        }
        let big = descr.hasPrefix(">")
        let code = String(descr.dropFirst())
        for index in order {
            let v = values[index]
            var item: [UInt8]
            switch code {
            case "b1": item = [v != 0 ? 1 : 0]
            case "i1": item = [UInt8(bitPattern: Int8(v))]
            case "u1": item = [UInt8(v)]
            case "i2": item = le(UInt64(UInt16(bitPattern: Int16(v))), 2)
            case "u2": item = le(UInt64(UInt16(v)), 2)
            case "i4": item = le(UInt64(UInt32(bitPattern: Int32(v))), 4)
            case "u4": item = le(UInt64(UInt32(v)), 4)
            case "i8": item = le(UInt64(bitPattern: Int64(v)), 8)
            case "u8": item = le(UInt64(v), 8)
            case "f2": item = le(UInt64(Float16(v).bitPattern), 2)
            case "f4": item = le(UInt64(Float(v).bitPattern), 4)
            case "f8": item = le(v.bitPattern, 8)
            default: item = []
            }
            out += big ? item.reversed() : item
        }
        return out
    }

    static func le(_ bits: UInt64, _ size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: bits >> (8 * UInt64($0))) }
    }

    @discardableResult
    static func write(_ url: URL, descr: String, shape: [Int], values: [Double], fortran: Bool = false) throws -> URL {
        try Data(bytes(descr: descr, shape: shape, values: values, fortran: fortran)).write(to: url)
        return url
    }
}

extension EvalHarness.Result {
    /// The term entries of an eval JSON output.
    func terms(file: StaticString = #filePath, line: UInt = #line) throws -> [String: [String: Any]] {
        try XCTUnwrap(try json(file: file, line: line)["terms"] as? [String: [String: Any]], stdout, file: file, line: line)
    }
}

/// A JSON number as a Double (fails the test when it is not one).
func jsonDouble(_ any: Any?, _ what: String = "value", file: StaticString = #filePath, line: UInt = #line) throws -> Double {
    try XCTUnwrap((any as? NSNumber)?.doubleValue, "\(what) is not a number: \(String(describing: any))", file: file, line: line)
}

/// The files in a folder (to check that a failed run left nothing behind).
func filesIn(_ dir: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
}
