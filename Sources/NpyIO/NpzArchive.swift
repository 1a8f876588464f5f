import Foundation

/// An `.npz` archive: a ZIP file whose members are `.npy` files named `KEY.npy`.
///
/// Reading uses the central directory (so members written with data descriptors,
/// whose local headers carry no sizes, read like any other), understands ZIP64
/// (NumPy asks Python's zipfile for ZIP64 records), inflates deflate members with
/// zlib and checks every member's CRC-32. Members are decoded when asked for; stored
/// members are used in place, without a copy.
public struct NpzArchive: @unchecked Sendable {
    /// One member as the central directory describes it.
    struct Entry {
        var name: String
        var key: String
        var flags: UInt16
        var method: UInt16
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localHeaderOffset: Int
    }

    /// Path of the archive, for error messages.
    public let path: String?
    let buffer: NpyBuffer
    let entries: [Entry]
    /// Entry index by key and by full member name.
    private let index: [String: Int]
    let options: NpyReadOptions
    /// End of the member data region (where the central directory starts).
    let dataEnd: Int

    /// Keys in archive order: member names with the `.npy` suffix removed (as `np.load` lists them).
    public var names: [String] { entries.map(\.key) }

    /// Deflate never expands data by more than 1032:1; a size claim beyond that is a lie
    /// and is refused before allocating.
    static let maxDeflateRatio = 1032

    public static func read(contentsOf url: URL, options: NpyReadOptions = .init()) throws -> NpzArchive {
        try read(path: url.path, options: options)
    }

    public static func read(path: String, options: NpyReadOptions = .init()) throws -> NpzArchive {
        let buffer = try FileIO.readWholeFile(path, mapThreshold: options.mapThreshold)
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
        self.buffer = buffer
        self.path = path
        self.options = options
        let r = ByteReader(buffer.bytes)
        let (entries, cdStart) = try Self.readDirectory(r)
        self.entries = entries
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() {
            index[e.key] = i
            if index[e.name] == nil { index[e.name] = i }
        }
        self.index = index
        dataEnd = cdStart
        try Self.checkLayout(entries, r, dataEnd: cdStart, budget: options.memoryBudget ?? MemoryBudget.current())
    }

    /// Refuses, before any member is read, an archive whose members overlap (hundreds of
    /// directory entries pointing at one payload, each passing the deflate-ratio check, would
    /// inflate it hundreds of times) or whose deflated members claim more bytes in all than
    /// may be allocated. Members whose local header is unreadable are left to `extract`,
    /// which reports them by name when they are asked for.
    private static func checkLayout(_ entries: [Entry], _ r: ByteReader, dataEnd: Int, budget: MemoryBudget) throws(NpyError) {
        var ranges: [(start: Int, end: Int, index: Int)] = []
        ranges.reserveCapacity(entries.count)
        var inflated: UInt64 = 0
        var deflated = 0
        for (i, e) in entries.enumerated() {
            if e.method == 8 {
                inflated &+= UInt64(e.size)
                deflated += 1
            }
            let lh = e.localHeaderOffset
            guard lh <= dataEnd, dataEnd - lh >= 30, r.u32(lh) == localSignature else { continue }
            let start = lh + 30 + Int(r.u16(lh + 26)) + Int(r.u16(lh + 28))
            guard start <= dataEnd, dataEnd - start >= e.compressedSize else { continue }
            ranges.append((lh, start + e.compressedSize, i))
        }
        ranges.sort { $0.start < $1.start }
        for k in ranges.indices.dropFirst() where ranges[k].start < ranges[k - 1].end {
            throw NpyError(.overlappingMembers(first: entries[ranges[k - 1].index].name, second: entries[ranges[k].index].name),
                           offset: ranges[k].start)
        }
        if inflated > budget.available {
            throw NpyError(.exceedsMemory(what: "inflating the \(deflated) compressed member\(deflated == 1 ? "" : "s") (the sizes they claim)",
                                          bytes: inflated, budget: budget))
        }
    }

    /// Whether the archive has an array under `key` (or under the full member name).
    public func contains(_ key: String) -> Bool { index[key] != nil }

    /// The array stored under `key` (or under the full member name).
    public func array(named key: String) throws -> NpyArray {
        guard let i = index[key] else {
            throw NpyError(.noSuchMember(name: key, available: names), file: path)
        }
        let entry = entries[i]
        do {
            return try extract(entry)
        } catch {
            throw error.addingLocation(file: path, member: entry.name)
        }
    }

    /// Every array, in archive order.
    public func arrays() throws -> [(name: String, array: NpyArray)] {
        try names.map { ($0, try array(named: $0)) }
    }

    // MARK: - Reading

    private static let eocdSignature: UInt32 = 0x0605_4b50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    private static let zip64EocdSignature: UInt32 = 0x0606_4b50
    private static let centralSignature: UInt32 = 0x0201_4b50
    private static let localSignature: UInt32 = 0x0403_4b50

    private static func readDirectory(_ r: ByteReader) throws(NpyError) -> ([Entry], Int) {
        let n = r.count
        guard n >= 22 else {
            if n >= 4, r.u32(0) == localSignature || r.u32(0) == eocdSignature {
                throw NpyError(.truncated(reading: "end of central directory", expected: 22, got: n), offset: 0)
            }
            throw NpyError(.notZip(reason: n == 0 ? "the file is empty" : "\(n) bytes is too short for a ZIP archive"), offset: 0)
        }
        // The end record is the last thing in the file, followed only by a comment of at most 65,535 bytes.
        var eocd = -1
        var pos = n - 22
        let lowest = max(0, n - 22 - 0xFFFF)
        while pos >= lowest {
            if r.u32(pos) == eocdSignature, pos + 22 + Int(r.u16(pos + 20)) <= n { eocd = pos; break }
            pos -= 1
        }
        guard eocd >= 0 else {
            throw NpyError(.notZip(reason: "no end-of-central-directory record"), offset: max(0, n - 22))
        }
        var entryCount = Int(r.u16(eocd + 10))
        var cdSize = Int(r.u32(eocd + 12))
        var cdOffset = Int(r.u32(eocd + 16))
        var cdLimit = eocd   // the directory must end before this
        if eocd >= 20, r.u32(eocd - 20) == zip64LocatorSignature {
            let recordOffset64 = r.u64(eocd - 20 + 8)
            guard recordOffset64 <= UInt64(eocd - 20), Int(recordOffset64) + 56 <= eocd - 20 else {
                throw NpyError(.zipStructure(message: "ZIP64 end record offset \(recordOffset64) is outside the archive"), offset: eocd - 20)
            }
            let rec = Int(recordOffset64)
            guard r.u32(rec) == zip64EocdSignature else {
                throw NpyError(.zipStructure(message: "no ZIP64 end record where the locator points"), offset: rec)
            }
            let count64 = r.u64(rec + 32), size64 = r.u64(rec + 40), offset64 = r.u64(rec + 48)
            guard count64 <= UInt64(n), size64 <= UInt64(n), offset64 <= UInt64(n) else {
                throw NpyError(.zipStructure(message: "ZIP64 end record claims a directory larger than the file"), offset: rec)
            }
            entryCount = Int(count64)
            cdSize = Int(size64)
            cdOffset = Int(offset64)
            cdLimit = rec
        } else if entryCount == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            throw NpyError(.zipStructure(message: "ZIP64 values announced but no ZIP64 locator"), offset: eocd)
        }
        guard cdOffset <= cdLimit, cdSize <= cdLimit - cdOffset else {
            throw NpyError(.zipStructure(message: "central directory (\(cdSize) bytes at \(cdOffset)) lies outside the archive"), offset: eocd)
        }
        guard entryCount <= cdSize / 46 else {
            throw NpyError(.zipStructure(message: "\(entryCount) entries cannot fit in a \(cdSize)-byte central directory"), offset: eocd)
        }

        var entries: [Entry] = []
        entries.reserveCapacity(entryCount)
        var keys = Set<String>()
        var p = cdOffset
        let cdEnd = cdOffset + cdSize
        for _ in 0..<entryCount {
            guard cdEnd - p >= 46 else { throw NpyError(.truncated(reading: "central directory entry", expected: 46, got: cdEnd - p), offset: p) }
            guard r.u32(p) == centralSignature else {
                throw NpyError(.zipStructure(message: "bad central directory entry signature"), offset: p)
            }
            let flags = r.u16(p + 8), method = r.u16(p + 10)
            let crc = r.u32(p + 16)
            var csize = UInt64(r.u32(p + 20)), usize = UInt64(r.u32(p + 24))
            let nameLength = Int(r.u16(p + 28)), extraLength = Int(r.u16(p + 30)), commentLength = Int(r.u16(p + 32))
            var localOffset = UInt64(r.u32(p + 42))
            let varLength = nameLength + extraLength + commentLength
            guard cdEnd - (p + 46) >= varLength else {
                throw NpyError(.truncated(reading: "central directory entry", expected: 46 + varLength, got: cdEnd - p), offset: p)
            }
            let nameBytes = r.bytes(p + 46, nameLength)
            let name = String(decoding: nameBytes, as: UTF8.self)
            // ZIP64 extra field: the 64-bit values of whichever fields were set to 0xFFFFFFFF, in this order.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while extraEnd - e >= 4 {
                let id = r.u16(e), size = Int(r.u16(e + 2))
                guard extraEnd - (e + 4) >= size else {
                    throw NpyError(.zipStructure(message: "extra field of '\(name)' overruns its entry"), offset: e)
                }
                if id == 0x0001 {
                    var f = e + 4
                    let fEnd = f + size
                    func next() throws(NpyError) -> UInt64 {
                        guard fEnd - f >= 8 else { throw NpyError(.zipStructure(message: "ZIP64 extra field of '\(name)' is too short"), offset: f) }
                        defer { f += 8 }
                        return r.u64(f)
                    }
                    if usize == 0xFFFF_FFFF { usize = try next() }
                    if csize == 0xFFFF_FFFF { csize = try next() }
                    if localOffset == 0xFFFF_FFFF { localOffset = try next() }
                }
                e += 4 + size
            }
            guard csize <= UInt64(n), usize <= UInt64(Int.max / 2), localOffset <= UInt64(n) else {
                throw NpyError(.zipStructure(message: "member '\(name)' claims sizes or offsets beyond the archive"), offset: p)
            }
            let key = name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
            guard keys.insert(key).inserted else { throw NpyError(.duplicateMember(name: key), offset: p) }
            entries.append(Entry(name: name, key: key, flags: flags, method: method, crc: crc,
                                 compressedSize: Int(csize), size: Int(usize), localHeaderOffset: Int(localOffset)))
            p += 46 + varLength
        }
        return (entries, cdOffset)
    }

    private func extract(_ entry: Entry) throws(NpyError) -> NpyArray {
        let r = ByteReader(buffer.bytes)
        let lh = entry.localHeaderOffset
        guard lh <= dataEnd, dataEnd - lh >= 30 else {
            throw NpyError(.truncated(reading: "local file header", expected: 30, got: max(0, dataEnd - lh)), offset: lh)
        }
        guard r.u32(lh) == Self.localSignature else {
            throw NpyError(.zipStructure(message: "no local file header where the central directory points"), offset: lh)
        }
        if entry.flags & 1 != 0 { throw NpyError(.encryptedMember, offset: lh) }
        let start = lh + 30 + Int(r.u16(lh + 26)) + Int(r.u16(lh + 28))
        guard start <= dataEnd, dataEnd - start >= entry.compressedSize else {
            throw NpyError(.truncated(reading: "member data", expected: entry.compressedSize, got: max(0, dataEnd - start)), offset: start)
        }
        let compressed = UnsafeRawBufferPointer(rebasing: buffer.bytes[start..<(start + entry.compressedSize)])
        switch entry.method {
        case 0:
            guard entry.size == entry.compressedSize else {
                throw NpyError(.sizeMismatch(expected: entry.size, found: entry.compressedSize), offset: start)
            }
            let crc = Zlib.crc32(compressed)
            guard crc == entry.crc else { throw NpyError(.crcMismatch(expected: entry.crc, found: crc), offset: start) }
            return try Npy.array(in: buffer, at: start, count: entry.size, options: options)
        case 8:
            let (bound, overflow) = entry.compressedSize.multipliedReportingOverflow(by: Self.maxDeflateRatio)
            guard overflow || entry.size <= bound + 64 else {
                throw NpyError(.zipStructure(message: "member claims \(entry.size) bytes from \(entry.compressedSize) compressed, more than deflate can produce"), offset: start)
            }
            let out: NpyBuffer
            do {
                out = NpyBuffer(adopting: try Zlib.inflate(compressed, claimed: entry.size), count: entry.size)
            } catch {
                var e = error
                e.offset = start
                throw e
            }
            let crc = Zlib.crc32(out.bytes)
            guard crc == entry.crc else { throw NpyError(.crcMismatch(expected: entry.crc, found: crc), offset: start) }
            return try Npy.array(in: out, at: 0, count: entry.size, options: options)
        default:
            throw NpyError(.unsupportedCompression(method: Int(entry.method)), offset: lh)
        }
    }

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
                local.u32(localSignature); local.u16(version); local.u16(utf8Flag); local.u16(method)
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
                central.u32(centralSignature); central.u16(version | 0x0300); central.u16(version); central.u16(utf8Flag)
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
                end.u32(zip64EocdSignature); end.u64(44); end.u16(45 | 0x0300); end.u16(45)
                end.u32(0); end.u32(0); end.u64(UInt64(arrays.count)); end.u64(UInt64(arrays.count))
                end.u64(UInt64(cdSize)); end.u64(UInt64(cdOffset))
                end.u32(zip64LocatorSignature); end.u32(0); end.u64(UInt64(recordOffset)); end.u32(1)
            }
            end.u32(eocdSignature); end.u16(0); end.u16(0)
            end.u16(zip64End ? 0xFFFF : UInt16(arrays.count)); end.u16(zip64End ? 0xFFFF : UInt16(arrays.count))
            end.u32(zip64End ? 0xFFFF_FFFF : UInt32(cdSize)); end.u32(zip64End ? 0xFFFF_FFFF : UInt32(cdOffset))
            end.u16(0)
            try w.write(end.data)
        }
    }
}

/// Little-endian field reads at offsets the caller has bounds-checked.
struct ByteReader {
    let base: UnsafeRawBufferPointer
    init(_ base: UnsafeRawBufferPointer) { self.base = base }
    var count: Int { base.count }
    func u16(_ at: Int) -> UInt16 { UInt16(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
    func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
    func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
    func bytes(_ at: Int, _ n: Int) -> [UInt8] { Array(base[at..<(at + n)]) }
}

/// Little-endian field writes.
struct ByteWriter {
    var data: [UInt8] = []
    mutating func u16(_ v: UInt16) { data += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { data.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { data.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func bytes(_ b: [UInt8]) { data += b }
}
