import Foundation
import NpyIO
import XCTest

/// The contract (/work/shared/spec/cli.md) statement by statement, driving the built binary
/// from outside: inputs, dtypes, precision, gradients, the JSON schema, numbers, check.
final class AcceptanceContractTests: XCTestCase {
    let fixtures = EvalHarness.fixtures

    // MARK: --format and --help

    /// "`--format` defaults to `table` on a terminal and `json` when stdout is not a terminal"
    /// — for every command.
    func testFormatDefaultsByTerminalForEveryCommand() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            throw XCTSkip("no /usr/bin/script to give losscli a terminal")
        }
        let dir = try EvalHarness.temporaryDirectory(self)
        let golden = dir.appendingPathComponent("golden.json")
        let recorded = try EvalHarness.run(["eval", "--config", "l1.json"])
        XCTAssertEqual(recorded.status, 0, recorded.stderr)
        try recorded.stdout.write(to: golden, atomically: true, encoding: .utf8)
        let commands: [[String]] = [
            ["eval", "--config", "l1.json"],
            ["check", "--config", "l1.json", "--golden", golden.path],
            ["list"],
            ["describe", "L1Loss"],
            ["inspect", "pred.npy"],
        ]
        for arguments in commands {
            let piped = try EvalHarness.run(arguments)
            XCTAssertEqual(piped.status, 0, "\(arguments): \(piped.stderr)")
            XCTAssertNoThrow(try piped.json(), "\(arguments) through a pipe is JSON")
            let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
            let tty = try EvalHarness.runProgram("/usr/bin/script",
                                                 ["-qec", "'\(EvalHarness.binary.path)' \(quoted)", "/dev/null"],
                                                 in: fixtures)
            XCTAssertEqual(tty.status, 0, "\(arguments) on a terminal: \(tty.stdout)")
            let text = tty.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertFalse(text.isEmpty, "\(arguments) printed nothing on a terminal")
            XCTAssertFalse(text.hasPrefix("{"), "\(arguments) on a terminal is a table, got: \(text.prefix(200))")
        }
    }

    // MARK: Dtypes, byte orders, memory orders

    /// "Any numeric NumPy dtype is accepted (bool, int8..int64, uint8..uint64,
    /// float16/32/64), either byte order, C or Fortran order": each pred is read with its
    /// values in the right places (a reduction-none L1 against a float32 target, element by
    /// element through --values-out).
    func testEveryNumericDtypeByteOrderAndMemoryOrder() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let shape = [1, 1, 2, 3]
        let target: [Double] = [5, 3, 1, 0, 2, 4]
        let targetURL = try RawNpy.write(dir.appendingPathComponent("target.npy"), descr: "<f4", shape: shape, values: target)
        var codes = ["b1", "i1", "u1"]
        for size in [2, 4, 8] { codes += ["i\(size)", "u\(size)"] }
        codes += ["f2", "f4", "f8"]
        var checked = 0
        for code in codes {
            let orders = code.hasSuffix("1") ? ["|"] : ["<", ">"]
            let values: [Double] = code == "b1" ? [0, 1, 1, 0, 1, 0] : [0, 1, 2, 3, 4, 5]
            for order in orders {
                for fortran in [false, true] {
                    let descr = order + code
                    let pred = try RawNpy.write(dir.appendingPathComponent("pred_\(descr.dropFirst())_\(order == ">" ? "be" : "le")_\(fortran).npy"),
                                                descr: descr, shape: shape, values: values, fortran: fortran)
                    let out = dir.appendingPathComponent("values.npz")
                    let r = try EvalHarness.run(["eval", "--config", #"{"type": "L1Loss", "reduction": "none"}"#,
                                                 "--pred", pred.path, "--target", targetURL.path,
                                                 "--values-out", out.path])
                    XCTAssertEqual(r.status, 0, "\(descr) fortran=\(fortran): \(r.stderr)")
                    let got = try NpzArchive.read(contentsOf: out).array(named: "loss")
                    XCTAssertEqual(got.shape, shape, descr)
                    // Only float64 together with float64 would compute in float64; the
                    // target is float32, so every run computes in float32.
                    XCTAssertEqual(got.dtype.descr, "<f4", descr)
                    XCTAssertEqual(got.toFloat64(), zip(values, target).map { abs($0 - $1) },
                                   "\(descr) fortran=\(fortran): elements out of place")
                    let mean = zip(values, target).map { abs($0 - $1) }.reduce(0, +) / 6
                    assertClose(try jsonDouble(try r.terms()["loss"]?["value"]), mean, rtol: 1e-7, "\(descr) mean")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 42)
    }

    /// "Computation runs in float32 unless `--precision f64` (or every float input is
    /// float64)" and "Gradients are written in the dtype of the computation", keyed
    /// `total/INPUT` and `TERM/INPUT` with the shape of the input.
    func testPrecisionRuleAndGradientDtype() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let shape = [2, 1, 2, 2]
        let p: [Double] = [0.5, -1, 2, 0.25, 3, 1, -2, 0.75], t: [Double] = [1, 1, 1, 1, 0, 0, 0, 0]
        func file(_ name: String, _ descr: String, _ v: [Double]) throws -> String {
            try RawNpy.write(dir.appendingPathComponent(name), descr: descr, shape: shape, values: v).path
        }
        let p4 = try file("p4.npy", "<f4", p), p8 = try file("p8.npy", ">f8", p)
        let t4 = try file("t4.npy", "<f4", t), t8 = try file("t8.npy", "<f8", t), ti = try file("ti.npy", "<i2", t)
        // (pred, target, extra options, expected dtype, inputs that get gradients)
        let cases: [(String, String, [String], String, [String])] = [
            (p4, t4, [], "<f4", ["pred", "target"]),
            (p8, t8, [], "<f8", ["pred", "target"]),
            (p8, t4, [], "<f4", ["pred", "target"]),
            (p8, ti, [], "<f8", ["pred"]),           // integers do not count, get no gradient
            (p4, t4, ["--precision", "f64"], "<f8", ["pred", "target"]),
            (p8, t8, ["--precision", "f32"], "<f4", ["pred", "target"]),
        ]
        for (pred, target, options, dtype, inputs) in cases {
            let grads = dir.appendingPathComponent("g.npz"), values = dir.appendingPathComponent("v.npz")
            let r = try EvalHarness.run(["eval", "--config", #"{"losses": {"pix_loss": {"type": "MSELoss"}}}"#,
                                         "--pred", pred, "--target", target, "--grad-out", grads.path,
                                         "--values-out", values.path] + options)
            let what = "\(URL(fileURLWithPath: pred).lastPathComponent) \(URL(fileURLWithPath: target).lastPathComponent) \(options)"
            XCTAssertEqual(r.status, 0, "\(what): \(r.stderr)")
            let archive = try NpzArchive.read(contentsOf: grads)
            XCTAssertEqual(Set(archive.names), Set(inputs.flatMap { ["total/\($0)", "pix_loss/\($0)"] }), what)
            for name in archive.names {
                let g = try archive.array(named: name)
                XCTAssertEqual(g.dtype.descr, dtype, "\(what) \(name)")
                XCTAssertEqual(g.shape, shape, "\(what) \(name)")
            }
            // d/dpred mean((p - t)^2) = 2 (p - t) / n, the same for the total and the term.
            let expected = zip(p, t).map { 2 * ($0 - $1) / 8 }
            let gotPred = try archive.array(named: "total/pred").toFloat64()
            for (a, b) in zip(gotPred, expected) { assertClose(a, b, rtol: dtype == "<f8" ? 1e-15 : 1e-7, what) }
            XCTAssertEqual(try NpzArchive.read(contentsOf: values).array(named: "pix_loss").dtype.descr, dtype, what)
            // JSON numbers of a float64 run have up to 17 significant digits, float32 up to 9.
            let limit = dtype == "<f8" ? 17 : 9
            let value = try XCTUnwrap(r.stdout.components(separatedBy: "\"total\": ").dropFirst().first?
                .prefix { !",\n".contains($0) })
            let digits = value.split(separator: "e")[0].filter(\.isNumber).drop { $0 == "0" }
            XCTAssertLessThanOrEqual(digits.count, limit, "\(what): total written as \(value)")
            let mse = zip(p, t).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / 8
            if dtype == "<f8" {
                XCTAssertEqual(try jsonDouble(try r.json()["total"]), mse, "\(what): float64 total reads back exactly")
            } else {
                XCTAssertEqual(Float(try jsonDouble(try r.json()["total"])), Float(mse), "\(what): float32 total")
            }
        }
    }

    // MARK: JSON schema

    /// The JSON output has exactly the keys of the contract: terms{type,value,shape,in_total},
    /// total, gradients{shape,l2,max_abs}; timing_ms only with --timing.
    func testJSONSchemaExactly() throws {
        let r = try EvalHarness.run(["eval", "--config", "mmagic.json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try r.json()
        XCTAssertEqual(Set(json.keys), ["terms", "total", "gradients"])
        XCTAssertNotNil(json["total"] as? NSNumber)
        for (name, term) in try r.terms() {
            XCTAssertEqual(Set(term.keys), ["type", "value", "shape", "in_total"], name)
            XCTAssertNotNil(term["type"] as? String, name)
            XCTAssertNotNil(term["value"] as? NSNumber, name)
            XCTAssertNotNil(term["shape"] as? [Int], name)
            XCTAssertEqual(term["in_total"] as? Bool, name.contains("loss"), "in_total follows the name rule: \(name)")
        }
        let gradients = try XCTUnwrap(json["gradients"] as? [String: [String: [String: Any]]])
        XCTAssertEqual(Set(gradients.keys), Set(try r.terms().keys).union(["total"]))
        for (owner, inputs) in gradients {
            for (input, stats) in inputs {
                XCTAssertEqual(Set(stats.keys), ["shape", "l2", "max_abs"], "\(owner)/\(input)")
            }
        }
        let timed = try EvalHarness.run(["eval", "--config", "mmagic.json", "--timing"]).json()
        XCTAssertEqual(Set(timed.keys), ["terms", "total", "gradients", "timing_ms"])
    }

    /// "The total is the sum of the values of every term whose name contains `loss`".
    func testTotalSumsExactlyTheTermsWithLossInTheName() throws {
        let config = #"""
        {"losses": {"pixel": {"type": "L1Loss"}, "pixel_loss": {"type": "MSELoss"},
                    "LOSS_upper": {"type": "L1Loss", "loss_weight": 3.0},
                    "aux": [{"type": "DiscShiftLossComps", "loss_name": "shift"},
                            {"type": "DiscShiftLossComps"}]}}
        """#
        let r = try EvalHarness.run(["eval", "--config", config, "--pred", "pred.npy", "--target", "target.npy",
                                     "--precision", "f64"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let terms = try r.terms()
        XCTAssertEqual(Set(terms.keys), ["pixel", "pixel_loss", "LOSS_upper", "shift", "loss_disc_shift"])
        var sum = 0.0
        for (name, term) in terms {
            let inTotal = try XCTUnwrap(term["in_total"] as? Bool)
            XCTAssertEqual(inTotal, name.contains("loss"), name)   // case-sensitive, as Python's `in`
            if inTotal { sum += try jsonDouble(term["value"]) }
        }
        assertClose(try jsonDouble(try r.json()["total"]), sum, rtol: 1e-15, "total")
    }

    // MARK: Zero-size and NaN inputs

    /// A 0-size tensor computes as PyTorch does: the mean of nothing is NaN, reported as the
    /// string "nan" with exit 3 (not a crash, not exit 2); a NaN input likewise.
    func testZeroSizeAndNaNInputsExitThree() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let empty = try RawNpy.write(dir.appendingPathComponent("empty.npy"), descr: "<f4", shape: [0, 3, 4, 4], values: [])
        let r = try EvalHarness.run(["eval", "--config", #"{"type": "L1Loss"}"#, "--pred", empty.path, "--target", empty.path])
        XCTAssertEqual(r.status, 3, r.stderr)
        XCTAssertEqual(try r.json()["total"] as? String, "nan")
        let sum = try EvalHarness.run(["eval", "--config", #"{"type": "L1Loss", "reduction": "sum"}"#,
                                       "--pred", empty.path, "--target", empty.path])
        XCTAssertEqual(sum.status, 0, sum.stderr)
        XCTAssertEqual(try jsonDouble(try sum.json()["total"]), 0)
        let nan = try RawNpy.write(dir.appendingPathComponent("nan.npy"), descr: "<f8", shape: [1, 1, 1, 2], values: [.nan, 1])
        let inf = try RawNpy.write(dir.appendingPathComponent("inf.npy"), descr: "<f8", shape: [1, 1, 1, 2], values: [.infinity, 1])
        let zero = try RawNpy.write(dir.appendingPathComponent("zero.npy"), descr: "<f8", shape: [1, 1, 1, 2], values: [0, 0])
        let n = try EvalHarness.run(["eval", "--config", #"{"type": "L1Loss"}"#, "--pred", nan.path, "--target", zero.path])
        XCTAssertEqual(n.status, 3, n.stderr)
        XCTAssertEqual(try n.terms()["loss"]?["value"] as? String, "nan")
        let i = try EvalHarness.run(["eval", "--config", #"{"type": "MSELoss"}"#, "--pred", inf.path, "--target", zero.path,
                                     "--format", "table"])
        XCTAssertEqual(i.status, 3, i.stderr)
        XCTAssertTrue(i.stdout.contains("inf"), i.stdout)
    }

    // MARK: Unicode paths

    func testUnicodePathsWork() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let folder = dir.appendingPathComponent("dätä ✓")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let pred = try RawNpy.write(folder.appendingPathComponent("prëd.npy"), descr: "<f4", shape: [1, 1, 1, 2], values: [1, 2])
        let target = try RawNpy.write(folder.appendingPathComponent("目标.npy"), descr: "<f4", shape: [1, 1, 1, 2], values: [0, 0])
        let config = folder.appendingPathComponent("cönfig.json")
        try #"{"losses": {"l_loss": {"type": "L1Loss"}}, "inputs": {"pred": "prëd.npy", "target": "目标.npy"}}"#
            .write(to: config, atomically: true, encoding: .utf8)
        let out = folder.appendingPathComponent("grädients.npz")
        let r = try EvalHarness.run(["eval", "--config", config.path, "--grad-out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try jsonDouble(try r.json()["total"]), 1.5)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
        let inspect = try EvalHarness.run(["inspect", pred.path, target.path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        let arrays = try XCTUnwrap(try inspect.json()["arrays"] as? [String: Any])
        XCTAssertEqual(Set(arrays.keys), [pred.path, target.path])
        assertUsageError(try EvalHarness.run(["eval", "--config", config.path,
                                              "--pred", folder.appendingPathComponent("fëhlt.npy").path]),
                         mentions: ["fëhlt.npy", "pred"])
    }

    // MARK: inspect naming

    /// "NAME the file path for `.npy`, the key for `.npz`" — also with several files.
    func testInspectNamesNpzArraysByKey() throws {
        let r = try EvalHarness.run(["inspect", "pred.npy", "bundle.npz", "weight.npy"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let arrays = try XCTUnwrap(try r.json()["arrays"] as? [String: [String: Any]])
        XCTAssertEqual(Set(arrays.keys), ["pred.npy", "weight.npy", "pred", "target", "weight"])
        XCTAssertEqual(arrays["target"]?["dtype"] as? String, "<f4")
        XCTAssertEqual(arrays["target"]?["shape"] as? [Int], [2, 3, 4, 4])
        XCTAssertEqual(arrays["target"]?["fortran_order"] as? Bool, false)
    }
}
