import Foundation
import XCTest
@testable import NpyIO

/// Hand-made bad `.npy` files: each gives its own error, with the offset, never a trap.
final class MalformedNpyTests: XCTestCase {
    /// A `.npy` with `header` as its dict text, padded the way NumPy pads.
    func npy(_ header: String, version: UInt8 = 1, data: [UInt8] = [], pad: Bool = true) -> [UInt8] {
        var body = Array(header.utf8)
        let lengthSize = version == 1 ? 2 : 4
        if pad {
            let unpadded = 8 + lengthSize + body.count + 1
            body += [UInt8](repeating: 0x20, count: (64 - unpadded % 64) % 64) + [0x0a]
        }
        var out = NpyFormat.magic + [version, 0]
        for i in 0..<lengthSize { out.append(UInt8(truncatingIfNeeded: body.count >> (8 * i))) }
        return out + body + data
    }

    func kind(_ bytes: [UInt8], options: NpyReadOptions = .init(), _ label: String = "", line: UInt = #line) -> NpyError.Kind? {
        expectNpyError(label, line: line) { _ = try Npy.read(bytes: bytes, options: options) }?.kind
    }

    let f4x2 = [UInt8](repeating: 0, count: 8)

    func testHeaderLiteralVariantsAreAccepted() throws {
        let variants = [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            "{'shape': (2,), 'descr': '<f4', 'fortran_order': False}",
            "{ \"fortran_order\" : False , \"shape\":(2 ,) ,\"descr\":\"<f4\" , }",
            "{'descr':'<f4','fortran_order':False,'shape':(2,)}",
            "\t{'descr': '<f4',\n 'fortran_order': False, 'shape': (2,),}  ",
            "{'descr': 'f4', 'fortran_order': False, 'shape': (+2,), }",
            "{'descr': '=f4', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '|f4', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': 'f', 'fortran_order': False, 'shape': (2,), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': [2][0:0] or (2,), }",
        ]
        for (i, v) in variants.enumerated() {
            if i == variants.count - 1 {
                // Expressions are not literals: refused as a syntax error.
                guard case .headerSyntax? = kind(npy(v, data: f4x2), "expression") else { return XCTFail("expression accepted") }
                continue
            }
            let a = try Npy.read(bytes: npy(v, data: f4x2))
            XCTAssertEqual(a.shape, [2], v)
            XCTAssertEqual(a.dtype.descr, "<f4", v)
        }
        // Python 2 wrote longs as 3L; NumPy still reads those 1.0/2.0 files, but not 3.0 ones.
        XCTAssertEqual(try Npy.read(bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", data: f4x2)).shape, [2])
        guard case .headerSyntax? = kind(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2L,), }", version: 3, data: f4x2)) else {
            return XCTFail("3L accepted in a 3.0 header")
        }
        // A repeated key keeps its last value, as a Python dict literal does.
        XCTAssertEqual(try Npy.read(bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (9,), 'shape': (2,)}", data: f4x2)).shape, [2])
        // An unpadded header and trailing bytes after the data are fine, as in NumPy.
        XCTAssertEqual(try Npy.read(bytes: npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", data: f4x2 + [1, 2, 3], pad: false)).count, 2)
    }

    func testMagicAndVersion() {
        XCTAssertEqual(kind([]), .notNpy(foundPrefix: []))
        XCTAssertEqual(kind(Array("PK\u{3}\u{4}hello".utf8)), .notNpy(foundPrefix: Array("PK\u{3}\u{4}hell".utf8)))
        var v4 = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: f4x2)
        v4[6] = 4
        XCTAssertEqual(kind(v4), .unsupportedVersion(major: 4, minor: 0))
        v4[6] = 1; v4[7] = 1
        XCTAssertEqual(kind(v4), .unsupportedVersion(major: 1, minor: 1))
        v4[6] = 0; v4[7] = 0
        XCTAssertEqual(kind(v4), .unsupportedVersion(major: 0, minor: 0))
    }

    /// Cut a valid file after every byte: each prefix names what it was reading.
    func testTruncationAtEveryByte() throws {
        for version: UInt8 in [1, 2, 3] {
            let full = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", version: version, data: [UInt8](repeating: 7, count: 24))
            let lengthSize = version == 1 ? 2 : 4
            let dataStart = full.count - 24
            for n in 0..<full.count {
                let k = kind(Array(full[0..<n]), "v\(version) cut at \(n)")
                let want: NpyError.Kind
                switch n {
                case 0: want = .notNpy(foundPrefix: [])
                case 1..<6: want = .truncated(reading: "magic string", expected: 6, got: n)
                case 6..<8: want = .truncated(reading: "format version", expected: 2, got: n - 6)
                case 8..<(8 + lengthSize): want = .truncated(reading: "header length", expected: lengthSize, got: n - 8)
                case (8 + lengthSize)..<dataStart: want = .truncated(reading: "header", expected: dataStart - 8 - lengthSize, got: n - 8 - lengthSize)
                default: want = .truncated(reading: "array data", expected: 24, got: n - dataStart)
                }
                XCTAssertEqual(k, want, "v\(version) cut at \(n)")
            }
        }
    }

    func testTruncatedDataReportsOffset() {
        let bytes = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", data: [1, 2, 3])
        let e = expectNpyError("short data") { _ = try Npy.read(bytes: bytes) }
        XCTAssertEqual(e?.offset, bytes.count - 3)
        XCTAssertEqual(e?.kind, .truncated(reading: "array data", expected: 24, got: 3))
    }

    func testHeaderSizeLimit() throws {
        let long = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }" + String(repeating: " ", count: 12_000)
        let bytes = npy(long, version: 2, data: f4x2)
        let headerLength = bytes.count - 12 - 8
        XCTAssertEqual(kind(bytes), .headerTooLarge(length: headerLength, limit: 10_000))
        XCTAssertEqual(try Npy.read(bytes: bytes, options: NpyReadOptions(maxHeaderSize: 20_000)).count, 2)
        // The limit is checked before the header is read: a 4 GiB claim in a tiny file.
        var huge = NpyFormat.magic + [2, 0, 0xff, 0xff, 0xff, 0xff]
        huge += Array("{}".utf8)
        XCTAssertEqual(kind(huge), .headerTooLarge(length: 0xFFFF_FFFF, limit: 10_000))
    }

    func testSyntaxErrors() {
        let cases: [(String, String)] = [
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", "expected '}'"),
            ("{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", "expected ','"),
            ("{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", "expected ','"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,),,}", "expected a value"),
            ("{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}", "'false' is not a literal"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (0x2,)}", "only decimal"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} extra", "after the literal"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "64 bits"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (02,)}", "leading zeros"),
            ("{'descr': '<f4', 'fortran_order': False, [1]: 2}", "unhashable"),
            (String(repeating: "(", count: 100) + String(repeating: ")", count: 100), "nested deeper"),
            ("", "expected a value"),
        ]
        for (header, fragment) in cases {
            guard case .headerSyntax(let message, _)? = kind(npy(header, data: f4x2), header) else {
                XCTFail("not a syntax error: \(header)"); continue
            }
            XCTAssertTrue(message.contains(fragment), "\(header): \(message)")
        }
    }

    func testStructureErrorsInNumPysOrder() {
        let d = "'descr': '<f4'", o = "'fortran_order': False", s = "'shape': (2,)"
        XCTAssertEqual(kind(npy("[1, 2]")), .headerNotDict(found: "[1, 2]"))
        XCTAssertEqual(kind(npy("'text'")), .headerNotDict(found: "'text'"))
        XCTAssertEqual(kind(npy("{\(d), \(o)}")), .headerKeys(found: ["'descr'", "'fortran_order'"]))
        XCTAssertEqual(kind(npy("{\(d), \(o), \(s), 'extra': 1}")), .headerKeys(found: ["'descr'", "'extra'", "'fortran_order'", "'shape'"]))
        XCTAssertEqual(kind(npy("{\(d), \(o), 'Shape': (2,)}")), .headerKeys(found: ["'Shape'", "'descr'", "'fortran_order'"]))
        XCTAssertEqual(kind(npy("{\(d), \(o), 'shape': [2]}")), .invalidShape(found: "[2]"))
        XCTAssertEqual(kind(npy("{\(d), \(o), 'shape': 2}")), .invalidShape(found: "2"))
        XCTAssertEqual(kind(npy("{\(d), \(o), 'shape': (2.0,)}")), .invalidShape(found: "(2.0,)"))
        XCTAssertEqual(kind(npy("{\(d), \(o), 'shape': (2, -1)}")), .invalidShape(found: "(2, -1)"))
        XCTAssertEqual(kind(npy("{\(d), \(o), 'shape': (True,)}")), .invalidShape(found: "(True,)"))
        XCTAssertEqual(kind(npy("{\(d), 'fortran_order': 0, \(s)}")), .invalidFortranOrder(found: "0"))
        XCTAssertEqual(kind(npy("{\(d), 'fortran_order': 'False', \(s)}")), .invalidFortranOrder(found: "'False'"))
        XCTAssertEqual(kind(npy("{'descr': 4, \(o), \(s)}")), .invalidDescr(found: "4"))
        // Shape is checked before fortran_order, which is checked before descr.
        XCTAssertEqual(kind(npy("{'descr': 4, 'fortran_order': 0, 'shape': [2]}")), .invalidShape(found: "[2]"))
        XCTAssertEqual(kind(npy("{'descr': 4, 'fortran_order': 0, \(s)}")), .invalidFortranOrder(found: "0"))
    }

    func testRefusedDTypesSayWhy() {
        let o = "'fortran_order': False", s = "'shape': (2,)"
        let cases: [(String, String, String)] = [
            ("'|O'", "|O", "pickle"),
            ("'<c8'", "<c8", "complex"),
            ("'<U5'", "<U5", "string"),
            ("'|S3'", "|S3", "string"),
            ("'|V8'", "|V8", "void"),
            ("'<M8[s]'", "<M8[s]", "datetime"),
            ("'<f16'", "<f16", "long double"),
            ("'<f3'", "<f3", "not a numeric"),
            ("'xyz'", "xyz", "not a numeric"),
            ("''", "", "empty"),
            ("[('a', '<f4'), ('b', '<i4')]", "[('a', '<f4'), ('b', '<i4')]", "structured"),
            ("('<f4', (2,))", "('<f4', (2,))", "sub-array"),
        ]
        for (literal, descr, why) in cases {
            guard case .unsupportedDType(let d, let reason)? = kind(npy("{'descr': \(literal), \(o), \(s)}", data: f4x2), literal) else {
                XCTFail("\(literal) not refused as a dtype"); continue
            }
            XCTAssertEqual(d, descr)
            XCTAssertTrue(reason.contains(why), "\(literal): \(reason)")
        }
    }

    func testGiantShapesAreRefusedBeforeAllocating() {
        let o = "'fortran_order': False"
        XCTAssertEqual(kind(npy("{'descr': '<f8', \(o), 'shape': (1099511627776, 1099511627776)}")),
                       .sizeOverflow(shape: [1 << 40, 1 << 40], itemSize: 8))
        XCTAssertEqual(kind(npy("{'descr': '<f8', \(o), 'shape': (1152921504606846976,)}")),
                       .sizeOverflow(shape: [1 << 60], itemSize: 8))
        XCTAssertEqual(kind(npy("{'descr': '<f8', \(o), 'shape': (1000000000, 8)}", data: f4x2)),
                       .truncated(reading: "array data", expected: 64_000_000_000, got: 8))
        // A zero axis makes any other axis harmless.
        XCTAssertEqual(try Npy.read(bytes: npy("{'descr': '<f8', \(o), 'shape': (0, 9223372036854775807)}")).count, 0)
    }

    func testHeaderEncodings() throws {
        // 1.0/2.0 headers are latin-1: any byte decodes, so junk shows up as a wrong key.
        var latin = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'X': 1}", data: f4x2)
        let x = latin.firstIndex(of: UInt8(ascii: "X"))!
        latin[x] = 0xE9
        XCTAssertEqual(kind(latin), .headerKeys(found: ["'descr'", "'fortran_order'", "'shape'", "'é'"]))
        // 3.0 headers must be UTF-8.
        let v3 = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'X': 1}", version: 3, data: f4x2)
        var bad = v3
        bad[bad.firstIndex(of: UInt8(ascii: "X"))!] = 0xE9
        XCTAssertEqual(kind(bad), .headerEncoding(encoding: "UTF-8"))
        var good = v3
        let xi = good.firstIndex(of: UInt8(ascii: "X"))!
        good.replaceSubrange(xi...xi, with: Array("é".utf8))
        good[12 - 4] = good[8] &+ 1   // header length grew by one byte
        XCTAssertEqual(kind(good), .headerKeys(found: ["'descr'", "'fortran_order'", "'shape'", "'é'"]))
    }

    func testErrorDescriptionsCarryContext() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.npy").path
        try Data(npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,)}", data: f4x2)).write(to: URL(fileURLWithPath: path))
        let e = expectNpyError("object") { _ = try Npy.read(path: path) }
        XCTAssertEqual(e?.file, path)
        XCTAssertEqual(e?.description.hasPrefix("\(path), byte 10: dtype '|O' is not supported: object arrays"), true, e?.description ?? "")
        let missing = expectNpyError("missing") { _ = try Npy.read(path: dir.appendingPathComponent("nope.npy").path) }
        XCTAssertEqual(missing?.kind, .cannotOpen(reason: "No such file or directory"))
        let directory = expectNpyError("directory") { _ = try Npy.read(path: dir.path) }
        XCTAssertEqual(directory?.kind, .notRegularFile(kind: "a directory, expected a file"))
    }
}
