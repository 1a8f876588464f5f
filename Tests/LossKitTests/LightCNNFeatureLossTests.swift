import Foundation
import XCTest
import NpyIO
@testable import LossKit

/// LightCNNFeatureLoss against MMagic's own class (fixtures/networks/lightcnn.json,
/// scripts/gen_lightcnn_fixtures.py): weights and images from the formula of
/// gen_perceptual_fixtures.py, l1 and mse, odd sizes (ceil-mode pools), float32 and float64.
final class LightCNNFeatureLossTests: XCTestCase {
    static func weights(source: String = "light_cnn_feature.pth", prefix: String = "") throws -> StateDict {
        var entries: [(key: String, entry: StateDict.Entry)] = []
        for (i, spec) in LightCNNFeatures.specs.enumerated() {
            guard case let .maxFeature(cin, cout, k, _, _) = spec else { continue }
            let wShape = [2 * cout, cin, k, k]
            let scale = Foundation.pow(2.0, Foundation.log2((24.0 / Double(cin * k * k)).squareRoot()).rounded(.toNearestOrEven))
            entries.append(("\(prefix)features.\(i).filter.weight", StateDict.Entry(shape: wShape, fileDType: "float32") { dtype in
                try Tensor(shape: wShape, values: PerceptualLossTests.u(8 * i, wShape.reduce(1, *)).map { Double(Float($0 * scale)) }, dtype: dtype)
            }))
            entries.append(("\(prefix)features.\(i).filter.bias", StateDict.Entry(shape: [2 * cout], fileDType: "float32") { dtype in
                try Tensor(shape: [2 * cout], values: PerceptualLossTests.u(8 * i + 1, 2 * cout).map { Double(Float($0 / 8)) }, dtype: dtype)
            }))
        }
        return try StateDict(source: source, entries: entries)
    }

    func loss(_ params: [(key: String, value: ConfigValue)], weights sd: StateDict) throws -> LightCNNFeatureLoss {
        var p = try LossParameters(declaration: LightCNNFeatureLoss.declaration, object: [("pretrained", .string("w.pth"))] + params)
        p.weightProvider = WeightProvider { _, _ in sd }
        return try LightCNNFeatureLoss(parameters: p)
    }

    func testValuesAndGradientsEqualMMagic() throws {
        let folder = PerceptualLossTests.folder
        let doc = try ConfigValue.parse(jsonText: try String(contentsOf: folder.appendingPathComponent("lightcnn.json"), encoding: .utf8))
        let grads = try NpzArchive.read(path: folder.appendingPathComponent("lightcnn_grads.npz").path)
        guard case let .array(cases)? = doc["cases"] else { return XCTFail("no cases") }
        XCTAssertEqual(cases.count, 3)
        let sd = try Self.weights()
        for c in cases {
            guard case let .string(name)? = c["name"], case let .object(params)? = c["params"], case let .array(dims)? = c["shape"],
                  case let .int(seed)? = c["seed"] else { return XCTFail("bad case") }
            let shape = dims.compactMap { v -> Int? in if case let .int(i) = v { return i }; return nil }
            let module = try loss(params, weights: sd)
            for (tag, dtype) in [("f32", DType.float32), ("f64", DType.float64)] {
                let (x0, gt) = try PerceptualLossTests.images(seed: seed, shape: shape, dtype: dtype)
                let x = x0.requiringGrad()
                let v = try module(pred: x, gt: gt)
                let want = try XCTUnwrap(c[tag]?.numberValue)
                XCTAssertEqual(v.toFloat64()[0], want, accuracy: (dtype == .float32 ? 2e-5 : 1e-9) * abs(want), "\(name) \(tag)")
                let g = try grad(v, wrt: [x])[0].toFloat64()
                let ref = try grads.array(named: "\(name)/\(tag)").toFloat64()
                let err = PerceptualLossTests.relativeError(g, ref)
                XCTAssertLessThanOrEqual(err, dtype == .float32 ? 1e-4 : 1e-9, "\(name) \(tag): gradient's relative error")
            }
        }
    }

    /// mmengine checkpoints (state_dict wrapper, module. prefix) load; other keys are refused.
    func testWrappedAndStrict() throws {
        XCTAssertNoThrow(try loss([], weights: try Self.weights(prefix: "state_dict.module.")))
        let plain = try Self.weights()
        XCTAssertEqual(plain.count, 18)
        let extra = try StateDict(source: "lcnn.pth", entries: plain.keys.compactMap { key in plain[key].map { (key, $0) } } + [("classifier.0.filter.weight", StateDict.Entry(shape: [512, 8192], fileDType: "float32") { _ in throw LossError.tensor("never read") })])
        XCTAssertThrowsError(try loss([], weights: extra)) {
            XCTAssertTrue("\($0)".contains("lcnn.pth: classifier.0.filter.weight (512,8192) is in the file but not in the network"), "\($0)")
        }
        XCTAssertThrowsError(try LossParameters(declaration: LightCNNFeatureLoss.declaration, object: [("pretrained", .string("w")), ("criterion", .string("L1"))])) {
            XCTAssertTrue("\($0)".contains("unsupported criterion \"L1\""), "\($0)")
        }
        XCTAssertThrowsError(try LossParameters(declaration: LightCNNFeatureLoss.declaration, object: [])) {
            XCTAssertTrue("\($0)".contains("needs parameter \"pretrained\""), "\($0)")
        }
    }
}
