import Foundation
import XCTest
import NpyIO

/// `losscli inspect` end to end: runs the built binary and checks stdout, stderr and
/// the exit code. `make test` builds the product first; `swift build` does too.
final class InspectTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The debug binary next to this test bundle (or .build/debug as a fallback).
    func binary() throws -> String {
        let bundleDir = Bundle(for: InspectTests.self).bundleURL.deletingLastPathComponent()
        for candidate in [bundleDir.appendingPathComponent("losscli"), Self.root.appendingPathComponent(".build/debug/losscli")] {
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
        }
        throw XCTSkip("losscli is not built: run `swift build --product losscli` (make test does)")
    }

    /// Runs losscli with stdout on a pipe (so JSON is the default format).
    func losscli(_ args: [String]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try binary())
        p.arguments = args
        p.currentDirectoryURL = Self.root
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    func json(_ text: String) throws -> [String: Any] {
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return try XCTUnwrap(doc["arrays"] as? [String: Any])
    }

    /// Reference: the NumPy description of each fixture (scripts/gen_npy_fixtures.py).
    func expected(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("fixtures/npy/expected.json"))
        let files = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["files"] as? [String: Any])
        return try XCTUnwrap(files[name] as? [String: Any])
    }

    func assertStats(_ got: [String: Any], _ exp: [String: Any], _ label: String) {
        XCTAssertEqual(got["dtype"] as? String, exp["dtype"] as? String, label)
        XCTAssertEqual(got["shape"] as? [Int], exp["shape"] as? [Int], label)
        XCTAssertEqual(got["fortran_order"] as? Bool, exp["fortran_order"] as? Bool, label)
        XCTAssertEqual(got["nonfinite"] as? Int, exp["nonfinite"] as? Int, label)
        for key in ["min", "max", "mean", "sum"] {
            let want = (exp[key] as? String).flatMap(Double.init) ?? (exp[key] as? Double)
            // JSON numbers, or "nan"/"inf"/"-inf" strings, or null for an empty array.
            let g = got[key]
            let value: Double? = (g as? String).flatMap(Double.init) ?? (g as? NSNumber)?.doubleValue
            if let want {
                guard let value else { XCTFail("\(label): \(key) missing"); continue }
                let ok = (want.isNaN && value.isNaN) || value == want || abs(value - want) <= 1e-12 * max(1, abs(want))
                XCTAssertTrue(ok, "\(label): \(key) = \(value), NumPy \(want)")
            } else {
                XCTAssertTrue(g is NSNull, "\(label): \(key) should be null, is \(String(describing: g))")
            }
        }
    }

    func testJSONWhenPipedMatchesNumPy() throws {
        let files = ["f4_le_C_v1.npy", "f8_be_F_v2.npy", "i2_be_C_v3.npy", "u8_le_F_v1.npy", "b1_na_C_v1.npy", "f2_be_F_v3.npy"]
        let r = try losscli(["inspect"] + files.map { "fixtures/npy/" + $0 })
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        let arrays = try json(r.stdout)
        XCTAssertEqual(arrays.count, files.count)
        for f in files {
            assertStats(try XCTUnwrap(arrays["fixtures/npy/" + f] as? [String: Any]), try expected(f), f)
        }
        // A file given twice is reported once.
        let twice = try losscli(["inspect", "fixtures/npy/shape_0.npy", "fixtures/npy/shape_0.npy"])
        XCTAssertEqual(twice.status, 0, twice.stderr)
        XCTAssertEqual(twice.stdout.components(separatedBy: "shape_0.npy").count, 2, twice.stdout)
        // Keys come out in the order given.
        let order = files.compactMap { r.stdout.range(of: "\"fixtures/npy/\($0)\"")?.lowerBound }
        XCTAssertEqual(order, order.sorted())
    }

    func testNpzArraysAreNamedByKey() throws {
        let r = try losscli(["inspect", "fixtures/npy/bundle_deflate.npz", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let arrays = try json(r.stdout)
        XCTAssertEqual(Set(arrays.keys), ["pred", "mask", "weight_F", "count", "empty"])
        let exp = try expected("bundle_deflate.npz")
        for (key, value) in arrays {
            assertStats(try XCTUnwrap(value as? [String: Any]), try XCTUnwrap(exp[key] as? [String: Any]), key)
        }
        XCTAssertTrue(r.stdout.contains("\"min\": null"), "empty array: min is null")
        // With several files, archive arrays are still named by their keys (the contract);
        // only keys that collide are qualified by the archive's path.
        let two = try losscli(["inspect", "fixtures/npy/bundle_stored.npz", "fixtures/npy/shape_0.npy"])
        XCTAssertEqual(two.status, 0, two.stderr)
        XCTAssertNotNil(try json(two.stdout)["pred"])
        XCTAssertNotNil(try json(two.stdout)["fixtures/npy/shape_0.npy"])
        let same = try losscli(["inspect", "fixtures/npy/bundle_stored.npz", "fixtures/npy/bundle_deflate.npz"])
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertNotNil(try json(same.stdout)["fixtures/npy/bundle_stored.npz:pred"])
        XCTAssertNotNil(try json(same.stdout)["fixtures/npy/bundle_deflate.npz:pred"])
    }

    func testNaNAndInfinityAreStrings() throws {
        let r = try losscli(["inspect", "fixtures/npy/nonfinite_f4.npy", "fixtures/npy/inf_only_f8.npy"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("\"min\": \"nan\""), r.stdout)
        XCTAssertTrue(r.stdout.contains("\"min\": \"-inf\""), r.stdout)
        XCTAssertTrue(r.stdout.contains("\"nonfinite\": 21"), r.stdout)
        let arrays = try json(r.stdout)
        assertStats(try XCTUnwrap(arrays["fixtures/npy/nonfinite_f4.npy"] as? [String: Any]), try expected("nonfinite_f4.npy"), "nonfinite")
    }

    func testTableFormat() throws {
        let r = try losscli(["inspect", "fixtures/npy/f4_le_F_v1.npy", "fixtures/npy/shape_scalar.npy", "--format", "table"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, r.stdout)
        XCTAssertEqual(lines[0].split(separator: " ", omittingEmptySubsequences: true),
                       ["NAME", "DTYPE", "SHAPE", "ORDER", "MIN", "MAX", "MEAN", "SUM", "NONFINITE"])
        let first = lines[1].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        XCTAssertEqual(first, ["fixtures/npy/f4_le_F_v1.npy", "<f4", "(3,", "4,", "2)", "F", "-5.853106", "3.402823e+38", "1.417843e+37", "3.402823e+38", "0"])
        let second = lines[2].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        XCTAssertEqual(second, ["fixtures/npy/shape_scalar.npy", "<f8", "()", "C", "2.5", "2.5", "2.5", "2.5", "0"])
        // Columns line up: every row starts its DTYPE cell at the same place.
        let col = lines[0].range(of: "DTYPE")!.lowerBound.utf16Offset(in: lines[0])
        XCTAssertEqual(lines[1].range(of: "<f4")!.lowerBound.utf16Offset(in: lines[1]), col)
        XCTAssertNil(try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)))
    }

    /// Without --format, a terminal gets the table (run under `script`, which gives it a pty).
    func testTableIsTheDefaultOnATerminal() throws {
        let script = "/usr/bin/script"
        guard FileManager.default.isExecutableFile(atPath: script) else { throw XCTSkip("no /usr/bin/script to provide a terminal") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: script)
        p.arguments = ["-qec", "\(try binary()) inspect fixtures/demo/weight.npy", "/dev/null"]
        p.currentDirectoryURL = Self.root
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        XCTAssertTrue(text.hasPrefix("NAME "), text)
        XCTAssertTrue(text.contains("fixtures/demo/weight.npy  <f4    (1, 1, 16, 16)  C      0    1    0.6640625  170  0"), text)
    }

    func testBadFileIsOneErrorLineAndExit2() throws {
        let bad = try losscli(["inspect", "fixtures/npy/f4_le_C_v1.npy", "Package.swift"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.stdout, "", "no partial report")
        XCTAssertEqual(bad.stderr, "losscli: error: Package.swift, byte 0: not a .npy, .npz or weight file: expected \\x93NUMPY, a ZIP signature, a PyTorch pickle or a safetensors header, found b'// swift'\n")

        let member = try losscli(["inspect", "fixtures/npy/bad_member.npz"])
        XCTAssertEqual(member.status, 2)
        XCTAssertEqual(member.stderr, "losscli: error: fixtures/npy/bad_member.npz, member 'bad.npy', byte 0: not a .npy file: expected the magic string \\x93NUMPY, found b'this is '\n")

        let missing = try losscli(["inspect", "no/such/file.npy"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertEqual(missing.stderr, "losscli: error: no/such/file.npy: cannot open: No such file or directory\n")
    }

    func testTruncatedAndHostileFilesNeverCrash() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("losscli-inspect-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try Data(contentsOf: Self.root.appendingPathComponent("fixtures/npy/bundle_deflate.npz"))
        var paths: [String] = []
        for cut in [10, 40, good.count / 2, good.count - 30] {
            let p = dir.appendingPathComponent("cut\(cut).npz").path
            try good.prefix(cut).write(to: URL(fileURLWithPath: p))
            paths.append(p)
        }
        let giant = Array("\u{93}NUMPY".unicodeScalars.map { UInt8($0.value) }) + [1, 0, 70, 0]
            + Array("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4)}".utf8) + [0x0a]
        let giantPath = dir.appendingPathComponent("giant.npy").path
        try Data(giant).write(to: URL(fileURLWithPath: giantPath))
        paths.append(giantPath)
        for p in paths {
            let r = try losscli(["inspect", p])
            XCTAssertEqual(r.status, 2, "\(p): \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("losscli: error: \(p)"), r.stderr)
            XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
            XCTAssertEqual(r.stdout, "")
        }
    }

    /// A .safetensors file (detected by its bytes) is a weight file: format `safetensors`, each
    /// tensor under its key, bfloat16 shown as `<bf16`; a hostile one is one error line.
    func testSafetensorsFormatAndTensors() throws {
        let path = "fixtures/safetensors/scalar_empty.safetensors"
        let r = try losscli(["inspect", path, "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual((doc["formats"] as? [String: String])?[path], "safetensors")
        let arrays = try XCTUnwrap(doc["arrays"] as? [String: Any])
        XCTAssertEqual(Set(arrays.keys), ["scalar", "scalar_bf16", "empty", "empty_i64", "weight"])
        let bf16 = try XCTUnwrap(arrays["scalar_bf16"] as? [String: Any])
        XCTAssertEqual(bf16["dtype"] as? String, "<bf16")
        XCTAssertEqual(bf16["shape"] as? [Int], [])
        XCTAssertEqual((bf16["sum"] as? NSNumber)?.doubleValue, -3)
        let weight = try XCTUnwrap(arrays["weight"] as? [String: Any])
        XCTAssertEqual((weight["max"] as? NSNumber)?.doubleValue, 1.25)

        let table = try losscli(["inspect", path, "--format", "table"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.hasSuffix("\(path): safetensors\n"), table.stdout)

        let hole = try losscli(["inspect", "fixtures/safetensors/hole.safetensors"])
        XCTAssertEqual(hole.status, 2)
        XCTAssertEqual(hole.stdout, "")
        XCTAssertTrue(hole.stderr.hasPrefix("losscli: error: fixtures/safetensors/hole.safetensors, byte "), hole.stderr)
        XCTAssertTrue(hole.stderr.contains("safetensors: the data has a hole"), hole.stderr)
        XCTAssertEqual(hole.stderr.filter { $0 == "\n" }.count, 1, hole.stderr)
    }

    func testUsageErrorsAndHelp() throws {
        let none = try losscli(["inspect"])
        XCTAssertEqual(none.status, 2)
        XCTAssertEqual(none.stderr, "losscli: error: give at least one .npy or .npz file to inspect\n")
        let format = try losscli(["inspect", "x.npy", "--format", "xml"])
        XCTAssertEqual(format.status, 2)
        XCTAssertTrue(format.stderr.hasPrefix("losscli: error: ") && format.stderr.contains("'xml'"), format.stderr)
        XCTAssertEqual(format.stderr.filter { $0 == "\n" }.count, 1, format.stderr)
        let unknown = try losscli(["inspect", "x.npy", "--frobnicate"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertEqual(unknown.stderr.filter { $0 == "\n" }.count, 1, unknown.stderr)
        let sub = try losscli(["frobnicate"])
        XCTAssertEqual(sub.status, 2)
        XCTAssertTrue(sub.stderr.hasPrefix("losscli: error: "), sub.stderr)
        let help = try losscli(["inspect", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertEqual(help.stderr, "")
        XCTAssertTrue(help.stdout.contains("losscli inspect fixtures/cli/bundle.npz --format json"), help.stdout)
        let limit = try losscli(["inspect", "fixtures/npy/f4_le_C_v1.npy", "--max-header-size", "50"])
        XCTAssertEqual(limit.status, 2)
        XCTAssertTrue(limit.stderr.contains("more than the limit of 50"), limit.stderr)
    }
}
