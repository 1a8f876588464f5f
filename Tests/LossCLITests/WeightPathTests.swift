import Foundation
import XCTest
import LossKit
@testable import LossCLI

/// Where a loss's weight parameter points (`WeightSource`): paths relative to the config's
/// folder as the config's inputs are, MMagic's defaults in PyTorch's caches by torch.hub's
/// rules (expected paths checked against torch.hub.get_dir and os.path.expanduser with the
/// same environments), the missing-file message, the per-process cache, and the exit-2 line.
final class WeightPathTests: XCTestCase {
    func path(_ source: WeightSource, _ env: [String: String], config: String? = nil) -> String {
        source.location(parameter: "pretrained", configDirectory: config, environment: env).path
    }

    func testTorchHomeXDGAndHomeFallback() {
        let vgg = WeightSource.torchvision("vgg19")
        XCTAssertEqual(path(vgg, ["TORCH_HOME": "/t", "XDG_CACHE_HOME": "/x", "HOME": "/h"]), "/t/hub/checkpoints/vgg19-dcbb9e9d.pth")
        XCTAssertEqual(path(vgg, ["XDG_CACHE_HOME": "/x", "HOME": "/h"]), "/x/torch/hub/checkpoints/vgg19-dcbb9e9d.pth")
        XCTAssertEqual(path(vgg, ["HOME": "/h"]), "/h/.cache/torch/hub/checkpoints/vgg19-dcbb9e9d.pth")
        // `~` is expanded wherever it comes from; HOME's trailing slashes are dropped.
        XCTAssertEqual(path(vgg, ["TORCH_HOME": "~/th", "HOME": "/h/"]), "/h/th/hub/checkpoints/vgg19-dcbb9e9d.pth")
        XCTAssertEqual(path(vgg, ["XDG_CACHE_HOME": "~", "HOME": "/h"]), "/h/torch/hub/checkpoints/vgg19-dcbb9e9d.pth")
        XCTAssertEqual(path(vgg, ["HOME": "/"]), "/.cache/torch/hub/checkpoints/vgg19-dcbb9e9d.pth")
        // Set but empty counts as set, as with Python's os.getenv.
        XCTAssertEqual(path(vgg, ["TORCH_HOME": "", "HOME": "/h"]), "hub/checkpoints/vgg19-dcbb9e9d.pth")
        XCTAssertEqual(path(vgg, ["XDG_CACHE_HOME": "", "HOME": "/h"]), "torch/hub/checkpoints/vgg19-dcbb9e9d.pth")
        XCTAssertEqual(path(vgg, ["TORCH_HOME": "~nosuchuser-losscli/x", "HOME": "/h"]), "~nosuchuser-losscli/x/hub/checkpoints/vgg19-dcbb9e9d.pth")
        // The config's folder plays no part in a default.
        XCTAssertEqual(path(vgg, ["HOME": "/h"], config: "/cfg"), "/h/.cache/torch/hub/checkpoints/vgg19-dcbb9e9d.pth")
    }

    func testEveryTorchvisionVGGName() throws {
        let files = ["vgg11-8a719046.pth", "vgg13-19584684.pth", "vgg16-397923af.pth", "vgg19-dcbb9e9d.pth",
                     "vgg11_bn-6002323d.pth", "vgg13_bn-abd245e5.pth", "vgg16_bn-6c64b313.pth", "vgg19_bn-c79401a0.pth"]
        for (type, file) in zip(["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"], files) {
            let source = try WeightSource.parse("torchvision://\(type)", parameter: "pretrained")
            XCTAssertEqual(source, .torchvision(type))
            XCTAssertEqual(path(source, ["TORCH_HOME": "/t"]), "/t/hub/checkpoints/\(file)")
        }
    }

    func testArcFaceAndCLIPDefaults() throws {
        let env = ["TORCH_HOME": "/t", "XDG_CACHE_HOME": "/x", "HOME": "/h"]
        XCTAssertEqual(path(WeightSource.arcFace, env), "/t/hub/checkpoints/Arcface-IR-SE50")
        XCTAssertEqual(try WeightSource.parse(WeightSource.arcFaceURL, parameter: "facenet.ir_se50_weights"), .arcFace)
        XCTAssertEqual(path(try WeightSource.parse("https://example.org/w/net.pth?raw=1", parameter: "p"), env), "/t/hub/checkpoints/net.pth")
        // clip.load uses ~/.cache/clip whatever TORCH_HOME and XDG_CACHE_HOME say.
        let clip = try WeightSource.clip(type: "ViT-B/32", parameter: "clip_model.clip_type")
        XCTAssertEqual(path(clip, env), "/h/.cache/clip/ViT-B-32.pt")
        XCTAssertEqual(path(try WeightSource.clip(type: "ViT-L/14@336px", parameter: "c"), env), "/h/.cache/clip/ViT-L-14-336px.pt")
        XCTAssertEqual(path(try WeightSource.clip(type: "RN50x4", parameter: "c"), env), "/h/.cache/clip/RN50x4.pt")
        XCTAssertThrowsError(try WeightSource.clip(type: "ViT-H/14", parameter: "clip_model.clip_type")) { error in
            XCTAssertEqual("\(error)", "clip_model.clip_type: \"ViT-H/14\" is not a CLIP model; expected one of RN50, RN101, RN50x4, RN50x16, RN50x64, ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14@336px")
        }
    }

    func testPathsAreRelativeToTheConfigFolderLikeInputs() throws {
        let source = try WeightSource.parse("weights/vgg.pth", parameter: "pretrained")
        XCTAssertEqual(source, .path("weights/vgg.pth"))
        XCTAssertEqual(path(source, [:], config: "/cfg/dir"), "/cfg/dir/weights/vgg.pth")
        XCTAssertEqual(path(source, [:], config: nil), "weights/vgg.pth", "JSON text on the command line: the current folder")
        XCTAssertEqual(path(source, [:], config: "/cfg/dir"),
                       try ArrayLocation.parse("weights/vgg.pth", baseDirectory: "/cfg/dir", context: "x").path,
                       "one rule for inputs and weights")
        // Absolute paths pass through; `~` is not expanded in a config's paths (as in inputs).
        XCTAssertEqual(path(try WeightSource.parse("/abs/vgg.pth", parameter: "p"), ["HOME": "/h"], config: "/cfg"), "/abs/vgg.pth")
        XCTAssertEqual(path(try WeightSource.parse("~/vgg.pth", parameter: "p"), ["HOME": "/h"], config: "/cfg"), "/cfg/~/vgg.pth")
    }

    func testConfigFileGivesItsFolder() throws {
        let dir = try scratch()
        let config = dir.appendingPathComponent("loss.json")
        try Data(#"{"type": "L1Loss", "inputs": {"pred": "p.npy"}}"#.utf8).write(to: config)
        let loaded = try LoadedConfig.load(config.path)
        XCTAssertEqual(loaded.directory, dir.path)
        XCTAssertEqual(loaded.inputs.first?.location.path, dir.appendingPathComponent("p.npy").path)
        XCTAssertNil(try LoadedConfig.load(#"{"type": "L1Loss"}"#).directory)
    }

    func testRefusedValues() {
        func message(_ value: String) -> String? {
            do { _ = try WeightSource.parse(value, parameter: "pretrained"); return nil } catch { return "\(error)" }
        }
        XCTAssertEqual(message("torchvision://resnet50"), "pretrained: \"torchvision://resnet50\": losscli knows torchvision's VGG weights only (torchvision://vgg11, torchvision://vgg13, torchvision://vgg16, torchvision://vgg19, torchvision://vgg11_bn, torchvision://vgg13_bn, torchvision://vgg16_bn, torchvision://vgg19_bn); give the path of the file otherwise")
        XCTAssertEqual(message("open-mmlab://vgg16_caffe"), "pretrained: \"open-mmlab://vgg16_caffe\": losscli reads local files only: download it and give its path")
        XCTAssertEqual(message(""), "pretrained: expected a path to a weight file, found an empty string")
        XCTAssertEqual(message("https://example.org/"), "pretrained: \"https://example.org/\": the URL names no file; give the path of the weight file")
        XCTAssertNil(message("dir/a://b.pth"), "a path with :// inside a folder name is a path")
    }

    // MARK: files

    func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("losscli-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    static let fixture = EvalHarness.root.appendingPathComponent("fixtures/weights/legacy_state_dict.pth")

    func testMissingDefaultSaysWhereAndWhatToPut() throws {
        let home = try scratch().path
        XCTAssertThrowsError(try WeightSource.torchvision("vgg19").file(parameter: "pretrained", configDirectory: nil, environment: ["TORCH_HOME": home])) { error in
            XCTAssertEqual("\(error)", "pretrained: \(home)/hub/checkpoints/vgg19-dcbb9e9d.pth does not exist: download torchvision's VGG19 weights there (https://download.pytorch.org/models/vgg19-dcbb9e9d.pth) or give `pretrained` a path")
        }
        XCTAssertThrowsError(try WeightSource.arcFace.file(parameter: "facenet.ir_se50_weights", configDirectory: nil, environment: ["TORCH_HOME": home])) { error in
            XCTAssertEqual("\(error)", "facenet.ir_se50_weights: \(home)/hub/checkpoints/Arcface-IR-SE50 does not exist: download MMagic's ArcFace IR-SE-50 weights (\(WeightSource.arcFaceURL)) there or give `facenet.ir_se50_weights` a path")
        }
        XCTAssertThrowsError(try WeightSource.clip("ViT-B/32").file(parameter: "clip_model.pretrained", configDirectory: nil, environment: ["HOME": home])) { error in
            XCTAssertEqual("\(error)", "clip_model.pretrained: \(home)/.cache/clip/ViT-B-32.pt does not exist: download OpenAI's CLIP ViT-B/32 weights there (https://openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt) or give `clip_model.pretrained` a path")
        }
    }

    func testMissingUserPathAndDirectory() throws {
        let dir = try scratch()
        XCTAssertThrowsError(try WeightSource.path("nope.pth").file(parameter: "pretrained", configDirectory: dir.path, environment: [:])) { error in
            XCTAssertEqual("\(error)", "pretrained: weight file \(dir.path)/nope.pth: no such file")
        }
        // A default that exists as a folder is not "does not exist".
        let checkpoints = dir.appendingPathComponent("hub/checkpoints/vgg19-dcbb9e9d.pth")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        XCTAssertThrowsError(try WeightSource.torchvision("vgg19").file(parameter: "pretrained", configDirectory: nil, environment: ["TORCH_HOME": dir.path])) { error in
            XCTAssertTrue("\(error)".hasPrefix("pretrained: weight file "), "\(error)")
            XCTAssertFalse("\(error)".contains("does not exist"), "\(error)")
        }
    }

    func testLoadReadsEachFileOnceThroughAnyName() throws {
        let dir = try scratch()
        let checkpoints = dir.appendingPathComponent("hub/checkpoints")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        let cached = checkpoints.appendingPathComponent("vgg19-dcbb9e9d.pth")
        try FileManager.default.copyItem(at: Self.fixture, to: cached)
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("link.pth"), withDestinationURL: cached)
        let cache = WeightCache()
        let env = ["TORCH_HOME": dir.path]
        let a = try WeightSource.load(value: "torchvision://vgg19", parameter: "pretrained", configDirectory: nil, environment: env, cache: cache)
        let b = try WeightSource.load(value: "link.pth", parameter: "pretrained", configDirectory: dir.path, environment: env, cache: cache)
        let c = try WeightSource.load(value: cached.path, parameter: "pretrained", configDirectory: "/elsewhere", environment: [:], cache: cache)
        XCTAssertEqual(cache.reads, 1)
        XCTAssertEqual(a.source, cached.path)
        let key = "state_dict.features.0.weight"
        XCTAssertTrue(a[key] === b[key] && b[key] === c[key], "one StateDict, so one conversion per tensor")
        let t = try a.unwrapped().scope("features").scope(0).tensor("weight", shape: [4, 3, 3, 3], dtype: .float32)
        XCTAssertTrue(try c.tensor(key, shape: [4, 3, 3, 3], dtype: .float32) === t)
        // Another file is read on its own.
        _ = try WeightSource.load(value: EvalHarness.root.appendingPathComponent("fixtures/weights/zip_none.pth").path,
                                  parameter: "pretrained", configDirectory: nil, environment: [:], cache: cache)
        XCTAssertEqual(cache.reads, 2)
    }

    func testUnreadableFileIsAnErrorNamingIt() throws {
        let dir = try scratch()
        let bad = dir.appendingPathComponent("bad.pth")
        try Data("not a weight file".utf8).write(to: bad)
        XCTAssertThrowsError(try WeightSource.path(bad.path).load(parameter: "pretrained", configDirectory: nil, environment: [:], cache: WeightCache())) { error in
            XCTAssertTrue("\(error)".contains(bad.path), "\(error)")
            XCTAssertNotNil(LossCLI.errorLine(for: error))
        }
    }

    // MARK: exit 2

    /// WeightError (from StateDict) and the resolution's CLIError end as exit 2 with their text
    /// as the `losscli: error:` line (`LossCLI.execute` prints `errorLine` and returns 2).
    func testWeightErrorsAreOneErrorLine() throws {
        let error = WeightError.mismatch(source: "vgg19.pth", problems: [.shape(key: "features.0.weight", inFile: [64, 3, 3, 3], needed: [64, 3, 5, 5])])
        XCTAssertEqual(LossCLI.errorLine(for: error), "vgg19.pth: features.0.weight has shape (64,3,3,3) in the file, the network needs (64,3,5,5)")
        let several = WeightError.mismatch(source: "w.pth", problems: (0..<8).map { .missing(key: "k\($0)", shape: [$0]) })
        XCTAssertEqual(LossCLI.errorLine(for: several), several.description)
        XCTAssertEqual(LossCLI.errorLine(for: LossError.tensor(several.description)), several.description, "as LossProgram wraps it")
        XCTAssertEqual(LossCLI.errorLine(for: CLIError("pretrained: /x does not exist: download it")), "pretrained: /x does not exist: download it")
    }
}
