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
