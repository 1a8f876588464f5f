import XCTest
@testable import LossKit

/// Every loss against MMagic 1.2's own code (fixtures/losses/*.json): values and gradients
/// w.r.t. every float input, float32 and float64, every parameter combination generated.
final class LossFixtureTests: XCTestCase {
    func testPixelwiseLossesMatchMMagic() throws {
        for type in ["L1Loss", "MSELoss", "CharbonnierLoss", "MaskedTVLoss", "PSNRLoss", "TVLoss"] {
            XCTAssertGreaterThan(try LossFixtures.check("pixelwise", only: type).checked, 0, type)
        }
    }
    func testCompositionLossesMatchMMagic() throws {
        XCTAssertGreaterThan(try LossFixtures.check("composition").checked, 0)
    }
    func testGradientLossMatchesMMagic() throws {
        XCTAssertGreaterThan(try LossFixtures.check("gradient").checked, 0)
    }
    func testGANLossMatchesMMagic() throws {
        XCTAssertGreaterThan(try LossFixtures.check("gan").checked, 0)
    }
    func testGANLossCompsMatchesMMagic() throws {
        XCTAssertGreaterThan(try LossFixtures.check("gan_comps").checked, 0)
    }
    func testDiscShiftLossesMatchMMagic() throws {
        XCTAssertGreaterThan(try LossFixtures.check("disc_aux").checked, 0)
    }
    func testTransferalPerceptualLossMatchesMMagic() throws {
        XCTAssertGreaterThan(try LossFixtures.check("transferal").checked, 0)
    }
}
