import Foundation
import XCTest
@testable import LossKit

/// The total's gradient by default is the sum of the in-total terms' gradients (one backward
/// pass per term); with `termGradients: false` it is one backward pass through the total.
/// The two paths must agree, and the second must not report per-term gradients.
final class TotalGradientTests: XCTestCase {
    let config = """
        {"losses": {
          "l1_loss": {"type": "L1Loss", "loss_weight": 0.7},
          "charb_loss": {"type": "CharbonnierLoss", "sample_wise": true, "eps": 1e-6},
          "mse_metric": {"type": "MSELoss", "reduction": "sum"},
          "psnr_loss": {"type": "PSNRLoss", "loss_weight": 0.01},
          "tv_loss": {"type": "MaskedTVLoss", "loss_weight": 0.3, "data_info": {"mask": "weight"}}
        }}
        """

    func inputs(_ dtype: DType) throws -> [String: Tensor] {
        let n = 2 * 3 * 4 * 5
        return [
            "pred": try Tensor(shape: [2, 3, 4, 5], values: (0..<n).map { sin(Double($0) * 1.3) }, dtype: dtype),
            "target": try Tensor(shape: [2, 3, 4, 5], values: (0..<n).map { cos(Double($0) * 0.7) }, dtype: dtype),
            "weight": try Tensor(shape: [2, 1, 4, 5], values: (0..<40).map { Double(($0 * 7) % 5) / 4 }, dtype: dtype),
        ]
    }

    func testSumOfTermGradientsMatchesOneBackwardPassThroughTheTotal() throws {
        let program = try LossProgram(jsonText: config)
        for dtype in [DType.float32, .float64] {
            let x = try inputs(dtype)
            let summed = try program.evaluate(inputs: x)
            let single = try program.evaluate(inputs: x, options: EvaluationOptions(termGradients: false))
            XCTAssertEqual(summed.total, single.total)
            XCTAssertEqual(summed.gradientOrder.map(\.key), ["total", "l1_loss", "charb_loss", "mse_metric", "psnr_loss", "tv_loss"])
            XCTAssertEqual(single.gradientOrder.map(\.key), ["total"])
            XCTAssertEqual(Array(single.gradients.keys), ["total"])
            XCTAssertEqual(single.gradientOrder[0].inputs, ["pred", "target", "weight"])
            let ulps = 8 * (dtype == .float64 ? Double.ulpOfOne : Double(Float.ulpOfOne))
            for name in ["pred", "target", "weight"] {
                let a = try XCTUnwrap(summed.gradients["total"]?[name]).toFloat64()
                let b = try XCTUnwrap(single.gradients["total"]?[name]).toFloat64()
                // Independent of both: the in-total terms' own gradients added here (psnr_loss
                // reads no weight, mse_metric is not in the total).
                var c = [Double](repeating: 0, count: a.count)
                for term in ["l1_loss", "charb_loss", "psnr_loss", "tv_loss"] {
                    guard let g = summed.gradients[term]?[name] else { continue }
                    for (i, v) in g.toFloat64().enumerated() { c[i] += v }
                }
                XCTAssertNil(summed.gradients["psnr_loss"]?["weight"])
                let scale = b.map { Swift.abs($0) }.max() ?? 0
                XCTAssertGreaterThan(scale, 0, name)
                XCTAssertEqual(a, b, accuracy: ulps * scale, "\(name) \(dtype)")
                XCTAssertEqual(a, c, accuracy: ulps * scale, "\(name) \(dtype)")
            }
        }
    }

    func testWrtAndTermsOutsideTheTotal() throws {
        let program = try LossProgram(jsonText: config)
        let x = try inputs(.float64)
        // With --wrt every term is differentiated w.r.t. the same inputs; psnr_loss gives zeros for weight.
        let summed = try program.evaluate(inputs: x, options: EvaluationOptions(wrt: ["weight", "pred"]))
        let single = try program.evaluate(inputs: x, options: EvaluationOptions(wrt: ["weight", "pred"], termGradients: false))
        XCTAssertEqual(summed.gradients["psnr_loss"]?["weight"]?.toFloat64(), Array(repeating: 0, count: 40))
        for name in ["weight", "pred"] {
            let a = try XCTUnwrap(summed.gradients["total"]?[name]).toFloat64()
            let b = try XCTUnwrap(single.gradients["total"]?[name]).toFloat64()
            XCTAssertEqual(a, b, accuracy: 1e-15 * (b.map { Swift.abs($0) }.max() ?? 0), name)
        }
        // Only a term outside the total: the total's gradients are zeros on both paths.
        let metric = try LossProgram(jsonText: #"{"losses": {"mse_metric": {"type": "MSELoss"}}}"#)
        for termGradients in [true, false] {
            let e = try metric.evaluate(inputs: x, options: EvaluationOptions(termGradients: termGradients))
            XCTAssertEqual(e.total, 0)
            XCTAssertEqual(e.gradients["total"]?.count, 0)
            let w = try metric.evaluate(inputs: x, options: EvaluationOptions(wrt: ["pred"], termGradients: termGradients))
            XCTAssertEqual(w.gradients["total"]?["pred"]?.toFloat64(), Array(repeating: 0, count: 120))
        }
    }
}
