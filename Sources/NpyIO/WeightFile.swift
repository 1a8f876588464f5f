/// The formats a file of named tensors (a network's weights) comes in. Each is detected by its
/// bytes, never by the file's name (`WeightFile.detect`).
public enum WeightFormat: String, Sendable, CaseIterable {
    /// torch.save's zip format (torch ≥ 1.6): `FOLDER/data.pkl` + `FOLDER/data/KEY` records.
    case torchZip = "torch-zip"
    /// torch.save's legacy raw pickle stream (torch < 1.6, `_use_new_zipfile_serialization=False`;
    /// torchvision's and MMagic's published files).
    case torchLegacy = "torch-legacy"
    /// A TorchScript archive (`torch.jit.save`; OpenAI CLIP's `ViT-B-32.pt`).
    case torchScript = "torchscript"
    /// Hugging Face safetensors.
    case safetensors
    /// An `.npz` whose keys are the state dict's (`features.0.weight`).
    case npz
}

/// Every tensor of a weight file, under its state-dict key (nested dicts flattened with dots,
/// `state_dict.features.0.weight`), in the file's order. Arrays view the file's bytes where they
/// can (storages are used in place; the file is mapped when large), so taking the few tensors a
/// network needs from a large file costs only those tensors' conversion.
public struct WeightFile: @unchecked Sendable {
    public let format: WeightFormat
    /// The path read, for messages; nil for bytes held in memory.
    public let path: String?
    public let tensors: [(key: String, array: NpyArray)]

    init(format: WeightFormat, path: String?, tensors: [(key: String, array: NpyArray)]) {
        self.format = format
        self.path = path
        self.tensors = tensors
    }

    /// Reads any weight file (`WeightFormat`). A `.npy` (one array, no keys) is refused.
    public static func read(path: String, options: NpyReadOptions = .init()) throws -> WeightFile {
        try weights(in: Npy.load(path: path, options: options), path: path)
    }

    /// A weight file held in memory (copied).
    public static func read(bytes: [UInt8], options: NpyReadOptions = .init()) throws -> WeightFile {
        try weights(in: Npy.contents(of: NpyBuffer(copying: bytes), path: nil, options: options), path: nil)
    }

    private static func weights(in contents: NpyContents, path: String?) throws -> WeightFile {
        switch contents {
        case .weights(let w): return w
        case .archive(let a): return WeightFile(format: .npz, path: path, tensors: try a.arrays().map { ($0.name, $0.array) })
        case .array: throw NpyError(.notWeightFile(found: "a single .npy array"), file: path)
        }
    }
}

extension WeightFile {
    /// What a file's first bytes say it is.
    enum Detected: Equatable {
        case zip, npy, torchLegacy, torchTar, safetensors, unknown
    }

    /// The 10-byte magic number torch's legacy stream starts with (pickled as LONG1 0x1950a86a20f9469cfc6c).
    static let legacyMagic: [UInt8] = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]

    static func detect(_ b: UnsafeRawBufferPointer) -> Detected {
        if ZipArchive.looksLikeZip(b) { return .zip }
        // A safetensors header length of 0x…93 (unpadded, written by hand) starts like a .npy; a
        // real .npy never looks like safetensors (its 'Y' at byte 5 makes that length ≥ 2^40).
        if b.count >= 1, b[0] == NpyFormat.magic[0], !looksLikeSafetensors(b) { return .npy }
        // PROTO 2-5 (then, from 4, a FRAME of 9 bytes), then LONG1 with the magic number.
        if b.count >= 2, b[0] == 0x80, (2...5).contains(b[1]) {
            let at = b[1] >= 4 && b.count > 2 && b[2] == 0x95 ? 11 : 2
            if b.count >= at + legacyMagic.count, Array(b[at..<(at + legacyMagic.count)]) == legacyMagic { return .torchLegacy }
        }
        // Before the tar check: a header may hold "ustar" at byte 257 (a tensor named "custard");
        // torch's tar starts with the member name "sys_info", so its byte 8 is NUL.
        if looksLikeSafetensors(b) { return .safetensors }
        if b.count >= 262, Array(b[257..<262]) == Array("ustar".utf8) { return .torchTar }
        return .unknown
    }

    /// safetensors: u64 LE header length, then the JSON header, which starts with '{'. A length
    /// past the file or the format's limit is still taken as safetensors when below 2^40 (text
    /// has high bytes there), so the reader's error says what is wrong with it.
    static func looksLikeSafetensors(_ b: UnsafeRawBufferPointer) -> Bool {
        guard b.count >= 9, b[8] == UInt8(ascii: "{") else { return false }
        var n: UInt64 = 0
        for i in (0..<8).reversed() { n = n << 8 | UInt64(b[i]) }
        return n >= 2 && n < 1 << 40
    }
}
