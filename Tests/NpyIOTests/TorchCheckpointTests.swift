import Foundation
import XCTest
@testable import NpyIO

/// The PyTorch readers (TorchCheckpoint, TorchLegacy) against files torch wrote (fixtures/torch,
/// scripts/gen_torch_fixtures.py): torch.save's zip format, its legacy raw stream (both tensor
/// reducers, protocols 2 and 4), a big-endian zip, a TorchScript archive; every dtype, views of
/// one storage (transpose, slice at an offset, a column, an expand), mmengine-style wrapped
/// checkpoints with non-tensor objects, and pickles that ask for os.system or eval — refused
/// by name, and never run.
final class TorchCheckpointTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/torch")

    struct Expected: Decodable {
        struct Tensor: Decodable { let dtype: String; let shape: [Int]; let values: [Double] }
        let files: [String: [String: Tensor]]
    }

    func testTensorsEqualTorchs() throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.folder.appendingPathComponent("expected.json")))
        XCTAssertEqual(expected.files.count, 12)
        for (file, tensors) in expected.files {
            let ckpt = try WeightFile.read(path: Self.folder.appendingPathComponent(file).path)
            XCTAssertEqual(Set(ckpt.tensors.map(\.key)), Set(tensors.keys), file)
            let format: WeightFormat = file.hasSuffix(".npz") ? .npz : file.hasSuffix(".pt") ? .torchScript : file.contains("legacy") || file.hasPrefix("evil") ? .torchLegacy : .torchZip
            XCTAssertEqual(ckpt.format, format, file)
            for (key, array) in ckpt.tensors {
                guard let want = tensors[key] else { continue }
                XCTAssertEqual(array.dtype.descr, want.dtype, "\(file) \(key)")
                XCTAssertEqual(array.shape, want.shape, "\(file) \(key)")
                XCTAssertEqual(array.toFloat64(), want.values, "\(file) \(key)")
            }
        }
    }

    /// A C-order view is read in place: the slice's bytes are the storage's, at its offset.
    func testContiguousViewsShareTheFile() throws {
        for file in ["views.pth", "views_legacy.pth"] {
            let ckpt = try WeightFile.read(path: Self.folder.appendingPathComponent(file).path)
            let byKey = Dictionary(uniqueKeysWithValues: ckpt.tensors.map { ($0.key, $0.array) })
            let base = try XCTUnwrap(byKey["base"]), slice = try XCTUnwrap(byKey["row_slice"]), t = try XCTUnwrap(byKey["transposed"])
            XCTAssertTrue(slice.buffer === base.buffer, file)
            XCTAssertEqual(slice.dataOffset, base.dataOffset + 4 * 4, file)
            XCTAssertFalse(t.buffer === base.buffer, "a transpose is gathered into C order")
        }
    }

    /// The legacy stream's storages are used where they lie in the file (no copy).
    func testLegacyStoragesAreReadInPlace() throws {
        let bytes = try [UInt8](Data(contentsOf: Self.folder.appendingPathComponent("state_dict_legacy.pth")))
        let w = try WeightFile.read(bytes: bytes)
        let weight = try XCTUnwrap(w.tensors.first { $0.key == "features.0.weight" }?.array)
        XCTAssertEqual(weight.buffer.count, bytes.count, "the array views the whole file's buffer")
        let first = try XCTUnwrap(weight.withUnsafeDataBytes { Array($0.prefix(4)) })
        XCTAssertNotNil(bytes.firstRange(of: first))
    }

    /// A call beside tensors is inert data: the tensors load, nothing runs.
    func testACallBesideTensorsIsInert() throws {
        let marker = FileManager.default.currentDirectoryPath + "/LOSSCLI_PICKLE_RAN"
        try? FileManager.default.removeItem(atPath: marker)
        let w = try WeightFile.read(path: Self.folder.appendingPathComponent("evil_beside.pth").path)
        XCTAssertEqual(w.tensors.map(\.key), ["state_dict.module.conv.weight", "state_dict.module.conv.bias"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }

    /// Hostile and broken legacy streams, each refused with its own message.
    func testLegacyStreamChecks() throws {
        let cases: [(String, String)] = [
            ("evil_legacy.pth", "only a call to posix.system"),
            ("evil_eval.pth", "only a call to builtins.eval"),
            ("legacy_truncated.pth", "file is truncated: reading storage"),
            ("legacy_trailing.pth", "3 bytes after the last storage"),
            ("legacy_bad_count.pth", "elements, its tensors' persistent id says"),
        ]
        for (file, message) in cases {
            XCTAssertThrowsError(try WeightFile.read(path: Self.folder.appendingPathComponent(file).path), file) { error in
                XCTAssertTrue("\(error)".contains(message), "\(file): \(error)")
            }
        }
        // Not a legacy stream past its magic number: the second pickle is not 1001.
        var bytes = try [UInt8](Data(contentsOf: Self.folder.appendingPathComponent("state_dict_legacy.pth")))
        let at = try XCTUnwrap(bytes.firstRange(of: [0x4d, 0xe9, 0x03] as [UInt8])).lowerBound
        bytes[at + 1] = 0xea
        XCTAssertThrowsError(try WeightFile.read(bytes: bytes)) { error in
            XCTAssertTrue("\(error)".contains("is not protocol version 1001"), "\(error)")
        }
    }

    /// torch's old tar format is named, not misread.
    func testTarIsRefusedByName() throws {
        var bytes = [UInt8](repeating: 0, count: 1024)
        bytes.replaceSubrange(257..<262, with: Array("ustar".utf8))
        XCTAssertThrowsError(try WeightFile.read(bytes: bytes)) { error in
            XCTAssertTrue("\(error)".contains("the tar format of torch ≤ 0.1 is not supported"), "\(error)")
        }
    }

    /// os.system in the pickle: an error naming it, and the command never ran.
    func testACallIsRefusedByNameAndNeverRun() throws {
        let marker = FileManager.default.currentDirectoryPath + "/LOSSCLI_PICKLE_RAN"
        try? FileManager.default.removeItem(atPath: marker)
        XCTAssertThrowsError(try WeightFile.read(path: Self.folder.appendingPathComponent("evil.pth").path)) { error in
            XCTAssertTrue("\(error)".contains("only a call to posix.system") || "\(error)".contains("only a call to os.system"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }

    /// Storage records that lie about their size, views beyond their storage: refused.
    func testStorageAndViewChecks() throws {
        XCTAssertThrowsError(try WeightFile.read(path: Self.folder.appendingPathComponent("bad_numel.pth").path)) { error in
            XCTAssertTrue("\(error)".contains("claims 55 elements of 4 bytes, its record has 216 bytes"), "\(error)")
            XCTAssertTrue("\(error)".contains("member 'state_dict/data.pkl'"), "\(error)")
        }
        XCTAssertThrowsError(try WeightFile.read(path: Self.folder.appendingPathComponent("view_too_big.pth").path)) { error in
            XCTAssertTrue("\(error)".contains("reads element 80 of a storage of 54"), "\(error)")
        }
    }
}
