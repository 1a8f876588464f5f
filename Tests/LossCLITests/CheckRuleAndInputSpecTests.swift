import Foundation
import XCTest
@testable import LossCLI

/// The pieces of eval/check that have a rule of their own: NumPy's isclose, where a gradient
/// mismatch is reported, `NAME=PATH[:KEY]` parsing, input precedence, close-name suggestions.
final class CheckRuleAndInputSpecTests: XCTestCase {
    /// 576 cases (edge values × four tolerance pairs) decided by `numpy.isclose`
    /// (fixtures/cli/isclose_cases.json, made by gen_fixtures.py).
    func testIsCloseAgreesWithNumPy() throws {
        let data = try Data(contentsOf: EvalHarness.fixtures.appendingPathComponent("isclose_cases.json"))
        let cases = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        XCTAssertEqual(cases.count, 576)
        for c in cases {
            let got = try XCTUnwrap(Double(c["got"] as! String)), golden = try XCTUnwrap(Double(c["golden"] as! String))
            let rtol = (c["rtol"] as! NSNumber).doubleValue, atol = (c["atol"] as! NSNumber).doubleValue
            XCTAssertEqual(isClose(got, golden, rtol: rtol, atol: atol), c["close"] as? Bool,
                           "isclose(\(got), \(golden), rtol=\(rtol), atol=\(atol))")
        }
    }

    func testArrayComparisonReportsWorstElement() {
        let comparator = GoldenComparator(rtol: 1e-5, atol: 1e-8, dtype: .float64)
        let golden = [1.0, 2.0, 3.0, 4.0]
        // Element 1 is off by 1e-3, element 3 by 1e-2: both mismatch, 3 is reported.
        let row = comparator.compareArrays(key: "total/pred", golden: golden, got: [1.0, 2.001, 3.0, 4.01])
        XCTAssertFalse(row.matched)
        XCTAssertEqual(row.mismatchedElements, 2)
        XCTAssertEqual(row.index, 3)
        XCTAssertEqual(row.golden, 4.0)
        XCTAssertEqual(row.got, 4.01)
        // A NaN ranks first among mismatches.
        let nan = comparator.compareArrays(key: "k", golden: golden, got: [1.0, .nan, 3.0, 4.01])
        XCTAssertEqual(nan.index, 1)
        // All within tolerance: the largest difference is shown.
        let ok = comparator.compareArrays(key: "k", golden: golden, got: [1.0, 2.0 + 1e-6, 3.0 + 2e-6, 4.0])
        XCTAssertTrue(ok.matched)
        XCTAssertEqual(ok.mismatchedElements, 0)
        XCTAssertEqual(ok.index, 2)
    }

    /// A float32 result and its shortest golden text compare equal at zero tolerance.
    func testFloat32GoldenIsReadAsFloat32() {
        let value = Float(1.3438817)
        let text = Double(value.description)!  // what eval wrote, read as a Double
        XCTAssertNotEqual(text, Double(value))
        let f32 = GoldenComparator(rtol: 0, atol: 0, dtype: .float32)
        XCTAssertTrue(isClose(Double(value), f32.reference(text), rtol: 0, atol: 0))
        let f64 = GoldenComparator(rtol: 0, atol: 0, dtype: .float64)
        XCTAssertFalse(isClose(Double(value), f64.reference(text), rtol: 0, atol: 0))
    }

    func testArrayLocations() throws {
        XCTAssertEqual(try ArrayLocation.parse("p.npy", baseDirectory: nil, context: "c"), .npy(path: "p.npy"))
        XCTAssertEqual(try ArrayLocation.parse("b.npz:pred", baseDirectory: nil, context: "c"),
                       .npzMember(path: "b.npz", key: "pred"))
        // A colon elsewhere is part of the path; the key may itself hold a colon-free slash.
        XCTAssertEqual(try ArrayLocation.parse("a:b.npy", baseDirectory: nil, context: "c"), .npy(path: "a:b.npy"))
        XCTAssertEqual(try ArrayLocation.parse("x/B.NPZ:grad/total", baseDirectory: nil, context: "c"),
                       .npzMember(path: "x/B.NPZ", key: "grad/total"))
        // Relative to the config's folder; absolute paths stay.
        XCTAssertEqual(try ArrayLocation.parse("p.npy", baseDirectory: "/cfg", context: "c"), .npy(path: "/cfg/p.npy"))
        XCTAssertEqual(try ArrayLocation.parse("/d/p.npy", baseDirectory: "/cfg", context: "c"), .npy(path: "/d/p.npy"))
        for bad in ["", "b.npz", "b.npz:"] {
            XCTAssertThrowsError(try ArrayLocation.parse(bad, baseDirectory: nil, context: "c"), bad)
        }
        let binding = try InputBinding.parse(assignment: "gt=dir/a=b.npy")
        XCTAssertEqual(binding.name, "gt")
        XCTAssertEqual(binding.location, .npy(path: "dir/a=b.npy"))
        for bad in ["pred", "=p.npy", "a b=p.npy"] {
            XCTAssertThrowsError(try InputBinding.parse(assignment: bad), bad)
        }
    }

    func testInputPrecedence() throws {
        func binding(_ name: String, _ path: String, _ origin: String) -> InputBinding {
            InputBinding(name: name, location: .npy(path: path), origin: origin)
        }
        var plan = InputPlan()
        try plan.add(binding("pred", "config.npy", "config"), layer: .config)
        try plan.add(binding("target", "t.npy", "--target"), layer: .explicit)
        try plan.add(binding("pred", "bundle.npy", "--inputs"), layer: .bundle)
        try plan.add(binding("pred", "cli.npy", "--pred"), layer: .explicit)
        // A weaker source after a stronger one does not replace it.
        try plan.add(binding("target", "weaker.npy", "--inputs"), layer: .bundle)
        XCTAssertEqual(plan.names, ["pred", "target"])
        XCTAssertEqual(plan["pred"]?.location, .npy(path: "cli.npy"))
        XCTAssertEqual(plan["target"]?.location, .npy(path: "t.npy"))
        XCTAssertThrowsError(try plan.add(binding("pred", "again.npy", "--input"), layer: .explicit))
    }

    func testCloseNames() {
        let names = ["L1Loss", "MSELoss", "GANLoss", "GANLossComps", "TVLoss", "MaskedTVLoss"]
        XCTAssertEqual(closeNames(to: "L1loss", among: names).first, "L1Loss")
        XCTAssertEqual(closeNames(to: "GanLos", among: names).first, "GANLoss")
        XCTAssertTrue(closeNames(to: "Zebra", among: names).isEmpty)
        XCTAssertEqual(editDistance(Array("kitten"), Array("sitting")), 3)
        XCTAssertEqual(editDistance([], Array("abc")), 3)
    }
}

/// The config's `"inputs"`, which the CLI alone reads (`LoadedConfig.load`).
final class ConfigInputsTests: XCTestCase {
    func testConfigInputsAreReadInOrderAndLeftOutOfTheLosses() throws {
        let demo = try LoadedConfig.load(EvalHarness.root.appendingPathComponent("fixtures/demo/loss.json").path)
        XCTAssertEqual(demo.inputs.map(\.name), ["pred", "target", "weight"])
        XCTAssertNil(demo.losses["inputs"])
        let shorthand = try LoadedConfig.load(#"{"type": "DiscShiftLoss", "inputs": {"x": "d/x.npy"}}"#)
        XCTAssertEqual(shorthand.inputs.map(\.name), ["x"])
        // JSON text: relative to the current folder, so the path stays as written.
        XCTAssertEqual(shorthand.inputs.map(\.location), [.npy(path: "d/x.npy")])
        XCTAssertNil(shorthand.losses["inputs"])
    }

    func testConfigInputsErrors() {
        let cases: [(String, String)] = [
            (#"{"losses": {"a": {"type": "L1Loss"}}, "inputs": {"pred": 3}}"#, #"key "inputs.pred": expected a path string, found an integer"#),
            (#"{"type": "L1Loss", "inputs": ["p.npy"]}"#, #"key "inputs": expected an object {"NAME": "PATH"}, found a list"#),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try LoadedConfig.load(text), text) { e in
                XCTAssertTrue("\(e)".contains(message), "\(text): \(e)")
            }
        }
    }
}
