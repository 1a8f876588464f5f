import XCTest
@testable import LossKit

final class CoreSmokeTests: XCTestCase {
    func testAddBroadcast() throws {
        let a = try Tensor(shape: [2, 1], float32: [1, 2])
        let b = try Tensor(shape: [3], float32: [10, 20, 30])
        XCTAssertEqual(try (a + b).toFloat32(), [11, 21, 31, 12, 22, 32])
    }
}

final class CoreSmokeGradTests: XCTestCase {
    func testSecondOrder() throws {
        let x = try Tensor(shape: [3], float64: [1, 2, -3]).requiringGrad()
        let y = x.pow(3).sum()
        let g = try grad(y, wrt: [x], createGraph: true)[0]
        XCTAssertEqual(g.toFloat64(), [3, 12, 27])
        let h = try grad(g.sum(), wrt: [x])[0]
        XCTAssertEqual(h.toFloat64(), [6, 12, -18])
        let m = try x.max(dim: 0)
        XCTAssertEqual(try m.values.item(), 2)
        let gm = try grad(m.values, wrt: [x])[0]
        XCTAssertEqual(gm.toFloat64(), [0, 1, 0])
        let p = try x.reshape([3, 1]).pad([1, 2], mode: .replicate)
        XCTAssertEqual(p.shape, [3, 4])
        let gp = try grad(p.sum(), wrt: [x])[0]
        XCTAssertEqual(gp.toFloat64(), [4, 4, 4])
        let s = try x.slice(dim: 0, start: -2, end: nil, step: 1)
        XCTAssertEqual(s.toFloat64(), [2, -3])
        let n = try grad(x.norm(), wrt: [x])[0]
        XCTAssertEqual(n.toFloat64()[0], 1 / (14.0).squareRoot(), accuracy: 1e-15)
    }
}
