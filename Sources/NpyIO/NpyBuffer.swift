#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CFault

/// Immutable bytes that an array's data lives in: a heap block, or a read-only
/// memory map of a whole file. Arrays share one buffer and view a range of it.
public final class NpyBuffer: @unchecked Sendable {
    private enum Owner {
        /// malloc'd (`allocate`, or grown with realloc by the inflater): freed with free().
        case heap
        /// A file mapping, registered with the fault handler in `faultSlot`.
        case mapped(length: Int, faultSlot: Int32)
    }

    let base: UnsafeRawPointer?
    public let count: Int
    private let owner: Owner

    /// Heap memory for a buffer: 64-byte aligned, or nil when it cannot be had (the caller
    /// turns that into an error; nothing sized from a file may trap).
    static func allocate(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, 64, max(byteCount, 1)) == 0 else { return nil }
        return p
    }

    /// Takes ownership of `pointer`, which must come from `allocate`, malloc or realloc.
    init(adopting pointer: UnsafeMutableRawPointer, count: Int) {
        base = UnsafeRawPointer(pointer)
        self.count = count
        owner = .heap
    }

    init(mapped pointer: UnsafeRawPointer, count: Int, faultSlot: Int32) {
        base = pointer
        self.count = count
        owner = .mapped(length: count, faultSlot: faultSlot)
    }

    /// Faults a mapped file's pages in now, in one go, for a reader that will read all of it:
    /// measured faster than lazy faults for the 384 MiB inspect benchmark (this was MAP_POPULATE
    /// for every mapping; a 548 MB weight file of which 80 MB are needed then cost 576 MiB of
    /// memory). Not for a file as big as a quarter of memory: such a file may be refused from
    /// its header alone, and populating it first would read gigabytes for nothing. Heap
    /// buffers, and kernels without MADV_POPULATE_READ (Linux < 5.14), are left as they are.
    func populate() {
        #if os(Linux)
        guard case .mapped = owner, let base, count > 0 else { return }
        let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) &* Int(sysconf(Int32(_SC_PAGESIZE)))
        guard physical <= 0 || count < physical / 4 else { return }
        let madvPopulateRead: Int32 = 22
        _ = madvise(UnsafeMutableRawPointer(mutating: base), count, madvPopulateRead)
        #endif
    }

    /// Copies `bytes` (already in memory, so a copy's allocation failing means the process
    /// is out of memory: reported as such, with temporaries removed).
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(adopting: NpyBuffer.copy(bytes), count: bytes.count)
    }

    public convenience init(copying bytes: [UInt8]) {
        self.init(adopting: bytes.withUnsafeBytes { NpyBuffer.copy($0) }, count: bytes.count)
    }

    private static func copy(_ bytes: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer {
        guard let p = allocate(bytes.count) else {
            cfault_fatal("out of memory: cannot allocate \(bytes.count) bytes to copy an array", 2)
        }
        if let src = bytes.baseAddress, bytes.count > 0 { p.copyMemory(from: src, byteCount: bytes.count) }
        return p
    }

    deinit {
        switch owner {
        case .heap: free(UnsafeMutableRawPointer(mutating: base))
        case .mapped(let length, let slot):
            cfault_unregister_mapping(slot)
            if let base { munmap(UnsafeMutableRawPointer(mutating: base), length) }
        }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
