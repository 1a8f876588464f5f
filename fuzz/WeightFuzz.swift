// libFuzzer entry points over the weight-file readers (`make fuzz-pickle`, `fuzz-zip`,
// `fuzz-legacy`), one per target, chosen at compile time with -D:
//   FUZZ_PICKLE  the symbolic pickle reader alone, then the tensor flattening over what it read;
//   FUZZ_ZIP     ZipArchive and the torch.save zip / TorchScript reader (WeightFile on ZIP bytes);
//   FUZZ_LEGACY  torch.save's legacy raw stream (TorchLegacy).
// Compiled together with Sources/NpyIO/*.swift into one module. Every tensor a reader returns is
// decoded and summarised, so the views it built are read to their last byte (ASan checks them).
// A crash, a trap or a sanitizer report is a bug: nothing read from a file may trap.

@_cdecl("LLVMFuzzerTestOneInput")
public func weightFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let options = NpyReadOptions(maxHeaderSize: 4096)
    #if FUZZ_PICKLE
    if let (value, _, boxes) = try? PickleReader.read(bytes) {
        // The flattening walks whatever the pickle built (cycles, shared boxes, deep nesting), and
        // rebuild calls are parsed up to their storage, which an empty table does not have.
        var storages = StorageTable(source: .legacy(NpyBuffer(copying: [UInt8]()), [:]), bigEndian: false,
                                    budget: MemoryBudget(physical: 1 << 30))
        _ = try? TorchCheckpoint.tensors(in: value, storages: &storages)
        boxes.sever()
    }
    #elseif FUZZ_ZIP
    guard ZipArchive.looksLikeZip(bytes) else { return 0 }
    if let weights = try? WeightFile.read(bytes: Array(bytes), options: options) {
        for (_, a) in weights.tensors { exercise(a) }
    }
    #elseif FUZZ_LEGACY
    if let weights = try? TorchLegacy.read(buffer: NpyBuffer(copying: bytes), path: nil, options: options) {
        for (_, a) in weights.tensors { exercise(a) }
    }
    #else
    #error("define FUZZ_PICKLE, FUZZ_ZIP or FUZZ_LEGACY")
    #endif
    return 0
}

private func exercise(_ a: NpyArray) {
    let d = a.toFloat64()
    let s = NpyStatistics(a, threads: 1)
    if d.count != a.count || s.count != a.count { fatalError("count mismatch") }
}
