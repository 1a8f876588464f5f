import LossKit
import NpyIO

extension StateDict {
    /// Every tensor of a weight file, converted lazily with `Tensor(npy:dtype:)` (in place
    /// when the file's bytes already are the dtype asked for). Integer and bool tensors
    /// (BatchNorm's `num_batches_tracked`) are entries too and convert to float values like
    /// any other, so a strict check sees them and a network may read them.
    /// `source` names the file in messages (default: the path read, else "weights").
    public init(weights: WeightFile, source: String? = nil) throws(WeightError) {
        let name = source ?? weights.path ?? "weights"
        try self.init(source: name, entries: weights.tensors.map { key, array in
            (key, Entry(shape: array.shape, fileDType: array.dtype.typeName) { dtype in
                try Tensor(npy: array, dtype: dtype)
            })
        })
    }
}

extension NpyDType {
    /// The element type as NumPy and PyTorch name it: `float32`, `float16`, `int64`, `uint8`, `bool`.
    var typeName: String {
        switch kind {
        case .bool: return "bool"
        case .int: return "int\(itemSize * 8)"
        case .uint: return "uint\(itemSize * 8)"
        case .float: return "float\(itemSize * 8)"
        case .bfloat16: return "bfloat16"
        }
    }
}
