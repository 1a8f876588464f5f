import LossKit
import NpyIO

/// The bridge between NpyIO's arrays and LossKit's tensors (LossKit reads no files, NpyIO
/// knows no tensors): the CLI's inputs and outputs, and any reader of weight files, go
/// through these two.
extension Tensor {
    /// Whether `Tensor(npy: array, dtype: dtype)` reads the array's bytes in place (no memory
    /// of its own) rather than converting them.
    public static func canBorrow(_ array: NpyArray, as dtype: DType) -> Bool {
        array.isReadableInPlace(asFloatOf: dtype.byteSize)
    }

    /// The array's values as a tensor of `dtype` (float32 or float64), in C order.
    ///
    /// When the array's bytes already are `dtype` in native byte order and C order
    /// (`isReadableInPlace(asFloatOf:)`), the tensor reads them where they are (mapped, or the
    /// buffer they were read or inflated into) and keeps that buffer alive: no copy. Otherwise
    /// the values are converted straight into the tensor's memory, one allocation, which fails
    /// as an error rather than a trap.
    public convenience init(npy array: NpyArray, dtype: DType) throws {
        if Tensor.canBorrow(array, as: dtype) {
            // The view stays valid past the closure: its memory is `array.buffer`'s, which the
            // tensor keeps alive as the owner.
            let bytes = array.withUnsafeDataBytes { $0 }
            try self.init(shape: array.shape, dtype: dtype, borrowing: bytes, owner: array.buffer)
        } else {
            try self.init(shape: array.shape, dtype: dtype) { raw in
                if dtype == .float64 {
                    try array.convert(into: raw.bindMemory(to: Double.self))
                } else {
                    try array.convert(into: raw.bindMemory(to: Float.self))
                }
            }
        }
    }
}

extension NpyArray {
    /// The tensor's values in its own dtype (float32 or float64), C order: one copy of the
    /// tensor's memory when it is contiguous.
    public init(tensor: Tensor) {
        if tensor.dtype == .float64 {
            if let a = try? tensor.withUnsafeBufferPointer(as: Double.self, { NpyArray(float64: $0, shape: tensor.shape) }) {
                self = a
            } else {
                self = NpyArray(float64: tensor.toFloat64(), shape: tensor.shape)
            }
        } else if let a = try? tensor.withUnsafeBufferPointer(as: Float.self, { NpyArray(float32: $0, shape: tensor.shape) }) {
            self = a
        } else {
            self = NpyArray(float32: tensor.toFloat32(), shape: tensor.shape)
        }
    }
}
