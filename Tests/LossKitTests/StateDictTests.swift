import Foundation
import XCTest
import LossKit   // not @testable: networks use only the public API

/// `StateDict`: unwrapping checkpoints, scopes, the strict key check's messages, and the lazy
/// conversion that every user of one file shares.
final class StateDictTests: XCTestCase {
    /// Counts the loader's calls (from several threads).
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func bump() { lock.lock(); n += 1; lock.unlock() }
        var value: Int { lock.lock(); defer { lock.unlock() }; return n }
    }

    /// An entry whose values are 0, 1, 2, ... and whose loads `counter` counts.
    func entry(_ shape: [Int], counter: Counter? = nil, dtype: String = "float32") -> StateDict.Entry {
        StateDict.Entry(shape: shape, fileDType: dtype) { d in
            counter?.bump()
            let n = shape.reduce(1, *)
            return try Tensor(shape: shape, values: (0..<n).map(Double.init), dtype: d)
        }
    }

    func dict(_ keys: [String], source: String = "w.pth") throws -> StateDict {
        try StateDict(source: source, entries: keys.map { ($0, entry([2])) })
    }

    let net = ["features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias"]

    // MARK: unwrapped()

    func testPlainFileIsUnchanged() throws {
        let sd = try dict(net).unwrapped()
        XCTAssertEqual(sd.keys, net)
        XCTAssertEqual(sd.prefix, "")
    }

    func testMMEngineStateDictBesideMetaAndOptimizer() throws {
        let file = ["meta.history", "state_dict." + net[0], "message_hub.x"] + net.dropFirst().map { "state_dict." + $0 }
            + ["optimizer.state.0.exp_avg"]
        let sd = try dict(file).unwrapped()
        XCTAssertEqual(sd.keys, net)
        XCTAssertEqual(sd.prefix, "state_dict.")
        XCTAssertEqual(sd.fileKey("features.0.weight"), "state_dict.features.0.weight")
    }

    func testStateDictIsPreferredOverModelAndParams() throws {
        let sd = try dict(["model.a", "params.b", "state_dict.c"]).unwrapped()
        XCTAssertEqual(sd.keys, ["c"])
    }

    func testModelAndParamsOnlyWhenEveryKeyIsUnderThem() throws {
        XCTAssertEqual(try dict(net.map { "model." + $0 }).unwrapped().keys, net)
        XCTAssertEqual(try dict(net.map { "params." + $0 }).unwrapped().keys, net)
        // A network with a submodule named `model` beside others is left as it is.
        let mixed = ["model.0.weight", "head.weight"]
        XCTAssertEqual(try dict(mixed).unwrapped().keys, mixed)
        // BasicSR's params_ema is not params.
        XCTAssertEqual(try dict(["params_ema.a"]).unwrapped().keys, ["params_ema.a"])
    }

    func testDataParallelModulePrefix() throws {
        let sd = try dict(net.map { "module." + $0 }).unwrapped()
        XCTAssertEqual(sd.keys, net)
        XCTAssertEqual(sd.prefix, "module.")
        // Only when every key has it.
        let partly = ["module.a", "b"]
        XCTAssertEqual(try dict(partly).unwrapped().keys, partly)
    }

    func testStateDictAndModuleBoth() throws {
        let sd = try dict(["meta.seed"] + net.map { "state_dict.module." + $0 }).unwrapped()
        XCTAssertEqual(sd.keys, net)
        XCTAssertEqual(sd.prefix, "state_dict.module.")
    }

    func testEmptyFile() throws {
        let sd = try dict([]).unwrapped()
        XCTAssertTrue(sd.isEmpty)
    }

    func testDuplicateKeyIsAnError() {
        XCTAssertThrowsError(try dict(["a.b", "a.b"])) { error in
            XCTAssertEqual("\(error)", "w.pth: two tensors are stored under the key a.b")
        }
    }

    // MARK: scope

    func testScopeChains() throws {
        let sd = try dict(net + ["features.10.weight", "classifier.0.weight"])
        let features = sd.scope("features")
        XCTAssertEqual(features.keys, ["0.weight", "0.bias", "2.weight", "2.bias", "10.weight"])
        let conv = features.scope(0)
        XCTAssertEqual(conv.keys, ["weight", "bias"])
        XCTAssertEqual(conv.prefix, "features.0.")
        // `1` is not a prefix of `10`.
        XCTAssertTrue(features.scope(1).isEmpty)
        XCTAssertEqual(features.scope(10).keys, ["weight"])
        XCTAssertTrue(conv[("weight")] === sd["features.0.weight"], "a scope shares the file's entries")
        XCTAssertEqual(try sd.unwrapped().scope("features").scope(2).tensor("bias", shape: [2], dtype: .float32).toFloat64(), [0, 1])
    }

    // MARK: tensor(_:shape:dtype:)

    func testTensorNamesTheFileKeyWhenMissingOrMisshapen() throws {
        let conv = try dict(["meta.x"] + net.map { "state_dict." + $0 }, source: "vgg19.pth").unwrapped().scope("features").scope(0)
        XCTAssertThrowsError(try conv.tensor("weight", shape: [64, 3, 3, 3], dtype: .float32)) { error in
            XCTAssertEqual(error as? WeightError, .mismatch(source: "vgg19.pth", problems: [
                .shape(key: "state_dict.features.0.weight", inFile: [2], needed: [64, 3, 3, 3])]))
            XCTAssertEqual("\(error)", "vgg19.pth: state_dict.features.0.weight has shape (2,) in the file, the network needs (64,3,3,3)")
        }
        XCTAssertThrowsError(try conv.tensor("running_mean", shape: [2], dtype: .float32)) { error in
            XCTAssertEqual("\(error)", "vgg19.pth: state_dict.features.0.running_mean is not in the file, the network needs it with shape (2,)")
        }
    }

    func testLoaderFailureNamesTheKey() throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "storage 3 is truncated" } }
        let sd = try StateDict(source: "w.pth", entries: [("a", StateDict.Entry(shape: [1], fileDType: "float32") { _ in throw Broken() })])
        XCTAssertThrowsError(try sd.tensor("a", shape: [1], dtype: .float32)) { error in
            XCTAssertEqual("\(error)", "w.pth: a: storage 3 is truncated")
        }
        XCTAssertFalse(try XCTUnwrap(sd["a"]).isConverted(.float32))
    }

    // MARK: checkStrict

    let vggLike = [ExpectedWeight("features.0.weight", shape: [64, 3, 3, 3]), ExpectedWeight("features.0.bias", shape: [64])]

    func vggFile(_ items: [(String, [Int])]) throws -> StateDict {
        try StateDict(source: "vgg19.pth", entries: items.map { ($0.0, entry($0.1)) })
    }

    func strictMessage(_ sd: StateDict, _ expected: [ExpectedWeight], ignoring: [String] = []) -> String? {
        do {
            try sd.checkStrict(expected, ignoringPrefixes: ignoring)
            return nil
        } catch {
            return error.description
        }
    }

    func testStrictAcceptsAnExactFitAndIgnoredPrefixes() throws {
        let sd = try vggFile([("features.0.weight", [64, 3, 3, 3]), ("features.0.bias", [64]), ("classifier.0.weight", [4096, 25088])])
        XCTAssertNil(strictMessage(sd, vggLike, ignoring: ["classifier."]))
    }

    func testStrictWrongShape() throws {
        let sd = try vggFile([("features.0.weight", [64, 3, 3, 3]), ("features.0.bias", [64])])
        let expected = [ExpectedWeight("features.0.weight", shape: [64, 3, 5, 5]), ExpectedWeight("features.0.bias", shape: [64])]
        XCTAssertEqual(strictMessage(sd, expected),
                       "vgg19.pth: features.0.weight has shape (64,3,3,3) in the file, the network needs (64,3,5,5)")
    }

    func testStrictMissingAndUnexpected() throws {
        let sd = try vggFile([("features.0.weight", [64, 3, 3, 3]), ("classifier.0.weight", [10, 4])])
        XCTAssertEqual(strictMessage(sd, vggLike, ignoring: []),
                       "vgg19.pth: 2 problems with the weights: features.0.bias is not in the file, the network needs it with shape (64,); classifier.0.weight (10,4) is in the file but not in the network")
    }

    func testStrictListsMissingThenUnexpectedThenShapesAndCountsTheRest() throws {
        let sd = try vggFile([("x", [1]), ("features.0.weight", [1]), ("y", [2])] + (0..<5).map { ("z\($0)", [3]) })
        XCTAssertThrowsError(try sd.checkStrict(vggLike)) { error in
            guard case let .mismatch(_, problems)? = error as? WeightError else { return XCTFail("\(error)") }
            XCTAssertEqual(problems.first, .missing(key: "features.0.bias", shape: [64]))
            XCTAssertEqual(problems.last, .shape(key: "features.0.weight", inFile: [1], needed: [64, 3, 3, 3]))
            XCTAssertEqual(problems.count, 9)
        }
        XCTAssertEqual(strictMessage(sd, vggLike), "vgg19.pth: 9 problems with the weights: "
            + "features.0.bias is not in the file, the network needs it with shape (64,); "
            + "x (1,) is in the file but not in the network; y (2,) is in the file but not in the network; "
            + "z0 (3,) is in the file but not in the network; z1 (3,) is in the file but not in the network; and 4 more")
    }

    func testStrictNamesFileKeysInsideAScope() throws {
        let sd = try vggFile([("module.features.0.weight", [64, 3, 3, 3])]).unwrapped()
        XCTAssertEqual(strictMessage(sd, vggLike),
                       "vgg19.pth: module.features.0.bias is not in the file, the network needs it with shape (64,)")
    }

    func testStrictOptionalKeyMayBeAbsentButNotMisshapen() throws {
        let bn = [ExpectedWeight("weight", shape: [4]), ExpectedWeight("num_batches_tracked", shape: [], optional: true)]
        XCTAssertNil(strictMessage(try vggFile([("weight", [4])]), bn))
        XCTAssertNil(strictMessage(try vggFile([("weight", [4]), ("num_batches_tracked", [])]), bn))
        XCTAssertEqual(strictMessage(try vggFile([("weight", [4]), ("num_batches_tracked", [2])]), bn),
                       "vgg19.pth: num_batches_tracked has shape (2,) in the file, the network needs ()")
    }

    // MARK: lazy, shared conversion

    func testConversionHappensOncePerDTypeAndIsShared() throws {
        let counter = Counter()
        let e = entry([2, 3], counter: counter)
        let sd = try StateDict(source: "w.pth", entries: [("state_dict.module.conv.weight", e)])
        XCTAssertEqual(counter.value, 0, "nothing is converted before it is asked for")
        let a = try sd.unwrapped().scope("conv").tensor("weight", shape: [2, 3], dtype: .float32)
        let b = try sd.scope("state_dict").tensor("module.conv.weight", shape: [2, 3], dtype: .float32)
        XCTAssertTrue(a === b)
        XCTAssertEqual(counter.value, 1)
        let c = try sd.tensor("state_dict.module.conv.weight", shape: [2, 3], dtype: .float64)
        XCTAssertEqual(counter.value, 2, "float64 is a conversion of its own")
        XCTAssertEqual(c.dtype, .float64)
        XCTAssertEqual(a.toFloat64(), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(c.toFloat64(), [0, 1, 2, 3, 4, 5])
        XCTAssertTrue(e.isConverted(.float32) && e.isConverted(.float64))
    }

    func testConcurrentUsersConvertOnce() throws {
        let counter = Counter()
        let sd = try StateDict(source: "w.pth", entries: [("w", entry([64, 64], counter: counter))])
        let results = Array(repeating: Optional<ObjectIdentifier>.none, count: 16)
        let box = ResultBox(results)
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            let t = try? sd.tensor("w", shape: [64, 64], dtype: .float32)
            box.set(i, t.map(ObjectIdentifier.init))
        }
        XCTAssertEqual(counter.value, 1)
        XCTAssertEqual(Set(box.values.compactMap { $0 }).count, 1, "every thread got the same tensor")
        XCTAssertFalse(box.values.contains(nil))
    }

    final class ResultBox: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [ObjectIdentifier?]
        init(_ items: [ObjectIdentifier?]) { self.items = items }
        func set(_ i: Int, _ v: ObjectIdentifier?) { lock.lock(); items[i] = v; lock.unlock() }
        var values: [ObjectIdentifier?] { lock.lock(); defer { lock.unlock() }; return items }
    }
}
