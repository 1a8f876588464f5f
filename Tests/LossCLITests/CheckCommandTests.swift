import Foundation
import NpyIO
import XCTest

/// `losscli check` against golden files: MMagic's own (made with PyTorch) and edited copies.
final class CheckCommandTests: XCTestCase {
    /// LossKit's values and every gradient element match MMagic's within the default tolerances.
    func testMatchesMMagicGolden() throws {
        let r = try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", "golden_f32.json",
                                     "--grad-golden", "golden_f32.npz", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let json = try r.json()
        XCTAssertEqual(json["match"] as? Bool, true)
        let rows = try XCTUnwrap(json["comparisons"] as? [[String: Any]])
        // 5 terms + total + 2 + 3 + 3 + 2 + 1 + 2 gradient arrays (total reads five inputs).
        let values = rows.filter { $0["kind"] as? String == "value" }
        let grads = rows.filter { $0["kind"] as? String == "gradient" }
        XCTAssertEqual(values.count, 6)
        XCTAssertEqual(grads.count, try NpzArchive.read(contentsOf: EvalHarness.fixtures.appendingPathComponent("golden_f32.npz")).names.count)
        for row in rows {
            XCTAssertNotNil(row["golden"] as? NSNumber, "\(row)")
            XCTAssertNotNil(row["got"] as? NSNumber, "\(row)")
            XCTAssertEqual(row["match"] as? Bool, true, "\(row)")
        }
        XCTAssertEqual(json["mismatches"] as? [String], [])
    }

    /// List-valued data_info (TransferalPerceptualLoss's maps and textures) from an --inputs
    /// archive: value and all seven gradients as MMagic's.
    func testListValuedDataInfoMatchesMMagic() throws {
        let r = try EvalHarness.run(["check", "--config", "ttsr.json", "--inputs", "ttsr.npz", "--golden", "golden_ttsr.json",
                                     "--grad-golden", "golden_ttsr.npz", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let rows = try XCTUnwrap(try r.json()["comparisons"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 2 + 14)
    }

    /// float64 computation against MMagic in float64, with tolerances a float32 run could not meet.
    func testMatchesMMagicGoldenInFloat64() throws {
        let r = try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", "golden_f64.json",
                                     "--grad-golden", "golden_f64.npz", "--precision", "f64", "--rtol", "1e-12", "--atol", "1e-15"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let f32 = try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", "golden_f64.json",
                                       "--rtol", "1e-12", "--atol", "1e-15"])
        XCTAssertEqual(f32.status, 1, "float32 values cannot match float64 ones to 1e-12")
    }

    /// eval's own JSON is a golden for check: the round trip matches exactly.
    func testEvalOutputIsAGolden() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let grads = dir.appendingPathComponent("g.npz")
        let golden = dir.appendingPathComponent("golden.json")
        let e = try EvalHarness.run(["eval", "--config", "mmagic.json", "--grad-out", grads.path])
        XCTAssertEqual(e.status, 0, e.stderr)
        try e.stdout.write(to: golden, atomically: true, encoding: .utf8)
        let r = try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", golden.path, "--grad-golden", grads.path,
                                     "--rtol", "0", "--atol", "0", "--format", "table"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("match: all"), r.stdout)
    }

    func editedGolden(_ edit: (inout [String: Any]) -> Void) throws -> URL {
        let data = try Data(contentsOf: EvalHarness.fixtures.appendingPathComponent("golden_f32.json"))
        var json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        edit(&json)
        let url = try EvalHarness.temporaryDirectory(self).appendingPathComponent("golden.json")
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return url
    }

    /// A changed value: exit 1, a table row with both numbers and the difference.
    func testMismatchExitsOneWithTable() throws {
        var original = 0.0
        let url = try editedGolden { json in
            var terms = json["terms"] as! [String: [String: Any]]
            original = (terms["mse_loss"]!["value"] as! NSNumber).doubleValue
            terms["mse_loss"]!["value"] = original * 1.001
            json["terms"] = terms
        }
        let r = try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", url.path, "--format", "table"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        let row = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.contains("mse_loss") })
        XCTAssertTrue(row.contains("MISMATCH"), String(row))
        let cells = row.split(separator: " ").map(String.init)
        let numbers = cells.compactMap(Double.init)
        XCTAssertGreaterThanOrEqual(numbers.count, 3, String(row))
        // The golden is read in the precision of the computation (float32 here).
        XCTAssertEqual(Float(numbers[0]), Float(original * 1.001), "golden column")
        assertClose(numbers[1], original, rtol: 2e-6, "got column")
        assertClose(numbers[2], original * 0.001, rtol: 1e-2, "difference column")
        XCTAssertTrue(r.stdout.contains("MISMATCH: 1 of 6"), r.stdout)
        // Every other comparison is listed too, as a match.
        XCTAssertTrue(r.stdout.split(separator: "\n").contains { $0.contains("pixel_loss") && $0.hasSuffix("ok") })
        // The same run passes with a tolerance that covers the change.
        let loose = try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", url.path, "--rtol", "2e-3"])
        XCTAssertEqual(loose.status, 0, loose.stdout)
    }

    /// A term missing on either side is a mismatch.
    func testMissingTermsAreMismatches() throws {
        let url = try editedGolden { json in
            var terms = json["terms"] as! [String: [String: Any]]
            terms["extra_loss"] = ["type": "L1Loss", "value": 1.0, "shape": [Int](), "in_total": true]
            terms["gan_loss"] = nil
            json["terms"] = terms
        }
        let r = try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", url.path, "--format", "json"])
        XCTAssertEqual(r.status, 1)
        let json = try r.json()
        XCTAssertEqual(json["match"] as? Bool, false)
        XCTAssertEqual(Set(json["mismatches"] as? [String] ?? []), ["extra_loss", "gan_loss"])
        let rows = try XCTUnwrap(json["comparisons"] as? [[String: Any]])
        let extra = try XCTUnwrap(rows.first { $0["name"] as? String == "extra_loss" })
        XCTAssertEqual(extra["note"] as? String, "missing in result")
        XCTAssertTrue(extra["got"] is NSNull)
        let gan = try XCTUnwrap(rows.first { $0["name"] as? String == "gan_loss" })
        XCTAssertEqual(gan["note"] as? String, "missing in golden")
    }

    /// One gradient element off: the array is a mismatch naming the element and both numbers.
    func testGradientElementMismatch() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let reference = try NpzArchive.read(contentsOf: EvalHarness.fixtures.appendingPathComponent("golden_f32.npz"))
        var arrays: [(String, NpyArray)] = []
        for (name, array) in try reference.arrays() {
            if name == "total/pred" {
                var values = array.toFloat32()
                values[5] += 0.01
                arrays.append((name, NpyArray(float32: values, shape: array.shape)))
            } else {
                arrays.append((name, array))
            }
        }
        let edited = dir.appendingPathComponent("g.npz")
        try NpzArchive.write(arrays, to: edited, compressed: false)
        let r = try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", "golden_f32.json",
                                     "--grad-golden", edited.path, "--format", "json"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        let json = try r.json()
        XCTAssertEqual(json["mismatches"] as? [String], ["total/pred"])
        let row = try XCTUnwrap((json["comparisons"] as? [[String: Any]])?.first { $0["name"] as? String == "total/pred" })
        XCTAssertEqual(row["index"] as? Int, 5)
        XCTAssertEqual(row["mismatched_elements"] as? Int, 1)
        XCTAssertEqual(row["elements"] as? Int, 96)
        let golden = try XCTUnwrap((row["golden"] as? NSNumber)?.doubleValue)
        let got = try XCTUnwrap((row["got"] as? NSNumber)?.doubleValue)
        assertClose(golden - got, 0.01, rtol: 1e-4, "difference of the edited element")
    }

    func testCheckErrors() throws {
        assertUsageError(try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", "nope.json"]),
                         mentions: ["nope.json", "no such file"])
        assertUsageError(try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", "l1.json"]),
                         mentions: ["l1.json", "terms"])
        assertUsageError(try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", "golden_f32.json",
                                              "--grad-golden", "truncated.npy"]),
                         mentions: ["--grad-golden", "truncated.npy"])
        assertUsageError(try EvalHarness.run(["check", "--config", "mmagic.json", "--golden", "golden_f32.json", "--rtol", "-1"]),
                         mentions: ["--rtol"])
        assertUsageError(try EvalHarness.run(["check", "--config", "mmagic.json"]), mentions: ["--golden"])
    }
}
