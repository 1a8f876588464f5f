/// Why a tensor operation refused its arguments. Shapes come from user files, so every
/// shape problem is reported through this type rather than trapping.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// Shapes that cannot be combined (broadcast, concatenated, reshaped...).
    case shapeMismatch(op: String, shapes: [[Int]])
    /// Any other bad argument (dimension out of range, negative size, dtype mismatch...).
    case invalidArgument(op: String, message: String)
    /// A buffer sized by user data could not be allocated.
    case outOfMemory(bytes: Int)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, shapes):
            return "\(op): incompatible shapes " + shapes.map(formatShape).joined(separator: " and ")
        case let .invalidArgument(op, message):
            return "\(op): \(message)"
        case let .outOfMemory(bytes):
            return "out of memory: cannot allocate \(bytes) bytes"
        }
    }
}

/// `(2,3,4)` — the way shapes appear in messages.
public func formatShape(_ shape: [Int]) -> String {
    shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ",") + ")"
}
