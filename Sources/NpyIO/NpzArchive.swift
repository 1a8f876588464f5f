import Foundation

/// An `.npz` archive: a ZIP file (`ZipArchive`, Zip.swift) whose members are `.npy` files
/// named `KEY.npy`. Members are decoded when asked for; stored members are used in place,
/// without a copy. Writing (`write`, `writePending`) makes what `np.savez` and
/// `np.savez_compressed` make.
public struct NpzArchive: @unchecked Sendable {
    /// Path of the archive, for error messages.
    public let path: String?
    let zip: ZipArchive
    /// Keys in directory order: member names with the `.npy` suffix removed (as `np.load` lists them).
    public let names: [String]
    /// Member index by key and by full member name.
    private let index: [String: Int]
    let options: NpyReadOptions

    static func key(_ name: String) -> String { name.hasSuffix(".npy") ? String(name.dropLast(4)) : name }

    public static func read(contentsOf url: URL, options: NpyReadOptions = .init()) throws -> NpzArchive {
        try read(path: url.path, options: options)
    }

    public static func read(path: String, options: NpyReadOptions = .init()) throws -> NpzArchive {
        let buffer = try FileIO.readWholeFile(path, mapThreshold: options.mapThreshold)
        buffer.populate()
        do {
            return try NpzArchive(buffer: buffer, path: path, options: options)
        } catch {
            throw error.addingLocation(file: path)
        }
    }

    /// An archive held in memory (copied).
    public static func read(bytes: [UInt8], options: NpyReadOptions = .init()) throws -> NpzArchive {
        try NpzArchive(buffer: NpyBuffer(copying: bytes), path: nil, options: options)
    }

    init(buffer: NpyBuffer, path: String?, options: NpyReadOptions) throws(NpyError) {
        self.init(zip: try ZipArchive(buffer: buffer, budget: options.memoryBudget ?? MemoryBudget.current(), key: Self.key),
                  path: path, options: options)
    }

    /// An archive over a ZIP whose directory was read with `NpzArchive.key`.
    init(zip: ZipArchive, path: String?, options: NpyReadOptions) {
        self.path = path
        self.options = options
        self.zip = zip
        names = zip.members.map { Self.key($0.name) }
        var index: [String: Int] = [:]
        for (i, m) in zip.members.enumerated() {
            index[names[i]] = i
            if index[m.name] == nil { index[m.name] = i }
        }
        self.index = index
    }

    /// Whether the archive has an array under `key` (or under the full member name).
    public func contains(_ key: String) -> Bool { index[key] != nil }

    /// The array stored under `key` (or under the full member name).
    public func array(named key: String) throws -> NpyArray {
        guard let i = index[key] else {
            throw NpyError(.noSuchMember(name: key, available: names), file: path)
        }
        let member = zip.members[i]
        do throws(NpyError) {
            let (buffer, start, count) = try zip.contents(of: member)
            return try Npy.array(in: buffer, at: start, count: count, options: options)
        } catch {
            throw error.addingLocation(file: path, member: member.name)
        }
    }

    /// Every array, in archive order.
    public func arrays() throws -> [(name: String, array: NpyArray)] {
        try names.map { ($0, try array(named: $0)) }
    }

    // MARK: - Reading

    // MARK: - Writing

    /// Writes `arrays` as `np.savez` (stored) or `np.savez_compressed` (deflate) would,
    /// each under `KEY.npy`. ZIP64 records are added where a size or offset needs them
    /// (`forceZip64` adds them everywhere, which NumPy's readers accept and tests use).
    /// The archive is written to a temporary file renamed over `url` at the end.
    public static func write(_ arrays: [(String, NpyArray)], to url: URL, compressed: Bool) throws {
        try write(arrays, path: url.path, compressed: compressed, forceZip64: false)
    }

    public static func write(_ arrays: [(String, NpyArray)], path: String, compressed: Bool, forceZip64: Bool = false) throws {
        try writePending(arrays, path: path, compressed: compressed, forceZip64: forceZip64).commit()
    }

    /// The archive written completely under a temporary name next to `path`, not yet renamed
    /// into place: `commit()` it (or `discard()` it; dropping it discards). Writing several
    /// files all or nothing is writing each pending and then committing them all.
    public static func writePending(_ arrays: [(String, NpyArray)], path: String, compressed: Bool,
                                    forceZip64: Bool = false) throws -> PendingFile {
        try checkKeys(arrays.map(\.0), path: path)
        let w = try PendingFile(path: path)
        do {
            try writeContents(arrays, to: w, compressed: compressed, forceZip64: forceZip64)
            try w.finish()
        } catch {
            w.discard()
            throw error
        }
        return w
    }

    /// The member names `keys` give are unique and fit in a ZIP name field; `path` only names
    /// the file in the error. Callers check their keys with it before any work.
    public static func checkKeys(_ keys: [String], path: String?) throws(NpyError) {
        var seen = Set<String>()
        for key in keys {
            guard seen.insert(key).inserted else { throw NpyError(.duplicateMember(name: key), file: path) }
            guard key.utf8.count + 4 <= 0xFFFF else {
                throw NpyError(.invalidArray(message: "key of \(key.utf8.count) bytes is longer than a ZIP member name can be (65,531 bytes)"), file: path)
            }
        }
    }

    private static func writeContents(_ arrays: [(String, NpyArray)], to w: PendingFile, compressed: Bool, forceZip64: Bool) throws {
        do {
            var central = ByteWriter()
            for (key, array) in arrays {
                let name = Array((key + ".npy").utf8)
                let header = try NpyFormat.encodeHeader(dtype: array.dtype, shape: array.shape, fortranOrder: array.fortranOrder)
                let size = header.count + array.byteCount
                let crc = header.withUnsafeBytes { h in array.withUnsafeDataBytes { Zlib.crc32($0, seed: Zlib.crc32(h)) } }
                // Deflated first (in memory): the local header needs the compressed size.
                var payload: [[UInt8]] = []
                var compressedSize = size
                if compressed {
                    try header.withUnsafeBytes { h in
                        try array.withUnsafeDataBytes { data in
                            try Zlib.deflate([h, data]) { payload.append(Array($0)) }
                        }
                    }
                    compressedSize = payload.reduce(0) { $0 + $1.count }
                }
                let offset = w.offset
                let zip64 = forceZip64 || size >= 0xFFFF_FFFF || compressedSize >= 0xFFFF_FFFF
                let needsOffset64 = forceZip64 || offset >= 0xFFFF_FFFF
                let utf8Flag: UInt16 = name.allSatisfy { $0 < 0x80 } ? 0 : 0x0800
                let method: UInt16 = compressed ? 8 : 0
                let version: UInt16 = (zip64 || needsOffset64) ? 45 : 20

                var local = ByteWriter()
                local.u32(ZipArchive.localSignature); local.u16(version); local.u16(utf8Flag); local.u16(method)
                local.u16(0); local.u16(0x21)  // 1980-01-01 00:00: reproducible output
                local.u32(crc)
                local.u32(zip64 ? 0xFFFF_FFFF : UInt32(compressedSize))
                local.u32(zip64 ? 0xFFFF_FFFF : UInt32(size))
                local.u16(UInt16(name.count)); local.u16(zip64 ? 20 : 0)
                local.bytes(name)
                if zip64 { local.u16(1); local.u16(16); local.u64(UInt64(size)); local.u64(UInt64(compressedSize)) }
                try w.write(local.data)
                if compressed {
                    for piece in payload { try w.write(piece) }
                } else {
                    try w.write(header)
                    try array.withUnsafeDataBytes { try w.write($0) }
                }

                var extra = ByteWriter()
                if zip64 { extra.u64(UInt64(size)); extra.u64(UInt64(compressedSize)) }
                if needsOffset64 { extra.u64(UInt64(offset)) }
                central.u32(ZipArchive.centralSignature); central.u16(version | 0x0300); central.u16(version); central.u16(utf8Flag)
                central.u16(method); central.u16(0); central.u16(0x21); central.u32(crc)
                central.u32(zip64 ? 0xFFFF_FFFF : UInt32(compressedSize))
                central.u32(zip64 ? 0xFFFF_FFFF : UInt32(size))
                central.u16(UInt16(name.count)); central.u16(extra.data.isEmpty ? 0 : UInt16(4 + extra.data.count)); central.u16(0)
                central.u16(0); central.u16(0); central.u32(0o100644 << 16)
                central.u32(needsOffset64 ? 0xFFFF_FFFF : UInt32(offset))
                central.bytes(name)
                if !extra.data.isEmpty { central.u16(1); central.u16(UInt16(extra.data.count)); central.bytes(extra.data) }
            }
            let cdOffset = w.offset
            let cdSize = central.data.count
            try w.write(central.data)
            var end = ByteWriter()
            let zip64End = forceZip64 || arrays.count >= 0xFFFF || cdOffset >= 0xFFFF_FFFF || cdSize >= 0xFFFF_FFFF
            if zip64End {
                let recordOffset = w.offset
                end.u32(ZipArchive.zip64EocdSignature); end.u64(44); end.u16(45 | 0x0300); end.u16(45)
                end.u32(0); end.u32(0); end.u64(UInt64(arrays.count)); end.u64(UInt64(arrays.count))
                end.u64(UInt64(cdSize)); end.u64(UInt64(cdOffset))
                end.u32(ZipArchive.zip64LocatorSignature); end.u32(0); end.u64(UInt64(recordOffset)); end.u32(1)
            }
            end.u32(ZipArchive.eocdSignature); end.u16(0); end.u16(0)
            end.u16(zip64End ? 0xFFFF : UInt16(arrays.count)); end.u16(zip64End ? 0xFFFF : UInt16(arrays.count))
            end.u32(zip64End ? 0xFFFF_FFFF : UInt32(cdSize)); end.u32(zip64End ? 0xFFFF_FFFF : UInt32(cdOffset))
            end.u16(0)
            try w.write(end.data)
        }
    }
}

/// Little-endian field writes.
struct ByteWriter {
    var data: [UInt8] = []
    mutating func u16(_ v: UInt16) { data += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { data.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { data.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func bytes(_ b: [UInt8]) { data += b }
}
