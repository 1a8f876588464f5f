import XCTest
@testable import LossKit

/// The numbers MMagic's own unit tests assert (tests/test_models/test_losses/ in MMagic 1.2),
/// reproduced with the same inputs and the same tolerances (`assert_almost_equal(decimal=d)`:
/// |a − b| < 1.5·10^−d). Run in float32, as MMagic does, and again in float64.
final class LossMMagicTests: XCTestCase {
    let dtypes: [DType] = [.float32, .float64]

    /// A tensor of `shape` whose element at multi-index i is `f(i)`.
    func make(_ shape: [Int], _ dtype: DType, _ f: ([Int]) -> Double) throws -> Tensor {
        let n = shape.reduce(1, *)
        var values = [Double](repeating: 0, count: n)
        var idx = [Int](repeating: 0, count: shape.count)
        for k in 0..<n {
            values[k] = f(idx)
            var d = shape.count - 1
            while d >= 0 { idx[d] += 1; if idx[d] < shape[d] { break }; idx[d] = 0; d -= 1 }
        }
        return try Tensor(shape: shape, values: values, dtype: dtype)
    }

    func almostEqual(_ a: Double, _ b: Double, decimal: Int = 7, _ what: String, line: UInt = #line) {
        XCTAssertLessThan(Swift.abs(a - b), 1.5 * pow(10, Double(-decimal)), "\(what): \(a) vs \(b)", line: line)
    }

    /// weight = zeros(1,1,64,64) with ones in the top-left 32×32 (test_pixelwise_loss.py).
    func topLeftWeight(_ dtype: DType, n: Int = 1, channels: Int = 1) throws -> Tensor {
        try make([n, channels, 64, 64], dtype) { i in i[0] == 0 && i[1] == 0 && i[2] < 32 && i[3] < 32 ? 1 : 0 }
    }

    func testPixelwiseLosses() throws {
        for dt in dtypes {
            let weight = try topLeftWeight(dt)
            let pred = weight, target = weight * 2.0
            XCTAssertEqual(try L1Loss()(pred, target).item(), 0.25)
            let l1None = try L1Loss(lossWeight: 0.5, reduction: .none)(pred, target, weight: weight)
            XCTAssertEqual(l1None.shape, [1, 1, 64, 64])
            XCTAssertEqual(l1None.toFloat64(), weight.toFloat64().map { $0 * 0.5 })
            XCTAssertEqual(try L1Loss(lossWeight: 0.5, reduction: .sum)(pred, target, weight: weight).item(), 512)

            XCTAssertEqual(try MSELoss()(pred, target).item(), 0.25)
            let mseNone = try MSELoss(lossWeight: 0.5, reduction: .none)(pred, target, weight: weight)
            XCTAssertEqual(mseNone.toFloat64(), weight.toFloat64().map { $0 * 0.5 })
            XCTAssertEqual(try MSELoss(lossWeight: 0.5, reduction: .sum)(pred, target, weight: weight).item(), 512)

            XCTAssertEqual(try CharbonnierLoss(eps: 1e-12)(pred, target).item(), 0.25, accuracy: 0.25 * 1e-5)
            // The 3/4 of elements with zero difference contribute sqrt(1e-12) each
            // (PyTorch float32: 0.2500007152557373).
            let cbExact = (1024 * (1 + 1e-12).squareRoot() + 3072 * (1e-12).squareRoot()) / 4096
            XCTAssertEqual(try CharbonnierLoss(eps: 1e-12)(pred, target).item(), cbExact, accuracy: dt == .float32 ? 3e-8 : 1e-14)  // sum of 4096 terms
            let cbNone = try CharbonnierLoss(lossWeight: 0.5, reduction: .none, eps: 1e-6)(pred, target, weight: weight)
            for (a, b) in zip(cbNone.toFloat64(), weight.toFloat64()) { almostEqual(a, b * 0.5, decimal: 6, "charbonnier none") }
            XCTAssertEqual(try CharbonnierLoss(lossWeight: 0.5, reduction: .sum, eps: 1e-12)(pred, target).item(), 512, accuracy: 512e-5)

            // sample_wise: sample 0 has mean L1 1 over its weight, sample 1 has no weight at all.
            let w2 = try topLeftWeight(dt, n: 2)
            let t2 = try make([2, 1, 64, 64], dt) { i in i[0] == 0 && i[2] < 32 && i[3] < 32 ? 2 : 0 }
            // Exact in float32 (MMagic's `== 0.5`); float64 rounds (PyTorch itself gives 0.49999999999999956).
            XCTAssertEqual(try L1Loss(sampleWise: true)(w2, t2, weight: w2).item(), 0.5, accuracy: dt == .float32 ? 0 : 1e-15)

            let tvPred = try make([1, 1, 6, 6], dt) { i in i[2] == 3 ? 1 : 0 }
            let tvMask = try make([1, 1, 6, 6], dt) { i in (2..<4).contains(i[2]) && (2..<4).contains(i[3]) ? 1 : 0 }
            almostEqual(try MaskedTVLoss()(tvPred, mask: tvMask).item(), 1.0, "MaskedTVLoss")

            let ones = try Tensor.ones(shape: [1, 1, 64, 64], dtype: dt), zeros = try Tensor.zeros(shape: [1, 1, 64, 64], dtype: dt)
            // float32: 1 + 1e-8 rounds to 1, so MMagic's 0.0 exactly; float64 keeps the 1e-8.
            XCTAssertEqual(try PSNRLoss()(ones, zeros).item(), dt == .float32 ? 0 : 10 / log(10) * log(1 + 1e-8), accuracy: 1e-20)
            XCTAssertEqual(try PSNRLoss()(zeros, zeros).item(), -80.0, accuracy: dt == .float32 ? 8e-5 : 1e-12)
        }
    }

    func testCompositionLosses() throws {
        for dt in dtypes {
            let weight = try topLeftWeight(dt)
            let alpha = weight * 0.5
            let ori = try Tensor.ones(shape: [1, 3, 64, 64], dtype: dt)
            let fg = try Tensor.zeros(shape: [1, 3, 64, 64], dtype: dt)
            let bg = ori * 4.0
            func run(_ type: LossModule.Type, _ params: KeyValuePairs<String, ConfigValue>, weighted: Bool) throws -> Tensor {
                let loss = try type.init(parameters: LossParameters(type, params))
                var tensors = ["pred_alpha": alpha, "fg": fg, "bg": bg, "ori_merged": ori]
                if weighted { tensors["weight"] = weight }
                guard case let .value(v) = try loss.forward(LossInputs(tensors: tensors)) else { throw LossError.tensor("parts") }
                return v
            }
            let expectedNone = try weight.expand(to: [1, 3, 64, 64]).toFloat64().map { $0 * 0.5 }
            XCTAssertEqual(try run(L1CompositionLoss.self, [:], weighted: false).item(), 2.5)
            XCTAssertEqual(try run(L1CompositionLoss.self, ["loss_weight": .double(0.5), "reduction": .string("none")], weighted: true).toFloat64(), expectedNone)
            XCTAssertEqual(try run(L1CompositionLoss.self, ["loss_weight": .double(0.5), "reduction": .string("sum")], weighted: true).item(), 1536)
            XCTAssertEqual(try run(MSECompositionLoss.self, [:], weighted: false).item(), 7.0)
            XCTAssertEqual(try run(MSECompositionLoss.self, ["loss_weight": .double(0.5), "reduction": .string("none")], weighted: true).toFloat64(), expectedNone)
            XCTAssertEqual(try run(MSECompositionLoss.self, ["loss_weight": .double(0.5), "reduction": .string("sum")], weighted: true).item(), 1536)
            // Exact in float32 as MMagic asserts; in float64 the eps 1e-12 shows (sqrt(d² + 1e-12)).
            XCTAssertEqual(try run(CharbonnierCompLoss.self, ["eps": .double(1e-12)], weighted: false).item(), 2.5, accuracy: dt == .float32 ? 0 : 1e-12)
            let cbNone = try run(CharbonnierCompLoss.self, ["loss_weight": .double(0.5), "reduction": .string("none"), "eps": .double(1e-6)], weighted: true)
            for (a, b) in zip(cbNone.toFloat64(), expectedNone) { almostEqual(a, b, decimal: 6, "CharbonnierCompLoss none") }
            XCTAssertEqual(try run(CharbonnierCompLoss.self, ["loss_weight": .double(0.5), "reduction": .string("sum"), "eps": .double(1e-6)], weighted: true).item(),
                           1536, accuracy: 1536e-6)
        }
    }

    func testGradientAndDiscShiftLosses() throws {
        for dt in dtypes {
            let weight = try topLeftWeight(dt)
            let pred = weight, target = weight * 2.0
            almostEqual(try GradientLoss()(pred, target).item(), 0.1860352, "GradientLoss mean")
            XCTAssertEqual(try GradientLoss()(pred, target).item(), 0.18603515625, accuracy: 1e-12)   // 762/4096, exact
            almostEqual(try GradientLoss(lossWeight: 0.5, reduction: .none)(pred, target, weight: weight).sum().item(), 252, "GradientLoss none")
            almostEqual(try GradientLoss(lossWeight: 0.5, reduction: .sum)(pred, target, weight: weight).item(), 252, "GradientLoss sum")
            almostEqual(try DiscShiftLoss()(Tensor(shape: [1], values: [0.1], dtype: dt)).item(), 0.001, "DiscShiftLoss")
        }
    }

    func testGANLosses() throws {
        for dt in dtypes {
            let input1 = try Tensor.ones(shape: [1, 1], dtype: dt)
            let input2 = try Tensor.full(shape: [1, 3, 6, 6], value: 2, dtype: dt)
            // (gan_type, input, [gen real, gen fake, disc real, disc fake]) for both classes.
            let table: [(String, Tensor, [Double])] = [
                ("vanilla", input1, [0.6265233, 2.6265232, 0.3132616, 1.3132616]),
                ("lsgan", input2, [2.0, 8.0, 1.0, 4.0]),
                ("wgan", input2, [-4.0, 4.0, -2.0, 2.0]),
                ("hinge", input2, [-4.0, -4.0, 0.0, 3.0]),
            ]
            for type in [GANLoss.self, GANLossComps.self] as [LossModule.Type] {
                for (name, input, expected) in table {
                    let loss = try type.init(parameters: LossParameters(type, ["gan_type": .string(name), "loss_weight": .double(2.0)]))
                    for (k, (real, disc)) in [(true, false), (false, false), (true, true), (false, true)].enumerated() {
                        let x = LossInputs(tensors: ["input": input], args: ["target_is_real": .bool(real), "is_disc": .bool(disc)])
                        guard case let .value(v) = try loss.forward(x) else { continue }
                        // MMagic's 2.6265232 for vanilla/fake/generator is one float32 ulp below what
                        // PyTorch 2.x computes with MMagic's code (2.626523494720459, which LossKit
                        // gives exactly); the true value is 2·(1 + log1p(e⁻¹)) = 2.62652337503...
                        let decimal = name == "vanilla" && !real && !disc ? 6 : 7
                        almostEqual(try v.item(), expected[k], decimal: decimal, "\(type.declaration.name) \(name) real=\(real) disc=\(disc)")
                        if name == "vanilla" && !real && !disc && dt == .float32 { XCTAssertEqual(try v.item(), 2.626523494720459) }
                    }
                }
            }
            let ns = try GANLossComps(parameters: LossParameters(GANLossComps.self, ["gan_type": .string("wgan-logistic-ns"), "loss_weight": .double(2.0)]))
            XCTAssertGreaterThan(try ns(input2, targetIsReal: true).item(), 0)
            XCTAssertGreaterThan(try ns(input2, targetIsReal: false).item(), 0)
            // MMagic 1.2 under PyTorch 2.x (fixtures/losses/mmagic_tests.md): 2·softplus(∓2).
            XCTAssertEqual(try ns(input2, targetIsReal: true).item(), 0.25385603308677673, accuracy: 0.254 * 1e-6)
            XCTAssertEqual(try ns(input2, targetIsReal: false).item(), 4.253855228424072, accuracy: 4.25 * 1e-6)

            let smgan = try GANLoss(parameters: LossParameters(GANLoss.self, ["gan_type": .string("smgan"), "loss_weight": .double(2.0)]))
            let mask = try Tensor.ones(shape: [1, 3, 6, 6], dtype: dt)
            almostEqual(try smgan(input2, targetIsReal: true, mask: mask).item(), 2.0, "smgan gen real")
            almostEqual(try smgan(input2, targetIsReal: false, mask: mask).item(), 8.0, "smgan gen fake")
            almostEqual(try smgan(input2, targetIsReal: true, isDisc: true, mask: mask).item(), 1.0, "smgan disc real")
            almostEqual(try smgan(input2, targetIsReal: false, isDisc: true, mask: mask).item(), 3.786323, decimal: 6, "smgan disc fake")
            // PyTorch 2.x's float32 value with MMagic's code: 3.786323308944702.
            XCTAssertEqual(try smgan(input2, targetIsReal: false, isDisc: true, mask: mask).item(), 3.786323308944702, accuracy: 3.79 * 1e-6)
            let narrow = try Tensor.ones(shape: [1, 3, 6, 5], dtype: dt)
            almostEqual(try smgan(input2, targetIsReal: true, mask: narrow).item(), 2.0, "smgan resized")
        }
    }

    func testDiscShiftLossCompsIsNotReduced() throws {
        // test_disc_auxiliary_loss_comps.py: data_info={'pred': 'disc_pred'} on randn (2,10) gives ndim 2.
        let program = try LossProgram(jsonText: #"{"type": "DiscShiftLossComps", "loss_weight": 0.1, "data_info": {"pred": "disc_pred"}}"#)
        let x = try make([2, 10], .float32) { i in Double(i[0] * 10 + i[1]) / 7 - 1 }
        let e = try program.evaluate(inputs: ["disc_pred": x])
        XCTAssertEqual(e.terms.map(\.name), ["loss_disc_shift"])
        XCTAssertEqual(e.terms[0].value.shape, [2, 10])
        XCTAssertEqual(e.terms[0].value.toFloat64(), x.toFloat64().map { Double(Float(Float($0 * $0) * 0.1)) })
    }

    func testTransferalPerceptualLossDecreasesAlongItsGradient() throws {
        var state: UInt64 = 42
        func rand() -> Double {   // a fixed LCG stands in for torch.rand
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        for dt in dtypes {
            let maps = [try make([2, 8, 8, 8], dt) { _ in rand() }.requiringGrad(), try make([2, 4, 16, 16], dt) { _ in rand() }.requiringGrad()]
            let textures = [try make([2, 8, 8, 8], dt) { _ in rand() }, try make([2, 4, 16, 16], dt) { _ in rand() }]
            let soft = try make([2, 1, 8, 8], dt) { _ in rand() }
            let attention = try TransferalPerceptualLoss(parameters: LossParameters(TransferalPerceptualLoss.self))
            let loss = try attention(maps: maps, softAttention: soft, textures: textures)
            XCTAssertGreaterThan(try loss.item(), 0)
            let plain = try TransferalPerceptualLoss(parameters: LossParameters(TransferalPerceptualLoss.self,
                ["use_attention": .bool(false), "criterion": .string("l1")]))
            XCTAssertGreaterThan(try plain(maps: maps, softAttention: soft, textures: textures).item(), 0)
            // One SGD step with lr 10, as MMagic's test does on CUDA.
            let g = try grad(loss, wrt: maps)
            let stepped = try zip(maps, g).map { try ($0.detach() - $1 * 10.0) }
            XCTAssertLessThan(try attention(maps: stepped, softAttention: soft, textures: textures).item(), try loss.item())
            XCTAssertThrowsError(try TransferalPerceptualLoss(parameters: LossParameters(TransferalPerceptualLoss.self, ["criterion": .string("l2")])))
        }
    }

    func testMaskReduceLossRelations() throws {
        // test_loss_wrapper.py: relations on random losses, with a fixed pseudo-random loss here.
        for dt in dtypes {
            let loss = try make([1, 3, 4, 4], dt) { i in Double((i[1] * 16 + i[2] * 4 + i[3]) * 37 % 23) / 23 }
            let weight = try make([1, 3, 4, 4], dt) { i in i[2] < 2 && i[3] < 2 ? 1 : 0 }
            let mean = MaskedReduction(reduction: .mean)
            let expected = try (loss * weight).sum().item() / weight.sum().item()
            almostEqual(try mean.reduce(loss, weight: weight).item(), expected, "weighted mean")
            almostEqual(try mean.reduce(loss, weight: weight.slice(dim: 1, end: 1)).item(), expected, "single-channel weight")
            almostEqual(try MaskedReduction(reduction: .sum).reduce(loss, weight: weight).item(), try (loss * weight).sum().item(), "sum")
            XCTAssertThrowsError(try mean.reduce(loss, weight: weight.slice(dim: 1, end: 2)))
            XCTAssertThrowsError(try mean.reduce(loss, weight: weight.reshape([3, 4, 4])))

            let lossB = try make([2, 3, 4, 4], dt) { i in Double((i[0] * 48 + i[1] * 16 + i[2] * 4 + i[3]) * 29 % 31) / 31 }
            let weightB = try make([2, 1, 4, 4], dt) { i in (i[0] == 0 && i[2] < 3 && i[3] < 3) || (i[0] == 1 && i[2] < 2 && i[3] < 2) ? 1 : 0 }
            almostEqual(try mean.reduce(lossB, weight: weightB).item(),
                        try (lossB * weightB).sum().item() / weightB.sum().item() / 3, "batch weighted mean")
        }
    }
}
