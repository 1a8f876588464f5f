#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import NpyIO

/// A ZIP built byte by byte, so tests can make the archives an attacker would: sizes that
/// lie, entries that share one payload. Little-endian fields, no data descriptors.
struct RawZip {
    struct Member {
        var name: String
        var method: UInt16
        var data: [UInt8]
        /// The uncompressed size the directory claims (the real one by default).
        var claimedSize: UInt64
        var crc: UInt32 = 0
    }
    var bytes: [UInt8] = []
    var central: [UInt8] = []
    var count = 0

    static func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

    /// Appends a local header and `data` (already compressed for method 8); returns its offset.
    @discardableResult
    mutating func addLocal(_ m: Member, zip64: Bool = false) -> Int {
        let offset = bytes.count
        let name = Array(m.name.utf8)
        bytes += Self.le(0x0403_4b50, 4) + Self.le(45, 2) + Self.le(0, 2) + Self.le(UInt64(m.method), 2) + Self.le(0, 4)
        bytes += Self.le(UInt64(m.crc), 4)
        bytes += Self.le(zip64 ? 0xFFFF_FFFF : UInt64(m.data.count), 4) + Self.le(zip64 ? 0xFFFF_FFFF : m.claimedSize, 4)
        bytes += Self.le(UInt64(name.count), 2) + Self.le(zip64 ? 20 : 0, 2) + name
        if zip64 { bytes += Self.le(1, 2) + Self.le(16, 2) + Self.le(m.claimedSize, 8) + Self.le(UInt64(m.data.count), 8) }
        bytes += m.data
        return offset
    }

    /// A central-directory entry for a member whose local header is at `offset`.
    mutating func addCentral(_ m: Member, offset: Int, zip64: Bool = false) {
        let name = Array(m.name.utf8)
        central += Self.le(0x0201_4b50, 4) + Self.le(45, 2) + Self.le(45, 2) + Self.le(0, 2) + Self.le(UInt64(m.method), 2)
        central += Self.le(0, 4) + Self.le(UInt64(m.crc), 4)
        central += Self.le(zip64 ? 0xFFFF_FFFF : UInt64(m.data.count), 4) + Self.le(zip64 ? 0xFFFF_FFFF : m.claimedSize, 4)
        central += Self.le(UInt64(name.count), 2) + Self.le(zip64 ? 20 : 0, 2) + Self.le(0, 2) + Self.le(0, 2) + Self.le(0, 2) + Self.le(0, 4)
        central += Self.le(UInt64(offset), 4) + name
        if zip64 { central += Self.le(1, 2) + Self.le(16, 2) + Self.le(m.claimedSize, 8) + Self.le(UInt64(m.data.count), 8) }
        count += 1
    }

    /// Local + central entry, the usual case.
    mutating func add(_ m: Member, zip64: Bool = false) {
        let offset = addLocal(m, zip64: zip64)
        addCentral(m, offset: offset, zip64: zip64)
    }

    /// The archive: members, directory, end record.
    func finished() -> [UInt8] {
        let cdOffset = bytes.count
        return bytes + central + Self.le(0x0605_4b50, 4) + Self.le(0, 4) + Self.le(UInt64(count), 2) + Self.le(UInt64(count), 2)
            + Self.le(UInt64(central.count), 4) + Self.le(UInt64(cdOffset), 4) + Self.le(0, 2)
    }
}

/// Raw deflate of `bytes` with zlib (through NpyIO's writer path).
func rawDeflate(_ bytes: [UInt8]) throws -> [UInt8] {
    var out: [UInt8] = []
    try bytes.withUnsafeBytes { b in try Zlib.deflate([b]) { out += Array($0) } }
    return out
}

/// A small valid .npy (float32, shape (n,)).
func npyBytes(_ values: [Float]) throws -> [UInt8] {
    try Npy.encode(NpyArray(float32: values, shape: [values.count]))
}

final class HostileArchiveTests: XCTestCase {
    /// A member whose directory claims 40 GB (ZIP64) from a compressed size big enough to
    /// pass the deflate-ratio check, but whose stream holds a few hundred bytes. With a budget
    /// that allows the claim, nothing of its size may be allocated: the inflater grows with
    /// what the stream produces and reports the short stream. (NpyIO allocated the claim up
    /// front and the allocation failed: "failed to allocate", SIGABRT.)
    func testFalseSizeClaimAllocatesOnlyWhatTheStreamProduces() throws {
        let dir = try temporaryFolder()
        let claim: UInt64 = 40_000_000_000
        let stream = try rawDeflate(try npyBytes([1, 2, 3]))
        // Compressed size claim/1032 (deflate's bound), padded with zeros after the real stream.
        let compressed = stream + [UInt8](repeating: 0, count: Int(claim / 1032) + 1 - stream.count)
        var zip = RawZip()
        zip.add(.init(name: "x.npy", method: 8, data: compressed, claimedSize: claim), zip64: true)
        let path = dir.appendingPathComponent("claim.npz").path
        try Data(zip.finished()).write(to: URL(fileURLWithPath: path))

        let generous = NpyReadOptions(memoryBudget: MemoryBudget(physical: 1 << 46))
        let archive = try NpzArchive.read(path: path, options: generous)
        XCTAssertThrowsError(try archive.array(named: "x")) { error in
            let e = error as? NpyError
            XCTAssertEqual(e?.member, "x.npy", "\(error)")
            switch e?.kind {
            case .inflateFailed?, .sizeMismatch?: break
            default: XCTFail("expected a short-stream error, got \(error)")
            }
        }
        // With this process's real budget (no machine here has 40 GB to spare) the claim is
        // refused when the archive is opened, before anything is inflated.
        XCTAssertThrowsError(try NpzArchive.read(path: path)) { error in
            guard case .exceedsMemory(_, let bytes, _)? = (error as? NpyError)?.kind else { return XCTFail("\(error)") }
            XCTAssertEqual(bytes, claim)
            XCTAssertTrue("\(error)".contains("40.0 GB"), "\(error)")
        }
    }

    /// The inflater's growing buffer gives the same bytes as the stream held: a member that
    /// compresses 1000:1 starts far below its size and doubles many times.
    func testHighlyCompressedMemberReadsBackExactly() throws {
        var values = [Float](repeating: 0, count: 2 << 20)
        for i in stride(from: 0, to: values.count, by: 4099) { values[i] = Float(i) }
        let dir = try temporaryFolder()
        let path = dir.appendingPathComponent("z.npz").path
        try NpzArchive.write([("z", NpyArray(float32: values, shape: [values.count]))], path: path, compressed: true)
        XCTAssertLessThan(try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int, 200_000)
        let back = try NpzArchive.read(path: path).array(named: "z")
        XCTAssertEqual(back.toFloat32(), values)
    }

    /// Hundreds of directory entries pointing at one local member (each passing the ratio
    /// check) made `inspect` inflate it hundreds of times; such an archive is refused at once.
    func testOverlappingEntriesAreRefused() throws {
        let payload = try rawDeflate(try npyBytes([Float](repeating: 0, count: 100_000)))
        var zip = RawZip()
        let member = RawZip.Member(name: "k0.npy", method: 8, data: payload, claimedSize: UInt64(try npyBytes([Float](repeating: 0, count: 100_000)).count))
        let offset = zip.addLocal(member)
        for i in 0..<300 {
            var m = member
            m.name = "k\(i).npy"
            zip.addCentral(m, offset: offset)
        }
        XCTAssertThrowsError(try NpzArchive.read(bytes: zip.finished())) { error in
            guard case .overlappingMembers(let a, let b)? = (error as? NpyError)?.kind else { return XCTFail("\(error)") }
            XCTAssertTrue(a.hasPrefix("k") && b.hasPrefix("k") && a != b, "\(a) \(b)")
        }
        // A member whose local header lies inside another member's data (a zip inside the
        // stored data of a zip) is refused the same way.
        var inner = RawZip()
        let innerData = try npyBytes([1, 2, 3, 4])
        let b = RawZip.Member(name: "b.npy", method: 0, data: innerData, claimedSize: UInt64(innerData.count))
        inner.addLocal(b)
        var outer = RawZip()
        let a = RawZip.Member(name: "a.npy", method: 0, data: inner.bytes, claimedSize: UInt64(inner.bytes.count))
        outer.add(a)
        outer.addCentral(b, offset: 30 + 5)
        XCTAssertThrowsError(try NpzArchive.read(bytes: outer.finished())) { error in
            XCTAssertEqual((error as? NpyError)?.kind, .overlappingMembers(first: "a.npy", second: "b.npy"), "\(error)")
        }
        // Each alone is a well-formed archive.
        var alone = RawZip()
        alone.add(b)
        XCTAssertEqual(try NpzArchive.read(bytes: alone.finished()).names, ["b"])
    }

    /// The deflated members' claims are bounded in total by the budget (each may fit alone).
    func testTotalInflatedSizeIsBoundedByTheBudget() throws {
        let arrays = (0..<4).map { ("m\($0)", NpyArray(float32: [Float](repeating: Float($0), count: 1000), shape: [1000])) }
        let dir = try temporaryFolder()
        let path = dir.appendingPathComponent("four.npz").path
        try NpzArchive.write(arrays, path: path, compressed: true)
        // Each member is 4,128 bytes uncompressed; all four 16,512.
        XCTAssertNoThrow(try NpzArchive.read(path: path, options: NpyReadOptions(memoryBudget: MemoryBudget(physical: 16_512))))
        XCTAssertThrowsError(try NpzArchive.read(path: path, options: NpyReadOptions(memoryBudget: MemoryBudget(physical: 16_511)))) { error in
            guard case .exceedsMemory(let what, let bytes, _)? = (error as? NpyError)?.kind else { return XCTFail("\(error)") }
            XCTAssertEqual(bytes, 16_512)
            XCTAssertTrue(what.contains("4 compressed members"), what)
        }
        // The address-space limit counts: what the process already maps is not available.
        let tight = MemoryBudget(physical: 1 << 40, addressSpaceLimit: 100_000, addressSpaceUsed: 90_000)
        XCTAssertEqual(tight.available, 10_000)
        XCTAssertTrue(tight.description.contains("address-space limit (ulimit -v)"), tight.description)
        XCTAssertThrowsError(try NpzArchive.read(path: path, options: NpyReadOptions(memoryBudget: tight)))
        let cgroup = MemoryBudget(physical: 1 << 40, cgroupLimit: 50_000, cgroupUsed: 45_000)
        XCTAssertEqual(cgroup.available, 5_000)
        XCTAssertTrue(cgroup.description.contains("cgroup memory limit"), cgroup.description)
    }

    /// This process's own budget is real: not above physical memory, and under an address-space
    /// limit not above what the limit leaves.
    func testCurrentBudgetReadsTheLimits() throws {
        let b = MemoryBudget.current()
        XCTAssertEqual(b.physical, ProcessInfo.processInfo.physicalMemory)
        XCTAssertLessThanOrEqual(b.available, b.physical)
        var limit = rlimit()
        XCTAssertEqual(getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit), 0)
        if limit.rlim_cur == rlim_t.max { XCTAssertNil(b.addressSpaceLimit) } else { XCTAssertEqual(b.addressSpaceLimit, UInt64(limit.rlim_cur)) }
    }

    /// Devices, pipes and /proc files are refused by kind (after following links), without
    /// reading or blocking: /dev/zero was read without end and a FIFO with no writer hung.
    func testSpecialFilesAreRefusedByKind() throws {
        let dir = try temporaryFolder()
        let fifo = dir.appendingPathComponent("fifo.npy").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let link = dir.appendingPathComponent("zero.npy").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/zero")
        let cases: [(String, String)] = [
            ("/dev/zero", "a character device"), (link, "a character device"), (fifo, "a named pipe (FIFO)"),
            ("/proc/self/status", "/proc file system"), (dir.path, "a directory"),
        ]
        for (path, kind) in cases {
            XCTAssertThrowsError(try Npy.load(path: path), path) { error in
                guard case .notRegularFile(let k)? = (error as? NpyError)?.kind else { return XCTFail("\(path): \(error)") }
                XCTAssertTrue(k.contains(kind), "\(path): \(k)")
                XCTAssertEqual((error as? NpyError)?.file, path)
            }
        }
        // A link to a regular file is read as its target.
        let target = dir.appendingPathComponent("a.npy").path
        try Npy.write(NpyArray(float32: [1, 2], shape: [2]), path: target)
        let good = dir.appendingPathComponent("good.npy").path
        try FileManager.default.createSymbolicLink(atPath: good, withDestinationPath: target)
        XCTAssertEqual(try Npy.read(path: good).toFloat32(), [1, 2])
        XCTAssertNoThrow(try RegularFile.check(good))
    }

    /// Pending files are registered with the fault handler until committed or discarded, and
    /// leave nothing behind when discarded.
    func testPendingFilesAreTrackedUntilSettled() throws {
        let dir = try temporaryFolder()
        let before = ProcessFaults.pendingTemporaries
        let a = try NpzArchive.writePending([("x", NpyArray(float32: [1], shape: [1]))], path: dir.appendingPathComponent("a.npz").path, compressed: false)
        let b = try NpzArchive.writePending([("y", NpyArray(float32: [2], shape: [1]))], path: dir.appendingPathComponent("b.npz").path, compressed: false)
        XCTAssertEqual(ProcessFaults.pendingTemporaries, before + 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }.count, 2)
        try a.commit()
        b.discard()
        XCTAssertEqual(ProcessFaults.pendingTemporaries, before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["a.npz"])
        XCTAssertEqual(try NpzArchive.read(path: dir.appendingPathComponent("a.npz").path).array(named: "x").toFloat32(), [1])
        XCTAssertThrowsError(try PendingFile.probe("/proc/self/x.npz")) { error in
            guard case .cannotCreate? = (error as? NpyError)?.kind else { return XCTFail("\(error)") }
            XCTAssertEqual((error as? NpyError)?.file, "/proc/self/x.npz")
        }
    }

    func temporaryFolder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npyio-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}
