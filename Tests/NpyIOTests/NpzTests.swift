import Foundation
import XCTest
@testable import NpyIO

/// `.npz` archives: NumPy's own (stored, deflate, with data descriptors), ours read back
/// by us and by NumPy, and damaged ones.
final class NpzTests: XCTestCase {
    func testNumPyArchivesMatchNumPy() throws {
        for name in ["bundle_stored.npz", "bundle_deflate.npz", "bundle_descriptor.npz"] {
            let exp = try XCTUnwrap(Fixtures.expected[name] as? [String: Any], name)
            let z = try NpzArchive.read(path: Fixtures.path(name))
            let order = name == "bundle_descriptor.npz" ? ["pred", "weight_F"] : ["pred", "mask", "weight_F", "count", "empty"]
            XCTAssertEqual(z.names, order, name)
            for key in z.names {
                assertMatchesNumPy(try z.array(named: key), try XCTUnwrap(exp[key] as? [String: Any]), "\(name):\(key)")
            }
            // Full member names work too, as with np.load's NpzFile.
            XCTAssertEqual(try z.array(named: "pred.npy").shape, [2, 3, 4])
        }
    }

    func testLoadTellsNpyFromNpzByContent() throws {
        guard case .archive(let z) = try Npy.load(path: Fixtures.path("bundle_deflate.npz")) else { return XCTFail("not an archive") }
        XCTAssertEqual(z.names.count, 5)
        guard case .array(let a) = try Npy.load(path: Fixtures.path("f4_le_C_v1.npy")) else { return XCTFail("not an array") }
        XCTAssertEqual(a.shape, [3, 4, 2])
    }

    func testMemberThatIsNotNpyIsNamed() throws {
        let z = try NpzArchive.read(path: Fixtures.path("bad_member.npz"))
        XCTAssertEqual(z.names, ["good", "bad"])
        XCTAssertEqual(try z.array(named: "good").toFloat64(), [-2, -1, 0, 1, 2])
        let e = expectNpyError("bad member") { _ = try z.array(named: "bad") }
        XCTAssertEqual(e?.member, "bad.npy")
        XCTAssertEqual(e?.file, Fixtures.path("bad_member.npz"))
        XCTAssertEqual(e?.kind, .notNpy(foundPrefix: Array("this is ".utf8)))
        XCTAssertEqual(expectNpyError("missing") { _ = try z.array(named: "nope") }?.kind, .noSuchMember(name: "nope", available: ["good", "bad"]))
        XCTAssertEqual(expectNpyError("duplicate") { _ = try NpzArchive.read(path: Fixtures.path("duplicate.npz")) }?.kind,
                       .duplicateMember(name: "x"))
    }

    /// Offset of the first byte of member data (the `\x93NUMPY` of a stored member).
    func firstNpyOffset(_ bytes: [UInt8]) -> Int {
        (0..<(bytes.count - 6)).first { Array(bytes[$0..<($0 + 6)]) == NpyFormat.magic }!
    }

    func centralDirectoryOffset(_ bytes: [UInt8]) -> Int {
        (0..<(bytes.count - 4)).first { bytes[$0] == 0x50 && bytes[$0 + 1] == 0x4b && bytes[$0 + 2] == 1 && bytes[$0 + 3] == 2 }!
    }

    func testCorruptionIsDetected() throws {
        let stored = try Fixtures.bytes("bundle_stored.npz")
        // A flipped data byte: the CRC says so.
        var flipped = stored
        flipped[firstNpyOffset(stored) + 130] ^= 0x40
        let crc = expectNpyError("crc") { _ = try NpzArchive.read(bytes: flipped).array(named: "pred") }
        guard case .crcMismatch? = crc?.kind else { return XCTFail("\(String(describing: crc))") }
        XCTAssertEqual(crc?.member, "pred.npy")
        // The other members are still readable.
        XCTAssertEqual(try NpzArchive.read(bytes: flipped).array(named: "count").count, 5)

        // Damage inside a deflate stream: zlib or the CRC catches it.
        let deflated = try Fixtures.bytes("bundle_deflate.npz")
        var broken = deflated
        broken[70] ^= 0xFF
        broken[71] ^= 0xFF
        let inflate = expectNpyError("inflate") { _ = try NpzArchive.read(bytes: broken).array(named: "pred") }
        switch inflate?.kind {
        case .inflateFailed?, .crcMismatch?, .sizeMismatch?: break
        default: XCTFail("\(String(describing: inflate))")
        }

        // Compression method 12 (bzip2) in the central directory.
        var method = stored
        method[centralDirectoryOffset(stored) + 10] = 12
        XCTAssertEqual(expectNpyError("method") { _ = try NpzArchive.read(bytes: method).array(named: "pred") }?.kind,
                       .unsupportedCompression(method: 12))
        // Encryption flag.
        var encrypted = stored
        encrypted[centralDirectoryOffset(stored) + 8] |= 1
        XCTAssertEqual(expectNpyError("encrypted") { _ = try NpzArchive.read(bytes: encrypted).array(named: "pred") }?.kind,
                       .encryptedMember)
        // A deflate member claiming far more than its compressed size can produce.
        var giant = deflated
        let cd = centralDirectoryOffset(deflated)
        for i in 0..<4 { giant[cd + 24 + i] = [0x00, 0x00, 0x00, 0x7F][i] }
        let claim = expectNpyError("giant") { _ = try NpzArchive.read(bytes: giant).array(named: "pred") }
        guard case .zipStructure(let message)? = claim?.kind else { return XCTFail("\(String(describing: claim))") }
        XCTAssertTrue(message.contains("more than deflate can produce"), message)
    }

    func testTruncatedArchives() throws {
        let stored = try Fixtures.bytes("bundle_stored.npz")
        XCTAssertEqual(expectNpyError("empty") { _ = try NpzArchive.read(bytes: []) }?.kind, .notZip(reason: "the file is empty"))
        // Every cut that loses the end record says so; none traps.
        for n in stride(from: 1, to: stored.count, by: 7) {
            let e = expectNpyError("cut \(n)") { _ = try NpzArchive.read(bytes: Array(stored[0..<n])).arrays() }
            switch e?.kind {
            case .notZip?, .truncated?: break
            default: XCTFail("cut at \(n): \(String(describing: e))")
            }
        }
        // Central directory pointing past the end.
        var wrong = stored
        let eocd = stored.count - 22
        wrong[eocd + 16] = 0xFF; wrong[eocd + 17] = 0xFF; wrong[eocd + 18] = 0x00
        guard case .zipStructure? = expectNpyError("cd offset") { _ = try NpzArchive.read(bytes: wrong) }?.kind else {
            return XCTFail("bad directory offset accepted")
        }
    }

    func testWriterRoundTripsEveryDType() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Every fixture array, in its own dtype and order.
        var arrays: [(String, NpyArray)] = []
        for name in Fixtures.expected.keys.filter({ $0.hasSuffix("_v1.npy") }).sorted() {
            arrays.append((String(name.dropLast(4)), try Npy.read(path: Fixtures.path(name))))
        }
        XCTAssertEqual(arrays.count, 42)
        for (compressed, zip64) in [(false, false), (true, false), (false, true), (true, true)] {
            let url = dir.appendingPathComponent("out-\(compressed)-\(zip64).npz")
            try NpzArchive.write(arrays, path: url.path, compressed: compressed, forceZip64: zip64)
            let back = try NpzArchive.read(contentsOf: url)
            XCTAssertEqual(back.names, arrays.map(\.0))
            for (key, original) in arrays {
                let a = try back.array(named: key)
                XCTAssertEqual(a.dtype, original.dtype, key)
                XCTAssertEqual(a.shape, original.shape, key)
                XCTAssertEqual(a.fortranOrder, original.fortranOrder, key)
                XCTAssertEqual(a.withUnsafeDataBytes(Array.init), original.withUnsafeDataBytes(Array.init), key)
            }
        }
        let single = dir.appendingPathComponent("one.npy")
        try Npy.write(arrays[0].1, to: single)
        XCTAssertEqual(try Data(contentsOf: single), Data(try Fixtures.bytes(arrays[0].0 + ".npy")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }, [])
    }

    /// What we write, NumPy reads: every dtype, both npz flavours, ZIP64 records.
    func testNumPyReadsWhatWeWrite() throws {
        guard let python = pythonWithNumPy() else { throw XCTSkip("python3 with NumPy not available") }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var arrays: [(String, NpyArray)] = []
        for name in Fixtures.expected.keys.filter({ $0.hasSuffix("_v1.npy") }).sorted() {
            arrays.append((String(name.dropLast(4)), try Npy.read(path: Fixtures.path(name))))
        }
        arrays.append(("float32_from_swift", NpyArray(float32: [1.5, -2, .infinity, 0.1], shape: [2, 2])))
        arrays.append(("scalar", NpyArray(float64: [3.25], shape: [])))
        for (i, (key, a)) in arrays.enumerated() where i % 5 == 0 || key.hasSuffix("swift") {
            try Npy.write(a, path: dir.appendingPathComponent(key + ".npy").path)
        }
        try NpzArchive.write(arrays, path: dir.appendingPathComponent("stored.npz").path, compressed: false)
        try NpzArchive.write(arrays, path: dir.appendingPathComponent("deflate.npz").path, compressed: true)
        try NpzArchive.write(arrays, path: dir.appendingPathComponent("zip64.npz").path, compressed: true, forceZip64: true)
        let script = """
        import json, os, sys, zipfile
        import numpy as np
        d = sys.argv[1]
        out = {}
        for f in sorted(os.listdir(d)):
            p = os.path.join(d, f)
            if f.endswith('.npz'):
                assert zipfile.ZipFile(p).testzip() is None
                z = np.load(p)
                items = [(f + ':' + k, z[k]) for k in z.files]
            else:
                items = [(f, np.load(p))]
            for k, a in items:
                out[k] = [a.dtype.str, list(a.shape), bool(a.flags.f_contiguous and not a.flags.c_contiguous),
                          [repr(float(x)) for x in np.ascontiguousarray(a).astype(np.float64).ravel()]]
        print(json.dumps(out))
        """
        let r = try runProcess(python, ["-c", script, dir.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let seen = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: [Any]])
        var checked = 0
        for (key, a) in arrays {
            let files = ["stored.npz:\(key)", "deflate.npz:\(key)", "zip64.npz:\(key)", "\(key).npy"]
            for f in files {
                guard let entry = seen[f] else { XCTAssertTrue(f.hasSuffix(".npy"), "NumPy did not see \(f)"); continue }
                XCTAssertEqual(entry[0] as? String, a.dtype.descr, f)
                XCTAssertEqual(entry[1] as? [Int], a.shape, f)
                XCTAssertEqual(entry[2] as? Bool, a.fortranOrder && a.shape.count > 1 && a.count > 1, f)
                let values = (entry[3] as? [String] ?? []).compactMap(Double.init)
                XCTAssertEqual(values.count, a.count, f)
                XCTAssertTrue(zip(values, a.toFloat64()).allSatisfy { sameValue($0, $1) }, f)
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 130)
    }

    /// Files that cannot be written leave nothing behind.
    func testFailedWritesLeaveNoFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = NpyArray(float32: [1, 2], shape: [2])
        let noDir = expectNpyError("no directory") { try Npy.write(a, path: dir.appendingPathComponent("missing/x.npy").path) }
        guard case .cannotCreate(let reason)? = noDir?.kind else { return XCTFail("\(String(describing: noDir))") }
        XCTAssertEqual(reason, "the folder \(dir.appendingPathComponent("missing").path) does not exist")
        // The target is a directory: rename fails after the data was written.
        let target = dir.appendingPathComponent("target.npz")
        try FileManager.default.createDirectory(at: target.appendingPathComponent("inner"), withIntermediateDirectories: true)
        let renamed = expectNpyError("rename") { try NpzArchive.write([("a", a)], path: target.path, compressed: true) }
        guard case .ioFailed(let op, _)? = renamed?.kind else { return XCTFail("\(String(describing: renamed))") }
        XCTAssertEqual(op, "rename")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["target.npz"])
        XCTAssertEqual(expectNpyError("dup") { try NpzArchive.write([("a", a), ("a", a)], path: dir.appendingPathComponent("d.npz").path, compressed: false) }?.kind,
                       .duplicateMember(name: "a"))
        let long = String(repeating: "k", count: 70_000)
        guard case .invalidArray? = expectNpyError("long key") { try NpzArchive.write([(long, a)], path: dir.appendingPathComponent("l.npz").path, compressed: false) }?.kind else {
            return XCTFail("a 70,000-byte key was accepted")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["target.npz"])
    }

    /// The writer switches to format 2.0 when the header outgrows 16 bits (NumPy's rule).
    func testVersion2WhenHeaderNeedsIt() throws {
        let shape = [Int](repeating: 1, count: 30_000)
        let header = try NpyFormat.encodeHeader(dtype: .float32, shape: shape, fortranOrder: false)
        XCTAssertEqual(header[6], 2)
        XCTAssertEqual(header.count % 64, 0)
        XCTAssertEqual(header.last, 0x0a)
        let small = try NpyFormat.encodeHeader(dtype: .float32, shape: [2], fortranOrder: false)
        XCTAssertEqual(small[6], 1)
        var bytes = header
        bytes += [0, 0, 0x80, 0x3f]
        let back = try Npy.read(bytes: bytes, options: NpyReadOptions(maxHeaderSize: 1 << 20))
        XCTAssertEqual(back.shape, shape)
        XCTAssertEqual(back.toFloat32(), [1])
    }

    /// Python's zipfile (which np.savez uses) writes a ZIP64 end record once an archive
    /// has 65,535 members or more; such an archive is made on the fly (too big to commit).
    /// It also guards against quadratic work in the number of members.
    func testPythonZip64EndRecord() throws {
        guard let python = pythonWithNumPy() else { throw XCTSkip("python3 with NumPy not available") }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("many.npz").path
        let script = """
        import io, sys, zipfile
        import numpy as np
        b = io.BytesIO(); np.lib.format.write_array(b, np.array([0], dtype="<i4"))
        header = b.getvalue()[:-4]
        with zipfile.ZipFile(sys.argv[1], "w") as z:
            for i in range(70000):
                z.writestr(f"a{i}.npy", header + int(i).to_bytes(4, "little"))
        """
        let r = try runProcess(python, ["-c", script, path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertNotNil(bytes.range(of: Data([0x50, 0x4b, 0x06, 0x06])), "no ZIP64 end record written")
        let z = try NpzArchive.read(path: path)
        XCTAssertEqual(z.names.count, 70000)
        XCTAssertEqual(z.names.last, "a69999")
        XCTAssertEqual(try z.array(named: "a69999").toFloat64(), [69999])
        XCTAssertEqual(try z.array(named: "a12345").toFloat64(), [12345])
    }
}
