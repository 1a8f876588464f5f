#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading whole files and writing them atomically, on POSIX calls so every failure
/// becomes an `NpyError` naming the file and the reason (`strerror`).
enum FileIO {
    /// Files at least this large are memory-mapped instead of read: mapping avoids the
    /// copy, and for small files the page-table setup costs more than a copy.
    static let mapThreshold = 1 << 20

    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// The whole file as one buffer: mapped read-only when large, else one read.
    static func readWholeFile(_ path: String) throws(NpyError) -> NpyBuffer {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NpyError(.cannotOpen(reason: errnoText()), file: path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw NpyError(.ioFailed(operation: "stat", reason: errnoText()), file: path) }
        let type = info.st_mode & S_IFMT
        if type == S_IFDIR { throw NpyError(.cannotOpen(reason: "is a directory"), file: path) }
        if type != S_IFREG { return try readStream(fd, path: path) }
        let size = Int(info.st_size)
        if size >= mapThreshold {
            #if os(Linux)
            // Fault the pages in now, in one go (measured faster than lazy faults for the
            // 384 MiB inspect benchmark) — but not for a file as big as a quarter of memory:
            // such a file may be refused from its header alone (too large to convert), and
            // populating it first would read gigabytes for nothing.
            let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) &* Int(sysconf(Int32(_SC_PAGESIZE)))
            let populate = physical <= 0 || size < physical / 4
            let flags = populate ? MAP_PRIVATE | MAP_POPULATE : MAP_PRIVATE
            #else
            let flags = MAP_PRIVATE
            #endif
            if let p = mmap(nil, size, PROT_READ, flags, fd, 0), p != MAP_FAILED {
                // Then writable, copy on write (the file is never written): a reader that hands
                // the bytes on without copying (losscli's tensors) cannot fault on a stray write.
                // Mapped read-only first, because populating a writable private mapping would
                // copy every page.
                _ = mprotect(p, size, PROT_READ | PROT_WRITE)
                return NpyBuffer(mapped: UnsafeRawPointer(p), count: size)
            }
            // A file system without mmap support: fall through to reading.
        }
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64)
        var done = 0
        while done < size {
            let n = read(fd, p + done, size - done)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                let reason = errnoText()
                p.deallocate()
                throw NpyError(.ioFailed(operation: "read", reason: reason), file: path, offset: done)
            }
            if n == 0 { break }   // the file shrank while we read it; parse what is there
            done += n
        }
        return NpyBuffer(adopting: p, count: done)
    }

    /// Pipes and devices: read until end of file.
    private static func readStream(_ fd: Int32, path: String) throws(NpyError) -> NpyBuffer {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw NpyError(.ioFailed(operation: "read", reason: errnoText()), file: path, offset: bytes.count) }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return NpyBuffer(copying: bytes)
    }
}

/// Writes a file under a temporary name in the same directory and renames it into
/// place at the end, so readers never see a half-written file and a failure leaves
/// nothing behind.
final class AtomicFileWriter {
    let path: String
    private let tempPath: String
    private var fd: Int32
    private(set) var offset = 0

    private init(path: String) throws(NpyError) {
        self.path = path
        var template = Array((path + ".tmp-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw NpyError(.cannotOpen(reason: FileIO.errnoText()), file: path) }
        self.fd = fd
        tempPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        fchmod(fd, 0o644)
    }

    /// Runs `body` with a writer; commits when it returns, removes the temporary file when it throws.
    static func write(to path: String, _ body: (AtomicFileWriter) throws -> Void) throws {
        let w = try AtomicFileWriter(path: path)
        do {
            try body(w)
            try w.commit()
        } catch {
            w.abort()
            throw error
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(NpyError) {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = Glibc.write(fd, p, min(left, 1 << 30))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw NpyError(.ioFailed(operation: "write", reason: FileIO.errnoText()), file: path, offset: offset) }
            p += n
            left -= n
            offset += n
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    private func commit() throws(NpyError) {
        let fd = self.fd
        self.fd = -1
        guard close(fd) == 0 else { throw NpyError(.ioFailed(operation: "close", reason: FileIO.errnoText()), file: path) }
        guard rename(tempPath, path) == 0 else {
            throw NpyError(.ioFailed(operation: "rename", reason: FileIO.errnoText()), file: path)
        }
    }

    private func abort() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(tempPath)
    }
}
