import Foundation

/// Reading and writing single `.npy` files.
public enum Npy {
    /// Reads a `.npy` file. Large files are memory-mapped; the array views the mapping.
    public static func read(contentsOf url: URL, options: NpyReadOptions = .init()) throws -> NpyArray {
        try read(path: url.path, options: options)
    }

    /// Reads a `.npy` file by path.
    public static func read(path: String, options: NpyReadOptions = .init()) throws -> NpyArray {
        let buffer = try FileIO.readWholeFile(path, mapThreshold: options.mapThreshold)
        buffer.populate()
        do {
            return try array(in: buffer, at: 0, count: buffer.count, options: options)
        } catch {
            throw error.addingLocation(file: path)
        }
    }

    /// Parses `.npy` bytes held in memory (copied).
    public static func read(bytes: [UInt8], options: NpyReadOptions = .init()) throws -> NpyArray {
        let buffer = NpyBuffer(copying: bytes)
        return try array(in: buffer, at: 0, count: buffer.count, options: options)
    }

    /// Parses `.npy` bytes held in memory (copied).
    public static func read(bytes: UnsafeRawBufferPointer, options: NpyReadOptions = .init()) throws -> NpyArray {
        let buffer = NpyBuffer(copying: bytes)
        return try array(in: buffer, at: 0, count: buffer.count, options: options)
    }

    /// Reads a file the way `np.load` does, and weight files: a `.npy` gives one array, a ZIP
    /// an archive or (holding `FOLDER/data.pkl`) a PyTorch checkpoint, and torch's legacy stream
    /// and safetensors give weights, all told apart by their bytes (`WeightFile.detect`), not by
    /// the file name.
    public static func load(path: String, options: NpyReadOptions = .init()) throws -> NpyContents {
        let buffer = try FileIO.readWholeFile(path, mapThreshold: options.mapThreshold)
        do {
            return try contents(of: buffer, path: path, options: options)
        } catch {
            throw error.addingLocation(file: path)
        }
    }

    static func contents(of buffer: NpyBuffer, path: String?, options: NpyReadOptions) throws(NpyError) -> NpyContents {
        let b = buffer.bytes
        switch WeightFile.detect(b) {
        case .zip:
            // A torch.save checkpoint (or TorchScript archive) is a ZIP too, told apart by its
            // FOLDER/data.pkl. The directory is read once, with .npz's key rule (torch's names
            // never end in .npy).
            let zip = try ZipArchive(buffer: buffer, budget: options.memoryBudget ?? MemoryBudget.current(), key: NpzArchive.key)
            if TorchCheckpoint.isCheckpoint(zip) { return .weights(try TorchCheckpoint.read(zip: zip, path: path, options: options)) }
            buffer.populate()
            return .archive(NpzArchive(zip: zip, path: path, options: options))
        case .npy:
            buffer.populate()
            return .array(try array(in: buffer, at: 0, count: buffer.count, options: options))
        case .torchLegacy:
            return .weights(try TorchLegacy.read(buffer: buffer, path: path, options: options))
        case .torchTar:
            throw NpyError(.torchFormat(message: "the tar format of torch ≤ 0.1 is not supported; load it with that torch and torch.save it again"), offset: 257)
        case .safetensors:
            return .weights(try Safetensors.read(buffer: buffer, path: path, options: options))
        case .unknown:
            throw NpyError(.unknownFormat(foundPrefix: Array(b.prefix(8))), offset: 0)
        }
    }

    /// The array stored at `start..<start+count` of `buffer`, sharing its memory.
    static func array(in buffer: NpyBuffer, at start: Int, count: Int, options: NpyReadOptions) throws(NpyError) -> NpyArray {
        let region = UnsafeRawBufferPointer(rebasing: buffer.bytes[start..<(start + count)])
        let header = try NpyFormat.readHeader(region, options: options)
        return NpyArray(header: header, buffer: buffer, dataOffset: start + header.dataOffset)
    }

    /// The complete `.npy` encoding of `array` (header + data).
    public static func encode(_ array: NpyArray) throws -> [UInt8] {
        var out = try NpyFormat.encodeHeader(dtype: array.dtype, shape: array.shape, fortranOrder: array.fortranOrder)
        array.withUnsafeDataBytes { out.append(contentsOf: $0) }
        return out
    }

    /// Writes `array` as NumPy would (`np.save`): format 1.0 unless the header needs
    /// 2.0, data in the array's own dtype and order. Written to a temporary file that
    /// is renamed over `url` at the end.
    public static func write(_ array: NpyArray, to url: URL) throws {
        try write(array, path: url.path)
    }

    public static func write(_ array: NpyArray, path: String) throws {
        let header = try NpyFormat.encodeHeader(dtype: array.dtype, shape: array.shape, fortranOrder: array.fortranOrder)
        try PendingFile.write(to: path) { w in
            try w.write(header)
            try array.withUnsafeDataBytes { try w.write($0) }
        }
    }
}

extension Error {
    /// Adds the file (and member) to an `NpyError`; other errors pass through.
    func addingLocation(file: String?, member: String? = nil) -> Error {
        guard let e = self as? NpyError else { return self }
        return e.located(file: file, member: member)
    }
}

/// What a file holds: one array (`.npy`), an archive of them (`.npz`), or the tensors of a
/// weight file (PyTorch's formats, safetensors).
public enum NpyContents {
    case array(NpyArray)
    case archive(NpzArchive)
    case weights(WeightFile)
}
