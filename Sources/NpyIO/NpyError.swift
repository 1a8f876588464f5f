/// Every failure NpyIO reports: what went wrong (`kind`) and where (file, archive member,
/// byte offset). Nothing read from a file ever traps; it ends here.
public struct NpyError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: Equatable, Sendable {
        // Files and the operating system.
        case cannotOpen(reason: String)
        case ioFailed(operation: String, reason: String)
        /// After following symbolic links, not a regular data file: "a named pipe (FIFO), ...".
        case notRegularFile(kind: String)
        /// An output's temporary file could not be made in the destination's folder.
        case cannotCreate(reason: String)
        case fileTooLarge(bytes: Int, limit: Int)
        /// A size claimed by the file (or what reading it needs) is more than may be allocated.
        case exceedsMemory(what: String, bytes: UInt64, budget: MemoryBudget)
        // The .npy format.
        case notNpy(foundPrefix: [UInt8])
        case unknownFormat(foundPrefix: [UInt8])
        case unsupportedVersion(major: UInt8, minor: UInt8)
        case truncated(reading: String, expected: Int, got: Int)
        case headerTooLarge(length: Int, limit: Int)
        case headerEncoding(encoding: String)
        case headerSyntax(message: String, headerOffset: Int)
        case headerNotDict(found: String)
        case headerKeys(found: [String])
        case invalidShape(found: String)
        case invalidFortranOrder(found: String)
        case invalidDescr(found: String)
        case unsupportedDType(descr: String, reason: String)
        case sizeOverflow(shape: [Int], itemSize: Int)
        // The .npz (ZIP) container.
        case notZip(reason: String)
        case zipStructure(message: String)
        case encryptedMember
        case unsupportedCompression(method: Int)
        case crcMismatch(expected: UInt32, found: UInt32)
        case inflateFailed(message: String)
        case sizeMismatch(expected: Int, found: Int)
        case duplicateMember(name: String)
        /// Two members' byte ranges overlap (a zip bomb's trick: many entries, one payload).
        case overlappingMembers(first: String, second: String)
        case noSuchMember(name: String, available: [String])
        // Pickles (PyTorch weight files).
        case pickle(message: String)
        /// A PyTorch checkpoint whose records or tensors are not what torch.save writes.
        case torchFormat(message: String)
        /// A safetensors file whose header or data is not what the format allows.
        case safetensors(message: String)
        /// A file that holds no named tensors (a single .npy array).
        case notWeightFile(found: String)
        // Writing.
        case invalidArray(message: String)
        case headerTooLongToWrite(length: Int)
    }

    public var kind: Kind
    /// Path of the file, when known.
    public var file: String?
    /// Name of the member inside an `.npz`, when the error is about one.
    public var member: String?
    /// Byte offset in the file (or in the member) where the problem was found.
    public var offset: Int?

    public init(_ kind: Kind, file: String? = nil, member: String? = nil, offset: Int? = nil) {
        self.kind = kind
        self.file = file
        self.member = member
        self.offset = offset
    }

    /// The same error with file (and member) filled in where still unknown.
    func located(file: String?, member: String? = nil) -> NpyError {
        var e = self
        if e.file == nil { e.file = file }
        if e.member == nil { e.member = member }
        return e
    }

    public var description: String {
        var where_: [String] = []
        if let file { where_.append(file) }
        if let member { where_.append("member '\(member)'") }
        if let offset { where_.append("byte \(offset)") }
        let prefix = where_.isEmpty ? "" : where_.joined(separator: ", ") + ": "
        return prefix + message
    }

    /// The problem without the location.
    public var message: String {
        switch kind {
        case .cannotOpen(let reason): return "cannot open: \(reason)"
        case .ioFailed(let op, let reason): return "\(op) failed: \(reason)"
        case .notRegularFile(let kind): return "is \(kind)"
        case .cannotCreate(let reason): return "cannot create a file there: \(reason)"
        case .fileTooLarge(let bytes, let limit):
            return "is \(bytes) bytes, more than the \(limit >> 20) MiB such a file may have"
        case .exceedsMemory(let what, let bytes, let budget):
            return "\(what) needs \(MemoryBudget.text(bytes)), more than may be allocated (\(budget))"
        case .notNpy(let prefix):
            return "not a .npy file: expected the magic string \\x93NUMPY, found \(Self.show(prefix))"
        case .unknownFormat(let prefix):
            return "not a .npy, .npz or weight file: expected \\x93NUMPY, a ZIP signature, a PyTorch pickle or a safetensors header, found \(Self.show(prefix))"
        case .unsupportedVersion(let major, let minor):
            return "unsupported .npy format version \(major).\(minor) (expected 1.0, 2.0 or 3.0)"
        case .truncated(let what, let expected, let got):
            return "file is truncated: reading \(what) needs \(expected) bytes, only \(got) present"
        case .headerTooLarge(let length, let limit):
            return "header is \(length) bytes, more than the limit of \(limit) (NumPy's max_header_size); raise the limit only for files you trust"
        case .headerEncoding(let encoding): return "header is not valid \(encoding)"
        case .headerSyntax(let message, let at): return "cannot parse header at header byte \(at): \(message)"
        case .headerNotDict(let found): return "header is not a dictionary: \(found)"
        case .headerKeys(let found):
            return "header must have exactly the keys 'descr', 'fortran_order', 'shape'; found [\(found.joined(separator: ", "))]"
        case .invalidShape(let found): return "shape is not valid: expected a tuple of non-negative ints, found \(found)"
        case .invalidFortranOrder(let found): return "fortran_order is not a valid bool: \(found)"
        case .invalidDescr(let found): return "descr is not valid: expected a dtype string such as '<f4', found \(found)"
        case .unsupportedDType(let descr, let reason): return "dtype '\(descr)' is not supported: \(reason)"
        case .sizeOverflow(let shape, let itemSize):
            return "shape \(Self.shapeText(shape)) with \(itemSize)-byte items is too large to address"
        case .notZip(let reason): return "not an .npz (ZIP) archive: \(reason)"
        case .zipStructure(let message): return "corrupt .npz archive: \(message)"
        case .encryptedMember: return "member is encrypted"
        case .unsupportedCompression(let method):
            return "compression method \(method) is not supported (only 0, stored, and 8, deflate)"
        case .crcMismatch(let expected, let found):
            return "CRC-32 mismatch: archive says 0x\(String(expected, radix: 16).leftPadded(to: 8)), data has 0x\(String(found, radix: 16).leftPadded(to: 8))"
        case .inflateFailed(let message): return "cannot decompress: \(message)"
        case .sizeMismatch(let expected, let found): return "size mismatch: expected \(expected) bytes, found \(found)"
        case .duplicateMember(let name): return "archive holds '\(name)' twice"
        case .overlappingMembers(let a, let b):
            return "members '\(a)' and '\(b)' overlap in the file (a well-formed archive stores each member once)"
        case .noSuchMember(let name, let available):
            return "no array '\(name)' in archive (has: \(available.isEmpty ? "nothing" : available.joined(separator: ", ")))"
        case .invalidArray(let message): return "invalid array: \(message)"
        case .pickle(let message): return "malformed or refused pickle: \(message)"
        case .torchFormat(let message): return "PyTorch checkpoint: \(message)"
        case .safetensors(let message): return "safetensors: \(message)"
        case .notWeightFile(let found): return "not a weight file (named tensors): it is \(found)"
        case .headerTooLongToWrite(let length): return "header of \(length) bytes is too long to write"
        }
    }

    static func show(_ bytes: [UInt8]) -> String {
        if bytes.isEmpty { return "an empty file" }
        return "b'" + bytes.map { b -> String in
            (0x20...0x7e).contains(b) && b != 0x5c && b != 0x27 ? String(Character(Unicode.Scalar(b))) : "\\x" + String(b, radix: 16).leftPadded(to: 2)
        }.joined() + "'"
    }

    /// A shape as Python prints it: `()`, `(3,)`, `(3, 0, 2)`.
    public static func shapeText(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
}
