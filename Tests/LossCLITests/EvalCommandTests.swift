import Foundation
import NpyIO
import XCTest

/// `losscli eval` against references: MMagic's own losses run by PyTorch (the golden files
/// made by fixtures/cli/gen_fixtures.py) and values computed here from the inputs.
final class EvalCommandTests: XCTestCase {
    let fixtures = EvalHarness.fixtures

    func array(_ name: String) throws -> NpyArray {
        try Npy.read(contentsOf: fixtures.appendingPathComponent(name))
    }

    func golden(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func number(_ any: Any?, file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        try XCTUnwrap((any as? NSNumber)?.doubleValue, "not a number: \(String(describing: any))", file: file, line: line)
    }

    // MARK: MMagic-shaped configs

    /// Named terms, a list of Comps with data_info summed under their loss_name, GANLoss with
    /// args, a non-scalar term outside the total: values and gradient norms as MMagic's code gives.
    func testMMagicConfigMatchesMMagicReference() throws {
        let result = try EvalHarness.run(["eval", "--config", "mmagic.json", "--format", "json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        let json = try result.json()
        XCTAssertEqual(Array(json.keys).sorted(), ["gradients", "terms", "total"])
        let reference = try golden("golden_f32.json")
        let terms = try XCTUnwrap(json["terms"] as? [String: [String: Any]])
        let expectedTerms = try XCTUnwrap(reference["terms"] as? [String: [String: Any]])
        XCTAssertEqual(Set(terms.keys), Set(expectedTerms.keys))
        XCTAssertEqual(Set(terms.keys), ["pixel_loss", "mse_loss", "loss_disc_shift", "gan_loss", "l1_map"])
        for (name, expected) in expectedTerms {
            let got = try XCTUnwrap(terms[name], name)
            XCTAssertEqual(Set(got.keys), ["type", "value", "shape", "in_total"], name)
            XCTAssertEqual(got["type"] as? String, expected["type"] as? String, name)
            XCTAssertEqual(got["shape"] as? [Int], expected["shape"] as? [Int], name)
            XCTAssertEqual(got["in_total"] as? Bool, expected["in_total"] as? Bool, name)
            // float32 on both sides; LossKit accumulates in float64, PyTorch in float32.
            assertClose(try number(got["value"]), try number(expected["value"]), rtol: 2e-6, "term \(name)")
        }
        assertClose(try number(json["total"]), try number(reference["total"]), rtol: 2e-6, "total")
        XCTAssertEqual(terms["l1_map"]?["in_total"] as? Bool, false)

        let gradients = try XCTUnwrap(json["gradients"] as? [String: [String: [String: Any]]])
        let expectedGradients = try XCTUnwrap(reference["gradients"] as? [String: [String: [String: Any]]])
        XCTAssertEqual(Set(gradients.keys), Set(expectedGradients.keys))
        for (owner, inputs) in expectedGradients {
            XCTAssertEqual(Set(gradients[owner]?.keys ?? [:].keys), Set(inputs.keys), owner)
            for (input, stats) in inputs {
                let got = try XCTUnwrap(gradients[owner]?[input], "\(owner)/\(input)")
                XCTAssertEqual(got["shape"] as? [Int], stats["shape"] as? [Int])
                assertClose(try number(got["l2"]), try number(stats["l2"]), rtol: 1e-5, "\(owner)/\(input) l2")
                assertClose(try number(got["max_abs"]), try number(stats["max_abs"]), rtol: 1e-5, "\(owner)/\(input) max_abs")
            }
        }
        // Keys keep the config's order: terms as written, total first among gradients.
        let termOrder = ["pixel_loss", "mse_loss", "loss_disc_shift", "gan_loss", "l1_map"]
        let positions = termOrder.map { result.stdout.range(of: "\"\($0)\": {")!.lowerBound }
        XCTAssertEqual(positions, positions.sorted())
    }

    /// `--grad-out` arrays read back with NpyIO equal L1's gradient sign(p - t) / n, computed here.
    func testGradOutHoldsL1GradientComputedIndependently() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let out = dir.appendingPathComponent("grads.npz")
        let result = try EvalHarness.run(["eval", "--config", "l1.json", "--grad-out", out.path, "--format", "json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let archive = try NpzArchive.read(contentsOf: out)
        XCTAssertEqual(Set(archive.names), ["total/pred", "total/target", "pixel_loss/pred", "pixel_loss/target"])
        let p = try array("pred.npy").toFloat32(), t = try array("target.npy").toFloat32()
        let n = Float(p.count)
        let expected = zip(p, t).map { ($0 - $1 > 0 ? 1 : ($0 - $1 < 0 ? -1 : 0)) / n }
        for key in ["total/pred", "pixel_loss/pred"] {
            let g = try archive.array(named: key)
            XCTAssertEqual(g.dtype.descr, "<f4", key)
            XCTAssertEqual(g.shape, [2, 3, 4, 4], key)
            XCTAssertEqual(g.toFloat32(), expected, key)
        }
        XCTAssertEqual(try archive.array(named: "pixel_loss/target").toFloat32(), expected.map { -$0 })
        // The value is mean |p - t|, accumulated here in float64.
        let mean = zip(p, t).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) } / Double(p.count)
        let json = try result.json()
        assertClose(try number(json["total"]), mean, rtol: 1e-6, "L1 value")
    }

    /// Every gradient array in `--grad-out` equals MMagic's (PyTorch autograd), element-wise.
    func testGradOutMatchesMMagicGradients() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let out = dir.appendingPathComponent("grads.npz")
        let result = try EvalHarness.run(["eval", "--config", "mmagic.json", "--grad-out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let got = try NpzArchive.read(contentsOf: out)
        let reference = try NpzArchive.read(contentsOf: fixtures.appendingPathComponent("golden_f32.npz"))
        XCTAssertEqual(Set(got.names), Set(reference.names))
        for key in reference.names {
            let a = try got.array(named: key).toFloat64(), b = try reference.array(named: key).toFloat64()
            XCTAssertEqual(a.count, b.count, key)
            let scale = b.map(abs).max() ?? 0
            for (x, y) in zip(a, b) {
                // float32 gradients: a few ulps of the array's largest element.
                assertClose(x, y, rtol: 1e-5, atol: 1e-6 * scale, key)
            }
        }
    }

    /// An existing output file is replaced (atomically, by rename) and nothing else is left.
    func testOutputsReplaceExistingFiles() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let out = dir.appendingPathComponent("g.npz")
        try Data("old".utf8).write(to: out)
        for pred in ["pred.npy", "target.npy"] {
            let r = try EvalHarness.run(["eval", "--config", "l1.json", "--pred", pred, "--grad-out", out.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["g.npz"])
        }
        // The second run (pred = target) has zero gradients: the file is really the new one.
        let g = try NpzArchive.read(contentsOf: out).array(named: "total/pred").toFloat32()
        XCTAssertEqual(g, Array(repeating: 0, count: 96))
    }

    /// `--values-out` holds each term's full output: L1 with reduction none is |p - t| · w
    /// (the config gives a weight, so every L1 term reads it; w broadcasts over channels).
    func testValuesOutHoldsUnreducedTerms() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let out = dir.appendingPathComponent("values.npz")
        let result = try EvalHarness.run(["eval", "--config", "mmagic.json", "--values-out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let archive = try NpzArchive.read(contentsOf: out)
        XCTAssertEqual(archive.names, ["pixel_loss", "mse_loss", "loss_disc_shift", "gan_loss", "l1_map"])
        let map = try archive.array(named: "l1_map")
        XCTAssertEqual(map.shape, [2, 3, 4, 4])
        let p = try array("pred.npy").toFloat32(), t = try array("target.npy").toFloat32()
        let w = try array("weight.npy").toFloat32()
        var expected: [Float] = []
        for n in 0..<2 { for c in 0..<3 { for k in 0..<16 {
            let i = (n * 3 + c) * 16 + k
            expected.append(abs(p[i] - t[i]) * w[n * 16 + k])
        } } }
        XCTAssertEqual(map.toFloat32(), expected)
        XCTAssertEqual(try archive.array(named: "pixel_loss").shape, [])
        // DiscShiftLossComps returns pred² · weight unreduced; the two are summed.
        let real = try array("disc_pred_real.npy").toFloat32(), fake = try array("disc_pred_fake.npy").toFloat32()
        let shift = try archive.array(named: "loss_disc_shift").toFloat32()
        for i in 0..<shift.count {
            assertClose(Double(shift[i]), Double(real[i] * real[i] * 0.001 + fake[i] * fake[i] * 0.001), rtol: 1e-6, "shift[\(i)]")
        }
    }

    func testWrtRestrictsGradients() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let out = dir.appendingPathComponent("grads.npz")
        let result = try EvalHarness.run(["eval", "--config", "mmagic.json", "--wrt", "pred", "--grad-out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let gradients = try XCTUnwrap(try result.json()["gradients"] as? [String: [String: Any]])
        for (owner, inputs) in gradients { XCTAssertEqual(Array(inputs.keys), ["pred"], owner) }
        let names = try NpzArchive.read(contentsOf: out).names
        XCTAssertEqual(Set(names), Set(["total", "pixel_loss", "mse_loss", "loss_disc_shift", "gan_loss", "l1_map"].map { "\($0)/pred" }))
        // A term that does not read pred has a zero gradient with respect to it.
        let zero = try NpzArchive.read(contentsOf: out).array(named: "gan_loss/pred").toFloat32()
        XCTAssertEqual(zero, Array(repeating: 0, count: 96))
    }

    // MARK: Precision and number format

    /// `--precision f64` computes in float64 and writes 17 significant digits; the values equal
    /// MMagic's run in float64 to round-off.
    func testPrecisionF64MatchesMMagicInFloat64() throws {
        let result = try EvalHarness.run(["eval", "--config", "mmagic.json", "--precision", "f64"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try result.json()
        let reference = try golden("golden_f64.json")
        let terms = try XCTUnwrap(json["terms"] as? [String: [String: Any]])
        let expected = try XCTUnwrap(reference["terms"] as? [String: [String: Any]])
        for (name, e) in expected {
            assertClose(try number(terms[name]?["value"]), try number(e["value"]), rtol: 1e-12, "f64 term \(name)")
        }
        assertClose(try number(json["total"]), try number(reference["total"]), rtol: 1e-12, "f64 total")

        let dir = try EvalHarness.temporaryDirectory(self)
        let out = dir.appendingPathComponent("g.npz")
        _ = try EvalHarness.run(["eval", "--config", "l1.json", "--precision", "f64", "--grad-out", out.path])
        XCTAssertEqual(try NpzArchive.read(contentsOf: out).array(named: "total/pred").dtype.descr, "<f8")
    }

    /// Every float input float64 → float64 computation without asking (as PyTorch).
    func testFloat64InputsComputeInFloat64() throws {
        let r64 = try EvalHarness.run(["eval", "--config", "l1_bare.json", "--pred", "pred64.npy", "--target", "target64.npy"])
        let rf = try EvalHarness.run(["eval", "--config", "l1_bare.json", "--pred", "pred.npy", "--target", "target.npy",
                                      "--precision", "f64"])
        XCTAssertEqual(r64.status, 0, r64.stderr)
        XCTAssertEqual(r64.stdout, rf.stdout)
        // The mean in float64 of the float32 values, to the last digit.
        let p = try array("pred.npy").toFloat64(), t = try array("target.npy").toFloat64()
        let mean = zip(p, t).reduce(0.0) { $0 + abs($1.0 - $1.1) } / Double(p.count)
        assertClose(try number(try r64.json()["total"]), mean, rtol: 1e-15, "float64 L1")
        // A mix (float64 pred, float32 target) stays float32.
        let mixed = try EvalHarness.run(["eval", "--config", "l1_bare.json", "--pred", "pred64.npy", "--target", "target.npy"])
        let f32 = try EvalHarness.run(["eval", "--config", "l1_bare.json", "--pred", "pred.npy", "--target", "target.npy"])
        XCTAssertEqual(mixed.stdout, f32.stdout)
    }

    /// float32 values are written with at most 9 significant digits and read back exactly.
    func testNumbersRoundTripTheirDtype() throws {
        let result = try EvalHarness.run(["eval", "--config", "mmagic.json"])
        let numbers = result.stdout.split(whereSeparator: { " ,:\n[]{}".contains($0) })
            .filter { $0.first.map { $0.isNumber || $0 == "-" } ?? false && $0.contains(".") }
        XCTAssertFalse(numbers.isEmpty)
        for text in numbers {
            let digits = text.split(separator: "e")[0].filter(\.isNumber).drop { $0 == "0" }
            XCTAssertLessThanOrEqual(digits.count, 9, String(text))
            let f = try XCTUnwrap(Float(String(text)))
            XCTAssertEqual(Float(String(f.description)), f)
        }
        // The total as written reads back to the float32 that MMagic's float32 run gives.
        let reported = try number(try result.json()["total"])
        let reference = try number(try golden("golden_f32.json")["total"])
        XCTAssertEqual(Float(reported), Float(reference), accuracy: 2 * Float(reference).ulp)
    }

    // MARK: Inputs

    func testInputSpellingsAgree() throws {
        let base = try EvalHarness.run(["eval", "--config", "l1.json"])
        XCTAssertEqual(base.status, 0, base.stderr)
        let spellings: [[String]] = [
            ["--config", "l1_bare.json", "--pred", "pred.npy", "--target", "target.npy"],
            ["--config", "l1_bare.json", "--input", "pred=pred.npy", "--input", "target=target.npy"],
            ["--config", "l1_bare.json", "--input", "pred=bundle.npz:pred", "--target", "bundle.npz:target"],
            // Big-endian, Fortran-ordered copy of pred.
            ["--config", "l1_bare.json", "--pred", "pred_be_fortran.npy", "--target", "target.npy"],
            // The config as JSON text.
            ["--config", #"{"losses": {"pixel_loss": {"type": "L1Loss"}}}"#, "--pred", "pred.npy", "--target", "target.npy"],
        ]
        for args in spellings {
            let r = try EvalHarness.run(["eval"] + args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stdout, base.stdout, "\(args)")
        }
        // The archive also holds a weight, which L1Loss then reads.
        let bundle = try EvalHarness.run(["eval", "--config", "l1_bare.json", "--inputs", "bundle.npz"])
        let files = try EvalHarness.run(["eval", "--config", "l1_bare.json", "--pred", "pred.npy",
                                         "--target", "target.npy", "--weight", "weight.npy"])
        XCTAssertEqual(bundle.status, 0, bundle.stderr)
        XCTAssertEqual(bundle.stdout, files.stdout)
        XCTAssertNotEqual(bundle.stdout, base.stdout)
    }

    /// The config's inputs are relative to the config file, not to the current folder.
    func testConfigInputsAreRelativeToTheConfig() throws {
        let elsewhere = try EvalHarness.temporaryDirectory(self)
        let r = try EvalHarness.run(["eval", "--config", fixtures.appendingPathComponent("l1.json").path], in: elsewhere)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, try EvalHarness.run(["eval", "--config", "l1.json"]).stdout)
    }

    /// The command line wins over the config's inputs, and a named --input over an --inputs archive.
    func testCommandLineWinsOverConfig() throws {
        let r = try EvalHarness.run(["eval", "--config", "l1.json", "--target", "pred.npy"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try number(try r.json()["total"]), 0)
        let b = try EvalHarness.run(["eval", "--config", "l1_bare.json", "--inputs", "bundle.npz", "--input", "target=pred.npy"])
        XCTAssertEqual(try number(try b.json()["total"]), 0)
    }

    /// The whole config may be one loss dict: one term named `loss`.
    func testSingleLossDictShorthand() throws {
        let r = try EvalHarness.run(["eval", "--config", #"{"type": "MSELoss", "loss_weight": 0.5}"#,
                                     "--pred", "pred.npy", "--target", "target.npy"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let terms = try XCTUnwrap(try r.json()["terms"] as? [String: [String: Any]])
        XCTAssertEqual(Array(terms.keys), ["loss"])
        let p = try array("pred.npy").toFloat32(), t = try array("target.npy").toFloat32()
        let mse = zip(p, t).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(p.count)
        assertClose(try number(terms["loss"]?["value"]), 0.5 * mse, rtol: 1e-6, "0.5 * MSE")
        XCTAssertEqual(terms["loss"]?["in_total"] as? Bool, true)
    }

    /// A uint8 weight is converted, takes part in the value and gets no gradient.
    func testNonFloatInputHasNoGradient() throws {
        let r = try EvalHarness.run(["eval", "--config", "l1_bare.json", "--pred", "pred.npy", "--target", "target.npy",
                                     "--weight", "mask_u8.npy"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try r.json()
        let gradients = try XCTUnwrap(json["gradients"] as? [String: [String: Any]])
        XCTAssertEqual(Set(gradients["pixel_loss"]?.keys ?? [:].keys), ["pred", "target"])
        // MMagic: sum(|p - t| · w) / sum(w expanded over channels).
        let p = try array("pred.npy").toFloat32(), t = try array("target.npy").toFloat32()
        let m = try array("mask_u8.npy").toFloat32()
        var num = 0.0, den = 0.0
        for n in 0..<2 { for c in 0..<3 { for k in 0..<16 {
            let w = Double(m[n * 16 + k])
            num += Double(abs(p[(n * 3 + c) * 16 + k] - t[(n * 3 + c) * 16 + k])) * w
            den += w
        } } }
        assertClose(try number(json["total"]), num / den, rtol: 1e-6, "masked L1")
        let wrt = try EvalHarness.run(["eval", "--config", "l1_bare.json", "--pred", "pred.npy", "--target", "target.npy",
                                       "--weight", "mask_u8.npy", "--wrt", "weight"])
        assertUsageError(wrt, mentions: ["--wrt", "weight", "|u1"])
    }

    /// float16 and int64 inputs are accepted and converted; the int64 target gets no gradient.
    func testOtherDtypesAreConverted() throws {
        let r = try EvalHarness.run(["eval", "--config", "l1_bare.json", "--pred", "pred_f16.npy", "--target", "target_i64.npy"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let p = try array("pred_f16.npy"), t = try array("target_i64.npy")
        XCTAssertEqual(p.dtype.descr, "<f2")
        XCTAssertEqual(t.dtype.descr, "<i8")
        let pv = p.toFloat64(), tv = t.toFloat64()
        let mean = zip(pv, tv).reduce(0.0) { $0 + Double(abs(Float($1.0) - Float($1.1))) } / Double(pv.count)
        let json = try r.json()
        assertClose(try number(json["total"]), mean, rtol: 1e-6, "L1 of float16 and int64 inputs")
        let gradients = try XCTUnwrap(json["gradients"] as? [String: [String: Any]])
        XCTAssertEqual(Array(gradients["total"]?.keys ?? [:].keys), ["pred"])
    }

    // MARK: Output

    func testTableFormat() throws {
        let r = try EvalHarness.run(["eval", "--config", "mmagic.json", "--format", "table"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for fragment in ["term", "pixel_loss", "L1Loss", "loss_disc_shift", "DiscShiftLossComps", "total", "gradient of", "max_abs"] {
            XCTAssertTrue(r.stdout.contains(fragment), fragment)
        }
        XCTAssertThrowsError(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)))
    }

    /// On a terminal the default is the table; through a pipe, JSON (checked everywhere above).
    func testTableIsTheDefaultOnATerminal() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            throw XCTSkip("no /usr/bin/script to give losscli a terminal")
        }
        let command = "'\(EvalHarness.binary.path)' eval --config l1.json"
        let r = try EvalHarness.runProgram("/usr/bin/script", ["-qec", command, "/dev/null"])
        XCTAssertEqual(r.status, 0, r.stdout)
        XCTAssertTrue(r.stdout.contains("pixel_loss  L1Loss"), r.stdout)
        XCTAssertFalse(r.stdout.contains("\"terms\""), r.stdout)
    }

    func testTimingReportsEveryPhase() throws {
        let r = try EvalHarness.run(["eval", "--config", "l1.json", "--timing"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let timing = try XCTUnwrap(try r.json()["timing_ms"] as? [String: Any])
        XCTAssertEqual(Set(timing.keys), ["load", "forward", "backward", "write"])
        for (phase, ms) in timing { XCTAssertGreaterThanOrEqual(try number(ms), 0, phase) }
        XCTAssertNil(try EvalHarness.run(["eval", "--config", "l1.json"]).json()["timing_ms"])
    }

    /// Results do not depend on the thread count.
    func testThreadsDoNotChangeResults() throws {
        let one = try EvalHarness.run(["eval", "--config", "mmagic.json", "--threads", "1"])
        let two = try EvalHarness.run(["eval", "--config", "mmagic.json", "--threads", "2", "--seed", "7"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(one.stdout, two.stdout)
        assertUsageError(try EvalHarness.run(["eval", "--config", "l1.json", "--threads", "0"]), mentions: ["--threads"])
    }

    /// A NaN value is written as the string "nan" and the exit status is 3; outputs are written.
    func testNaNResultExitsThree() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let out = dir.appendingPathComponent("g.npz")
        let r = try EvalHarness.run(["eval", "--config", "l1.json", "--pred", "pred_nan.npy", "--grad-out", out.path])
        XCTAssertEqual(r.status, 3, r.stderr)
        let json = try r.json()
        XCTAssertEqual(json["total"] as? String, "nan")
        XCTAssertEqual((json["terms"] as? [String: [String: Any]])?["pixel_loss"]?["value"] as? String, "nan")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
    }
}
