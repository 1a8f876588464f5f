import Foundation
import XCTest
@testable import NpyIO

/// TorchCheckpoint against files torch.save wrote (fixtures/torch, scripts/gen_torch_fixtures.py):
/// every dtype, views of one storage (transpose, slice at an offset, a column, an expand),
/// an mmengine-style wrapped checkpoint with non-tensor objects, and a pickle that asks for
/// os.system — refused by name, and never run.
final class TorchCheckpointTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/torch")

    struct Expected: Decodable {
        struct Tensor: Decodable { let dtype: String; let shape: [Int]; let values: [Double] }
        let files: [String: [String: Tensor]]
    }

    func testTensorsEqualTorchs() throws {
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Self.folder.appendingPathComponent("expected.json")))
        XCTAssertEqual(expected.files.count, 3)
        for (file, tensors) in expected.files {
            let ckpt = try WeightFile.read(path: Self.folder.appendingPathComponent(file).path)
            XCTAssertEqual(Set(ckpt.tensors.map(\.key)), Set(tensors.keys), file)
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
        let ckpt = try WeightFile.read(path: Self.folder.appendingPathComponent("views.pth").path)
        let byKey = Dictionary(uniqueKeysWithValues: ckpt.tensors.map { ($0.key, $0.array) })
        let base = try XCTUnwrap(byKey["base"]), slice = try XCTUnwrap(byKey["row_slice"]), t = try XCTUnwrap(byKey["transposed"])
        XCTAssertTrue(slice.buffer === base.buffer)
        XCTAssertEqual(slice.dataOffset, base.dataOffset + 4 * 4)
        XCTAssertFalse(t.buffer === base.buffer, "a transpose is gathered into C order")
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
        }
        XCTAssertThrowsError(try WeightFile.read(path: Self.folder.appendingPathComponent("view_too_big.pth").path)) { error in
            XCTAssertTrue("\(error)".contains("reads element 80 of a storage of 54"), "\(error)")
        }
    }
}
