import Foundation
import NpyIO
import XCTest

/// `losscli eval` against MMagic 1.2 itself: the configs in fixtures/accept/ run through the
/// built binary, and every term (value, shape, in_total), the total, the gradient statistics,
/// every gradient element and every --values-out array must equal what MMagic's classes
/// computed with PyTorch (scripts/gen_accept_fixtures.py), in float32 and in float64.
final class AcceptanceMMagicTests: XCTestCase {
    static let accept = EvalHarness.root.appendingPathComponent("fixtures/accept")

    /// Tolerances per precision. float32: losscli accumulates reductions in float64 and
    /// PyTorch in float32, so they differ by a few float32 ulps of the value (rtol 1e-5);
    /// gradients additionally get an absolute floor of 1e-6 of the array's largest element.
    /// float64: both sides are exact to a few float64 ulps.
    struct Tolerance { var rtol: Double; var atol: Double; var gradScale: Double }
    static let tolerance: [String: Tolerance] = [
        "f32": Tolerance(rtol: 1e-5, atol: 1e-8, gradScale: 1e-6),
        "f64": Tolerance(rtol: 1e-12, atol: 1e-15, gradScale: 1e-12),
    ]

    func number(_ any: Any?, _ what: String) throws -> Double {
        try XCTUnwrap((any as? NSNumber)?.doubleValue, "\(what) is not a number: \(String(describing: any))")
    }

    /// Runs one case and compares it with MMagic's result in `precision`.
    func checkCase(_ name: String, precision: String, extraArguments: [String]? = nil,
                   in directory: URL? = nil) throws {
        let tol = try XCTUnwrap(Self.tolerance[precision])
        let dir = try EvalHarness.temporaryDirectory(self)
        let gradOut = dir.appendingPathComponent("grads.npz"), valuesOut = dir.appendingPathComponent("values.npz")
        let config = Self.accept.appendingPathComponent("\(name).json").path
        let inputs = extraArguments ?? ["--inputs", Self.accept.appendingPathComponent("\(name)_inputs.npz").path]
        let result = try EvalHarness.run(["eval", "--config", config, "--precision", precision,
                                          "--grad-out", gradOut.path, "--values-out", valuesOut.path] + inputs,
                                         in: directory)
        XCTAssertEqual(result.status, 0, "\(name) \(precision): \(result.stderr)")
        XCTAssertEqual(result.stderr, "")
        let got = try result.json()
        let expectedData = try Data(contentsOf: Self.accept.appendingPathComponent("\(name)_expected_\(precision).json"))
        let expected = try XCTUnwrap(try JSONSerialization.jsonObject(with: expectedData) as? [String: Any])

        // Terms: the same names (no more, no fewer), types, shapes, in_total and values.
        let gotTerms = try XCTUnwrap(got["terms"] as? [String: [String: Any]])
        let expectedTerms = try XCTUnwrap(expected["terms"] as? [String: [String: Any]])
        XCTAssertEqual(Set(gotTerms.keys), Set(expectedTerms.keys), "\(name): term names")
        for (term, e) in expectedTerms {
            guard let g = gotTerms[term] else { continue }
            XCTAssertEqual(g["type"] as? String, e["type"] as? String, "\(name) \(term) type")
            XCTAssertEqual(g["shape"] as? [Int], e["shape"] as? [Int], "\(name) \(term) shape")
            XCTAssertEqual(g["in_total"] as? Bool, e["in_total"] as? Bool, "\(name) \(term) in_total")
            assertClose(try number(g["value"], term), try number(e["value"], term),
                        rtol: tol.rtol, atol: tol.atol, "\(name) \(precision) \(term)")
        }
        assertClose(try number(got["total"], "total"), try number(expected["total"], "total"),
                    rtol: tol.rtol, atol: tol.atol, "\(name) \(precision) total")

        // Gradient statistics: the same owners and inputs, shapes, l2 and max_abs.
        let gotGrads = try XCTUnwrap(got["gradients"] as? [String: [String: [String: Any]]])
        let expectedGrads = try XCTUnwrap(expected["gradients"] as? [String: [String: [String: Any]]])
        XCTAssertEqual(Set(gotGrads.keys), Set(expectedGrads.keys), "\(name): gradient owners")
        for (owner, inputs) in expectedGrads {
            XCTAssertEqual(Set(gotGrads[owner]?.keys ?? [:].keys), Set(inputs.keys), "\(name): inputs of \(owner)")
            for (input, e) in inputs {
                guard let g = gotGrads[owner]?[input] else { continue }
                XCTAssertEqual(g["shape"] as? [Int], e["shape"] as? [Int], "\(owner)/\(input) shape")
                for stat in ["l2", "max_abs"] {
                    assertClose(try number(g[stat], stat), try number(e[stat], stat), rtol: tol.rtol,
                                atol: tol.atol, "\(name) \(precision) \(owner)/\(input) \(stat)")
                }
            }
        }

        // --values-out: every term's full output under its name, in the computation's dtype.
        let gotValues = try NpzArchive.read(contentsOf: valuesOut)
        let expectedValues = try NpzArchive.read(contentsOf: Self.accept.appendingPathComponent("\(name)_values_\(precision).npz"))
        XCTAssertEqual(Set(gotValues.names), Set(expectedValues.names), "\(name): --values-out keys")
        for key in expectedValues.names where gotValues.names.contains(key) {
            let g = try gotValues.array(named: key), e = try expectedValues.array(named: key)
            XCTAssertEqual(g.dtype.descr, precision == "f32" ? "<f4" : "<f8", "\(key) value dtype")
            XCTAssertEqual(g.shape, e.shape, "\(name) \(key) value shape")
            for (a, b) in zip(g.toFloat64(), e.toFloat64()) {
                assertClose(a, b, rtol: tol.rtol, atol: tol.atol, "\(name) \(precision) --values-out \(key)")
            }
        }

        // Every gradient element, in the computation's dtype, keyed TERM/INPUT and total/INPUT.
        let gotArchive = try NpzArchive.read(contentsOf: gradOut)
        let reference = try NpzArchive.read(contentsOf: Self.accept.appendingPathComponent("\(name)_grads_\(precision).npz"))
        XCTAssertEqual(Set(gotArchive.names), Set(reference.names), "\(name): --grad-out keys")
        // The size of this case's gradients: an array that is zero up to rounding noise of
        // that size (MMagic's smgan generator loss multiplies by mask / mask.mean(), which
        // cancels: its mask gradient is 0 analytically, 1e-18 in PyTorch, 1e-17 here) is
        // compared against that size, not against its own noise.
        var caseScale = 0.0
        for key in reference.names { caseScale = max(caseScale, try reference.array(named: key).toFloat64().map(abs).max() ?? 0) }
        for key in reference.names where gotArchive.names.contains(key) {
            let gArray = try gotArchive.array(named: key), eArray = try reference.array(named: key)
            XCTAssertEqual(gArray.dtype.descr, precision == "f32" ? "<f4" : "<f8", "\(key) dtype")
            XCTAssertEqual(gArray.shape, eArray.shape, "\(key) shape")
            let a = gArray.toFloat64(), b = eArray.toFloat64()
            XCTAssertEqual(a.count, b.count, key)
            var scale = b.map(abs).max() ?? 0
            if scale <= 1e-12 * caseScale { scale = caseScale }
            var worst = 0.0
            for (x, y) in zip(a, b) { worst = max(worst, abs(x - y) - tol.rtol * abs(y)) }
            XCTAssertLessThanOrEqual(worst, tol.gradScale * scale,
                                     "\(name) \(precision) \(key): worst excess \(worst) over rtol, array max \(scale)")
        }
    }

    /// GANLoss (vanilla, hinge, lsgan with label values, wgan, l1, smgan with a resized mask)
    /// and GANLossComps (hinge, wgan-logistic-ns), all with `args` and `data_info`.
    func testGANLossesWithArgsMatchMMagic() throws {
        try checkCase("gan", precision: "f32")
        try checkCase("gan", precision: "f64")
    }

    /// Composition losses with every tensor argument renamed by `data_info`, and a list of
    /// L1/MSE dicts named KEY.0, KEY.1 (one with reduction none: reported as its mean).
    func testCompositionLossesWithDataInfoMatchMMagic() throws {
        try checkCase("composition", precision: "f32")
        try checkCase("composition", precision: "f64")
    }

    /// TransferalPerceptualLoss with list-valued `data_info` (maps, textures), with and
    /// without attention, l1 and mse.
    func testTransferalWithListDataInfoMatchesMMagic() throws {
        try checkCase("transferal", precision: "f32")
        try checkCase("transferal", precision: "f64")
    }

    /// Three DiscShiftLossComps without loss_name (two in a list, one alone) are all
    /// `loss_disc_shift` and summed; one with a loss_name is its own term; DiscShiftLoss
    /// binds `x` through data_info.
    func testDiscShiftCompsAreNamedAndSummedAsMMagic() throws {
        try checkCase("disc_shift", precision: "f32")
        try checkCase("disc_shift", precision: "f64")
    }

    /// Pixel losses with their options: L1 sum with a 1-channel weight, sample-wise MSE and
    /// Charbonnier, PSNRLoss on the Y channel, MaskedTVLoss with a mask bound by data_info.
    func testPixelLossesWithOptionsMatchMMagic() throws {
        try checkCase("pixel", precision: "f32")
        try checkCase("pixel", precision: "f64")
    }

    /// GAN corners: label smoothing for the discriminator, smgan for the generator with a mask
    /// of another size (resized map, mask kept in the graph as in MMagic), l1 and hinge on
    /// the discriminator, GANLossComps lsgan/vanilla/wgan with labels in a list.
    func testMoreGANCornersMatchMMagic() throws {
        try checkCase("gan_more", precision: "f32")
        try checkCase("gan_more", precision: "f64")
    }

    /// The same disc-shift case with its inputs from two other routes, run from an unrelated
    /// folder: `disc_pred_real` from the config's `inputs` (relative to the config file) and
    /// `disc_pred_fake` as `NAME=bundle.npz:KEY`.
    func testConfigRelativeInputsAndNpzKeyRoute() throws {
        let elsewhere = try EvalHarness.temporaryDirectory(self)
        let bundle = Self.accept.appendingPathComponent("disc_shift_inputs.npz").path
        try checkCase("disc_shift", precision: "f32",
                      extraArguments: ["--input", "disc_pred_fake=\(bundle):disc_pred_fake"], in: elsewhere)
    }
}
