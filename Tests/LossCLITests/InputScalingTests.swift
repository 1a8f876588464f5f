import Dispatch
import Foundation
import LossKit
import NpyIO
import XCTest
@testable import LossCLI

/// `eval --inputs` was quadratic in the number of members (70k members: 56 s, while inspect
/// read the same file in 2 s): each member was looked up by a linear scan, twice.
final class InputScalingTests: XCTestCase {
    func archive(members n: Int, in dir: URL) throws -> String {
        var arrays: [(String, NpyArray)] = (0..<n).map { ("k\($0)", NpyArray(float32: [Float($0)], shape: [1])) }
        arrays.append(("pred", NpyArray(float32: [1, 2], shape: [2])))
        arrays.append(("target", NpyArray(float32: [0, 0], shape: [2])))
        let path = dir.appendingPathComponent("m\(n).npz").path
        try NpzArchive.write(arrays, path: path, compressed: false)
        return path
    }

    /// Best of three seconds to load every member as an input.
    func loadSeconds(_ path: String, expect n: Int) throws -> Double {
        let options = try InputOptions.parse(["--config", #"{"type": "L1Loss"}"#, "--inputs", path])
        var best = Double.infinity
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            let (_, arrays) = try options.load()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            XCTAssertEqual(arrays.count, n + 2)
        }
        return best
    }

    /// Eight times the members must cost about eight times as long, not sixty-four: the
    /// bound 24 leaves room for a noisy machine and fails a quadratic loader by far.
    func testLoadingArchiveMembersIsLinear() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let small = try loadSeconds(try archive(members: 2_000, in: dir), expect: 2_000)
        let large = try loadSeconds(try archive(members: 16_000, in: dir), expect: 16_000)
        XCTAssertLessThan(large / small, 24, "2,000 members: \(small) s, 16,000: \(large) s")
    }

    /// The plan `eval` checks output keys and memory with is what the evaluation then reports.
    func testPlannedOutputsAreWhatEvaluationReports() throws {
        let configs = [
            #"{"type": "L1Loss"}"#,
            #"{"losses": {"pixel_loss": {"type": "L1Loss"}, "pixel_loss ": {"type": "MSELoss", "data_info": {"target": "t2"}}, "#
                + #""aux": [{"type": "MSELoss"}, {"type": "CharbonnierLoss", "loss_weight": 0.5}]}}"#,
            #"{"losses": {"a_loss": {"type": "L1Loss"}, "b": {"type": "MSELoss"}, "c_loss": {"type": "L1Loss", "data_info": {"pred": "t2"}}}}"#,
        ]
        let x = try Tensor(shape: [1, 1, 2, 2], float32: [0.1, 0.5, -0.3, 2])
        let y = try Tensor(shape: [1, 1, 2, 2], float32: [0, 1, 0, 1])
        let inputs = ["pred": x, "target": y, "t2": y, "weight": y]
        for config in configs {
            let program = try LossProgram(jsonText: config)
            for options in [EvaluationOptions(), EvaluationOptions(wrt: ["pred", "weight"]), EvaluationOptions(nonFloatInputs: ["target"]),
                            EvaluationOptions(termGradients: false), EvaluationOptions(gradients: false)] {
                let plan = try program.plannedOutputs(available: Set(inputs.keys), options: options)
                let e = try program.evaluate(inputs: inputs, options: options)
                XCTAssertEqual(plan.terms.map(\.name), e.terms.map(\.name), config)
                XCTAssertEqual(plan.terms.map(\.inputs), e.terms.map(\.inputs), config)
                XCTAssertEqual(plan.gradients.map(\.key), e.gradientOrder.map(\.key), config)
                XCTAssertEqual(plan.gradients.map(\.inputs), e.gradientOrder.map(\.inputs), config)
            }
        }
    }

    /// Rule 3 of the budget: converted inputs, every gradient and the intermediates.
    func testEvaluationEstimateCountsGradientsAndIntermediates() throws {
        let pred = LoadedArray(binding: try InputBinding.parse(assignment: "pred=p.npy"),
                               array: NpyArray(float32: [Float](repeating: 0, count: 1000), shape: [1000]))
        let target = LoadedArray(binding: try InputBinding.parse(assignment: "target=t.npy"),
                                 array: NpyArray(float32: [Float](repeating: 0, count: 1000), shape: [1000]))
        let terms = [(name: "loss", inputs: ["pred", "target"])]
        let gradients = [(key: "total", inputs: ["pred", "target"]), (key: "loss", inputs: ["pred", "target"])]
        // 4000 bytes an array: 2 converted (not borrowed) + 4 gradients + 2 intermediates = 32000.
        XCTAssertNoThrow(try InputBudget.check([pred, target], dtype: .float32, budget: MemoryBudget(physical: 32_000),
                                               terms: terms, gradients: gradients))
        XCTAssertThrowsError(try InputBudget.check([pred, target], dtype: .float32, budget: MemoryBudget(physical: 31_999),
                                                   terms: terms, gradients: gradients)) { error in
            XCTAssertTrue("\(error)".hasPrefix("evaluating needs an estimated"), "\(error)")
        }
        // Inputs read in place from their file are not converted.
        XCTAssertNoThrow(try InputBudget.check([pred, target], dtype: .float32, budget: MemoryBudget(physical: 24_000),
                                               borrowed: ["pred", "target"], terms: terms, gradients: gradients))
        XCTAssertThrowsError(try InputBudget.check([pred, target], dtype: .float32,
                                                   budget: MemoryBudget(physical: 1 << 40, addressSpaceLimit: 30_000),
                                                   terms: terms, gradients: gradients)) { error in
            XCTAssertTrue("\(error)".contains("ulimit -v"), "\(error)")
        }
    }
}
