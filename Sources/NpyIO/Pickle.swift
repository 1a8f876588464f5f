/// A symbolic reader of Python pickles (protocols 2 to 5, and the binary opcodes of 1), for
/// the weight files PyTorch writes. The pickle is data, never code: a GLOBAL only names a
/// callable, REDUCE/NEWOBJ only record "this callable with these arguments", nothing is
/// resolved or run. The few calls a state dict is made of are interpreted (`dict`,
/// `OrderedDict`, `set`, `torch.Size`, `_codecs.encode`); every other one stays an inert
/// `call` value, which the format layer (torch's rebuild functions) reads or ignores.
///
/// Hostile input ends in `NpyError`, never a trap, a hang or unbounded memory: the text
/// opcodes of protocol 0 (`INST`, `PERSID`, `EXT*`, text numbers and strings) are refused,
/// pops never cross a MARK, STOP needs exactly one value, APPEND needs a list, SETITEM a
/// dict; the stack, the marks, the memo (a dictionary: indices reach 2³²−1) and the number of
/// container elements are bounded; every length is checked against the bytes left.
/// Every composite value (tuple, list, dict, set, call, persistent id) is a reference box (a
/// list is appended to after it is memoised); the reader keeps every box it made, and
/// `PickleBoxes.sever()` empties them when the caller is done, so releasing a deeply nested
/// or cyclic structure never recurses.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int64)
    /// An integer beyond 64 bits: its little-endian two's-complement bytes (LONG1/LONG4).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PickleBox)
    case list(PickleBox)
    case dict(PickleBox)
    case set(PickleBox)
    /// A callable by name (`module.name`), never resolved.
    case global(module: String, name: String)
    /// `callee(*args)` as REDUCE or NEWOBJ recorded it: `parts` holds the callee, then the
    /// arguments; BUILD appends its state as a last element of `state`.
    case call(parts: PickleBox, state: PickleBox?)
    /// A persistent id (BINPERSID): how torch refers to a tensor storage (one element).
    case persistent(PickleBox)

    /// `module.name` when the value is a GLOBAL.
    var globalName: String? {
        if case let .global(m, n) = self { return m + "." + n }
        return nil
    }

    var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    var intValue: Int64? {
        switch self {
        case let .int(i): return i
        case let .bool(b): return b ? 1 : 0
        default: return nil
        }
    }

    var tupleItems: [PickleValue]? {
        switch self {
        case let .tuple(box), let .list(box): return box.items
        default: return nil
        }
    }

    /// The callee and the arguments of a call.
    var callParts: (callee: PickleValue, args: ArraySlice<PickleValue>)? {
        guard case let .call(parts, _) = self, let callee = parts.items.first else { return nil }
        return (callee, parts.items.dropFirst())
    }
}

/// A mutable container of a pickle: a list's items, a dict's key/value pairs (in insertion
/// order; `items` holds keys and values alternately), a set's members, or a BUILD state.
final class PickleBox {
    var items: [PickleValue] = []
    init(_ items: [PickleValue] = []) { self.items = items }

    /// A dict's pairs.
    var pairs: [(key: PickleValue, value: PickleValue)] {
        stride(from: 0, to: items.count - 1, by: 2).map { (items[$0], items[$0 + 1]) }
    }
}

/// Limits of the symbolic reader; defaults far above what a checkpoint needs (VGG19's
/// state dict: ~40 entries; a TorchScript CLIP: a few thousand objects).
struct PickleLimits {
    var stack = 1 << 20
    var marks = 1 << 16
    var memo = 1 << 20
    /// Container elements in all (list items, dict keys and values, tuple and set members).
    var elements = 1 << 24
}

/// One pickle at `start` of `bytes`: the value and where the pickle ended (after STOP).
struct PickleReader {
    private let b: UnsafeRawBufferPointer
    private var pos: Int
    private let limits: PickleLimits
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [UInt32: PickleValue] = [:]
    private var elements = 0
    /// Every box made, to sever their contents at the end (no recursive release).
    private var boxes: [PickleBox] = []
    /// The persistent ids, in the order they were read (torch's legacy stream needs every
    /// storage's type to find the storages after the pickles).
    private var persistent: [PickleValue] = []

    /// Reads the pickle starting at `start`; `end` is the offset just after its STOP. The
    /// value's boxes stay valid: the caller calls `release(_:)` on the reader's boxes when done.
    static func read(_ bytes: UnsafeRawBufferPointer, at start: Int = 0, limits: PickleLimits = .init())
        throws(NpyError) -> (value: PickleValue, end: Int, boxes: PickleBoxes) {
        var r = PickleReader(b: bytes, pos: start, limits: limits)
        do throws(NpyError) {
            let v = try r.run()
            return (v, r.pos, PickleBoxes(boxes: r.boxes, persistent: r.persistent))
        } catch {
            // A pickle that fails half-way may have made cycles (a list appended to itself):
            // severed here, or they would leak.
            PickleBoxes(boxes: r.boxes, persistent: []).sever()
            throw error
        }
    }

    private init(b: UnsafeRawBufferPointer, pos: Int, limits: PickleLimits) {
        self.b = b
        self.pos = pos
        self.limits = limits
    }

    private func fail(_ message: String, at: Int? = nil) -> NpyError {
        NpyError(.pickle(message: message), offset: at ?? pos)
    }

    // MARK: Bytes

    private mutating func take(_ n: Int, _ what: String) throws(NpyError) -> UnsafeRawBufferPointer {
        guard n >= 0, b.count - pos >= n else {
            throw NpyError(.truncated(reading: "pickle \(what)", expected: n, got: max(0, b.count - pos)), offset: pos)
        }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: b[pos..<(pos + n)])
    }

    private mutating func u8() throws(NpyError) -> Int { Int(try take(1, "argument")[0]) }

    private mutating func le(_ n: Int) throws(NpyError) -> UInt64 {
        let s = try take(n, "argument")
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(s[i]) }
        return v
    }

    /// A length of `n` bytes, checked against what is left.
    private mutating func length(_ n: Int) throws(NpyError) -> Int {
        let at = pos
        let v = try le(n)
        guard v <= UInt64(b.count - pos) else {
            throw NpyError(.truncated(reading: "pickle data", expected: Int(clamping: v), got: b.count - pos), offset: at)
        }
        return Int(v)
    }

    private mutating func text(_ n: Int) throws(NpyError) -> String {
        let at = pos
        guard let s = String(validating: try take(n, "string"), as: UTF8.self) else {
            throw fail("a string is not valid UTF-8", at: at)
        }
        return s
    }

    /// A newline-terminated ASCII line (GLOBAL's module and name), at most 256 bytes.
    private mutating func line() throws(NpyError) -> String {
        let at = pos
        var end = pos
        while end < b.count, b[end] != 0x0A, end - pos < 256 { end += 1 }
        guard end < b.count, b[end] == 0x0A else { throw fail("a GLOBAL name is not a line of at most 256 bytes", at: at) }
        let bytes = UnsafeRawBufferPointer(rebasing: b[pos..<end])
        pos = end + 1
        guard bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { throw fail("a GLOBAL name is not printable ASCII", at: at) }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Stack

    private mutating func push(_ v: PickleValue) throws(NpyError) {
        guard stack.count < limits.stack else { throw fail("more than \(limits.stack) values on the stack") }
        stack.append(v)
    }

    private mutating func pop() throws(NpyError) -> PickleValue {
        guard let last = stack.last, stack.count > (marks.last ?? 0) else { throw fail("pop from an empty stack (or across a MARK)") }
        stack.removeLast()
        return last
    }

    /// The values above the topmost MARK, and the mark removed.
    private mutating func popMark() throws(NpyError) -> [PickleValue] {
        guard let m = marks.popLast() else { throw fail("no MARK to pop to") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func count(_ n: Int) throws(NpyError) {
        elements += n
        guard elements <= limits.elements else { throw fail("more than \(limits.elements) container elements") }
    }

    private mutating func box(_ items: [PickleValue] = []) throws(NpyError) -> PickleBox {
        try count(items.count)
        let box = PickleBox(items)
        boxes.append(box)
        return box
    }

    private mutating func memoize(_ key: UInt32) throws(NpyError) {
        guard let top = stack.last, stack.count > (marks.last ?? 0) else { throw fail("memoize with an empty stack") }
        guard memo.count < limits.memo || memo[key] != nil else { throw fail("more than \(limits.memo) memo entries") }
        memo[key] = top
    }

    private mutating func recall(_ key: UInt32) throws(NpyError) {
        guard let v = memo[key] else { throw fail("memo entry \(key) was never stored") }
        try push(v)
    }

    // MARK: Interpretation of the few calls a state dict is made of

    private mutating func call(_ callee: PickleValue, _ args: [PickleValue]) throws(NpyError) -> PickleValue {
        switch callee.globalName {
        case "collections.OrderedDict", "builtins.dict", "collections.Counter":
            // OrderedDict() or, from Python 2, OrderedDict([[k, v], ...]).
            let d = try box()
            if let first = args.first, let pairs = first.tupleItems {
                for p in pairs {
                    guard let kv = p.tupleItems, kv.count == 2 else { throw fail("OrderedDict items are not pairs") }
                    try count(2)
                    d.items += kv
                }
            }
            return .dict(d)
        case "builtins.set", "builtins.frozenset":
            return .set(try box(args.first?.tupleItems ?? []))
        case "builtins.bytearray":
            // protocols 2 to 4: bytearray(b'...') (or bytearray() for an empty one).
            if args.isEmpty { return .bytes([]) }
            if args.count == 1, case let .bytes(b) = args[0] { return .bytes(b) }
            return .call(parts: try box([callee] + args), state: nil)
        case "torch.Size":
            return .tuple(try box(args.first?.tupleItems ?? []))
        case "_codecs.encode":
            // bytes pickled by protocol 2: encode(str, 'latin1').
            guard args.count == 2, let s = args[0].stringValue else { return .call(parts: try box([callee] + args), state: nil) }
            return .bytes(s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        default:
            return .call(parts: try box([callee] + args), state: nil)
        }
    }

    // MARK: The machine

    private mutating func run() throws(NpyError) -> PickleValue {
        while true {
            let at = pos
            let op = try u8()
            switch op {
            case 0x80:  // PROTO
                let v = try u8()
                guard (2...5).contains(v) else { throw fail("pickle protocol \(v) is not supported (2 to 5 are)", at: at) }
            case 0x95: _ = try le(8)  // FRAME: a length hint only
            case 0x2E:  // STOP
                guard marks.isEmpty, stack.count == 1 else { throw fail("STOP with \(stack.count) values on the stack", at: at) }
                return stack[0]
            case 0x28:  // MARK
                guard marks.count < limits.marks else { throw fail("more than \(limits.marks) MARKs", at: at) }
                marks.append(stack.count)
            case 0x30: _ = try pop()  // POP
            case 0x31: _ = try popMark()  // POP_MARK
            case 0x32:  // DUP
                let v = try pop()
                try push(v)
                try push(v)
            // Numbers
            case 0x4A: try push(.int(Int64(Int32(bitPattern: UInt32(try le(4))))))  // BININT
            case 0x4B: try push(.int(Int64(try u8())))  // BININT1
            case 0x4D: try push(.int(Int64(try le(2))))  // BININT2
            case 0x8A, 0x8B:  // LONG1, LONG4
                let n = try length(op == 0x8A ? 1 : 4)
                let bytes = Array(try take(n, "integer"))
                if n == 0 { try push(.int(0)) } else if n <= 8 {
                    var v: UInt64 = 0
                    for i in (0..<n).reversed() { v = v << 8 | UInt64(bytes[i]) }
                    if n < 8, bytes[n - 1] & 0x80 != 0 { v |= ~0 << UInt64(8 * n) }   // sign-extend
                    try push(.int(Int64(bitPattern: v)))
                } else { try push(.bigInt(bytes)) }
            case 0x47:  // BINFLOAT, big-endian
                let s = try take(8, "float")
                var v: UInt64 = 0
                for i in 0..<8 { v = v << 8 | UInt64(s[i]) }
                try push(.float(Double(bitPattern: v)))
            case 0x4E: try push(.none)
            case 0x88: try push(.bool(true))
            case 0x89: try push(.bool(false))
            // Strings and bytes
            case 0x8C: try push(.string(try text(try length(1))))  // SHORT_BINUNICODE
            case 0x58: try push(.string(try text(try length(4))))  // BINUNICODE
            case 0x8D: try push(.string(try text(try length(8))))  // BINUNICODE8
            case 0x55, 0x54:  // SHORT_BINSTRING, BINSTRING (Python 2 str: bytes, read as Latin-1)
                let s = try take(try length(op == 0x55 ? 1 : 4), "string")
                try push(.string(String(s.map { Character(Unicode.Scalar($0)) })))
            case 0x43: try push(.bytes(Array(try take(try length(1), "bytes"))))  // SHORT_BINBYTES
            case 0x42: try push(.bytes(Array(try take(try length(4), "bytes"))))  // BINBYTES
            case 0x8E, 0x96: try push(.bytes(Array(try take(try length(8), "bytes"))))  // BINBYTES8, BYTEARRAY8
            // Containers
            case 0x29: try push(.tuple(try box()))  // EMPTY_TUPLE
            case 0x74: try push(.tuple(try box(try popMark())))  // TUPLE
            case 0x85, 0x86, 0x87:  // TUPLE1..3
                var items: [PickleValue] = []
                for _ in 0..<Int(op - 0x84) { items.insert(try pop(), at: 0) }
                try push(.tuple(try box(items)))
            case 0x5D: try push(.list(try box()))  // EMPTY_LIST
            case 0x6C: try push(.list(try box(try popMark())))  // LIST
            case 0x7D: try push(.dict(try box()))  // EMPTY_DICT
            case 0x64:  // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("DICT with an odd number of items", at: at) }
                try push(.dict(try box(items)))
            case 0x8F: try push(.set(try box()))  // EMPTY_SET
            case 0x91: try push(.set(try box(try popMark())))  // FROZENSET
            case 0x61, 0x65:  // APPEND, APPENDS
                let items = op == 0x61 ? [try pop()] : try popMark()
                guard case let .list(l)? = stack.last, stack.count > (marks.last ?? 0) else { throw fail("APPEND to something that is not a list", at: at) }
                try count(items.count)
                l.items += items
            case 0x73, 0x75:  // SETITEM, SETITEMS
                var items: [PickleValue]
                if op == 0x73 {
                    let v = try pop(), k = try pop()
                    items = [k, v]
                } else { items = try popMark() }
                guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items", at: at) }
                guard case let .dict(d)? = stack.last, stack.count > (marks.last ?? 0) else { throw fail("SETITEM on something that is not a dict", at: at) }
                try count(items.count)
                d.items += items
            case 0x90:  // ADDITEMS
                let items = try popMark()
                guard case let .set(s)? = stack.last, stack.count > (marks.last ?? 0) else { throw fail("ADDITEMS to something that is not a set", at: at) }
                try count(items.count)
                s.items += items
            // Memo
            case 0x71: try memoize(UInt32(try u8()))  // BINPUT
            case 0x72: try memoize(UInt32(try le(4)))  // LONG_BINPUT
            case 0x94: try memoize(UInt32(truncatingIfNeeded: memo.count))  // MEMOIZE
            case 0x68: try recall(UInt32(try u8()))  // BINGET
            case 0x6A: try recall(UInt32(try le(4)))  // LONG_BINGET
            // Names and calls (recorded, never resolved)
            case 0x63:  // GLOBAL
                var module = try line()
                let name = try line()
                if module == "__builtin__" { module = "builtins" }
                try push(.global(module: module, name: name))
            case 0x93:  // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case let .string(n) = name, case var .string(m) = module else { throw fail("STACK_GLOBAL of non-strings", at: at) }
                if m == "__builtin__" { m = "builtins" }
                try push(.global(module: m, name: n))
            case 0x52:  // REDUCE
                let args = try pop(), callee = try pop()
                guard let items = args.tupleItems else { throw fail("REDUCE arguments are not a tuple", at: at) }
                try push(try call(callee, items))
            case 0x81:  // NEWOBJ
                let args = try pop(), cls = try pop()
                guard let items = args.tupleItems else { throw fail("NEWOBJ arguments are not a tuple", at: at) }
                try push(try call(cls, items))
            case 0x92:  // NEWOBJ_EX
                _ = try pop()
                let args = try pop(), cls = try pop()
                guard let items = args.tupleItems else { throw fail("NEWOBJ_EX arguments are not a tuple", at: at) }
                try push(try call(cls, items))
            case 0x62:  // BUILD: the state is recorded on the object, never applied
                let state = try pop()
                let target = try pop()
                switch target {
                case let .call(parts, _): try push(.call(parts: parts, state: try box([state])))
                case .dict, .list, .set: try push(target)   // OrderedDict's `_metadata` and the like
                default: throw fail("BUILD on a \(Self.kind(target))", at: at)
                }
            case 0x51:  // BINPERSID
                let id = try pop()
                persistent.append(id)
                try push(.persistent(try box([id])))
            default:
                let names: [UInt8: String] = [0x49: "INT", 0x4C: "LONG", 0x53: "STRING", 0x56: "UNICODE", 0x46: "FLOAT",
                                              0x67: "GET", 0x70: "PUT", 0x69: "INST", 0x6F: "OBJ", 0x50: "PERSID",
                                              0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER"]
                if let name = names[UInt8(op)] { throw fail("opcode \(name) is not accepted (protocol-0 text and out-of-band opcodes are refused)", at: at) }
                throw fail("unknown opcode 0x\(String(op, radix: 16))", at: at)
            }
        }
    }

    static func kind(_ v: PickleValue) -> String {
        switch v {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .set: return "set"
        case let .global(m, n): return "global \(m).\(n)"
        case .call: return "call"
        case .persistent: return "persistent id"
        }
    }
}

/// The boxes a pickle made; `sever()` empties each one so that releasing them never recurses
/// (a 100,000-deep list would otherwise overflow the stack in its deinit chain).
struct PickleBoxes {
    let boxes: [PickleBox]
    /// Every persistent id's value (the pid tuple), in reading order.
    let persistent: [PickleValue]
    func sever() { for b in boxes { b.items = [] } }
}
