/// A ZIP archive read through its central directory: the container of `.npz` files, and of
/// PyTorch's zip checkpoints and TorchScript archives.
///
/// The directory is what counts (members written with data descriptors, whose local headers
/// carry no sizes, read like any other); ZIP64 records are understood (Python's zipfile
/// writes them). Before any member is read, the archive is refused when two members' byte
/// ranges overlap or when the deflated members claim more bytes in all than may be allocated.
/// A member's bytes are handed out in place when stored, inflated when deflated, CRC-checked.
struct ZipArchive {
    /// One member as the central directory describes it.
    struct Member {
        var name: String
        var flags: UInt16
        var method: UInt16
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localHeaderOffset: Int
    }

    let buffer: NpyBuffer
    /// In directory order.
    let members: [Member]
    /// End of the member data region (where the central directory starts).
    let dataEnd: Int

    /// Deflate never expands data by more than 1032:1; a size claim beyond that is a lie
    /// and is refused before allocating.
    static let maxDeflateRatio = 1032

    /// Reads the directory of the archive in `buffer`. Two members whose `key(name)` is equal
    /// are an error (`.npz` keys drop `.npy`, so `x.npy` and `x` collide).
    init(buffer: NpyBuffer, budget: MemoryBudget, key: (String) -> String = { $0 }) throws(NpyError) {
        self.buffer = buffer
        let r = ByteReader(buffer.bytes)
        (members, dataEnd) = try Self.readDirectory(r, key: key)
        try Self.checkLayout(members, r, dataEnd: dataEnd, budget: budget)
    }

    /// Whether `bytes` start like a ZIP file (a local header, or the end record of an empty one).
    static func looksLikeZip(_ b: UnsafeRawBufferPointer) -> Bool {
        b.count >= 4 && b[0] == 0x50 && b[1] == 0x4B && ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6))
    }

    /// Refuses, before any member is read, an archive whose members overlap (hundreds of
    /// directory entries pointing at one payload, each passing the deflate-ratio check, would
    /// inflate it hundreds of times) or whose deflated members claim more bytes in all than
    /// may be allocated. Members whose local header is unreadable are left to `contents(of:)`,
    /// which reports them by name when they are asked for.
    private static func checkLayout(_ entries: [Member], _ r: ByteReader, dataEnd: Int, budget: MemoryBudget) throws(NpyError) {
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

    static let eocdSignature: UInt32 = 0x0605_4b50
    static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    static let zip64EocdSignature: UInt32 = 0x0606_4b50
    static let centralSignature: UInt32 = 0x0201_4b50
    static let localSignature: UInt32 = 0x0403_4b50

    private static func readDirectory(_ r: ByteReader, key: (String) -> String) throws(NpyError) -> ([Member], Int) {
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

        var entries: [Member] = []
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
            let k = key(name)
            guard keys.insert(k).inserted else { throw NpyError(.duplicateMember(name: k), offset: p) }
            entries.append(Member(name: name, flags: flags, method: method, crc: crc,
                                 compressedSize: Int(csize), size: Int(usize), localHeaderOffset: Int(localOffset)))
            p += 46 + varLength
        }
        return (entries, cdOffset)
    }

    /// The uncompressed bytes of `entry`: a stored member in place (a range of the archive's
    /// buffer, no copy), a deflated one inflated into a buffer of its own (growing only with
    /// the bytes the stream produces); the CRC-32 checked either way. Offsets in errors are
    /// the archive's.
    func contents(of entry: Member) throws(NpyError) -> (buffer: NpyBuffer, start: Int, count: Int) {
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
            return (buffer, start, entry.size)
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
            return (out, 0, entry.size)
        default:
            throw NpyError(.unsupportedCompression(method: Int(entry.method)), offset: lh)
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

