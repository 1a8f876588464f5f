import Foundation
import XCTest

/// "An error is one line on stderr, `losscli: error: ...`, that names the file, key, term
/// and what was expected against what was found ... exit 2 ... with no partial output
/// files left behind" — for hostile files, configs and command lines.
final class AcceptanceErrorTests: XCTestCase {
    let fixtures = EvalHarness.fixtures

    /// Runs eval with `arguments` plus --grad-out/--values-out into an empty folder, asserts
    /// the error contract, and that the folder is still empty.
    func assertFails(_ arguments: [String], mentions fragments: [String],
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let out = try EvalHarness.temporaryDirectory(self)
        let r = try EvalHarness.run(["eval"] + arguments + ["--grad-out", out.appendingPathComponent("g.npz").path,
                                                            "--values-out", out.appendingPathComponent("v.npz").path])
        assertUsageError(r, mentions: fragments, file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr, file: file, line: line)
        XCTAssertEqual(try filesIn(out), [], "files left behind by \(arguments)", file: file, line: line)
    }

    let l1 = #"{"losses": {"pixel_loss": {"type": "L1Loss"}}}"#

    func testHostileNpyFiles() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let good = try Data(contentsOf: fixtures.appendingPathComponent("pred.npy"))
        let truncated = dir.appendingPathComponent("truncated.npy")
        try good.prefix(good.count - 3).write(to: truncated)
        let headerOnly = dir.appendingPathComponent("header_cut.npy")
        try good.prefix(20).write(to: headerOnly)
        let garbage = dir.appendingPathComponent("garbage.npy")
        try Data("this is not numpy at all".utf8).write(to: garbage)
        let empty = dir.appendingPathComponent("empty.npy")
        try Data().write(to: empty)
        func header(_ name: String, _ text: String) throws -> String {
            // A hand-written header dict, padded so that preamble + header is 128 bytes.
            let dict = text + String(repeating: " ", count: max(0, 117 - text.utf8.count)) + "\n"
            let bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.utf8.count), 0] + Array(dict.utf8) + [0, 0, 128, 63]
            let url = dir.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            return url.path
        }
        let huge = try header("huge.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 100000000000), }")
        let negative = try header("negative.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }")
        let object = try header("object.npy", "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }")
        let bigDataClaim = try header("claims_more.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000,), }")
        let cases: [(String, [String])] = [
            (truncated.path, ["truncated.npy", "pred", "truncated"]),
            (headerOnly.path, ["header_cut.npy", "pred"]),
            (garbage.path, ["garbage.npy", "pred", "NUMPY"]),
            (empty.path, ["empty.npy", "pred"]),
            (huge, ["huge.npy", "100000000000"]),
            (negative, ["negative.npy", "-2"]),
            (object, ["object.npy", "|O"]),
            (bigDataClaim, ["claims_more.npy", "8000000"]),
            ("/dev/zero", ["/dev/zero", "pred"]),
            (dir.path, [dir.lastPathComponent, "directory"]),
            (dir.appendingPathComponent("missing.npy").path, ["missing.npy", "pred"]),
        ]
        for (path, fragments) in cases {
            try assertFails(["--config", l1, "--pred", path, "--target", "target.npy"], mentions: fragments)
        }
        // The same through an archive member and --inputs.
        let badZip = dir.appendingPathComponent("bad.npz")
        try Data([0x50, 0x4b, 0x03, 0x04] + Array(repeating: 0x41, count: 40)).write(to: badZip)
        try assertFails(["--config", l1, "--inputs", badZip.path], mentions: ["bad.npz"])
        try assertFails(["--config", l1, "--input", "pred=\(badZip.path):pred", "--target", "target.npy"],
                        mentions: ["bad.npz", "pred"])
        try assertFails(["--config", l1, "--input", "pred=bundle.npz:nope", "--target", "target.npy"],
                        mentions: ["bundle.npz", "nope", "pred, target, weight"])
    }

    func testHostileConfigs() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        func config(_ name: String, _ text: String) throws -> String {
            let url = dir.appendingPathComponent(name)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        let inputs = ["--pred", "pred.npy", "--target", "target.npy"]
        let cases: [(String, [String])] = [
            (try config("empty.json", ""), ["empty.json"]),
            (try config("spaces.json", "  \n "), ["spaces.json"]),
            (try config("nested.json", String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)),
             ["nested.json", "nesting"]),
            (try config("deep_object.json", String(repeating: #"{"a":"#, count: 5000) + "1" + String(repeating: "}", count: 5000)),
             ["deep_object.json"]),
            (try config("huge_number.json", #"{"type": "L1Loss", "loss_weight": 1e999}"#), ["huge_number.json", "1e999"]),
            (try config("top_key.json", #"{"losses": {"pixel_loss": {"type": "L1Loss"}}, "lossses": {}}"#),
             ["top_key.json", "lossses"]),
            (try config("weight_string.json", #"{"type": "L1Loss", "loss_weight": "1.0"}"#),
             ["weight_string.json", "loss_weight", "number", "string"]),
            (try config("reduction_bool.json", #"{"type": "L1Loss", "reduction": true}"#),
             ["reduction_bool.json", "reduction", "bool"]),
            (try config("reduction_unknown.json", #"{"type": "L1Loss", "reduction": "avg"}"#),
             ["reduction_unknown.json", "reduction", "avg", "mean"]),
            (try config("list.json", "[1, 2, 3]"), ["list.json", "list"]),
            (try config("duplicate.json", #"{"type": "L1Loss", "type": "MSELoss"}"#), ["duplicate.json", "duplicate key", "type"]),
            (try config("no_losses.json", #"{"inputs": {}}"#), ["no_losses.json"]),
            (try config("empty_losses.json", #"{"losses": {}}"#), ["empty_losses.json", "losses"]),
            (try config("type_number.json", #"{"losses": {"a_loss": {"type": 7}}}"#), ["type_number.json", "type"]),
            (try config("entry_string.json", #"{"losses": {"a_loss": "L1Loss"}}"#), ["entry_string.json", "a_loss"]),
            (try config("unknown_type.json", #"{"losses": {"a_loss": {"type": "L2Loss"}}}"#),
             ["unknown_type.json", "L2Loss"]),
            (try config("args_wrong.json", #"{"type": "GANLoss", "gan_type": "vanilla", "args": {"target_is_real": "yes"}}"#),
             ["args_wrong.json", "target_is_real"]),
            (try config("data_info_wrong.json", #"{"type": "L1Loss", "data_info": {"prediction": "pred"}}"#),
             ["data_info_wrong.json", "prediction"]),
            (try config("data_info_type.json", #"{"type": "L1Loss", "data_info": {"pred": 3}}"#),
             ["data_info_type.json", "pred"]),
            (try config("inputs_type.json", #"{"type": "L1Loss", "inputs": {"pred": 3}}"#),
             ["inputs_type.json", "pred"]),
            (try config("bad_utf8.json", "{\"type\": \"L1Loss\u{0}\"}"), ["bad_utf8.json"]),
            (try config("total_name.json", #"{"losses": {"total": {"type": "L1Loss"}}}"#), ["total"]),
            (try config("gan_type.json", #"{"type": "GANLoss", "gan_type": "wgan-gp", "args": {"target_is_real": true}}"#),
             ["gan_type.json", "wgan-gp"]),
            (try config("negative_eps.json", #"{"type": "CharbonnierLoss", "eps": "small"}"#), ["negative_eps.json", "eps"]),
        ]
        for (path, fragments) in cases {
            try assertFails(["--config", path] + inputs, mentions: fragments)
        }
        // A config input that does not exist (and that the command line does not replace).
        let missing = try config("inputs_missing.json", #"{"losses": {"a_loss": {"type": "L1Loss"}}, "inputs": {"pred": "nowhere.npy"}}"#)
        try assertFails(["--config", missing, "--target", "target.npy"], mentions: ["nowhere.npy", "pred"])
        // What was found is named once and briefly, whatever the config holds.
        let null = try EvalHarness.run(["eval", "--config", #"{"type": "L1Loss", "loss_weight": null}"#] + inputs)
        assertUsageError(null, mentions: ["loss_weight", "found null"])
        XCTAssertFalse(null.stderr.contains("null null"), null.stderr)
        let long = "[" + (0..<5000).map(String.init).joined(separator: ", ") + "]"
        let list = try EvalHarness.run(["eval", "--config", #"{"type": "L1Loss", "loss_weight": \#(long)}"#] + inputs)
        assertUsageError(list, mentions: ["loss_weight", "a list of 5000 items"])
        XCTAssertLessThan(list.stderr.count, 300, list.stderr)
        try assertFails(["--config", "/dev/zero"] + inputs, mentions: ["/dev/zero"])
        try assertFails(["--config", dir.path] + inputs, mentions: ["directory"])
        try assertFails(["--config", dir.appendingPathComponent("nope.json").path] + inputs, mentions: ["nope.json"])
    }

    /// Shapes and bindings that MMagic would reject, caught before anything is written.
    func testShapeErrorsNameTermInputsAndShapes() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        func npy(_ name: String, _ shape: [Int]) throws -> String {
            try RawNpy.write(dir.appendingPathComponent(name), descr: "<f4", shape: shape,
                             values: (0..<shape.reduce(1, *)).map { Double($0 % 7) }).path
        }
        let pred = try npy("p.npy", [2, 3, 4, 4])
        let batch = try npy("batch.npy", [3, 3, 4, 4])
        let rank3 = try npy("rank3.npy", [3, 4, 4])
        let channels = try npy("w2.npy", [2, 2, 4, 4])
        let l1 = #"{"losses": {"pixel_loss": {"type": "L1Loss"}}}"#
        try assertFails(["--config", l1, "--pred", pred, "--target", batch],
                        mentions: ["pixel_loss", "L1Loss", "(2,3,4,4)", "(3,3,4,4)"])
        try assertFails(["--config", l1, "--pred", pred, "--target", pred, "--weight", rank3],
                        mentions: ["pixel_loss", "weight", "(3,4,4)"])
        try assertFails(["--config", l1, "--pred", pred, "--target", pred, "--weight", channels],
                        mentions: ["pixel_loss", "weight", "(2,2,4,4)"])
        try assertFails(["--config", l1, "--pred", pred], mentions: ["pixel_loss", "target"])
        let comp = #"{"losses": {"comp_loss": {"type": "L1CompositionLoss"}}}"#
        try assertFails(["--config", comp, "--input", "pred_alpha=\(pred)", "--input", "fg=\(pred)",
                         "--input", "bg=\(pred)", "--input", "ori_merged=\(batch)"],
                        mentions: ["comp_loss", "L1CompositionLoss"])
        let disc = #"{"losses": {"d": [{"type": "DiscShiftLossComps", "data_info": {"pred": "a"}}, {"type": "DiscShiftLossComps", "data_info": {"pred": "b"}}]}}"#
        try assertFails(["--config", disc, "--input", "a=\(pred)", "--input", "b=\(batch)"],
                        mentions: ["loss_disc_shift"])
    }

    /// Bad command lines: exit 2, one line, nothing written.
    func testBadCommandLines() throws {
        let base = ["--config", "l1.json"]
        try assertFails(base + ["--precision", "f16"], mentions: ["f16"])
        try assertFails(base + ["--format", "yaml"], mentions: ["yaml"])
        try assertFails(base + ["--threads", "0"], mentions: ["--threads"])
        try assertFails(base + ["--threads", "many"], mentions: ["many"])
        try assertFails(base + ["--seed", "x"], mentions: ["x"])
        try assertFails(base + ["--wrt", "nothing"], mentions: ["nothing"])
        try assertFails(base + ["--input", "pred"], mentions: ["pred"])
        try assertFails(base + ["--input", "=pred.npy"], mentions: ["pred.npy"])
        try assertFails(base + ["--pred", "pred.npy", "--input", "pred=pred.npy"], mentions: ["pred"])
        try assertFails(base + ["--bogus"], mentions: ["--bogus"])
        try assertFails(["--pred", "pred.npy"], mentions: ["--config"])
        let r = try EvalHarness.run(["frobnicate"])
        assertUsageError(r, mentions: ["frobnicate"])
        let noDir = try EvalHarness.run(["eval", "--config", "l1.json", "--grad-out", "/nonexistent-dir/g.npz"])
        assertUsageError(noDir, mentions: ["/nonexistent-dir"])
    }

    /// Output that cannot be written (a full disk) is an error, not a silent exit 0.
    func testUnwritableStdoutIsAnError() throws {
        guard let full = FileHandle(forWritingAtPath: "/dev/full") else { throw XCTSkip("no /dev/full") }
        let dir = try EvalHarness.temporaryDirectory(self)
        let err = dir.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        for arguments in [["eval", "--config", "l1.json"], ["list", "--format", "json"], ["inspect", "pred.npy"]] {
            let process = Process()
            process.executableURL = EvalHarness.binary
            process.arguments = arguments
            process.currentDirectoryURL = fixtures
            process.standardOutput = full
            process.standardError = try FileHandle(forWritingTo: err)
            try process.run()
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 2, "\(arguments)")
            let text = try String(contentsOf: err, encoding: .utf8)
            XCTAssertTrue(text.hasPrefix("losscli: error: cannot write the output to stdout"), text)
        }
    }

    /// A path that is not UTF-8 cannot reach the program intact (Swift repairs the bytes);
    /// the error says so instead of calling an existing file missing.
    func testNonUTF8ArgumentIsNamed() throws {
        let command = "'\(EvalHarness.binary.path)' inspect \"$(printf 'p\\377.npy')\""
        let r = try EvalHarness.runProgram("/bin/sh", ["-c", command])
        assertUsageError(r, mentions: ["argument 2", "p\\xff.npy", "not valid UTF-8"])
    }
}
