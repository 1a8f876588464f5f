/// The kind of scalar an array holds: NumPy's kind letter `b`, `i`, `u` or `f`, or bfloat16
/// (`bf`), which NumPy has no dtype for: it comes only from weight files (safetensors' BF16,
/// torch's BFloat16Storage), so a `.npy` header never names it and NpyIO never writes it.
public enum NpyScalarKind: String, Equatable, Sendable {
    case bool = "b", int = "i", uint = "u", float = "f"
    /// bfloat16: a float32's upper 16 bits (sign, 8 exponent bits, 7 mantissa bits).
    case bfloat16 = "bf"
}

/// Byte order of a multi-byte scalar in the file.
public enum NpyByteOrder: Equatable, Sendable {
    case little, big
    /// Single-byte scalars (`|`).
    case notApplicable

    /// The order this machine uses; `=` in a descr means this.
    public static var native: NpyByteOrder { 1.littleEndian == 1 ? .little : .big }
}

/// A numeric dtype as a `.npy` header's `descr` names it (`<f4`, `|b1`, `>i8`, ...).
public struct NpyDType: Equatable, Sendable {
    public var kind: NpyScalarKind
    /// Bytes per element: 1, 2, 4 or 8.
    public var itemSize: Int
    public var byteOrder: NpyByteOrder

    /// The descr exactly as NumPy writes it (`dtype.str`): `|` for one-byte types,
    /// `<` or `>` otherwise, never `=`. bfloat16 is shown `<bf16` (or `>bf16`), a name of
    /// losscli's own: no NumPy descr exists, `parse` refuses it and no header is written with it.
    public var descr: String {
        let order: String
        switch byteOrder {
        case .notApplicable: order = "|"
        case .little: order = "<"
        case .big: order = ">"
        }
        if kind == .bfloat16 { return order + "bf" + String(8 * itemSize) }
        return order + kind.rawValue + String(itemSize)
    }

    /// True for the combinations NpyIO handles: NumPy's (bool of 1 byte, ints of 1-8, floats
    /// of 2-8) and bfloat16 of 2.
    public var isValid: Bool {
        switch kind {
        case .bool: return itemSize == 1
        case .int, .uint: return [1, 2, 4, 8].contains(itemSize)
        case .float: return [2, 4, 8].contains(itemSize)
        case .bfloat16: return itemSize == 2
        }
    }

    /// True when NumPy has this dtype, so a `.npy`/`.npz` header can name it (not bfloat16).
    public var isNumPyDType: Bool { isValid && kind != .bfloat16 }

    /// Float16/32/64 or bfloat16.
    public var isFloatingPoint: Bool { kind == .float || kind == .bfloat16 }

    /// True when elements can be used without swapping bytes on this machine.
    public var isNativeOrder: Bool { byteOrder == .notApplicable || byteOrder == .native }

    /// A dtype; one-byte types get `.notApplicable` order whatever is passed.
    public init(kind: NpyScalarKind, itemSize: Int, byteOrder: NpyByteOrder = .little) {
        self.kind = kind
        self.itemSize = itemSize
        self.byteOrder = itemSize == 1 ? .notApplicable : (byteOrder == .notApplicable ? .native : byteOrder)
    }

    public static let bool = NpyDType(kind: .bool, itemSize: 1)
    public static let float16 = NpyDType(kind: .float, itemSize: 2)
    public static let float32 = NpyDType(kind: .float, itemSize: 4)
    public static let float64 = NpyDType(kind: .float, itemSize: 8)
    public static let bfloat16 = NpyDType(kind: .bfloat16, itemSize: 2)

    /// Parses a descr string the way `numpy.dtype(descr)` reads the simple numeric ones:
    /// an optional order character (`<`, `>`, `|`, `=`), a kind and a size in bytes, or a
    /// one-character type code (`?`, `b`, `B`, `h`, `H`, `i`, `I`, `l`, `L`, `q`, `Q`,
    /// `e`, `f`, `d`). Returns the reason as an error for every other dtype.
    public static func parse(_ descr: String) throws(NpyDTypeRefusal) -> NpyDType {
        var rest = Substring(descr)
        var order: NpyByteOrder = .native
        if let first = rest.first, "<>|=".contains(first) {
            switch first {
            case "<": order = .little
            case ">": order = .big
            default: order = .native
            }
            rest = rest.dropFirst()
        }
        guard let code = rest.first else { throw NpyDTypeRefusal(descr: descr, reason: "an empty type code") }
        if rest == "bf16" {
            throw NpyDTypeRefusal(descr: descr, reason: "bfloat16 is not a NumPy dtype (losscli reads it only from weight files)")
        }
        let sizeText = rest.dropFirst()
        if sizeText.isEmpty, let single = singleCharacterCodes[code] {
            return NpyDType(kind: single.0, itemSize: single.1, byteOrder: order)
        }
        let size = sizeText.isEmpty ? nil : Int(sizeText)
        switch code {
        case "b" where size == 1, "?" where size == 1:
            return NpyDType(kind: .bool, itemSize: 1, byteOrder: order)
        case "i", "u":
            if let s = size, [1, 2, 4, 8].contains(s) {
                return NpyDType(kind: code == "i" ? .int : .uint, itemSize: s, byteOrder: order)
            }
        case "f":
            if let s = size, [2, 4, 8].contains(s) { return NpyDType(kind: .float, itemSize: s, byteOrder: order) }
            if size == 12 || size == 16 {
                throw NpyDTypeRefusal(descr: descr, reason: "extended-precision floats (long double) have no portable layout")
            }
        case "O":
            throw NpyDTypeRefusal(descr: descr, reason: "object arrays hold pickled Python objects, which losscli never unpickles")
        case "S", "a", "U":
            throw NpyDTypeRefusal(descr: descr, reason: "string arrays are not numeric")
        case "V":
            throw NpyDTypeRefusal(descr: descr, reason: "void (raw or structured) arrays are not numeric")
        case "c":
            throw NpyDTypeRefusal(descr: descr, reason: "complex arrays have no real value a loss can use")
        case "M", "m":
            throw NpyDTypeRefusal(descr: descr, reason: "datetime and timedelta arrays are not numeric data")
        default:
            break
        }
        throw NpyDTypeRefusal(descr: descr, reason: "not a numeric NumPy dtype (expected bool, int8-64, uint8-64 or float16/32/64)")
    }

    private static let singleCharacterCodes: [Character: (NpyScalarKind, Int)] = [
        "?": (.bool, 1), "b": (.int, 1), "B": (.uint, 1), "h": (.int, 2), "H": (.uint, 2),
        "i": (.int, 4), "I": (.uint, 4), "l": (.int, 8), "L": (.uint, 8), "q": (.int, 8), "Q": (.uint, 8),
        "e": (.float, 2), "f": (.float, 4), "d": (.float, 8),
    ]
}

/// Why a descr was refused.
public struct NpyDTypeRefusal: Error, Equatable, Sendable {
    public var descr: String
    public var reason: String
}
