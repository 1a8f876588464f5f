import Foundation
import XCTest
import NpyIO
@testable import LossKit

/// PerceptualLoss against MMagic's own class (fixtures/networks, scripts/gen_perceptual_fixtures.py):
/// VGG weights and images from the formula that script documents, computed here the same way;
/// values and input gradients in float32 and float64 for every VGG type, BatchNorm with batch
/// and running statistics, style on, off and on its own layers, both criteria, both flags,
/// layer names, batch 1 and 2, non-square images.
final class PerceptualLossTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/networks")

    /// u(tag, j) of the fixture script, exact in Double.
    static func u(_ tag: Int, _ n: Int) -> [Double] {
        (0..<n).map { j in
            let h = (UInt64(j) &* 2_654_435_761 &+ UInt64(tag * 40503 + 12345)) & 0xFFFF_FFFF
            return Double(h) / 4_294_967_296 - 0.5
        }
    }

    /// The formula's VGG weights as float32 (the file's dtype), as a state dict with torchvision's keys.
    static func weights(_ type: VGGType, source: String = "vgg.pth", counter: Counter? = nil) throws -> StateDict {
        var entries: [(key: String, entry: StateDict.Entry)] = []
        for (i, (_, spec)) in type.features.enumerated() {
            for w in spec.expectedWeights {
                let shape = w.shape, key = w.key
                // Values made when first converted (only the layers a test runs).
                entries.append(("features.\(i).\(key)", StateDict.Entry(shape: shape, fileDType: "float32") { dtype in
                    counter?.add()
                    let n = shape.reduce(1, *)
                    let values: [Double]
                    switch (spec, key) {
                    case (.conv, "weight"):
                        let fanIn = shape.dropFirst().reduce(1, *)
                        let scale = Foundation.pow(2.0, Foundation.log2((24.0 / Double(fanIn)).squareRoot()).rounded(.toNearestOrEven))
                        values = u(8 * i, n).map { $0 * scale }
                    case (.conv, "bias"): values = u(8 * i + 1, n).map { $0 / 8 }
                    case (.batchNorm, "weight"): values = u(8 * i + 2, n).map { 1 + $0 / 2 }
                    case (.batchNorm, "bias"): values = u(8 * i + 3, n).map { $0 / 8 }
                    case (.batchNorm, "running_mean"): values = u(8 * i + 4, n).map { $0 / 8 }
                    case (.batchNorm, "running_var"): values = u(8 * i + 5, n).map { 1 + $0 / 2 }
                    default: values = [7]   // num_batches_tracked
                    }
                    return try Tensor(shape: shape, values: values.map { Double(Float($0)) }, dtype: dtype)
                }))
            }
        }
        return try StateDict(source: source, entries: entries)
    }

    /// A gradient's error relative to the reference's norm: ‖a − b‖ / ‖b‖.
    static func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() / b.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func add() { lock.lock(); n += 1; lock.unlock() }
        var count: Int { lock.lock(); defer { lock.unlock() }; return n }
    }

    static func images(seed: Int, shape: [Int], dtype: DType) throws -> (Tensor, Tensor) {
        let n = shape.reduce(1, *)
        let x = u(1000 + seed, n).map { Double(Float(2 * $0)) }, gt = u(2000 + seed, n).map { Double(Float(2 * $0)) }
        return (try Tensor(shape: shape, values: x, dtype: dtype), try Tensor(shape: shape, values: gt, dtype: dtype))
    }

    /// One state dict per type for the whole run, so each layer's values are made once per dtype.
    nonisolated(unsafe) static var shared: [VGGType: StateDict] = [:]

    func loss(_ params: [(key: String, value: ConfigValue)], type: VGGType, counter: Counter? = nil) throws -> PerceptualLoss {
        let sd: StateDict
        if let counter { sd = try Self.weights(type, counter: counter) } else if let known = Self.shared[type] { sd = known } else {
            sd = try Self.weights(type)
            Self.shared[type] = sd
        }
        var p = try LossParameters(declaration: PerceptualLoss.declaration, object: params)
        p.weightProvider = WeightProvider { _, _ in sd }
        return try PerceptualLoss(parameters: p)
    }

    func testValuesAndGradientsEqualMMagic() throws {
        let text = try String(contentsOf: Self.folder.appendingPathComponent("perceptual.json"), encoding: .utf8)
        let doc = try ConfigValue.parse(jsonText: text)
        let grads = try NpzArchive.read(path: Self.folder.appendingPathComponent("perceptual_grads.npz").path)
        guard case let .array(cases)? = doc["cases"] else { return XCTFail("no cases") }
        XCTAssertEqual(cases.count, 10)
        for c in cases {
            guard case let .string(name)? = c["name"], case let .string(typeName)? = c["vgg_type"], let type = VGGType(rawValue: typeName),
                  case let .object(params)? = c["params"], case let .string(bn)? = c["batch_norm"],
                  case let .array(shapeValues)? = c["shape"], case let .int(seed)? = c["seed"] else { return XCTFail("bad case") }
            let shape = shapeValues.compactMap { v -> Int? in if case let .int(i) = v { return i }; return nil }
            for (tag, dtype) in [("f32", DType.float32), ("f64", DType.float64)] {
                let module = try loss(params + [("vgg_type", .string(typeName)), ("batch_norm", .string(bn))], type: type)
                let (x0, gt) = try Self.images(seed: seed, shape: shape, dtype: dtype)
                let x = x0.requiringGrad()
                let parts = try module(x: x, gt: gt)
                let rel = dtype == .float32 ? 2e-5 : 1e-9
                var total: Tensor? = nil
                for part in ["perceptual", "style"] {
                    let want = c[tag]?[part]?.numberValue
                    let got = parts.first { $0.name == part }?.value
                    if let want {
                        let g = try XCTUnwrap(got, "\(name) \(tag) \(part)").toFloat64()[0]
                        XCTAssertEqual(g, want, accuracy: rel * abs(want), "\(name) \(tag) \(part)")
                    } else {
                        XCTAssertNil(got, "\(name) \(tag): \(part) is absent in MMagic")
                    }
                    if let got { total = try total.map { try $0 + got } ?? got }
                }
                let gx = try grad(try XCTUnwrap(total), wrt: [x])[0].toFloat64()
                let want = try grads.array(named: "\(name)/\(tag)").toFloat64()
                XCTAssertEqual(gx.count, want.count)
                let err = Self.relativeError(gx, want)
                if dtype == .float64 {
                    XCTAssertLessThanOrEqual(err, 1e-9, "\(name) \(tag): gradient's relative error")
                } else {
                    let exact = try grads.array(named: "\(name)/f64").toFloat64()
                    print("PerceptualLoss \(name): f32 gradient vs MMagic f32 \(err); vs MMagic f64: ours \(Self.relativeError(gx, exact)), MMagic's f32 \(Self.relativeError(want, exact))")
                    XCTAssertLessThanOrEqual(err, 1e-4, "\(name) \(tag): gradient's relative error")
                }
            }
        }
    }

    func testLayerNamesAreIndices() {
        XCTAssertEqual(VGGType.vgg19.layerIndex("relu5_4"), 35)
        XCTAssertEqual(VGGType.vgg19.layerIndex("conv5_4"), 34)
        XCTAssertEqual(VGGType.vgg19.layerIndex("pool4"), 27)
        XCTAssertEqual(VGGType.vgg19_bn.layerIndex("bn1_1"), 1)
        XCTAssertEqual(VGGType.vgg16_bn.layerIndex("relu5_3"), 42)
        XCTAssertEqual(VGGType.vgg11.features.count, 21)
        XCTAssertEqual(VGGType.vgg19_bn.features.count, 53)
        XCTAssertNil(VGGType.vgg19.layerIndex("02"))
        XCTAssertNil(VGGType.vgg19.layerIndex("relu6_1"))
    }

    /// MMagic's checks, and the file's keys checked strictly against the network.
    func testConfigErrors() throws {
        let lw: (key: String, value: ConfigValue) = ("layer_weights", .object([("34", .double(1))]))
        let cases: [([(key: String, value: ConfigValue)], VGGType, String)] = [
            ([lw, ("vgg_type", .string("vgg16"))], .vgg16, "vgg_type vgg16 is not in pretrained \"torchvision://vgg19\""),
            ([("layer_weights", .object([("37", .double(1))]))], .vgg19, "layer 37 is beyond vgg19's 37 feature layers"),
            ([("layer_weights", .object([("relu9_9", .double(1))]))], .vgg19, "neither a layer index nor a layer name of vgg19"),
            ([("layer_weights", .object([("34", .double(1)), ("conv5_4", .double(1))]))], .vgg19, "layer 34 is given twice"),
        ]
        for (params, type, message) in cases {
            XCTAssertThrowsError(try loss(params, type: type)) { XCTAssertTrue("\($0)".contains(message), "\($0)") }
        }
        XCTAssertThrowsError(try LossParameters(declaration: PerceptualLoss.declaration, object: [lw, ("criterion", .string("igccc"))])) {
            XCTAssertTrue("\($0)".contains("unsupported criterion \"igccc\""), "\($0)")
        }
        // vgg19_bn + the default pretrained passes MMagic's substring test only with vgg19 in it.
        XCTAssertThrowsError(try loss([lw, ("vgg_type", .string("vgg19_bn"))], type: .vgg19_bn)) {
            XCTAssertTrue("\($0)".contains("vgg_type vgg19_bn is not in pretrained"), "\($0)")
        }
        // A vgg16 file for a vgg19 network: missing keys named with their shapes.
        let sd = try Self.weights(.vgg16, source: "vgg16.pth")
        var p = try LossParameters(declaration: PerceptualLoss.declaration, object: [lw])
        p.weightProvider = WeightProvider { _, _ in sd }
        XCTAssertThrowsError(try PerceptualLoss(parameters: p)) { error in
            XCTAssertTrue("\(error)".contains("vgg16.pth: "), "\(error)")
            XCTAssertTrue("\(error)".contains("is not in the file, the network needs it with shape"), "\(error)")
        }
        // Without a weight source, a config error naming the parameter.
        XCTAssertThrowsError(try PerceptualLoss(parameters: try LossParameters(declaration: PerceptualLoss.declaration, object: [lw]))) {
            XCTAssertTrue("\($0)".contains("needs its network's weights"), "\($0)")
        }
    }

    /// A saved MMagic PerceptualLoss (`vgg.vgg_layers.N.*` for the layers it kept, mean/std
    /// buffers) gives the same network as torchvision's keys.
    func testMMagicsOwnKeys() throws {
        let tv = try Self.weights(.vgg11)
        var entries: [(key: String, entry: StateDict.Entry)] = tv.keys.compactMap { k in
            guard let i = Int(k.split(separator: ".")[1]), i <= 5, let e = tv[k] else { return nil }
            return ("vgg.vgg_layers." + k.dropFirst("features.".count), e)
        }
        entries.append(("vgg.mean", StateDict.Entry(shape: [1, 3, 1, 1], fileDType: "float32") { try Tensor(shape: [1, 3, 1, 1], values: [0, 0, 0], dtype: $0) }))
        let own = try StateDict(source: "perceptual.pth", entries: entries)
        let params: [(key: String, value: ConfigValue)] = [("layer_weights", .object([("5", .double(1))])), ("vgg_type", .string("vgg11")),
                                                           ("pretrained", .string("torchvision://vgg11"))]
        var p1 = try LossParameters(declaration: PerceptualLoss.declaration, object: params)
        p1.weightProvider = WeightProvider { _, _ in own }
        var p2 = p1
        p2.weightProvider = WeightProvider { _, _ in tv }
        let (x, gt) = try Self.images(seed: 3, shape: [1, 3, 8, 8], dtype: .float64)
        let a = try PerceptualLoss(parameters: p1)(x: x, gt: gt), b = try PerceptualLoss(parameters: p2)(x: x, gt: gt)
        XCTAssertEqual(a.map(\.name), b.map(\.name))
        XCTAssertEqual(try a.map { try $0.value.item() }, try b.map { try $0.value.item() })
        // Asking for a layer beyond what it kept: missing keys.
        var deep = try LossParameters(declaration: PerceptualLoss.declaration, object: [("layer_weights", .object([("8", .double(1))])),
                                      ("vgg_type", .string("vgg11")), ("pretrained", .string("torchvision://vgg11"))])
        deep.weightProvider = WeightProvider { _, _ in own }
        XCTAssertThrowsError(try PerceptualLoss(parameters: deep)) {
            XCTAssertTrue("\($0)".contains("vgg.vgg_layers.6.weight is not in the file"), "\($0)")
        }
    }

    /// Weights are converted once per dtype, whatever the number of evaluations.
    func testWeightsAreConvertedOnce() throws {
        let counter = Counter()
        let module = try loss([("layer_weights", .object([("7", .double(1))])), ("vgg_type", .string("vgg19"))], type: .vgg19, counter: counter)
        let afterBuild = counter.count
        let (x, gt) = try Self.images(seed: 1, shape: [1, 3, 8, 8], dtype: .float32)
        for _ in 0..<3 { _ = try module(x: x, gt: gt) }
        XCTAssertEqual(counter.count, 8, "the weight and bias of convs 0, 2, 5 and 7, once")
        XCTAssertEqual(afterBuild, 0, "building checks the file's keys and shapes and converts nothing")
    }
}
