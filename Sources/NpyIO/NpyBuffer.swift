#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Immutable bytes that an array's data lives in: a heap block, or a read-only
/// memory map of a whole file. Arrays share one buffer and view a range of it.
public final class NpyBuffer: @unchecked Sendable {
    private enum Owner {
        case heap
        case mapped(length: Int)
    }

    let base: UnsafeRawPointer?
    public let count: Int
    private let owner: Owner

    /// Takes ownership of `pointer`, which must come from `UnsafeMutableRawPointer.allocate`.
    init(adopting pointer: UnsafeMutableRawPointer, count: Int) {
        base = UnsafeRawPointer(pointer)
        self.count = count
        owner = .heap
    }

    init(mapped pointer: UnsafeRawPointer, count: Int) {
        base = pointer
        self.count = count
        owner = .mapped(length: count)
    }

    /// Copies `bytes`.
    public convenience init(copying bytes: UnsafeRawBufferPointer) {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        if let src = bytes.baseAddress, bytes.count > 0 { p.copyMemory(from: src, byteCount: bytes.count) }
        self.init(adopting: p, count: bytes.count)
    }

    public convenience init(copying bytes: [UInt8]) {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { src in
            if let s = src.baseAddress, src.count > 0 { p.copyMemory(from: s, byteCount: src.count) }
        }
        self.init(adopting: p, count: bytes.count)
    }

    deinit {
        switch owner {
        case .heap: UnsafeMutableRawPointer(mutating: base)?.deallocate()
        case .mapped(let length): if let base { munmap(UnsafeMutableRawPointer(mutating: base), length) }
        }
    }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
