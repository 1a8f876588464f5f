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
        withUnsafeDataBytes { raw in
            let needsTranspose = fortranOrder && shape.count > 1 && count > 1
            let out = [T](unsafeUninitializedCapacity: count) { dst, initialized in
                guard let d = dst.baseAddress, let src = raw.baseAddress, count > 0 else { initialized = 0; return }
                if needsTranspose {
                    let tmp = UnsafeMutablePointer<T>.allocate(capacity: count)
                    defer { tmp.deallocate() }
                    NpyConvert.decode(src, dtype: dtype, start: 0, count: count, into: tmp)
                    NpyConvert.fortranToC(tmp, d, shape: shape)
                } else {
                    NpyConvert.decode(src, dtype: dtype, start: 0, count: count, into: d)
                }
                initialized = count
            }
            return out
        }
    }
}
