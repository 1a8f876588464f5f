import XCTest
import LossKit   // not @testable: the guide's examples use only the public API

// MARK: The examples of docs/custom-loss.md, verbatim.

struct MyMSELoss: LossModule {
    static let declaration = LossTypeDeclaration(
        name: "MyMSELoss", summary: "Mean squared error, masked and reduced.",
        parameters: [.lossWeight(), .reduction, .sampleWise],
        inputs: [.tensor("pred", doc: "Prediction (N,C,H,W)."),
                 .tensor("target", doc: "Ground truth, same shape."),
                 .tensor("weight", optional: true, doc: "Element-wise weight (N,1|C,H,W).")])

    let lossWeight: Double
    let reducer: MaskedReduction

    init(parameters p: LossParameters) throws {
        lossWeight = try p.double("loss_weight")
        reducer = try MaskedReduction(parameters: p)
    }

    func forward(_ x: LossInputs) throws -> LossOutput {
        let loss = try reducer(x.tensor("pred"), x.tensor("target"), weight: x.optionalTensor("weight")) {
            try ($0 - $1).square()
        }
        return .value(loss * lossWeight)
    }
}

struct MyL1Criterion: PixelCriterion {
    static let declaration = LossTypeDeclaration(
        name: "MyL1Loss", summary: "Mean absolute error, masked and reduced.",
        parameters: [.lossWeight(), .reduction, .sampleWise],
        inputs: [.tensor("pred", doc: "Prediction (N,C,H,W)."),
                 .tensor("target", doc: "Ground truth, same shape."),
                 .tensor("weight", optional: true, doc: "Element-wise weight (N,1|C,H,W).")])

    init(parameters p: LossParameters) throws {}

    func callAsFunction(_ pred: Fused, _ target: Fused) -> Fused { (pred - target).abs() }
}

struct MyDiscShiftLoss: LossModule {
    static let declaration = LossTypeDeclaration(
        name: "MyDiscShiftLoss", summary: "Disc shift: pred^2 * loss_weight, element-wise.",
        parameters: [.lossWeight(1.0), .lossName("loss_disc_shift")],
        inputs: [.tensor("pred", doc: "Discriminator output.")])

    let lossWeight: Double

    init(parameters p: LossParameters) throws {
        lossWeight = try p.double("loss_weight")
    }

    func forward(_ x: LossInputs) throws -> LossOutput {
        .value(try x.tensor("pred").square() * lossWeight)
    }
}

// MARK: Tests

final class LossCustomGuideTests: XCTestCase {
    override func setUp() {
        LossRegistry.register(MyMSELoss.self)
        LossRegistry.register(MyDiscShiftLoss.self)
        LossRegistry.register(PixelLoss<MyL1Criterion>.self)
    }

    func testGuideCodeIsThisFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let guide = try String(contentsOf: root.appendingPathComponent("docs/custom-loss.md"), encoding: .utf8)
        let source = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let blocks = guide.components(separatedBy: "```swift\n").dropFirst().compactMap { $0.components(separatedBy: "```").first }
        XCTAssertEqual(blocks.count, 3)
        for block in blocks {
            XCTAssertTrue(source.contains(block), "a swift block of docs/custom-loss.md is not in this test:\n\(block)")
            XCTAssertLessThan(block.split(separator: "\n").count, 30)
        }
    }

    func tensors(_ dtype: DType) throws -> [String: Tensor] {
        let n = 2 * 3 * 4 * 5
        return [
            "pred": try Tensor(shape: [2, 3, 4, 5], values: (0..<n).map { sin(Double($0)) }, dtype: dtype),
            "target": try Tensor(shape: [2, 3, 4, 5], values: (0..<n).map { cos(Double($0) * 0.7) }, dtype: dtype),
            "weight": try Tensor(shape: [2, 1, 4, 5], values: (0..<40).map { Double($0 % 3) / 2 }, dtype: dtype),
            "disc_pred_real": try Tensor(shape: [2, 1], values: [0.3, -1.2], dtype: dtype),
            "disc_pred_fake": try Tensor(shape: [2, 1], values: [2.0, 0.1], dtype: dtype),
        ]
    }

    /// `body(mine, builtIn, dtype, label)`: the guide's type and a built-in one, each the
    /// term `pixel_loss` with loss_weight 0.5, on every dtype, reduction and sample_wise.
    func compare(_ mine: String, with builtIn: String, _ body: (Evaluation, Evaluation, DType, String) throws -> Void) throws {
        for dtype in [DType.float32, .float64] {
            for reduction in ["none", "mean", "sum"] {
                for sampleWise in [false, true] {
                    let params = #""loss_weight": 0.5, "reduction": "\#(reduction)", "sample_wise": \#(sampleWise)"#
                    let a = try LossProgram(jsonText: #"{"losses": {"pixel_loss": {"type": "\#(mine)", \#(params)}}}"#)
                    let b = try LossProgram(jsonText: #"{"losses": {"pixel_loss": {"type": "\#(builtIn)", \#(params)}}}"#)
                    try body(try a.evaluate(inputs: tensors(dtype)), try b.evaluate(inputs: tensors(dtype)), dtype,
                             "\(reduction) sample_wise=\(sampleWise) \(dtype)")
                }
            }
        }
    }

    func testMyMSELossMatchesBuiltInMSELoss() throws {
        try compare("MyMSELoss", with: "MSELoss") { a, b, dtype, label in
            // The guide's loss is the tensor form of @masked_loss; the built-in MSELoss the
            // fused form: same values, gradients equal up to a few ulps (the weight's
            // gradient is summed back from its expansion in a different order).
            XCTAssertEqual(a.terms[0].value.toFloat64(), b.terms[0].value.toFloat64())
            XCTAssertEqual(a.total, b.total)
            let ulps = 4 * (dtype == .float64 ? Double.ulpOfOne : Double(Float.ulpOfOne))
            for input in ["pred", "target", "weight"] {
                let ga = a.gradients["total"]?[input]?.toFloat64() ?? [], gb = b.gradients["total"]?[input]?.toFloat64() ?? []
                let scale = gb.map { Swift.abs($0) }.max() ?? 0
                XCTAssertEqual(ga, gb, accuracy: ulps * scale, "\(input) \(label)")
            }
        }
        // Hand-checked number: MSE of (1, 3) against (0, 0) with weight 0.5 is 0.5 · (1 + 9) / 2.
        let one = try LossProgram(jsonText: #"{"type": "MyMSELoss", "loss_weight": 0.5}"#)
        let e = try one.evaluate(inputs: ["pred": Tensor(shape: [2], float64: [1, 3]), "target": Tensor(shape: [2], float64: [0, 0])])
        XCTAssertEqual(e.total, 2.5)
        XCTAssertEqual(e.gradients["loss"]?["pred"]?.toFloat64(), [0.5, 1.5])
        XCTAssertThrowsError(try LossProgram(jsonText: #"{"losses": {"pixel_loss": {"type": "MyMSELoss", "reduction": "avg"}}}"#)) { e in
            XCTAssertEqual("\(e)", "losses.pixel_loss.reduction: unsupported reduction \"avg\" for MyMSELoss; allowed: none, mean, sum")
        }
    }

    /// The guide's criterion makes the same loss as the built-in L1Loss: same code path, so
    /// the same values and gradients, bit for bit.
    func testMyL1CriterionMatchesBuiltInL1Loss() throws {
        XCTAssertTrue(PixelLoss<MyL1Criterion>.forwardIsFusedSums)
        try compare("MyL1Loss", with: "L1Loss") { a, b, _, label in
            XCTAssertEqual(a.terms[0].value.toFloat64(), b.terms[0].value.toFloat64(), label)
            for input in ["pred", "target", "weight"] {
                XCTAssertEqual(a.gradients["total"]?[input]?.toFloat64(), b.gradients["total"]?[input]?.toFloat64(), "\(input) \(label)")
            }
        }
        XCTAssertThrowsError(try LossProgram(jsonText: #"{"losses": {"pixel_loss": {"type": "MyL1Loss", "reduction": "avg"}}}"#)) { e in
            XCTAssertEqual("\(e)", "losses.pixel_loss.reduction: unsupported reduction \"avg\" for MyL1Loss; allowed: none, mean, sum")
        }
    }

    func testMyDiscShiftLossSumsLikeDiscShiftLossComps() throws {
        let config = { (type: String) in """
            {"losses": {"disc_auxiliary_loss": [
              {"type": "\(type)", "loss_weight": 0.0005, "data_info": {"pred": "disc_pred_real"}},
              {"type": "\(type)", "loss_weight": 0.0005, "data_info": {"pred": "disc_pred_fake"}}]}}
            """ }
        let mine = try LossProgram(jsonText: config("MyDiscShiftLoss")).evaluate(inputs: tensors(.float64))
        let builtIn = try LossProgram(jsonText: config("DiscShiftLossComps")).evaluate(inputs: tensors(.float64))
        XCTAssertEqual(mine.terms.map(\.name), ["loss_disc_shift"])
        XCTAssertEqual(mine.total, builtIn.total)
        // 0.0005 · mean(0.3² + 2², 1.2² + 0.1²)
        XCTAssertEqual(mine.total, 0.0005 * ((0.09 + 4.0) + (1.44 + 0.01)) / 2, accuracy: 1e-18)
        XCTAssertEqual(mine.gradients["total"]?["disc_pred_fake"]?.toFloat64(), [0.0005 * 2 * 2.0 / 2, 0.0005 * 2 * 0.1 / 2])
    }
}
