import Foundation

/// A JSON value with object keys kept in file order (MMagic configs are read in order:
/// terms are reported, and same-named terms summed, in the order they were written).
public enum ConfigValue: Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([ConfigValue])
    case object([(key: String, value: ConfigValue)])

    public static func == (a: ConfigValue, b: ConfigValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// The member `key` of an object (nil for a missing key or a non-object).
    public subscript(key: String) -> ConfigValue? {
        if case let .object(members) = self { return members.first { $0.key == key }?.value }
        return nil
    }

    /// The number as a Double, for ints and doubles.
    public var numberValue: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }

    /// A one-word name of the JSON kind, for error messages.
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a bool"
        case .int: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    /// What an error says was found: the kind, and the value itself when it is short
    /// (`a string "1"`, `a bool true`, `null`, `a list of 3 items`), so one line stays one
    /// readable line whatever the config holds.
    public var foundText: String {
        switch self {
        case .null: return "null"
        case let .array(items): return "a list of \(items.count) item\(items.count == 1 ? "" : "s")"
        case .object: return "an object"
        case let .string(text) where text.count > 60: return "a string \(ConfigValue.quoted(String(text.prefix(60))))..."
        default: return "\(kindName) \(description)"
        }
    }

    /// Compact JSON text (used in error messages and `describe`).
    public var description: String {
        switch self {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .int(i): return String(i)
        case let .double(d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
            return "\(d)"
        case let .string(s): return ConfigValue.quoted(s)
        case let .array(items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case let .object(members):
            return "{" + members.map { ConfigValue.quoted($0.key) + ": " + $0.value.description }
                .joined(separator: ", ") + "}"
        }
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

/// A JSON syntax error, with the 1-based line and column where it was found.
public struct ConfigSyntaxError: Error, CustomStringConvertible, Equatable {
    public var line: Int
    public var column: Int
    public var message: String
    public var description: String { "invalid JSON at line \(line), column \(column): \(message)" }
}

extension ConfigValue {
    /// Parses strict JSON (RFC 8259): no comments, no trailing commas, no NaN; duplicate keys
    /// are an error (which one MMagic would keep is not defined). Integers without fraction or
    /// exponent that fit in `Int` become `.int`, every other number `.double`.
    public static func parse(jsonText: String) throws -> ConfigValue {
        var parser = JSONParser(bytes: Array(jsonText.utf8))
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.pos < parser.bytes.count { throw parser.error("unexpected text after the JSON value") }
        return value
    }
}

/// A recursive-descent JSON reader over UTF-8 bytes; nesting is limited so that a hostile
/// file cannot exhaust the stack.
private struct JSONParser {
    static let maxDepth = 256
    let bytes: [UInt8]
    var pos = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ message: String, at offset: Int? = nil) -> ConfigSyntaxError {
        let end = min(offset ?? pos, bytes.count)
        var line = 1, lineStart = 0
        for i in 0..<end where bytes[i] == UInt8(ascii: "\n") { line += 1; lineStart = i + 1 }
        // Columns count characters, not bytes: skip UTF-8 continuation bytes.
        let column = 1 + bytes[lineStart..<end].filter { $0 & 0xC0 != 0x80 }.count
        return ConfigSyntaxError(line: line, column: column, message: message)
    }

    mutating func skipWhitespace() {
        while pos < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[pos]) { pos += 1 }
    }

    var current: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    func describeCurrent() -> String {
        guard let c = current else { return "end of input" }
        if c >= 0x20 && c < 0x7F { return "'\(Character(UnicodeScalar(c)))'" }
        return String(format: "byte 0x%02X", c)
    }

    mutating func parseValue(depth: Int) throws -> ConfigValue {
        guard depth < JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
        guard let c = current else { throw error("expected a value, found end of input") }
        switch c {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("expected a value, found \(describeCurrent())")
        }
    }

    mutating func expectWord(_ word: String) throws {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<pos + w.count]) == w else {
            throw error("expected a value, found \(describeCurrent())")
        }
        pos += w.count
    }

    mutating func parseObject(depth: Int) throws -> ConfigValue {
        pos += 1
        var members: [(key: String, value: ConfigValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if current == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a quoted key, found \(describeCurrent())") }
            let keyStart = pos
            let key = try parseString()
            guard seen.insert(key).inserted else { throw error("duplicate key \(ConfigValue.quoted(key))", at: keyStart) }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after key, found \(describeCurrent())") }
            pos += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: depth + 1)))
            skipWhitespace()
            if current == UInt8(ascii: ",") { pos += 1; continue }
            if current == UInt8(ascii: "}") { pos += 1; return .object(members) }
            throw error("expected ',' or '}' in object, found \(describeCurrent())")
        }
    }

    mutating func parseArray(depth: Int) throws -> ConfigValue {
        pos += 1
        var items: [ConfigValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            if current == UInt8(ascii: ",") { pos += 1; continue }
            if current == UInt8(ascii: "]") { pos += 1; return .array(items) }
            throw error("expected ',' or ']' in list, found \(describeCurrent())")
        }
    }

    mutating func parseHex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[pos]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v * 16 + d
            pos += 1
        }
        return v
    }

    mutating func parseString() throws -> String {
        let start = pos
        pos += 1
        var scalars = String.UnicodeScalarView()
        var run = pos  // start of a run of plain bytes, decoded as UTF-8 at once
        func flush(_ p: inout JSONParser, to end: Int) throws {
            guard run < end else { return }
            guard let s = String(validating: p.bytes[run..<end], as: UTF8.self) else {
                throw p.error("invalid UTF-8 in string", at: run)
            }
            scalars.append(contentsOf: s.unicodeScalars)
        }
        while true {
            guard let c = current else { throw error("unterminated string", at: start) }
            if c == UInt8(ascii: "\"") {
                try flush(&self, to: pos)
                pos += 1
                return String(scalars)
            }
            if c < 0x20 { throw error("control character in string (escape it)") }
            if c != UInt8(ascii: "\\") { pos += 1; continue }
            try flush(&self, to: pos)
            pos += 1
            guard let e = current else { throw error("unterminated string", at: start) }
            pos += 1
            switch e {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var v = try parseHex4()
                if (0xD800..<0xDC00).contains(v) {
                    guard pos + 6 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate in \\u escape")
                    }
                    pos += 2
                    let low = try parseHex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                    v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(v) {
                    throw error("unpaired surrogate in \\u escape")
                }
                guard let u = Unicode.Scalar(v) else { throw error("invalid \\u escape") }
                scalars.append(u)
            default:
                pos -= 1
                throw error("invalid escape \\\(describeCurrent())")
            }
            run = pos
        }
    }

    mutating func parseNumber() throws -> ConfigValue {
        let start = pos
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.pos
            while let c = p.current, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { p.pos += 1 }
            return p.pos - s
        }
        if current == UInt8(ascii: "-") { pos += 1 }
        let intStart = pos
        let intDigits = digits(&self)
        guard intDigits > 0 else { throw error("expected digits in number") }
        if intDigits > 1 && bytes[intStart] == UInt8(ascii: "0") { throw error("leading zero in number", at: intStart) }
        var isInteger = true
        if current == UInt8(ascii: ".") {
            pos += 1
            isInteger = false
            guard digits(&self) > 0 else { throw error("expected digits after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            pos += 1
            isInteger = false
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { pos += 1 }
            guard digits(&self) > 0 else { throw error("expected digits in exponent") }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }
        guard let d = Double(text), d.isFinite else { throw error("number \(text) is out of range", at: start) }
        return .double(d)
    }
}
