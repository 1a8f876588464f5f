import Foundation
import NpyIO
import XCTest

/// The README's "Behaviour notes", each checked through the binary with numbers computed
/// here independently.
final class AcceptanceBehaviourNotesTests: XCTestCase {
    func value(_ r: EvalHarness.Result, _ term: String = "loss") throws -> Double {
        XCTAssertEqual(r.status, 0, r.stderr)
        return try jsonDouble(try r.terms()[term]?["value"], term)
    }

    /// MaskedTVLoss without a mask equals the same loss with a mask of ones, and both equal
    /// the mean absolute neighbour differences computed here.
    func testMaskedTVWithoutMaskIsAllOnes() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let p: [Double] = [0, 1, 3, 6, 2, 2, 5, 1, -1]
        let pred = try RawNpy.write(dir.appendingPathComponent("p.npy"), descr: "<f8", shape: [1, 1, 3, 3], values: p)
        let ones = try RawNpy.write(dir.appendingPathComponent("m.npy"), descr: "<f8", shape: [1, 1, 3, 3],
                                    values: Array(repeating: 1, count: 9))
        let config = #"{"type": "MaskedTVLoss"}"#
        let without = try value(try EvalHarness.run(["eval", "--config", config, "--pred", pred.path]))
        let with = try value(try EvalHarness.run(["eval", "--config", config, "--pred", pred.path, "--mask", ones.path]))
        XCTAssertEqual(without, with)
        // MMagic: l1(pred[:, :, :-1], pred[:, :, 1:], weight) + the same across columns, each a
        // weighted mean: sum / (weight.sum() + 1e-12), MMagic's mask_reduce_loss.
        var down = 0.0, right = 0.0
        for r in 0..<2 { for c in 0..<3 { down += abs(p[r * 3 + c] - p[(r + 1) * 3 + c]) } }
        for r in 0..<3 { for c in 0..<2 { right += abs(p[r * 3 + c] - p[r * 3 + c + 1]) } }
        assertClose(without, down / (6 + 1e-12) + right / (6 + 1e-12), rtol: 1e-15, "MaskedTVLoss")
    }

    /// smgan on the generator side is the plain MSE against the real label (MMagic's mask
    /// multiplies an already reduced scalar and cancels), times loss_weight.
    func testSmganGeneratorFollowsMMagicCode() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let x: [Double] = [0.5, -1, 2, 0.25]
        let input = try RawNpy.write(dir.appendingPathComponent("d.npy"), descr: "<f8", shape: [1, 1, 2, 2], values: x)
        let mask = try RawNpy.write(dir.appendingPathComponent("m.npy"), descr: "<f8", shape: [1, 1, 2, 2], values: [1, 0, 0, 0])
        let config = #"{"type": "GANLoss", "gan_type": "smgan", "loss_weight": 3.0, "args": {"target_is_real": true, "is_disc": false}}"#
        let got = try value(try EvalHarness.run(["eval", "--config", config, "--input", "input=\(input.path)",
                                                 "--mask", mask.path]))
        let mse = x.map { ($0 - 1) * ($0 - 1) }.reduce(0, +) / 4
        assertClose(got, 3 * mse, rtol: 1e-15, "smgan generator")
    }

    /// TransferalPerceptualLoss zips maps and textures: an extra map does not count and gets
    /// a zero gradient; empty lists give 0.
    func testTransferalZipsLevels() throws {
        let fixtures = EvalHarness.fixtures
        let one = #"{"type": "TransferalPerceptualLoss", "use_attention": false, "criterion": "l1", "data_info": {"maps": ["map0"], "textures": ["tex0"]}}"#
        let extra = #"{"type": "TransferalPerceptualLoss", "use_attention": false, "criterion": "l1", "data_info": {"maps": ["map0", "map1"], "textures": ["tex0"]}}"#
        let dir = try EvalHarness.temporaryDirectory(self)
        let grads = dir.appendingPathComponent("g.npz")
        let a = try value(try EvalHarness.run(["eval", "--config", one, "--inputs", "ttsr.npz"], in: fixtures))
        let b = try value(try EvalHarness.run(["eval", "--config", extra, "--inputs", "ttsr.npz", "--grad-out", grads.path],
                                              in: fixtures))
        XCTAssertEqual(a, b)
        let map1 = try NpzArchive.read(contentsOf: grads).array(named: "loss/map1").toFloat64()
        XCTAssertEqual(map1.count, 2 * 6 * 6)
        XCTAssertTrue(map1.allSatisfy { $0 == 0 })
        let empty = #"{"type": "TransferalPerceptualLoss", "data_info": {"maps": [], "textures": []}}"#
        XCTAssertEqual(try value(try EvalHarness.run(["eval", "--config", empty, "--inputs", "ttsr.npz"], in: fixtures)), 0)
    }

    /// Same-named terms of different types are summed; the type lists both.
    func testSameNamedTermsOfDifferentTypes() throws {
        let config = #"""
        {"losses": {"loss_disc_shift": {"type": "L1Loss"},
                    "aux": {"type": "DiscShiftLossComps", "loss_weight": 2, "data_info": {"pred": "target"}}}}
        """#
        let r = try EvalHarness.run(["eval", "--config", config, "--pred", "pred.npy", "--target", "target.npy",
                                     "--precision", "f64"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let terms = try r.terms()
        XCTAssertEqual(Array(terms.keys), ["loss_disc_shift"])
        XCTAssertEqual(terms["loss_disc_shift"]?["type"] as? String, "L1Loss+DiscShiftLossComps")
        let pred = try Npy.read(contentsOf: EvalHarness.fixtures.appendingPathComponent("pred.npy")).toFloat64()
        let target = try Npy.read(contentsOf: EvalHarness.fixtures.appendingPathComponent("target.npy")).toFloat64()
        let l1 = zip(pred, target).map { abs($0 - $1) }.reduce(0, +) / Double(pred.count)
        let shift = target.map { 2 * $0 * $0 }.reduce(0, +) / Double(target.count)
        assertClose(try value(r, "loss_disc_shift"), l1 + shift, rtol: 1e-13, "summed term")
    }

    /// The single-dict shorthand is `loss`, unless the type has a loss_name.
    func testShorthandNaming() throws {
        let plain = try EvalHarness.run(["eval", "--config", #"{"type": "MSELoss"}"#, "--inputs", "bundle.npz"])
        XCTAssertEqual(Array(try plain.terms().keys), ["loss"])
        let comps = try EvalHarness.run(["eval", "--config", #"{"type": "DiscShiftLossComps"}"#, "--inputs", "bundle.npz"])
        XCTAssertEqual(Array(try comps.terms().keys), ["loss_disc_shift"])
        let named = try EvalHarness.run(["eval", "--config", #"{"type": "DiscShiftLossComps", "loss_name": "shift"}"#,
                                         "--inputs", "bundle.npz"])
        XCTAssertEqual(Array(try named.terms().keys), ["shift"])
        XCTAssertEqual(try named.terms()["shift"]?["in_total"] as? Bool, false)
    }

    /// Without data_info a list argument binds to ARG.0, ARG.1, ...: the same value as the
    /// data_info-mapped ttsr.json on the same arrays.
    func testListArgumentsBindToNumberedInputs() throws {
        let fixtures = EvalHarness.fixtures
        let source = try NpzArchive.read(contentsOf: fixtures.appendingPathComponent("ttsr.npz"))
        var members: [(String, NpyArray)] = [("soft_attention", try source.array(named: "soft_attention"))]
        for i in 0..<3 {
            members.append(("maps.\(i)", try source.array(named: "map\(i)")))
            members.append(("textures.\(i)", try source.array(named: "tex\(i)")))
        }
        let dir = try EvalHarness.temporaryDirectory(self)
        let bundle = dir.appendingPathComponent("numbered.npz")
        try NpzArchive.write(members, to: bundle, compressed: false)
        let config = #"{"type": "TransferalPerceptualLoss", "loss_weight": 0.5, "criterion": "l1"}"#
        let numbered = try value(try EvalHarness.run(["eval", "--config", config, "--inputs", bundle.path]))
        let mapped = try value(try EvalHarness.run(["eval", "--config", "ttsr.json", "--inputs", "ttsr.npz"], in: fixtures),
                               "texture_loss")
        XCTAssertEqual(numbered, mapped)
        let missing = try EvalHarness.run(["eval", "--config", config, "--inputs", "ttsr.npz"], in: fixtures)
        assertUsageError(missing, mentions: ["maps.0"])
    }

    /// Config text on the command line: its inputs are relative to the current folder.
    func testConfigTextInputsAreRelativeToTheCurrentFolder() throws {
        let config = #"{"type": "L1Loss", "inputs": {"pred": "pred.npy", "target": "target.npy"}}"#
        let here = try EvalHarness.run(["eval", "--config", config], in: EvalHarness.fixtures)
        let file = try EvalHarness.run(["eval", "--config", "l1.json"], in: EvalHarness.fixtures)
        XCTAssertEqual(try value(here), try value(file, "pixel_loss"))
        let elsewhere = try EvalHarness.run(["eval", "--config", config], in: try EvalHarness.temporaryDirectory(self))
        assertUsageError(elsewhere, mentions: ["pred.npy"])
    }
}
