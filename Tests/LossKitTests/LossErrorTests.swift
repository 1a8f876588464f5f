import XCTest
@testable import LossKit

/// The inputs MMagic rejects (fixtures/losses/errors.json) give a `LossError` naming the term,
/// the argument and the shapes — never a trap.
final class LossErrorTests: XCTestCase {
    /// What each error message must mention, by fixture id.
    let expectations: [String: [String]] = [
        "L1Loss/bad-reduction": ["reduction", "\"InvalidValue\"", "none, mean, sum"],
        "MSELoss/bad-reduction": ["reduction", "\"InvalidValue\"", "none, mean, sum"],
        "CharbonnierLoss/bad-reduction": ["reduction", "\"InvalidValue\"", "none, mean, sum"],
        "L1CompositionLoss/bad-reduction": ["reduction", "\"InvalidValue\""],
        "MSECompositionLoss/bad-reduction": ["reduction", "\"InvalidValue\""],
        "CharbonnierCompLoss/bad-reduction": ["reduction", "\"InvalidValue\""],
        "GradientLoss/bad-reduction": ["reduction", "\"InvalidValue\""],
        "L1Loss/bad-reduction-case": ["reduction", "\"Mean\""],
        "GANLoss/bad-gan-type": ["gan_type", "\"xixihaha\"", "vanilla, lsgan, wgan, hinge, l1, smgan"],
        "GANLossComps/bad-gan-type": ["gan_type", "\"xixihaha\"", "vanilla, lsgan, wgan, hinge, wgan-logistic-ns"],
        "GANLossComps/smgan-unsupported": ["gan_type", "\"smgan\""],
        "GANLossComps/l1-unsupported": ["gan_type", "\"l1\""],
        "GANLoss/wgan-logistic-ns-unsupported": ["gan_type", "\"wgan-logistic-ns\""],
        "TransferalPerceptualLoss/bad-criterion": ["criterion", "\"l2\"", "l1, mse"],
        "GANLoss/smgan-no-mask": ["term \"loss\" (GANLoss)", "smgan needs a mask"],
        "GradientLoss/c3": ["term \"loss\" (GradientLoss)", "pred (1,3,5,5)", "3 channels"],
        "GradientLoss/sample-wise-param": ["GradientLoss has no parameter \"sample_wise\""],
        "L1Loss/weight-channel-mismatch": ["term \"loss\" (L1Loss)", "weight (1,2,4,4)", "2 channels", "(1,3,4,4)"],
        "MSELoss/weight-rank-mismatch": ["term \"loss\" (MSELoss)", "weight (4,4)", "rank", "(1,3,4,4)"],
        "L1CompositionLoss/weight-channel-mismatch": ["term \"loss\" (L1CompositionLoss)", "weight (1,2,3,3)", "3 channels"],
        "L1Loss/shape-mismatch": ["term \"loss\" (L1Loss): pred (1,3,4,4) and target (1,3,2,2) have different shapes"],
        "PSNRLoss/rank3": ["term \"loss\" (PSNRLoss)", "4-D", "(3,4,4)"],
        "PSNRLoss/rank5": ["term \"loss\" (PSNRLoss)", "4-D", "(1,1,3,4,4)"],
        "TVLoss/rank3": ["term \"loss\" (TVLoss)", "4-D", "(3,4,4)"],
        "TransferalPerceptualLoss/map-texture-mismatch": ["maps[1] (1,2,4,4) and textures[1] (1,2,3,3)"],
        "TransferalPerceptualLoss/att-wrong-size": ["attention at level 1", "maps[1] (1,2,5,5)"],
    ]

    func testMMagicErrorsAreLossErrors() throws {
        var seen = 0
        for c in try LossFixtures.load("errors") {
            guard case let .string(id)? = c["id"], case let .string(type)? = c["type"],
                  case let .object(params)? = c["params"] else { continue }
            var dict: [(key: String, value: ConfigValue)] = [("type", .string(type))] + params
            if case let .object(args)? = c["args"], !args.isEmpty { dict.append(("args", .object(args))) }
            var inputs: [String: Tensor] = [:]
            if case let .object(shapes)? = c["input_shapes"] {
                for (name, s) in shapes {
                    guard case let .array(dims) = s else { continue }
                    if case .array? = dims.first {   // a list argument: inputs NAME.0, NAME.1, ...
                        for (i, d) in dims.enumerated() {
                            inputs["\(name).\(i)"] = try Tensor.ones(shape: LossFixtures.shape(.object([("shape", d)])))
                        }
                    } else {
                        inputs[name] = try Tensor.ones(shape: LossFixtures.shape(.object([("shape", s)])))
                    }
                }
            }
            if id == "MaskedTVLoss/no-mask" {
                // Documented deviation: MMagic fails on a missing mask; LossKit uses all ones.
                let p = try LossProgram(config: .object(dict))
                XCTAssertNoThrow(try p.evaluate(inputs: inputs), id)
                seen += 1
                continue
            }
            guard let expected = expectations[id] else { XCTFail("no expectation for error case \(id)"); continue }
            do {
                let program = try LossProgram(config: .object(dict))
                _ = try program.evaluate(inputs: inputs)
                XCTFail("\(id): no error (MMagic: \(c["error"] ?? .null))")
            } catch let e as LossError {
                print("error case \(id): \(e)")
                for part in expected {
                    XCTAssertTrue(e.description.contains(part), "\(id): \"\(e.description)\" does not mention \(part)")
                }
            }
            seen += 1
        }
        XCTAssertEqual(seen, expectations.count + 1)
    }

    /// Odd shapes either compute (as PyTorch would) or throw a LossError; none may trap.
    func testOddShapesNeverTrap() throws {
        let cases: [(String, [String: [Int]])] = [
            (#"{"type": "L1Loss"}"#, ["pred": [0, 3, 4, 4], "target": [0, 3, 4, 4]]),
            (#"{"type": "L1Loss", "sample_wise": true}"#, ["pred": [0, 3, 4, 4], "target": [0, 3, 4, 4], "weight": [0, 1, 4, 4]]),
            (#"{"type": "L1Loss"}"#, ["pred": [3], "target": [3], "weight": [3]]),
            (#"{"type": "MSELoss", "sample_wise": true}"#, ["pred": [2, 3], "target": [2, 3], "weight": [2, 1]]),
            (#"{"type": "GradientLoss"}"#, ["pred": [1, 1, 0, 0], "target": [1, 1, 0, 0]]),
            (#"{"type": "GradientLoss"}"#, ["pred": [1, 1, 1, 1], "target": [1, 1, 1, 1]]),
            (#"{"type": "MaskedTVLoss"}"#, ["pred": [1, 1, 1, 1]]),
            (#"{"type": "MaskedTVLoss"}"#, ["pred": [1, 2, 3, 3], "mask": [1, 1, 2, 3]]),
            (#"{"type": "TVLoss"}"#, ["input": [1, 1, 0, 2]]),
            (#"{"type": "PSNRLoss"}"#, ["pred": [0, 1, 2, 2], "target": [0, 1, 2, 2]]),
            (#"{"type": "GANLoss", "gan_type": "smgan", "args": {"target_is_real": false, "is_disc": true}}"#, ["input": [1, 1, 0, 3], "mask": [1, 1, 2, 2]]),
            (#"{"type": "GANLoss", "gan_type": "smgan", "args": {"target_is_real": true}}"#, ["input": [1, 1, 3, 3], "mask": [1, 1, 0, 2]]),
            (#"{"type": "GANLoss", "gan_type": "smgan", "args": {"target_is_real": true}}"#, ["input": [3], "mask": [3]]),
            (#"{"type": "GANLoss", "gan_type": "vanilla", "args": {"target_is_real": true}}"#, ["input": []]),
            (#"{"type": "L1CompositionLoss"}"#, ["pred_alpha": [1, 1, 2, 2], "fg": [1, 3, 2, 2], "bg": [1, 3, 2, 2], "ori_merged": [1, 3, 2, 2], "weight": [1, 3, 1, 2]]),
            (#"{"type": "TransferalPerceptualLoss"}"#, ["soft_attention": [1, 1, 0, 2], "maps.0": [1, 1, 0, 2], "maps.1": [1, 1, 0, 4], "textures.0": [1, 1, 0, 2], "textures.1": [1, 1, 0, 4]]),
        ]
        var maps: [String: Tensor] = ["soft_attention": try Tensor.ones(shape: [1, 1, 2, 2])]
        for i in 0..<40 {   // 40 levels of 1×1 maps: level 32+ would need a 2^32-wide resize
            maps["maps.\(i)"] = try Tensor.ones(shape: [1, 1, 1, 1])
            maps["textures.\(i)"] = try Tensor.ones(shape: [1, 1, 1, 1])
        }
        XCTAssertThrowsError(try LossProgram(jsonText: #"{"type": "TransferalPerceptualLoss"}"#).evaluate(inputs: maps))
        for (config, shapes) in cases {
            var inputs: [String: Tensor] = [:]
            for (k, s) in shapes { inputs[k] = try Tensor.full(shape: s, value: 0.5) }
            do {
                let e = try LossProgram(jsonText: config).evaluate(inputs: inputs)
                XCTAssertEqual(e.terms.count, 1, config)
            } catch let e as LossError {
                XCTAssertTrue(e.description.hasPrefix("term \"loss\""), "\(config): \(e)")
            }
        }
    }

    func testMissingInputNamesInputAndTerm() throws {
        let p = try LossProgram(jsonText: #"{"losses": {"gan": {"type": "GANLoss", "gan_type": "lsgan", "args": {"target_is_real": true}, "data_info": {"input": "disc_pred_fake"}}}}"#)
        XCTAssertThrowsError(try p.evaluate(inputs: ["input": try Tensor.ones(shape: [2])])) { e in
            XCTAssertEqual("\(e)", "term \"gan\" (GANLoss) needs input \"disc_pred_fake\" (its argument input), which was not given")
        }
        XCTAssertEqual(p.requiredInputs, ["disc_pred_fake"])
    }

    func testArgsAreChecked() throws {
        XCTAssertThrowsError(try LossProgram(jsonText: #"{"type": "GANLoss", "gan_type": "hinge"}"#)) { e in
            XCTAssertTrue("\(e)".contains("needs \"target_is_real\" (bool) in args"), "\(e)")
        }
        XCTAssertThrowsError(try LossProgram(jsonText: #"{"type": "GANLoss", "gan_type": "hinge", "args": {"target_is_real": 1}}"#)) { e in
            XCTAssertEqual("\(e)", "args.target_is_real: must be true or false, found an integer 1")
        }
        XCTAssertThrowsError(try LossProgram(jsonText: #"{"type": "L1Loss", "args": {"pred": true}}"#)) { e in
            XCTAssertTrue("\(e)".contains("is a tensor argument"), "\(e)")
        }
        XCTAssertThrowsError(try LossProgram(jsonText: #"{"type": "L1Loss", "data_info": {"prediction": "x"}}"#)) { e in
            XCTAssertEqual("\(e)", "data_info.prediction: L1Loss's forward has no tensor argument \"prediction\" (its tensor arguments: pred, target, weight)")
        }
        XCTAssertThrowsError(try LossProgram(jsonText: #"{"type": "L1Loss", "loss_weight": "big"}"#)) { e in
            XCTAssertEqual("\(e)", "loss_weight: L1Loss parameter \"loss_weight\" must be a number, found a string \"big\"")
        }
        XCTAssertThrowsError(try LossProgram(jsonText: #"{"losses": {"x": {"type": "L2Loss"}}}"#)) { e in
            XCTAssertTrue("\(e)".hasPrefix("losses.x.type: unknown loss type \"L2Loss\"; known types: L1Loss, MSELoss"), "\(e)")
        }
        XCTAssertThrowsError(try LossProgram(jsonText: #"{"losses": {"x": {"type": "GANLoss"}}}"#)) { e in
            XCTAssertTrue("\(e)".contains("GANLoss needs parameter \"gan_type\""), "\(e)")
        }
    }
}
