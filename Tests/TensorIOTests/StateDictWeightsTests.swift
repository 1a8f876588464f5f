import Foundation
import XCTest
import LossKit
import NpyIO
import TensorIO

/// `StateDict(weights:)` on files torch wrote (fixtures/weights, scripts/gen_weight_fixtures.py):
/// every format, plain and wrapped as mmengine and DataParallel wrap it, unwraps to the same
/// keys, shapes and values.
final class StateDictWeightsTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("fixtures/weights")

    struct Expected: Decodable {
        struct File: Decodable { var format: String; var wrap: String }
        struct TensorInfo: Decodable { var dtype: String; var shape: [Int]; var values: [Double] }
        var files: [String: File]
        var tensors: [String: TensorInfo]
    }

    /// The state dict's keys in the order torch saved them.
    let keys = ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked",
                "head.weight", "head.bias"]

    func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.folder.appendingPathComponent("expected.json")))
    }

    func load(_ name: String) throws -> StateDict {
        try StateDict(weights: WeightFile.read(path: Self.folder.appendingPathComponent(name).path))
    }

    func check(_ name: String, _ file: Expected.File, _ expected: Expected) throws {
        let whole = try load(name)
        XCTAssertEqual(whole.source, Self.folder.appendingPathComponent(name).path)
        let sd = whole.unwrapped()
        // safetensors keeps no order of its own (its writer sorts the header): keys as a set there.
        if file.format == "safetensors" { XCTAssertEqual(Set(sd.keys), Set(keys), name) } else { XCTAssertEqual(sd.keys, keys, name) }
        XCTAssertEqual(sd.prefix, ["none": "", "module": "module.", "state_dict": "state_dict.", "both": "state_dict.module."][file.wrap], name)
        for key in keys {
            let info = try XCTUnwrap(expected.tensors[key])
            let entry = try XCTUnwrap(sd[key], "\(name): \(key)")
            XCTAssertEqual(entry.shape, info.shape, "\(name): \(key)")
            XCTAssertEqual(entry.fileDType, info.dtype, "\(name): \(key)")
            let f64 = try sd.tensor(key, shape: info.shape, dtype: .float64)
            XCTAssertEqual(f64.toFloat64(), info.values, "\(name): \(key) as float64")
            let f32 = try sd.tensor(key, shape: info.shape, dtype: .float32)
            XCTAssertEqual(f32.toFloat32(), info.values.map { Float($0) }, "\(name): \(key) as float32")
            XCTAssertTrue(try sd.tensor(key, shape: info.shape, dtype: .float32) === f32, "converted once")
        }
        // A whole network's strict check passes; one conv of the wrong size names the file's key.
        let expectedWeights = keys.map { ExpectedWeight($0, shape: expected.tensors[$0]?.shape ?? []) }
        XCTAssertNoThrow(try sd.checkStrict(expectedWeights), name)
        var wrong = expectedWeights
        wrong[0].shape = [4, 3, 5, 5]
        XCTAssertThrowsError(try sd.checkStrict(wrong)) { error in
            XCTAssertEqual("\(error)", "\(whole.source): \(sd.prefix)features.0.weight has shape (4,3,3,3) in the file, the network needs (4,3,5,5)")
        }
    }

    func testTorchFormatsPlainAndWrapped() throws {
        let expected = try expected()
        var seen = 0
        for (name, file) in expected.files.sorted(by: { $0.key < $1.key }) where file.format != "safetensors" {
            try check(name, file, expected)
            seen += 1
        }
        XCTAssertEqual(seen, 14)
    }

    func testMMEngineCheckpointIgnoresMetaAndOptimizer() throws {
        let whole = try load("zip_state_dict.pth")
        XCTAssertTrue(whole.keys.contains("optimizer.state.0.exp_avg"), "the optimizer's tensors are in the file")
        XCTAssertFalse(whole.keys.contains { $0.hasPrefix("meta.") }, "meta holds no tensors")
        XCTAssertFalse(whole.unwrapped().keys.contains { $0.contains("exp_avg") })
    }

    func testIntegerTensorsConvertToFloat() throws {
        let sd = try load("legacy_none.pth")
        XCTAssertEqual(sd["features.1.num_batches_tracked"]?.fileDType, "int64")
        XCTAssertEqual(try sd.tensor("features.1.num_batches_tracked", shape: [], dtype: .float32).toFloat64(), [1234])
    }

    func testSafetensors() throws {
        let expected = try expected()
        let files = expected.files.filter { $0.value.format == "safetensors" }
        XCTAssertEqual(files.count, 2)
        for (name, file) in files { try check(name, file, expected) }
    }

    func testSourceDefaultsAndOverride() throws {
        let file = try WeightFile.read(bytes: Array(Data(contentsOf: Self.folder.appendingPathComponent("npz_none.npz"))))
        XCTAssertEqual(try StateDict(weights: file).source, "weights")
        XCTAssertEqual(try StateDict(weights: file, source: "vgg19.pth").source, "vgg19.pth")
    }
}
