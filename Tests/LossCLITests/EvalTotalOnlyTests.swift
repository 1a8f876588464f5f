import Foundation
import NpyIO
import XCTest

/// `eval --total-only`: only the total's gradients, equal to MMagic's (PyTorch autograd of the
/// summed losses, golden_f32.npz from fixtures/cli/gen_fixtures.py).
final class EvalTotalOnlyTests: XCTestCase {
    func testTotalOnlyWritesTheTotalsGradientsAsMMagicGivesThem() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let out = dir.appendingPathComponent("grads.npz")
        let result = try EvalHarness.run(["eval", "--config", "mmagic.json", "--total-only", "--grad-out", out.path, "--format", "json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try result.json()
        let gradients = try XCTUnwrap(json["gradients"] as? [String: Any])
        XCTAssertEqual(Array(gradients.keys), ["total"])
        let got = try NpzArchive.read(contentsOf: out)
        let reference = try NpzArchive.read(contentsOf: EvalHarness.fixtures.appendingPathComponent("golden_f32.npz"))
        let totalKeys = reference.names.filter { $0.hasPrefix("total/") }
        XCTAssertFalse(totalKeys.isEmpty)
        XCTAssertEqual(Set(got.names), Set(totalKeys))
        for key in totalKeys {
            let a = try got.array(named: key).toFloat64(), b = try reference.array(named: key).toFloat64()
            XCTAssertEqual(a.count, b.count, key)
            let scale = b.map(abs).max() ?? 0
            XCTAssertGreaterThan(scale, 0, key)
            for (x, y) in zip(a, b) { assertClose(x, y, rtol: 1e-5, atol: 1e-6 * scale, key) }
        }
        // The values are those of the default run.
        let full = try EvalHarness.run(["eval", "--config", "mmagic.json", "--format", "json"])
        XCTAssertEqual(full.status, 0, full.stderr)
        XCTAssertEqual((try full.json()["total"] as? NSNumber)?.doubleValue, (json["total"] as? NSNumber)?.doubleValue)
    }
}

/// `eval --repeat N`: the same report as one run, plus the warm timings with `--timing`.
final class EvalRepeatTests: XCTestCase {
    func testRepeatGivesTheSameReportAndWarmTimings() throws {
        let once = try EvalHarness.run(["eval", "--config", "mmagic.json", "--format", "json"])
        XCTAssertEqual(once.status, 0, once.stderr)
        let repeated = try EvalHarness.run(["eval", "--config", "mmagic.json", "--format", "json", "--repeat", "3", "--timing"])
        XCTAssertEqual(repeated.status, 0, repeated.stderr)
        var a = try once.json(), b = try repeated.json()
        let timing = try XCTUnwrap(b.removeValue(forKey: "timing_ms") as? [String: Any])
        for key in ["load", "forward", "backward", "forward_warm", "backward_warm", "write"] {
            XCTAssertGreaterThanOrEqual(try jsonDouble(timing[key], key), 0, key)
        }
        a.removeValue(forKey: "timing_ms")
        XCTAssertEqual(NSDictionary(dictionary: a), NSDictionary(dictionary: b))
        // One run: no warm timings.
        let single = try EvalHarness.run(["eval", "--config", "mmagic.json", "--format", "json", "--timing"])
        let t1 = try XCTUnwrap(try single.json()["timing_ms"] as? [String: Any])
        XCTAssertNil(t1["forward_warm"])
        for bad in ["0", "-1", "1001", "x"] {
            let r = try EvalHarness.run(["eval", "--config", "mmagic.json", "--repeat", bad])
            XCTAssertEqual(r.status, 2, "--repeat \(bad): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("repeat"), r.stderr)
        }
    }
}
