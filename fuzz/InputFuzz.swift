// libFuzzer over the command line's input path (`make fuzz-input`).
//
// Compiled with Sources/NpyIO/*.swift (and CFault) into one module. Each input becomes a
// file on disk and goes the way `eval --input`, `eval --inputs` and `inspect` take a file:
// the regular-file check, `Npy.load` with the file memory-mapped (every file here, not only
// those of 1 MiB and more, so the mapped path runs on small inputs), every archive member
// by name, then either read in place as float32/float64 (what eval's tensors borrow) or
// converted into fresh memory, and summarised. A crash, trap or sanitizer report is a bug.
#if canImport(Glibc)
import Glibc
#endif

private let path = "/tmp/losscli-input-fuzz-\(getpid()).npy"

@_cdecl("LLVMFuzzerTestOneInput")
public func inputFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return 0 }
    if let data, size > 0 { _ = write(fd, data, size) }
    close(fd)
    // A small budget: a member may claim at most 64 MiB in all, so every claim that passes
    // is one the fuzzer's memory limit can pay for.
    var options = NpyReadOptions(maxHeaderSize: 4096, memoryBudget: MemoryBudget(physical: 64 << 20))
    options.mapThreshold = 0
    guard (try? RegularFile.check(path)) != nil, let contents = try? Npy.load(path: path, options: options) else { return 0 }
    switch contents {
    case .array(let a):
        consume(a)
    case .archive(let z):
        for name in z.names where z.contains(name) {
            if let a = try? z.array(named: name) { consume(a) }
        }
    case .weights(let weights):
        for (_, a) in weights.tensors { consume(a) }
    }
    return 0
}

private func consume(_ a: NpyArray) {
    for itemSize in [4, 8] {
        if a.isReadableInPlace(asFloatOf: itemSize) {
            // eval's tensors read these bytes where they are.
            var acc: UInt8 = 0
            a.withUnsafeDataBytes { for b in $0 { acc ^= b } }
            if a.withUnsafeDataBytes({ $0.count }) != a.count * itemSize { fatalError("in-place view of the wrong size") }
            _ = acc
        } else if itemSize == 4 {
            let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(a.count, 1))
            defer { out.deallocate() }
            _ = try? a.convert(into: out)
        } else {
            let out = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(a.count, 1))
            defer { out.deallocate() }
            _ = try? a.convert(into: out)
        }
    }
    let s = NpyStatistics(a, threads: 1)
    if s.count != a.count { fatalError("statistics count mismatch") }
}
