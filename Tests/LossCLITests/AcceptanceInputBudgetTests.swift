import Foundation
import NpyIO
import XCTest
@testable import LossCLI

/// A well-formed but huge input is refused with an error line before conversion (an 8 GB
/// uint8 file once crashed losscli with a failed 34 GB allocation). The end-to-end case
/// needs a file larger than the machine's memory, too slow for the suite; the rule itself
/// is checked here with a small stand-in for physical memory.
final class AcceptanceInputBudgetTests: XCTestCase {
    func loaded(_ assignment: String, count: Int) throws -> LoadedArray {
        LoadedArray(binding: try InputBinding.parse(assignment: assignment),
                    array: NpyArray(float32: [Float](repeating: 0, count: count), shape: [count]))
    }

    func testInputsMustFitWithTheirGradients() throws {
        let pred = try loaded("pred=p.npy", count: 1000), target = try loaded("target=t.npy", count: 1000)
        // 1000 float32 elements and a gradient: 8000 bytes; float64: 16000.
        XCTAssertNoThrow(try InputBudget.check([pred], dtype: .float32, budget: MemoryBudget(physical: 8000)))
        XCTAssertThrowsError(try InputBudget.check([pred], dtype: .float32, budget: MemoryBudget(physical: 7999))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("input \"pred\" (p.npy): 1000 elements need"), text)
            XCTAssertTrue(text.contains("float32"), text)
        }
        XCTAssertThrowsError(try InputBudget.check([pred], dtype: .float64, budget: MemoryBudget(physical: 15999)))
        XCTAssertNoThrow(try InputBudget.check([pred, target], dtype: .float32, budget: MemoryBudget(physical: 16000)))
        XCTAssertThrowsError(try InputBudget.check([pred, target], dtype: .float32, budget: MemoryBudget(physical: 15999))) { error in
            XCTAssertTrue("\(error)".hasPrefix("inputs: pred, target together need"), "\(error)")
        }
    }
}
