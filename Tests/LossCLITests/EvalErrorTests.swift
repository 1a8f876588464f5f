import Foundation
import XCTest

/// Each error class of the contract: exit 2, one `losscli: error: ...` line naming the file,
/// key, term or argument, nothing on stdout and no output file left behind.
final class EvalErrorTests: XCTestCase {
    func eval(_ args: [String]) throws -> EvalHarness.Result { try EvalHarness.run(["eval"] + args) }

    func testBadConfigJSON() throws {
        assertUsageError(try eval(["--config", "bad_json.json", "--inputs", "bundle.npz"]),
                         mentions: ["bad_json.json", "line 3", "column"])
        assertUsageError(try eval(["--config", "{\"type\": \"L1Loss\",}"]), mentions: ["--config", "JSON"])
    }

    func testUnknownType() throws {
        assertUsageError(try eval(["--config", "unknown_type.json", "--inputs", "bundle.npz"]),
                         mentions: ["unknown_type.json", "losses.pixel_loss.type", "L1Los"])
    }

    func testUnknownParameter() throws {
        assertUsageError(try eval(["--config", "unknown_param.json", "--inputs", "bundle.npz"]),
                         mentions: ["unknown_param.json", "losses.pixel_loss.loss_wieght", "loss_weight"])
    }

    func testBadReduction() throws {
        assertUsageError(try eval(["--config", "bad_reduction.json", "--inputs", "bundle.npz"]),
                         mentions: ["losses.pixel_loss.reduction", "average", "mean"])
    }

    /// "total" is the sum's name in the output and in `--grad-out` keys.
    func testTermNamedTotalIsRefused() throws {
        assertUsageError(try eval(["--config", #"{"losses": {"total": {"type": "L1Loss"}}}"#, "--inputs", "bundle.npz"]),
                         mentions: ["losses.total", "reserved"])
    }

    func testMissingInput() throws {
        assertUsageError(try eval(["--config", "l1_bare.json", "--pred", "pred.npy"]),
                         mentions: ["pixel_loss", "L1Loss", "\"target\"", "--target"])
    }

    func testShapeMismatch() throws {
        assertUsageError(try eval(["--config", "l1_bare.json", "--pred", "pred.npy", "--target", "target_small.npy"]),
                         mentions: ["pixel_loss", "L1Loss", "(2,3,4,4)", "(2,3,2,2)"])
    }

    func testBadNpy() throws {
        assertUsageError(try eval(["--config", "l1_bare.json", "--pred", "truncated.npy", "--target", "target.npy"]),
                         mentions: ["truncated.npy", "\"pred\"", "truncated"])
        assertUsageError(try eval(["--config", "l1_bare.json", "--pred", "l1.json", "--target", "target.npy"]),
                         mentions: ["l1.json", "not a .npy"])
    }

    func testMissingFiles() throws {
        assertUsageError(try eval(["--config", "nope.json"]), mentions: ["nope.json", "no such file"])
        assertUsageError(try eval(["--config", "l1_bare.json", "--pred", "nope.npy", "--target", "target.npy"]),
                         mentions: ["nope.npy", "no such file", "\"pred\""])
        assertUsageError(try eval(["--config", "l1_bare.json", "--inputs", "nope.npz"]), mentions: ["nope.npz", "--inputs"])
    }

    /// Devices are refused before they are read (/dev/zero would never end).
    func testDevicesAreRefused() throws {
        assertUsageError(try eval(["--config", "/dev/zero"]), mentions: ["/dev/zero", "not a regular file"])
        assertUsageError(try eval(["--config", "l1_bare.json", "--pred", "/dev/zero", "--target", "target.npy"]),
                         mentions: ["/dev/zero", "\"pred\"", "not a regular file"])
    }

    func testBadInputSyntax() throws {
        assertUsageError(try eval(["--config", "l1_bare.json", "--input", "pred"]), mentions: ["--input", "NAME=PATH"])
        assertUsageError(try eval(["--config", "l1_bare.json", "--input", "=pred.npy"]), mentions: ["--input", "empty"])
        assertUsageError(try eval(["--config", "l1_bare.json", "--input", "pred=bundle.npz"]), mentions: ["bundle.npz", ":KEY"])
        assertUsageError(try eval(["--config", "l1_bare.json", "--input", "pred=pred.npy", "--pred", "pred.npy"]),
                         mentions: ["\"pred\"", "twice"])
        assertUsageError(try eval(["--config", "l1_bare.json", "--inputs", "pred.npy"]), mentions: ["--inputs", ".npz"])
    }

    func testUnknownNpzKey() throws {
        assertUsageError(try eval(["--config", "l1_bare.json", "--pred", "bundle.npz:prediction", "--target", "target.npy"]),
                         mentions: ["bundle.npz", "prediction", "pred, target, weight"])
    }

    func testUnknownWrt() throws {
        assertUsageError(try eval(["--config", "l1.json", "--wrt", "gt"]), mentions: ["--wrt", "gt", "pred"])
        assertUsageError(try eval(["--config", "l1.json", "--wrt", "pred,,target"]), mentions: ["--wrt"])
    }

    func testBadOptionValues() throws {
        assertUsageError(try eval(["--config", "l1.json", "--precision", "f16"]), mentions: ["precision", "f16"])
        assertUsageError(try eval(["--config", "l1.json", "--format", "yaml"]), mentions: ["format", "yaml"])
        assertUsageError(try eval(["--config", "l1.json", "--bogus"]), mentions: ["--bogus"])
        assertUsageError(try eval([]), mentions: ["--config"])
    }

    /// A failed run leaves neither output file behind, not even a temporary one.
    func testFailedRunLeavesNoOutput() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let grads = dir.appendingPathComponent("g.npz"), values = dir.appendingPathComponent("v.npz")
        let r = try eval(["--config", "l1_bare.json", "--pred", "pred.npy", "--target", "target_small.npy",
                          "--grad-out", grads.path, "--values-out", values.path])
        assertUsageError(r, mentions: ["pixel_loss"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
        // A folder that does not exist is refused before computing.
        assertUsageError(try eval(["--config", "l1.json", "--grad-out", dir.appendingPathComponent("no/g.npz").path]),
                         mentions: ["--grad-out", "does not exist"])
    }

    /// The example config of every registered type builds: eval gets as far as asking for inputs,
    /// or, for a loss with a pretrained network, for its weight file (its default name resolves
    /// to the torch cache, empty here).
    func testDescribeExamplesAreValidConfigs() throws {
        let list = try EvalHarness.run(["list", "--format", "json"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let losses = try XCTUnwrap(try list.json()["losses"] as? [[String: Any]])
        XCTAssertFalse(losses.isEmpty)
        for entry in losses {
            let name = try XCTUnwrap(entry["name"] as? String)
            let describe = try EvalHarness.run(["describe", name, "--format", "json"])
            XCTAssertEqual(describe.status, 0, describe.stderr)
            let example = try XCTUnwrap(try describe.json()["example_config"])
            let text = String(decoding: try JSONSerialization.data(withJSONObject: example), as: UTF8.self)
            let r = try eval(["--config", text])
            let params = (try describe.json()["parameters"] as? [[String: Any]]) ?? []
            if params.contains(where: { $0["kind"] as? String == "weights" }) {
                // A default name: the torch cache file it resolves to; a placeholder path: that file.
                assertUsageError(r, mentions: ["pretrained"])
                XCTAssertTrue(r.stderr.contains("hub/checkpoints/vgg19-dcbb9e9d.pth does not exist")
                              || r.stderr.contains("weight file weights.pth: no such file"), "\(name): \(r.stderr)")
            } else {
                assertUsageError(r, mentions: ["needs input"])
            }
        }
    }
}
