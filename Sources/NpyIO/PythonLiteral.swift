/// The subset of Python literal syntax that a `.npy` header can hold, parsed strictly.
///
/// NumPy reads the header with `ast.literal_eval`; this parser accepts the same
/// literals a header can meaningfully contain (dicts, tuples, lists, strings, integers,
/// `True`/`False`/`None`) with Python's rules for whitespace and trailing commas, and
/// rejects everything else with the byte offset where parsing stopped. It is not a
/// general Python evaluator: no floats, no expressions, no string prefixes.
enum PythonLiteral: Equatable {
    case dict([(key: PythonLiteral, value: PythonLiteral)])
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    case string(String)
    case int(Int)
    /// A float literal, kept as written: headers never need its value, only to say
    /// it is not an int.
    case float(String)
    case bool(Bool)
    case none

    static func == (a: PythonLiteral, b: PythonLiteral) -> Bool {
        switch (a, b) {
        case let (.dict(x), .dict(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.tuple(x), .tuple(y)), let (.list(x), .list(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.float(x), .float(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.none, .none): return true
        default: return false
        }
    }

    /// Python's `repr` of the value, used in error messages so they read like NumPy's.
    var pythonRepr: String {
        switch self {
        case .dict(let items):
            return "{" + items.map { "\($0.key.pythonRepr): \($0.value.pythonRepr)" }.joined(separator: ", ") + "}"
        case .tuple(let xs):
            return xs.count == 1 ? "(\(xs[0].pythonRepr),)" : "(" + xs.map(\.pythonRepr).joined(separator: ", ") + ")"
        case .list(let xs): return "[" + xs.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .string(let s):
            var out = "'"
            for ch in s.unicodeScalars {
                switch ch {
                case "\\": out += "\\\\"
                case "'": out += "\\'"
                case "\n": out += "\\n"
                default:
                    if ch.value < 0x20 || ch.value == 0x7f { out += "\\x" + String(ch.value, radix: 16).leftPadded(to: 2) }
                    else { out.unicodeScalars.append(ch) }
                }
            }
            return out + "'"
        case .int(let v): return String(v)
        case .float(let text): return text
        case .bool(let b): return b ? "True" : "False"
        case .none: return "None"
        }
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

/// A syntax error in a header literal: where it happened (byte offset in the header) and why.
struct PythonLiteralSyntaxError: Error {
    var offset: Int
    var message: String
}

/// Recursive-descent parser over the header's bytes.
struct PythonLiteralParser {
    private let bytes: [UInt8]
    private var pos = 0
    private var depth = 0
    /// Python 2 wrote `3L` for longs; NumPy strips the suffix for format 1.0 and 2.0 files.
    private let allowLongSuffix: Bool
    /// Nesting limit: a header is at most three levels deep; this only stops a hostile
    /// header from exhausting the stack.
    private static let maxDepth = 32

    init(_ bytes: [UInt8], allowLongSuffix: Bool) {
        self.bytes = bytes
        self.allowLongSuffix = allowLongSuffix
    }

    /// Parses exactly one literal; only whitespace may follow it.
    static func parse(_ bytes: [UInt8], allowLongSuffix: Bool = false) throws -> PythonLiteral {
        var p = PythonLiteralParser(bytes, allowLongSuffix: allowLongSuffix)
        p.skipSpace()
        let value = try p.value()
        p.skipSpace()
        if p.pos != p.bytes.count { throw p.fail("unexpected \(p.describeHere()) after the literal") }
        return value
    }

    private func fail(_ message: String) -> PythonLiteralSyntaxError {
        PythonLiteralSyntaxError(offset: pos, message: message)
    }

    private func describeHere() -> String {
        guard pos < bytes.count else { return "end of header" }
        let b = bytes[pos]
        return (0x21...0x7e).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x" + String(b, radix: 16).leftPadded(to: 2)
    }

    private mutating func skipSpace() {
        // Inside brackets Python also allows newlines and backslash continuations; the
        // header is a single logical line, so all of these are plain whitespace here.
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0a, 0x0d, 0x0c: pos += 1
            case 0x5c where pos + 1 < bytes.count && bytes[pos + 1] == 0x0a: pos += 2
            default: return
            }
        }
    }

    private mutating func value() throws -> PythonLiteral {
        guard pos < bytes.count else { throw fail("unexpected end of header, expected a value") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try container(close: UInt8(ascii: "}"), isDict: true)
        case UInt8(ascii: "("): return try container(close: UInt8(ascii: ")"), isDict: false)
        case UInt8(ascii: "["): return try container(close: UInt8(ascii: "]"), isDict: false)
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"): return try number()
        default:
            if let word = identifier() {
                switch word {
                case "True": return .bool(true)
                case "False": return .bool(false)
                case "None": return .none
                default:
                    pos -= word.utf8.count
                    throw fail("'\(word)' is not a literal")
                }
            }
            throw fail("unexpected \(describeHere()), expected a value")
        }
    }

    private mutating func identifier() -> String? {
        let start = pos
        while pos < bytes.count, bytes[pos] == UInt8(ascii: "_") || (bytes[pos] | 0x20 >= UInt8(ascii: "a") && bytes[pos] | 0x20 <= UInt8(ascii: "z")) { pos += 1 }
        return pos > start ? String(decoding: bytes[start..<pos], as: UTF8.self) : nil
    }

    /// `{k: v, ...}`, `(a, b, ...)`, `[a, ...]`, each with an optional trailing comma.
    /// `(a)` is a parenthesised value, not a tuple, as in Python.
    private mutating func container(close: UInt8, isDict: Bool) throws -> PythonLiteral {
        let open = bytes[pos]
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maxDepth { throw fail("literal nested deeper than \(Self.maxDepth) levels") }
        pos += 1
        var items: [PythonLiteral] = []
        var pairs: [(key: PythonLiteral, value: PythonLiteral)] = []
        var sawComma = false
        while true {
            skipSpace()
            guard pos < bytes.count else { throw fail("unexpected end of header, expected '\(Character(Unicode.Scalar(close)))'") }
            if bytes[pos] == close { pos += 1; break }
            if !items.isEmpty || !pairs.isEmpty {
                guard bytes[pos] == UInt8(ascii: ",") else {
                    throw fail("unexpected \(describeHere()), expected ',' or '\(Character(Unicode.Scalar(close)))'")
                }
                pos += 1
                sawComma = true
                skipSpace()
                if pos < bytes.count, bytes[pos] == close { pos += 1; break }
            }
            let v = try value()
            skipSpace()
            if isDict {
                guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else {
                    throw fail("unexpected \(describeHere()), expected ':' after a dict key")
                }
                pos += 1
                skipSpace()
                let item = try value()
                switch v {
                case .dict, .list: throw fail("unhashable dict key \(v.pythonRepr)")
                default: break
                }
                pairs.append((v, item))
            } else {
                items.append(v)
            }
        }
        if isDict {
            // Python keeps the last value of a repeated key, at the first key's position.
            // (Looked up by repr, which is one string per distinct literal: linear, not quadratic.)
            var unique: [(key: PythonLiteral, value: PythonLiteral)] = []
            var position: [String: Int] = [:]
            for p in pairs {
                let repr = p.key.pythonRepr
                if let i = position[repr] { unique[i].value = p.value } else { position[repr] = unique.count; unique.append(p) }
            }
            return .dict(unique)
        }
        if open == UInt8(ascii: "(") {
            return (items.count == 1 && !sawComma) ? items[0] : .tuple(items)
        }
        return .list(items)
    }

    /// A single- or double-quoted string with the common escapes. Triple quotes and
    /// prefixes (b'', r'') never occur in headers NumPy writes and are rejected.
    private mutating func string() throws -> String {
        let quote = bytes[pos]
        let start = pos
        pos += 1
        var out: [UInt8] = []
        while true {
            guard pos < bytes.count else { pos = start; throw fail("unterminated string") }
            let b = bytes[pos]
            if b == quote { pos += 1; break }
            if b == 0x0a { throw fail("newline inside a string") }
            if b == UInt8(ascii: "\\") {
                guard pos + 1 < bytes.count else { pos = start; throw fail("unterminated string") }
                let e = bytes[pos + 1]
                switch e {
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): out.append(e)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "0"): out.append(0)
                default: throw fail("unsupported escape '\\\(Character(Unicode.Scalar(e)))' in a string")
                }
                pos += 2
                continue
            }
            out.append(b)
            pos += 1
        }
        // Header bytes were already checked to be valid for the format's encoding.
        return String(decoding: out, as: UTF8.self)
    }

    /// A decimal integer (with Python's optional unary sign and `_` separators), or a
    /// simple float (`2.0`, `1e3`, `-0.5`).
    private mutating func number() throws -> PythonLiteral {
        let start = pos
        var negative = false
        while pos < bytes.count, bytes[pos] == UInt8(ascii: "-") || bytes[pos] == UInt8(ascii: "+") {
            if bytes[pos] == UInt8(ascii: "-") { negative.toggle() }
            pos += 1
            skipSpace()
        }
        guard pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) else {
            throw fail("unexpected \(describeHere()), expected digits")
        }
        let digitsStart = pos
        var magnitude: UInt64 = 0
        var overflow = false
        var lastWasUnderscore = false
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "_") {
                if lastWasUnderscore || pos == digitsStart { throw fail("invalid '_' in an integer") }
                lastWasUnderscore = true
                pos += 1
                continue
            }
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) else { break }
            lastWasUnderscore = false
            let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (m2, o2) = m1.addingReportingOverflow(UInt64(b - UInt8(ascii: "0")))
            overflow = overflow || o1 || o2
            magnitude = m2
            pos += 1
        }
        if lastWasUnderscore { throw fail("invalid '_' in an integer") }
        // Python forbids leading zeros in non-zero decimal literals ("007").
        if bytes[digitsStart] == UInt8(ascii: "0"), magnitude != 0 { pos = digitsStart; throw fail("leading zeros in an integer") }
        if allowLongSuffix, pos < bytes.count, bytes[pos] == UInt8(ascii: "L") || bytes[pos] == UInt8(ascii: "l") { pos += 1 }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") || bytes[pos] | 0x20 == UInt8(ascii: "e") {
            if bytes[pos] == UInt8(ascii: ".") {
                pos += 1
                while pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) { pos += 1 }
            }
            if pos < bytes.count, bytes[pos] | 0x20 == UInt8(ascii: "e") {
                pos += 1
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") || bytes[pos] == UInt8(ascii: "+") { pos += 1 }
                let expStart = pos
                while pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) { pos += 1 }
                if pos == expStart { throw fail("malformed exponent in a number") }
            }
            let text = String(decoding: bytes[start..<pos], as: UTF8.self).filter { $0 != " " && $0 != "_" }
            return .float(text)
        }
        if pos < bytes.count, bytes[pos] | 0x20 == UInt8(ascii: "x") || bytes[pos] | 0x20 == UInt8(ascii: "j") || bytes[pos] | 0x20 == UInt8(ascii: "o") || bytes[pos] | 0x20 == UInt8(ascii: "b") {
            throw fail("only decimal integers and floats are allowed here")
        }
        let limit: UInt64 = negative ? UInt64(Int.max) + 1 : UInt64(Int.max)
        if overflow || magnitude > limit {
            pos = start
            throw fail("integer \(String(decoding: bytes[start..<min(start + 40, bytes.count)], as: UTF8.self)) does not fit in 64 bits")
        }
        return .int(negative ? Int(truncatingIfNeeded: 0 &- magnitude) : Int(magnitude))
    }
}
