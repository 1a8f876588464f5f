#if canImport(Glibc)
import Glibc
#endif
import Foundation
@testable import NpyIO
import XCTest
@testable import LossCLI

/// What a run of the built binary did, including how it ended.
struct LiveResult {
    var status: Int32
    var reason: Process.TerminationReason
    var stdout: String
    var stderr: String
}

/// Runs the built losscli with `LOSSCLI_TEST_BARRIER` set and `point` armed: when the process
/// reaches `point` (it creates POINT.ready and waits for POINT.go), `action` runs with it stopped there,
/// then it is let go. Deterministic: nothing depends on timing but the 60 s safety limit.
func runAtBarrier(_ arguments: [String], in directory: URL, point: String,
                  action: (Process) throws -> Void) throws -> LiveResult {
    guard FileManager.default.isExecutableFile(atPath: EvalHarness.binary.path) else {
        throw HarnessError.notBuilt(EvalHarness.binary.path)
    }
    let barrier = directory.deletingLastPathComponent().appendingPathComponent("barrier-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: barrier, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: barrier) }
    FileManager.default.createFile(atPath: barrier.appendingPathComponent("\(point).armed").path, contents: nil)
    let out = barrier.appendingPathComponent("stdout"), err = barrier.appendingPathComponent("stderr")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: err.path, contents: nil)
    let process = Process()
    process.executableURL = EvalHarness.binary
    process.arguments = arguments
    process.currentDirectoryURL = directory
    var environment = ProcessInfo.processInfo.environment
    environment["LOSSCLI_TEST_BARRIER"] = barrier.path
    process.environment = environment
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let ready = barrier.appendingPathComponent("\(point).ready").path
    var waited = 0
    while !FileManager.default.fileExists(atPath: ready) && process.isRunning && waited < 60_000 {
        usleep(2000)
        waited += 2
    }
    XCTAssertTrue(FileManager.default.fileExists(atPath: ready),
                  "losscli never reached \(point): \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
    if FileManager.default.fileExists(atPath: ready) { try action(process) }
    FileManager.default.createFile(atPath: barrier.appendingPathComponent("\(point).go").path, contents: nil)
    process.waitUntilExit()
    return LiveResult(status: process.terminationStatus, reason: process.terminationReason,
                      stdout: try String(contentsOf: out, encoding: .utf8), stderr: try String(contentsOf: err, encoding: .utf8))
}

/// Runs the binary under `/bin/sh -c 'ulimit -v KIB; exec ...'`.
func runUnderAddressLimit(kib: Int, _ arguments: [String], in directory: URL) throws -> EvalHarness.Result {
    try EvalHarness.runProgram("/bin/sh", ["-c", "ulimit -v \(kib) && exec \"$0\" \"$@\"", EvalHarness.binary.path] + arguments, in: directory)
}

/// Issue 10: every hostile file and fault ends with exit 2 and one error line (or succeeds
/// where the input is legitimate), never a signal or a hang, and leaves no file behind.
final class HostileRunTests: XCTestCase {
    let l1 = #"{"type": "L1Loss"}"#

    /// Inputs big enough to be mapped (>= 1 MiB): (1,3,256,512) float32, 1.5 MiB each.
    func mappedInputs(_ dir: URL) throws {
        let n = 3 * 256 * 512
        try Npy.write(NpyArray(float32: (0..<n).map { Float($0 % 97) / 97 }, shape: [1, 3, 256, 512]), path: dir.appendingPathComponent("pred.npy").path)
        try Npy.write(NpyArray(float32: (0..<n).map { Float($0 % 89) / 89 }, shape: [1, 3, 256, 512]), path: dir.appendingPathComponent("target.npy").path)
    }

    /// An input truncated while losscli has it mapped (a CI step re-running np.save on it)
    /// killed `eval` with SIGBUS; now it is one line naming the file, exit 2, no outputs.
    func testInputTruncatedWhileMappedIsAnErrorNamingTheFile() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        try mappedInputs(dir)
        let r = try runAtBarrier(["eval", "--config", l1, "--pred", "pred.npy", "--target", "target.npy", "--grad-out", "g.npz"],
                                 in: dir, point: "inputs-loaded") { _ in
            XCTAssertEqual(truncate(dir.appendingPathComponent("pred.npy").path, 4096), 0)
        }
        XCTAssertEqual(r.reason, .exit, "ended by a signal: \(r.stderr)")
        assertUsageError(EvalHarness.Result(status: r.status, stdout: r.stdout, stderr: r.stderr),
                         mentions: ["pred.npy", "changed while it was being read"])
        XCTAssertEqual(try filesIn(dir), ["pred.npy", "target.npy"])
    }

    /// SIGTERM, SIGINT and SIGHUP while the outputs are being written remove the temporary
    /// files and end with 128 + the signal; neither output appears.
    func testSignalsDuringWritesRemoveTemporaries() throws {
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            let dir = try EvalHarness.temporaryDirectory(self)
            try mappedInputs(dir)
            let r = try runAtBarrier(["eval", "--config", l1, "--pred", "pred.npy", "--target", "target.npy",
                                      "--grad-out", "g.npz", "--values-out", "v.npz"], in: dir, point: "outputs-written") { p in
                // Both temporaries are there, complete but not renamed.
                let files = try filesIn(dir)
                XCTAssertEqual(files.filter { $0.hasPrefix(".") }.count, 2, "\(files)")
                kill(p.processIdentifier, sig)
                p.waitUntilExit()
            }
            XCTAssertEqual(r.reason, .exit, "signal \(sig)")
            XCTAssertEqual(r.status, 128 + sig, "signal \(sig): \(r.stderr)")
            XCTAssertEqual(try filesIn(dir), ["pred.npy", "target.npy"], "signal \(sig)")
        }
    }

    /// The same run, let go, writes both files (the barrier changes nothing).
    func testBarrierRunCompletesNormally() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        try mappedInputs(dir)
        let r = try runAtBarrier(["eval", "--config", l1, "--pred", "pred.npy", "--target", "target.npy",
                                  "--grad-out", "g.npz", "--values-out", "v.npz"], in: dir, point: "outputs-written") { _ in }
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try filesIn(dir), ["g.npz", "pred.npy", "target.npy", "v.npz"])
    }

    /// git-annex, DVC, Bazel and Nix hand users symbolic links: --pred, --inputs and --config
    /// follow them (they failed with "is not a regular file"); a dangling link says so.
    func testSymbolicLinksAreFollowed() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let fixtures = EvalHarness.fixtures
        for (link, target) in [("p.npy", "pred.npy"), ("t.npy", "target.npy"), ("b.npz", "bundle.npz"), ("c.json", "l1.json")] {
            try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent(link).path,
                                                       withDestinationPath: fixtures.appendingPathComponent(target).path)
        }
        let direct = try EvalHarness.run(["eval", "--config", "l1.json", "--pred", "pred.npy", "--target", "target.npy"])
        XCTAssertEqual(direct.status, 0, direct.stderr)
        let linked = try EvalHarness.run(["eval", "--config", "c.json", "--pred", "p.npy", "--target", "t.npy"], in: dir)
        XCTAssertEqual(linked.status, 0, linked.stderr)
        XCTAssertEqual(linked.stdout, direct.stdout)
        let bundle = try EvalHarness.run(["eval", "--config", l1, "--inputs", "b.npz"], in: dir)
        XCTAssertEqual(bundle.status, 0, bundle.stderr)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("gone.npy").path, withDestinationPath: "nowhere.npy")
        assertUsageError(try EvalHarness.run(["eval", "--config", l1, "--pred", "gone.npy", "--target", "t.npy"], in: dir),
                         mentions: ["gone.npy", "symbolic link to a missing file"])
    }

    /// inspect (and eval) refuse devices, pipes and /proc files by kind; /dev/zero aborted and a
    /// FIFO with no writer hung; /proc files were "an empty file".
    func testSpecialFilesAreRefusedByInspectAndEval() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        XCTAssertEqual(mkfifo(dir.appendingPathComponent("fifo.npy").path, 0o600), 0)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("zero.npz").path, withDestinationPath: "/dev/zero")
        for (file, kind) in [("/dev/zero", "character device"), ("fifo.npy", "named pipe (FIFO)"), ("zero.npz", "character device"),
                             ("/proc/self/status", "/proc file system")] {
            assertUsageError(try EvalHarness.run(["inspect", file], in: dir), mentions: [file, kind])
        }
        assertUsageError(try EvalHarness.run(["eval", "--config", l1, "--pred", "/proc/self/status", "--target", "fifo.npy"], in: dir),
                         mentions: ["/proc/self/status", "/proc file system"])
        assertUsageError(try EvalHarness.run(["eval", "--config", "/proc/self/status", "--pred", "fifo.npy"], in: dir),
                         mentions: ["config /proc/self/status", "/proc file system"])
    }

    /// An archive whose member claims 40 GB (ZIP64) is refused by every command that reads
    /// archives, from the claim, before allocating (it aborted with "failed to allocate").
    func testHugeSizeClaimIsRefusedEverywhere() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let claim: UInt64 = 40_000_000_000
        let stream = try deflated(try Npy.encode(NpyArray(float32: [1, 2, 3], shape: [3])))
        let padded = stream + [UInt8](repeating: 0, count: Int(claim / 1032) + 1 - stream.count)
        let path = dir.appendingPathComponent("claim.npz")
        try Data(zip64Archive(name: "pred.npy", compressed: padded, claimed: claim)).write(to: path)
        for args in [["inspect", "claim.npz"], ["eval", "--config", l1, "--inputs", "claim.npz"],
                     ["eval", "--config", l1, "--input", "pred=claim.npz:pred", "--target", EvalHarness.fixtures.appendingPathComponent("target.npy").path],
                     ["check", "--config", l1, "--golden", EvalHarness.fixtures.appendingPathComponent("golden_f32.json").path, "--grad-golden", "claim.npz"]] {
            assertUsageError(try EvalHarness.run(args, in: dir), mentions: ["claim.npz", "40.0 GB", "more than may be allocated"])
        }
    }

    /// 300 directory entries sharing one payload: refused at once (inspect inflated for minutes).
    func testOverlappingMembersAreRefused() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let npy = try Npy.encode(NpyArray(float32: [Float](repeating: 0, count: 200_000), shape: [200_000]))
        let data = try deflated(npy)
        var local = le(0x0403_4b50, 4) + le(20, 2) + le(0, 2) + le(8, 2) + le(0, 4) + le(0, 4) + le(UInt64(data.count), 4) + le(UInt64(npy.count), 4)
        local += le(5, 2) + le(0, 2) + Array("a.npy".utf8) + data
        var central: [UInt8] = []
        for i in 0..<300 {
            let name = Array("k\(i).npy".utf8)
            central += le(0x0201_4b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(8, 2) + le(0, 4) + le(0, 4)
            central += le(UInt64(data.count), 4) + le(UInt64(npy.count), 4) + le(UInt64(name.count), 2) + le(0, 2) + le(0, 2)
            central += le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4) + name
        }
        let end = le(0x0605_4b50, 4) + le(0, 4) + le(300, 2) + le(300, 2) + le(UInt64(central.count), 4) + le(UInt64(local.count), 4) + le(0, 2)
        try Data(local + central + end).write(to: dir.appendingPathComponent("bomb.npz"))
        assertUsageError(try EvalHarness.run(["inspect", "bomb.npz"], in: dir), mentions: ["bomb.npz", "overlap"])
        assertUsageError(try EvalHarness.run(["eval", "--config", l1, "--inputs", "bomb.npz"], in: dir), mentions: ["bomb.npz", "overlap"])
    }

    /// A 1.1e9-element uint8 input under `ulimit -v 3G` aborted with "failed to allocate"; now
    /// the budget takes the address-space limit into account and refuses before converting.
    func testAddressSpaceLimitIsPartOfTheBudget() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let path = dir.appendingPathComponent("big.npy").path
        let n = 1_100_000_000
        let header = try NpyFormat.encodeHeader(dtype: NpyDType(kind: .uint, itemSize: 1), shape: [n], fortranOrder: false)
        FileManager.default.createFile(atPath: path, contents: Data(header))
        XCTAssertEqual(truncate(path, off_t(header.count + n)), 0)   // sparse: no disk used
        let small = EvalHarness.fixtures.appendingPathComponent("target.npy").path
        for kib in [3 << 20, 5 << 20] {
            let r = try runUnderAddressLimit(kib: kib, ["eval", "--config", l1, "--pred", "big.npy", "--target", small], in: dir)
            assertUsageError(r, mentions: ["big.npy", "ulimit -v", "more than may be allocated"])
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
        }
    }

    /// `--grad-out same.npz --values-out alias/same.npz` with `alias -> .` left same.npz holding
    /// the values; outputs are compared by resolved path and inode, before computing.
    func testAliasedOutputsAreRefused() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("alias").path, withDestinationPath: ".")
        let inputs = ["--pred", EvalHarness.fixtures.appendingPathComponent("pred.npy").path,
                      "--target", EvalHarness.fixtures.appendingPathComponent("target.npy").path]
        assertUsageError(try EvalHarness.run(["eval", "--config", l1] + inputs + ["--grad-out", "same.npz", "--values-out", "alias/same.npz"], in: dir),
                         mentions: ["--grad-out and --values-out name the same file", "same.npz"])
        // An existing file and a link to it are one file too.
        FileManager.default.createFile(atPath: dir.appendingPathComponent("g.npz").path, contents: Data())
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("v.npz").path, withDestinationPath: "g.npz")
        assertUsageError(try EvalHarness.run(["eval", "--config", l1] + inputs + ["--grad-out", "g.npz", "--values-out", "v.npz"], in: dir),
                         mentions: ["name the same file"])
        XCTAssertEqual(try filesIn(dir), ["alias", "g.npz", "v.npz"])
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("g.npz")).count, 0)
    }

    /// Output problems that used to surface only when writing (after the computation, naming
    /// the hidden temporary file) are found before computing and name the user's path.
    func testOutputKeyAndFolderProblemsAreFoundBeforeComputing() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        let p = EvalHarness.fixtures.appendingPathComponent("pred.npy").path
        let t = EvalHarness.fixtures.appendingPathComponent("target.npy").path
        // total/x + y and total + x/y are both "total/x/y".
        let collide = #"{"losses": {"total/x": {"type": "L1Loss", "data_info": {"pred": "y", "target": "t"}}, "#
            + #""loss": {"type": "L1Loss", "data_info": {"pred": "x/y", "target": "t"}}}}"#
        assertUsageError(try EvalHarness.run(["eval", "--config", collide, "--input", "y=\(p)", "--input", "x/y=\(p)", "--input", "t=\(t)",
                                              "--grad-out", "g.npz"], in: dir),
                         mentions: ["--grad-out g.npz", "\"total/x/y\""])
        // The same config without --grad-out computes (the collision is only in the file).
        XCTAssertEqual(try EvalHarness.run(["eval", "--config", collide, "--input", "y=\(p)", "--input", "x/y=\(p)", "--input", "t=\(t)"], in: dir).status, 0)
        // A term name longer than a ZIP member name may be.
        let long = String(repeating: "n", count: 70_000) + "_loss"
        let r = try EvalHarness.run(["eval", "--config", #"{"losses": {"\#(long)": {"type": "L1Loss"}}}"#, "--pred", p, "--target", t,
                                     "--values-out", "v.npz"], in: dir)
        assertUsageError(r, mentions: ["--values-out v.npz", "longer than a ZIP member name"])
        // A folder that cannot be written (for root too).
        let f = try EvalHarness.run(["eval", "--config", l1, "--pred", p, "--target", t, "--grad-out", "/proc/self/g.npz"], in: dir)
        assertUsageError(f, mentions: ["--grad-out /proc/self/g.npz", "cannot create a file in folder /proc/self"])
        XCTAssertFalse(f.stderr.contains(".tmp-") || f.stderr.contains(".losscli-"), f.stderr)
        XCTAssertEqual(try filesIn(dir), [])
    }

    /// Smaller ones: a repeated shorthand, negative --threads/--seed, control characters in
    /// table output, long quotes in error lines.
    func testSmallerCommandLineProblems() throws {
        let p = EvalHarness.fixtures.appendingPathComponent("pred.npy").path
        let t = EvalHarness.fixtures.appendingPathComponent("target.npy").path
        assertUsageError(try EvalHarness.run(["eval", "--config", l1, "--pred", p, "--pred", t, "--target", t]),
                         mentions: ["--pred is given 2 times"])
        assertUsageError(try EvalHarness.run(["eval", "--config", l1, "--pred", p, "--target", t, "--threads", "-1"]),
                         mentions: ["--threads -1: expected a whole number of threads"])
        assertUsageError(try EvalHarness.run(["eval", "--config", l1, "--pred", p, "--target", t, "--seed", "-1"]),
                         mentions: ["--seed -1: expected a whole number from 0 to 18446744073709551615"])
        assertUsageError(try EvalHarness.run(["eval", "--config", l1, "--pred", p, "--target", t, "--repeat", "-1"]),
                         mentions: ["--repeat -1: must be 1 to 1000"])
        XCTAssertEqual(try EvalHarness.run(["eval", "--config", l1, "--pred", p, "--target", t, "--seed", "7", "--threads", "2"]).status, 0)

        // A term name with ESC and a newline: escaped in the table as in JSON.
        let escaped = #"{"losses": {"a\u001b[31m\nred_loss": {"type": "L1Loss"}}}"#
        let table = try EvalHarness.run(["eval", "--config", escaped, "--pred", p, "--target", t, "--format", "table"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertFalse(table.stdout.unicodeScalars.contains { $0.value == 0x1b }, table.stdout)
        XCTAssertTrue(table.stdout.contains(#"a\u001b[31m\nred_loss"#), table.stdout)
        let json = try EvalHarness.run(["eval", "--config", escaped, "--pred", p, "--target", t, "--format", "json"])
        XCTAssertTrue(json.stdout.contains(#""a\u001b[31m\nred_loss""#), json.stdout)

        // A 65,536-character input name and a 100,000-digit number are cut in the error line.
        let name = String(repeating: "x", count: 65_536)
        let r = try EvalHarness.run(["eval", "--config", l1, "--input", "\(name)=missing.npy", "--pred", p, "--target", t])
        assertUsageError(r, mentions: ["xxxx…", "(65536 characters)"])
        XCTAssertLessThan(r.stderr.count, 1000)
        let digits = String(repeating: "9", count: 100_000)
        let n = try EvalHarness.run(["eval", "--config", #"{"type": "L1Loss", "loss_weight": \#(digits)}"#, "--pred", p, "--target", t])
        XCTAssertEqual(n.status, 2, n.stderr)
        XCTAssertLessThan(n.stderr.count, 1000, String(n.stderr.prefix(300)))
        XCTAssertEqual(ErrorText.shortened("a \"" + name + "\" b"), "a \"" + String(repeating: "x", count: 60) + "…\" (65536 characters) b")
        XCTAssertEqual(ErrorText.shortened("short \"quote\""), "short \"quote\"")
    }

    func le(_ v: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

    /// Raw deflate (zlib, as the .npz writer does).
    func deflated(_ bytes: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        try bytes.withUnsafeBytes { b in try Zlib.deflate([b]) { out += Array($0) } }
        return out
    }

    /// A one-member archive whose directory gives ZIP64 sizes: `compressed` bytes claiming `claimed`.
    func zip64Archive(name: String, compressed: [UInt8], claimed: UInt64) -> [UInt8] {
        let n = Array(name.utf8)
        var local = le(0x0403_4b50, 4) + le(45, 2) + le(0, 2) + le(8, 2) + le(0, 4) + le(0, 4) + le(0xFFFF_FFFF, 4) + le(0xFFFF_FFFF, 4)
        local += le(UInt64(n.count), 2) + le(20, 2) + n + le(1, 2) + le(16, 2) + le(claimed, 8) + le(UInt64(compressed.count), 8)
        local += compressed
        var central = le(0x0201_4b50, 4) + le(45, 2) + le(45, 2) + le(0, 2) + le(8, 2) + le(0, 4) + le(0, 4)
        central += le(0xFFFF_FFFF, 4) + le(0xFFFF_FFFF, 4) + le(UInt64(n.count), 2) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(0, 4)
        central += n + le(1, 2) + le(16, 2) + le(claimed, 8) + le(UInt64(compressed.count), 8)
        let end = le(0x0605_4b50, 4) + le(0, 4) + le(1, 2) + le(1, 2) + le(UInt64(central.count), 4) + le(UInt64(local.count), 4) + le(0, 2)
        return local + central + end
    }
}

/// `inspect` of PyTorch checkpoints (torch.save's zip format), detected by their bytes.
final class InspectTorchTests: XCTestCase {
    let torch = EvalHarness.root.appendingPathComponent("fixtures/torch")

    func testInspectListsACheckpointsTensors() throws {
        let r = try EvalHarness.run(["inspect", torch.appendingPathComponent("state_dict.pth").path, "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try r.json()
        let arrays = try XCTUnwrap(json["arrays"] as? [String: [String: Any]])
        XCTAssertEqual(arrays["features.0.weight"]?["dtype"] as? String, "<f4")
        XCTAssertEqual(arrays["features.0.weight"]?["shape"] as? [Int], [2, 3, 3, 3])
        XCTAssertEqual(arrays["bn.num_batches_tracked"]?["dtype"] as? String, "<i8")
        XCTAssertEqual(arrays["bn.num_batches_tracked"]?["sum"] as? Double, 12345678901)
        XCTAssertEqual(arrays["half"]?["dtype"] as? String, "<f2")
        let formats = try XCTUnwrap(json["formats"] as? [String: String])
        XCTAssertEqual(formats.values.first, "torch-zip")
        // The same file under another name (no .pth): detected by its bytes.
        let dir = try EvalHarness.temporaryDirectory(self)
        try FileManager.default.copyItem(at: torch.appendingPathComponent("wrapped.pth"), to: dir.appendingPathComponent("weights.bin"))
        let w = try EvalHarness.run(["inspect", "weights.bin", "--format", "table"], in: dir)
        XCTAssertEqual(w.status, 0, w.stderr)
        XCTAssertTrue(w.stdout.contains("state_dict.module.conv.weight"), w.stdout)
        XCTAssertTrue(w.stdout.contains("weights.bin: torch-zip"), w.stdout)
    }

    func testACheckpointThatAsksForCodeIsRefused() throws {
        let dir = try EvalHarness.temporaryDirectory(self)
        for file in ["evil.pth", "evil_legacy.pth", "evil_eval.pth"] {
            let r = try EvalHarness.run(["inspect", torch.appendingPathComponent(file).path], in: dir)
            assertUsageError(r, mentions: [file, "only a call to", "never run"])
        }
        XCTAssertEqual(try filesIn(dir), [], "the pickle's command never ran")
    }

    /// Each format is named as detected, by bytes: the legacy stream, TorchScript, zip.
    func testEveryTorchFormatIsNamed() throws {
        let files = ["state_dict_legacy.pth": "torch-legacy", "state_dict_legacy-v1.pth": "torch-legacy",
                     "script.pt": "torchscript", "big_endian.pth": "torch-zip"]
        let r = try EvalHarness.run(["inspect"] + files.keys.sorted().map { torch.appendingPathComponent($0).path } + ["--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let formats = try XCTUnwrap(try r.json()["formats"] as? [String: String])
        XCTAssertEqual(formats, Dictionary(uniqueKeysWithValues: files.map { (torch.appendingPathComponent($0.key).path, $0.value) }))
        let arrays = try XCTUnwrap(try r.json()["arrays"] as? [String: [String: Any]])
        // TorchScript modules' attributes, flattened: as torch.jit.load(...).state_dict() names them.
        XCTAssertEqual(arrays["block.0.weight"]?["shape"] as? [Int], [2, 4])
        XCTAssertEqual(arrays["frozen"]?["dtype"] as? String, "<f2")
        XCTAssertEqual(arrays["\(torch.appendingPathComponent("big_endian.pth").path):double"]?["dtype"] as? String, ">f8")
    }

    /// --key selects tensors by shell pattern; one that matches nothing is exit 2.
    func testKeySelectsTensors() throws {
        let file = torch.appendingPathComponent("wrapped_legacy.pth").path
        let r = try EvalHarness.run(["inspect", file, "--key", "*.bias", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let arrays = try XCTUnwrap(try r.json()["arrays"] as? [String: [String: Any]])
        XCTAssertEqual(Array(arrays.keys), ["state_dict.module.conv.bias"])
        let none = try EvalHarness.run(["inspect", file, "--key", "*.bias", "--key", "features.*"])
        assertUsageError(none, mentions: ["--key 'features.*' matches no member or tensor of", "wrapped_legacy.pth"])
        let npz = try EvalHarness.run(["inspect", EvalHarness.root.appendingPathComponent("fixtures/cli/bundle.npz").path,
                                       "--key", "p*", "--format", "json"])
        XCTAssertEqual(npz.status, 0, npz.stderr)
        XCTAssertEqual(try XCTUnwrap(try npz.json()["arrays"] as? [String: Any]).keys.sorted(), ["pred"])
    }
}
