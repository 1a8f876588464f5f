#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CFault

/// Reading whole files and writing them atomically, on POSIX calls so every failure
/// becomes an `NpyError` naming the file and the reason (`strerror`).
enum FileIO {
    /// Files at least this large are memory-mapped instead of read: mapping avoids the
    /// copy, and for small files the page-table setup costs more than a copy.
    static let mapThreshold = 1 << 20

    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// Opens `path` for reading when it is, after following symbolic links, a regular file
    /// with data of its own: not a directory, device, pipe or socket (which would be read
    /// without end or block: /dev/zero, a FIFO with no writer), and not a file of the
    /// kernel's /proc or /sys, whose size says nothing about its contents. Opened
    /// non-blocking, so a FIFO is refused instead of waited on. Returns the descriptor and size.
    static func openRegular(_ path: String) throws(NpyError) -> (fd: Int32, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw NpyError(.cannotOpen(reason: errnoText()), file: path)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = errnoText()
            close(fd)
            throw NpyError(.ioFailed(operation: "stat", reason: reason), file: path)
        }
        let kind: String?
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = pseudoFileSystem(fd).map { "a file of the kernel's \($0) file system (its contents are made when read and its size is not known), not a data file" }
        case S_IFDIR: kind = "a directory, expected a file"
        case S_IFIFO: kind = "a named pipe (FIFO), not a regular file"
        case S_IFCHR: kind = "a character device, not a regular file"
        case S_IFBLK: kind = "a block device, not a regular file"
        case S_IFSOCK: kind = "a socket, not a regular file"
        default: kind = "not a regular file"
        }
        if let kind {
            close(fd)
            throw NpyError(.notRegularFile(kind: kind), file: path)
        }
        return (fd, Int(info.st_size))
    }

    /// "/proc" or "/sys" when `fd` is on one of those pseudo file systems.
    private static func pseudoFileSystem(_ fd: Int32) -> String? {
        switch cfault_fs_type(fd) {
        case 0x9fa0: return "/proc"
        case 0x6265_6572: return "/sys"
        case 0x6462_6720, 0x7472_6163: return "debugfs/tracefs"
        default: return nil
        }
    }

    /// Checks, without reading, that `path` names a regular file (see `openRegular`).
    static func checkRegular(_ path: String) throws(NpyError) -> Int {
        let (fd, size) = try openRegular(path)
        close(fd)
        return size
    }

    /// The whole file as one buffer: mapped when large (pages faulted in as they are read), else one read. Only regular
    /// files are read (`openRegular`). A mapping is registered with the fault handler, so a
    /// file truncated while it is mapped is reported by name (exit 2) instead of killing the
    /// process with SIGBUS; when the handler's table is full the file is read instead.
    static func readWholeFile(_ path: String, mapThreshold: Int = FileIO.mapThreshold) throws(NpyError) -> NpyBuffer {
        let (fd, size) = try openRegular(path)
        defer { close(fd) }
        if size >= mapThreshold && size > 0 {
            // Pages are faulted in lazily: a weight file's reader touches only the tensors it is
            // asked for. Readers that will read every byte (a .npy, an .npz) call
            // `NpyBuffer.populate()` once they know what the file is.
            let flags = MAP_PRIVATE
            if let p = mmap(nil, size, PROT_READ, flags, fd, 0), p != MAP_FAILED {
                let slot = cfault_register_mapping(p, size, path)
                if slot >= 0 {
                    // Then writable, copy on write (the file is never written): a reader that hands
                    // the bytes on without copying (losscli's tensors) cannot fault on a stray write.
                    // Mapped read-only first, because populating a writable private mapping would
                    // copy every page.
                    _ = mprotect(p, size, PROT_READ | PROT_WRITE)
                    return NpyBuffer(mapped: UnsafeRawPointer(p), count: size, faultSlot: slot)
                }
                munmap(p, size)
            }
            // A file system without mmap support, or no room to register the mapping: read it.
        }
        guard let p = NpyBuffer.allocate(size) else {
            throw NpyError(.exceedsMemory(what: "reading the file", bytes: UInt64(size), budget: MemoryBudget.current()), file: path)
        }
        var done = 0
        while done < size {
            let n = read(fd, p + done, size - done)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                let reason = errnoText()
                free(p)
                throw NpyError(.ioFailed(operation: "read", reason: reason), file: path, offset: done)
            }
            if n == 0 { break }   // the file shrank while we read it; parse what is there
            done += n
        }
        return NpyBuffer(adopting: p, count: done)
    }

    /// Reads a small regular file whole (a JSON config, a golden file), refusing one larger
    /// than `maxBytes` before reading it.
    static func readSmallFile(_ path: String, maxBytes: Int) throws(NpyError) -> [UInt8] {
        let (fd, size) = try openRegular(path)
        defer { close(fd) }
        guard size <= maxBytes else { throw NpyError(.fileTooLarge(bytes: size, limit: maxBytes), file: path) }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw NpyError(.ioFailed(operation: "read", reason: errnoText()), file: path, offset: done) }
            if n == 0 { break }
            done += n
        }
        return Array(bytes[0..<done])
    }
}

/// Checks and reads of regular files for the command line (configs, golden files, and the
/// check that a named input is a file before it is read), with NpyIO's rules and messages.
public enum RegularFile {
    /// Throws unless `path` is, after following symbolic links, a regular data file; returns its size.
    @discardableResult
    public static func check(_ path: String) throws(NpyError) -> Int { try FileIO.checkRegular(path) }

    /// The bytes of a regular file of at most `maxBytes`.
    public static func read(_ path: String, maxBytes: Int) throws(NpyError) -> [UInt8] {
        try FileIO.readSmallFile(path, maxBytes: maxBytes)
    }
}

/// A file being written under a temporary name next to its destination (`.NAME.tmp-XXXXXX`
/// in the same folder), renamed into place by `commit()`: readers never see a half-written
/// file, and a failure, a `discard()` or the process being ended by SIGTERM, SIGINT or
/// SIGHUP leaves nothing behind (the temporary is registered with the fault handler until
/// it is renamed or removed). Several files are written all or nothing by writing each and
/// committing them only when every one was written.
public final class PendingFile {
    /// The destination, as given (errors name it, never the temporary).
    public let path: String
    let tempPath: String
    private var fd: Int32
    private var faultSlot: Int32
    private var settled = false
    private(set) var offset = 0

    init(path: String) throws(NpyError) {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var template = Array((folder + "." + name + ".tmp-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            let code = errno
            var info = stat()
            let shown = folder.isEmpty ? "." : folder == "/" ? "/" : String(folder.dropLast())
            let missing = code == ENOENT && stat(shown, &info) != 0
            let reason = missing ? "the folder \(shown) does not exist" : FileIO.errnoText(code)
            throw NpyError(.cannotCreate(reason: reason), file: path)
        }
        self.fd = fd
        tempPath = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        faultSlot = cfault_register_temp(tempPath)
        fchmod(fd, 0o644)
    }

    deinit { discard() }

    /// Checks that a file can be created next to `path` (its folder exists and is writable,
    /// for root too: a read-only file system or /proc) by creating a temporary there and
    /// removing it at once. Errors name `path`.
    public static func probe(_ path: String) throws(NpyError) {
        try PendingFile(path: path).discard()
    }

    /// Writes with `body`, then renames into place; on any error the temporary is removed.
    static func write(to path: String, _ body: (PendingFile) throws -> Void) throws {
        let f = try PendingFile(path: path)
        do {
            try body(f)
            try f.commit()
        } catch {
            f.discard()
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

    /// Closes the temporary (its bytes complete) without renaming it yet.
    func finish() throws(NpyError) {
        guard fd >= 0 else { return }
        let fd = self.fd
        self.fd = -1
        guard close(fd) == 0 else { throw NpyError(.ioFailed(operation: "close", reason: FileIO.errnoText()), file: path) }
    }

    /// Renames the finished temporary over the destination (rename(2) replaces an existing
    /// file atomically).
    public func commit() throws(NpyError) {
        guard !settled else { return }
        try finish()
        guard rename(tempPath, path) == 0 else {
            throw NpyError(.ioFailed(operation: "rename", reason: FileIO.errnoText()), file: path)
        }
        settled = true
        cfault_unregister_temp(faultSlot)
    }

    /// Removes the temporary; the destination is left as it was.
    public func discard() {
        guard !settled else { return }
        settled = true
        if fd >= 0 { close(fd); fd = -1 }
        unlink(tempPath)
        cfault_unregister_temp(faultSlot)
    }
}

/// The process-wide fault handlers (C, async-signal-safe; see CFault): a SIGBUS inside a file
/// NpyIO has mapped (the file was truncated while being read) prints one line naming the
/// file and exits 2; SIGTERM, SIGINT and SIGHUP exit 128 + the signal; both remove the
/// temporary files of `PendingFile`s first. A command-line tool installs them once at start.
public enum ProcessFaults {
    public static func install(messagePrefix: String) { cfault_install(messagePrefix) }

    /// Temporary output files not yet committed or discarded (tests check that none leak).
    public static var pendingTemporaries: Int { Int(cfault_temp_count()) }
}
