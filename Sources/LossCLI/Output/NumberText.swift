import LossKit

/// How many significant digits make a number round-trip: 9 for float32, 17 for float64.
enum NumberDigits {
    case float32, float64

    init(_ dtype: DType) { self = dtype == .float64 ? .float64 : .float32 }
}

/// A computed number for JSON: a Float for float32 results (at most 9 significant digits),
/// a Double for float64 ones (at most 17); non-finite values become "nan", "inf", "-inf".
func jsonNumber(_ value: Double, _ digits: NumberDigits) -> JSONValue {
    digits == .float32 ? .float(Float(value)) : .double(value)
}

/// The same number as table text (the shortest text that reads back to the same value).
func formatNumber(_ value: Double, _ digits: NumberDigits) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    return digits == .float32 ? Float(value).description : value.description
}
