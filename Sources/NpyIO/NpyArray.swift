#if canImport(Glibc)
import Glibc
#endif
/// One array from a `.npy` file or `.npz` member: its dtype, shape, memory order and
/// the raw bytes of its data (exactly `count * dtype.itemSize`, possibly memory-mapped).
public struct NpyArray: @unchecked Sendable {
    // Immutable: the data bytes were checked against exactly this dtype and shape.
    public let dtype: NpyDType
    public let shape: [Int]
    public let fortranOrder: Bool
    /// Product of the shape (1 for a scalar, 0 when any axis is 0).
    public let count: Int
    /// The storage the data lives in, shared between copies of the array.
    public let buffer: NpyBuffer
    /// Where the data starts in `buffer`.
    public let dataOffset: Int

    /// Bytes of data: `count * dtype.itemSize`.
    public var byteCount: Int { count * dtype.itemSize }

    init(header: NpyHeader, buffer: NpyBuffer, dataOffset: Int) {
        dtype = header.dtype
        shape = header.shape
        fortranOrder = header.fortranOrder
        count = header.count
        self.buffer = buffer
        self.dataOffset = dataOffset
    }

    /// An array over raw data bytes laid out as `dtype` (in its byte order) and
    /// `fortranOrder`. Throws when the byte count does not match the shape.
    public init(dtype: NpyDType, shape: [Int], fortranOrder: Bool = false, data: [UInt8]) throws {
        guard dtype.isValid else {
            throw NpyError(.unsupportedDType(descr: dtype.descr, reason: "no such numeric dtype"))
        }
        guard let (count, bytes) = NpyFormat.sizes(shape: shape, itemSize: dtype.itemSize) else {
            throw NpyError(.sizeOverflow(shape: shape, itemSize: dtype.itemSize))
        }
        guard bytes == data.count else {
            throw NpyError(.invalidArray(message: "shape \(NpyError.shapeText(shape)) of \(dtype.descr) needs \(bytes) bytes, got \(data.count)"))
        }
        self.dtype = dtype
        self.shape = shape
        self.fortranOrder = fortranOrder
        self.count = count
        buffer = NpyBuffer(copying: data)
        dataOffset = 0
    }

    /// A little-endian, C-order float32 array. `values.count` must equal the shape's product.
    public init(float32 values: [Float], shape: [Int]) {
        self.init(values: values, dtype: .float32, shape: shape)
    }

    /// A little-endian, C-order float64 array. `values.count` must equal the shape's product.
    public init(float64 values: [Double], shape: [Int]) {
        self.init(values: values, dtype: .float64, shape: shape)
    }

    /// The same from contiguous memory (one copy: a caller's buffer need not become an array first).
    public init(float32 values: UnsafeBufferPointer<Float>, shape: [Int]) {
        self.init(values: values, dtype: .float32, shape: shape)
    }

    /// The same from contiguous memory (one copy).
    public init(float64 values: UnsafeBufferPointer<Double>, shape: [Int]) {
        self.init(values: values, dtype: .float64, shape: shape)
    }

    private init<T>(values: UnsafeBufferPointer<T>, dtype: NpyDType, shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                     "NpyArray: \(values.count) values do not fill shape \(shape)")
        self.dtype = dtype
        self.shape = shape
        fortranOrder = false
        count = values.count
        buffer = NpyBuffer(copying: UnsafeRawBufferPointer(values))
        dataOffset = 0
    }

    private init<T>(values: [T], dtype: NpyDType, shape: [Int]) {
        // Callers pass a tensor's own storage and shape, so a mismatch is a bug in the caller.
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                     "NpyArray: \(values.count) values do not fill shape \(shape)")
        self.dtype = dtype
        self.shape = shape
        fortranOrder = false
        count = values.count
        buffer = values.withUnsafeBytes { NpyBuffer(copying: $0) }
        dataOffset = 0
    }

    /// The raw data bytes, in the file's byte order and memory order.
    public func withUnsafeDataBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(buffer) {
            try body(UnsafeRawBufferPointer(rebasing: buffer.bytes[dataOffset..<(dataOffset + byteCount)]))
        }
    }

    /// The values as float32, in C order, native byte order (what PyTorch's
    /// `torch.from_numpy(a).float()` holds). Integers round to nearest, like NumPy's `astype`.
    public func toFloat32() -> [Float] { converted(Float.self) }

    /// The values as float64, in C order, native byte order.
    public func toFloat64() -> [Double] { converted(Double.self) }

    private func converted<T: NpyFloat>(_: T.Type) -> [T] {
        [T](unsafeUninitializedCapacity: count) { dst, initialized in
            let tmp: UnsafeMutablePointer<T>? = fortranOrder && shape.count > 1 && count > 1 ? .allocate(capacity: count) : nil
            defer { tmp?.deallocate() }
            decode(into: dst, scratch: tmp)
            initialized = count
        }
    }

    /// Whether the data already are floats of `itemSize` bytes in native byte order and C
    /// order (or Fortran order with at most one axis longer than 1, the same bytes): a
    /// consumer computing in that type can read them in place instead of converting.
    /// bfloat16 never is (no consumer computes in it; 2 bytes means float16).
    public func isReadableInPlace(asFloatOf itemSize: Int) -> Bool {
        dtype.kind == .float && dtype.itemSize == itemSize && dtype.isNativeOrder
            && (!fortranOrder || shape.filter { $0 > 1 }.count <= 1)
    }

    /// Writes the values as float32 into `destination` (at least `count` elements), in C
    /// order: a reader's conversion straight into memory the caller owns (a tensor's).
    /// A Fortran-order array needs scratch memory of its size; when that cannot be had the
    /// error says so (nothing sized by a file may trap).
    public func convert(into destination: UnsafeMutableBufferPointer<Float>) throws(NpyError) {
        try convertChecked(into: destination)
    }

    /// Writes the values as float64 into `destination` (at least `count` elements), in C order.
    public func convert(into destination: UnsafeMutableBufferPointer<Double>) throws(NpyError) {
        try convertChecked(into: destination)
    }

    private func convertChecked<T: NpyFloat>(into dst: UnsafeMutableBufferPointer<T>) throws(NpyError) {
        guard dst.count >= count else {
            throw NpyError(.invalidArray(message: "a destination of \(dst.count) elements cannot hold \(count)"))
        }
        var tmp: UnsafeMutablePointer<T>? = nil
        if fortranOrder && shape.count > 1 && count > 1 {
            let bytes = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
            guard !bytes.overflow, let p = NpyBuffer.allocate(bytes.partialValue) else {
                throw NpyError(.exceedsMemory(what: "reordering the Fortran-order array", bytes: UInt64(bytes.partialValue),
                                              budget: MemoryBudget.current()))
            }
            tmp = p.bindMemory(to: T.self, capacity: count)
        }
        defer { free(tmp) }
        decode(into: dst, scratch: tmp)
    }

    /// Decodes into `dst` (C order); `scratch` of `count` elements is needed for Fortran order.
    private func decode<T: NpyFloat>(into dst: UnsafeMutableBufferPointer<T>, scratch: UnsafeMutablePointer<T>?) {
        withUnsafeDataBytes { raw in
            guard let d = dst.baseAddress, let src = raw.baseAddress, count > 0 else { return }
            if let scratch {
                NpyConvert.decode(src, dtype: dtype, start: 0, count: count, into: scratch)
                NpyConvert.fortranToC(scratch, d, shape: shape)
            } else {
                NpyConvert.decode(src, dtype: dtype, start: 0, count: count, into: d)
            }
        }
    }
}
