import XCTest
@testable import LossKit

/// The config reader, the registry declarations and `LossProgram`'s term/total/gradient rules.
final class RegistryTests: XCTestCase {
    // MARK: JSON

    func testJSONKeepsKeyOrderAndKinds() throws {
        let v = try ConfigValue.parse(jsonText: #" {"b": 1, "a": [true, null, -2.5e-3, "x\u00e9\ud83d\ude00\n"], "c": {}} "#)
        guard case let .object(members) = v else { return XCTFail("not an object") }
        XCTAssertEqual(members.map(\.key), ["b", "a", "c"])
        XCTAssertEqual(v["b"], .int(1))
        XCTAssertEqual(v["a"], .array([.bool(true), .null, .double(-0.0025), .string("xé😀\n")]))
        XCTAssertEqual(v["c"], .object([]))
        XCTAssertEqual(try ConfigValue.parse(jsonText: "12345678901234567890"), .double(1.2345678901234567e19))  // beyond Int: a Double
        XCTAssertEqual(try ConfigValue.parse(jsonText: "1.0"), .double(1))
    }

    func testJSONErrorsCarryPosition() {
        let cases: [(String, String)] = [
            ("{\"a\": 1,}", "line 1, column 9: expected a quoted key, found '}'"),
            ("{\"a\": 1, \"a\": 2}", "line 1, column 10: duplicate key \"a\""),
            ("[01]", "line 1, column 2: leading zero in number"),
            ("{\n  \"a\": tru\n}", "line 2, column 8: expected a value, found 't'"),
            ("\"abc", "line 1, column 1: unterminated string"),
            ("[1] x", "line 1, column 5: unexpected text after the JSON value"),
            ("[NaN]", "line 1, column 2: expected a value, found 'N'"),
            ("1e999", "line 1, column 1: number 1e999 is out of range"),
            ("\"\\ud800\"", "unpaired surrogate"),
            ("", "expected a value, found end of input"),
            (String(repeating: "[", count: 300), "nesting deeper than 256 levels"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try ConfigValue.parse(jsonText: text), text) { e in
                XCTAssertTrue("\(e)".contains(message), "\(text): \(e)")
            }
        }
    }

    // MARK: Registry

    func testRegistryDeclaresEveryLoss() {
        let names = LossRegistry.builtIn.map { $0.declaration.name }
        XCTAssertEqual(names, ["L1Loss", "MSELoss", "CharbonnierLoss", "MaskedTVLoss", "PSNRLoss", "TVLoss",
                               "L1CompositionLoss", "MSECompositionLoss", "CharbonnierCompLoss", "GradientLoss",
                               "GANLoss", "GANLossComps", "DiscShiftLoss", "DiscShiftLossComps", "TransferalPerceptualLoss",
                               "PerceptualLoss", "LightCNNFeatureLoss"])
        let dsc = LossRegistry.declaration(named: "DiscShiftLossComps")
        XCTAssertEqual(dsc?.hasLossName, true)
        XCTAssertEqual(dsc?.parameter("loss_name")?.defaultValue, .string("loss_disc_shift"))
        XCTAssertEqual(LossRegistry.declaration(named: "DiscShiftLoss")?.parameter("loss_weight")?.defaultValue, .double(0.1))
        XCTAssertEqual(LossRegistry.declaration(named: "GANLoss")?.parameter("gan_type")?.defaultValue, nil)
        XCTAssertEqual(LossRegistry.declaration(named: "TransferalPerceptualLoss")?.input("maps")?.kind, .tensorList)
        XCTAssertEqual(LossRegistry.declaration(named: "PerceptualLoss")?.parameter("pretrained")?.kind, .weights)
        XCTAssertEqual(LossRegistry.declaration(named: "PerceptualLoss")?.partNames, ["perceptual", "style"])
    }

    func testCriterionIsCaseInsensitiveAsInMMagic() throws {
        let p = try LossParameters(TransferalPerceptualLoss.self, ["criterion": .string("L1")])
        XCTAssertEqual(p["criterion"], .string("l1"))
    }

    // MARK: Programs

    func t(_ shape: [Int], _ values: [Double], _ dtype: DType = .float64) throws -> Tensor {
        try Tensor(shape: shape, values: values, dtype: dtype)
    }

    func testDemoConfigTermsTotalAndGradients() throws {
        let pred = try t([1, 1, 2, 2], [0.1, 0.5, -0.3, 2.0])
        let target = try t([1, 1, 2, 2], [0.0, 1.0, 0.3, 1.5])
        let weight = try t([1, 1, 2, 2], [1, 0, 1, 0.5])
        let text = try String(contentsOf: LossFixtures.root.appendingPathComponent("fixtures/demo/loss.json"), encoding: .utf8)
        let program = try LossProgram(jsonText: text)
        XCTAssertEqual(program.terms.map(\.name), ["pixel_loss", "mse_loss", "charbonnier_loss"])
        XCTAssertEqual(program.requiredInputs, ["pred", "target"])
        XCTAssertEqual(program.optionalInputs, ["weight"])
        let e = try program.evaluate(inputs: ["pred": pred, "target": target, "weight": weight])

        // Independent arithmetic: weighted sums over the four elements.
        let p = pred.toFloat64(), q = target.toFloat64(), w = weight.toFloat64()
        let sw = w.reduce(0, +) + 1e-12
        let l1 = zip(zip(p, q), w).map { Swift.abs($0.0 - $0.1) * $1 }.reduce(0, +) / sw
        let mse = 0.5 * zip(zip(p, q), w).map { ($0.0 - $0.1) * ($0.0 - $0.1) * $1 }.reduce(0, +) / sw
        let cb = 0.1 * zip(zip(p, q), w).map { (($0.0 - $0.1) * ($0.0 - $0.1) + 1e-6).squareRoot() * $1 }.reduce(0, +) / sw
        XCTAssertEqual(e.terms.map(\.reported), [l1, mse, cb].map { $0 }, accuracy: 1e-15)
        XCTAssertEqual(e.total, l1 + mse + cb, accuracy: 1e-15)
        XCTAssertEqual(e.terms.map(\.inTotal), [true, true, true])
        XCTAssertEqual(e.gradientOrder.map(\.key), ["total", "pixel_loss", "mse_loss", "charbonnier_loss"])
        XCTAssertEqual(e.gradientOrder[0].inputs, ["pred", "target", "weight"])

        // Gradients of the total against central finite differences.
        for name in ["pred", "target", "weight"] {
            guard let g = e.gradients["total"]?[name] else { XCTFail("no gradient for \(name)"); continue }
            var inputs = ["pred": pred, "target": target, "weight": weight]
            let base = inputs[name]!.toFloat64()
            for i in 0..<base.count {
                var plus = base, minus = base
                plus[i] += 1e-6; minus[i] -= 1e-6
                inputs[name] = try t([1, 1, 2, 2], plus)
                let fp = try program.evaluate(inputs: inputs, options: .init(gradients: false)).total
                inputs[name] = try t([1, 1, 2, 2], minus)
                let fm = try program.evaluate(inputs: inputs, options: .init(gradients: false)).total
                inputs[name] = try t([1, 1, 2, 2], base)
                XCTAssertEqual(g.toFloat64()[i], (fp - fm) / 2e-6, accuracy: 1e-6, "d total / d \(name)[\(i)]")
            }
        }
        // A term's gradient is its own: pixel_loss w.r.t. pred is weight·sign(p − t)/Σw.
        let gp = e.gradients["pixel_loss"]?["pred"]?.toFloat64() ?? []
        XCTAssertEqual(gp, zip(zip(p, q), w).map { ($0.0 > $0.1 ? 1 : -1) * $1 / sw }, accuracy: 1e-15)
    }

    func testCompsNamingSummingAndTheTotalRule() throws {
        let real = try t([2, 1], [0.5, -1.0]), fake = try t([2, 1], [2.0, 0.25])
        let program = try LossProgram(jsonText: """
        {"losses": {
          "disc_auxiliary_loss": [
            {"type": "DiscShiftLossComps", "loss_weight": 0.001, "data_info": {"pred": "disc_pred_real"}},
            {"type": "DiscShiftLossComps", "loss_weight": 0.001, "data_info": {"pred": "disc_pred_fake"}}
          ],
          "gan": [
            {"type": "GANLoss", "gan_type": "wgan", "args": {"target_is_real": false, "is_disc": true}, "data_info": {"input": "disc_pred_fake"}},
            {"type": "GANLoss", "gan_type": "wgan", "args": {"target_is_real": true, "is_disc": true}, "data_info": {"input": "disc_pred_real"}}
          ],
          "named": {"type": "DiscShiftLossComps", "loss_name": "shift_log", "data_info": {"pred": "disc_pred_fake"}}
        }}
        """)
        XCTAssertEqual(program.terms.map(\.name), ["loss_disc_shift", "loss_disc_shift", "gan.0", "gan.1", "shift_log"])
        let e = try program.evaluate(inputs: ["disc_pred_real": real, "disc_pred_fake": fake])
        XCTAssertEqual(e.terms.map(\.name), ["loss_disc_shift", "gan.0", "gan.1", "shift_log"])
        let shift = e.term(named: "loss_disc_shift")!
        // Summed element-wise (shape kept), reported as the mean of the sum.
        XCTAssertEqual(shift.value.shape, [2, 1])
        XCTAssertEqual(shift.value.toFloat64(), [0.001 * (0.25 + 4.0), 0.001 * (1.0 + 0.0625)], accuracy: 1e-18)
        XCTAssertEqual(shift.reported, 0.001 * (0.25 + 4.0 + 1.0 + 0.0625) / 2, accuracy: 1e-18)
        XCTAssertEqual(shift.inputs, ["disc_pred_real", "disc_pred_fake"])
        // Only names containing "loss" count: gan.0, gan.1 and shift_log are reported, not summed.
        XCTAssertEqual(e.terms.map(\.inTotal), [true, false, false, false])
        XCTAssertEqual(e.total, shift.reported)
        XCTAssertEqual(e.term(named: "gan.0")!.reported, (2.0 + 0.25) / 2)
        XCTAssertEqual(e.term(named: "gan.1")!.reported, -(0.5 - 1.0) / 2)
        // d total / d fake = 0.001 · 2·fake / 2 (the mean over the two elements).
        XCTAssertEqual(e.gradients["total"]?["disc_pred_fake"]?.toFloat64() ?? [], [0.002, 0.00025], accuracy: 1e-18)
        XCTAssertEqual(e.gradients["gan.0"]?["disc_pred_fake"]?.toFloat64() ?? [], [0.5, 0.5])
        XCTAssertEqual(e.gradients["gan.0"].map { Array($0.keys) }, ["disc_pred_fake"])
    }

    func testShorthandListsArgsWrtAndNoLossTerms() throws {
        let x = try t([2], [3, -1])
        let shorthand = try LossProgram(jsonText: #"{"type": "DiscShiftLoss", "loss_weight": 0.5}"#)
        XCTAssertEqual(shorthand.terms.map(\.name), ["loss"])
        let withInputs = try LossProgram(jsonText: #"{"type": "DiscShiftLoss", "inputs": {"x": "d/x.npy"}}"#)
        // The shorthand's "inputs" are the caller's (the CLI reads them): not a parameter.
        XCTAssertEqual(withInputs.terms.map(\.name), ["loss"])
        let e = try shorthand.evaluate(inputs: ["x": x, "unused": x], options: .init(wrt: ["x", "unused"]))
        XCTAssertEqual(e.total, 0.5 * (9 + 1) / 2)
        XCTAssertEqual(e.gradients["loss"]?["x"]?.toFloat64(), [1.5, -0.5])
        XCTAssertEqual(e.gradients["loss"]?["unused"]?.toFloat64(), [0, 0])
        // One term in the total: its backward pass serves the total too.
        XCTAssertTrue(e.gradients["total"]?["x"] === e.gradients["loss"]?["x"])

        // No term with "loss" in its name: the total is 0 and its gradient zeros.
        let none = try LossProgram(jsonText: #"{"losses": {"shift": {"type": "DiscShiftLoss", "data_info": {"x": "y"}}}}"#)
        let en = try none.evaluate(inputs: ["y": x])
        XCTAssertEqual(en.total, 0)
        XCTAssertEqual(en.terms.first?.inTotal, false)
        XCTAssertEqual(en.gradientOrder.first?.inputs, [])
        XCTAssertThrowsError(try none.evaluate(inputs: ["y": x], options: .init(wrt: ["nope"]))) { e in
            XCTAssertTrue("\(e)".contains("no input named \"nope\""), "\(e)")
        }
        // Inputs that were not floating point are not differentiated by default.
        let ei = try none.evaluate(inputs: ["y": x], options: .init(nonFloatInputs: ["y"]))
        XCTAssertEqual(ei.gradientOrder.last?.inputs, [])
    }

    func testListValuedDataInfoAndDefaultListBinding() throws {
        let m0 = try t([1, 1, 2, 2], [1, 2, 3, 4]), m1 = try t([1, 1, 4, 4], (0..<16).map { Double($0) / 8 })
        let t0 = try t([1, 1, 2, 2], [0, 2, 3, 5]), t1 = try t([1, 1, 4, 4], (0..<16).map { Double($0) / 4 })
        let att = try t([1, 1, 2, 2], [0, 1, -1, 2])
        let mapped = try LossProgram(jsonText: """
        {"type": "TransferalPerceptualLoss", "use_attention": false,
         "data_info": {"maps": ["a", "b"], "textures": ["c", "d"], "soft_attention": "s"}}
        """)
        XCTAssertEqual(mapped.requiredInputs, ["s", "a", "b", "c", "d"])
        let e = try mapped.evaluate(inputs: ["a": m0, "b": m1, "c": t0, "d": t1, "s": att])
        let level0 = (1.0 + 0 + 0 + 1) / 4
        let level1: Double = (0..<16).map { (k: Int) -> Double in let d = Double(k) / 8 - Double(k) / 4; return d * d }.reduce(0, +) / 16
        XCTAssertEqual(e.total, level0 + level1, accuracy: 1e-15)
        XCTAssertEqual(e.terms[0].inputs, ["s", "a", "b", "c", "d"])

        let byName = try LossProgram(jsonText: #"{"type": "TransferalPerceptualLoss", "use_attention": false}"#)
        let e2 = try byName.evaluate(inputs: ["maps.0": m0, "maps.1": m1, "textures.0": t0, "textures.1": t1, "soft_attention": att])
        XCTAssertEqual(e2.total, e.total)
        XCTAssertThrowsError(try byName.evaluate(inputs: ["soft_attention": att])) { e in
            XCTAssertEqual("\(e)", "term \"loss\" (TransferalPerceptualLoss) needs input \"maps.0\" (its argument maps), which was not given")
        }
    }

    /// The pixel losses are one generic type, one criterion each: declared under MMagic's names,
    /// and only those that are fused sums of their inputs say so.
    func testPixelLossesAreOneTypePerCriterion() {
        XCTAssertEqual(([L1Loss.self, MSELoss.self, CharbonnierLoss.self, L1CompositionLoss.self,
                        MSECompositionLoss.self, CharbonnierCompLoss.self] as [LossModule.Type]).map { $0.declaration.name },
                       ["L1Loss", "MSELoss", "CharbonnierLoss", "L1CompositionLoss", "MSECompositionLoss", "CharbonnierCompLoss"])
        XCTAssertEqual([L1Loss.forwardIsFusedSums, MSELoss.forwardIsFusedSums, CharbonnierLoss.forwardIsFusedSums],
                       [true, true, true])
        XCTAssertEqual([L1CompositionLoss.forwardIsFusedSums, MSECompositionLoss.forwardIsFusedSums, CharbonnierCompLoss.forwardIsFusedSums],
                       [false, false, false])
        XCTAssertEqual(ParameterDeclaration.reduction.allowedValues, ["none", "mean", "sum"])
    }

    func testConfigShapeErrors() {
        let cases: [(String, String)] = [
            (#"[1]"#, "the config must be a JSON object, found a list"),
            (#"{"loss": {}}"#, "loss: unknown top-level key"),
            (#"{"losses": []}"#, "losses: must be an object of named losses, found a list"),
            (#"{"losses": {"a": 3}}"#, "losses.a: must be a loss dict or a list of loss dicts, found an integer"),
            (#"{"losses": {"a": [{"loss_weight": 1}]}}"#, "losses.a[0]: missing \"type\""),
            (#"{"losses": {"a": {"type": "L1Loss", "reduction": "avg"}}}"#,
             "losses.a.reduction: unsupported reduction \"avg\" for L1Loss; allowed: none, mean, sum"),
            (#"{"losses": {"a": {"type": "L1Loss", "weight": 2}}}"#, "losses.a.weight: L1Loss has no parameter \"weight\""),
            (#"{"type": "TransferalPerceptualLoss", "data_info": {"maps": "m"}}"#, "data_info.maps: \"maps\" is a list argument"),
            (#"{"type": "L1Loss", "data_info": {"pred": ["a"]}}"#, "data_info.pred: must be an input name (string), found a list"),
            (#"{"type": "L1Loss", "sample_wise": 1}"#, "sample_wise: L1Loss parameter \"sample_wise\" must be true or false, found an integer 1"),
            (#"{"losses": {"a": {"type": "L1Loss",}}}"#, "invalid JSON at line 1, column 36"),
            (#"{"losses": {}}"#, "losses: no loss is configured"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try LossProgram(jsonText: text), text) { e in
                XCTAssertTrue("\(e)".hasPrefix(message) || "\(e)".contains(message), "\(text): \(e)")
            }
        }
    }

    /// A two-part loss like PerceptualLoss: `a = mean(x)`, `b = mean(x²)` (b absent when its weight is 0).
    struct TwoPartTestLoss: LossModule {
        static let declaration = LossTypeDeclaration(
            name: "TwoPartTestLoss", summary: "Test only.",
            parameters: [.init("b_weight", .float, default: .double(1), doc: "Weight of part b.")],
            inputs: [.tensor("x", doc: "Any tensor.")], partNames: ["a", "b"])
        let bWeight: Double
        init(parameters p: LossParameters) throws { bWeight = try p.double("b_weight") }
        func forward(_ x: LossInputs) throws -> LossOutput {
            let t = try x.tensor("x")
            var parts: [(name: String, value: Tensor)] = [("a", t.mean())]
            if bWeight != 0 { parts.append(("b", t.square().mean() * bWeight)) }
            return .parts(parts)
        }
    }

    func testMultiPartTermsAreNamedAndSummed() throws {
        LossRegistry.register(TwoPartTestLoss.self)
        let x = try t([2], [1, 3])
        let p = try LossProgram(jsonText: """
            {"losses": {"feat_loss": [{"type": "TwoPartTestLoss"}, {"type": "TwoPartTestLoss", "b_weight": 0}],
                        "other": {"type": "TwoPartTestLoss", "b_weight": 2}}}
            """)
        let e = try p.evaluate(inputs: ["x": x])
        XCTAssertEqual(e.terms.map(\.name), ["feat_loss.0.a", "feat_loss.0.b", "feat_loss.1.a", "other.a", "other.b"])
        XCTAssertEqual(e.terms.map(\.reported), [2, 5, 2, 2, 10])
        XCTAssertEqual(e.total, 9)
        XCTAssertEqual(e.gradients["other.b"]?["x"]?.toFloat64(), [2, 6])
    }

    func testMappedArgumentErrorsNameTheInput() throws {
        let p = try LossProgram(jsonText: #"{"losses": {"pix": {"type": "L1Loss", "data_info": {"weight": "mask_hr"}}}}"#)
        let pred = try Tensor.ones(shape: [1, 3, 4, 4])
        XCTAssertThrowsError(try p.evaluate(inputs: ["pred": pred, "target": pred, "mask_hr": Tensor.ones(shape: [1, 2, 4, 4])])) { e in
            XCTAssertEqual("\(e)", "term \"pix\" (L1Loss): weight (1,2,4,4) has 2 channels; expected 1 or 3 as in pred (1,3,4,4) (weight is input \"mask_hr\")")
        }
    }

    func testDetachedBlurredMaskGetsZeroGradient() throws {
        // smgan disc/fake: the blurred mask is detached in MMagic, so d loss / d mask = 0.
        let program = try LossProgram(jsonText: #"{"type": "GANLoss", "gan_type": "smgan", "args": {"target_is_real": false, "is_disc": true}}"#)
        let input = try t([1, 1, 3, 3], (0..<9).map { Double($0) / 9 })
        let mask = try t([1, 1, 3, 3], [1, 0, 1, 0, 1, 1, 0, 0, 1])
        let e = try program.evaluate(inputs: ["input": input, "mask": mask])
        XCTAssertEqual(e.gradients["total"]?["mask"]?.toFloat64(), Array(repeating: 0, count: 9))
        XCTAssertNotEqual(e.gradients["total"]?["input"]?.toFloat64(), Array(repeating: 0, count: 9))
    }
}

func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "count: \(message)", file: file, line: line)
    for (i, (x, y)) in zip(a, b).enumerated() {
        XCTAssertEqual(x, y, accuracy: accuracy, "[\(i)] \(message)", file: file, line: line)
    }
}
