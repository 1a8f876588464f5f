import Foundation
import XCTest
import NpyIO

/// The network losses through the built binary: weights from a file named relative to the
/// config or by MMagic's default name in the torch cache, values and gradients as MMagic's
/// (fixtures/networks, whose weight and image formula — scripts/gen_perceptual_fixtures.py —
/// is repeated here to write the files), and the weight errors' exit 2.
final class NetworkLossCLITests: XCTestCase {
    static let networks = EvalHarness.root.appendingPathComponent("fixtures/networks")

    static func u(_ tag: Int, _ n: Int) -> [Double] {
        (0..<n).map { j in Double((UInt64(j) &* 2_654_435_761 &+ UInt64(tag * 40503 + 12345)) & 0xFFFF_FFFF) / 4_294_967_296 - 0.5 }
    }

    static func scale(fanIn: Int) -> Double { Foundation.pow(2.0, Foundation.log2((24.0 / Double(fanIn)).squareRoot()).rounded(.toNearestOrEven)) }

    /// LightCNN's features.N.filter.* from the formula (nets.LIGHTCNN_LAYERS).
    static func lightCNN() -> [(String, NpyArray)] {
        let layers = [(0, 3, 48, 5), (2, 48, 48, 1), (3, 48, 96, 3), (5, 96, 96, 1), (6, 96, 192, 3),
                      (8, 192, 192, 1), (9, 192, 128, 3), (10, 128, 128, 1), (11, 128, 128, 3)]
        return layers.flatMap { i, cin, cout, k -> [(String, NpyArray)] in
            let n = 2 * cout * cin * k * k, s = scale(fanIn: cin * k * k)
            return [("features.\(i).filter.weight", NpyArray(float32: u(8 * i, n).map { Float($0 * s) }, shape: [2 * cout, cin, k, k])),
                    ("features.\(i).filter.bias", NpyArray(float32: u(8 * i + 1, 2 * cout).map { Float($0 / 8) }, shape: [2 * cout]))]
        }
    }

    /// vgg11's features.* from the formula.
    static func vgg11() -> [(String, NpyArray)] {
        var out: [(String, NpyArray)] = []
        var cin = 3, i = 0
        for v in [64, -1, 128, -1, 256, 256, -1, 512, 512, -1, 512, 512, -1] {
            if v < 0 { i += 1; continue }
            let n = v * cin * 9, s = scale(fanIn: cin * 9)
            out.append(("features.\(i).weight", NpyArray(float32: u(8 * i, n).map { Float($0 * s) }, shape: [v, cin, 3, 3])))
            out.append(("features.\(i).bias", NpyArray(float32: u(8 * i + 1, v).map { Float($0 / 8) }, shape: [v])))
            cin = v
            i += 2
        }
        return out
    }

    static func writeImages(_ dir: URL, seed: Int, shape: [Int]) throws {
        let n = shape.reduce(1, *)
        try Npy.write(NpyArray(float32: u(1000 + seed, n).map { Float(2 * $0) }, shape: shape), path: dir.appendingPathComponent("x.npy").path)
        try Npy.write(NpyArray(float32: u(2000 + seed, n).map { Float(2 * $0) }, shape: shape), path: dir.appendingPathComponent("gt.npy").path)
    }

    func fixture(_ file: String, _ name: String) throws -> [String: Any] {
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.networks.appendingPathComponent(file))) as? [String: Any]
        let cases = try XCTUnwrap(doc?["cases"] as? [[String: Any]])
        return try XCTUnwrap(cases.first { $0["name"] as? String == name })
    }

    func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() / b.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    /// LightCNNFeatureLoss from a weight file next to the config (an .npz state dict named
    /// .pth: detected by its bytes), and its errors.
    func testLightCNNFromAFileBesideTheConfig() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let sub = dir.appendingPathComponent("cfg")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        try NpzArchive.write(Self.lightCNN(), path: sub.appendingPathComponent("light_cnn_feature.pth").path, compressed: false)
        try Self.writeImages(sub, seed: 22, shape: [1, 3, 30, 22])
        let config = #"{"losses": {"face_loss": {"type": "LightCNNFeatureLoss", "pretrained": "light_cnn_feature.pth", "criterion": "mse", "loss_weight": 2.5}}, "inputs": {"pred": "x.npy", "gt": "gt.npy"}}"#
        try config.write(to: sub.appendingPathComponent("loss.json"), atomically: true, encoding: .utf8)
        let r = try EvalHarness.run(["eval", "--config", "cfg/loss.json", "--grad-out", "g.npz", "--format", "json"], in: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let terms = try XCTUnwrap(try r.json()["terms"] as? [String: [String: Any]])
        let want = try XCTUnwrap(try fixture("lightcnn.json", "mse_odd")["f32"] as? Double)
        let got = try XCTUnwrap(terms["face_loss"]?["value"] as? Double)
        XCTAssertEqual(got, want, accuracy: 2e-5 * want)
        let g = try NpzArchive.read(path: dir.appendingPathComponent("g.npz").path).array(named: "face_loss/pred").toFloat64()
        let ref = try NpzArchive.read(path: Self.networks.appendingPathComponent("lightcnn_grads.npz").path).array(named: "mse_odd/f32").toFloat64()
        XCTAssertLessThanOrEqual(relativeError(g, ref), 1e-4)

        // A wrong shape: exit 2 naming the file, the key and both shapes.
        var bad = Self.lightCNN()
        bad[0].1 = NpyArray(float32: [Float](repeating: 0, count: 96 * 3 * 3 * 3), shape: [96, 3, 3, 3])
        try NpzArchive.write(bad, path: sub.appendingPathComponent("light_cnn_feature.pth").path, compressed: false)
        let wrong = try EvalHarness.run(["eval", "--config", "cfg/loss.json"], in: dir)
        assertUsageError(wrong, mentions: ["light_cnn_feature.pth", "features.0.filter.weight has shape (96,3,3,3) in the file, the network needs (96,3,5,5)"])
        // A missing file: exit 2 naming where it looked.
        try FileManager.default.removeItem(at: sub.appendingPathComponent("light_cnn_feature.pth"))
        let missing = try EvalHarness.run(["eval", "--config", "cfg/loss.json"], in: dir)
        assertUsageError(missing, mentions: ["pretrained", "cfg/light_cnn_feature.pth"])
    }

    /// PerceptualLoss with MMagic's default name, found in $TORCH_HOME/hub/checkpoints.
    func testPerceptualLossFromTheTorchCache() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let cache = dir.appendingPathComponent("torch/hub/checkpoints")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        try NpzArchive.write(Self.vgg11(), path: cache.appendingPathComponent("vgg11-8a719046.pth").path, compressed: false)
        try Self.writeImages(dir, seed: 6, shape: [2, 3, 16, 16])
        let config = #"{"losses": {"perceptual_loss": {"type": "PerceptualLoss", "vgg_type": "vgg11", "pretrained": "torchvision://vgg11", "layer_weights": {"0": 1.0, "5": 0.5}, "layer_weights_style": {"conv2_1": 1.0, "8": 0.25}, "norm_img": false, "criterion": "mse"}}, "inputs": {"x": "x.npy", "gt": "gt.npy"}}"#
        try config.write(to: dir.appendingPathComponent("loss.json"), atomically: true, encoding: .utf8)
        let env = ["TORCH_HOME": dir.appendingPathComponent("torch").path]
        let r = try EvalHarness.run(["eval", "--config", "loss.json", "--grad-out", "g.npz", "--format", "json"], in: dir, environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        let terms = try XCTUnwrap(try r.json()["terms"] as? [String: [String: Any]])
        let want = try XCTUnwrap(try fixture("perceptual.json", "vgg11_own_style")["f32"] as? [String: Double])
        for part in ["perceptual", "style"] {
            let got = try XCTUnwrap(terms["perceptual_loss.\(part)"]?["value"] as? Double, part)
            XCTAssertEqual(got, try XCTUnwrap(want[part]), accuracy: 2e-5 * abs(want[part] ?? 0), part)
        }
        let g = try NpzArchive.read(path: dir.appendingPathComponent("g.npz").path).array(named: "total/x").toFloat64()
        let ref = try NpzArchive.read(path: Self.networks.appendingPathComponent("perceptual_grads.npz").path).array(named: "vgg11_own_style/f32").toFloat64()
        XCTAssertLessThanOrEqual(relativeError(g, ref), 1e-4)
        // Without the cache file: where it looked and what to put there.
        let elsewhere = try EvalHarness.run(["eval", "--config", "loss.json"], in: dir, environment: ["TORCH_HOME": dir.appendingPathComponent("none").path])
        assertUsageError(elsewhere, mentions: ["none/hub/checkpoints/vgg11-8a719046.pth does not exist", "download.pytorch.org/models/vgg11-8a719046.pth"])
    }
}
