/// Hugging Face safetensors, read without the library.
///
/// ```
/// offset   size   content
/// 0        8      N, the header's length: u64 little-endian, at most 100,000,000
/// 8        N      the header: a UTF-8 JSON object, possibly padded with spaces
/// 8 + N    rest   the data: each tensor's bytes, little-endian, row-major
/// ```
///
/// The header maps each tensor's name to `{"dtype": "F32", "shape": [2, 3], "data_offsets":
/// [begin, end]}` (offsets into the data), plus an optional `"__metadata__"` of string →
/// string. Reading checks what the format's own reader checks, and more: the header is strict
/// JSON (`JSONScanner`: no trailing commas, no lone surrogates, depth at most 64), a name
/// appears once, `end − begin` is exactly Π(shape) · itemsize (checked arithmetic), and sorted
/// by offset the tensors cover the data from 0 to the end of the file with no hole and no
/// overlap, so no byte of the file is unaccounted for. Empty and rank-0 tensors are legal, and
/// data need not be aligned: each array views the file's bytes in place (loads are unaligned).
///
/// dtypes: BOOL, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16 (`NpyScalarKind.bfloat16`),
/// F32, F64. C64, the float8 kinds, F4 and F6_* are refused by name, as is any unknown dtype.
/// Tensors come out in the header's text order (the library's writer orders the JSON by
/// alignment, then name; files written by hand may use any order).
enum Safetensors {
    /// The format's limit on N (the library refuses longer headers).
    static let maxHeaderLength: UInt64 = 100_000_000
    /// NumPy's limit on the number of dimensions.
    static let maxRank = 64

    /// The tensors and the `__metadata__` entries, both in the header's order.
    struct Contents {
        var metadata: [(key: String, value: String)]
        var tensors: [(key: String, array: NpyArray)]
    }

    static func read(buffer: NpyBuffer, path: String?, options: NpyReadOptions) throws(NpyError) -> WeightFile {
        WeightFile(format: .safetensors, path: path, tensors: try contents(of: buffer).tensors)
    }

    /// safetensors' dtype names → NpyIO dtypes (all little-endian).
    static let dtypes: [String: NpyDType] = [
        "BOOL": .bool,
        "U8": NpyDType(kind: .uint, itemSize: 1), "I8": NpyDType(kind: .int, itemSize: 1),
        "U16": NpyDType(kind: .uint, itemSize: 2), "I16": NpyDType(kind: .int, itemSize: 2),
        "U32": NpyDType(kind: .uint, itemSize: 4), "I32": NpyDType(kind: .int, itemSize: 4),
        "U64": NpyDType(kind: .uint, itemSize: 8), "I64": NpyDType(kind: .int, itemSize: 8),
        "F16": NpyDType(kind: .float, itemSize: 2, byteOrder: .little),
        "BF16": NpyDType(kind: .bfloat16, itemSize: 2, byteOrder: .little),
        "F32": NpyDType(kind: .float, itemSize: 4, byteOrder: .little),
        "F64": NpyDType(kind: .float, itemSize: 8, byteOrder: .little),
    ]

    /// Why a dtype name NpyIO does not convert is refused.
    static func refusal(_ dtype: String) -> String {
        let supported = "supported: BOOL, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16, F32, F64"
        switch dtype {
        case "C64": return "complex tensors are not supported (\(supported))"
        case "F8_E5M2", "F8_E4M3", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ": return "float8 tensors are not supported (\(supported))"
        case "F4", "F6_E2M3", "F6_E3M2": return "sub-byte float tensors are not supported (\(supported))"
        default: return "not a safetensors dtype (\(supported))"
        }
    }

    /// A name as messages show it: control characters escaped, at most 100 characters.
    static func shown(_ name: String) -> String {
        var out = ""
        for (i, u) in name.unicodeScalars.enumerated() {
            if i == 100 { out += "..."; break }
            out += u.value < 0x20 || u.value == 0x7F ? "\\u{\(String(u.value, radix: 16))}" : String(u)
        }
        return out
    }

    /// One header entry, before the layout check.
    private struct Entry {
        var key: String
        var dtype: NpyDType
        var dtypeName: String
        var shape: [Int]
        var count: Int
        var begin: Int
        var end: Int
        /// File offset of the entry's value in the header, for messages.
        var at: Int
    }

    static func contents(of buffer: NpyBuffer) throws(NpyError) -> Contents {
        let b = buffer.bytes
        guard b.count >= 8 else {
            throw NpyError(.safetensors(message: "a file of \(b.count) bytes is too short for the 8-byte header length"), offset: 0)
        }
        var n: UInt64 = 0
        for i in (0..<8).reversed() { n = n << 8 | UInt64(b[i]) }
        guard n <= maxHeaderLength else {
            throw NpyError(.safetensors(message: "header length \(n) is more than the format's limit of \(maxHeaderLength) bytes"), offset: 0)
        }
        guard n <= UInt64(b.count - 8) else {
            throw NpyError(.safetensors(message: "header length \(n) runs past the end of the file (\(b.count - 8) bytes follow the length)"), offset: 0)
        }
        let headerLength = Int(n), dataStart = 8 + headerLength, dataLength = b.count - dataStart
        let header = UnsafeRawBufferPointer(rebasing: b[8..<dataStart])
        if let bad = UTF8Check.firstInvalid(header) {
            throw NpyError(.safetensors(message: "header is not valid UTF-8 (at header byte \(bad))"), offset: 8 + bad)
        }
        guard header.first == UInt8(ascii: "{") else {
            throw NpyError(.safetensors(message: "header does not start with '{'"), offset: 8)
        }

        var s = JSONScanner(header, fileOffset: 8)
        var entries: [Entry] = []
        var metadata: [(key: String, value: String)]? = nil
        var names = Set<String>()
        var state = try s.beginObject()
        while let (key, keyAt) = try s.nextMember(&state) {
            // Names compare as Swift strings (canonically equivalent spellings are one name), so
            // no consumer's dictionary of them can collide.
            guard names.insert(key).inserted else {
                throw NpyError(.safetensors(message: "header names '\(shown(key))' twice"), offset: keyAt)
            }
            if key == "__metadata__" {
                metadata = try readMetadata(&s)
            } else {
                entries.append(try readEntry(&s, key: key))
            }
        }
        try s.end()

        try checkLayout(entries, dataStart: dataStart, dataLength: dataLength)
        let tensors = entries.map { e -> (key: String, array: NpyArray) in
            let h = NpyHeader(version: (1, 0), dtype: e.dtype, shape: e.shape, fortranOrder: false, count: e.count,
                              byteCount: e.end - e.begin, dataOffset: 0)
            return (e.key, NpyArray(header: h, buffer: buffer, dataOffset: dataStart + e.begin))
        }
        return Contents(metadata: metadata ?? [], tensors: tensors)
    }

    /// `"__metadata__"`: an object of strings (or null, which the library's reader also takes).
    private static func readMetadata(_ s: inout JSONScanner) throws(NpyError) -> [(key: String, value: String)] {
        if try s.null() { return [] }
        guard s.peek() == UInt8(ascii: "{") else {
            throw s.fail("__metadata__ is not an object of strings")
        }
        var out: [(key: String, value: String)] = []
        var keys = Set<String>()
        var state = try s.beginObject()
        while let (key, keyAt) = try s.nextMember(&state) {
            guard keys.insert(key).inserted else {
                throw NpyError(.safetensors(message: "__metadata__ names '\(shown(key))' twice"), offset: keyAt)
            }
            guard s.peek() == UInt8(ascii: "\"") else { throw s.fail("__metadata__ '\(shown(key))' is not a string") }
            out.append((key, try s.string()))
        }
        return out
    }

    private static func readEntry(_ s: inout JSONScanner, key: String) throws(NpyError) -> Entry {
        let at = s.fileOffset
        guard s.peek() == UInt8(ascii: "{") else {
            throw s.fail("'\(shown(key))' is not an object {\"dtype\", \"shape\", \"data_offsets\"}")
        }
        var dtypeName: String?, shape: [Int]?, offsets: [Int]?
        var state = try s.beginObject()
        while let (field, fieldAt) = try s.nextMember(&state) {
            switch field {
            case "dtype", "shape", "data_offsets":
                let seen = field == "dtype" ? dtypeName != nil : field == "shape" ? shape != nil : offsets != nil
                guard !seen else { throw NpyError(.safetensors(message: "'\(shown(key))' has \(field) twice"), offset: fieldAt) }
            default:
                // Fields the format does not define are ignored, as the library does.
                try s.skipValue()
                continue
            }
            if field == "dtype" {
                guard s.peek() == UInt8(ascii: "\"") else { throw s.fail("dtype of '\(shown(key))' is not a string") }
                dtypeName = try s.string()
            } else if field == "shape" {
                shape = try integers(&s, what: "shape of '\(shown(key))'", limit: maxRank)
            } else {
                offsets = try integers(&s, what: "data_offsets of '\(shown(key))'", limit: 2)
            }
        }
        guard let dtypeName else { throw NpyError(.safetensors(message: "'\(shown(key))' has no dtype"), offset: at) }
        guard let shape else { throw NpyError(.safetensors(message: "'\(shown(key))' has no shape"), offset: at) }
        guard let offsets else { throw NpyError(.safetensors(message: "'\(shown(key))' has no data_offsets"), offset: at) }
        guard let dtype = dtypes[dtypeName] else {
            throw NpyError(.safetensors(message: "'\(shown(key))' has dtype \(dtypeName): \(refusal(dtypeName))"), offset: at)
        }
        guard offsets.count == 2 else {
            throw NpyError(.safetensors(message: "data_offsets of '\(shown(key))' are not [begin, end]"), offset: at)
        }
        let begin = offsets[0], end = offsets[1]
        guard begin <= end else {
            throw NpyError(.safetensors(message: "data_offsets [\(begin), \(end)] of '\(shown(key))' end before they begin"), offset: at)
        }
        guard let (count, bytes) = NpyFormat.sizes(shape: shape, itemSize: dtype.itemSize) else {
            throw NpyError(.safetensors(message: "shape \(NpyError.shapeText(shape)) of '\(shown(key))' with \(dtype.itemSize)-byte elements is too large to address"), offset: at)
        }
        guard bytes == end - begin else {
            throw NpyError(.safetensors(message: "'\(shown(key))' (\(dtypeName), shape \(NpyError.shapeText(shape))) needs \(bytes) bytes, its data_offsets [\(begin), \(end)] hold \(end - begin)"), offset: at)
        }
        return Entry(key: key, dtype: dtype, dtypeName: dtypeName, shape: shape, count: count, begin: begin, end: end, at: at)
    }

    /// A JSON array of at most `limit` non-negative integers that fit an Int.
    private static func integers(_ s: inout JSONScanner, what: String, limit: Int) throws(NpyError) -> [Int] {
        guard s.peek() == UInt8(ascii: "[") else { throw s.fail("\(what) is not a list of integers") }
        var out: [Int] = []
        var state = try s.beginArray()
        while try s.nextElement(&state) {
            let at = s.fileOffset
            guard out.count < limit else {
                throw NpyError(.safetensors(message: limit == 2 ? "\(what) are not [begin, end]" : "\(what) has more than \(limit) dimensions"), offset: at)
            }
            let number = try s.number(what: what)
            guard number.isInteger, !number.negative || number.magnitude == 0 else {
                throw NpyError(.safetensors(message: "\(what) holds \(number.text): expected a non-negative integer"), offset: at)
            }
            guard let m = number.magnitude, m <= UInt64(Int.max) else {
                throw NpyError(.safetensors(message: "\(what) holds \(number.text), too large to address"), offset: at)
            }
            out.append(Int(m))
        }
        return out
    }

    /// Sorted by offset, the tensors must tile the data exactly: the first at 0, each where the
    /// previous one ended, the last at the end of the file.
    private static func checkLayout(_ entries: [Entry], dataStart: Int, dataLength: Int) throws(NpyError) {
        // Empty tensors sort before the tensor that starts at their offset.
        let sorted = entries.indices.sorted { i, j in
            (entries[i].begin, entries[i].end, i) < (entries[j].begin, entries[j].end, j)
        }
        var reached = 0
        var previous: String? = nil
        for i in sorted {
            let e = entries[i]
            if e.begin > reached {
                throw NpyError(.safetensors(message: "the data has a hole: bytes \(reached)..<\(e.begin) belong to no tensor"
                    + " ('\(shown(e.key))' starts at \(e.begin)\(previous.map { ", '\(shown($0))' ends at \(reached)" } ?? ""))"),
                    offset: dataStart + min(reached, dataLength))
            }
            if e.begin < reached {
                throw NpyError(.safetensors(message: "'\(shown(e.key))' (data_offsets [\(e.begin), \(e.end)]) overlaps '\(shown(previous ?? ""))', which ends at \(reached)"),
                               offset: e.at)
            }
            reached = e.end
            previous = e.key
        }
        if reached > dataLength {
            throw NpyError(.safetensors(message: "'\(shown(previous ?? ""))' ends at data byte \(reached), past the end of the file (\(dataLength) bytes of data)"),
                           offset: dataStart + dataLength)
        }
        if reached < dataLength {
            throw NpyError(.safetensors(message: "\(dataLength - reached) bytes follow the last tensor's data (the tensors end at data byte \(reached), the file has \(dataLength))"),
                           offset: dataStart + reached)
        }
    }
}

/// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
enum UTF8Check {
    /// Index of the first byte of the first invalid sequence, or nil when all is valid.
    static func firstInvalid(_ b: UnsafeRawBufferPointer) -> Int? {
        var i = 0
        let n = b.count
        while i < n {
            let c = b[i]
            if c < 0x80 { i += 1; continue }
            let length: Int, low: UInt8, high: UInt8
            switch c {
            case 0xC2...0xDF: length = 2; low = 0x80; high = 0xBF
            case 0xE0: length = 3; low = 0xA0; high = 0xBF
            case 0xE1...0xEC, 0xEE...0xEF: length = 3; low = 0x80; high = 0xBF
            case 0xED: length = 3; low = 0x80; high = 0x9F
            case 0xF0: length = 4; low = 0x90; high = 0xBF
            case 0xF1...0xF3: length = 4; low = 0x80; high = 0xBF
            case 0xF4: length = 4; low = 0x80; high = 0x8F
            default: return i
            }
            guard n - i >= length, (low...high).contains(b[i + 1]) else { return i }
            for k in 2..<max(length, 2) where !(0x80...0xBF).contains(b[i + k]) { return i }
            i += length
        }
        return nil
    }
}

/// A strict JSON (RFC 8259) reader over bytes already checked to be UTF-8, pulled by its caller
/// value by value, so that nothing the caller skips is built: objects and arrays are walked with
/// `beginObject`/`nextMember` and `beginArray`/`nextElement`, anything else is a string, a
/// number, `null`, or skipped whole (`skipValue`, nesting at most `maxDepth`). Errors are
/// `NpyError.safetensors` at the file offset of the byte concerned.
struct JSONScanner {
    let bytes: UnsafeRawBufferPointer
    /// Where `bytes` start in the file.
    let base: Int
    private(set) var at = 0
    /// Objects and arrays open now.
    private var depth = 0
    static let maxDepth = 64

    init(_ bytes: UnsafeRawBufferPointer, fileOffset: Int) {
        self.bytes = bytes
        base = fileOffset
    }

    var fileOffset: Int { base + at }

    func fail(_ message: String, at position: Int? = nil) -> NpyError {
        let p = position ?? at
        return NpyError(.safetensors(message: "header is not valid: \(message) (at header byte \(p))"), offset: base + p)
    }

    private func syntax(_ message: String) -> NpyError {
        let p = at
        return NpyError(.safetensors(message: "header is not valid JSON at header byte \(p): \(message)"), offset: base + p)
    }

    private func found() -> String {
        guard at < bytes.count else { return "the end of the header" }
        let c = bytes[at]
        return (0x21...0x7e).contains(c) ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
    }

    private mutating func skipSpace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x09, 0x0A, 0x0D: at += 1
            default: return
            }
        }
    }

    /// The next byte after white space, without taking it.
    mutating func peek() -> UInt8? {
        skipSpace()
        return at < bytes.count ? bytes[at] : nil
    }

    /// Where a container is: whether its first item is still to come.
    struct Container { fileprivate var first = true }

    mutating func beginObject() throws(NpyError) -> Container {
        try open(UInt8(ascii: "{"), "an object")
        return Container()
    }

    mutating func beginArray() throws(NpyError) -> Container {
        try open(UInt8(ascii: "["), "an array")
        return Container()
    }

    private mutating func open(_ c: UInt8, _ what: String) throws(NpyError) {
        guard peek() == c else { throw syntax("expected \(what), found \(found())") }
        guard depth < Self.maxDepth else { throw syntax("nested more than \(Self.maxDepth) deep") }
        at += 1
        depth += 1
    }

    /// The next member's key (and its file offset), its ':' taken; nil at the closing '}'.
    mutating func nextMember(_ state: inout Container) throws(NpyError) -> (key: String, offset: Int)? {
        // `{}`, or the end after a member (a '}' right after ',' is refused below).
        if peek() == UInt8(ascii: "}") {
            at += 1
            depth -= 1
            return nil
        }
        if !state.first {
            guard peek() == UInt8(ascii: ",") else { throw syntax("expected ',' or '}', found \(found())") }
            at += 1
            guard peek() == UInt8(ascii: "\"") else { throw syntax("expected a key after ',', found \(found())") }
        }
        guard peek() == UInt8(ascii: "\"") else { throw syntax("expected a key or '}', found \(found())") }
        state.first = false
        let keyAt = fileOffset
        let key = try string()
        guard peek() == UInt8(ascii: ":") else { throw syntax("expected ':' after a key, found \(found())") }
        at += 1
        _ = peek()
        return (key, keyAt)
    }

    /// Whether another element follows (its ',' taken); false at the closing ']'.
    mutating func nextElement(_ state: inout Container) throws(NpyError) -> Bool {
        if state.first {
            if peek() == UInt8(ascii: "]") { at += 1; depth -= 1; return false }
            state.first = false
            return true
        }
        switch peek() {
        case UInt8(ascii: "]"): at += 1; depth -= 1; return false
        case UInt8(ascii: ","):
            at += 1
            guard peek() != UInt8(ascii: "]") else { throw syntax("expected a value after ',', found ']'") }
            return true
        default: throw syntax("expected ',' or ']', found \(found())")
        }
    }

    /// Only white space may follow the top value.
    mutating func end() throws(NpyError) {
        guard peek() == nil else { throw syntax("\(found()) after the header's object (only spaces may follow it)") }
    }

    /// `null`, taken; false (nothing taken) for anything else.
    mutating func null() throws(NpyError) -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    private mutating func literal(_ word: String) throws(NpyError) {
        for c in word.utf8 {
            guard at < bytes.count, bytes[at] == c else { throw syntax("expected \(word), found \(found())") }
            at += 1
        }
    }

    /// A string, its escapes decoded.
    mutating func string() throws(NpyError) -> String {
        guard peek() == UInt8(ascii: "\"") else { throw syntax("expected a string, found \(found())") }
        at += 1
        var out: [UInt8] = []
        while true {
            guard at < bytes.count else { throw syntax("a string is not closed") }
            let c = bytes[at]
            switch c {
            case UInt8(ascii: "\""):
                at += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                at += 1
                guard at < bytes.count else { throw syntax("a string is not closed") }
                let e = bytes[at]
                at += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = UInt32(try hex4())
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard at + 1 < bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else {
                            throw syntax("a \\u escape of a leading surrogate without its trailing one")
                        }
                        at += 2
                        let low = UInt32(try hex4())
                        guard (0xDC00...0xDFFF).contains(low) else { throw syntax("a leading surrogate followed by \\u\(String(low, radix: 16))") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw syntax("a \\u escape of a lone trailing surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw syntax("\\u escape of no character") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    at -= 1
                    throw syntax("unknown escape \\\(found())")
                }
            case 0x00..<0x20:
                throw syntax("control character 0x\(String(c, radix: 16)) in a string (it must be escaped)")
            default:
                out.append(c)
                at += 1
            }
        }
    }

    private mutating func hex4() throws(NpyError) -> UInt16 {
        var v: UInt16 = 0
        for _ in 0..<4 {
            guard at < bytes.count else { throw syntax("a \\u escape needs 4 hex digits") }
            let c = bytes[at], d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw syntax("a \\u escape needs 4 hex digits, found \(found())")
            }
            v = v << 4 | UInt16(d)
            at += 1
        }
        return v
    }

    /// A number as JSON writes one: its text, sign, whether it is an integer (no fraction or
    /// exponent) and, for an integer, its magnitude (nil past UInt64).
    struct Number { var text: String; var negative: Bool; var isInteger: Bool; var magnitude: UInt64? }

    mutating func number(what: String = "a value") throws(NpyError) -> Number {
        _ = peek()
        let start = at
        func digit(_ i: Int) -> Bool { i < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) }
        let negative = at < bytes.count && bytes[at] == UInt8(ascii: "-")
        if negative { at += 1 }
        guard digit(at) else {
            if negative { throw syntax("expected digits after '-', found \(found())") }
            throw syntax("expected a number (\(what)), found \(found())")
        }
        var magnitude: UInt64? = 0
        if bytes[at] == UInt8(ascii: "0") {
            at += 1
            guard !digit(at) else { throw syntax("a number with a leading zero") }
        } else {
            while digit(at) {
                if let m = magnitude {
                    let (p, o1) = m.multipliedReportingOverflow(by: 10)
                    let (q, o2) = p.addingReportingOverflow(UInt64(bytes[at] - UInt8(ascii: "0")))
                    magnitude = o1 || o2 ? nil : q
                }
                at += 1
            }
        }
        var isInteger = true
        if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
            at += 1
            guard digit(at) else { throw syntax("expected digits after '.', found \(found())") }
            while digit(at) { at += 1 }
            isInteger = false
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
            at += 1
            if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
            guard digit(at) else { throw syntax("expected digits in an exponent, found \(found())") }
            while digit(at) { at += 1 }
            isInteger = false
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
        return Number(text: text, negative: negative, isInteger: isInteger, magnitude: isInteger ? magnitude : nil)
    }

    /// Checks and passes over one value of any kind.
    mutating func skipValue() throws(NpyError) {
        switch peek() {
        case UInt8(ascii: "{"):
            var state = try beginObject()
            while try nextMember(&state) != nil { try skipValue() }
        case UInt8(ascii: "["):
            var state = try beginArray()
            while try nextElement(&state) { try skipValue() }
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try number()
        }
    }
}
