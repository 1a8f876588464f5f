import XCTest
@testable import LossKit

/// Finite differences of the network layers in float64, first and second order (the layers are
/// compositions of differentiable ops: these check that the compositions are right, including
/// gradients through BatchNorm's batch statistics and into the weights).
extension CoreGradCheckTests {
    func testNetworkLayersFiniteDifferences() throws {
        try check("Conv2d (input, weight, bias)", shapes: [[2, 3, 5, 4], [4, 3, 3, 3], [4]]) { t in
            [try Conv2d(weight: t[1], bias: t[2], stride: 1, padding: 1)(t[0])]
        }
        try check("BatchNorm2d batch statistics", shapes: [[3, 2, 3, 2], [2], [2]]) { t in
            let bn = BatchNorm2d(weight: t[1], bias: t[2], runningMean: try Tensor(shape: [2], float64: [0, 0]),
                                 runningVar: try Tensor(shape: [2], float64: [1, 1]), eps: 1e-5, statistics: .batch)
            return [try bn(t[0])]
        }
        try check("BatchNorm2d running statistics", shapes: [[2, 2, 3, 3], [2], [2]]) { t in
            let bn = BatchNorm2d(weight: t[1], bias: t[2], runningMean: try Tensor(shape: [2], float64: [0.3, -0.2]),
                                 runningVar: try Tensor(shape: [2], float64: [0.5, 2]), eps: 1e-5, statistics: .running)
            return [try bn(t[0])]
        }
        try check("MaxFeature", shapes: [[1, 2, 4, 4], [6, 2, 3, 3], [6]]) { t in
            [try MaxFeature(filter: Conv2d(weight: t[1], bias: t[2], stride: 1, padding: 1))(t[0])]
        }
        try check("MaxPool2d ceil mode + ReLU", shapes: [[1, 2, 5, 3]], secondOrder: false) { t in
            [try MaxPool2d(kernel: 2, stride: 2, ceilMode: true)(ReLU()(t[0]))]
        }
        try check("Gram matrix", shapes: [[2, 3, 2, 3]]) { t in [try PerceptualLoss.gram(t[0])] }
    }
}
