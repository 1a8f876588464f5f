/// The `.npy` format, as NumPy defines it (numpy/lib/format.py, NEP 1).
///
/// ```
/// offset  size        content
/// 0       6           magic string  \x93NUMPY
/// 6       1           major version  1, 2 or 3
/// 7       1           minor version  0
/// 8       2 (v1.0)    header length HLEN, little-endian uint16
///         4 (v2, v3)  header length HLEN, little-endian uint32
/// 10|12   HLEN        header: a Python literal dict, padded with spaces and ending
///                     in '\n' so that the data starts on a 64-byte boundary.
///                     v1.0 and v2.0 headers are latin-1, v3.0 headers UTF-8.
/// ...     rest        the data: count × itemsize bytes, C or Fortran order
/// ```
///
/// The dict has exactly three keys, in any order:
/// - `'descr'`: the dtype, a string such as `'<f4'` (structured dtypes are lists);
/// - `'fortran_order'`: `True` when the data is in column-major order;
/// - `'shape'`: a tuple of ints, `()` for a scalar.
///
/// NumPy writes `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, plus
/// spare spaces so the first axis can grow in place, and picks the oldest version
/// whose length field can hold the header (2.0 past 65,535 bytes; 3.0 only for
/// non-latin-1 text, which numeric headers never contain).
///
/// Reading follows NumPy's checks in NumPy's order: magic, version, header length,
/// the header size limit, literal syntax, is-a-dict, exact keys, shape, fortran_order,
/// descr. Then the size the shape claims is computed with overflow checks and compared
/// with the bytes present, before anything is allocated.
public enum NpyFormat {
    /// `\x93NUMPY`.
    public static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    /// Data starts on a multiple of this (NumPy's ARRAY_ALIGN), so it can be mapped.
    public static let alignment = 64
    /// NumPy's `_MAX_HEADER_SIZE`: parsing untrusted header literals costs time and
    /// memory, so longer headers are refused unless the caller raises the limit.
    public static let defaultMaxHeaderSize = 10_000
    /// NumPy's GROWTH_AXIS_MAX_DIGITS: spare spaces so a writer could grow the
    /// first (C) or last (Fortran) axis in place.
    static let growthAxisMaxDigits = 21
}

/// Options for reading `.npy` data.
public struct NpyReadOptions: Sendable {
    /// Longest header accepted, in bytes (NumPy's `max_header_size`).
    public var maxHeaderSize: Int
    /// What archives may inflate in all (the sum of their deflated members' sizes); nil: the
    /// process's budget when the archive is opened (`MemoryBudget.current()`).
    public var memoryBudget: MemoryBudget?
    /// Files at least this large are mapped rather than read (the fuzzer maps every file, to
    /// run the mapped path on small inputs).
    var mapThreshold = FileIO.mapThreshold
    public init(maxHeaderSize: Int = NpyFormat.defaultMaxHeaderSize, memoryBudget: MemoryBudget? = nil) {
        self.maxHeaderSize = maxHeaderSize
        self.memoryBudget = memoryBudget
    }
}

/// A parsed, validated header and where the data starts.
public struct NpyHeader: Equatable, Sendable {
    public var version: (major: UInt8, minor: UInt8)
    public var dtype: NpyDType
    public var shape: [Int]
    public var fortranOrder: Bool
    /// Product of the shape.
    public var count: Int
    /// `count * dtype.itemSize`.
    public var byteCount: Int
    /// Offset of the first data byte.
    public var dataOffset: Int

    public static func == (a: NpyHeader, b: NpyHeader) -> Bool {
        a.version == b.version && a.dtype == b.dtype && a.shape == b.shape && a.fortranOrder == b.fortranOrder
            && a.dataOffset == b.dataOffset
    }
}

extension NpyFormat {
    /// Parses and validates the header at the start of `bytes` and checks that the
    /// data it announces is present. Errors carry the byte offset; the caller adds
    /// the file and member.
    public static func readHeader(_ bytes: UnsafeRawBufferPointer, options: NpyReadOptions = .init()) throws(NpyError) -> NpyHeader {
        let n = bytes.count
        let prefixCount = min(n, magic.count)
        for i in 0..<prefixCount where bytes[i] != magic[i] {
            throw NpyError(.notNpy(foundPrefix: Array(bytes.prefix(8))), offset: 0)
        }
        if n == 0 { throw NpyError(.notNpy(foundPrefix: []), offset: 0) }
        if n < 6 { throw NpyError(.truncated(reading: "magic string", expected: 6, got: n), offset: 0) }
        guard n >= 8 else { throw NpyError(.truncated(reading: "format version", expected: 2, got: n - 6), offset: 6) }
        let major = bytes[6], minor = bytes[7]
        guard minor == 0, (1...3).contains(major) else {
            throw NpyError(.unsupportedVersion(major: major, minor: minor), offset: 6)
        }
        let lengthSize = major == 1 ? 2 : 4
        guard n >= 8 + lengthSize else {
            throw NpyError(.truncated(reading: "header length", expected: lengthSize, got: n - 8), offset: 8)
        }
        var headerLength = 0
        for i in 0..<lengthSize { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        let headerStart = 8 + lengthSize
        if headerLength > options.maxHeaderSize {
            throw NpyError(.headerTooLarge(length: headerLength, limit: options.maxHeaderSize), offset: 8)
        }
        guard n - headerStart >= headerLength else {
            throw NpyError(.truncated(reading: "header", expected: headerLength, got: n - headerStart), offset: headerStart)
        }
        let raw = Array(bytes[headerStart..<(headerStart + headerLength)])
        let text: [UInt8]
        if major == 3 {
            guard String(validating: raw, as: UTF8.self) != nil else {
                throw NpyError(.headerEncoding(encoding: "UTF-8"), offset: headerStart)
            }
            text = raw
        } else if raw.allSatisfy({ $0 < 0x80 }) {
            text = raw
        } else {
            // latin-1 → UTF-8, so strings in error messages show the right characters.
            text = Array(String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) })).utf8)
        }

        let literal: PythonLiteral
        do {
            literal = try PythonLiteralParser.parse(text, allowLongSuffix: major < 3)
        } catch let e as PythonLiteralSyntaxError {
            throw NpyError(.headerSyntax(message: e.message, headerOffset: e.offset), offset: headerStart + e.offset)
        } catch {
            throw NpyError(.headerSyntax(message: "\(error)", headerOffset: 0), offset: headerStart)
        }
        guard case .dict(let items) = literal else {
            throw NpyError(.headerNotDict(found: literal.pythonRepr), offset: headerStart)
        }
        var descrValue: PythonLiteral?, orderValue: PythonLiteral?, shapeValue: PythonLiteral?
        var unexpected = false
        for (key, value) in items {
            switch key {
            case .string("descr"): descrValue = value
            case .string("fortran_order"): orderValue = value
            case .string("shape"): shapeValue = value
            default: unexpected = true
            }
        }
        guard !unexpected, let descrValue, let orderValue, let shapeValue else {
            throw NpyError(.headerKeys(found: items.map(\.key.pythonRepr).sorted()), offset: headerStart)
        }
        guard case .tuple(let dims) = shapeValue else {
            throw NpyError(.invalidShape(found: shapeValue.pythonRepr), offset: headerStart)
        }
        var shape: [Int] = []
        for d in dims {
            guard case .int(let v) = d, v >= 0 else { throw NpyError(.invalidShape(found: shapeValue.pythonRepr), offset: headerStart) }
            shape.append(v)
        }
        guard case .bool(let fortranOrder) = orderValue else {
            throw NpyError(.invalidFortranOrder(found: orderValue.pythonRepr), offset: headerStart)
        }
        let dtype: NpyDType
        switch descrValue {
        case .string(let s):
            do { dtype = try NpyDType.parse(s) } catch {
                throw NpyError(.unsupportedDType(descr: error.descr, reason: error.reason), offset: headerStart)
            }
        case .list:
            throw NpyError(.unsupportedDType(descr: descrValue.pythonRepr, reason: "structured arrays (record fields) are not plain numeric tensors"), offset: headerStart)
        case .tuple:
            throw NpyError(.unsupportedDType(descr: descrValue.pythonRepr, reason: "sub-array dtypes are not supported"), offset: headerStart)
        default:
            throw NpyError(.invalidDescr(found: descrValue.pythonRepr), offset: headerStart)
        }
        guard let (count, byteCount) = sizes(shape: shape, itemSize: dtype.itemSize) else {
            throw NpyError(.sizeOverflow(shape: shape, itemSize: dtype.itemSize), offset: headerStart)
        }
        let dataOffset = headerStart + headerLength
        guard n - dataOffset >= byteCount else {
            throw NpyError(.truncated(reading: "array data", expected: byteCount, got: n - dataOffset), offset: dataOffset)
        }
        return NpyHeader(version: (major, minor), dtype: dtype, shape: shape, fortranOrder: fortranOrder,
                         count: count, byteCount: byteCount, dataOffset: dataOffset)
    }

    /// Element count and byte count of a shape, or nil when either overflows `Int`.
    static func sizes(shape: [Int], itemSize: Int) -> (count: Int, bytes: Int)? {
        var count = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, o) = count.multipliedReportingOverflow(by: d)
            if o { return nil }
            count = p
        }
        let (bytes, o) = count.multipliedReportingOverflow(by: itemSize)
        return o ? nil : (count, bytes)
    }

    /// The header bytes NumPy would write for this array (magic through the final
    /// '\n'), byte for byte: version 1.0 when the length fits 16 bits, else 2.0.
    /// A dtype NumPy has no descr for (bfloat16) is refused: such an array cannot be a `.npy`.
    public static func encodeHeader(dtype: NpyDType, shape: [Int], fortranOrder: Bool) throws(NpyError) -> [UInt8] {
        guard dtype.isNumPyDType else {
            throw NpyError(.unsupportedDType(descr: dtype.descr, reason: dtype.kind == .bfloat16
                ? "bfloat16 has no NumPy dtype, so a .npy or .npz cannot hold it (convert it to float32 first)"
                : "no such numeric NumPy dtype"))
        }
        var dict = "{'descr': '\(dtype.descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(NpyError.shapeText(shape)), }"
        if !shape.isEmpty {
            let growing = fortranOrder ? shape[shape.count - 1] : shape[0]
            dict += String(repeating: " ", count: max(0, growthAxisMaxDigits - String(growing).count))
        }
        let body = Array(dict.utf8)
        for (major, lengthSize, limit) in [(UInt8(1), 2, 0xFFFF), (UInt8(2), 4, Int(UInt32.max))] {
            let unpadded = magic.count + 2 + lengthSize + body.count + 1
            let pad = alignment - unpadded % alignment
            let headerLength = body.count + pad + 1
            guard headerLength <= limit else { continue }
            var out = magic + [major, 0]
            for i in 0..<lengthSize { out.append(UInt8(truncatingIfNeeded: headerLength >> (8 * i))) }
            out += body
            out += [UInt8](repeating: 0x20, count: pad)
            out.append(0x0a)
            return out
        }
        throw NpyError(.headerTooLongToWrite(length: body.count))
    }
}
