import Foundation
import XCTest
@testable import NpyIO

/// bfloat16 as an NpyIO dtype: decoding every bit pattern, statistics, the descr, and the
/// refusals (no NumPy descr parses to it, no .npy header is written with it); torch.save files
/// holding BFloat16Storage (fixtures/torch/bf16_*.pth, scripts/gen_safetensors_fixtures.py).
final class BFloat16Tests: XCTestCase {
    static let torchFolder = Fixtures.root.appendingPathComponent("fixtures/torch")

    /// The value of a bfloat16 pattern from its fields (sign, 8-bit exponent, 7-bit mantissa),
    /// by arithmetic rather than by reinterpreting bits: the reference for the decoder.
    static func reference(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int(bits >> 7 & 0xFF), mantissa = Double(bits & 0x7F)
        switch exponent {
        case 0: return sign * mantissa / 128 * pow(2, -126)
        case 0xFF: return mantissa == 0 ? sign * .infinity : .nan
        default: return sign * (1 + mantissa / 128) * pow(2, Double(exponent - 127))
        }
    }

    static func array(_ patterns: [UInt16], bigEndian: Bool = false) throws -> NpyArray {
        let bytes = patterns.flatMap { p -> [UInt8] in
            let lo = UInt8(p & 0xFF), hi = UInt8(p >> 8)
            return bigEndian ? [hi, lo] : [lo, hi]
        }
        return try NpyArray(dtype: NpyDType(kind: .bfloat16, itemSize: 2, byteOrder: bigEndian ? .big : .little),
                            shape: [patterns.count], data: bytes)
    }

    func testEveryPatternDecodes() throws {
        let patterns = (0...0xFFFF).map { UInt16($0) }
        for bigEndian in [false, true] {
            let a = try Self.array(patterns, bigEndian: bigEndian)
            let f32 = a.toFloat32(), f64 = a.toFloat64()
            XCTAssertEqual(f32.count, 65536)
            var nans = 0
            for (i, p) in patterns.enumerated() {
                let want = Self.reference(p)
                if want.isNaN {
                    nans += 1
                    XCTAssertTrue(f32[i].isNaN && f64[i].isNaN, "0x\(String(p, radix: 16)) is NaN")
                    // float32 keeps the pattern exactly: a bfloat16 is a float32's upper half.
                    XCTAssertEqual(f32[i].bitPattern, UInt32(p) << 16, "NaN payload of 0x\(String(p, radix: 16))")
                    continue
                }
                guard Double(f32[i]) == want, f64[i] == want, f32[i].sign == want.sign, f64[i].sign == want.sign else {
                    XCTFail("0x\(String(p, radix: 16)) (\(bigEndian ? "big" : "little")-endian): got \(f32[i]) / \(f64[i]), expected \(want)")
                    return
                }
            }
            XCTAssertEqual(nans, 2 * 127, "NaN patterns: exponent 0xFF, mantissa ≠ 0, either sign")
        }
    }

    func testStatisticsAndNonFinite() throws {
        // 1, -2.5, +inf, NaN, -inf, 0.5.
        let a = try Self.array([0x3F80, 0xC020, 0x7F80, 0x7FC0, 0xFF80, 0x3F00])
        let s = NpyStatistics(a)
        XCTAssertEqual(s.count, 6)
        XCTAssertEqual(s.nonfinite, 3)
        XCTAssertEqual(s.nanCount, 1)
        XCTAssertTrue(s.min?.isNaN ?? false)
        let finite = NpyStatistics(try Self.array([0x3F80, 0xC020, 0x3F00]))
        XCTAssertEqual(finite.min, -2.5)
        XCTAssertEqual(finite.max, 1)
        XCTAssertEqual(finite.sum, -1)
        XCTAssertEqual(finite.nonfinite, 0)
        XCTAssertFalse(a.isReadableInPlace(asFloatOf: 2), "bfloat16 is not float16")
    }

    func testDescrIsNotNumPys() throws {
        XCTAssertEqual(NpyDType.bfloat16.descr, "<bf16")
        XCTAssertEqual(NpyDType(kind: .bfloat16, itemSize: 2, byteOrder: .big).descr, ">bf16")
        XCTAssertTrue(NpyDType.bfloat16.isValid)
        XCTAssertTrue(NpyDType.bfloat16.isFloatingPoint)
        XCTAssertFalse(NpyDType.bfloat16.isNumPyDType)
        for descr in ["<bf16", ">bf16", "bf16", "=bf16"] {
            XCTAssertThrowsError(try NpyDType.parse(descr), descr) { error in
                XCTAssertTrue("\((error as? NpyDTypeRefusal)?.reason ?? "")".contains("bfloat16 is not a NumPy dtype"), "\(error)")
            }
        }
        // A .npy header naming it is refused as any unknown descr is.
        let header = "{'descr': '<bf16', 'fortran_order': False, 'shape': (1,), }"
        var npy = NpyFormat.magic + [1, 0, UInt8(header.utf8.count + 1), 0] + Array(header.utf8) + [0x0a]
        npy += [0x80, 0x3f]
        let e = expectNpyError("bf16 in a .npy") { _ = try Npy.read(bytes: npy) }
        XCTAssertEqual(e?.kind, .unsupportedDType(descr: "<bf16", reason: "bfloat16 is not a NumPy dtype (losscli reads it only from weight files)"))
    }

    /// Writing a bfloat16 array as .npy or into an .npz is a typed error, not a trap.
    func testWritingIsRefused() throws {
        let a = try Self.array([0x3F80])
        let message = "bfloat16 has no NumPy dtype, so a .npy or .npz cannot hold it (convert it to float32 first)"
        XCTAssertEqual(expectNpyError("encode") { _ = try Npy.encode(a) }?.kind, .unsupportedDType(descr: "<bf16", reason: message))
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a.npy").path
        XCTAssertEqual(expectNpyError("write") { try Npy.write(a, path: path) }?.kind, .unsupportedDType(descr: "<bf16", reason: message))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(expectNpyError("npz") { try NpzArchive.write([("a", a)], to: dir.appendingPathComponent("a.npz"), compressed: false) }?.kind,
                       .unsupportedDType(descr: "<bf16", reason: message))
    }

    struct TorchExpected: Decodable {
        struct Tensor: Decodable { let dtype: String; let shape: [Int]; let values: [String] }
        let files: [String: [String: Tensor]]
    }

    /// torch.save of bfloat16 tensors (zip and legacy formats): values as torch reads them,
    /// the transpose gathered, the row slice in place.
    func testTorchFilesWithBFloat16Storage() throws {
        let data = try Data(contentsOf: Self.torchFolder.appendingPathComponent("bf16_expected.json"))
        let expected = try JSONDecoder().decode(TorchExpected.self, from: data)
        XCTAssertEqual(Set(expected.files.keys), ["bf16_zip.pth", "bf16_legacy.pth"])
        for (file, tensors) in expected.files {
            let w = try WeightFile.read(path: Self.torchFolder.appendingPathComponent(file).path)
            XCTAssertEqual(w.format, file.contains("zip") ? .torchZip : .torchLegacy)
            XCTAssertEqual(Set(w.tensors.map(\.key)), Set(tensors.keys), file)
            for (key, array) in w.tensors {
                let want = try XCTUnwrap(tensors[key])
                XCTAssertEqual(array.dtype.descr, want.dtype, "\(file) \(key)")
                XCTAssertEqual(array.shape, want.shape, "\(file) \(key)")
                let got = array.toFloat64(), values = want.values.compactMap(Double.init)
                XCTAssertEqual(got.count, values.count, "\(file) \(key)")
                for (g, v) in zip(got, values) where !(sameValue(g, v) && g.sign == v.sign) {
                    XCTFail("\(file) \(key): \(got) vs torch \(values)"); break
                }
            }
            let byKey = Dictionary(uniqueKeysWithValues: w.tensors.map { ($0.key, $0.array) })
            let base = try XCTUnwrap(byKey["w"]), row = try XCTUnwrap(byKey["row"])
            XCTAssertTrue(row.buffer === base.buffer, "\(file): a C-order slice views the storage")
            XCTAssertEqual(row.dataOffset, base.dataOffset + 4 * 2, file)
        }
    }
}
