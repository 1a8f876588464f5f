import Foundation
import NpyIO
import XCTest

/// `check` from outside: NumPy's isclose at its boundary with the user's --rtol/--atol,
/// every comparison listed with both numbers, missing terms, exit codes 0/1/2.
final class AcceptanceCheckTests: XCTestCase {
    /// Records an f64 golden of the MMagic-shaped config; returns (golden JSON object, folder).
    func record() throws -> ([String: Any], URL) {
        let dir = try EvalHarness.temporaryDirectory(self)
        let r = try EvalHarness.run(["eval", "--config", "mmagic.json", "--precision", "f64",
                                     "--grad-out", dir.appendingPathComponent("g.npz").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        return (try r.json(), dir)
    }

    func write(_ object: [String: Any], _ url: URL) throws {
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    func check(_ golden: URL, _ extra: [String] = []) throws -> EvalHarness.Result {
        try EvalHarness.run(["check", "--config", "mmagic.json", "--precision", "f64", "--golden", golden.path,
                             "--format", "json"] + extra)
    }

    /// |got - golden| <= atol + rtol * |golden|, with the tolerance scaled by the golden side.
    func testIsCloseBoundaryWithUserTolerances() throws {
        let (golden, dir) = try record()
        let total = try jsonDouble(golden["total"])
        let url = dir.appendingPathComponent("edited.json")
        let rtol = 1e-3, atol = 1e-4
        // Just inside and just outside, on both sides of the computed total.
        for (factor, sign, matches) in [(0.9, 1.0, true), (1.1, 1.0, false), (0.9, -1.0, true), (1.1, -1.0, false)] {
            var edited = golden
            // Solve |t - b| = factor * (atol + rtol * |b|) for b on the chosen side (b > 0).
            let b = sign > 0 ? (total + factor * atol) / (1 - factor * rtol) : (total - factor * atol) / (1 + factor * rtol)
            edited["total"] = b
            try write(edited, url)
            let r = try check(url, ["--rtol", "\(rtol)", "--atol", "\(atol)"])
            XCTAssertEqual(r.status, matches ? 0 : 1, "factor \(factor) sign \(sign): \(r.stdout) \(r.stderr)")
            let json = try r.json()
            XCTAssertEqual(json["match"] as? Bool, matches)
            let comparisons = try XCTUnwrap(json["comparisons"] as? [[String: Any]])
            let row = try XCTUnwrap(comparisons.first { $0["name"] as? String == "total" && $0["kind"] as? String == "value" })
            assertClose(try jsonDouble(row["golden"]), b, rtol: 1e-15, "golden number listed")
            assertClose(try jsonDouble(row["got"]), total, rtol: 1e-15, "computed number listed")
            assertClose(try jsonDouble(row["tolerance"]), atol + rtol * abs(b), rtol: 1e-12, "tolerance")
            XCTAssertEqual(json["mismatches"] as? [String], matches ? [] : ["total"])
        }
    }

    /// Every term and the total are listed (and, with --grad-golden, every gradient array);
    /// a term missing on either side is a mismatch naming it; the table has both numbers.
    func testEveryComparisonListedAndMissingTermsMismatch() throws {
        let (golden, dir) = try record()
        let url = dir.appendingPathComponent("golden.json")
        try write(golden, url)
        let grads = dir.appendingPathComponent("g.npz")
        let ok = try check(url, ["--grad-golden", grads.path])
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        let comparisons = try XCTUnwrap(try ok.json()["comparisons"] as? [[String: Any]])
        let terms = try XCTUnwrap(golden["terms"] as? [String: Any])
        let arrays = try NpzArchive.read(contentsOf: grads).names
        XCTAssertEqual(comparisons.count, terms.count + 1 + arrays.count)
        XCTAssertEqual(Set(comparisons.compactMap { $0["kind"] as? String == "value" ? $0["name"] as? String : nil }),
                       Set(terms.keys).union(["total"]))

        var edited = golden
        var editedTerms = terms
        editedTerms.removeValue(forKey: "pixel_loss")
        editedTerms["ghost_loss"] = ["type": "L1Loss", "value": 1.0, "shape": [Int](), "in_total": true]
        edited["terms"] = editedTerms
        try write(edited, url)
        let r = try check(url)
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertEqual(Set(try r.json()["mismatches"] as? [String] ?? []), ["pixel_loss", "ghost_loss"])
        let table = try EvalHarness.run(["check", "--config", "mmagic.json", "--precision", "f64", "--golden", url.path,
                                         "--format", "table"])
        XCTAssertEqual(table.status, 1)
        let row = try XCTUnwrap(table.stdout.split(separator: "\n").first { $0.contains("mse_loss") })
        let mse = try jsonDouble((terms["mse_loss"] as? [String: Any])?["value"])
        // Both numbers on the row, golden then got (the same here), in full float64 digits.
        XCTAssertEqual(row.split(separator: " ").filter { $0 == "\(mse)" }.count, 2, String(row))
        XCTAssertTrue(table.stdout.contains("ghost_loss") && table.stdout.contains("pixel_loss"), table.stdout)
    }

    /// Exit 2 (nothing compared, one error line) for an unusable golden or tolerance.
    func testUnusableGoldenExitsTwo() throws {
        let (_, dir) = try record()
        let bad = dir.appendingPathComponent("bad.json")
        try #"{"terms": {"pixel_loss": {"value": true}}, "total": 1}"#.write(to: bad, atomically: true, encoding: .utf8)
        assertUsageError(try check(bad), mentions: ["bad.json", "pixel_loss"])
        assertUsageError(try check(dir.appendingPathComponent("none.json")), mentions: ["none.json"])
        assertUsageError(try check(dir.appendingPathComponent("g.npz")), mentions: ["g.npz"])
        let good = dir.appendingPathComponent("good.json")
        try #"{"terms": {}, "total": 1}"#.write(to: good, atomically: true, encoding: .utf8)
        assertUsageError(try check(good, ["--rtol", "abc"]), mentions: ["abc"])
        assertUsageError(try check(good, ["--rtol", "-1"]), mentions: ["--rtol", "-1", ">= 0"])
        assertUsageError(try check(good, ["--atol", "-1e-3"]), mentions: ["--atol", ">= 0"])
        assertUsageError(try check(good, ["--grad-golden", bad.path]), mentions: ["bad.json"])
    }
}
