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

/// The safetensors reader against files the library wrote (values as torch reads them), one
/// written by hand (unsorted, unaligned), hostile files each refused with its own message
/// (fixtures/safetensors, scripts/gen_safetensors_fixtures.py), and the header's JSON rules.
final class SafetensorsTests: XCTestCase {
    static let folder = Fixtures.root.appendingPathComponent("fixtures/safetensors")

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    static let expected: [String: Any] = {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("expected.json")),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return json
    }()

    /// safetensors' dtype → the descr NpyIO gives it.
    static let descrs = [
        "BOOL": "|b1", "U8": "|u1", "I8": "|i1", "I16": "<i2", "U16": "<u2", "I32": "<i4", "U32": "<u4",
        "I64": "<i8", "U64": "<u8", "F16": "<f2", "BF16": "<bf16", "F32": "<f4", "F64": "<f8",
    ]

    /// A file in memory: the length, the header as given (no padding), the data.
    static func file(_ header: String, _ data: [UInt8] = []) -> [UInt8] {
        let h = Array(header.utf8)
        return (0..<8).map { UInt8(truncatingIfNeeded: UInt64(h.count) >> (8 * UInt64($0))) } + h + data
    }

    static func contents(_ bytes: [UInt8]) throws -> Safetensors.Contents {
        try Safetensors.contents(of: NpyBuffer(copying: bytes))
    }

    /// The error reading `bytes` gives (nil, and a failure, when it reads).
    func refusal(_ bytes: [UInt8], _ label: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        guard let e = expectNpyError(label, file: file, line: line, { _ = try Self.contents(bytes) }) else { return nil }
        guard case .safetensors(let message) = e.kind else {
            XCTFail("\(label): not a safetensors error: \(e)", file: file, line: line)
            return nil
        }
        XCTAssertNotNil(e.offset, "\(label): \(e)", file: file, line: line)
        return message
    }

    func assertRefused(_ header: String, _ data: [UInt8] = [], _ want: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let m = refusal(Self.file(header, data), header, file: file, line: line) else { return }
        XCTAssertTrue(m.contains(want), "\(header): \(m)", file: file, line: line)
    }

    func testFilesEqualTorchs() throws {
        let files = try XCTUnwrap(Self.expected["files"] as? [String: [String: Any]])
        XCTAssertEqual(Set(files.keys), ["dtypes.safetensors", "scalar_empty.safetensors", "handmade_unaligned.safetensors", "no_tensors.safetensors"])
        var compared = 0
        for (name, exp) in files {
            let w = try WeightFile.read(path: Self.path(name))
            XCTAssertEqual(w.format, .safetensors)
            XCTAssertEqual(w.path, Self.path(name))
            // The header's text order.
            XCTAssertEqual(w.tensors.map(\.key), exp["order"] as? [String], name)
            let tensors = try XCTUnwrap(exp["tensors"] as? [String: [String: Any]])
            for (key, array) in w.tensors {
                let want = try XCTUnwrap(tensors[key], key)
                let label = "\(name) \(key)"
                XCTAssertEqual(array.dtype.descr, Self.descrs[want["st_dtype"] as? String ?? ""], label)
                XCTAssertEqual(array.shape, want["shape"] as? [Int], label)
                XCTAssertFalse(array.fortranOrder, label)
                let f64 = array.toFloat64(), f32 = array.toFloat32()
                let e64 = (want["f64"] as? [String] ?? []).compactMap(Double.init)
                let e32 = (want["f32"] as? [String] ?? []).compactMap(Double.init)
                XCTAssertEqual(f64.count, e64.count, label)
                XCTAssertEqual(f32.count, e32.count, label)
                for (g, v) in zip(f64, e64) where !(sameValue(g, v) && g.sign == v.sign) { XCTFail("\(label): f64 \(f64) vs torch \(e64)"); break }
                for (g, v) in zip(f32, e32) where !(sameValue(Double(g), v) && g.sign == v.sign) { XCTFail("\(label): f32 \(f32) vs torch \(e32)"); break }
                XCTAssertEqual(NpyStatistics(array).nonfinite, want["nonfinite"] as? Int, label)
                compared += e64.count
            }
            let metadata = try Self.contents(Array(try Data(contentsOf: URL(fileURLWithPath: Self.path(name))))).metadata
            let wantMetadata = exp["metadata"] as? [String: String] ?? [:]
            XCTAssertEqual(Dictionary(uniqueKeysWithValues: metadata.map { ($0.key, $0.value) }), wantMetadata, name)
            XCTAssertEqual(metadata.map(\.key), exp["metadata_order"] as? [String], "\(name): the header's order")
        }
        XCTAssertGreaterThan(compared, 60)
    }

    /// Every dtype, rank 0, empty tensors, metadata in the header's order (read from the text).
    func testRankZeroEmptyAndMetadata() throws {
        let c = try Self.contents(Array(try Data(contentsOf: URL(fileURLWithPath: Self.path("scalar_empty.safetensors")))))
        XCTAssertEqual(Set(c.metadata.map(\.key)), ["format", "note", "ünï"])
        XCTAssertEqual(c.metadata.first { $0.key == "ünï" }?.value, "çødé")
        let byKey = Dictionary(uniqueKeysWithValues: c.tensors.map { ($0.key, $0.array) })
        XCTAssertEqual(byKey["scalar"]?.shape, [])
        XCTAssertEqual(byKey["scalar"]?.toFloat64(), [2.5])
        XCTAssertEqual(byKey["scalar_bf16"]?.dtype, .bfloat16)
        XCTAssertEqual(byKey["scalar_bf16"]?.toFloat32(), [-3])
        XCTAssertEqual(byKey["empty"]?.shape, [0, 3])
        XCTAssertEqual(byKey["empty"]?.count, 0)
        XCTAssertEqual(byKey["empty_i64"]?.shape, [4, 0])
        XCTAssertNil(NpyStatistics(try XCTUnwrap(byKey["empty"])).min)
        let dtypes = try WeightFile.read(path: Self.path("dtypes.safetensors"))
        XCTAssertEqual(Set(dtypes.tensors.map(\.array.dtype.descr)), Set(Self.descrs.values))
    }

    /// Arrays view the file's bytes where they lie, aligned or not: no copy.
    func testArraysViewTheFileInPlace() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.path("handmade_unaligned.safetensors"))))
        var n = 0
        for i in (0..<8).reversed() { n = n << 8 | Int(bytes[i]) }
        let c = try Self.contents(bytes)
        XCTAssertEqual(c.tensors.map(\.key), ["z.f64", "café\t😀", "a.u8", "m.bf16"])
        XCTAssertEqual(c.metadata.map(\.key), ["writer"])
        let begins = ["a.u8": 0, "café\t😀": 3, "z.f64": 15, "m.bf16": 31]
        let buffer = c.tensors[0].array.buffer
        for (key, a) in c.tensors {
            XCTAssertTrue(a.buffer === buffer, key)
            XCTAssertEqual(a.dataOffset, 8 + n + (begins[key] ?? -1), key)
        }
        XCTAssertEqual(c.tensors[1].array.toFloat32(), [1.25, -2, 1e-3])
        XCTAssertNotEqual(c.tensors[1].array.dataOffset % 4, 0, "the float32 data is unaligned")
        XCTAssertEqual(c.tensors[3].array.toFloat64(), [1.5, -.infinity])
    }

    /// Each hostile fixture is refused, by the path and by bytes, each with its own message.
    func testHostileFilesAreRefused() throws {
        let cases: [String: String] = [
            "hole": "the data has a hole: bytes 4..<8 belong to no tensor ('b' starts at 8, 'a' ends at 4)",
            "overlap": "'b' (data_offsets [4, 12]) overlaps 'a', which ends at 8",
            "wrong_byte_count": "'a' (F32, shape (3,)) needs 12 bytes, its data_offsets [0, 8] hold 8",
            "header_too_big": "header length 100000001 is more than the format's limit of 100000000 bytes",
            "header_past_eof": "header length 200 runs past the end of the file",
            "trailing_bytes": "4 bytes follow the last tensor's data (the tensors end at data byte 12, the file has 16)",
            "duplicate_key": "header names 'a' twice",
            "bad_json": "header is not valid JSON at header byte 55: expected a key after ',', found '}'",
            "unsupported_dtype": "'a' has dtype F8_E4M3: float8 tensors are not supported",
            "negative_shape": "shape of 'a' holds -1: expected a non-negative integer",
            "huge_shape": "shape (4611686018427387904, 4) of 'a' with 4-byte elements is too large to address",
            "bad_utf8": "header is not valid UTF-8 (at header byte 3)",
            "metadata_not_str": "__metadata__ 'n' is not a string",
            "not_from_zero": "the data has a hole: bytes 0..<2 belong to no tensor ('a' starts at 2)",
            "reversed_offsets": "data_offsets [4, 0] of 'a' end before they begin",
        ]
        let hostile = try XCTUnwrap(Self.expected["hostile"] as? [String: Any])
        XCTAssertEqual(Set(hostile.keys), Set(cases.keys.map { $0 + ".safetensors" }))
        var messages = Set<String>()
        for (name, want) in cases {
            let path = Self.path(name + ".safetensors")
            let e = expectNpyError(name) { _ = try WeightFile.read(path: path) }
            XCTAssertEqual(e?.file, path, name)
            guard let e, case .safetensors(let message) = e.kind else { XCTFail("\(name): \(String(describing: e))"); continue }
            XCTAssertTrue(message.contains(want), "\(name): \(message)")
            XCTAssertTrue(e.description.hasPrefix("\(path), byte "), "\(name): \(e)")
            messages.insert(message)
            let inMemory = expectNpyError(name) { _ = try WeightFile.read(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path)))) }
            XCTAssertEqual(inMemory?.kind, e.kind, name)
        }
        XCTAssertEqual(messages.count, cases.count, "every refusal has its own message")
        // The offsets point at what is wrong: the hole at data byte 4 of hole.safetensors.
        let hole = expectNpyError("hole") { _ = try WeightFile.read(path: Self.path("hole.safetensors")) }
        let holeBytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.path("hole.safetensors"))))
        XCTAssertEqual(hole?.offset, holeBytes.count - 16 + 4)
    }

    func testRefusedDTypesAreNamed() {
        for (dtype, why) in [("C64", "complex"), ("F8_E5M2", "float8"), ("F8_E8M0", "float8"), ("F8_E4M3FNUZ", "float8"),
                             ("F4", "sub-byte float"), ("F6_E2M3", "sub-byte float"), ("Q4", "not a safetensors dtype"), ("f32", "not a safetensors dtype")] {
            assertRefused("{\"t\":{\"dtype\":\"\(dtype)\",\"shape\":[1],\"data_offsets\":[0,1]}}", [0], "'t' has dtype \(dtype): \(why)")
        }
    }

    /// The header is strict JSON, and entries are what the format says.
    func testHeaderRules() {
        let ok = "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}"
        // Syntax.
        assertRefused(ok + ",}", [1], "expected a key after ',', found '}'")
        assertRefused(ok, [1], "expected ',' or '}', found the end of the header")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,],\"data_offsets\":[0,1]}}", [1], "expected a value after ',', found ']'")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]}}", [1], "a number with a leading zero")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1.0],\"data_offsets\":[0,1]}}", [1], "shape of 'a' holds 1.0: expected a non-negative integer")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1e0],\"data_offsets\":[0,1]}}", [1], "holds 1e0")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[-],\"data_offsets\":[0,1]}}", [1], "expected digits after '-'")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999],\"data_offsets\":[0,1]}}", [1], "holds 99999999999999999999, too large")
        assertRefused("{'a':{}}", [], "expected a key or '}', found '''")
        assertRefused("{\"a\" {}}", [], "expected ':' after a key")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":NaN}}", [1], "expected a number (a value), found 'N'")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":tru}}", [1], "expected true")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":\"\\x\"}}", [1], "unknown escape \\'x'")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":\"\\ud800\"}}", [1], "leading surrogate without its trailing one")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":\"\\udc00\"}}", [1], "lone trailing surrogate")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":\"\\u12\"}}", [1], "needs 4 hex digits")
        assertRefused("{\"a\tb\":{}}", [], "control character 0x9 in a string")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}} x", [1], "'x' after the header's object")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}\0", [1], "byte 0x0 after the header's object")
        assertRefused("{\"a", [], "a string is not closed")
        assertRefused(" {}", [], "header does not start with '{'")
        // Nesting: 64 levels in all are read (skipped, in a field the format does not define), 65 are not.
        let deep = { (n: Int) in "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":" + String(repeating: "[", count: n) + String(repeating: "]", count: n) + "}}" }
        XCTAssertEqual(try Self.contents(Self.file(deep(62), [1])).tensors.count, 1)
        assertRefused(deep(63), [1], "nested more than 64 deep")
        // Entries.
        assertRefused("{\"a\":[]}", [], "'a' is not an object")
        assertRefused("{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", [1], "'a' has no dtype")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", [1], "'a' has no shape")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", [1], "'a' has no data_offsets")
        assertRefused("{\"a\":{\"dtype\":8,\"shape\":[1],\"data_offsets\":[0,1]}}", [1], "dtype of 'a' is not a string")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", [1], "'a' has dtype twice")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", [1], "shape of 'a' is not a list of integers")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", [1], "data_offsets of 'a' are not [begin, end]")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1]}}", [1], "data_offsets of 'a' are not [begin, end]")
        assertRefused("{\"a\":{\"dtype\":\"U8\",\"shape\":[" + Array(repeating: "1", count: 65).joined(separator: ",") + "],\"data_offsets\":[0,1]}}", [1],
                      "shape of 'a' has more than 64 dimensions")
        assertRefused("{\"__metadata__\":[],\"a\":{}}", [], "__metadata__ is not an object of strings")
        assertRefused("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", [], "__metadata__ names 'k' twice")
        // Names equal as text are one name, whatever their spelling (é precomposed, e + U+0301).
        assertRefused("{\"\u{e9}\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},\"e\u{301}\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", [],
                      "names 'e\u{301}' twice")
        // A control character in a name is shown escaped.
        assertRefused("{\"a\\nb\":{\"dtype\":\"F9\",\"shape\":[0],\"data_offsets\":[0,0]}}", [], "'a\\u{a}b' has dtype F9")
        // The layout: past the end, and ties of empty tensors.
        assertRefused(ok + "}", [], "'a' ends at data byte 1, past the end of the file (0 bytes of data)")
        XCTAssertEqual(try Self.contents(Self.file("{\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
            + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"f\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[0,0]}}", [0, 0, 0x80, 0x3f]))
            .tensors.map { "\($0.key)=\($0.array.toFloat32())" }, ["e=[]", "a=[1.0]", "f=[]"])
        // Too short for the length; the empty header; null metadata; unknown fields skipped;
        // escapes decoded; spaces around everything.
        XCTAssertTrue(refusal([1, 0, 0], "short")?.contains("a file of 3 bytes is too short for the 8-byte header length") ?? false)
        XCTAssertEqual(try Self.contents(Self.file("{}")).tensors.count, 0)
        let lenient = try? Self.contents(Self.file(" { \"__metadata__\" : null , \"\\u0041\\/\\\"\" : { \"x\" : {\"y\": [true, false, null, -1.5e-3, \"s\"]},"
            .replacingOccurrences(of: " { ", with: "{ ", options: .anchored)
            + " \"data_offsets\" : [ 0 , 2 ] , \"shape\" : [ ] , \"dtype\" : \"I16\" } } \t\r\n ", [0xff, 0xff]))
        XCTAssertEqual(lenient?.tensors.map(\.key), ["A/\""])
        XCTAssertEqual(lenient?.tensors.first?.array.toFloat64(), [-1])
        XCTAssertEqual(lenient?.metadata.count, 0)
    }

    /// Detected by bytes whatever the name; a length past the file is still reported as a
    /// safetensors problem, text with '{' at byte 8 is not taken for one.
    func testDetection() throws {
        let bytes = Self.file("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", [7])
        XCTAssertEqual(bytes.withUnsafeBytes { WeightFile.detect($0) }, .safetensors)
        XCTAssertEqual(try WeightFile.read(bytes: bytes).tensors.first?.array.toFloat64(), [7])
        XCTAssertEqual(Array("12345678{}".utf8).withUnsafeBytes { WeightFile.detect($0) }, .unknown)
        // A header length whose low byte is 0x93 (.npy's first byte), and "ustar" at byte 257
        // (the tar check's place): still safetensors.
        let name = "custard" + String(repeating: "x", count: 257 - 10 - 7) + "ustar"
        var header = "{\"\(name)\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}"
        header += String(repeating: " ", count: 0x193 - header.utf8.count)
        let odd = Self.file(header, [9])
        XCTAssertEqual(odd[0], 0x93)
        XCTAssertEqual(Array(odd[257..<262]), Array("ustar".utf8))
        XCTAssertEqual(try WeightFile.read(bytes: odd).tensors.map(\.key), [name])
        XCTAssertEqual(Array("\u{93}NUMPY\u{1}\u{0}{".unicodeScalars.map { UInt8($0.value) }).withUnsafeBytes { WeightFile.detect($0) }, .npy)
        let far = [0, 0, 0, 0, 1, 0, 0, 0] + Array("{}".utf8)
        XCTAssertEqual(far.withUnsafeBytes { WeightFile.detect($0) }, .safetensors)
        XCTAssertTrue(refusal(far, "far")?.contains("header length 4294967296 is more than the format's limit") ?? false)
    }
}
